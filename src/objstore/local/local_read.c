/* Reads: data at head or at a snapshot, stat, snap sets, xattrs, omap and
 * listings.  Each read sees one committed state: the record is read in an
 * LMDB read transaction and the data file it names is opened before that
 * ends; a file replaced meanwhile stays readable through its descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/local/local.h"
#include "util/error.h"

#define KEY_MAX (OBJSTORE_MAX_NS + 1 + OBJSTORE_MAX_OBJECT_NAME)

static int no_object(const char *oid)
{
  return lbd_error(ENOENT, "object %s does not exist", oid);
}

/* Find the file that holds OID at SNAPID.  *SIZE is the clone's size, or
 * UINT64_MAX for the head (whose file's size is the object's). */
static int resolve(MDB_txn *txn, struct objstore_backend_pool *bp,
                   const char *oid, const struct local_record *rec,
                   uint64_t snapid, uint64_t *file, uint64_t *size)
{
  if (snapid != OBJSTORE_SNAP_HEAD) {
    int live = local_snap_state(txn, bp, snapid);
    if (live < 0)
      return live;
    if (live == 0)
      return lbd_error(ENOENT, "snap id %" PRIu64 " has been removed", snapid);
  }
  if (snapid == OBJSTORE_SNAP_HEAD || snapid > rec->snap_seq) {
    if (!rec->head_exists)
      return snapid == OBJSTORE_SNAP_HEAD
                 ? no_object(oid)
                 : lbd_error(ENOENT, "object %s did not exist at snap %" PRIu64,
                             oid, snapid);
    *file = rec->head_file;
    *size = UINT64_MAX;
    return 0;
  }
  for (size_t i = 0; i < rec->nclones; i++) {
    const struct local_clone *c = &rec->clones[i];
    if (c->cloneid < snapid)
      continue;
    for (size_t j = 0; j < c->nsnaps; j++) {
      if (c->snaps[j] == snapid) {
        *file = c->file;
        *size = c->size;
        return 0;
      }
    }
    break;
  }
  return lbd_error(ENOENT, "object %s did not exist at snap %" PRIu64, oid,
                   snapid);
}

/* Open the data file of OID at SNAPID; on success *FD, *SIZE and, if REC is
 * not NULL, the record (caller frees).  An unsynced head file that a power
 * loss took gives fd -1 and size 0: the object is empty. */
static int open_at(struct objstore_backend_pool *bp, const char *oid,
                   uint64_t snapid, struct local_fd_ref *ref, uint64_t *size,
                   struct local_record *rec_out)
{
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  int settled = local_obj_settle(bp, key, klen);
  if (settled < 0)
    return settled;
  uint64_t missing = 0; /* an unsynced head file found missing */
  for (int attempt = 0; attempt < 100; attempt++) {
    MDB_txn *txn;
    struct local_record rec;
    uint64_t file = 0, sz = 0;
    int r = kvenv_begin(bp->kv, false, &txn);
    if (r < 0)
      return r;
    r = local_record_get(txn, bp, key, klen, &rec);
    if (r < 0) {
      mdb_txn_abort(txn);
      return r == -ENOENT ? no_object(oid) : r;
    }
    bool gone = false;
    r = resolve(txn, bp, oid, &rec, snapid, &file, &sz);
    if (r == 0) {
      r = local_file_get(bp, file, ref);
      if (r == -EACCES || r == -EPERM || r == -EROFS) {
        lbd_error_clear(); /* a reader of a pool it may not write */
        r = ref->fd = local_file_open(bp, file, O_RDONLY);
        ref->slot = NULL;
        r = r < 0 ? r : 0;
      }
      gone = r == -ENOENT;
    }
    mdb_txn_abort(txn);
    if (gone && rec.head_unsynced && file == rec.head_file) {
      /* Replaced since we read the record, or lost in a power loss (the
       * object is then empty): the record read again tells. */
      if (missing == file) {
        ref->fd = -1;
        ref->slot = NULL;
        *size = 0;
        if (rec_out)
          *rec_out = rec;
        else
          local_record_free(&rec);
        return 0;
      }
      missing = file;
    }
    if (r < 0) {
      local_record_free(&rec);
      if (gone)
        continue; /* replaced since we read the record: read it again */
      return r;
    }
    if (sz == UINT64_MAX) { /* the head: its file's size */
      struct stat st;
      if (fstat(ref->fd, &st) < 0) {
        r = lbd_error(errno, "object %s: %s", oid, strerror(errno));
        local_file_put(bp, ref);
        local_record_free(&rec);
        return r;
      }
      sz = (uint64_t)st.st_size;
    }
    *size = sz;
    if (rec_out)
      *rec_out = rec;
    else
      local_record_free(&rec);
    return 0;
  }
  return lbd_error(EIO, "object %s: its data file is missing", oid);
}

