/* Op locks, watches and locks.
 *
 * Op locks serialise changes to one object across threads and processes:
 * an OFD byte-range lock on byte hash(object) of the pool's "locks" file,
 * through a descriptor of its own per op (OFD locks of one descriptor do
 * not exclude each other).
 *
 * Watches and locks are LMDB records.  Each names a random byte of the
 * pool's "live" file that its holder keeps locked: the kernel drops that
 * lock when the holder dies, however it dies, so a record whose byte is
 * free belongs to a dead holder and no longer counts. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore/local/local.h"
#include "util/error.h"
#include "util/random.h"

#define KEY_MAX (OBJSTORE_MAX_NS + 1 + OBJSTORE_MAX_OBJECT_NAME)
#define SLOT_MASK (((uint64_t)1 << 62) - 1)
#define HOLD_KEY_MAX (8 + 1 + 129 + 64 + OBJSTORE_MAX_COOKIE + 1)

/* ---- op locks ------------------------------------------------------------ */

/* Op lock bytes stay below 1 MiB: the byte's content is used too, and
 * the "locks" file should stay small.  Two objects that share a byte only
 * serialise their ops. */
#define OBJ_LOCK_MASK (LOCAL_LOCK_BYTES - 1)

uint64_t local_obj_hash(const char *key, size_t klen)
{
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then a final mix */
  for (size_t i = 0; i < klen; i++)
    h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

uint64_t local_obj_lock_byte(const char *key, size_t klen)
{
  return local_obj_hash(key, klen) & OBJ_LOCK_MASK;
}

static uint64_t *gen_of(struct objstore_backend_pool *bp, uint64_t byte)
{
  return &bp->gens[byte % LOCAL_GENS];
}

/* Under the op lock of BYTE, before its mark is cleared: records of its
 * objects may have changed. */
static void gen_bump(struct objstore_backend_pool *bp, uint64_t byte)
{
  __atomic_add_fetch(gen_of(bp, byte), 1, __ATOMIC_SEQ_CST);
}

bool local_obj_gen(struct objstore_backend_pool *bp, uint64_t hash,
                   uint64_t *gen)
{
  uint64_t byte = hash & OBJ_LOCK_MASK;
  /* The mark first: an exclusive holder sets it before it changes
   * anything and bumps the counter before it clears it, so a clear mark
   * then an unchanged counter mean that no change was committed since the
   * counter had that value, but perhaps by an op still running (which a
   * reader may then not see, as if it had read first). */
  if (__atomic_load_n(&bp->marks[byte], __ATOMIC_ACQUIRE))
    return true;
  *gen = __atomic_load_n(gen_of(bp, byte), __ATOMIC_ACQUIRE);
  return false;
}

static int range_lock(int fd, short type, uint64_t byte, bool wait)
{
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET,
                     .l_start = (off_t)byte, .l_len = 1};
  int r;
  while ((r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) < 0 &&
         errno == EINTR)
    ;
  return r < 0 ? -errno : 0;
}

int local_obj_lock(struct objstore_backend_pool *bp, const char *key,
                   size_t klen, bool exclusive)
{
  return local_obj_lock_hash(bp, local_obj_hash(key, klen), exclusive);
}

