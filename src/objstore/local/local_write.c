/* Write ops.
 *
 * Two paths.  A plain write, zero or truncate of an existing object whose
 * snapshot state needs no clone runs in place under the object's shared op
 * lock: the data file is changed directly, and LMDB is touched only to
 * shrink the newest clone's overlap (before the data changes, so a crash
 * never leaves an overlap that claims equal bytes that differ).
 *
 * Every other op runs under the object's exclusive op lock: data steps are
 * applied to a new data file (a sparse copy of the head, or an empty file),
 * and one LMDB commit swaps it in together with every metadata step, the
 * new clone and the new version.  Before the commit nothing is visible;
 * after it, everything is.  Replaced files are unlinked after the commit (a
 * crash in between leaves an orphan that objstore_pool_check removes). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/local/local.h"
#include "util/error.h"

#define KEY_MAX (OBJSTORE_MAX_NS + 1 + OBJSTORE_MAX_OBJECT_NAME)
#define ALL_BYTES ((uint64_t)INT64_MAX)

/* The step of a one-step op that may run in place, or NULL. */
static const struct objstore_step *inplace_step(const struct objstore_write_op *op)
{
  /* One data step, alone or behind an assert-exists guard (a clone's
   * write to an object it may lack: ENOENT sends it to copy-up). */
  bool guarded = op->nsteps == 2 && op->steps[0].type == STEP_ASSERT_EXISTS;
  if (op->nsteps != 1 && !guarded)
    return NULL;
  const struct objstore_step *s = &op->steps[op->nsteps - 1];
  if (s->type != STEP_WRITE && s->type != STEP_ZERO &&
      s->type != STEP_TRUNCATE)
    return NULL;
  return s;
}

/* The value of xattr NAME as the op sees it at step I: set or removed by an
 * earlier step, or committed.  *VAL NULL with *LEN 0 means absent. */
static int xattr_at(MDB_txn *txn, struct objstore_backend_pool *bp,
                    const struct local_record *rec, bool exists,
                    const struct objstore_write_op *op, size_t i,
                    const char *name, const void **val, size_t *len)
{
  *val = NULL;
  *len = 0;
  if (!exists)
    return 0;
  while (i-- > 0) {
    const struct objstore_step *s = &op->steps[i];
    if ((s->type == STEP_SETXATTR || s->type == STEP_RMXATTR) &&
        strcmp(s->name, name) == 0) {
      *val = s->type == STEP_SETXATTR ? s->value : NULL;
      *len = s->type == STEP_SETXATTR ? s->vlen : 0;
      return 0;
    }
    if (s->type == STEP_REMOVE)
      return 0;
  }
  if (!rec || !rec->head_exists)
    return 0;
  unsigned char key[8 + OBJSTORE_MAX_XATTR_NAME];
  size_t nl = strlen(name);
  local_be64(rec->iid, key);
  memcpy(key + 8, name, nl);
  MDB_val v;
  int r = kv_get(txn, bp->kv->dbi[LDB_XATTR], key, 8 + nl, &v);
  if (r == 0) {
    *val = v.mv_data;
    *len = v.mv_size;
  }
  return r == -ENOENT ? 0 : r;
}

static int check_guard(MDB_txn *txn, struct objstore_backend_pool *bp,
                       const char *oid, const struct local_record *rec,
                       bool exists, const struct objstore_write_op *op,
                       size_t i)
{
  const struct objstore_step *s = &op->steps[i];
  uint64_t version = rec && rec->head_exists ? rec->version : 0;
  switch (s->type) {
  case STEP_ASSERT_EXISTS:
    if (!exists)
      return lbd_error(ENOENT, "object %s does not exist", oid);
    return 0;
  case STEP_CMP_VERSION:
    if (!objstore_cmp_u64(s->cmp, version, s->version))
      return lbd_error(ECANCELED, "object %s: version %" PRIu64 " %s %" PRIu64
                       " is false", oid, version, objstore_cmp_name(s->cmp),
                       s->version);
    return 0;
  case STEP_CMP_XATTR: {
    const void *val;
    size_t len;
    int r = xattr_at(txn, bp, rec, exists, op, i, s->name, &val, &len);
    if (r < 0)
      return r;
    if (!objstore_cmp_bytes(s->cmp, val, len, s->value, s->vlen))
      return lbd_error(ECANCELED, "object %s: xattr %s comparison (%s) failed",
                       oid, s->name, objstore_cmp_name(s->cmp));
    return 0;
  }
  default:
    return 0;
  }
}

