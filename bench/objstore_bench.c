/* lbd-bench-objstore: the object store against plain files, side by side.
 *
 * Every test runs the same IO twice on the same filesystem: once through
 * src/objstore/objstore.h (a fresh cluster and pool), once as plain files
 * (the baseline a block device on files would get).  Throughput passes
 * alternate which side goes first from round to round, so drift (page cache
 * state, writeback, a noisy neighbour) hits both sides alike.
 * bench/README.md says what each number means. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lbd/lbd.h"
#include "objstore/objstore.h"

#define OBJ_SIZE ((size_t)4 << 20) /* 4 MiB: an RBD object */
#define IO_SIZE ((size_t)4 << 10)  /* 4 KiB: a random IO */
#define MIB (1024.0 * 1024.0)
#define DROP_CACHES "/proc/sys/vm/drop_caches"

/* ---- options and global state ------------------------------------------ */

static struct {
  const char *dir;   /* parent of the run directory */
  unsigned count;    /* objects per pass */
  unsigned rounds;   /* throughput rounds */
  unsigned ops;      /* random 4 KiB ops per side */
  uint64_t seed;
  bool json;
  const char *json_file; /* also write the JSON here */
  bool cold;
  bool prefault;
  bool keep;
  bool quiet;
} opt = {
    .dir = "./bench-tmp",
    .count = 256,
    .rounds = 5,
    .ops = 10000,
    .seed = 1,
    .cold = true,
    .prefault = true,
};

static char parent_dir[PATH_MAX]; /* absolute --dir */
static bool made_parent;          /* we created --dir: remove it too */
static char run_dir[PATH_MAX];    /* parent_dir/lbd-bench.PID */
static char cluster_dir[PATH_MAX];
static char files_dir[PATH_MAX];
static bool drop_caches_ok;
static char *big_buf;      /* OBJ_SIZE, pseudo-random */

static void cleanup(void);

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "lbd-bench-objstore: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  cleanup();
  exit(1);
}