int local_obj_lock_hash(struct objstore_backend_pool *bp, uint64_t hash,
                        bool exclusive)
{
  int fd = -1;
  pthread_mutex_lock(&bp->mu);
  if (bp->lock_fds.len)
    fd = bp->lock_fds.ptr[--bp->lock_fds.len];
  pthread_mutex_unlock(&bp->mu);
  if (fd < 0 && (fd = open(bp->lock_path, O_RDWR | O_CLOEXEC)) < 0)
    return lbd_error(errno, "opening %s: %s", bp->lock_path, strerror(errno));
  uint64_t byte = hash & OBJ_LOCK_MASK;
  int r = range_lock(fd, exclusive ? F_WRLCK : F_RDLCK, byte, true);
  if (r < 0) {
    close(fd);
    return lbd_error(r, "locking an object: %s", strerror(-r));
  }
  /* The byte reads 1 while an exclusive holder works: still 1 when we get
   * the lock means it died, perhaps inside an LMDB commit. */
  char mark = 0;
  if (exclusive) {
    mark = 1;
    r = pwrite(fd, &mark, 1, (off_t)byte) == 1 ? 0 : -errno;
  } else if (bp->marks[byte]) {
    r = kvenv_refresh(bp->kv);
    gen_bump(bp, byte); /* it died after a commit, perhaps */
    mark = 0;
    if (r == 0 && pwrite(fd, &mark, 1, (off_t)byte) != 1)
      r = -errno;
  }
  if (r < 0) {
    range_lock(fd, F_UNLCK, byte, false);
    close(fd);
    return lbd_error(r, "locking an object: %s", strerror(-r));
  }
  return fd;
}

int local_obj_settle(struct objstore_backend_pool *bp, const char *key,
                     size_t klen)
{
  if (!bp->marks[local_obj_lock_byte(key, klen)])
    return 0;
  int fd = local_obj_lock(bp, key, klen, false);
  if (fd < 0)
    return fd;
  local_obj_unlock(bp, fd, key, klen, false);
  return 0;
}

void local_obj_unlock(struct objstore_backend_pool *bp, int fd,
                      const char *key, size_t klen, bool exclusive)
{
  local_obj_unlock_hash(bp, fd, local_obj_hash(key, klen), exclusive);
}

void local_obj_unlock_hash(struct objstore_backend_pool *bp, int fd,
                           uint64_t hash, bool exclusive)
{
  uint64_t byte = hash & OBJ_LOCK_MASK;
  if (exclusive) {
    char mark = 0;
    gen_bump(bp, byte);
    if (pwrite(fd, &mark, 1, (off_t)byte) != 1)
      lbd_error_clear(); /* a later shared taker only refreshes in vain */
  }
  range_lock(fd, F_UNLCK, byte, false);
  pthread_mutex_lock(&bp->mu);
  if (fd_vec_push(&bp->lock_fds, fd) < 0)
    close(fd);
  pthread_mutex_unlock(&bp->mu);
}

/* ---- liveness bytes ------------------------------------------------------ */

static int slot_take(struct objstore_backend_pool *bp, uint64_t *slot)
{
  for (int i = 0; i < 64; i++) {
    uint64_t s = lbd_random_u64() & SLOT_MASK;
    int r = range_lock(bp->live_hold_fd, F_WRLCK, s, false);
    if (r == 0) {
      *slot = s;
      return 0;
    }
    if (r != -EAGAIN && r != -EACCES)
      return lbd_error(r, "taking a liveness lock: %s", strerror(-r));
  }
  return lbd_error(EIO, "no free liveness lock byte found");
}

static void slot_release(struct objstore_backend_pool *bp, uint64_t slot)
{
  range_lock(bp->live_hold_fd, F_UNLCK, slot, false);
}

static bool slot_alive(struct objstore_backend_pool *bp, uint64_t slot)
{
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET,
                     .l_start = (off_t)slot, .l_len = 1};
  if (fcntl(bp->live_check_fd, F_OFD_GETLK, &fl) < 0)
    return true; /* cannot tell: never drop a holder on a guess */
  return fl.l_type != F_UNLCK;
}

/* ---- hold records --------------------------------------------------------- */