static int punch(int fd, uint64_t off, uint64_t len, uint64_t size)
{
  if (off >= size)
    return 0;
  if (len > size - off)
    len = size - off;
  if (len == 0 ||
      fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                (off_t)len) == 0)
    return 0;
  if (errno != EOPNOTSUPP)
    return lbd_error(errno, "zeroing object data: %s", strerror(errno));
  static const char zeros[65536];
  while (len) { /* no hole punching here: write zeroes */
    size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
    int r = local_pwrite_all(fd, zeros, n, off);
    if (r < 0)
      return r;
    off += n;
    len -= n;
  }
  return 0;
}

static int apply_data_step(int fd, const struct objstore_step *s,
                           uint64_t size)
{
  switch (s->type) {
  case STEP_WRITE:
    return local_pwrite_all(fd, s->data, s->len, s->off);
  case STEP_ZERO:
    return punch(fd, s->off, s->len, size);
  case STEP_TRUNCATE:
    if (ftruncate(fd, (off_t)s->off) < 0)
      return lbd_error(errno, "truncating object: %s", strerror(errno));
    return 0;
  default:
    return 0;
  }
}

/* The range of the old data that step S changes, given the size. */
static void step_range(const struct objstore_step *s, uint64_t size,
                       uint64_t *off, uint64_t *len)
{
  switch (s->type) {
  case STEP_WRITE:
  case STEP_ZERO:
    *off = s->off;
    *len = s->len;
    break;
  case STEP_TRUNCATE:
    *off = s->off < size ? s->off : size;
    *len = (s->off < size ? size : s->off) - *off;
    break;
  default:
    *off = 0;
    *len = ALL_BYTES;
  }
}

/* Before an in-place change of [OFF, OFF+LEN): shrink the newest clone's
 * overlap by it and, with BUMP, give the object a new version; -EAGAIN if
 * the record no longer names HEAD_FILE. */
static int inplace_meta(struct objstore_backend_pool *bp, const char *key,
                        size_t klen, uint64_t head_file, uint64_t off,
                        uint64_t len, bool bump)
{
  MDB_txn *txn;
  struct local_record rec = {0};
  int r = kvenv_begin(bp->kv, true, &txn);
  if (r < 0)
    return r;
  r = local_record_get(txn, bp, key, klen, &rec);
  if (r == 0 && (!rec.head_exists || rec.head_file != head_file))
    r = -EAGAIN;
  if (r == 0 && rec.nclones)
    r = extent_set_subtract(&rec.clones[rec.nclones - 1].overlap, off, len);
  uint64_t version;
  if (r == 0 && bump && (r = local_cfg_get(txn, bp, "version", &version)) == 0 &&
      (r = local_cfg_put(txn, bp, "version", ++version)) == 0) {
    rec.version = version;
    rec.mtime_ns = local_now_ns();
  }
  if (r == 0)
    r = local_record_put(txn, bp, key, klen, &rec);
  if (r == 0)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  /* Durable before the data changes: a power loss must not undo a shrunk
   * overlap while keeping the write that made it wrong. */
  int rc;
  if (r == 0 && (rc = mdb_env_sync(bp->kv->env, 1)))
    r = kvenv_error(rc, "syncing pool metadata");
  local_record_free(&rec);
  return r == -ENOENT ? -EAGAIN : r;
}

/* The fast path; -EAGAIN when the op needs the full one, -ENODATA when the
 * object does not exist.  Under the shared op lock no exclusive holder
 * works, so the object's generation is stable and its cached head, if
 * cached at that generation, is its record's. */