/* An objstore call returned RC < 0: say what failed and why, and stop. */
static void die_lbd(long long rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void die_lbd(long long rc, const char *fmt, ...)
{
  va_list ap;
  const char *msg = lbd_last_error();
  fflush(stdout);
  fprintf(stderr, "lbd-bench-objstore: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, ": %s\n", msg && msg[0] ? msg : strerror((int)-rc));
  cleanup();
  exit(1);
}

#define CHECK_LBD(expr, ...)                                                  \
  do {                                                                        \
    long long rc_ = (long long)(expr);                                        \
    if (rc_ < 0)                                                              \
      die_lbd(rc_, __VA_ARGS__);                                              \
  } while (0)

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
  va_list ap;
  if (opt.quiet)
    return;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process, all threads (the backend's too). */
static uint64_t cpu_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static void *xalloc(size_t size)
{
  void *p = NULL;
  if (posix_memalign(&p, 4096, size) != 0)
    die("out of memory (%zu bytes)", size);
  return p;
}

static void full_pwrite(int fd, const void *buf, size_t len, off_t off,
                        const char *path)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die("pwrite %s: %s", path, n < 0 ? strerror(errno) : "wrote nothing");
    p += n;
    len -= (size_t)n;
    off += n;
  }
}

static void full_pread(int fd, void *buf, size_t len, off_t off,
                       const char *path)
{
  char *p = buf;
  while (len > 0) {
    ssize_t n = pread(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      die("pread %s: %s", path, n < 0 ? strerror(errno) : "short file");
    p += n;
    len -= (size_t)n;
    off += n;
  }
}

static int rm_one(const char *path, const struct stat *st, int type,
                  struct FTW *ftw)
{
  (void)st;
  (void)ftw;
  if (type == FTW_DP)
    rmdir(path);
  else
    unlink(path);
  return 0;
}

static void rm_rf(const char *path)
{
  nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
  if (opt.keep || !run_dir[0])
    return;
  rm_rf(run_dir);
  if (made_parent)
    rmdir(parent_dir); /* only if empty */
  run_dir[0] = '\0';
}

/* Ctrl-C or kill: remove the run directory (gigabytes) before dying, with
 * async-signal-safe calls only (fork, execve, waitpid, rmdir, _exit). */
static void on_signal(int sig)
{
  if (!opt.keep && run_dir[0]) {
    pid_t pid = fork();
    if (pid == 0) {
      char *const argv[] = {"rm", "-rf", "--", run_dir, NULL};
      char *const envp[] = {NULL};
      execve("/bin/rm", argv, envp);
      _exit(127);
    }
    if (pid > 0)
      waitpid(pid, NULL, 0);
    if (made_parent)
      rmdir(parent_dir);
  }
  _exit(128 + sig);
}

static void path_join(char *out, const char *a, const char *b)
{
  if ((size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX)
    die("path too long: %s/%s", a, b);
}

static void syncfs_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0 || syncfs(fd) < 0)
    die("syncfs %s: %s", dir, strerror(errno));
  close(fd);
}

/* echo 1 > /proc/sys/vm/drop_caches, after a sync so everything is clean. */
static bool drop_caches(void)
{
  sync();
  int fd = open(DROP_CACHES, O_WRONLY);
  if (fd < 0)
    return false;
  bool ok = write(fd, "1", 1) == 1;
  close(fd);
  return ok;
}

static void fadvise_dontneed(const char *path)
{
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

static int fadvise_one(const char *path, const struct stat *st, int type,
                       struct FTW *ftw)
{
  (void)ftw;
  if (type == FTW_F && S_ISREG(st->st_mode))
    fadvise_dontneed(path);
  return 0;
}

/* Fill, then free, a pass worth of page cache, untimed, just before a timed
 * pass that fills the page cache.  On a VM with free page reporting
 * (virtio-balloon), memory freed more than a few seconds ago has been
 * handed back to the host, and the first touch of each such page costs a
 * host page fault: a pass that gets such pages runs 2-4x slower, and which
 * side gets them is luck.  The pages of the scratch file freed here are
 * handed out first, so both sides get memory that is already backed.
 * (Touching anonymous memory does not work: those pages go elsewhere.) */
static void prefault(void)
{
  if (!opt.prefault)
    return;
  size_t len = (size_t)opt.count * OBJ_SIZE + ((size_t)64 << 20);
  size_t half_free = (size_t)sysconf(_SC_AVPHYS_PAGES) / 2 *
                     (size_t)sysconf(_SC_PAGESIZE);
  if (len > half_free) /* never push the page cache or anything else out */
    len = half_free;
  char path[PATH_MAX];
  path_join(path, run_dir, "prefault.tmp");
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0)
    die("open %s: %s", path, strerror(errno));
  for (size_t off = 0; off + OBJ_SIZE <= len; off += OBJ_SIZE)
    full_pwrite(fd, big_buf, OBJ_SIZE, (off_t)off, path);
  close(fd);
  unlink(path); /* dirty pages of a deleted file never reach the disk */
}

static const char *fs_name(const char *path)
{
  struct statfs sf;
  if (statfs(path, &sf) != 0)
    return "unknown";
  switch ((unsigned long)sf.f_type) {
  case 0xef53: return "ext4";
  case 0x58465342: return "xfs";
  case 0x9123683e: return "btrfs";
  case 0x01021994: return "tmpfs";
  case 0x794c7630: return "overlayfs";
  case 0x2fc12fc1: return "zfs";
  case 0x6969: return "nfs";
  default: return "other";
  }
}

/* ---- the two sides ------------------------------------------------------ */

enum side { BASE, LBD };
static const char *const side_name[] = {"baseline", "lbd"};

static struct objstore_cluster *cluster;
static struct objstore_pool *pool;
static int64_t pool_id = -1;
static char (*names)[64];  /* object names, one per object */
static char (*fpaths)[PATH_MAX]; /* baseline file paths */

static void stamp(unsigned i, unsigned pass)
{
  uint64_t v = ((uint64_t)pass << 32) | i;
  memcpy(big_buf, &v, sizeof v);
}

static void check_stamp(const char *buf, unsigned i, unsigned pass,
                        const char *what)
{
  uint64_t v, want = ((uint64_t)pass << 32) | i;
  memcpy(&v, buf, sizeof v);
  if (v != want)
    die("%s: read back the wrong data (stamp %#llx, expected %#llx)", what,
        (unsigned long long)v, (unsigned long long)want);
}

static void make_round(unsigned round)
{
  char name[64];
  snprintf(name, sizeof name, "bench-r%u", round);
  CHECK_LBD(objstore_pool_create(cluster, name, NULL, &pool_id),
            "objstore_pool_create %s", name);
  CHECK_LBD(objstore_pool_open(cluster, pool_id, "", &pool),
            "objstore_pool_open %s", name);
  if (mkdir(files_dir, 0755) != 0)
    die("mkdir %s: %s", files_dir, strerror(errno));
}

static void drop_round(unsigned round)
{
  char name[64];
  snprintf(name, sizeof name, "bench-r%u", round);
  objstore_pool_close(pool);
  pool = NULL;
  CHECK_LBD(objstore_pool_remove(cluster, name), "objstore_pool_remove %s",
            name);
  rm_rf(files_dir);
  sync();
}

/* One timed pass of a throughput test. */
struct pass {
  double io_s;    /* wall time of the IO loop */
  double flush_s; /* wall time of the flush after it (writes only) */
  double cpu_io_s; /* process CPU time over the IO loop */
  double cpu_s;   /* process CPU time over io + flush */
};

/* SYNCED: the baseline syncs each file before closing it, which is what
 * every lbd write_full does before it returns (its data is on disk before
 * the commit that makes it current, so a power loss never tears it). */
static struct pass write_pass(enum side s, unsigned pass_no, bool synced)
{
  struct pass r = {0};
  prefault();
  uint64_t c0 = cpu_ns(), t0 = now_ns();
  for (unsigned i = 0; i < opt.count; i++) {
    stamp(i, pass_no);
    if (s == LBD) {
      CHECK_LBD(objstore_write_full(pool, names[i], NULL, big_buf, OBJ_SIZE),
                "objstore_write_full %s", names[i]);
    } else {
      int fd = open(fpaths[i], O_CREAT | O_WRONLY | O_TRUNC, 0644);
      if (fd < 0)
        die("open %s: %s", fpaths[i], strerror(errno));
      full_pwrite(fd, big_buf, OBJ_SIZE, 0, fpaths[i]);
      if (synced && fdatasync(fd) != 0)
        die("fdatasync %s: %s", fpaths[i], strerror(errno));
      if (close(fd) != 0)
        die("close %s: %s", fpaths[i], strerror(errno));
    }
  }
  uint64_t t1 = now_ns();
  r.cpu_io_s = (double)(cpu_ns() - c0) / 1e9;
  if (s == LBD) {
    CHECK_LBD(objstore_flush(pool), "objstore_flush");
  } else {
    /* What objstore_flush does too: one syncfs, one device cache flush
     * (fdatasync of every file would pay one per file). */
    syncfs_dir(files_dir);
  }
  uint64_t t2 = now_ns();
  r.io_s = (double)(t1 - t0) / 1e9;
  r.flush_s = (double)(t2 - t1) / 1e9;
  r.cpu_s = (double)(cpu_ns() - c0) / 1e9;
  return r;
}

static const char *cold_lbd_method = "none";
static const char *cold_base_method = "none";

static void make_cold(enum side s)
{
  if (s == BASE) {
    for (unsigned i = 0; i < opt.count; i++)
      fadvise_dontneed(fpaths[i]);
    cold_base_method = "fadvise";
  }
  if (drop_caches_ok && drop_caches()) {
    if (s == BASE)
      cold_base_method = "fadvise+drop_caches";
    else
      cold_lbd_method = "drop_caches";
    return;
  }
  if (s == LBD) {
    /* No drop_caches: drop the pool's files one by one instead. */
    struct objstore_pool_info info;
    memset(&info, 0, sizeof info);
    CHECK_LBD(objstore_flush(pool), "objstore_flush");
    CHECK_LBD(objstore_pool_get_info(cluster, pool_id, &info),
              "objstore_pool_get_info");
    if (info.path) {
      nftw(info.path, fadvise_one, 16, FTW_PHYS);
      cold_lbd_method = "fadvise of every file under the pool path";
    } else {
      cold_lbd_method = "none (not cold: no drop_caches, no pool path)";
    }
    free(info.path);
  }
}

static struct pass read_pass(enum side s, unsigned pass_no, bool cold)
{
  struct pass r = {0};
  if (cold) {
    make_cold(s);
    prefault();
  }
  uint64_t c0 = cpu_ns(), t0 = now_ns();
  for (unsigned i = 0; i < opt.count; i++) {
    if (s == LBD) {
      ssize_t n = objstore_read(pool, names[i], OBJSTORE_SNAP_HEAD, 0,
                                OBJ_SIZE, big_buf);
      CHECK_LBD(n, "objstore_read %s", names[i]);
      if ((size_t)n != OBJ_SIZE)
        die("objstore_read %s: %zd bytes, expected %zu", names[i], n,
            OBJ_SIZE);
    } else {
      int fd = open(fpaths[i], O_RDONLY);
      if (fd < 0)
        die("open %s: %s", fpaths[i], strerror(errno));
      full_pread(fd, big_buf, OBJ_SIZE, 0, fpaths[i]);
      close(fd);
    }
    if (pass_no) /* 0: the random writes may have hit the stamp */
      check_stamp(big_buf, i, pass_no, s == LBD ? names[i] : fpaths[i]);
  }
  r.io_s = (double)(now_ns() - t0) / 1e9;
  r.cpu_s = (double)(cpu_ns() - c0) / 1e9;
  return r;
}

/* ---- results ------------------------------------------------------------ */

enum tput_test { WRITE_NEW, WRITE_NEW_DUR, OVERWRITE, OVERWRITE_DUR,
                 WRITE_SYNCED, READ_WARM, READ_COLD, NTPUT };
static const char *const tput_name[NTPUT] = {
    "write_full new", "write_full new +flush", "write_full overwrite",
    "write_full overwrite +flush", "write_full, base fdatasync", "read warm",
    "read cold"};
static const char *const tput_key[NTPUT] = {
    "write_new", "write_new_flush", "overwrite", "overwrite_flush",
    "write_synced", "read_warm", "read_cold"};

static double *mibs[NTPUT][2]; /* [test][side][round] MiB/s */
static double *cpu[NTPUT][2];  /* [test][side][round] CPU seconds / wall */

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned n, double *lo, double *hi)
{
  double *s = malloc(n * sizeof *s);
  if (!s)
    die("out of memory");
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_double);
  double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  if (lo)
    *lo = s[0];
  if (hi)
    *hi = s[n - 1];
  free(s);
  return m;
}