/* Value: slot(8) pid(4) exclusive(1) client\0 cookie\0 tag\0 desc\0 */
static int hold_encode(uint64_t slot, bool exclusive, const char *client,
                       const char *cookie, const char *tag, const char *desc,
                       char **out, size_t *len)
{
  size_t n = 13 + strlen(client) + strlen(cookie) + strlen(tag) +
             strlen(desc) + 4;
  char *v = malloc(n);
  if (!v)
    return lbd_error(ENOMEM, "out of memory");
  int32_t pid = (int32_t)getpid();
  memcpy(v, &slot, 8);
  memcpy(v + 8, &pid, 4);
  v[12] = exclusive;
  char *p = v + 13;
  p = stpcpy(p, client) + 1;
  p = stpcpy(p, cookie) + 1;
  p = stpcpy(p, tag) + 1;
  stpcpy(p, desc);
  *out = v;
  *len = n;
  return 0;
}

static int hold_decode(const MDB_val *v, uint64_t *slot,
                       struct objstore_holder *h)
{
  const char *d = v->mv_data, *end = d + v->mv_size;
  if (v->mv_size < 17 || end[-1] != '\0')
    return lbd_error(EIO, "a watch or lock record is damaged");
  int32_t pid;
  memcpy(slot, d, 8);
  memcpy(&pid, d + 8, 4);
  memset(h, 0, sizeof *h);
  h->pid = pid;
  h->exclusive = d[12] != 0;
  const char *s[4];
  const char *p = d + 13;
  for (int i = 0; i < 4; i++) {
    if (p >= end)
      return lbd_error(EIO, "a watch or lock record is damaged");
    s[i] = p;
    p += strlen(p) + 1;
  }
  snprintf(h->client, sizeof h->client, "%s", s[0]);
  h->cookie = strdup(s[1]);
  h->tag = strdup(s[2]);
  h->desc = strdup(s[3]);
  if (!h->cookie || !h->tag || !h->desc) {
    free(h->cookie);
    free(h->tag);
    free(h->desc);
    return lbd_error(ENOMEM, "out of memory");
  }
  return 0;
}

static size_t lock_key(uint64_t iid, const char *name, const char *client,
                       const char *cookie, unsigned char *key)
{
  local_be64(iid, key);
  key[8] = 'l';
  size_t n = 9;
  n += (size_t)sprintf((char *)key + n, "%s", name) + 1;
  if (client) {
    n += (size_t)sprintf((char *)key + n, "%s", client) + 1;
    n += (size_t)sprintf((char *)key + n, "%s", cookie);
  }
  return n;
}

static size_t watch_key(uint64_t iid, uint64_t handle, unsigned char *key)
{
  local_be64(iid, key);
  key[8] = 'w';
  local_be64(handle, key + 9);
  return 17;
}

/* Begin a txn and find the live object's iid. */
static int begin_obj(struct objstore_backend_pool *bp, const char *oid,
                     bool write, MDB_txn **txn, uint64_t *iid)
{
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  struct local_record rec = {0};
  int r = kvenv_begin(bp->kv, write, txn);
  if (r < 0)
    return r;
  r = local_record_get(*txn, bp, key, klen, &rec);
  if (r == 0 && !rec.head_exists)
    r = -ENOENT;
  *iid = rec.iid;
  local_record_free(&rec);
  if (r < 0) {
    mdb_txn_abort(*txn);
    return r == -ENOENT ? lbd_error(ENOENT, "object %s does not exist", oid)
                        : r;
  }
  return 0;
}

static int holds_remember(struct objstore_backend_pool *bp, uint64_t slot,
                          const unsigned char *key, size_t klen)
{
  struct local_hold_ref ref = {slot, malloc(klen), klen};
  if (!ref.key)
    return lbd_error(ENOMEM, "out of memory");
  memcpy(ref.key, key, klen);
  pthread_mutex_lock(&bp->mu);
  int r = hold_vec_push(&bp->holds, ref);
  pthread_mutex_unlock(&bp->mu);
  if (r < 0) {
    free(ref.key);
    return lbd_error(ENOMEM, "out of memory");
  }
  return 0;
}