static int run_in_place(struct objstore_backend_pool *bp, const char *oid,
                        const char *key, size_t klen, uint64_t hash,
                        const struct objstore_step *data,
                        const struct objstore_snapc *snapc)
{
  struct local_record rec = {0};
  struct local_head head;
  struct local_fd_ref ref;
  uint64_t gen;
  bool cacheable = !local_obj_gen(bp, hash, &gen);
  int r = cacheable ? local_head_get(bp, key, klen, hash, gen, &head, &ref)
                    : -ENOENT;
  if (r == 0 && snapc && snapc->seq > head.snap_seq)
    r = -EAGAIN; /* a clone to make first */
  if (r == 0 && head.clones) {
    local_file_put(bp, &ref); /* the overlap is in the record */
    r = -ENOENT;
  }
  if (r == -EAGAIN) {
    local_file_put(bp, &ref);
    return r;
  }
  if (r < 0) {
    MDB_txn *txn;
    if ((r = kvenv_begin(bp->kv, false, &txn)) < 0)
      return r;
    r = local_record_get(txn, bp, key, klen, &rec);
    if (r < 0) {
      mdb_txn_abort(txn);
      return r == -ENOENT ? -ENODATA : r;
    }
    if (!rec.head_exists)
      r = -ENODATA;
    else if (snapc && snapc->seq > rec.snap_seq)
      r = -EAGAIN;
    if (r == 0 && (r = local_file_get(bp, rec.head_file, &ref)) == -ENOENT)
      r = -EAGAIN;
    mdb_txn_abort(txn);
    if (r < 0) {
      local_record_free(&rec);
      return r;
    }
    head = (struct local_head){.file = rec.head_file,
                               .snap_seq = rec.snap_seq,
                               .clones = rec.nclones != 0};
    if (cacheable)
      local_head_remember(bp, key, klen, hash, gen, &head);
  }
  /* Only a write needs no size: zero and truncate clip to it. */
  uint64_t size = UINT64_MAX, off, len;
  struct stat st;
  if (data->type != STEP_WRITE) {
    if (fstat(ref.fd, &st) < 0)
      r = lbd_error(errno, "object %s: %s", oid, strerror(errno));
    size = (uint64_t)st.st_size;
  }
  step_range(data, size, &off, &len);
  bool bump = data->type == STEP_TRUNCATE;
  if (r == 0 && (bump || (rec.nclones &&
                          extent_set_intersects(
                              &rec.clones[rec.nclones - 1].overlap, off, len))))
    r = inplace_meta(bp, key, klen, head.file, off, len, bump);
  if (r == 0 && (r = apply_data_step(ref.fd, data, size)) < 0)
    lbd_error_prefix(r, "object %s", oid);
  local_file_put(bp, &ref);
  local_record_free(&rec);
  return r;
}

/* ---- the all-or-nothing path --------------------------------------------- */

struct work {
  const struct local_record *rec; /* NULL if the object has no record */
  bool exists;       /* as the op sees it so far */
  bool removed;      /* the old head's data and metadata are gone */
  int fd;            /* new head data file, or -1 */
  uint64_t file;
  bool data_written; /* into fd: else it is empty and needs no sync */
  int old_fd;        /* the old head's data file, or -1 */
  uint64_t old_size;
  struct extent_set dirty; /* ranges of the old head that changed */
};

static int work_new_file(struct objstore_backend_pool *bp, struct work *w,
                         bool seed)
{
  if (w->fd >= 0)
    return 0;
  int fd = local_file_create(bp, &w->file);
  if (fd < 0)
    return fd;
  w->fd = fd;
  if (seed && w->exists && !w->removed && w->old_fd >= 0) {
    w->data_written = true;
    int r = local_file_copy(w->old_fd, fd);
    if (r < 0)
      return r;
  }
  w->exists = true;
  return 0;
}

static void work_drop_file(struct objstore_backend_pool *bp, struct work *w)
{
  if (w->fd < 0)
    return;
  local_file_close_new(bp, w->fd);
  local_file_unlink(bp, w->file);
  w->fd = -1;
  w->data_written = false;
}

static uint64_t work_size(const struct work *w)
{
  struct stat st;
  if (w->fd >= 0 && fstat(w->fd, &st) == 0)
    return (uint64_t)st.st_size;
  return w->exists && !w->removed ? w->old_size : 0;
}

