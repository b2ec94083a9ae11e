/* Helpers shared by the benchmarks (objstore_bench.c, image_bench.c):
 * errors and progress, timing, the run directory and its removal, page
 * cache control, statistics and JSON output.  Plain C and POSIX: nothing
 * here calls lbd, so each program links it beside its own library. */
#ifndef LBD_BENCH_UTIL_H
#define LBD_BENCH_UTIL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/utsname.h>

#define BENCH_DROP_CACHES "/proc/sys/vm/drop_caches"

/* What the helpers know of the program and its run; set by the program. */
struct bench_state {
  const char *prog;          /* prefix of error messages */
  bool quiet;                /* --quiet: no progress lines */
  bool keep;                 /* --keep: keep the run directory */
  char parent_dir[PATH_MAX]; /* absolute --dir */
  bool made_parent;          /* we created --dir: remove it too */
  char run_dir[PATH_MAX];    /* parent_dir/PREFIX.PID; "" when not ours */
  /* The host, for the report (bench_host_start, bench_host_end). */
  struct utsname uts;
  double mem_gib;
  long ncpu;
  const char *fs;   /* filesystem of run_dir */
  uint64_t start_ns;
  double total_s;   /* run time, at bench_host_end */
  double load[2];   /* 1-minute load average, start and end */
};
extern struct bench_state bench;

/* "PROG: " and the message on stderr; remove the run directory; exit 1. */
void bench_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* As bench_die, ending ": MSG" (or strerror(-RC) when MSG is empty). */
void bench_die_lbd(long long rc, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* An lbd call returned < 0: stop with lbd_last_error() (needs lbd/lbd.h). */
#define BENCH_CHECK_LBD(expr, ...)                                            \
  do {                                                                        \
    long long rc_ = (long long)(expr);                                        \
    if (rc_ < 0)                                                              \
      bench_die_lbd(rc_, lbd_last_error(), __VA_ARGS__);                      \
  } while (0)

/* A progress line on stderr, unless bench.quiet. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic wall clock, in ns. */
uint64_t bench_now_ns(void);
/* CPU time of the whole process, all threads (the library's too), in ns. */
uint64_t bench_cpu_ns(void);
/* The next number of the splitmix64 sequence in *STATE. */
uint64_t bench_splitmix64(uint64_t *state);
/* Fill LEN bytes (a multiple of 8) of BUF with splitmix64 numbers from SEED. */
void bench_fill_random(char *buf, size_t len, uint64_t seed);

/* SIZE bytes, 4096-aligned, or die. */
void *bench_xalloc(size_t size);
/* N zeroed elements of SIZE bytes (at least one), or die. */
void *bench_xcalloc(size_t n, size_t size);

/* Write all of BUF at OFF, retrying short writes, or die naming PATH. */
void bench_full_pwrite(int fd, const void *buf, size_t len, off_t off,
                       const char *path);
/* Read all of BUF at OFF, retrying short reads, or die naming PATH. */
void bench_full_pread(int fd, void *buf, size_t len, off_t off,
                      const char *path);

/* OUT = A/B (OUT holds PATH_MAX bytes), or die if too long. */
void bench_path_join(char *out, const char *a, const char *b);
/* Remove PATH and all below it, ignoring errors. */
void bench_rm_rf(const char *path);
/* Make DIR (if missing) and DIR/PREFIX.PID, the run directory; catch
 * SIGINT/SIGTERM/SIGHUP to remove it; note its filesystem in bench.fs. */
void bench_setup_dirs(const char *dir, const char *prefix);
/* Remove the run directory (and --dir if we made it), unless bench.keep. */
void bench_cleanup(void);

/* syncfs of the filesystem DIR is on, or die. */
void bench_syncfs_dir(const char *dir);
/* echo 1 > /proc/sys/vm/drop_caches after a sync; false if not allowed. */
bool bench_drop_caches(void);
/* posix_fadvise(DONTNEED) of the whole file PATH, if it opens. */
void bench_fadvise_dontneed(const char *path);
/* bench_fadvise_dontneed of every regular file under DIR. */
void bench_fadvise_tree(const char *dir);
/* Write, then delete, LEN + 64 MiB (at most half the free memory) of
 * scratch data from BUF, BS bytes at a time (see bench_util.c for why). */
void bench_prefault(size_t len, const char *buf, size_t bs);
/* The name of the filesystem PATH is on ("ext4", "other", ...). */
const char *bench_fs_name(const char *path);

/* Median of the N values V (not changed); their min and max to LO, HI. */
double bench_median(const double *v, unsigned n, double *lo, double *hi);

/* Latency statistics of a pass, in us. */
struct bench_lat {
  double mean_us, p50_us, p99_us, max_us;
};
/* Mean and nearest-rank p50/p99/max of the N latencies NS (sorts NS). */
struct bench_lat bench_latency(uint64_t *ns, unsigned n);

/* Parse S as a decimal in MIN..MAX into *OUT; false if it is not one. */
bool bench_parse_uint(const char *s, unsigned long min, unsigned long max,
                      unsigned *out);

/* Record the start time, host, CPUs, memory and load average. */
void bench_host_start(void);
/* Record the total run time and the load average at the end. */
void bench_host_end(void);
/* The table's "dir" and "host" lines. */
void bench_print_host(FILE *f);

/* S as a JSON string, quoted and escaped. */
void bench_json_str(FILE *f, const char *s);
/* The JSON "host": {...} member, without a separator around it. */
void bench_json_host(FILE *f);

/* PRINT_JSON to stdout if JSON, else PRINT_TABLE; then PRINT_JSON to
 * JSON_FILE too when set, or die. */
void bench_output(bool json, const char *json_file,
                  void (*print_json)(FILE *f), void (*print_table)(void));

#endif
