/* Data files: naming, creation, sparse copies and extent maps. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objstore/local/local.h"
#include "util/error.h"
#include "util/random.h"

void local_file_path(uint64_t id, char out[LOCAL_FILE_PATH])
{
  snprintf(out, LOCAL_FILE_PATH, "%02x/%016" PRIx64, (unsigned)(id >> 56),
           id);
}

/* Under spare_mu: list FD as a data file being created. */
static int creating_add(struct objstore_backend_pool *bp, int fd)
{
  return fd_vec_push(&bp->creating, fd) < 0 ? -ENOMEM : 0;
}

/* Under spare_mu: close FD, a data file being created. */
static void creating_close(struct objstore_backend_pool *bp, int fd)
{
  for (size_t i = 0; i < bp->creating.len; i++) {
    if (bp->creating.ptr[i] == fd) {
      bp->creating.ptr[i] = bp->creating.ptr[--bp->creating.len];
      break;
    }
  }
  close(fd);
}

void local_file_close_new(struct objstore_backend_pool *bp, int fd)
{
  pthread_mutex_lock(&bp->spare_mu);
  creating_close(bp, fd);
  pthread_mutex_unlock(&bp->spare_mu);
}

static int file_create_now(struct objstore_backend_pool *bp, uint64_t *id)
{
  pthread_rwlock_rdlock(&bp->create_rw); /* no fork until fd is listed */
  int r = lbd_error(EIO, "cannot create a data file in %s/data", bp->path);
  for (int tries = 0; tries < 100; tries++) {
    uint64_t fid = lbd_random_u64();
    char rel[LOCAL_FILE_PATH];
    local_file_path(fid, rel);
    int fd = openat(bp->data_fd, rel, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0644);
    if (fd < 0) {
      if (errno == EEXIST)
        continue;
      int e = errno;
      r = lbd_error(e, "cannot create data file in %s/data: %s", bp->path,
                    strerror(e));
      break;
    }
    /* The lock tells a pool check that this unreferenced file is in use.
     * A check may have removed the file between our create and our lock:
     * then the name no longer leads to our inode, and we try again. */
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
    struct stat a, b;
    if (fcntl(fd, F_OFD_SETLK, &fl) == 0 && fstat(fd, &a) == 0 &&
        fstatat(bp->data_fd, rel, &b, 0) == 0 && a.st_ino == b.st_ino) {
      pthread_mutex_lock(&bp->spare_mu);
      r = creating_add(bp, fd);
      pthread_mutex_unlock(&bp->spare_mu);
      if (r == 0) {
        *id = fid;
        r = fd;
      } else {
        close(fd);
        unlinkat(bp->data_fd, rel, 0);
        r = lbd_error(ENOMEM, "out of memory");
      }
      break;
    }
    close(fd);
  }
  pthread_rwlock_unlock(&bp->create_rw);
  return r;
}

/* Spare files.  Creating a file costs the caller tens of microseconds of
 * inode allocation (far more on ext4 without a journal in a directory
 * where files were deleted in the last minute, as after a pool or image
 * removal), on every object's first write.  A thread of the handle keeps
 * a few empty files made ahead, each locked as a file being created is
 * (a pool check leaves them alone; a crash leaves them as orphans that
 * repair removes; pool close removes them). */
static void *spare_main(void *arg)
{
  struct objstore_backend_pool *bp = arg;
  pthread_mutex_lock(&bp->spare_mu);
  while (!bp->spare_stop) {
    if (bp->nspare == LOCAL_SPARES) {
      pthread_cond_wait(&bp->spare_cv, &bp->spare_mu);
      continue;
    }
    pthread_mutex_unlock(&bp->spare_mu);
    uint64_t id;
    int fd = file_create_now(bp, &id);
    if (fd < 0)
      lbd_error_clear(); /* the caller will meet it again, and report it */
    pthread_mutex_lock(&bp->spare_mu);
    if (fd < 0)
      break;
    bp->spare_fd[bp->nspare] = fd;
    bp->spare_id[bp->nspare++] = id;
  }
  bp->spare_on = false;
  pthread_mutex_unlock(&bp->spare_mu);
  return NULL;
}