/* A read of the head through the head cache: -ENOENT (no message) if the
 * object's head is not cached, or may be changing. */
static ssize_t read_cached(struct objstore_backend_pool *bp, const char *oid,
                           const char *key, size_t klen, uint64_t hash,
                           uint64_t gen, uint64_t off, size_t len, void *buf)
{
  struct local_head head;
  struct local_fd_ref ref;
  int r = local_head_get(bp, key, klen, hash, gen, &head, &ref);
  if (r < 0)
    return r;
  /* The head's size is its file's: read up to its end, no fstat. */
  size_t done = 0;
  while (done < len) {
    ssize_t got = pread(ref.fd, (char *)buf + done, len - done,
                        (off_t)(off + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      r = lbd_error(errno, "reading object %s: %s", oid, strerror(errno));
      break;
    }
    if (got == 0)
      break;
    done += (size_t)got;
  }
  local_file_put(bp, &ref);
  return r < 0 ? r : (ssize_t)done;
}

ssize_t local_read(struct objstore_backend_pool *bp, const char *oid,
                   uint64_t snapid, uint64_t off, size_t len, void *buf,
                   struct extent_set *map)
{
  struct local_fd_ref ref;
  uint64_t size;
  char key[KEY_MAX + 1];
  size_t klen = 0;
  uint64_t hash = 0, gen = 0;
  bool cacheable = false;
  struct local_record rec;
  if (snapid == OBJSTORE_SNAP_HEAD && buf && !map && len &&
      off <= (uint64_t)INT64_MAX - len) {
    klen = local_obj_key(bp->ns, oid, key, sizeof key);
    hash = local_obj_hash(key, klen);
    /* The counter before the record: a change committed after it was read
     * leaves the counter bumped, and this entry unused. */
    cacheable = !local_obj_gen(bp, hash, &gen);
    if (cacheable) {
      ssize_t n = read_cached(bp, oid, key, klen, hash, gen, off, len, buf);
      if (n != -ENOENT)
        return n;
    }
  }
  int r = open_at(bp, oid, snapid, &ref, &size, cacheable ? &rec : NULL);
  if (r < 0)
    return r;
  if (cacheable) {
    if (ref.slot) { /* opened for writing: others may use it */
      struct local_head head = {.file = rec.head_file,
                                .snap_seq = rec.snap_seq,
                                .clones = rec.nclones != 0};
      local_head_remember(bp, key, klen, hash, gen, &head);
    }
    local_record_free(&rec);
  }
  int fd = ref.fd;
  size_t n = off >= size ? 0 : (size - off < len ? (size_t)(size - off) : len);
  size_t done = 0;
  while (buf && done < n) {
    ssize_t got = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      r = lbd_error(errno, "reading object %s: %s", oid, strerror(errno));
      break;
    }
    if (got == 0) { /* file shorter than recorded: the rest is a hole */
      memset((char *)buf + done, 0, n - done);
      break;
    }
    done += (size_t)got;
  }
  if (r == 0 && map)
    r = local_file_map(fd, off, n, size, map);
  local_file_put(bp, &ref);
  return r < 0 ? r : (ssize_t)n;
}

void local_prefetch(struct objstore_backend_pool *bp, const char *oid,
                    uint64_t snapid, uint64_t off, uint64_t len)
{
  struct local_fd_ref ref;
  uint64_t size;
  /* A hint never waits: not for an op that holds the object's exclusive
   * lock (open_at would), nor to settle a dead holder's commit. */
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  if (bp->marks[local_obj_lock_byte(key, klen)])
    return;
  if (open_at(bp, oid, snapid, &ref, &size, NULL) < 0)
    return;
  if (off < size) /* starts the reads, does not wait for them */
    posix_fadvise(ref.fd, (off_t)off,
                  (off_t)(size - off < len ? size - off : len),
                  POSIX_FADV_WILLNEED);
  local_file_put(bp, &ref);
}