static void record(enum tput_test t, enum side s, unsigned round,
                   double seconds, double cpu_s)
{
  mibs[t][s][round] = (double)opt.count * OBJ_SIZE / MIB / seconds;
  cpu[t][s][round] = cpu_s / seconds;
}

struct lat {
  double mean_us, p50_us, p99_us, max_us;
};

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static struct lat latency(uint64_t *ns, unsigned n)
{
  struct lat l = {0};
  double sum = 0;
  for (unsigned i = 0; i < n; i++)
    sum += (double)ns[i];
  qsort(ns, n, sizeof *ns, cmp_u64);
  /* Nearest rank. */
  unsigned r50 = (n * 50 + 99) / 100, r99 = (n * 99 + 99) / 100;
  l.mean_us = sum / n / 1e3;
  l.p50_us = (double)ns[r50 ? r50 - 1 : 0] / 1e3;
  l.p99_us = (double)ns[r99 ? r99 - 1 : 0] / 1e3;
  l.max_us = (double)ns[n - 1] / 1e3;
  return l;
}

enum rand_test { RAND_WRITE, RAND_READ, NRAND };
static const char *const rand_key[NRAND] = {"write_4k", "read_4k"};
/* The page cache state the random IO starts from: it matters more than the
 * code under test (4 KiB writes into the large folios left by 4 MiB writes
 * cost ten times more in ext4 than into folios made by readahead). */
