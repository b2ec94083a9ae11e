/* Helpers shared by the benchmarks: see bench_util.h. */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct bench_state bench = {.prog = "lbd-bench", .load = {-1, -1}};

/* ---- errors and progress ------------------------------------------------ */

/* "PROG: " and the message on stderr, after what stdout holds so far. */
static void say(const char *fmt, va_list ap)
{
  fflush(stdout);
  fprintf(stderr, "%s: ", bench.prog);
  vfprintf(stderr, fmt, ap);
}

void bench_die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  say(fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  bench_cleanup();
  exit(1);
}

void bench_die_lbd(long long rc, const char *msg, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  say(fmt, ap);
  va_end(ap);
  fprintf(stderr, ": %s\n", msg && msg[0] ? msg : strerror((int)-rc));
  bench_cleanup();
  exit(1);
}

void bench_progress(const char *fmt, ...)
{
  va_list ap;
  if (bench.quiet)
    return;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- time, numbers, memory ---------------------------------------------- */

uint64_t bench_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_cpu_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_splitmix64(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

void bench_fill_random(char *buf, size_t len, uint64_t seed)
{
  uint64_t rs = seed;
  for (size_t i = 0; i < len; i += 8) {
    uint64_t v = bench_splitmix64(&rs);
    memcpy(buf + i, &v, 8);
  }
}

void *bench_xalloc(size_t size)
{
  void *p = NULL;
  if (posix_memalign(&p, 4096, size) != 0)
    bench_die("out of memory (%zu bytes)", size);
  return p;
}

void *bench_xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size);
  if (!p)
    bench_die("out of memory");
  return p;
}

/* ---- files -------------------------------------------------------------- */

void bench_full_pwrite(int fd, const void *buf, size_t len, off_t off,
                       const char *path)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      bench_die("pwrite %s: %s", path,
                n < 0 ? strerror(errno) : "wrote nothing");
    p += n;
    len -= (size_t)n;
    off += n;
  }
}