/* Pass one: guards, and every data step applied to a new file. */
static int work_data(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const char *oid, const struct objstore_write_op *op,
                     struct work *w)
{
  for (size_t i = 0; i < op->nsteps; i++) {
    const struct objstore_step *s = &op->steps[i];
    uint64_t size = work_size(w), off, len;
    int r = 0;
    switch (s->type) {
    case STEP_ASSERT_EXISTS:
    case STEP_CMP_VERSION:
    case STEP_CMP_XATTR:
      r = check_guard(txn, bp, oid, w->rec, w->exists, op, i);
      break;
    case STEP_CREATE:
      if (w->exists && s->exclusive)
        r = lbd_error(EEXIST, "object %s exists", oid);
      else if (!w->exists)
        r = work_new_file(bp, w, false);
      break;
    case STEP_REMOVE:
      if (!w->exists)
        r = lbd_error(ENOENT, "object %s does not exist", oid);
      work_drop_file(bp, w);
      w->exists = false;
      w->removed = true;
      extent_set_add(&w->dirty, 0, ALL_BYTES);
      break;
    case STEP_WRITE_FULL:
      if (w->fd >= 0 && ftruncate(w->fd, 0) < 0)
        r = lbd_error(errno, "object %s: %s", oid, strerror(errno));
      if (r == 0)
        r = work_new_file(bp, w, false);
      w->data_written = true;
      if (r == 0)
        r = local_pwrite_streaming(w->fd, s->data, s->len, 0);
      if (r == 0 && ftruncate(w->fd, (off_t)s->len) < 0)
        r = lbd_error(errno, "object %s: %s", oid, strerror(errno));
      extent_set_add(&w->dirty, 0, ALL_BYTES);
      break;
    case STEP_ZERO:
      if (!w->exists)
        break;
      /* fall through */
    case STEP_WRITE:
    case STEP_TRUNCATE:
      if ((r = work_new_file(bp, w, true)) < 0)
        break;
      w->data_written = true;
      step_range(s, size, &off, &len);
      extent_set_add(&w->dirty, off, len);
      r = apply_data_step(w->fd, s, size);
      break;
    default: /* metadata steps create a missing object */
      if (!w->exists)
        r = work_new_file(bp, w, false);
      break;
    }
    if (r < 0)
      return r;
  }
  return 0;
}

/* Snaps of SNAPC that a clone of the current head must serve: those newer
 * than the object's last write and still live, oldest first. */
static int clone_snaps(MDB_txn *txn, struct objstore_backend_pool *bp,
                       const struct objstore_snapc *snapc, uint64_t seq,
                       uint64_t **out, size_t *n)
{
  *out = NULL;
  *n = 0;
  for (size_t i = snapc->nsnaps; i-- > 0;) {
    if (snapc->snaps[i] <= seq)
      continue;
    int live = local_snap_state(txn, bp, snapc->snaps[i]);
    if (live < 0) {
      free(*out);
      return live;
    }
    if (!live)
      continue;
    uint64_t *p = realloc(*out, (*n + 1) * sizeof *p);
    if (!p) {
      free(*out);
      return lbd_error(ENOMEM, "out of memory");
    }
    *out = p;
    p[(*n)++] = snapc->snaps[i];
  }
  return 0;
}

static int add_clone(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const char *key, size_t klen, struct local_record *rec,
                     const struct work *w, uint64_t *snaps, size_t nsnaps)
{
  struct local_clone *c = realloc(rec->clones, (rec->nclones + 1) * sizeof *c);
  if (!c) {
    free(snaps);
    return lbd_error(ENOMEM, "out of memory");
  }
  rec->clones = c;
  c = &rec->clones[rec->nclones++];
  memset(c, 0, sizeof *c);
  c->cloneid = snaps[nsnaps - 1];
  c->file = rec->head_file;
  c->size = w->old_size;
  c->snaps = snaps;
  c->nsnaps = nsnaps;
  int r = extent_set_add(&c->overlap, 0, w->old_size);
  for (size_t i = 0; r == 0 && i < w->dirty.n; i++)
    r = extent_set_subtract(&c->overlap, w->dirty.ext[i].off,
                            w->dirty.ext[i].len);
  for (size_t i = 0; r == 0 && i < nsnaps; i++) {
    unsigned char mk[8 + KEY_MAX];
    local_be64(snaps[i], mk);
    memcpy(mk + 8, key, klen);
    r = kv_put(txn, bp->kv->dbi[LDB_SNAPMAP], mk, 8 + klen, "", 0);
  }
  return r;
}

/* Apply the metadata steps, in order, to object IID. */
static int work_meta(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const struct objstore_write_op *op, uint64_t iid,
                     bool *changed)
{
  unsigned char prefix[8];
  local_be64(iid, prefix);
  for (size_t i = 0; i < op->nsteps; i++) {
    const struct objstore_step *s = &op->steps[i];
    unsigned char key[8 + OBJSTORE_MAX_OMAP_KEY];
    size_t kl = s->name ? strlen(s->name) : 0;
    memcpy(key, prefix, 8);
    if (kl)
      memcpy(key + 8, s->name, kl);
    int r = 0;
    switch (s->type) {
    case STEP_REMOVE:
      if ((r = kv_del_prefix(txn, bp->kv->dbi[LDB_XATTR], prefix, 8)) == 0 &&
          (r = kv_del_prefix(txn, bp->kv->dbi[LDB_OMAP], prefix, 8)) == 0)
        r = local_holds_drop_object(txn, bp, iid);
      break;
    case STEP_SETXATTR:
      r = kv_put(txn, bp->kv->dbi[LDB_XATTR], key, 8 + kl, s->value, s->vlen);
      break;
    case STEP_RMXATTR:
      r = kv_del(txn, bp->kv->dbi[LDB_XATTR], key, 8 + kl);
      break;
    case STEP_OMAP_SET:
      r = kv_put(txn, bp->kv->dbi[LDB_OMAP], key, 8 + kl, s->value, s->vlen);
      break;
    case STEP_OMAP_RM:
      r = kv_del(txn, bp->kv->dbi[LDB_OMAP], key, 8 + kl);
      break;
    case STEP_OMAP_CLEAR:
      r = kv_del_prefix(txn, bp->kv->dbi[LDB_OMAP], prefix, 8);
      break;
    default:
      continue;
    }
    if (r < 0 && r != -ENOENT)
      return r;
    *changed = true;
  }
  return 0;
}