int local_stat(struct objstore_backend_pool *bp, const char *oid,
               uint64_t snapid, struct objstore_stat *st)
{
  struct local_fd_ref ref;
  uint64_t size;
  struct local_record rec;
  int r = open_at(bp, oid, snapid, &ref, &size, &rec);
  if (r < 0)
    return r;
  int fd = ref.fd;
  struct stat fst;
  st->size = size;
  st->version = rec.version;
  st->mtime_ns = rec.mtime_ns;
  if (snapid == OBJSTORE_SNAP_HEAD && fstat(fd, &fst) == 0) {
    int64_t m = (int64_t)fst.st_mtim.tv_sec * 1000000000 + fst.st_mtim.tv_nsec;
    if (m > st->mtime_ns)
      st->mtime_ns = m;
  }
  local_file_put(bp, &ref);
  local_record_free(&rec);
  return 0;
}

static int copy_clone(const struct local_clone *c,
                      struct objstore_clone_info *out)
{
  out->cloneid = c->cloneid;
  out->size = c->size;
  out->nsnaps = c->nsnaps;
  out->noverlap = c->overlap.n;
  out->snaps = malloc((c->nsnaps ? c->nsnaps : 1) * sizeof *out->snaps);
  out->overlap = malloc((c->overlap.n ? c->overlap.n : 1) *
                        sizeof *out->overlap);
  if (!out->snaps || !out->overlap)
    return lbd_error(ENOMEM, "out of memory");
  memcpy(out->snaps, c->snaps, c->nsnaps * sizeof *out->snaps);
  for (size_t i = 0; i < c->overlap.n; i++) {
    out->overlap[i].off = c->overlap.ext[i].off;
    out->overlap[i].len = c->overlap.ext[i].len;
  }
  return 0;
}

int local_list_snaps(struct objstore_backend_pool *bp, const char *oid,
                     struct objstore_snap_set *set)
{
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  struct local_record rec = {0};
  memset(set, 0, sizeof *set);
  int r = local_obj_settle(bp, key, klen), fd = -1;
  uint64_t missing = 0;
  for (int attempt = 0; r == 0 && attempt < 100; attempt++) {
    MDB_txn *txn;
    if ((r = kvenv_begin(bp->kv, false, &txn)) < 0)
      return r;
    r = local_record_get(txn, bp, key, klen, &rec);
    fd = -1;
    if (r == 0 && rec.head_exists)
      fd = local_file_open(bp, rec.head_file, O_RDONLY);
    mdb_txn_abort(txn);
    if (r < 0 || fd != -ENOENT)
      break;
    if (rec.head_unsynced && missing == rec.head_file) {
      fd = -1; /* lost in a power loss: an empty head (see open_at) */
      break;
    }
    missing = rec.head_unsynced ? rec.head_file : 0;
    local_record_free(&rec); /* replaced meanwhile: read the record again */
  }
  if (r == -ENOENT)
    return no_object(oid);
  if (r == 0 && fd < -1)
    r = fd == -ENOENT ? lbd_error(EIO, "object %s: its data file is missing",
                                  oid)
                      : fd;
  if (r < 0) {
    local_record_free(&rec);
    return r;
  }
  set->seq = rec.snap_seq;
  set->head_exists = rec.head_exists;
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0)
    set->head_size = (uint64_t)st.st_size;
  if (fd >= 0)
    close(fd);
  set->clones = calloc(rec.nclones ? rec.nclones : 1, sizeof *set->clones);
  if (!set->clones)
    r = lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < rec.nclones; i++) {
    set->nclones++;
    r = copy_clone(&rec.clones[i], &set->clones[i]);
  }
  local_record_free(&rec);
  if (r < 0)
    objstore_snap_set_free(set);
  return r;
}

/* ---- xattrs and omap ------------------------------------------------------ */

