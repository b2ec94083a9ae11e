/* Local pools: directory layout, open and close, flush, and the backend's
 * table of entry points. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "objstore/local/local.h"
#include "util/error.h"

#define POOL_MARKER "lbd-pool"
/* Address space reserved for a pool's metadata; the file grows as needed. */
#define POOL_MAPSIZE ((size_t)64 << 30)

static const char *const pool_dbs[LDB_COUNT] = {
    "obj", "xattr", "omap", "snaps", "snapmap", "hold", "cfg", "dead"};

static int open_env(const char *path, struct kvenv **kv)
{
  char meta[PATH_MAX];
  snprintf(meta, sizeof meta, "%s/meta", path);
  if (mkdir(meta, 0755) < 0 && errno != EEXIST)
    return lbd_error(errno, "cannot create %s: %s", meta, strerror(errno));
  return kvenv_open(meta, POOL_MAPSIZE, pool_dbs, LDB_COUNT, kv);
}

static int touch(const char *dir, const char *name)
{
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return lbd_error(errno, "cannot create %s: %s", p, strerror(errno));
  close(fd);
  return 0;
}

int local_pool_init(const char *path, const char *uuid, int64_t id)
{
  char p[PATH_MAX], want[160];
  snprintf(p, sizeof p, "%s/" POOL_MARKER, path);
  snprintf(want, sizeof want, "lbd pool format 1\ncluster %s\npool %" PRId64
           "\n", uuid, id);
  FILE *f = fopen(p, "re");
  if (f) { /* left by a create that crashed before it registered the pool? */
    char have[160] = "";
    size_t n = fread(have, 1, sizeof have - 1, f);
    have[n] = '\0';
    fclose(f);
    if (strcmp(have, want) != 0)
      return lbd_error(ENOTEMPTY, "directory %s already holds another lbd "
                       "pool: give a new or empty directory", path);
  } else {
    DIR *d = opendir(path);
    if (!d)
      return lbd_error(errno, "pool directory %s: %s", path, strerror(errno));
    struct dirent *de;
    int used = 0;
    while ((de = readdir(d)))
      used |= strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    if (used)
      return lbd_error(ENOTEMPTY, "pool directory %s is not empty: give a new "
                       "or empty directory", path);
  }
  snprintf(p, sizeof p, "%s/data", path);
  if (mkdir(p, 0755) < 0 && errno != EEXIST)
    return lbd_error(errno, "cannot create %s: %s", p, strerror(errno));
  for (int i = 0; i < 256; i++) {
    snprintf(p, sizeof p, "%s/data/%02x", path, i);
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
      return lbd_error(errno, "cannot create %s: %s", p, strerror(errno));
  }
  int r;
  if ((r = touch(path, "locks")) < 0 || (r = touch(path, "live")) < 0)
    return r;
  struct kvenv *kv;
  if ((r = open_env(path, &kv)) < 0)
    return r;
  kvenv_close(kv);
  snprintf(p, sizeof p, "%s/" POOL_MARKER, path);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return lbd_error(errno, "cannot create %s: %s", p, strerror(errno));
  size_t len = strlen(want);
  r = write(fd, want, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return r < 0 ? lbd_error(r, "cannot write %s: %s", p, strerror(-r)) : 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *ftw)
{
  (void)st;
  if (ftw->level == 0)
    return 0;
  return (flag == FTW_DP ? rmdir(p) : unlink(p)) < 0 && errno != ENOENT ? -1
                                                                         : 0;
}

int local_pool_destroy(const char *path)
{
  /* Only what local_pool_init made: the directory may be a mount point. */
  static const char *const parts[] = {"data", "meta", "locks", "live",
                                      POOL_MARKER};
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", path, parts[i]);
    struct stat st;
    if (lstat(p, &st) < 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      if (nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 || rmdir(p) < 0)
        return lbd_error(errno, "removing %s: %s", p, strerror(errno));
    } else if (unlink(p) < 0) {
      return lbd_error(errno, "removing %s: %s", p, strerror(errno));
    }
  }
  rmdir(path); /* fails, harmlessly, if it is a mount point or still used */
  return 0;
}

void local_create_rw_init(struct objstore_backend_pool *bp)
{
  pthread_rwlockattr_t rwa;
  pthread_rwlockattr_init(&rwa);
  /* Creators come and go all the time: let fork's exclusive take go first. */
  pthread_rwlockattr_setkind_np(&rwa,
                                PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&bp->create_rw, &rwa);
  pthread_rwlockattr_destroy(&rwa);
}