/* Pass two: one LMDB transaction makes the op visible.  *BURIED tells
 * whether it buried the old head file. */
struct work_change {
  const struct objstore_write_op *op;
  const struct objstore_snapc *snapc;
  struct work *w;
  bool bury; /* the old head file is buried with the change */
};

/* The group commit's hook (local_commit_grouped) for a full op. */
static int work_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                    struct local_commit *lc)
{
  struct work_change *wc = lc->arg;
  const struct objstore_write_op *op = wc->op;
  const struct objstore_snapc *snapc = wc->snapc;
  struct work *w = wc->w;
  const char *key = lc->key;
  size_t klen = lc->klen;
  struct local_record rec = {0};
  bool had_record = w->rec != NULL;
  int r = 0;
  if (had_record) {
    r = local_record_get(txn, bp, key, klen, &rec);
    if (r == 0 && (rec.version != w->rec->version ||
                   rec.head_file != w->rec->head_file))
      r = -EAGAIN; /* cannot happen under the op lock; start over if it does */
  } else if (kv_get(txn, bp->kv->dbi[LDB_OBJ], key, klen, &(MDB_val){0}) == 0) {
    r = -EAGAIN;
  }
  if (r == 0 && !had_record && !w->exists)
    return 1; /* e.g. create then remove: nothing to commit */
  bool old_head = had_record && rec.head_exists;
  bool data_touched = w->fd >= 0 || w->removed;
  bool changed = data_touched;
  uint64_t pool_version = 0;
  if (r == 0 && !had_record) {
    uint64_t next;
    if ((r = local_cfg_get(txn, bp, "next_iid", &next)) == 0 &&
        (r = local_cfg_put(txn, bp, "next_iid", next + 1)) == 0) {
      rec.iid = next + 1;
      rec.snap_seq = snapc ? snapc->seq : 0;
    }
  }
  bool cloned = false;
  if (r == 0 && old_head && data_touched && snapc && snapc->seq > rec.snap_seq) {
    uint64_t *snaps;
    size_t n;
    r = clone_snaps(txn, bp, snapc, rec.snap_seq, &snaps, &n);
    if (r == 0 && n) {
      r = add_clone(txn, bp, key, klen, &rec, w, snaps, n);
      cloned = true;
      old_head = false; /* its file now belongs to the clone */
    }
  }
  if (r == 0 && old_head && data_touched && !cloned && rec.nclones) {
    struct local_clone *c = &rec.clones[rec.nclones - 1];
    for (size_t i = 0; r == 0 && i < w->dirty.n; i++)
      r = extent_set_subtract(&c->overlap, w->dirty.ext[i].off,
                              w->dirty.ext[i].len);
  }
  if (r == 0 && data_touched && snapc && snapc->seq > rec.snap_seq)
    rec.snap_seq = snapc->seq;
  if (r == 0)
    r = work_meta(txn, bp, op, rec.iid, &changed);
  if (r == 0 && !changed && !(w->exists && !had_record)) {
    local_record_free(&rec); /* nothing to do, e.g. zero of a missing object */
    return 1;
  }
  if (r == 0 && (r = local_cfg_get(txn, bp, "version", &pool_version)) == 0)
    r = local_cfg_put(txn, bp, "version", ++pool_version);
  if (r == 0) {
    rec.version = pool_version;
    rec.mtime_ns = local_now_ns();
    rec.head_exists = w->exists;
    if (w->exists && w->fd >= 0) {
      rec.head_file = w->file;
      rec.head_unsynced = !w->data_written;
    } else if (!w->exists) {
      rec.head_file = 0;
      rec.head_unsynced = false;
    }
    if (!rec.head_exists && rec.nclones == 0)
      r = kv_del(txn, bp->kv->dbi[LDB_OBJ], key, klen);
    else
      r = local_record_put(txn, bp, key, klen, &rec);
  }
  uint64_t old_file = w->rec ? w->rec->head_file : 0;
  if (r == 0 && old_head && data_touched)
    r = local_file_bury(txn, bp, old_file);
  wc->bury = old_head && data_touched;
  local_record_free(&rec);
  return r;
}