enum cache_state { ST_WRITTEN, ST_REREAD, NSTATE };
static const char *const state_key[NSTATE] = {"written", "reread"};
static const char *const state_desc[NSTATE] = {
    "page cache filled by the 4 MiB writes",
    "page cache dropped, then refilled by 4 MiB reads"};
static struct lat rand_lat[NSTATE][NRAND][2];
static double rand_cpu[NSTATE][NRAND][2]; /* CPU us per op */
static double flush_s[NSTATE][2];          /* flush after random writes */
static double flush_syncfs_s[NSTATE];      /* baseline: one syncfs instead */
static unsigned flush_files;               /* baseline files fdatasync'ed */

/* ---- random 4 KiB ------------------------------------------------------- */

static void random_phase(enum cache_state cs)
{
  unsigned n = opt.ops;
  unsigned *obj = malloc(n * sizeof *obj);
  uint64_t *off = malloc(n * sizeof *off);
  uint64_t *ns = malloc(n * sizeof *ns);
  int *fds = malloc(opt.count * sizeof *fds);
  bool *touched = calloc(opt.count, 1);
  char *io = xalloc(IO_SIZE);
  if (!obj || !off || !ns || !fds || !touched)
    die("out of memory");
  uint64_t rs = opt.seed * 0x100000001b3u + 7;
  for (size_t i = 0; i < IO_SIZE; i++)
    io[i] = (char)splitmix64(&rs);

  for (unsigned i = 0; i < opt.count; i++) {
    fds[i] = open(fpaths[i], O_RDWR);
    if (fds[i] < 0)
      die("open %s: %s", fpaths[i], strerror(errno));
  }

  for (int t = 0; t < NRAND; t++) {
    /* Writes: baseline first; reads: lbd first.  Same offsets both sides. */
    uint64_t st = opt.seed + (uint64_t)t * 0x5851f42d4c957f2du;
    for (unsigned i = 0; i < n; i++) {
      uint64_t r = splitmix64(&st);
      obj[i] = (unsigned)(r % opt.count);
      off[i] = ((r >> 32) % (OBJ_SIZE / IO_SIZE)) * IO_SIZE;
    }
    for (int k = 0; k < 2; k++) {
      enum side s = t == RAND_WRITE ? (k ? LBD : BASE) : (k ? BASE : LBD);
      progress("random 4 KiB %s (%s): %s, %u ops",
               t == RAND_WRITE ? "write" : "read", state_key[cs],
               side_name[s], n);
      uint64_t c0 = cpu_ns();
      for (unsigned i = 0; i < n; i++) {
        unsigned o = obj[i];
        uint64_t t0 = now_ns();
        if (t == RAND_WRITE && s == LBD) {
          CHECK_LBD(objstore_write(pool, names[o], NULL, off[i], io, IO_SIZE),
                    "objstore_write %s at %llu", names[o],
                    (unsigned long long)off[i]);
        } else if (t == RAND_WRITE) {
          ssize_t w = pwrite(fds[o], io, IO_SIZE, (off_t)off[i]);
          if (w != (ssize_t)IO_SIZE)
            die("pwrite %s: %s", fpaths[o], w < 0 ? strerror(errno) : "short");
        } else if (s == LBD) {
          ssize_t r = objstore_read(pool, names[o], OBJSTORE_SNAP_HEAD,
                                    off[i], IO_SIZE, io);
          CHECK_LBD(r, "objstore_read %s at %llu", names[o],
                    (unsigned long long)off[i]);
          if ((size_t)r != IO_SIZE)
            die("objstore_read %s: %zd bytes, expected %zu", names[o], r,
                IO_SIZE);
        } else {
          ssize_t r = pread(fds[o], io, IO_SIZE, (off_t)off[i]);
          if (r != (ssize_t)IO_SIZE)
            die("pread %s: %s", fpaths[o], r < 0 ? strerror(errno) : "short");
        }
        ns[i] = now_ns() - t0;
        if (t == RAND_WRITE)
          touched[o] = true;
      }
      rand_cpu[cs][t][s] = (double)(cpu_ns() - c0) / 1e3 / n;
      rand_lat[cs][t][s] = latency(ns, n);

      if (t == RAND_WRITE) {
        uint64_t t0 = now_ns();
        if (s == LBD) {
          CHECK_LBD(objstore_flush(pool), "objstore_flush");
        } else {
          flush_files = 0;
          for (unsigned i = 0; i < opt.count; i++) {
            if (!touched[i])
              continue;
            if (fdatasync(fds[i]) != 0)
              die("fdatasync %s: %s", fpaths[i], strerror(errno));
            flush_files++;
          }
        }
        flush_s[cs][s] = (double)(now_ns() - t0) / 1e9;
        if (s == BASE) {
          /* The same writes again, untimed, then one syncfs instead. */
          for (unsigned i = 0; i < n; i++)
            if (pwrite(fds[obj[i]], io, IO_SIZE, (off_t)off[i]) !=
                (ssize_t)IO_SIZE)
              die("pwrite %s: %s", fpaths[obj[i]], strerror(errno));
          t0 = now_ns();
          syncfs_dir(files_dir);
          flush_syncfs_s[cs] = (double)(now_ns() - t0) / 1e9;
        }
      }
    }
  }

  for (unsigned i = 0; i < opt.count; i++)
    close(fds[i]);
  free(obj);
  free(off);
  free(ns);
  free(fds);
  free(touched);
  free(io);
}