void bench_full_pread(int fd, void *buf, size_t len, off_t off,
                      const char *path)
{
  char *p = buf;
  while (len > 0) {
    ssize_t n = pread(fd, p, len, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      bench_die("pread %s: %s", path, n < 0 ? strerror(errno) : "short file");
    p += n;
    len -= (size_t)n;
    off += n;
  }
}

void bench_path_join(char *out, const char *a, const char *b)
{
  if ((size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX)
    bench_die("path too long: %s/%s", a, b);
}

/* nftw callback of bench_rm_rf: remove one entry, children first. */
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

void bench_rm_rf(const char *path)
{
  nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void bench_cleanup(void)
{
  if (bench.keep || !bench.run_dir[0])
    return;
  bench_rm_rf(bench.run_dir);
  if (bench.made_parent)
    rmdir(bench.parent_dir); /* only if empty */
  bench.run_dir[0] = '\0';
}

/* Ctrl-C or kill: remove the run directory (gigabytes) before dying, with
 * async-signal-safe calls only (fork, execve, waitpid, rmdir, _exit). */
static void on_signal(int sig)
{
  if (!bench.keep && bench.run_dir[0]) {
    pid_t pid = fork();
    if (pid == 0) {
      char *const argv[] = {"rm", "-rf", "--", bench.run_dir, NULL};
      char *const envp[] = {NULL};
      execve("/bin/rm", argv, envp);
      _exit(127);
    }
    if (pid > 0)
      waitpid(pid, NULL, 0);
    if (bench.made_parent)
      rmdir(bench.parent_dir);
  }
  _exit(128 + sig);
}

void bench_setup_dirs(const char *dir, const char *prefix)
{
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (errno != ENOENT || mkdir(dir, 0755) != 0)
      bench_die("mkdir %s: %s", dir, strerror(errno));
    bench.made_parent = true;
  } else if (!S_ISDIR(st.st_mode)) {
    bench_die("%s: not a directory", dir);
  }
  if (!realpath(dir, bench.parent_dir))
    bench_die("realpath %s: %s", dir, strerror(errno));
  char leaf[64];
  snprintf(leaf, sizeof leaf, "%s.%ld", prefix, (long)getpid());
  bench_path_join(bench.run_dir, bench.parent_dir, leaf);
  if (mkdir(bench.run_dir, 0755) != 0) {
    int e = errno;
    bench.run_dir[0] = '\0'; /* not ours: never remove it */
    bench_die("mkdir %s/%s: %s", bench.parent_dir, leaf, strerror(e));
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  bench.fs = bench_fs_name(bench.run_dir);
}

/* ---- the page cache ----------------------------------------------------- */

void bench_syncfs_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0 || syncfs(fd) < 0)
    bench_die("syncfs %s: %s", dir, strerror(errno));
  close(fd);
}

bool bench_drop_caches(void)
{
  sync();
  int fd = open(BENCH_DROP_CACHES, O_WRONLY);
  if (fd < 0)
    return false;
  bool ok = write(fd, "1", 1) == 1;
  close(fd);
  return ok;
}

void bench_fadvise_dontneed(const char *path)
{
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return;
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

/* nftw callback of bench_fadvise_tree. */
static int fadvise_one(const char *path, const struct stat *st, int type,
                       struct FTW *ftw)
{
  (void)ftw;
  if (type == FTW_F && S_ISREG(st->st_mode))
    bench_fadvise_dontneed(path);
  return 0;
}

void bench_fadvise_tree(const char *dir)
{
  nftw(dir, fadvise_one, 16, FTW_PHYS);
}

/* Fill, then free, a pass worth of page cache, untimed, just before a timed
 * pass that fills the page cache.  On a VM with free page reporting
 * (virtio-balloon), memory freed more than a few seconds ago has been
 * handed back to the host, and the first touch of each such page costs a
 * host page fault: a pass that gets such pages runs 2-4x slower, and which
 * side gets them is luck.  The pages of the scratch file freed here are
 * handed out first, so both sides get memory that is already backed.
 * (Touching anonymous memory does not work: those pages go elsewhere.) */
void bench_prefault(size_t len, const char *buf, size_t bs)
{
  len += (size_t)64 << 20;
  size_t half_free = (size_t)sysconf(_SC_AVPHYS_PAGES) / 2 *
                     (size_t)sysconf(_SC_PAGESIZE);
  if (len > half_free) /* never push the page cache or anything else out */
    len = half_free;
  char path[PATH_MAX];
  bench_path_join(path, bench.run_dir, "prefault.tmp");
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0)
    bench_die("open %s: %s", path, strerror(errno));
  for (size_t off = 0; off + bs <= len; off += bs)
    bench_full_pwrite(fd, buf, bs, (off_t)off, path);
  close(fd);
  unlink(path); /* dirty pages of a deleted file never reach the disk */
}

const char *bench_fs_name(const char *path)
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

/* ---- statistics --------------------------------------------------------- */

/* qsort order of doubles. */
static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(const double *v, unsigned n, double *lo, double *hi)
{
  double *s = bench_xcalloc(n, sizeof *s);
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

/* qsort order of uint64_t. */
static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

struct bench_lat bench_latency(uint64_t *ns, unsigned n)
{
  struct bench_lat l = {0};
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

bool bench_parse_uint(const char *s, unsigned long min, unsigned long max,
                      unsigned *out)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return false;
  *out = (unsigned)v;
  return true;
}

/* ---- the host and the report -------------------------------------------- */

void bench_host_start(void)
{
  bench.start_ns = bench_now_ns();
  uname(&bench.uts);
  getloadavg(&bench.load[0], 1);
  bench.ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  bench.mem_gib = (double)sysconf(_SC_PHYS_PAGES) *
                  (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024 * 1024);
}

void bench_host_end(void)
{
  bench.total_s = (double)(bench_now_ns() - bench.start_ns) / 1e9;
  getloadavg(&bench.load[1], 1);
}

void bench_print_host(FILE *f)
{
  fprintf(f, "  dir         %s (%s)\n", bench.run_dir, bench.fs);
  fprintf(f, "  host        %ld CPUs, %.1f GiB RAM, Linux %s, load %.2f at "
          "start, %.2f at end\n",
          bench.ncpu, bench.mem_gib, bench.uts.release, bench.load[0],
          bench.load[1]);
}

void bench_json_str(FILE *f, const char *s)
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

void bench_json_host(FILE *f)
{
  fprintf(f, "\"host\": {\"cpus\": %ld, \"mem_gib\": %.1f, \"kernel\": ",
          bench.ncpu, bench.mem_gib);
  bench_json_str(f, bench.uts.release);
  fprintf(f, ", \"load_start\": %.2f, \"load_end\": %.2f}", bench.load[0],
          bench.load[1]);
}

void bench_output(bool json, const char *json_file,
                  void (*print_json)(FILE *f), void (*print_table)(void))
{
  if (json)
    print_json(stdout);
  else
    print_table();
  if (json_file) {
    FILE *f = fopen(json_file, "w");
    if (!f)
      bench_die("open %s: %s", json_file, strerror(errno));
    print_json(f);
    if (fclose(f) != 0)
      bench_die("write %s: %s", json_file, strerror(errno));
  }
}
