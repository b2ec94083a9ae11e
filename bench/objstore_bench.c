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
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "lbd/lbd.h"
#include "objstore/objstore.h"

#define OBJ_SIZE ((size_t)4 << 20) /* 4 MiB: an RBD object */
#define IO_SIZE ((size_t)4 << 10)  /* 4 KiB: a random IO */
#define MIB (1024.0 * 1024.0)
#define PROG "lbd-bench-objstore"

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
} opt = {
    .dir = "./bench-tmp",
    .count = 256,
    .rounds = 5,
    .ops = 10000,
    .seed = 1,
    .cold = true,
    .prefault = true,
};

static char cluster_dir[PATH_MAX];
static char files_dir[PATH_MAX];
static bool drop_caches_ok;
static char *big_buf;      /* OBJ_SIZE, pseudo-random */

/* ---- small helpers ------------------------------------------------------ */

/* A pass worth of scratch data, written and deleted just before a timed
 * pass that fills the page cache (bench_prefault says why). */
static void prefault(void)
{
  if (opt.prefault)
    bench_prefault((size_t)opt.count * OBJ_SIZE, big_buf, OBJ_SIZE);
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
    bench_die("%s: read back the wrong data (stamp %#llx, expected %#llx)",
              what, (unsigned long long)v, (unsigned long long)want);
}

static void make_round(unsigned round)
{
  char name[64];
  snprintf(name, sizeof name, "bench-r%u", round);
  BENCH_CHECK_LBD(objstore_pool_create(cluster, name, NULL, &pool_id),
                  "objstore_pool_create %s", name);
  BENCH_CHECK_LBD(objstore_pool_open(cluster, pool_id, "", &pool),
                  "objstore_pool_open %s", name);
  if (mkdir(files_dir, 0755) != 0)
    bench_die("mkdir %s: %s", files_dir, strerror(errno));
}

static void drop_round(unsigned round)
{
  char name[64];
  snprintf(name, sizeof name, "bench-r%u", round);
  objstore_pool_close(pool);
  pool = NULL;
  BENCH_CHECK_LBD(objstore_pool_remove(cluster, name),
                  "objstore_pool_remove %s", name);
  bench_rm_rf(files_dir);
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
  uint64_t c0 = bench_cpu_ns(), t0 = bench_now_ns();
  for (unsigned i = 0; i < opt.count; i++) {
    stamp(i, pass_no);
    if (s == LBD) {
      BENCH_CHECK_LBD(
          objstore_write_full(pool, names[i], NULL, big_buf, OBJ_SIZE),
          "objstore_write_full %s", names[i]);
    } else {
      int fd = open(fpaths[i], O_CREAT | O_WRONLY | O_TRUNC, 0644);
      if (fd < 0)
        bench_die("open %s: %s", fpaths[i], strerror(errno));
      bench_full_pwrite(fd, big_buf, OBJ_SIZE, 0, fpaths[i]);
      if (synced && fdatasync(fd) != 0)
        bench_die("fdatasync %s: %s", fpaths[i], strerror(errno));
      if (close(fd) != 0)
        bench_die("close %s: %s", fpaths[i], strerror(errno));
    }
  }
  uint64_t t1 = bench_now_ns();
  r.cpu_io_s = (double)(bench_cpu_ns() - c0) / 1e9;
  if (s == LBD) {
    BENCH_CHECK_LBD(objstore_flush(pool), "objstore_flush");
  } else {
    /* What objstore_flush does too: one syncfs, one device cache flush
     * (fdatasync of every file would pay one per file). */
    bench_syncfs_dir(files_dir);
  }
  uint64_t t2 = bench_now_ns();
  r.io_s = (double)(t1 - t0) / 1e9;
  r.flush_s = (double)(t2 - t1) / 1e9;
  r.cpu_s = (double)(bench_cpu_ns() - c0) / 1e9;
  return r;
}

static const char *cold_lbd_method = "none";
static const char *cold_base_method = "none";