/* ---- output ------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static struct utsname uts;
static double mem_gib;
static long ncpu;
static const char *fs;
static double total_s;
static double load[2] = {-1, -1}; /* 1-minute load average, start and end */

static void print_table(void)
{
  double pass_mib = (double)opt.count * OBJ_SIZE / MIB;
  printf("lbd objstore benchmark (lbd %d.%d.%d): objstore local backend vs "
         "plain files\n",
         LBD_VERSION_MAJOR, LBD_VERSION_MINOR, LBD_VERSION_PATCH);
  printf("  dir         %s (%s)\n", run_dir, fs);
  printf("  host        %ld CPUs, %.1f GiB RAM, Linux %s, load %.2f at start, "
         "%.2f at end\n",
         ncpu, mem_gib, uts.release, load[0], load[1]);
  printf("  objects     %u x 4 MiB = %.0f MiB per pass, %u round%s, side order "
         "alternating\n",
         opt.count, pass_mib, opt.rounds, opt.rounds == 1 ? "" : "s");
  printf("  random      %u ops x 4 KiB per side, 4 KiB aligned, seed %llu, "
         "over the %u objects\n",
         opt.ops, (unsigned long long)opt.seed, opt.count);
  printf("  baseline    write: open(O_CREAT|O_WRONLY|O_TRUNC)+pwrite+close; "
         "read: open+pread+close;\n"
         "              +flush: syncfs; base fdatasync: fdatasync before each "
         "close;\n"
         "              random: pwrite/pread on open fds\n");
  printf("  lbd         objstore_write_full / objstore_read / objstore_write; "
         "+flush: objstore_flush\n");
  printf("  memory      %s\n",
         opt.prefault ? "a pass worth of scratch data written and deleted "
                        "before each pass that fills the cache"
                      : "not prefaulted (--no-prefault)");
  if (opt.cold)
    printf("  cold cache  baseline: %s; lbd: %s\n", cold_base_method,
           cold_lbd_method);
  else
    printf("  cold cache  not measured (--no-cold)\n");
  if (load[0] > 0.5)
    printf("  WARNING     the machine was busy when the run started (load %.2f):"
           " expect noise\n",
           load[0]);
  printf("\n4 MiB throughput, MiB/s: median of %u round%s [min .. max], "
         "cpu = process CPU / wall\n",
         opt.rounds, opt.rounds == 1 ? "" : "s");
  printf("  %-28s %22s %5s %22s %5s %9s\n", "test", "baseline", "cpu",
         "lbd", "cpu", "lbd/base");
  for (int t = 0; t < NTPUT; t++) {
    if (t == READ_COLD && !opt.cold)
      continue;
    double m[2], lo[2], hi[2], c[2];
    char cell[2][64];
    for (int s = 0; s < 2; s++) {
      m[s] = median(mibs[t][s], opt.rounds, &lo[s], &hi[s]);
      c[s] = median(cpu[t][s], opt.rounds, NULL, NULL);
      snprintf(cell[s], sizeof cell[s], "%.0f [%.0f .. %.0f]", m[s], lo[s],
               hi[s]);
    }
    printf("  %-28s %22s %4.0f%% %22s %4.0f%% %8.1f%%\n", tput_name[t],
           cell[BASE], c[BASE] * 100, cell[LBD], c[LBD] * 100,
           100 * m[LBD] / m[BASE]);
  }
  printf("\n4 KiB random IO latency, us (%u ops per side, warm cache)\n",
         opt.ops);
  printf("  %-22s %9s %9s %9s %9s %12s\n", "test", "mean", "p50", "p99", "max",
         "cpu us/op");
  for (int cs = 0; cs < NSTATE; cs++) {
    printf("  [%s]\n", state_desc[cs]);
    for (int t = 0; t < NRAND; t++)
      for (int s = 0; s < 2; s++) {
        char label[64];
        snprintf(label, sizeof label, "%s %s",
                 t == RAND_WRITE ? "write" : "read", side_name[s]);
        struct lat *l = &rand_lat[cs][t][s];
        printf("  %-22s %9.1f %9.1f %9.1f %9.1f %12.1f\n", label, l->mean_us,
               l->p50_us, l->p99_us, l->max_us, rand_cpu[cs][t][s]);
      }
    printf("  mean lbd/base: write %.2fx, read %.2fx\n",
           rand_lat[cs][RAND_WRITE][LBD].mean_us /
               rand_lat[cs][RAND_WRITE][BASE].mean_us,
           rand_lat[cs][RAND_READ][LBD].mean_us /
               rand_lat[cs][RAND_READ][BASE].mean_us);
  }
  printf("\nflush after the random writes, ms %21s %10s\n", state_key[0],
         state_key[1]);
  printf("  baseline  fdatasync of each of %4u files %10.2f %10.2f\n",
         flush_files, flush_s[0][BASE] * 1e3, flush_s[1][BASE] * 1e3);
  printf("  baseline  syncfs (same writes again)     %10.2f %10.2f\n",
         flush_syncfs_s[0] * 1e3, flush_syncfs_s[1] * 1e3);
  printf("  lbd       objstore_flush                 %10.2f %10.2f\n",
         flush_s[0][LBD] * 1e3, flush_s[1][LBD] * 1e3);
  printf("\ntotal run time %.1f s\n", total_s);
}