static int work_commit(struct objstore_backend_pool *bp, const char *oid,
                       const char *key, size_t klen,
                       const struct objstore_write_op *op,
                       const struct objstore_snapc *snapc, struct work *w,
                       bool *buried)
{
  struct work_change wc = {.op = op, .snapc = snapc, .w = w};
  struct local_commit c = {.key = key, .klen = klen, .put = work_put,
                           .arg = &wc};
  int r = local_commit_grouped(bp, &c);
  *buried = r == 0 && wc.bury;
  if (r < 0 && r != -EAGAIN)
    return lbd_error(-r, "object %s: %s", oid, c.err);
  return r;
}


static int run_full(struct objstore_backend_pool *bp, const char *oid,
                    const char *key, size_t klen,
                    const struct objstore_write_op *op,
                    const struct objstore_snapc *snapc)
{
  MDB_txn *txn;
  struct local_record rec;
  struct work w = {.fd = -1, .old_fd = -1};
  int r = kvenv_begin(bp->kv, false, &txn);
  if (r < 0)
    return r;
  r = local_record_get(txn, bp, key, klen, &rec);
  if (r == 0) {
    w.rec = &rec;
    w.exists = rec.head_exists;
  } else if (r == -ENOENT) {
    r = 0;
  }
  uint64_t pool_seq = 0;
  if (r == 0 && snapc && snapc->seq > (w.rec ? rec.snap_seq : 0) &&
      (r = local_cfg_get(txn, bp, "snap_seq", &pool_seq)) == 0 &&
      snapc->seq > pool_seq)
    r = lbd_error(EINVAL, "snap context seq %" PRIu64 " is newer than every "
                  "snap id allocated in this pool (newest is %" PRIu64 ")",
                  snapc->seq, pool_seq);
  if (r == 0 && w.exists) {
    w.old_fd = local_file_open(bp, rec.head_file, O_RDONLY);
    if (w.old_fd == -ENOENT && rec.head_unsynced) /* lost: it was empty */
      w.old_fd = local_file_recreate(bp, rec.head_file);
    struct stat st;
    if (w.old_fd < 0)
      r = w.old_fd == -ENOENT
              ? lbd_error(EIO, "object %s: its data file is missing", oid)
              : w.old_fd;
    else if (fstat(w.old_fd, &st) < 0)
      r = lbd_error(errno, "object %s: %s", oid, strerror(errno));
    else
      w.old_size = (uint64_t)st.st_size;
  }
  if (r == 0)
    r = work_data(txn, bp, oid, op, &w);
  mdb_txn_abort(txn);
  /* The new data is on disk before any commit can make it the head.  A new
   * empty file need not be (the record says so), saving a sync for every
   * object created empty: what a power loss takes of it, nothing flushed
   * was in. */
  if (r == 0 && w.fd >= 0 && w.data_written && fdatasync(w.fd) < 0)
    r = lbd_error(errno, "object %s: syncing its data: %s", oid,
                  strerror(errno));
  /* An unsynced head about to become a clone is synced first. */
  if (r == 0 && w.rec && rec.head_unsynced && w.old_fd >= 0 && snapc &&
      snapc->seq > rec.snap_seq && (w.fd >= 0 || w.removed) &&
      fdatasync(w.old_fd) < 0)
    r = lbd_error(errno, "object %s: syncing its data: %s", oid,
                  strerror(errno));
  bool buried = false;
  if (r == 0)
    r = work_commit(bp, oid, key, klen, op, snapc, &w, &buried);
  if (r < 0)
    work_drop_file(bp, &w);
  else if (w.fd >= 0)
    local_file_close_new(bp, w.fd); /* after the commit */
  if (w.old_fd >= 0)
    close(w.old_fd);
  if (buried)
    local_file_buried(bp, 1);
  if (w.rec)
    local_record_free(&rec);
  extent_set_free(&w.dirty);
  return r;
}

