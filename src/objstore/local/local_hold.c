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
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
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

static int range_lock_len(int fd, short type, uint64_t start, uint64_t len,
                          bool wait)
{
  struct flock fl = {.l_type = type, .l_whence = SEEK_SET,
                     .l_start = (off_t)start, .l_len = (off_t)len};
  int r;
  while ((r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) < 0 &&
         errno == EINTR)
    ;
  return r < 0 ? -errno : 0;
}

static int range_lock(int fd, short type, uint64_t byte, bool wait)
{
  return range_lock_len(fd, type, byte, 1, wait);
}

static void lease_drop_local(struct objstore_backend_pool *bp, unsigned region);
static void lease_ask(struct objstore_backend_pool *bp, unsigned region,
                      int delta);

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
  int r;
  if (exclusive) {
    /* A lease of the byte's region held here goes first; one held by
     * another handle or process is asked for, and its holder's reaper
     * releases it while we wait. */
    unsigned region = (unsigned)(byte / LOCAL_LEASE_BYTES);
    lease_drop_local(bp, region);
    r = range_lock(fd, F_WRLCK, byte, false);
    if (r == -EAGAIN || r == -EACCES) {
      lease_ask(bp, region, 1);
      r = range_lock(fd, F_WRLCK, byte, true);
      lease_ask(bp, region, -1);
    }
  } else {
    r = range_lock(fd, F_RDLCK, byte, true);
  }
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

/* ---- leases ----------------------------------------------------------------
 *
 * Each in-place op took and dropped a read lock on its object's byte: two
 * fcntl calls, a fifth of the CPU of a 4 KiB write.  A handle now keeps a
 * read lock on a whole region of lock bytes (1/64 of them) once an
 * in-place op there succeeded, and later in-place ops there count
 * themselves as its users instead of locking.  The lease excludes
 * exclusive holders exactly as the per-op locks did, across processes,
 * and the kernel drops it if its holder dies.
 *
 * An exclusive taker that finds its byte locked raises the region's
 * waiting count and the sequence word (both in the mapped "locks" file)
 * and wakes every process's reaper through that futex word; a reaper
 * releases the leases of regions with waiters, as soon as their users are
 * done (the last user releases a lease being revoked), and leases unused
 * for a while.  While a region has waiters no new lease is taken there.
 * Taking a lease settles the marks of dead exclusive holders in the whole
 * region, as the shared lock does for one byte. */

#define LEASE_IDLE_NS 20000000 /* released after 20-40 ms unused */
#define LEASE_RETRY_NS 1000000