static void print_json(FILE *f)
{
  fprintf(f, "{\n  \"params\": {\"dir\": ");
  json_str(f, run_dir);
  fprintf(f, ", \"fs\": ");
  json_str(f, fs);
  fprintf(f, ", \"object_size\": %zu, \"count\": %u, \"rounds\": %u, "
         "\"io_size\": %zu, \"random_ops\": %u, \"seed\": %llu, "
         "\"prefault\": %s},\n",
         OBJ_SIZE, opt.count, opt.rounds, IO_SIZE, opt.ops,
         (unsigned long long)opt.seed, opt.prefault ? "true" : "false");
  fprintf(f, "  \"host\": {\"cpus\": %ld, \"mem_gib\": %.1f, \"kernel\": ", ncpu,
         mem_gib);
  json_str(f, uts.release);
  fprintf(f, ", \"load_start\": %.2f, \"load_end\": %.2f", load[0], load[1]);
  fprintf(f, "},\n  \"cold_cache\": {\"measured\": %s, \"baseline\": ",
         opt.cold ? "true" : "false");
  json_str(f, cold_base_method);
  fprintf(f, ", \"lbd\": ");
  json_str(f, cold_lbd_method);
  fprintf(f, "},\n  \"throughput_mib_s\": {\n");
  bool first = true;
  for (int t = 0; t < NTPUT; t++) {
    if (t == READ_COLD && !opt.cold)
      continue;
    double m[2];
    fprintf(f, "%s    \"%s\": {", first ? "" : ",\n", tput_key[t]);
    first = false;
    for (int s = 0; s < 2; s++) {
      double lo, hi;
      m[s] = median(mibs[t][s], opt.rounds, &lo, &hi);
      fprintf(f, "\"%s\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f, "
             "\"cpu\": %.3f, \"rounds\": [",
             side_name[s], m[s], lo, hi,
             median(cpu[t][s], opt.rounds, NULL, NULL));
      for (unsigned r = 0; r < opt.rounds; r++)
        fprintf(f, "%s%.1f", r ? ", " : "", mibs[t][s][r]);
      fprintf(f, "]}, ");
    }
    fprintf(f, "\"ratio\": %.4f}", m[LBD] / m[BASE]);
  }
  fprintf(f, "\n  },\n  \"random_latency_us\": {\n");
  for (int cs = 0; cs < NSTATE; cs++) {
    fprintf(f, "    \"%s\": {\n", state_key[cs]);
    for (int t = 0; t < NRAND; t++) {
      fprintf(f, "      \"%s\": {", rand_key[t]);
      for (int s = 0; s < 2; s++) {
        struct lat *l = &rand_lat[cs][t][s];
        fprintf(f, "%s\"%s\": {\"mean\": %.2f, \"p50\": %.2f, \"p99\": %.2f, "
                "\"max\": %.2f, \"cpu_us_per_op\": %.2f}",
                s ? ", " : "", side_name[s], l->mean_us, l->p50_us, l->p99_us,
                l->max_us, rand_cpu[cs][t][s]);
      }
      fprintf(f, "},\n");
    }
    fprintf(f, "      \"flush_ms\": {\"baseline_fdatasync\": %.3f, "
            "\"baseline_files\": %u, \"baseline_syncfs\": %.3f, "
            "\"lbd\": %.3f}\n    }%s\n",
            flush_s[cs][BASE] * 1e3, flush_files, flush_syncfs_s[cs] * 1e3,
            flush_s[cs][LBD] * 1e3, cs + 1 < NSTATE ? "," : "");
  }
  fprintf(f, "  },\n");
  fprintf(f, "  \"total_s\": %.1f\n}\n", total_s);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
  fprintf(f,
          "usage: lbd-bench-objstore [options]\n"
          "Compare the object store with plain files on one filesystem.\n\n"
          "  --dir DIR      where to work (default ./bench-tmp); a run\n"
          "                 directory is made inside and removed at the end\n"
          "  --count N      4 MiB objects per pass (default 256 = 1 GiB)\n"
          "  --rounds N     throughput rounds, alternating sides (default 5)\n"
          "  --ops N        random 4 KiB ops per side (default 10000)\n"
          "  --seed N       seed of the random offsets (default 1)\n"
          "  --no-cold      skip the cold-cache read passes\n"
          "  --no-prefault  do not write and delete a pass worth of scratch\n"
          "                 data before each pass that fills the page cache\n"
          "  --keep         keep the run directory\n"
          "  --json         print JSON instead of the table\n"
          "  --json-file F  also write the JSON to F\n"
          "  --quiet        no progress lines on stderr\n"
          "  --help\n");
}