/* ---- changes committed in groups ----------------------------------------
 *
 * Each all-or-nothing op ends in one LMDB commit and its sync.  Threads
 * that commit at the same time (asynchronous writes into a new image, the
 * parallel copy-ups of a migration or a flatten) queue their changes; one
 * of them makes every queued change in one transaction, one sync for all,
 * while the others wait.  Each change runs in a nested transaction of its
 * own (when it has company), so one that fails takes no other with it;
 * each change's owner holds its object's exclusive op lock throughout, so
 * no two changes in a group touch one object. */

/* Run C's change in TXN, nested if SHARED; 1 if it left TXN unchanged. */
static int group_put(struct objstore_backend_pool *bp, MDB_txn *txn,
                     bool shared, struct local_commit *c)
{
  MDB_txn *child = txn;
  int rc = shared ? mdb_txn_begin(bp->kv->env, txn, 0, &child) : 0;
  int r = rc ? kvenv_error(rc, "starting a metadata transaction")
             : c->put(child, bp, c);
  if (rc == 0 && shared && r == 0 && (rc = mdb_txn_commit(child)))
    r = kvenv_error(rc, "committing metadata");
  else if (rc == 0 && shared && r != 0)
    mdb_txn_abort(child);
  return r;
}

/* Make the changes of GROUP in one transaction; sets each result. */
static void group_commit(struct objstore_backend_pool *bp,
                         struct local_commit *group)
{
  MDB_txn *txn = NULL;
  lbd_error_clear();
  for (struct local_commit *c = group; c; c = c->next)
    c->result = 0; /* not run yet: fails with the transaction */
  int r = kvenv_begin(bp->kv, true, &txn);
  bool shared = group->next != NULL, any = false;
  char why[sizeof group->err] = "";
  if (r < 0) /* the loop below clears the message: keep it */
    snprintf(why, sizeof why, "%s", lbd_last_error());
  for (struct local_commit *c = group; r == 0 && c; c = c->next) {
    lbd_error_clear();
    c->result = group_put(bp, txn, shared, c);
    if (c->result < 0)
      snprintf(c->err, sizeof c->err, "%s", lbd_last_error());
    if (c->result < 0 && !shared) { /* TXN may be half changed */
      mdb_txn_abort(txn);
      txn = NULL;
    }
    any |= c->result == 0;
  }
  if (r == 0 && txn && any) {
    if ((r = kvenv_commit(txn)) < 0) /* frees TXN, also when it fails */
      snprintf(why, sizeof why, "%s", lbd_last_error());
  } else if (r == 0 && txn) {
    mdb_txn_abort(txn);
  }
  lbd_error_clear();
  for (struct local_commit *c = group; c; c = c->next) {
    /* A change that left TXN unchanged (1) needs no commit: it stands. */
    if (r < 0 && c->result == 0) {
      c->result = r;
      snprintf(c->err, sizeof c->err, "%s", why);
    }
    if (c->result == 1)
      c->result = 0;
  }
}

int local_commit_grouped(struct objstore_backend_pool *bp,
                         struct local_commit *c)
{
  pthread_mutex_lock(&bp->group_mu);
  c->next = bp->group;
  bp->group = c;
  while (!c->done) {
    if (bp->group_leader) {
      pthread_cond_wait(&bp->group_done, &bp->group_mu);
      continue;
    }
    struct local_commit *group = bp->group;
    bp->group = NULL;
    bp->group_leader = true;
    pthread_mutex_unlock(&bp->group_mu);
    group_commit(bp, group);
    pthread_mutex_lock(&bp->group_mu);
    for (struct local_commit *g = group, *next; g; g = next) {
      next = g->next; /* G's owner may return once done is set */
      g->done = true;
    }
    bp->group_leader = false;
    pthread_cond_broadcast(&bp->group_done);
  }
  pthread_mutex_unlock(&bp->group_mu);
  return c->result;
}

struct empty_create {
  uint64_t file; /* its new empty data file */
  uint64_t seq;  /* snap context seq of the creating write */
};

/* -EAGAIN if the object has a record (clones): the full path decides. */
static int put_empty(MDB_txn *txn, struct objstore_backend_pool *bp,
                     struct local_commit *c)
{
  const struct empty_create *e = c->arg;
  uint64_t pool_seq;
  int r = kv_get(txn, bp->kv->dbi[LDB_OBJ], c->key, c->klen, &(MDB_val){0});
  if (r != -ENOENT)
    return r == 0 ? -EAGAIN : r;
  if ((r = local_cfg_get(txn, bp, "snap_seq", &pool_seq)) < 0)
    return r;
  if (e->seq > pool_seq)
    return lbd_error(EINVAL, "snap context seq %" PRIu64 " is newer than "
                     "every snap id allocated in this pool", e->seq);
  struct local_record rec = {.mtime_ns = local_now_ns(),
                             .snap_seq = e->seq,
                             .head_exists = true,
                             .head_unsynced = true,
                             .head_file = e->file};
  if ((r = local_cfg_next(txn, bp, "next_iid", &rec.iid)) == 0 &&
      (r = local_cfg_next(txn, bp, "version", &rec.version)) == 0)
    r = local_record_put(txn, bp, c->key, c->klen, &rec);
  return r;
}