int local_pool_open(const char *path, int64_t id, const char *ns,
                    const char *client, struct objstore_backend_pool **out)
{
  struct objstore_backend_pool *bp = calloc(1, sizeof *bp);
  if (!bp)
    return lbd_error(ENOMEM, "out of memory");
  bp->data_fd = bp->live_hold_fd = bp->live_check_fd = -1;
  bp->marks = MAP_FAILED;
  pthread_mutex_init(&bp->mu, NULL);
  pthread_mutex_init(&bp->fd_mu, NULL);
  pthread_mutex_init(&bp->group_mu, NULL);
  pthread_mutex_init(&bp->spare_mu, NULL);
  local_create_rw_init(bp);
  pthread_cond_init(&bp->spare_cv, NULL);
  pthread_cond_init(&bp->group_done, NULL);
  for (int i = 0; i < LOCAL_FD_CACHE; i++)
    bp->fd_cache[i].fd = -1;
  bp->id = id;
  snprintf(bp->client, sizeof bp->client, "%s", client);
  bp->path = strdup(path);
  bp->ns = strdup(ns);
  char p[PATH_MAX];
  int r = 0;
  if (!bp->path || !bp->ns ||
      asprintf(&bp->lock_path, "%s/locks", path) < 0) {
    bp->lock_path = NULL;
    r = lbd_error(ENOMEM, "out of memory");
    goto fail;
  }
  snprintf(p, sizeof p, "%s/" POOL_MARKER, path);
  if (access(p, F_OK) < 0) {
    r = lbd_error(ENOENT, "%s is not an lbd pool directory (no %s): is its "
                  "disk mounted?", path, POOL_MARKER);
    goto fail;
  }
  snprintf(p, sizeof p, "%s/data", path);
  bp->data_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  snprintf(p, sizeof p, "%s/live", path);
  bp->live_hold_fd = open(p, O_RDWR | O_CLOEXEC);
  bp->live_check_fd = open(p, O_RDWR | O_CLOEXEC);
  int lfd = open(bp->lock_path, O_RDWR | O_CLOEXEC);
  struct stat st;
  /* Lock bytes, then generation counters (a "locks" file of an older
   * version has only the bytes: growing it makes zero counters). */
  if (lfd >= 0 && fstat(lfd, &st) == 0 &&
      (st.st_size >= (off_t)LOCAL_LOCKS_FILE ||
       ftruncate(lfd, (off_t)LOCAL_LOCKS_FILE) == 0))
    bp->marks = mmap(NULL, LOCAL_LOCKS_FILE, PROT_READ | PROT_WRITE,
                     MAP_SHARED, lfd, 0);
  if (bp->marks != MAP_FAILED) {
    bp->gens = (uint64_t *)(uintptr_t)(bp->marks + LOCAL_LOCK_BYTES);
    local_leases_init(bp);
  }
  if (lfd >= 0)
    close(lfd);
  if (bp->data_fd < 0 || bp->live_hold_fd < 0 || bp->live_check_fd < 0 ||
      bp->marks == MAP_FAILED) {
    r = lbd_error(errno, "opening pool directory %s: %s", path,
                  strerror(errno));
    goto fail;
  }
  bp->heads = calloc(LOCAL_HEAD_CACHE, sizeof *bp->heads);
  if (!bp->heads) {
    r = lbd_error(ENOMEM, "out of memory");
    goto fail;
  }
  if ((r = open_env(path, &bp->kv)) < 0 || (r = kvenv_refresh(bp->kv)) < 0)
    goto fail;
  *out = bp;
  return 0;
fail:
  local_pool_close(bp);
  return r;
}

void local_pool_close(struct objstore_backend_pool *bp)
{
  if (!bp)
    return;
  /* Spare files first: a fork's handlers see this handle (and close its
   * files in the child) until local_leases_stop takes it off their list. */
  if (bp->data_fd >= 0)
    local_spares_stop(bp);
  if (bp->lease_seq)
    local_leases_stop(bp);
  if (bp->kv) {
    local_holds_release_all(bp);
    if (bp->dead_pending && local_file_reap(bp) < 0)
      lbd_error_clear(); /* a later flush or check reaps them */
  }
  for (size_t i = 0; i < bp->lock_fds.len; i++)
    close(bp->lock_fds.ptr[i]);
  free(bp->lock_fds.ptr);
  free(bp->holds.ptr);
  free(bp->creating.ptr);
  if (bp->data_fd >= 0)
    close(bp->data_fd);
  if (bp->live_hold_fd >= 0)
    close(bp->live_hold_fd);
  if (bp->live_check_fd >= 0)
    close(bp->live_check_fd);
  if (bp->marks != MAP_FAILED)
    munmap((void *)(uintptr_t)bp->marks, LOCAL_LOCKS_FILE);
  local_fd_cache_clear(bp);
  free(bp->heads);
  kvenv_close(bp->kv);
  pthread_mutex_destroy(&bp->fd_mu);
  pthread_cond_destroy(&bp->group_done);
  pthread_cond_destroy(&bp->spare_cv);
  pthread_mutex_destroy(&bp->spare_mu);
  pthread_rwlock_destroy(&bp->create_rw);
  pthread_mutex_destroy(&bp->group_mu);
  pthread_mutex_destroy(&bp->mu);
  free(bp->lock_path);
  free(bp->path);
  free(bp->ns);
  free(bp);
}

int local_flush(struct objstore_backend_pool *bp)
{
  if (syncfs(bp->data_fd) < 0)
    return lbd_error(errno, "flushing pool %s: %s", bp->path, strerror(errno));
  return local_file_reap(bp);
}

const struct objstore_backend objstore_local_backend = {
    .size = sizeof(struct objstore_backend),
    .name = "local",
    .pool_init = local_pool_init,
    .pool_destroy = local_pool_destroy,
    .pool_open = local_pool_open,
    .pool_close = local_pool_close,
    .flush = local_flush,
    .snap_create = local_snap_create,
    .snap_remove = local_snap_remove,
    .read = local_read,
    .stat = local_stat,
    .list_snaps = local_list_snaps,
    .getxattr = local_getxattr,
    .getxattrs = local_getxattrs,
    .omap_get = local_omap_get,
    .omap_get_keys = local_omap_get_keys,
    .list = local_list,
    .operate = local_operate,
    .watch = local_watch,
    .unwatch = local_unwatch,
    .list_watchers = local_list_watchers,
    .lock = local_lock,
    .unlock = local_unlock,
    .break_lock = local_break_lock,
    .list_lockers = local_list_lockers,
    .check = local_check,
    .create_history = local_create_history,
    .prefetch = local_prefetch,
};