int local_file_create(struct objstore_backend_pool *bp, uint64_t *id)
{
  int fd = -1;
  pthread_mutex_lock(&bp->spare_mu);
  if (bp->nspare) {
    fd = bp->spare_fd[--bp->nspare];
    *id = bp->spare_id[bp->nspare];
  }
  if (!bp->spare_on && !bp->spare_stop) {
    if (bp->spare_joinable) /* it stopped after an error: try again */
      pthread_join(bp->spare_thread, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    bp->spare_on = bp->spare_joinable =
        pthread_create(&bp->spare_thread, &attr, spare_main, bp) == 0;
    pthread_attr_destroy(&attr);
  }
  pthread_cond_signal(&bp->spare_cv);
  pthread_mutex_unlock(&bp->spare_mu);
  return fd >= 0 ? fd : file_create_now(bp, id);
}

void local_spares_stop(struct objstore_backend_pool *bp)
{
  pthread_mutex_lock(&bp->spare_mu);
  bp->spare_stop = true;
  pthread_cond_signal(&bp->spare_cv);
  bool join = bp->spare_joinable;
  pthread_mutex_unlock(&bp->spare_mu);
  if (join)
    pthread_join(bp->spare_thread, NULL);
  bp->spare_joinable = false;
  pthread_mutex_lock(&bp->spare_mu); /* no fork between a close and nspare */
  while (bp->nspare) {
    bp->nspare--;
    creating_close(bp, bp->spare_fd[bp->nspare]);
    local_file_unlink(bp, bp->spare_id[bp->nspare]);
  }
  pthread_mutex_unlock(&bp->spare_mu);
}

int local_file_recreate(struct objstore_backend_pool *bp, uint64_t id)
{
  char rel[LOCAL_FILE_PATH];
  local_file_path(id, rel);
  int fd = openat(bp->data_fd, rel, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || fdatasync(fd) < 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    return lbd_error(e, "cannot make data file %s/data/%s again: %s",
                     bp->path, rel, strerror(e));
  }
  return fd;
}

int local_file_open(struct objstore_backend_pool *bp, uint64_t id, int flags)
{
  char rel[LOCAL_FILE_PATH];
  local_file_path(id, rel);
  int fd = openat(bp->data_fd, rel, flags | O_CLOEXEC);
  if (fd >= 0)
    return fd;
  if (errno == ENOENT)
    return -ENOENT;
  int e = errno;
  return lbd_error(e, "cannot open data file %s/data/%s: %s", bp->path, rel,
                   strerror(e));
}

#define FD_SETS (LOCAL_FD_CACHE / LOCAL_FD_WAYS)
#define HEAD_SETS (LOCAL_HEAD_CACHE / LOCAL_HEAD_WAYS)

/* Under fd_mu: the ways of file ID's set, and its slot if cached. */
static struct local_fd_slot *fd_ways(struct objstore_backend_pool *bp,
                                    uint64_t id)
{
  return &bp->fd_cache[(id % FD_SETS) * LOCAL_FD_WAYS];
}

static struct local_fd_slot *fd_find(struct objstore_backend_pool *bp,
                                     uint64_t id)
{
  struct local_fd_slot *set = fd_ways(bp, id);
  for (int w = 0; w < LOCAL_FD_WAYS; w++)
    if (set[w].id == id && set[w].fd >= 0 && !set[w].doomed)
      return &set[w];
  return NULL;
}

/* Under fd_mu: take the cached FD of file ID. */
static bool fd_take(struct objstore_backend_pool *bp, uint64_t id,
                    struct local_fd_ref *ref)
{
  struct local_fd_slot *slot = fd_find(bp, id);
  if (!slot)
    return false;
  slot->refs++;
  slot->used = ++bp->tick;
  ref->fd = slot->fd;
  ref->slot = slot;
  return true;
}

int local_file_get(struct objstore_backend_pool *bp, uint64_t id,
                   struct local_fd_ref *ref)
{
  pthread_mutex_lock(&bp->fd_mu);
  bool hit = fd_take(bp, id, ref);
  pthread_mutex_unlock(&bp->fd_mu);
  if (hit)
    return 0;
  int fd = local_file_open(bp, id, O_RDWR);
  if (fd < 0)
    return fd;
  ref->fd = fd;
  ref->slot = NULL;
  int old = -1;
  pthread_mutex_lock(&bp->fd_mu);
  if (fd_take(bp, id, ref)) { /* another thread cached it meanwhile */
    old = fd;
  } else {
    /* An empty way, else the least recently used idle one. */
    struct local_fd_slot *set = fd_ways(bp, id), *victim = NULL;
    for (int w = 0; w < LOCAL_FD_WAYS; w++) {
      struct local_fd_slot *s = &set[w];
      if (s->refs)
        continue;
      if (s->fd < 0) {
        victim = s;
        break;
      }
      if (!victim || bp->tick - s->used > bp->tick - victim->used)
        victim = s;
    }
    if (victim) {
      old = victim->fd;
      victim->id = id;
      victim->fd = fd;
      victim->doomed = false;
      victim->refs = 1;
      victim->used = ++bp->tick;
      ref->slot = victim;
    }
  }
  pthread_mutex_unlock(&bp->fd_mu);
  if (old >= 0)
    close(old);
  return 0;
}

void local_file_put(struct objstore_backend_pool *bp, struct local_fd_ref *ref)
{
  if (!ref->slot) {
    if (ref->fd >= 0)
      close(ref->fd);
    return;
  }
  int fd = -1;
  pthread_mutex_lock(&bp->fd_mu);
  if (--ref->slot->refs == 0 && ref->slot->doomed) {
    fd = ref->slot->fd;
    ref->slot->fd = -1;
    ref->slot->id = 0;
    ref->slot->doomed = false;
  }
  pthread_mutex_unlock(&bp->fd_mu);
  if (fd >= 0)
    close(fd);
}

void local_fd_cache_clear(struct objstore_backend_pool *bp)
{
  for (int i = 0; i < LOCAL_FD_CACHE; i++) {
    if (bp->fd_cache[i].fd >= 0)
      close(bp->fd_cache[i].fd);
    bp->fd_cache[i].fd = -1;
    bp->fd_cache[i].id = 0;
  }
}

static void fd_cache_evict(struct objstore_backend_pool *bp, uint64_t id)
{
  int fd = -1;
  pthread_mutex_lock(&bp->fd_mu);
  struct local_fd_slot *slot = fd_find(bp, id);
  if (slot) {
    if (slot->refs) {
      slot->doomed = true;
    } else {
      fd = slot->fd;
      slot->fd = -1;
      slot->id = 0;
    }
  }
  pthread_mutex_unlock(&bp->fd_mu);
  if (fd >= 0)
    close(fd);
}

/* ---- the head cache ------------------------------------------------------ */

/* Under fd_mu: KEY's slot, or NULL. */
static struct local_head_slot *head_find(struct objstore_backend_pool *bp,
                                         const char *key, size_t klen,
                                         uint64_t hash)
{
  struct local_head_slot *set =
      &bp->heads[(hash >> 32) % HEAD_SETS * LOCAL_HEAD_WAYS];
  for (int w = 0; w < LOCAL_HEAD_WAYS; w++)
    if (set[w].hash == hash && set[w].klen == klen &&
        memcmp(set[w].key, key, klen) == 0)
      return &set[w];
  return NULL;
}

int local_head_get(struct objstore_backend_pool *bp, const char *key,
                   size_t klen, uint64_t hash, uint64_t gen,
                   struct local_head *head, struct local_fd_ref *ref)
{
  if (klen > LOCAL_HEAD_KEY || hash == 0)
    return -ENOENT;
  pthread_mutex_lock(&bp->fd_mu);
  struct local_head_slot *slot = head_find(bp, key, klen, hash);
  if (!slot || slot->gen != gen) {
    pthread_mutex_unlock(&bp->fd_mu);
    return -ENOENT;
  }
  slot->used = ++bp->tick;
  *head = slot->head;
  bool hit = fd_take(bp, head->file, ref);
  pthread_mutex_unlock(&bp->fd_mu);
  if (hit)
    return 0;
  int r = local_file_get(bp, head->file, ref);
  if (r < 0) { /* gone, or not ours to write: the slow path will tell */
    lbd_error_clear();
    local_head_forget(bp, key, klen, hash);
    return -ENOENT;
  }
  return 0;
}

void local_head_remember(struct objstore_backend_pool *bp, const char *key,
                         size_t klen, uint64_t hash, uint64_t gen,
                         const struct local_head *head)
{
  if (klen > LOCAL_HEAD_KEY || hash == 0)
    return;
  pthread_mutex_lock(&bp->fd_mu);
  struct local_head_slot *slot = head_find(bp, key, klen, hash);
  if (!slot) {
    struct local_head_slot *set =
        &bp->heads[(hash >> 32) % HEAD_SETS * LOCAL_HEAD_WAYS];
    for (int w = 0; w < LOCAL_HEAD_WAYS; w++) {
      struct local_head_slot *s = &set[w];
      if (s->hash == 0) {
        slot = s;
        break;
      }
      if (!slot || bp->tick - s->used > bp->tick - slot->used)
        slot = s;
    }
    slot->hash = hash;
    slot->klen = (uint16_t)klen;
    memcpy(slot->key, key, klen);
  }
  slot->gen = gen;
  slot->head = *head;
  slot->used = ++bp->tick;
  pthread_mutex_unlock(&bp->fd_mu);
}

void local_head_forget(struct objstore_backend_pool *bp, const char *key,
                       size_t klen, uint64_t hash)
{
  if (klen > LOCAL_HEAD_KEY || hash == 0)
    return;
  pthread_mutex_lock(&bp->fd_mu);
  struct local_head_slot *slot = head_find(bp, key, klen, hash);
  if (slot)
    slot->hash = 0;
  pthread_mutex_unlock(&bp->fd_mu);
}

void local_file_unlink(struct objstore_backend_pool *bp, uint64_t id)
{
  fd_cache_evict(bp, id);
  char rel[LOCAL_FILE_PATH];
  local_file_path(id, rel);
  unlinkat(bp->data_fd, rel, 0);
}

int local_file_bury(MDB_txn *txn, struct objstore_backend_pool *bp,
                    uint64_t id)
{
  return kv_put(txn, bp->kv->dbi[LDB_DEAD], &id, sizeof id, "", 0);
}

#define REAP_BATCH 1024
#define REAP_EVERY 64

int local_file_reap(struct objstore_backend_pool *bp)
{
  int rc;
  __atomic_store_n(&bp->dead_pending, 0, __ATOMIC_RELAXED);
  for (;;) {
    uint64_t ids[REAP_BATCH];
    size_t n = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int r = kvenv_begin(bp->kv, false, &txn);
    if (r < 0)
      return r;
    if ((rc = mdb_cursor_open(txn, bp->kv->dbi[LDB_DEAD], &cur)) == 0) {
      MDB_val k, v;
      for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && n < REAP_BATCH;
           rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if (k.mv_size == sizeof ids[0])
          memcpy(&ids[n++], k.mv_data, sizeof ids[0]);
      mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND)
      return kvenv_error(rc, "reading the dead file table");
    /* The commits that buried these files are durable after this sync. */
    if ((rc = mdb_env_sync(bp->kv->env, 1)))
      return kvenv_error(rc, "syncing pool metadata");
    if (n == 0)
      return 0;
    for (size_t i = 0; i < n; i++)
      local_file_unlink(bp, ids[i]);
    if ((r = kvenv_begin(bp->kv, true, &txn)) < 0)
      return r;
    for (size_t i = 0; r == 0 && i < n; i++) {
      r = kv_del(txn, bp->kv->dbi[LDB_DEAD], &ids[i], sizeof ids[i]);
      if (r == -ENOENT)
        r = 0;
    }
    if (r == 0)
      r = kvenv_commit(txn);
    else
      mdb_txn_abort(txn);
    if (r < 0 || n < REAP_BATCH)
      return r;
  }
}

void local_file_buried(struct objstore_backend_pool *bp, unsigned n)
{
  if (n && __atomic_add_fetch(&bp->dead_pending, n, __ATOMIC_RELAXED) >=
               REAP_EVERY && local_file_reap(bp) < 0)
    lbd_error_clear(); /* the next flush or check reaps them */
}

int local_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
  const char *p = buf;
  while (len) {
    ssize_t n = pwrite(fd, p, len, (off_t)off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      int e = errno;
      return lbd_error(e, "writing object data: %s", strerror(e));
    }
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

int local_pwrite_streaming(int fd, const void *buf, size_t len, uint64_t off)
{
  const size_t chunk = 1 << 20;
  const char *p = buf;
  while (len) {
    size_t n = len < chunk ? len : chunk;
    int r = local_pwrite_all(fd, p, n, off);
    if (r < 0)
      return r;
    sync_file_range(fd, (off_t)off, (off_t)n, SYNC_FILE_RANGE_WRITE);
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int copy_range(int src, int dst, off_t off, off_t len)
{
  while (len > 0) {
    off_t in = off, out = off;
    ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      /* Fall back to read and write (e.g. across filesystems). */
      char buf[65536];
      size_t want = len < (off_t)sizeof buf ? (size_t)len : sizeof buf;
      ssize_t got = pread(src, buf, want, off);
      if (got <= 0)
        return lbd_error(got < 0 ? errno : EIO, "copying object data failed");
      int r = local_pwrite_all(dst, buf, (size_t)got, (uint64_t)off);
      if (r < 0)
        return r;
      n = got;
    }
    off += n;
    len -= n;
  }
  return 0;
}

int local_file_copy(int src, int dst)
{
  struct stat st;
  if (fstat(src, &st) < 0)
    return lbd_error(errno, "copying object data: %s", strerror(errno));
  if (ioctl(dst, FICLONE, src) == 0)
    return 0;
  off_t pos = 0;
  while (pos < st.st_size) {
    off_t data = lseek(src, pos, SEEK_DATA);
    if (data < 0)
      break; /* ENXIO: only a hole remains */
    off_t hole = lseek(src, data, SEEK_HOLE);
    if (hole < 0)
      hole = st.st_size;
    int r = copy_range(src, dst, data, hole - data);
    if (r < 0)
      return r;
    pos = hole;
  }
  if (ftruncate(dst, st.st_size) < 0)
    return lbd_error(errno, "copying object data: %s", strerror(errno));
  return 0;
}

int local_file_map(int fd, uint64_t off, uint64_t len, uint64_t size,
                   struct extent_set *map)
{
  uint64_t end = off + len < size ? off + len : size;
  uint64_t pos = off;
  while (pos < end) {
    off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
    if (data < 0 || (uint64_t)data >= end)
      break;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    uint64_t stop = hole < 0 || (uint64_t)hole > end ? end : (uint64_t)hole;
    int r = extent_set_add(map, (uint64_t)data, stop - (uint64_t)data);
    if (r < 0)
      return lbd_error(ENOMEM, "out of memory");
    pos = stop;
  }
  return 0;
}