static int64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void lease_wake_all(struct objstore_backend_pool *bp)
{
  __atomic_add_fetch(bp->lease_seq, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, bp->lease_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void lease_ask(struct objstore_backend_pool *bp, unsigned region,
                      int delta)
{
  __atomic_add_fetch(&bp->lease_waiting[region], (uint32_t)delta,
                     __ATOMIC_SEQ_CST);
  if (delta > 0)
    lease_wake_all(bp);
}

static bool lease_wanted(struct objstore_backend_pool *bp, unsigned region)
{
  return __atomic_load_n(&bp->lease_waiting[region], __ATOMIC_ACQUIRE) != 0;
}

/* Under lease_mu: release the lease of REGION (no users). */
static void lease_release(struct objstore_backend_pool *bp, unsigned region)
{
  struct local_lease *l = &bp->leases[region];
  range_lock_len(l->fd, F_UNLCK, (uint64_t)region * LOCAL_LEASE_BYTES,
                 LOCAL_LEASE_BYTES, false);
  pthread_mutex_lock(&bp->mu);
  if (fd_vec_push(&bp->lock_fds, l->fd) < 0)
    close(l->fd);
  pthread_mutex_unlock(&bp->mu);
  l->fd = -1;
  l->held = l->revoking = false;
  bp->nleases--;
}

static void lease_drop_local(struct objstore_backend_pool *bp, unsigned region)
{
  pthread_mutex_lock(&bp->lease_mu);
  struct local_lease *l = &bp->leases[region];
  if (l->held) {
    if (l->users)
      l->revoking = true; /* its last user releases it */
    else
      lease_release(bp, region);
  }
  pthread_mutex_unlock(&bp->lease_mu);
}

static void *reaper_main(void *arg)
{
  struct objstore_backend_pool *bp = arg;
  pthread_mutex_lock(&bp->lease_mu);
  while (!bp->reaper_stop) {
    uint32_t seq = __atomic_load_n(bp->lease_seq, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < LOCAL_LEASE_REGIONS; i++) {
      struct local_lease *l = &bp->leases[i];
      if (!l->held)
        continue;
      bool wanted = lease_wanted(bp, i);
      if (l->users) {
        l->revoking |= wanted;
      } else if (wanted || !l->touched) {
        lease_release(bp, i);
        continue;
      }
      l->touched = false;
    }
    if (!bp->nleases) {
      pthread_cond_wait(&bp->lease_cv, &bp->lease_mu);
      continue;
    }
    pthread_mutex_unlock(&bp->lease_mu);
    struct timespec t = {0, LEASE_IDLE_NS};
    syscall(SYS_futex, bp->lease_seq, FUTEX_WAIT, seq, &t, NULL, 0);
    pthread_mutex_lock(&bp->lease_mu);
  }
  pthread_mutex_unlock(&bp->lease_mu);
  return NULL;
}

/* After an in-place op on BYTE succeeded: take the lease of its region if
 * nobody waits there and it is free to take (no lock call if not). */
static void lease_try(struct objstore_backend_pool *bp, uint64_t byte)
{
  unsigned region = (unsigned)(byte / LOCAL_LEASE_BYTES);
  struct local_lease *l = &bp->leases[region];
  pthread_mutex_lock(&bp->lease_mu);
  int64_t now;
  if (l->held || bp->reaper_stop || lease_wanted(bp, region) ||
      (now = mono_ns()) < l->retry_ns) {
    pthread_mutex_unlock(&bp->lease_mu);
    return;
  }
  l->retry_ns = now + LEASE_RETRY_NS;
  int fd = -1;
  pthread_mutex_lock(&bp->mu);
  if (bp->lock_fds.len)
    fd = bp->lock_fds.ptr[--bp->lock_fds.len];
  pthread_mutex_unlock(&bp->mu);
  if (fd < 0 && (fd = open(bp->lock_path, O_RDWR | O_CLOEXEC)) < 0) {
    pthread_mutex_unlock(&bp->lease_mu);
    return;
  }
  uint64_t start = (uint64_t)region * LOCAL_LEASE_BYTES;
  bool ok = range_lock_len(fd, F_RDLCK, start, LOCAL_LEASE_BYTES, false) == 0;
  if (ok && !bp->reaper_on) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    ok = bp->reaper_on =
        pthread_create(&bp->reaper, &attr, reaper_main, bp) == 0;
    pthread_attr_destroy(&attr);
    if (!ok)
      range_lock_len(fd, F_UNLCK, start, LOCAL_LEASE_BYTES, false);
  }
  if (ok) {
    /* No exclusive holder can be working in the region now: a set mark is
     * a dead one's, settled as a shared taker settles it. */
    bool refreshed = false;
    const volatile uint64_t *words =
        (const volatile uint64_t *)(uintptr_t)(bp->marks + start);
    for (uint64_t b = start; ok && b < start + LOCAL_LEASE_BYTES; b++) {
      if ((b & 7) == 0 && !words[(b - start) / 8]) {
        b += 7; /* eight clear marks at once */
        continue;
      }
      if (!bp->marks[b])
        continue;
      char mark = 0;
      if (!refreshed && kvenv_refresh(bp->kv) < 0)
        ok = false;
      refreshed = true;
      gen_bump(bp, b);
      if (ok && pwrite(fd, &mark, 1, (off_t)b) != 1)
        ok = false;
    }
    if (!ok) {
      lbd_error_clear();
      range_lock_len(fd, F_UNLCK, start, LOCAL_LEASE_BYTES, false);
    }
  }
  if (!ok) {
    pthread_mutex_lock(&bp->mu);
    if (fd_vec_push(&bp->lock_fds, fd) < 0)
      close(fd);
    pthread_mutex_unlock(&bp->mu);
  } else {
    l->fd = fd;
    l->held = true;
    l->revoking = false;
    l->touched = true;
    l->users = 0;
    if (bp->nleases++ == 0)
      pthread_cond_signal(&bp->lease_cv);
  }
  pthread_mutex_unlock(&bp->lease_mu);
}

int local_obj_lock_inplace(struct objstore_backend_pool *bp, uint64_t hash,
                           struct local_oplock *lk)
{
  uint64_t byte = hash & OBJ_LOCK_MASK;
  unsigned region = (unsigned)(byte / LOCAL_LEASE_BYTES);
  struct local_lease *l = &bp->leases[region];
  pthread_mutex_lock(&bp->lease_mu);
  if (l->held && !l->revoking && !lease_wanted(bp, region)) {
    l->users++;
    l->touched = true;
    pthread_mutex_unlock(&bp->lease_mu);
    lk->fd = -1;
    lk->lease = (int)region;
    return 0;
  }
  pthread_mutex_unlock(&bp->lease_mu);
  lk->lease = -1;
  lk->fd = local_obj_lock_hash(bp, hash, false);
  return lk->fd < 0 ? lk->fd : 0;
}

void local_obj_unlock_inplace(struct objstore_backend_pool *bp, uint64_t hash,
                              struct local_oplock *lk, bool ok)
{
  if (lk->lease >= 0) {
    unsigned region = (unsigned)lk->lease;
    struct local_lease *l = &bp->leases[region];
    pthread_mutex_lock(&bp->lease_mu);
    if (--l->users == 0 && (l->revoking || lease_wanted(bp, region)))
      lease_release(bp, region);
    pthread_mutex_unlock(&bp->lease_mu);
    return;
  }
  if (ok)
    lease_try(bp, hash & OBJ_LOCK_MASK);
  local_obj_unlock_hash(bp, lk->fd, hash, false);
}

/* Handles with lease state, so that a child of fork() can drop its
 * references to their locks (else a lock would outlive its holder as
 * long as the child lives), and forget their spare files. */
static pthread_mutex_t lease_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct objstore_backend_pool *lease_registry;
static pthread_once_t lease_once = PTHREAD_ONCE_INIT;

static void lease_prepare(void)
{
  pthread_mutex_lock(&lease_registry_mu);
  for (struct objstore_backend_pool *bp = lease_registry; bp;
       bp = bp->lease_next) {
    pthread_mutex_lock(&bp->lease_mu);
    pthread_rwlock_wrlock(&bp->create_rw);
    pthread_mutex_lock(&bp->spare_mu);
  }
}

static void lease_parent(void)
{
  for (struct objstore_backend_pool *bp = lease_registry; bp;
       bp = bp->lease_next) {
    pthread_mutex_unlock(&bp->spare_mu);
    pthread_rwlock_unlock(&bp->create_rw);
    pthread_mutex_unlock(&bp->lease_mu);
  }
  pthread_mutex_unlock(&lease_registry_mu);
}

static void lease_child(void)
{
  for (struct objstore_backend_pool *bp = lease_registry; bp;
       bp = bp->lease_next) {
    for (unsigned i = 0; i < LOCAL_LEASE_REGIONS; i++) {
      struct local_lease *l = &bp->leases[i];
      if (l->held)
        close(l->fd); /* our reference only: the parent keeps its lock */
      l->held = l->revoking = false;
      l->users = 0;
      l->fd = -1;
    }
    bp->nleases = 0;
    /* The liveness locks are the parent's (OFD locks, shared by our copy
     * of the descriptor): holding it open would keep a dead parent's
     * watches and locks alive as long as we live, and an unwatch here
     * would drop the parent's. */
    if (bp->live_hold_fd >= 0)
      close(bp->live_hold_fd);
    bp->live_hold_fd = -1;
    bp->reaper_on = false; /* the parent's thread */
    bp->reaper_stop = true; /* no leases in the child */
    pthread_cond_init(&bp->lease_cv, NULL);
    /* Files being created (spare ones too) are the parent's: close our
     * references to them and their creation locks. */
    while (bp->creating.len)
      close(bp->creating.ptr[--bp->creating.len]);
    bp->nspare = 0;
    bp->spare_on = bp->spare_joinable = false;
    bp->spare_stop = true;
    pthread_cond_init(&bp->spare_cv, NULL);
    pthread_mutex_unlock(&bp->spare_mu);
    local_create_rw_init(bp); /* (not unlock: see local.h) */
    pthread_mutex_unlock(&bp->lease_mu);
  }
  pthread_mutex_unlock(&lease_registry_mu);
}

static void lease_atfork(void)
{
  pthread_atfork(lease_prepare, lease_parent, lease_child);
}

void local_leases_init(struct objstore_backend_pool *bp)
{
  pthread_once(&lease_once, lease_atfork);
  pthread_mutex_init(&bp->lease_mu, NULL);
  pthread_cond_init(&bp->lease_cv, NULL);
  for (unsigned i = 0; i < LOCAL_LEASE_REGIONS; i++)
    bp->leases[i].fd = -1;
  bp->lease_waiting = (uint32_t *)(uintptr_t)(bp->marks + LOCAL_LEASE_OFF);
  bp->lease_seq = bp->lease_waiting + LOCAL_LEASE_REGIONS;
  pthread_mutex_lock(&lease_registry_mu);
  bp->lease_next = lease_registry;
  lease_registry = bp;
  pthread_mutex_unlock(&lease_registry_mu);
}

void local_leases_stop(struct objstore_backend_pool *bp)
{
  pthread_mutex_lock(&lease_registry_mu);
  for (struct objstore_backend_pool **p = &lease_registry; *p;
       p = &(*p)->lease_next) {
    if (*p == bp) {
      *p = bp->lease_next;
      break;
    }
  }
  pthread_mutex_unlock(&lease_registry_mu);
  pthread_mutex_lock(&bp->lease_mu);
  bp->reaper_stop = true;
  pthread_cond_signal(&bp->lease_cv);
  bool join = bp->reaper_on;
  pthread_mutex_unlock(&bp->lease_mu);
  if (join) {
    lease_wake_all(bp);
    pthread_join(bp->reaper, NULL);
  }
  pthread_mutex_lock(&bp->lease_mu);
  for (unsigned i = 0; i < LOCAL_LEASE_REGIONS; i++)
    if (bp->leases[i].held)
      lease_release(bp, i);
  pthread_mutex_unlock(&bp->lease_mu);
  pthread_cond_destroy(&bp->lease_cv);
  pthread_mutex_destroy(&bp->lease_mu);
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