static void make_cold(enum side s)
{
  if (s == BASE) {
    for (unsigned i = 0; i < opt.count; i++)
      bench_fadvise_dontneed(fpaths[i]);
    cold_base_method = "fadvise";
  }
  if (drop_caches_ok && bench_drop_caches()) {
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
    BENCH_CHECK_LBD(objstore_flush(pool), "objstore_flush");
    BENCH_CHECK_LBD(objstore_pool_get_info(cluster, pool_id, &info),
                    "objstore_pool_get_info");
    if (info.path) {
      bench_fadvise_tree(info.path);
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
  uint64_t c0 = bench_cpu_ns(), t0 = bench_now_ns();
  for (unsigned i = 0; i < opt.count; i++) {
    if (s == LBD) {
      ssize_t n = objstore_read(pool, names[i], OBJSTORE_SNAP_HEAD, 0,
                                OBJ_SIZE, big_buf);
      BENCH_CHECK_LBD(n, "objstore_read %s", names[i]);
      if ((size_t)n != OBJ_SIZE)
        bench_die("objstore_read %s: %zd bytes, expected %zu", names[i], n,
                  OBJ_SIZE);
    } else {
      int fd = open(fpaths[i], O_RDONLY);
      if (fd < 0)
        bench_die("open %s: %s", fpaths[i], strerror(errno));
      bench_full_pread(fd, big_buf, OBJ_SIZE, 0, fpaths[i]);
      close(fd);
    }
    if (pass_no) /* 0: the random writes may have hit the stamp */
      check_stamp(big_buf, i, pass_no, s == LBD ? names[i] : fpaths[i]);
  }
  r.io_s = (double)(bench_now_ns() - t0) / 1e9;
  r.cpu_s = (double)(bench_cpu_ns() - c0) / 1e9;
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

static void record(enum tput_test t, enum side s, unsigned round,
                   double seconds, double cpu_s)
{
  mibs[t][s][round] = (double)opt.count * OBJ_SIZE / MIB / seconds;
  cpu[t][s][round] = cpu_s / seconds;
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
static struct bench_lat rand_lat[NSTATE][NRAND][2];
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
  char *io = bench_xalloc(IO_SIZE);
  if (!obj || !off || !ns || !fds || !touched)
    bench_die("out of memory");
  uint64_t rs = opt.seed * 0x100000001b3u + 7;
  for (size_t i = 0; i < IO_SIZE; i++)
    io[i] = (char)bench_splitmix64(&rs);

  for (unsigned i = 0; i < opt.count; i++) {
    fds[i] = open(fpaths[i], O_RDWR);
    if (fds[i] < 0)
      bench_die("open %s: %s", fpaths[i], strerror(errno));
  }

  for (int t = 0; t < NRAND; t++) {
    /* Writes: baseline first; reads: lbd first.  Same offsets both sides. */
    uint64_t st = opt.seed + (uint64_t)t * 0x5851f42d4c957f2du;
    for (unsigned i = 0; i < n; i++) {
      uint64_t r = bench_splitmix64(&st);
      obj[i] = (unsigned)(r % opt.count);
      off[i] = ((r >> 32) % (OBJ_SIZE / IO_SIZE)) * IO_SIZE;
    }
    for (int k = 0; k < 2; k++) {
      enum side s = t == RAND_WRITE ? (k ? LBD : BASE) : (k ? BASE : LBD);
      bench_progress("random 4 KiB %s (%s): %s, %u ops",
                     t == RAND_WRITE ? "write" : "read", state_key[cs],
                     side_name[s], n);
      uint64_t c0 = bench_cpu_ns();
      for (unsigned i = 0; i < n; i++) {
        unsigned o = obj[i];
        uint64_t t0 = bench_now_ns();
        if (t == RAND_WRITE && s == LBD) {
          BENCH_CHECK_LBD(
              objstore_write(pool, names[o], NULL, off[i], io, IO_SIZE),
              "objstore_write %s at %llu", names[o],
              (unsigned long long)off[i]);
        } else if (t == RAND_WRITE) {
          ssize_t w = pwrite(fds[o], io, IO_SIZE, (off_t)off[i]);
          if (w != (ssize_t)IO_SIZE)
            bench_die("pwrite %s: %s", fpaths[o],
                      w < 0 ? strerror(errno) : "short");
        } else if (s == LBD) {
          ssize_t r = objstore_read(pool, names[o], OBJSTORE_SNAP_HEAD,
                                    off[i], IO_SIZE, io);
          BENCH_CHECK_LBD(r, "objstore_read %s at %llu", names[o],
                          (unsigned long long)off[i]);
          if ((size_t)r != IO_SIZE)
            bench_die("objstore_read %s: %zd bytes, expected %zu", names[o], r,
                      IO_SIZE);
        } else {
          ssize_t r = pread(fds[o], io, IO_SIZE, (off_t)off[i]);
          if (r != (ssize_t)IO_SIZE)
            bench_die("pread %s: %s", fpaths[o],
                      r < 0 ? strerror(errno) : "short");
        }
        ns[i] = bench_now_ns() - t0;
        if (t == RAND_WRITE)
          touched[o] = true;
      }
      rand_cpu[cs][t][s] = (double)(bench_cpu_ns() - c0) / 1e3 / n;
      rand_lat[cs][t][s] = bench_latency(ns, n);

      if (t == RAND_WRITE) {
        uint64_t t0 = bench_now_ns();
        if (s == LBD) {
          BENCH_CHECK_LBD(objstore_flush(pool), "objstore_flush");
        } else {
          flush_files = 0;
          for (unsigned i = 0; i < opt.count; i++) {
            if (!touched[i])
              continue;
            if (fdatasync(fds[i]) != 0)
              bench_die("fdatasync %s: %s", fpaths[i], strerror(errno));
            flush_files++;
          }
        }
        flush_s[cs][s] = (double)(bench_now_ns() - t0) / 1e9;
        if (s == BASE) {
          /* The same writes again, untimed, then one syncfs instead. */
          for (unsigned i = 0; i < n; i++)
            if (pwrite(fds[obj[i]], io, IO_SIZE, (off_t)off[i]) !=
                (ssize_t)IO_SIZE)
              bench_die("pwrite %s: %s", fpaths[obj[i]], strerror(errno));
          t0 = bench_now_ns();
          bench_syncfs_dir(files_dir);
          flush_syncfs_s[cs] = (double)(bench_now_ns() - t0) / 1e9;
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

static void print_table(void)
{
  double pass_mib = (double)opt.count * OBJ_SIZE / MIB;
  printf("lbd objstore benchmark (lbd %d.%d.%d): objstore local backend vs "
         "plain files\n",
         LBD_VERSION_MAJOR, LBD_VERSION_MINOR, LBD_VERSION_PATCH);
  bench_print_host(stdout);
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
  if (bench.load[0] > 0.5)
    printf("  WARNING     the machine was busy when the run started (load %.2f):"
           " expect noise\n",
           bench.load[0]);
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
      m[s] = bench_median(mibs[t][s], opt.rounds, &lo[s], &hi[s]);
      c[s] = bench_median(cpu[t][s], opt.rounds, NULL, NULL);
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
        struct bench_lat *l = &rand_lat[cs][t][s];
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
  printf("\ntotal run time %.1f s\n", bench.total_s);
}

static void print_json(FILE *f)
{
  fprintf(f, "{\n  \"params\": {\"dir\": ");
  bench_json_str(f, bench.run_dir);
  fprintf(f, ", \"fs\": ");
  bench_json_str(f, bench.fs);
  fprintf(f, ", \"object_size\": %zu, \"count\": %u, \"rounds\": %u, "
         "\"io_size\": %zu, \"random_ops\": %u, \"seed\": %llu, "
         "\"prefault\": %s},\n",
         OBJ_SIZE, opt.count, opt.rounds, IO_SIZE, opt.ops,
         (unsigned long long)opt.seed, opt.prefault ? "true" : "false");
  fprintf(f, "  ");
  bench_json_host(f);
  fprintf(f, ",\n  \"cold_cache\": {\"measured\": %s, \"baseline\": ",
          opt.cold ? "true" : "false");
  bench_json_str(f, cold_base_method);
  fprintf(f, ", \"lbd\": ");
  bench_json_str(f, cold_lbd_method);
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
      m[s] = bench_median(mibs[t][s], opt.rounds, &lo, &hi);
      fprintf(f, "\"%s\": {\"median\": %.1f, \"min\": %.1f, \"max\": %.1f, "
             "\"cpu\": %.3f, \"rounds\": [",
             side_name[s], m[s], lo, hi,
             bench_median(cpu[t][s], opt.rounds, NULL, NULL));
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
        struct bench_lat *l = &rand_lat[cs][t][s];
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
  fprintf(f, "  \"total_s\": %.1f\n}\n", bench.total_s);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
  fprintf(f,
          "usage: " PROG " [options]\n"
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
  unsigned v;
  if (!bench_parse_uint(s, min, UINT32_MAX / 2, &v)) {
    fprintf(stderr, PROG ": bad %s: %s\n", what, s);
    exit(2);
  }
  return v;
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
    case 'k': bench.keep = true; break;
    case 'j': opt.json = true; break;
    case 'J': opt.json_file = optarg; break;
    case 'q': bench.quiet = true; break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); exit(2);
    }
  }
  if (optind < argc) {
    usage(stderr);
    exit(2);
  }
}

int main(int argc, char **argv)
{
  bench.prog = PROG;
  parse_args(argc, argv);
  bench_host_start();
  bench_setup_dirs(opt.dir, "lbd-bench");
  bench_path_join(cluster_dir, bench.run_dir, "cluster");
  bench_path_join(files_dir, bench.run_dir, "files");
  if (opt.cold)
    drop_caches_ok = bench_drop_caches();

  names = malloc(opt.count * sizeof *names);
  fpaths = malloc(opt.count * sizeof *fpaths);
  big_buf = bench_xalloc(OBJ_SIZE);
  for (int t = 0; t < NTPUT; t++)
    for (int s = 0; s < 2; s++) {
      mibs[t][s] = calloc(opt.rounds, sizeof(double));
      cpu[t][s] = calloc(opt.rounds, sizeof(double));
      if (!mibs[t][s] || !cpu[t][s])
        bench_die("out of memory");
    }
  if (!names || !fpaths)
    bench_die("out of memory");
  for (unsigned i = 0; i < opt.count; i++) {
    char leaf[64];
    snprintf(names[i], sizeof names[i], "lbd_data.bench.%016x", i);
    snprintf(leaf, sizeof leaf, "obj.%016x", i);
    bench_path_join(fpaths[i], files_dir, leaf);
  }
  bench_fill_random(big_buf, OBJ_SIZE, opt.seed);

  BENCH_CHECK_LBD(objstore_cluster_create(cluster_dir),
                  "objstore_cluster_create %s", cluster_dir);
  BENCH_CHECK_LBD(objstore_cluster_open(cluster_dir, &cluster),
                  "objstore_cluster_open %s", cluster_dir);

  for (unsigned round = 0; round < opt.rounds; round++) {
    make_round(round);
    /* Even rounds: baseline first; odd rounds: lbd first. */
    enum side order[2] = {round % 2 ? LBD : BASE, round % 2 ? BASE : LBD};
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      bench_progress("round %u/%u: write new, %s", round + 1, opt.rounds,
                     side_name[s]);
      struct pass p = write_pass(s, 1, false);
      record(WRITE_NEW, s, round, p.io_s, p.cpu_io_s);
      record(WRITE_NEW_DUR, s, round, p.io_s + p.flush_s, p.cpu_s);
    }
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      bench_progress("round %u/%u: overwrite, %s", round + 1, opt.rounds,
                     side_name[s]);
      struct pass p = write_pass(s, 2, false);
      record(OVERWRITE, s, round, p.io_s, p.cpu_io_s);
      record(OVERWRITE_DUR, s, round, p.io_s + p.flush_s, p.cpu_s);
    }
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      bench_progress("round %u/%u: overwrite, each op durable, %s", round + 1,
                     opt.rounds, side_name[s]);
      struct pass p = write_pass(s, 2, true);
      record(WRITE_SYNCED, s, round, p.io_s, p.cpu_io_s);
    }
    for (int k = 0; k < 2; k++) {
      enum side s = order[k];
      bench_progress("round %u/%u: read warm, %s", round + 1, opt.rounds,
                     side_name[s]);
      struct pass p = read_pass(s, 2, false);
      record(READ_WARM, s, round, p.io_s, p.cpu_s);
    }
    if (opt.cold) {
      for (int k = 0; k < 2; k++) {
        enum side s = order[k];
        bench_progress("round %u/%u: read cold, %s", round + 1, opt.rounds,
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
  bench_progress("random IO set-up: rewriting every object and file");
  write_pass(BASE, 3, false);
  write_pass(LBD, 3, false);
  random_phase(ST_WRITTEN);
  bench_progress(
      "random IO set-up: dropping the cache, reading everything back");
  make_cold(BASE);
  make_cold(LBD);
  read_pass(BASE, 0, false);
  read_pass(LBD, 0, false);
  random_phase(ST_REREAD);

  objstore_pool_close(pool);
  objstore_cluster_close(cluster);
  bench_host_end();
  bench_output(opt.json, opt.json_file, print_json, print_table);
  bench_cleanup();
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