/* Does this handle hold KEY? */
static bool holds_mine(struct objstore_backend_pool *bp,
                       const unsigned char *key, size_t klen)
{
  bool mine = false;
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->holds.len && !mine; i++)
    mine = bp->holds.ptr[i].klen == klen &&
           memcmp(bp->holds.ptr[i].key, key, klen) == 0;
  pthread_mutex_unlock(&bp->mu);
  return mine;
}

/* Forget KEY if this handle holds it, releasing its byte. */
static void holds_forget(struct objstore_backend_pool *bp,
                         const unsigned char *key, size_t klen)
{
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->holds.len; i++) {
    struct local_hold_ref *h = &bp->holds.ptr[i];
    if (h->klen == klen && memcmp(h->key, key, klen) == 0) {
      slot_release(bp, h->slot);
      free(h->key);
      *h = bp->holds.ptr[--bp->holds.len];
      break;
    }
  }
  pthread_mutex_unlock(&bp->mu);
}

/* Put a new hold record under KEY, holding a fresh liveness byte. */
static int hold_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                    const unsigned char *key, size_t klen, bool exclusive,
                    const char *cookie, const char *tag, const char *desc)
{
  uint64_t slot = 0;
  char *val = NULL;
  size_t vlen = 0;
  int r = slot_take(bp, &slot);
  if (r < 0)
    return r;
  r = hold_encode(slot, exclusive, bp->client, cookie, tag, desc, &val, &vlen);
  if (r == 0) {
    r = kv_put(txn, bp->kv->dbi[LDB_HOLD], key, klen, val, vlen);
    free(val);
  }
  if (r == 0)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  if (r == 0)
    r = holds_remember(bp, slot, key, klen);
  if (r < 0)
    slot_release(bp, slot);
  return r;
}

DEFINE_VECTOR(holder_vec, struct objstore_holder);

/* Live holders under PREFIX; with DEAD, collect dead ones' keys to delete. */
static int scan_holders(MDB_txn *txn, struct objstore_backend_pool *bp,
                        const unsigned char *prefix, size_t plen,
                        struct holder_vec *live, MDB_val *dead, size_t *ndead,
                        size_t maxdead)
{
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, bp->kv->dbi[LDB_HOLD], &cur);
  if (rc)
    return kvenv_error(rc, "reading watches and locks");
  MDB_val k = {plen, (void *)prefix}, v;
  int r = 0;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
      break;
    uint64_t slot = 0;
    struct objstore_holder h;
    if ((r = hold_decode(&v, &slot, &h)) < 0)
      break;
    if (slot_alive(bp, slot)) {
      if ((r = holder_vec_push(live, h)) < 0) {
        free(h.cookie), free(h.tag), free(h.desc);
        r = lbd_error(ENOMEM, "out of memory");
        break;
      }
      continue;
    }
    free(h.cookie), free(h.tag), free(h.desc);
    if (dead && *ndead < maxdead)
      dead[(*ndead)++] = k;
  }
  mdb_cursor_close(cur);
  return r;
}

static int finish_holders(int r, struct holder_vec *v,
                          struct objstore_holder **out, size_t *count)
{
  if (r < 0) {
    objstore_holders_free(v->ptr, v->len);
    return r;
  }
  *out = v->ptr;
  *count = v->len;
  return 0;
}

/* ---- watches ----------------------------------------------------------- */

int local_watch(struct objstore_backend_pool *bp, const char *oid,
                const char *desc, bool rw, uint64_t *handle)
{
  MDB_txn *txn;
  uint64_t iid;
  int r = begin_obj(bp, oid, true, &txn, &iid);
  if (r < 0)
    return r;
  uint64_t h = lbd_random_u64();
  unsigned char key[17];
  char cookie[24];
  snprintf(cookie, sizeof cookie, "%" PRIu64, h);
  r = hold_put(txn, bp, key, watch_key(iid, h, key), rw, cookie, "", desc);
  if (r == 0)
    *handle = h;
  return r < 0 ? lbd_error_prefix(r, "watching object %s", oid) : 0;
}