/* Under KEY's exclusive op lock: create OID empty; -EAGAIN if it has a
 * record (the full path then decides). */
static int create_grouped(struct objstore_backend_pool *bp, const char *oid,
                          const char *key, size_t klen,
                          const struct objstore_snapc *snapc)
{
  MDB_txn *txn;
  int r = kvenv_begin(bp->kv, false, &txn);
  if (r < 0)
    return r;
  r = kv_get(txn, bp->kv->dbi[LDB_OBJ], key, klen, &(MDB_val){0});
  mdb_txn_abort(txn);
  if (r != -ENOENT)
    return r == 0 ? -EAGAIN : r;
  struct empty_create e = {.seq = snapc ? snapc->seq : 0};
  struct local_commit c = {.key = key, .klen = klen, .put = put_empty,
                           .arg = &e};
  int fd = local_file_create(bp, &e.file);
  if (fd < 0)
    return fd;
  r = local_commit_grouped(bp, &c);
  local_file_close_new(bp, fd); /* after the commit */
  if (r < 0)
    local_file_unlink(bp, e.file);
  if (r < 0 && r != -EAGAIN)
    return lbd_error(-r, "object %s: %s", oid, c.err);
  return r;
}

static int create_empty(struct objstore_backend_pool *bp, const char *oid,
                        const char *key, size_t klen,
                        const struct objstore_snapc *snapc)
{
  struct objstore_step step = {.type = STEP_CREATE};
  struct objstore_write_op op = {.steps = &step, .nsteps = 1, .cap = 1};
  int r = -EAGAIN;
  for (int attempt = 0; r == -EAGAIN && attempt < 10; attempt++) {
    int lfd = local_obj_lock(bp, key, klen, true);
    if (lfd < 0)
      return lfd;
    r = create_grouped(bp, oid, key, klen, snapc);
    if (r == -EAGAIN)
      r = run_full(bp, oid, key, klen, &op, snapc);
    local_obj_unlock(bp, lfd, key, klen, true);
  }
  return r == -EAGAIN ? lbd_error(EAGAIN, "object %s keeps changing: retry",
                                  oid)
                      : r;
}

int local_operate(struct objstore_backend_pool *bp, const char *oid,
                  const struct objstore_write_op *op,
                  const struct objstore_snapc *snapc, unsigned flags)
{
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  uint64_t hash = local_obj_hash(key, klen);
  const struct objstore_step *data = inplace_step(op);
  int r = -EAGAIN;
  for (int attempt = 0; data && attempt < 3; attempt++) {
    struct local_oplock lk;
    if ((r = local_obj_lock_inplace(bp, hash, &lk)) < 0)
      return r;
    r = run_in_place(bp, oid, key, klen, hash, data, snapc);
    local_obj_unlock_inplace(bp, hash, &lk, r == 0);
    if (r == -ENODATA && op->nsteps == 2) /* guarded by assert-exists */
      return lbd_error(ENOENT, "object %s does not exist", oid);
    if (r != -ENODATA || data->type != STEP_WRITE)
      break;
    /* A plain write to a missing object: create it empty (an op of its
     * own, all or nothing, whose empty file needs no costly sync), then
     * write in place like any overwrite, durable at the next flush. */
    if ((r = create_empty(bp, oid, key, klen, snapc)) < 0)
      return r;
    r = -EAGAIN;
  }
  if (r == -ENODATA)
    r = -EAGAIN;
  for (int attempt = 0; r == -EAGAIN && attempt < 10; attempt++) {
    int lfd = local_obj_lock(bp, key, klen, true);
    if (lfd < 0)
      return lfd;
    r = run_full(bp, oid, key, klen, op, snapc);
    local_obj_unlock(bp, lfd, key, klen, true);
  }
  if (r == -EAGAIN)
    r = lbd_error(EAGAIN, "object %s keeps changing: retry", oid);
  if (r == 0 && (flags & OBJSTORE_OP_FUA))
    r = local_flush(bp);
  return r;
}