/* Start a read txn and find the live object's internal id. */
static int begin_object(struct objstore_backend_pool *bp, const char *oid,
                        MDB_txn **txn, uint64_t *iid)
{
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  struct local_record rec = {0};
  int r = local_obj_settle(bp, key, klen);
  if (r < 0 || (r = kvenv_begin(bp->kv, false, txn)) < 0)
    return r;
  if (r < 0)
    return r;
  r = local_record_get(*txn, bp, key, klen, &rec);
  if (r == 0 && !rec.head_exists)
    r = -ENOENT;
  if (r == 0)
    *iid = rec.iid;
  local_record_free(&rec);
  if (r < 0) {
    mdb_txn_abort(*txn);
    return r == -ENOENT ? no_object(oid) : r;
  }
  return 0;
}

DEFINE_VECTOR(kv_vec, struct objstore_kv);

static int kv_append(struct kv_vec *v, const void *key, size_t klen,
                     const void *val, size_t vlen)
{
  struct objstore_kv kv = {strndup(key, klen), malloc(vlen + 1), vlen};
  if (!kv.key || !kv.value || kv_vec_push(v, kv) < 0) {
    free(kv.key);
    free(kv.value);
    return lbd_error(ENOMEM, "out of memory");
  }
  memcpy(kv.value, val, vlen);
  ((char *)kv.value)[vlen] = '\0';
  return 0;
}

int local_getxattr(struct objstore_backend_pool *bp, const char *oid,
                   const char *name, void **value, size_t *len)
{
  MDB_txn *txn;
  uint64_t iid;
  int r = begin_object(bp, oid, &txn, &iid);
  if (r < 0)
    return r;
  unsigned char key[8 + OBJSTORE_MAX_XATTR_NAME];
  size_t nl = strlen(name);
  local_be64(iid, key);
  memcpy(key + 8, name, nl);
  MDB_val v;
  r = kv_get(txn, bp->kv->dbi[LDB_XATTR], key, 8 + nl, &v);
  if (r == 0) {
    *value = malloc(v.mv_size + 1);
    if (*value) {
      memcpy(*value, v.mv_data, v.mv_size);
      ((char *)*value)[v.mv_size] = '\0';
      *len = v.mv_size;
    } else {
      r = lbd_error(ENOMEM, "out of memory");
    }
  } else if (r == -ENOENT) {
    r = lbd_error(ENOENT, "object %s has no xattr %s", oid, name);
  }
  mdb_txn_abort(txn);
  return r;
}

/* Entries of DB whose key starts with iid(8), after START_AFTER, up to MAX
 * (0: all). */
static int scan_prefix(MDB_txn *txn, MDB_dbi dbi, uint64_t iid,
                       const char *start_after, size_t max, struct kv_vec *out,
                       bool *more)
{
  unsigned char key[8 + OBJSTORE_MAX_OMAP_KEY + 1];
  size_t sl = start_after ? strlen(start_after) : 0;
  local_be64(iid, key);
  memcpy(key + 8, start_after ? start_after : "", sl);
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, dbi, &cur);
  if (rc)
    return kvenv_error(rc, "reading metadata");
  MDB_val k = {8 + sl, key}, v;
  int r = 0;
  if (more)
    *more = false;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size < 8 || memcmp(k.mv_data, key, 8) != 0)
      break;
    if (sl && k.mv_size == 8 + sl && memcmp(k.mv_data, key, 8 + sl) == 0)
      continue;
    if (max && out->len == max) {
      if (more)
        *more = true;
      break;
    }
    if ((r = kv_append(out, (char *)k.mv_data + 8, k.mv_size - 8, v.mv_data,
                       v.mv_size)) < 0)
      break;
  }
  mdb_cursor_close(cur);
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    r = kvenv_error(rc, "reading metadata");
  return r;
}

static int finish_kvs(int r, struct kv_vec *v, struct objstore_kv **kvs,
                      size_t *count)
{
  if (r < 0) {
    objstore_kv_free(v->ptr, v->len);
    return r;
  }
  *kvs = v->ptr;
  *count = v->len;
  return 0;
}

int local_getxattrs(struct objstore_backend_pool *bp, const char *oid,
                    struct objstore_kv **kvs, size_t *count)
{
  MDB_txn *txn;
  uint64_t iid;
  struct kv_vec v = {0};
  int r = begin_object(bp, oid, &txn, &iid);
  if (r < 0)
    return r;
  r = scan_prefix(txn, bp->kv->dbi[LDB_XATTR], iid, NULL, 0, &v, NULL);
  mdb_txn_abort(txn);
  return finish_kvs(r, &v, kvs, count);
}