int local_unwatch(struct objstore_backend_pool *bp, const char *oid,
                  uint64_t handle)
{
  MDB_txn *txn;
  uint64_t iid;
  int r = begin_obj(bp, oid, true, &txn, &iid);
  if (r < 0)
    return r;
  unsigned char key[17];
  size_t klen = watch_key(iid, handle, key);
  MDB_val v;
  uint64_t slot = 0;
  struct objstore_holder h;
  r = holds_mine(bp, key, klen) ? kv_get(txn, bp->kv->dbi[LDB_HOLD], key,
                                          klen, &v)
                                 : -ENOENT;
  if (r == 0 && (r = hold_decode(&v, &slot, &h)) == 0) {
    bool mine = strcmp(h.client, bp->client) == 0;
    free(h.cookie), free(h.tag), free(h.desc);
    r = mine ? kv_del(txn, bp->kv->dbi[LDB_HOLD], key, klen) : -ENOENT;
  }
  if (r == 0)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "object %s has no watch %" PRIu64 " of this "
                     "client", oid, handle);
  if (r == 0)
    holds_forget(bp, key, klen);
  return r;
}

int local_list_watchers(struct objstore_backend_pool *bp, const char *oid,
                        struct objstore_holder **holders, size_t *count)
{
  MDB_txn *txn;
  uint64_t iid;
  struct holder_vec v = {0};
  int r = begin_obj(bp, oid, false, &txn, &iid);
  if (r < 0)
    return r;
  unsigned char prefix[9];
  local_be64(iid, prefix);
  prefix[8] = 'w';
  r = scan_holders(txn, bp, prefix, 9, &v, NULL, NULL, 0);
  mdb_txn_abort(txn);
  return finish_holders(r, &v, holders, count);
}

/* ---- locks --------------------------------------------------------------- */

int local_lock(struct objstore_backend_pool *bp, const char *oid,
               const char *name, enum objstore_lock_type type,
               const char *cookie, const char *tag, const char *desc)
{
  MDB_txn *txn;
  uint64_t iid;
  int r = begin_obj(bp, oid, true, &txn, &iid);
  if (r < 0)
    return r;
  unsigned char prefix[HOLD_KEY_MAX], key[HOLD_KEY_MAX];
  size_t plen = lock_key(iid, name, NULL, NULL, prefix);
  size_t klen = lock_key(iid, name, bp->client, cookie, key);
  struct holder_vec live = {0};
  MDB_val dead[64];
  size_t ndead = 0;
  bool exclusive = type == OBJSTORE_LOCK_EXCLUSIVE;
  r = scan_holders(txn, bp, prefix, plen, &live, dead, &ndead, 64);
  for (size_t i = 0; r == 0 && i < live.len; i++) {
    const struct objstore_holder *h = &live.ptr[i];
    if (strcmp(h->client, bp->client) == 0 && strcmp(h->cookie, cookie) == 0)
      r = lbd_error(EEXIST, "lock %s on object %s is already held with "
                    "cookie %s by this client", name, oid, cookie);
    else if (exclusive || h->exclusive || strcmp(h->tag, tag) != 0)
      r = lbd_error(EBUSY, "lock %s on object %s is held %s by %s (pid %d, "
                    "cookie %s%s%s)", name, oid,
                    h->exclusive ? "exclusively" : "shared", h->client,
                    (int)h->pid, h->cookie, h->desc[0] ? ", " : "", h->desc);
  }
  objstore_holders_free(live.ptr, live.len);
  /* Keys from the cursor stay valid until the txn changes: copy them. */
  unsigned char dk[64][HOLD_KEY_MAX];
  size_t dl[64];
  for (size_t i = 0; i < ndead; i++) {
    dl[i] = dead[i].mv_size < HOLD_KEY_MAX ? dead[i].mv_size : HOLD_KEY_MAX;
    memcpy(dk[i], dead[i].mv_data, dl[i]);
  }
  for (size_t i = 0; r == 0 && i < ndead; i++)
    r = kv_del(txn, bp->kv->dbi[LDB_HOLD], dk[i], dl[i]);
  if (r < 0) {
    mdb_txn_abort(txn);
    return r;
  }
  r = hold_put(txn, bp, key, klen, exclusive, cookie, tag, desc);
  return r < 0 ? lbd_error_prefix(r, "locking object %s", oid) : 0;
}