static unsigned parse_uint(const char *s, const char *what, unsigned min)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v < min || v > UINT32_MAX / 2) {
    fprintf(stderr, "lbd-bench-objstore: bad %s: %s\n", what, s);
    exit(2);
  }
  return (unsigned)v;
}

static void parse_args(int argc, char **argv)
{
  static const struct option lo[] = {
      {"dir", required_argument, NULL, 'd'},
      {"count", required_argument, NULL, 'n'},
      {"rounds", required_argument, NULL, 'r'},
      {"ops", required_argument, NULL, 'o'},
      {"seed", required_argument, NULL, 's'},
      {"no-cold", no_argument, NULL, 'C'},
      {"no-prefault", no_argument, NULL, 'P'},
      {"keep", no_argument, NULL, 'k'},
      {"json", no_argument, NULL, 'j'},
      {"json-file", required_argument, NULL, 'J'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "d:n:r:o:s:CPkjJ:qh", lo, NULL)) != -1) {
    switch (c) {
    case 'd': opt.dir = optarg; break;
    case 'n': opt.count = parse_uint(optarg, "--count", 1); break;
    case 'r': opt.rounds = parse_uint(optarg, "--rounds", 1); break;
    case 'o': opt.ops = parse_uint(optarg, "--ops", 1); break;
    case 's': opt.seed = parse_uint(optarg, "--seed", 0); break;
    case 'C': opt.cold = false; break;
    case 'P': opt.prefault = false; break;
    case 'k': opt.keep = true; break;
    case 'j': opt.json = true; break;
    case 'J': opt.json_file = optarg; break;
    case 'q': opt.quiet = true; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) {
    usage(stderr);
    exit(2);
  }
}

static void setup_dirs(void)
{
  struct stat st;
  if (stat(opt.dir, &st) != 0) {
    if (errno != ENOENT || mkdir(opt.dir, 0755) != 0)
      die("mkdir %s: %s", opt.dir, strerror(errno));
    made_parent = true;
  } else if (!S_ISDIR(st.st_mode)) {
    die("%s: not a directory", opt.dir);
  }
  if (!realpath(opt.dir, parent_dir))
    die("realpath %s: %s", opt.dir, strerror(errno));
  char leaf[64];
  snprintf(leaf, sizeof leaf, "lbd-bench.%ld", (long)getpid());
  path_join(run_dir, parent_dir, leaf);
  if (mkdir(run_dir, 0755) != 0) {
    int e = errno;
    run_dir[0] = '\0'; /* not ours: never remove it */
    die("mkdir %s/%s: %s", parent_dir, leaf, strerror(e));
  }
  path_join(cluster_dir, run_dir, "cluster");
  path_join(files_dir, run_dir, "files");
}