int local_omap_get(struct objstore_backend_pool *bp, const char *oid,
                   const char *start_after, size_t max,
                   struct objstore_kv **kvs, size_t *count, bool *more)
{
  MDB_txn *txn;
  uint64_t iid;
  struct kv_vec v = {0};
  bool m = false;
  int r = begin_object(bp, oid, &txn, &iid);
  if (r < 0)
    return r;
  r = scan_prefix(txn, bp->kv->dbi[LDB_OMAP], iid, start_after, max, &v, &m);
  mdb_txn_abort(txn);
  if (more)
    *more = m;
  return finish_kvs(r, &v, kvs, count);
}

int local_omap_get_keys(struct objstore_backend_pool *bp, const char *oid,
                        const char *const *keys, size_t nkeys,
                        struct objstore_kv **kvs, size_t *count)
{
  MDB_txn *txn;
  uint64_t iid;
  struct kv_vec v = {0};
  int r = begin_object(bp, oid, &txn, &iid);
  if (r < 0)
    return r;
  for (size_t i = 0; r == 0 && i < nkeys; i++) {
    unsigned char key[8 + OBJSTORE_MAX_OMAP_KEY];
    size_t kl = strlen(keys[i]);
    local_be64(iid, key);
    memcpy(key + 8, keys[i], kl);
    MDB_val val;
    r = kv_get(txn, bp->kv->dbi[LDB_OMAP], key, 8 + kl, &val);
    if (r == 0)
      r = kv_append(&v, keys[i], kl, val.mv_data, val.mv_size);
    else if (r == -ENOENT)
      r = 0;
  }
  mdb_txn_abort(txn);
  return finish_kvs(r, &v, kvs, count);
}

/* ---- listing ------------------------------------------------------------ */

DEFINE_VECTOR(entry_vec, struct objstore_list_entry);

int local_list(struct objstore_backend_pool *bp, unsigned flags,
               const char *after_ns, const char *after_name, size_t max,
               struct objstore_list_entry **entries, size_t *count,
               bool *more)
{
  bool all = flags & OBJSTORE_LIST_ALL_NS;
  char start[KEY_MAX + 1];
  size_t slen;
  if (after_ns)
    slen = local_obj_key(after_ns, after_name, start, sizeof start);
  else
    slen = all ? 0 : local_obj_key(bp->ns, "", start, sizeof start);
  if (after_ns && !slen)
    return lbd_error(ENAMETOOLONG, "list: start position is too long");
  MDB_txn *txn;
  MDB_cursor *cur;
  struct entry_vec v = {0};
  int r = kvenv_begin(bp->kv, false, &txn);
  if (r < 0)
    return r;
  int rc = mdb_cursor_open(txn, bp->kv->dbi[LDB_OBJ], &cur);
  bool cur_open = rc == 0;
  MDB_val k = {slen, start}, val;
  if (more)
    *more = false;
  if (rc == 0)
    rc = mdb_cursor_get(cur, &k, &val, slen ? MDB_SET_RANGE : MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
    if (after_ns && k.mv_size == slen && memcmp(k.mv_data, start, slen) == 0)
      continue;
    const char *ns = k.mv_data;
    size_t nslen = strnlen(ns, k.mv_size);
    if (!all && (nslen != strlen(bp->ns) || memcmp(ns, bp->ns, nslen) != 0))
      break;
    struct local_record rec;
    if ((r = local_record_decode(val.mv_data, val.mv_size, &rec)) < 0)
      break;
    bool exists = rec.head_exists;
    local_record_free(&rec);
    if (!exists)
      continue;
    if (max && v.len == max) {
      if (more)
        *more = true;
      break;
    }
    struct objstore_list_entry e = {
        strndup(ns, nslen),
        strndup(ns + nslen + 1, k.mv_size - nslen - 1)};
    if (!e.ns || !e.name || entry_vec_push(&v, e) < 0) {
      free(e.ns);
      free(e.name);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
  }
  if (r == 0 && rc && rc != MDB_NOTFOUND)
    r = kvenv_error(rc, "listing objects");
  if (cur_open)
    mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (r < 0) {
    objstore_list_free(v.ptr, v.len);
    return r;
  }
  *entries = v.ptr;
  *count = v.len;
  return 0;
}