static int unlock_as(struct objstore_backend_pool *bp, const char *oid,
                     const char *name, const char *client, const char *cookie,
                     bool only_mine)
{
  MDB_txn *txn;
  uint64_t iid;
  int r = begin_obj(bp, oid, true, &txn, &iid);
  if (r < 0)
    return r;
  unsigned char key[HOLD_KEY_MAX];
  size_t klen = lock_key(iid, name, client, cookie, key);
  r = only_mine && !holds_mine(bp, key, klen)
          ? -ENOENT
          : kv_del(txn, bp->kv->dbi[LDB_HOLD], key, klen);
  if (r == 0)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "%s holds no lock %s on object %s with cookie %s",
                     client, name, oid, cookie);
  if (r == 0 && strcmp(client, bp->client) == 0)
    holds_forget(bp, key, klen);
  return r;
}

int local_unlock(struct objstore_backend_pool *bp, const char *oid,
                 const char *name, const char *cookie)
{
  return unlock_as(bp, oid, name, bp->client, cookie, true);
}

int local_break_lock(struct objstore_backend_pool *bp, const char *oid,
                     const char *name, const char *client, const char *cookie)
{
  return unlock_as(bp, oid, name, client, cookie, false);
}

int local_list_lockers(struct objstore_backend_pool *bp, const char *oid,
                       const char *name, struct objstore_holder **holders,
                       size_t *count)
{
  MDB_txn *txn;
  uint64_t iid;
  struct holder_vec v = {0};
  int r = begin_obj(bp, oid, false, &txn, &iid);
  if (r < 0)
    return r;
  unsigned char prefix[HOLD_KEY_MAX];
  size_t plen = lock_key(iid, name, NULL, NULL, prefix);
  r = scan_holders(txn, bp, prefix, plen, &v, NULL, NULL, 0);
  mdb_txn_abort(txn);
  return finish_holders(r, &v, holders, count);
}

int local_holds_drop_object(MDB_txn *txn, struct objstore_backend_pool *bp,
                            uint64_t iid)
{
  unsigned char prefix[8];
  local_be64(iid, prefix);
  return kv_del_prefix(txn, bp->kv->dbi[LDB_HOLD], prefix, 8);
}

void local_holds_release_all(struct objstore_backend_pool *bp)
{
  if (bp->holds.len) {
    MDB_txn *txn;
    if (kvenv_begin(bp->kv, true, &txn) == 0) {
      for (size_t i = 0; i < bp->holds.len; i++) {
        /* Only if still ours: it may have been broken and taken anew. */
        const struct local_hold_ref *h = &bp->holds.ptr[i];
        MDB_val v;
        uint64_t slot;
        if (kv_get(txn, bp->kv->dbi[LDB_HOLD], h->key, h->klen, &v) == 0 &&
            v.mv_size >= 8 && (memcpy(&slot, v.mv_data, 8), slot == h->slot))
          kv_del(txn, bp->kv->dbi[LDB_HOLD], h->key, h->klen);
      }
      if (kvenv_commit(txn) < 0)
        lbd_error_clear(); /* the bytes below are released all the same */
    }
  }
  for (size_t i = 0; i < bp->holds.len; i++) {
    slot_release(bp, bp->holds.ptr[i].slot);
    free(bp->holds.ptr[i].key);
  }
  bp->holds.len = 0;
}