int main(int argc, char **argv)
{
  parse_args(argc, argv);
  uint64_t start = now_ns();
  uname(&uts);
  getloadavg(&load[0], 1);
  ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  mem_gib = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) /
            (1024.0 * 1024 * 1024);

  setup_dirs();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  fs = fs_name(run_dir);
  if (opt.cold)
    drop_caches_ok = drop_caches();

  names = malloc(opt.count * sizeof *names);
  fpaths = malloc(opt.count * sizeof *fpaths);
  big_buf = xalloc(OBJ_SIZE);
  for (int t = 0; t < NTPUT; t++)
    for (int s = 0; s < 2; s++) {
      mibs[t][s] = calloc(opt.rounds, sizeof(double));
      cpu[t][s] = calloc(opt.rounds, sizeof(double));
      if (!mibs[t][s] || !cpu[t][s])
        die("out of memory");
    }
  if (!names || !fpaths)
    die("out of memory");
  for (unsigned i = 0; i < opt.count; i++) {
    char leaf[64];
    snprintf(names[i], sizeof names[i], "lbd_data.bench.%016x", i);
    snprintf(leaf, sizeof leaf, "obj.%016x", i);
    path_join(fpaths[i], files_dir, leaf);
  }
  uint64_t rs = opt.seed;
  for (size_t i = 0; i < OBJ_SIZE; i += 8) {
    uint64_t v = splitmix64(&rs);
    memcpy(big_buf + i, &v, 8);
  }

  CHECK_LBD(objstore_cluster_create(cluster_dir), "objstore_cluster_create %s",
            cluster_dir);
  CHECK_LBD(objstore_cluster_open(cluster_dir, &cluster),
            "objstore_cluster_open %s", cluster_dir);

  for (unsigned round = 0; round < opt.rounds; round++) {
    make_round(round);
    /* Even rounds: baseline first; odd rounds: lbd first. */
    enum side order[2] = {round % 2 ? LBD : BASE, round % 2 ? BASE : LBD};
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      progress("round %u/%u: write new, %s", round + 1, opt.rounds,
               side_name[s]);
      struct pass p = write_pass(s, 1, false);
      record(WRITE_NEW, s, round, p.io_s, p.cpu_io_s);
      record(WRITE_NEW_DUR, s, round, p.io_s + p.flush_s, p.cpu_s);
    }
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      progress("round %u/%u: overwrite, %s", round + 1, opt.rounds,
               side_name[s]);
      struct pass p = write_pass(s, 2, false);
      record(OVERWRITE, s, round, p.io_s, p.cpu_io_s);
      record(OVERWRITE_DUR, s, round, p.io_s + p.flush_s, p.cpu_s);
    }
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      progress("round %u/%u: overwrite, each op durable, %s", round + 1,
               opt.rounds, side_name[s]);
      struct pass p = write_pass(s, 2, true);
      record(WRITE_SYNCED, s, round, p.io_s, p.cpu_io_s);
    }
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      progress("round %u/%u: read warm, %s", round + 1, opt.rounds,
               side_name[s]);
      struct pass p = read_pass(s, 2, false);
      record(READ_WARM, s, round, p.io_s, p.cpu_s);
    }
    if (opt.cold) {
      for (int k = 0; k < 2; k++) {
        enum side s = order[k];
        progress("round %u/%u: read cold, %s", round + 1, opt.rounds,
                 side_name[s]);
        struct pass p = read_pass(s, 2, true);
        record(READ_COLD, s, round, p.io_s, p.cpu_s);
      }
    }
    if (round + 1 < opt.rounds)
      drop_round(round);
  }

  /* Random IO on the last round's objects and files, from two page cache
   * states.  First: rewrite every object (untimed), as a write pass left it.
   * Then: drop the cache and read every object back (untimed). */
  progress("random IO set-up: rewriting every object and file");
  write_pass(BASE, 3, false);
  write_pass(LBD, 3, false);
  random_phase(ST_WRITTEN);
  progress("random IO set-up: dropping the cache, reading everything back");
  make_cold(BASE);
  make_cold(LBD);
  read_pass(BASE, 0, false);
  read_pass(LBD, 0, false);
  random_phase(ST_REREAD);

  objstore_pool_close(pool);
  objstore_cluster_close(cluster);
  total_s = (double)(now_ns() - start) / 1e9;
  getloadavg(&load[1], 1);
  if (opt.json)
    print_json(stdout);
  else
    print_table();
  if (opt.json_file) {
    FILE *f = fopen(opt.json_file, "w");
    if (!f)
      die("open %s: %s", opt.json_file, strerror(errno));
    print_json(f);
    if (fclose(f) != 0)
      die("write %s: %s", opt.json_file, strerror(errno));
  }
  cleanup();
  for (int t = 0; t < NTPUT; t++)
    for (int s = 0; s < 2; s++) {
      free(mibs[t][s]);
      free(cpu[t][s]);
    }
  free(names);
  free(fpaths);
  free(big_buf);
  return 0;
}
