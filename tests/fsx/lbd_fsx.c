/* lbd-fsx: a randomized consistency exerciser for lbd images, clones and
 * live migrations (Ceph's fsx for librbd, done for lbd).
 *
 * From a seed, it runs a random sequence of operations on an image in a
 * cluster directory of its own and checks every read against an in-memory
 * model of the image and of every snapshot: IO at offsets and lengths that
 * cross object and stripe boundaries, resize, snapshots (create, remove,
 * protect, rollback), clones (clone, IO on the clone, flatten), live
 * migration (prepare, client IO and snapshots on the target, execute --
 * sometimes killed half-way in a child and run again, or with client IO
 * from its progress callback -- then commit or abort), close and reopen,
 * and kill -9 of a child writing a batch with asynchronous IO (every write
 * it acknowledged must be there; the others old or new, block by block).
 *
 * All randomness comes from the seed, kills included (a child kills itself
 * after K progress callbacks or K acknowledgements): the same seed replays
 * the same run.  On a mismatch it prints the seed, the operation number and
 * the logged operations that touched the bad range, leaves the cluster
 * directory for inspection and exits 1.  See tests/fsx/README.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lbd/lbd.h"

#define KiB ((uint64_t)1024)
#define MiB (1024 * KiB)
#define MAXSNAP 8
#define LOGN 4096
#define NPOOLS 4
#define MAIN 0
#define CLONE 1

/* ---- options ------------------------------------------------------------ */

static uint64_t opt_seed = 1;
static uint64_t opt_ops = 10000;
static double opt_time;        /* seconds; 0: no limit */
static const char *opt_dir;    /* NULL: a new directory in $TMPDIR */
static uint64_t opt_maxsize = 24 * MiB;
static bool opt_keep, opt_quiet, opt_verbose;
static bool opt_import; /* -i: import-only sources; see op_import() */
static const char *opt_ceph_conf; /* -R: the other pools on RADOS */
/* What the random mix leaves out (-X list). */
static bool no_mig, no_clone, no_kill, no_snap, no_resize, no_cbio, no_dpool;
static bool no_diff, no_copy, no_ro;
/* Bugs lbd-fsx found, each fixed since.  By default the mix takes every
 * path; -B LIST replays an old command line exactly, steering around all
 * the bugs it does not name, as runs did while they were open.
 * aiofork: a child forked after the parent used lbd aio hangs in its first
 * aio op (the pool's worker counts are inherited, its workers are not). */
static bool bug_aiofork;
/* copy: lbd_copy of a clone or a migration target leaves out what the
 * parent (source) holds: the copy reads zeroes there. */
static bool bug_copy;
/* diffmig: lbd_diff_iterate of a migration target from a snapshot misses
 * ranges zeroed (write_zeroes, discard, shrink) since. */
static bool bug_diffmig;
/* resumename: a commit killed after it removed the source cannot be run
 * again by the source's name (ENOENT: "image ... does not exist"). */
static bool bug_resumename;
/* rosize: a second (read-only) handle never sees a resize made through the
 * first: it keeps the old size (reads past it come back short). */
static bool bug_rosize;
/* clonecommit: the commit of a migrated clone succeeds while the target is
 * open here (a plain image's is refused, EBUSY), and that handle then
 * reads wrong data (zeroes, or the parent's) until reopened. */
static bool bug_clonecommit;
static bool opt_bugs_named; /* -B given */
static bool parent_used_aio;

/* ---- randomness: everything from the seed ----------------------------- */

static uint64_t rng;

static uint64_t mix64(uint64_t z)
{
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rnd64(void)
{
  rng += 0x9e3779b97f4a7c15ULL;
  return mix64(rng);
}

static uint64_t rnd(uint64_t n) { return n ? rnd64() % n : 0; }
static bool chance(unsigned pct) { return rnd(100) < pct; }

/* The bytes write ID puts at image offset X: tell-tale, so that a bad byte
 * can be traced back to the write that left it. */
static void pattern(uint8_t *b, uint64_t id, uint64_t off, uint64_t len)
{
  uint64_t key = mix64(id ^ (opt_seed << 20));
  for (uint64_t i = 0; i < len;) {
    uint64_t x = off + i, w = mix64(key ^ (x >> 3));
    for (unsigned k = (unsigned)(x & 7); k < 8 && i < len; k++, i++)
      b[i] = (uint8_t)(w >> (8 * k));
  }
}

/* ---- the model -------------------------------------------------------- */

struct snapm {
  char name[32];
  uint64_t size;
  uint8_t *data;
  bool prot;
};

struct model {
  uint64_t size;
  uint8_t *head;
  struct snapm s[MAXSNAP];
  int n;
};

struct img {
  const char *tag;
  bool exists;
  int pool;
  char name[64];
  lbd_image_t *h;
  struct model m;
  char desc[160]; /* layout, for the log */
};

struct pool {
  char name[16];
  bool exists;
  lbd_ioctx_t *io;
};

static char dir[PATH_MAX];
static char replay_args[512]; /* the options that shape the run */
static lbd_cluster_t *cl;
static struct pool pools[NPOOLS];
static struct img I[2];
static char clone_parent_snap[32]; /* the main snapshot the clone reads */
static bool clone_linked;          /* not flattened yet */
static unsigned name_seq, snap_seq;

/* Migration of the main image. */
static int mig; /* 0: none, 1: prepared, 2: executed */
static int mig_w; /* MAIN or CLONE: the image being migrated */
static bool mig_flatten; /* the clone migrated will not keep its parent */
static int mig_src_pool;
static char mig_src_name[64];
static struct snapm mig_saved[MAXSNAP];
static int mig_nsaved;

static uint64_t opno; /* the current operation */

static uint8_t *xdup(const uint8_t *p, uint64_t n)
{
  uint8_t *q = malloc(n ? n : 1);
  if (!q) {
    fprintf(stderr, "lbd-fsx: out of memory\n");
    exit(2);
  }
  memcpy(q, p, n);
  return q;
}

static void model_resize(struct model *m, uint64_t size)
{
  uint8_t *h = realloc(m->head, size ? size : 1);
  if (!h) {
    fprintf(stderr, "lbd-fsx: out of memory\n");
    exit(2);
  }
  if (size > m->size)
    memset(h + m->size, 0, size - m->size);
  m->head = h;
  m->size = size;
}

static void model_free(struct model *m)
{
  for (int i = 0; i < m->n; i++)
    free(m->s[i].data);
  free(m->head);
  memset(m, 0, sizeof *m);
}

/* ---- the op log (a ring) ---------------------------------------------- */

struct logent {
  uint64_t op;
  uint64_t id;  /* the pattern id of a write, else 0 */
  int which;    /* MAIN, CLONE; -1: everything */
  uint64_t off, len; /* len 0: touches the whole image (structural) */
  char what[200];
};

static struct logent logring[LOGN];
static double t_start;

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static uint64_t logcount;

static void logop(int which, uint64_t id, uint64_t off, uint64_t len,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void logop(int which, uint64_t id, uint64_t off, uint64_t len,
                  const char *fmt, ...)
{
  struct logent *e = &logring[logcount++ % LOGN];
  e->op = opno;
  e->id = id;
  e->which = which;
  e->off = off;
  e->len = len;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->what, sizeof e->what, fmt, ap);
  va_end(ap);
  if (opt_verbose)
    printf("%8" PRIu64 " %9.3f %-5s %s\n", opno, now() - t_start,
           which < 0 ? "" : I[which].tag, e->what);
}

static void print_log(int which, uint64_t lo, uint64_t hi)
{
  uint64_t first = logcount > LOGN ? logcount - LOGN : 0;
  fprintf(stderr, "operations that touched %s [0x%" PRIx64 ", 0x%" PRIx64
          ") (oldest first; '*' structural; of the last %" PRIu64 "):\n",
          which < 0 ? "anything" : I[which].tag, lo, hi, logcount - first);
  for (uint64_t i = first; i < logcount; i++) {
    const struct logent *e = &logring[i % LOGN];
    bool structural = e->len == 0;
    if (!structural && which >= 0 &&
        (e->which != which || e->off >= hi || e->off + e->len <= lo))
      continue;
    fprintf(stderr, "  %c op %-8" PRIu64 " %-5s %s\n", structural ? '*' : ' ',
            e->op, e->which < 0 ? "" : I[e->which].tag, e->what);
  }
}

static void finish_fail(void) __attribute__((noreturn));
static void finish_fail(void)
{
  fprintf(stderr, "lbd-fsx: seed %" PRIu64 " failed at op %" PRIu64
          "; cluster left in %s\n", opt_seed, opno, dir);
  fprintf(stderr, "replay: lbd-fsx%s -S %" PRIu64 " -N %" PRIu64 " (-v logs "
          "every op)\n", replay_args, opt_seed, opno);
  exit(1);
}

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "\nlbd-fsx: FAIL at op %" PRIu64 " (seed %" PRIu64 "): ",
          opno, opt_seed);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  print_log(-1, 0, UINT64_MAX);
  finish_fail();
}

#define OK(expr, ...)                                                       \
  do {                                                                      \
    long _r = (long)(expr);                                                 \
    if (_r < 0) {                                                           \
      char _w[256];                                                         \
      snprintf(_w, sizeof _w, __VA_ARGS__);                                 \
      die("%s: %s (%s)", _w, strerror((int)-_r), lbd_last_error());         \
    }                                                                       \
  } while (0)

/* A byte range of WHICH (at SNAP, or the head) reads GOT where the model
 * says WANT. */
static void mismatch(int which, const char *snap, uint64_t base,
                     const uint8_t *got, const uint8_t *want, uint64_t len)
{
  uint64_t lo = 0, hi = 0;
  for (uint64_t i = 0; i < len; i++)
    if (got[i] != want[i]) {
      if (hi == 0)
        lo = i;
      hi = i + 1;
    }
  fflush(stdout);
  fprintf(stderr, "\nlbd-fsx: FAIL at op %" PRIu64 " (seed %" PRIu64
          "): %s %s%s%s reads wrong bytes in [0x%" PRIx64 ", 0x%" PRIx64
          ") (%" PRIu64 " bytes)\n", opno, opt_seed, I[which].tag,
          I[which].name, snap ? "@" : "", snap ? snap : "", base + lo,
          base + hi, hi - lo);
  uint64_t show = hi - lo < 32 ? hi - lo : 32;
  fprintf(stderr, "  at 0x%" PRIx64 " got :", base + lo);
  for (uint64_t i = 0; i < show; i++)
    fprintf(stderr, " %02x", got[lo + i]);
  fprintf(stderr, "\n  at 0x%" PRIx64 " want:", base + lo);
  for (uint64_t i = 0; i < show; i++)
    fprintf(stderr, " %02x", want[lo + i]);
  fprintf(stderr, "\n");
  /* whose bytes are they? */
  uint64_t x = base + lo, n = hi - lo < 8 ? hi - lo : 8;
  bool zero = true;
  for (uint64_t i = 0; i < n; i++)
    zero = zero && got[lo + i] == 0;
  if (zero)
    fprintf(stderr, "  the bad bytes are zeroes\n");
  uint64_t first = logcount > LOGN ? logcount - LOGN : 0;
  for (uint64_t i = first; i < logcount && !zero; i++) {
    const struct logent *e = &logring[i % LOGN];
    uint8_t p[8];
    if (!e->id)
      continue;
    pattern(p, e->id, x, n);
    if (memcmp(p, got + lo, n) == 0)
      fprintf(stderr, "  the bad bytes at 0x%" PRIx64 " are those op %" PRIu64
              " wrote (%s)\n", x, e->op, e->what);
  }
  print_log(which, base + lo, base + hi);
  finish_fail();
}

/* ---- the cluster, pools, images ----------------------------------------- */

static lbd_ioctx_t *pio(int p) { return pools[p].io; }

static void pool_ensure(int p)
{
  if (pools[p].exists)
    return;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s-pools/%s", dir, pools[p].name);
  char parent[PATH_MAX + 32];
  snprintf(parent, sizeof parent, "%s-pools", dir);
  mkdir(parent, 0755);
  if (opt_ceph_conf) { /* a RADOS pool of its own for this run */
    snprintf(path, sizeof path, "lbd-fsx.%" PRIu64 ".%d.%s", opt_seed,
             (int)getpid(), pools[p].name);
    OK(lbd_pool_create_rados(cl, pools[p].name, opt_ceph_conf, path),
       "pool create %s on RADOS pool %s", pools[p].name, path);
  } else {
    OK(lbd_pool_create(cl, pools[p].name, path), "pool create %s at %s",
       pools[p].name, path);
  }
  OK(lbd_ioctx_create(cl, pools[p].name, NULL, &pools[p].io), "ioctx %s",
     pools[p].name);
  OK(lbd_pool_init(pools[p].io), "pool init %s", pools[p].name);
  pools[p].exists = true;
  logop(-1, 0, 0, 0, "pool create %s at %s", pools[p].name, path);
}

static void img_open(int w)
{
  struct img *im = &I[w];
  if (!im->exists || im->h)
    return;
  OK(lbd_open(pio(im->pool), im->name, NULL, 0, &im->h), "open %s/%s",
     pools[im->pool].name, im->name);
}

/* A second handle on the image, read-only, kept open across ops: it must
 * see every change made through the first (handles cache object heads). */
static lbd_image_t *ro;
static uint64_t ro_size; /* the size when it was opened */

static void ro_close(void)
{
  if (ro)
    OK(lbd_close(ro), "close the read-only handle");
  ro = NULL;
}

static void img_close(int w)
{
  struct img *im = &I[w];
  if (w == MAIN)
    ro_close();
  if (!im->h)
    return;
  OK(lbd_close(im->h), "close %s", im->name);
  im->h = NULL;
}

/* Close everything (before a fork: a child opens the cluster itself). */
static void env_close(void)
{
  img_close(CLONE);
  img_close(MAIN);
  for (int p = 0; p < NPOOLS; p++)
    if (pools[p].io) {
      lbd_ioctx_destroy(pools[p].io);
      pools[p].io = NULL;
    }
  lbd_cluster_close(cl);
  cl = NULL;
}

/* After a run that passed: the RADOS pools go (a local pool goes with the
 * cluster directory). */
static void rados_pools_remove(void)
{
  OK(lbd_cluster_open(dir, true, &cl), "open cluster %s", dir);
  for (int p = 0; p < NPOOLS; p++)
    if (pools[p].exists && strcmp(pools[p].name, "rbd") != 0)
      OK(lbd_pool_remove(cl, pools[p].name), "pool remove %s",
         pools[p].name);
  lbd_cluster_close(cl);
  cl = NULL;
}

static void env_open(bool images)
{
  OK(lbd_cluster_open(dir, true, &cl), "open cluster %s", dir);
  for (int p = 0; p < NPOOLS; p++)
    if (pools[p].exists)
      OK(lbd_ioctx_create(cl, pools[p].name, NULL, &pools[p].io), "ioctx %s",
         pools[p].name);
  if (images) {
    img_open(MAIN);
    img_open(CLONE);
  }
}

/* A random layout: object size 64K..4M, striping on or off. */
static void random_layout(struct lbd_image_options *o, char *desc, size_t dlen,
                          int self_pool)
{
  memset(o, 0, sizeof *o);
  unsigned order = 16 + (unsigned)rnd(7);
  o->object_size = 1ULL << order;
  if (chance(40)) {
    unsigned su = chance(10) ? 9 + (unsigned)rnd(3) : 12 + (unsigned)rnd(order - 11);
    if (su > order)
      su = order;
    o->stripe_unit = 1ULL << su;
    o->stripe_count = 1 + rnd(8);
  } else if (chance(70)) { /* else: zero, the source's in a migration */
    o->stripe_unit = o->object_size;
    o->stripe_count = 1;
  }
  switch (rnd(4)) {
  case 0: o->features = 0; break; /* the default */
  case 1: o->features = LBD_FEATURES_DEFAULT & ~LBD_FEATURE_OBJECT_MAP; break;
  case 2: o->features = LBD_FEATURE_LAYERING | LBD_FEATURE_DEEP_FLATTEN; break;
  default:
    o->features = LBD_FEATURE_LAYERING | LBD_FEATURE_EXCLUSIVE_LOCK |
                  LBD_FEATURE_DEEP_FLATTEN;
  }
  o->data_pool = NULL;
  if (!no_dpool && chance(15)) {
    int p = (int)rnd(NPOOLS);
    if (p != self_pool) {
      pool_ensure(p);
      o->data_pool = pools[p].name;
    }
  }
  char f[128];
  lbd_features_format(o->features ? o->features : LBD_FEATURES_DEFAULT, f,
                      sizeof f);
  snprintf(desc, dlen, "object %" PRIu64 "K, stripe %" PRIu64 "x%" PRIu64
           "%s%s, %s", o->object_size / KiB,
           o->stripe_unit ? o->stripe_unit : o->object_size,
           o->stripe_count ? o->stripe_count : 1,
           o->data_pool ? ", data pool " : "",
           o->data_pool ? o->data_pool : "", f);
}

/* ---- checks ----------------------------------------------------------- */

static uint8_t *rbuf;
static uint64_t rbuf_len;

static uint8_t *readbuf(uint64_t len)
{
  if (len > rbuf_len) {
    free(rbuf);
    rbuf = malloc(len);
    rbuf_len = len;
    if (!rbuf) {
      fprintf(stderr, "lbd-fsx: out of memory\n");
      exit(2);
    }
  }
  return rbuf;
}

/* Read [OFF, OFF+LEN) of H and compare with WANT (the model's SIZE bytes). */
static void check_handle(int w, const char *snap, lbd_image_t *h,
                         const uint8_t *want, uint64_t size, uint64_t off,
                         uint64_t len)
{
  uint64_t expect = off >= size ? 0 : (len < size - off ? len : size - off);
  uint8_t *b = readbuf(len ? len : 1);
  ssize_t n = lbd_read(h, off, len, b);
  if (n < 0)
    die("read %s%s%s 0x%" PRIx64 "+0x%" PRIx64 ": %s (%s)", I[w].tag,
        snap ? "@" : "", snap ? snap : "", off, len, strerror((int)-n),
        lbd_last_error());
  if ((uint64_t)n != expect)
    die("read %s%s%s 0x%" PRIx64 "+0x%" PRIx64 ": %zd bytes, want %" PRIu64,
        I[w].tag, snap ? "@" : "", snap ? snap : "", off, len, n, expect);
  if (expect && memcmp(b, want + off, expect) != 0)
    mismatch(w, snap, off, b, want + off, expect);
}

static void check_size(int w, lbd_image_t *h, uint64_t want, const char *snap)
{
  uint64_t size;
  OK(lbd_get_size(h, &size), "get size");
  if (size != want)
    die("%s%s%s: size %" PRIu64 ", want %" PRIu64, I[w].tag, snap ? "@" : "",
        snap ? snap : "", size, want);
}

static void check_snap(int w, int i, uint64_t off, uint64_t len, bool whole)
{
  struct img *im = &I[w];
  struct snapm *s = &im->m.s[i];
  lbd_image_t *h;
  OK(lbd_open(pio(im->pool), im->name, s->name, LBD_OPEN_READ_ONLY, &h),
     "open %s@%s", im->name, s->name);
  check_size(w, h, s->size, s->name);
  if (whole) {
    off = 0;
    len = s->size;
  }
  for (uint64_t o = off; o < off + len; o += 8 * MiB)
    check_handle(w, s->name, h, s->data, s->size, o,
                 off + len - o < 8 * MiB ? off + len - o : 8 * MiB);
  OK(lbd_close(h), "close %s@%s", im->name, s->name);
}

static void check_snap_list(int w)
{
  struct img *im = &I[w];
  struct lbd_snap_info *si;
  size_t n;
  OK(lbd_snap_list(im->h, &si, &n), "snap list %s", im->name);
  bool bad = n != (size_t)im->m.n;
  for (size_t i = 0; !bad && i < n; i++)
    bad = strcmp(si[i].name, im->m.s[i].name) != 0 ||
          si[i].size != im->m.s[i].size ||
          si[i].protected_ != im->m.s[i].prot;
  if (bad) {
    fprintf(stderr, "snapshots of %s: lbd has", im->name);
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, " %s(%" PRIu64 "%s)", si[i].name, si[i].size,
              si[i].protected_ ? ",p" : "");
    fprintf(stderr, "; the model has");
    for (int i = 0; i < im->m.n; i++)
      fprintf(stderr, " %s(%" PRIu64 "%s)", im->m.s[i].name, im->m.s[i].size,
              im->m.s[i].prot ? ",p" : "");
    fprintf(stderr, "\n");
    lbd_snap_list_free(si, n);
    die("the snapshot list of %s differs from the model", im->tag);
  }
  lbd_snap_list_free(si, n);
}

/* Every byte of the head and of every snapshot. */
static void check_all(int w)
{
  struct img *im = &I[w];
  if (!im->exists)
    return;
  img_open(w);
  check_size(w, im->h, im->m.size, NULL);
  for (uint64_t o = 0; o < im->m.size; o += 8 * MiB)
    check_handle(w, NULL, im->h, im->m.head, im->m.size, o,
                 im->m.size - o < 8 * MiB ? im->m.size - o : 8 * MiB);
  check_snap_list(w);
  for (int i = 0; i < im->m.n; i++)
    check_snap(w, i, 0, 0, true);
}

/* ---- IO ------------------------------------------------------------------ */

static uint64_t boundary(int w)
{
  struct lbd_image_info info;
  OK(lbd_stat(I[w].h, &info), "stat");
  switch (rnd(3)) {
  case 0: return info.object_size;
  case 1: return info.stripe_unit;
  default: return info.object_size * info.stripe_count;
  }
}

/* A random extent of an image of SIZE bytes, often across a boundary. */
static void random_extent(int w, uint64_t size, uint64_t *off, uint64_t *len)
{
  uint64_t l;
  switch (rnd(5)) {
  case 0: l = 1 + rnd(4 * KiB); break;
  case 1: l = 1 + rnd(64 * KiB); break;
  case 2: l = 1 + rnd(512 * KiB); break;
  case 3: l = 1 + rnd(4 * MiB); break;
  default: l = (1 + rnd(16)) * 4 * KiB; break;
  }
  uint64_t o;
  if (chance(40)) { /* around a boundary */
    uint64_t b = boundary(w);
    uint64_t k = size / b;
    o = rnd(k + 1) * b;
    uint64_t back = rnd(l + 1);
    o = o > back ? o - back : 0;
  } else if (chance(20)) {
    o = rnd(size / 4096 + 1) * 4096;
  } else {
    o = rnd(size);
  }
  if (o >= size)
    o = size ? size - 1 : 0;
  if (l > size - o)
    l = size - o;
  *off = o;
  *len = l;
}

static uint64_t write_id(uint64_t sub) { return (opno << 12) | sub; }

static void do_write(int w, uint64_t off, uint64_t len, uint64_t sub)
{
  struct img *im = &I[w];
  uint8_t *b = malloc(len);
  uint64_t id = write_id(sub);
  pattern(b, id, off, len);
  logop(w, id, off, len, "write 0x%" PRIx64 "+0x%" PRIx64, off, len);
  ssize_t n = lbd_write(im->h, off, len, b);
  if (n != (ssize_t)len)
    die("write %s 0x%" PRIx64 "+0x%" PRIx64 ": %zd (%s)", im->tag, off, len,
        n, lbd_last_error());
  memcpy(im->m.head + off, b, len);
  free(b);
}

static void do_zero(int w, uint64_t off, uint64_t len, bool discard)
{
  struct img *im = &I[w];
  const char *what = discard ? "discard" : "write_zeroes";
  logop(w, 0, off, len, "%s 0x%" PRIx64 "+0x%" PRIx64, what, off, len);
  int r = discard ? lbd_discard(im->h, off, len)
                  : lbd_write_zeroes(im->h, off, len);
  OK(r, "%s %s 0x%" PRIx64 "+0x%" PRIx64, what, im->tag, off, len);
  memset(im->m.head + off, 0, len);
}

static void do_read(int w, uint64_t off, uint64_t len)
{
  logop(w, 0, off, len ? len : 1, "read 0x%" PRIx64 "+0x%" PRIx64, off, len);
  check_handle(w, NULL, I[w].h, I[w].m.head, I[w].m.size, off, len);
}

/* One random IO on W: the bulk of the mix. */
static void random_io(int w, uint64_t sub)
{
  struct img *im = &I[w];
  uint64_t off, len;
  random_extent(w, im->m.size, &off, &len);
  unsigned k = (unsigned)rnd(100);
  if (k < 35) {
    if (chance(3)) { /* past the end: a short read */
      off = im->m.size - (len < im->m.size ? len : im->m.size) / 2;
      len += rnd(64 * KiB);
    }
    do_read(w, off, len);
  } else if (k < 75) {
    if (chance(2)) { /* past the end: refused, nothing written */
      uint64_t o = im->m.size - rnd(len < im->m.size ? len : 1);
      uint64_t l = im->m.size - o + 1 + rnd(8 * KiB);
      uint8_t *b = calloc(1, l);
      logop(w, 0, o, l, "write past the end 0x%" PRIx64 "+0x%" PRIx64
            " (refused)", o, l);
      ssize_t n = lbd_write(im->h, o, l, b);
      free(b);
      if (n >= 0)
        die("a write past the end of %s (0x%" PRIx64 "+0x%" PRIx64
            ", size 0x%" PRIx64 ") returned %zd", im->tag, o, l, im->m.size, n);
      return;
    }
    do_write(w, off, len, sub);
  } else if (k < 85) {
    do_zero(w, off, len, true);
  } else if (k < 95) {
    do_zero(w, off, len, false);
  } else {
    logop(w, 0, 0, 1, "flush");
    OK(lbd_flush(im->h), "flush %s", im->tag);
  }
}

static void op_ro_read(void)
{
  struct img *im = &I[MAIN];
  if (ro && ro_size != im->m.size && !bug_rosize) {
    logop(MAIN, 0, 0, 0, "reopen the read-only handle (known bug rosize)");
    ro_close();
  }
  if (!ro) {
    ro_size = im->m.size;
    logop(MAIN, 0, 0, 0, "open a second, read-only handle");
    OK(lbd_open(pio(im->pool), im->name, NULL, LBD_OPEN_READ_ONLY, &ro),
       "open %s read-only", im->name);
  }
  uint64_t off, len;
  random_extent(MAIN, im->m.size, &off, &len);
  logop(MAIN, 0, off, len ? len : 1, "read (read-only handle) 0x%" PRIx64
        "+0x%" PRIx64, off, len);
  if (chance(20))
    check_size(MAIN, ro, im->m.size, NULL);
  check_handle(MAIN, "(read-only handle)", ro, im->m.head, im->m.size, off,
               len);
}

/* ---- resize and snapshots ------------------------------------------------ */

static void op_resize(int w)
{
  struct img *im = &I[w];
  uint64_t size;
  if (chance(50))
    size = 1 + rnd(opt_maxsize);
  else if (chance(50))
    size = im->m.size + 1 + rnd(opt_maxsize / 4); /* grow a little */
  else
    size = im->m.size > 1 ? 1 + rnd(im->m.size - 1) : 1; /* shrink */
  if (size > opt_maxsize)
    size = opt_maxsize;
  if (chance(60))
    size = (size + 511) / 512 * 512;
  logop(w, 0, 0, 0, "resize 0x%" PRIx64 " -> 0x%" PRIx64, im->m.size, size);
  OK(lbd_resize(im->h, size), "resize %s to %" PRIu64, im->tag, size);
  model_resize(&im->m, size);
  if (chance(30))
    check_size(w, im->h, size, NULL);
}

static void op_snap_create(int w)
{
  struct img *im = &I[w];
  if (im->m.n == MAXSNAP)
    return;
  struct snapm *s = &im->m.s[im->m.n];
  snprintf(s->name, sizeof s->name, "s%u", ++snap_seq);
  logop(w, 0, 0, 0, "snap create %s (size 0x%" PRIx64 ")", s->name,
        im->m.size);
  OK(lbd_snap_create(im->h, s->name), "snap create %s@%s", im->tag, s->name);
  s->size = im->m.size;
  s->data = xdup(im->m.head, im->m.size);
  s->prot = false;
  im->m.n++;
}

static void snap_drop(struct model *m, int i)
{
  free(m->s[i].data);
  memmove(&m->s[i], &m->s[i + 1], (size_t)(m->n - i - 1) * sizeof m->s[0]);
  m->n--;
}

static bool snap_has_clone(int w, int i)
{
  return w == MAIN && I[CLONE].exists && clone_linked &&
         strcmp(clone_parent_snap, I[MAIN].m.s[i].name) == 0;
}

static void op_snap_remove(int w)
{
  struct img *im = &I[w];
  if (!im->m.n)
    return;
  int i = (int)rnd((uint64_t)im->m.n);
  struct snapm *s = &im->m.s[i];
  if (s->prot) {
    logop(w, 0, 0, 0, "snap remove %s (protected: refused)", s->name);
    int r = lbd_snap_remove(im->h, s->name);
    if (r != -EBUSY)
      die("snap remove of protected %s@%s: %d (%s), want EBUSY", im->tag,
          s->name, r, lbd_last_error());
    if (mig || chance(50))
      return;
    r = lbd_snap_unprotect(im->h, s->name);
    logop(w, 0, 0, 0, "snap unprotect %s%s", s->name,
          snap_has_clone(w, i) ? " (has a clone: refused)" : "");
    if (snap_has_clone(w, i)) {
      if (r != -EBUSY)
        die("unprotect of %s@%s with a clone: %d (%s), want EBUSY", im->tag,
            s->name, r, lbd_last_error());
      return;
    }
    OK(r, "snap unprotect %s@%s", im->tag, s->name);
    s->prot = false;
  }
  logop(w, 0, 0, 0, "snap remove %s", s->name);
  OK(lbd_snap_remove(im->h, s->name), "snap remove %s@%s", im->tag, s->name);
  snap_drop(&im->m, i);
}

static void op_snap_protect(int w)
{
  struct img *im = &I[w];
  if (!im->m.n)
    return;
  int i = (int)rnd((uint64_t)im->m.n);
  struct snapm *s = &im->m.s[i];
  if (!s->prot) {
    logop(w, 0, 0, 0, "snap protect %s", s->name);
    OK(lbd_snap_protect(im->h, s->name), "snap protect %s", s->name);
    s->prot = true;
  } else if (!snap_has_clone(w, i)) {
    logop(w, 0, 0, 0, "snap unprotect %s", s->name);
    OK(lbd_snap_unprotect(im->h, s->name), "snap unprotect %s", s->name);
    s->prot = false;
  }
}

/* ---- children: kill -9 at a point the seed chooses ---------------------- */

struct kill_at {
  uint64_t calls, k;
};

static int kill_progress(uint64_t done, uint64_t total, void *arg)
{
  struct kill_at *ka = arg;
  (void)done, (void)total;
  if (++ka->calls >= ka->k)
    kill(getpid(), SIGKILL);
  return 0;
}

/* Seconds: a child that takes longer hangs ($LBD_FSX_DEADLINE). */
static int CHILD_DEADLINE = 60;

/* Wait for child PID; kill it (and fail) past the deadline. */
static int child_wait(pid_t pid, const char *what)
{
  double t0 = now();
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    if (r < 0 && errno != EINTR)
      die("waitpid: %s", strerror(errno));
    if (now() - t0 > CHILD_DEADLINE) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      die("the child (%s) hangs: no end after %d s", what, CHILD_DEADLINE);
    }
    usleep(2000);
  }
}

/* Fork a child that runs FN; wait for it; it must die by SIGKILL or exit
 * 0 (then it finished before its kill point).  Everything is closed around
 * it and opened again after. */
static bool run_child_reopen(void (*fn)(void *), void *arg,
                             const char *what, bool reopen)
{
  fflush(stdout);
  fflush(stderr);
  env_close();
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    fn(arg);
    _exit(0);
  }
  int status = child_wait(pid, what);
  env_open(reopen);
  bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
    die("the child (%s) failed: status 0x%x", what, status);
  return killed;
}

static bool run_child(void (*fn)(void *), void *arg, const char *what)
{
  return run_child_reopen(fn, arg, what, true);
}

static lbd_image_t *child_open(int w)
{
  lbd_image_t *h;
  if (lbd_cluster_open(dir, false, &cl) < 0 ||
      lbd_ioctx_create(cl, pools[I[w].pool].name, NULL,
                       &pools[I[w].pool].io) < 0 ||
      lbd_open(pools[I[w].pool].io, I[w].name, NULL, 0, &h) < 0) {
    fprintf(stderr, "lbd-fsx child: %s\n", lbd_last_error());
    _exit(3);
  }
  return h;
}

struct rollback_child {
  int w;
  const char *snap;
  struct kill_at ka;
};

static void rollback_child_main(void *arg)
{
  struct rollback_child *c = arg;
  lbd_image_t *h = child_open(c->w);
  if (lbd_snap_rollback(h, c->snap, kill_progress, &c->ka) < 0) {
    fprintf(stderr, "lbd-fsx child: %s\n", lbd_last_error());
    _exit(3);
  }
}

static void op_rollback(int w)
{
  struct img *im = &I[w];
  if (!im->m.n)
    return;
  int i = (int)rnd((uint64_t)im->m.n);
  struct snapm *s = &im->m.s[i];
  if (!no_kill && chance(25)) {
    struct rollback_child c = {w, s->name, {0, 1 + rnd(8)}};
    logop(w, 0, 0, 0, "snap rollback %s, killed after %" PRIu64
          " progress calls", s->name, c.ka.k);
    bool killed = run_child(rollback_child_main, &c, "rollback");
    img_open(MAIN);
    img_open(CLONE);
    logop(w, 0, 0, 0, "snap rollback %s again (child %s)", s->name,
          killed ? "killed" : "finished");
  } else {
    logop(w, 0, 0, 0, "snap rollback %s", s->name);
  }
  OK(lbd_snap_rollback(im->h, s->name, NULL, NULL), "rollback %s@%s",
     im->tag, s->name);
  free(im->m.head);
  im->m.head = xdup(s->data, s->size);
  im->m.size = s->size;
}

static void op_snap_read(int w)
{
  struct img *im = &I[w];
  if (!im->m.n)
    return;
  int i = (int)rnd((uint64_t)im->m.n);
  uint64_t off, len;
  random_extent(w, im->m.s[i].size, &off, &len);
  logop(w, 0, off, len ? len : 1, "read @%s 0x%" PRIx64 "+0x%" PRIx64,
        im->m.s[i].name, off, len);
  check_snap(w, i, off, len, false);
}

/* ---- close and reopen ------------------------------------------------------ */

static void op_reopen(void)
{
  if (chance(30)) {
    logop(-1, 0, 0, 0, "close and reopen the cluster and the images");
    env_close();
    env_open(true);
  } else {
    logop(-1, 0, 0, 0, "close and reopen the images");
    img_close(CLONE);
    img_close(MAIN);
    img_open(MAIN);
    img_open(CLONE);
  }
}

/* ---- kill -9 of a writer ---------------------------------------------------- */

struct wentry {
  uint64_t off, len, id;
};

struct writer_child {
  int w;
  struct wentry *e;
  unsigned n, qd, k;
  bool use_aio; /* lbd aio, else QD threads of synchronous writes */
  int fd;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned inflight, acked;
};

struct wop {
  struct writer_child *c;
  unsigned i;
  uint8_t *buf;
};

static void writer_done(lbd_completion_t *comp, void *arg)
{
  struct wop *op = arg;
  struct writer_child *c = op->c;
  ssize_t r = lbd_aio_get_return_value(comp);
  pthread_mutex_lock(&c->mu);
  if (r != (ssize_t)c->e[op->i].len) {
    uint32_t bad = UINT32_MAX;
    if (write(c->fd, &bad, sizeof bad) < 0)
      _exit(4);
    _exit(5);
  }
  uint32_t i = op->i;
  if (write(c->fd, &i, sizeof i) != sizeof i) /* acknowledged */
    _exit(4);
  if (++c->acked >= c->k)
    kill(getpid(), SIGKILL);
  c->inflight--;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
  lbd_aio_release(comp);
}

/* Thread mode: QD threads take the writes in turn, synchronous calls. */
struct wthread {
  struct writer_child *c;
  lbd_image_t *h;
  struct wop *ops;
  unsigned next;
};

static void *wthread_main(void *arg)
{
  struct wthread *t = arg;
  struct writer_child *c = t->c;
  for (;;) {
    pthread_mutex_lock(&c->mu);
    unsigned i = t->next++;
    pthread_mutex_unlock(&c->mu);
    if (i >= c->n)
      return NULL;
    ssize_t r = lbd_write(t->h, c->e[i].off, c->e[i].len, t->ops[i].buf);
    pthread_mutex_lock(&c->mu);
    uint32_t v = r == (ssize_t)c->e[i].len ? i : UINT32_MAX;
    if (write(c->fd, &v, sizeof v) != sizeof v || v == UINT32_MAX)
      _exit(4);
    if (++c->acked >= c->k)
      kill(getpid(), SIGKILL);
    pthread_mutex_unlock(&c->mu);
  }
}

static void writer_child_main(void *arg)
{
  struct writer_child *c = arg;
  lbd_image_t *h = child_open(c->w);
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  struct wop *ops = calloc(c->n, sizeof *ops);
  for (unsigned i = 0; i < c->n; i++) {
    ops[i].c = c;
    ops[i].i = i;
    ops[i].buf = malloc(c->e[i].len);
    pattern(ops[i].buf, c->e[i].id, c->e[i].off, c->e[i].len);
  }
  if (!c->use_aio) {
    struct wthread t = {c, h, ops, 0};
    pthread_t tids[16];
    for (unsigned i = 0; i < c->qd; i++)
      if (pthread_create(&tids[i], NULL, wthread_main, &t) != 0)
        _exit(7);
    for (unsigned i = 0; i < c->qd; i++)
      pthread_join(tids[i], NULL);
    kill(getpid(), SIGKILL);
  }
  for (unsigned i = 0; i < c->n; i++) {
    pthread_mutex_lock(&c->mu);
    while (c->inflight >= c->qd)
      pthread_cond_wait(&c->cv, &c->mu);
    c->inflight++;
    pthread_mutex_unlock(&c->mu);
    lbd_completion_t *comp;
    if (lbd_aio_create_completion(writer_done, &ops[i], &comp) < 0 ||
        lbd_aio_write(h, c->e[i].off, c->e[i].len, ops[i].buf, comp) < 0)
      _exit(6);
  }
  pthread_mutex_lock(&c->mu);
  while (c->inflight)
    pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
  kill(getpid(), SIGKILL); /* with everything acknowledged */
}

static void op_kill_writer(int w)
{
  struct img *im = &I[w];
  struct writer_child c = {.w = w};
  c.n = 2 + (unsigned)rnd(30);
  c.qd = 1 + (unsigned)rnd(12);
  c.use_aio = chance(50);
  if (c.use_aio && parent_used_aio && !bug_aiofork)
    c.use_aio = false; /* known bug "aiofork" (-B aiofork) */
  c.k = (unsigned)rnd(c.n + 1);
  if (c.k == 0)
    c.k = 1;
  c.e = calloc(c.n, sizeof *c.e);
  unsigned n = 0;
  for (unsigned tries = 0; n < c.n && tries < 20 * c.n; tries++) {
    uint64_t off, len;
    random_extent(w, im->m.size, &off, &len);
    if (len > MiB)
      len = MiB;
    bool overlap = false; /* writes in flight together have no order */
    for (unsigned j = 0; j < n && !overlap; j++)
      overlap = off < c.e[j].off + c.e[j].len && c.e[j].off < off + len;
    if (!overlap && len)
      c.e[n++] = (struct wentry){off, len, write_id(1 + n)};
  }
  c.n = n;
  if (c.k > n)
    c.k = n;
  if (!n) {
    free(c.e);
    return;
  }
  logop(w, 0, 0, 0, "kill -9 of a writer (%s): %u writes, %u in flight, "
        "killed after %u acknowledged", c.use_aio ? "lbd aio" : "threads", n,
        c.qd, c.k);
  for (unsigned i = 0; i < n; i++)
    logop(w, c.e[i].id, c.e[i].off, c.e[i].len,
          "  (child) aio write 0x%" PRIx64 "+0x%" PRIx64, c.e[i].off,
          c.e[i].len);
  int fds[2];
  if (pipe(fds) < 0)
    die("pipe: %s", strerror(errno));
  fflush(stdout);
  env_close();
  pid_t pid = fork();
  if (pid < 0)
    die("fork: %s", strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    c.fd = fds[1];
    writer_child_main(&c);
    _exit(0);
  }
  close(fds[1]);
  bool *acked = calloc(n, sizeof *acked);
  uint32_t i;
  ssize_t got;
  unsigned nacked = 0;
  for (;;) {
    struct pollfd pfd = {fds[0], POLLIN, 0};
    int pr = poll(&pfd, 1, CHILD_DEADLINE * 1000);
    if (pr == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      die("the writer child (%s) hangs: %u of %u writes acknowledged, "
          "nothing for %d s", c.use_aio ? "lbd aio" : "threads", nacked, n,
          CHILD_DEADLINE);
    }
    if (pr < 0 && errno == EINTR)
      continue;
    if ((got = read(fds[0], &i, sizeof i)) != sizeof i)
      break;
    if (i >= n)
      die("the writer child reports a failed write");
    acked[i] = true;
    nacked++;
  }
  close(fds[0]);
  int status = child_wait(pid, "writer");
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
    die("the writer child failed: status 0x%x", status);
  env_open(true);
  logop(w, 0, 0, 0, "after the kill: %u of %u writes acknowledged", nacked, n);
  /* Acknowledged: new.  Not: each block old or new. */
  struct lbd_image_info info;
  OK(lbd_stat(im->h, &info), "stat");
  uint64_t blk = info.stripe_unit < 4096 ? info.stripe_unit : 4096;
  for (unsigned j = 0; j < n; j++) {
    struct wentry *e = &c.e[j];
    uint8_t *nb = malloc(e->len);
    pattern(nb, e->id, e->off, e->len);
    if (acked[j]) {
      memcpy(im->m.head + e->off, nb, e->len);
      free(nb);
      continue;
    }
    uint8_t *b = readbuf(e->len);
    ssize_t r = lbd_read(im->h, e->off, e->len, b);
    if (r != (ssize_t)e->len)
      die("read after the kill: %zd (%s)", r, lbd_last_error());
    for (uint64_t o = e->off; o < e->off + e->len;) {
      uint64_t end = (o / blk + 1) * blk;
      if (end > e->off + e->len)
        end = e->off + e->len;
      uint64_t k = o - e->off;
      if (memcmp(b + k, nb + k, end - o) == 0)
        memcpy(im->m.head + o, nb + k, end - o);
      else if (memcmp(b + k, im->m.head + o, end - o) != 0) {
        fprintf(stderr, "unacknowledged write %u (0x%" PRIx64 "+0x%" PRIx64
                ") left a block that is neither old nor new:\n", j, e->off,
                e->len);
        mismatch(w, NULL, o, b + k, im->m.head + o, end - o);
      }
      o = end;
    }
    free(nb);
  }
  free(acked);
  free(c.e);
  check_all(w);
}

/* ---- clones ------------------------------------------------------------------ */

static void op_clone_create(void)
{
  struct img *p = &I[MAIN], *c = &I[CLONE];
  if (c->exists || !p->m.n || mig)
    return;
  int i = (int)rnd((uint64_t)p->m.n);
  struct snapm *s = &p->m.s[i];
  if (!s->prot) {
    logop(MAIN, 0, 0, 0, "snap protect %s", s->name);
    OK(lbd_snap_protect(p->h, s->name), "protect %s", s->name);
    s->prot = true;
  }
  struct lbd_image_options o;
  c->pool = (int)rnd(NPOOLS);
  pool_ensure(c->pool);
  random_layout(&o, c->desc, sizeof c->desc, c->pool);
  o.features |= o.features ? LBD_FEATURE_LAYERING | LBD_FEATURE_DEEP_FLATTEN
                           : 0;
  snprintf(c->name, sizeof c->name, "fsxc%u", ++name_seq);
  logop(-1, 0, 0, 0, "clone %s@%s -> %s/%s (%s)", p->name, s->name,
        pools[c->pool].name, c->name, c->desc);
  OK(lbd_clone(pio(p->pool), p->name, s->name, pio(c->pool), c->name, &o),
     "clone %s@%s", p->name, s->name);
  c->exists = true;
  clone_linked = true;
  snprintf(clone_parent_snap, sizeof clone_parent_snap, "%s", s->name);
  c->m.size = s->size;
  c->m.head = xdup(s->data, s->size);
  c->m.n = 0;
  img_open(CLONE);
  if (chance(30))
    check_all(CLONE);
}

struct flatten_child {
  struct kill_at ka;
};

static void flatten_child_main(void *arg)
{
  struct flatten_child *f = arg;
  lbd_image_t *h = child_open(CLONE);
  if (lbd_flatten(h, kill_progress, &f->ka) < 0) {
    fprintf(stderr, "lbd-fsx child: %s\n", lbd_last_error());
    _exit(3);
  }
}

static void op_flatten(void)
{
  struct img *c = &I[CLONE];
  if (!c->exists || !clone_linked || (mig && mig_w == CLONE))
    return;
  if (!no_kill && chance(30)) {
    struct flatten_child f = {{0, 1 + rnd(6)}};
    logop(CLONE, 0, 0, 0, "flatten, killed after %" PRIu64 " progress calls",
          f.ka.k);
    bool killed = run_child(flatten_child_main, &f, "flatten");
    img_open(MAIN);
    img_open(CLONE);
    if (!killed) {
      logop(CLONE, 0, 0, 0, "(the flatten child finished)");
      clone_linked = false;
      check_all(CLONE);
      return;
    }
    if (chance(30))
      check_all(CLONE);
  }
  logop(CLONE, 0, 0, 0, "flatten");
  OK(lbd_flatten(c->h, NULL, NULL), "flatten %s", c->name);
  clone_linked = false;
  if (chance(50))
    check_all(CLONE);
}

static void op_clone_remove(void)
{
  struct img *c = &I[CLONE];
  if (!c->exists || (mig && mig_w == CLONE))
    return;
  check_all(CLONE);
  logop(-1, 0, 0, 0, "remove the clone %s (%d snapshots)", c->name, c->m.n);
  while (c->m.n) {
    if (c->m.s[0].prot)
      OK(lbd_snap_unprotect(c->h, c->m.s[0].name), "unprotect");
    OK(lbd_snap_remove(c->h, c->m.s[0].name), "snap remove %s",
       c->m.s[0].name);
    snap_drop(&c->m, 0);
  }
  img_close(CLONE);
  OK(lbd_remove(pio(c->pool), c->name), "remove %s", c->name);
  model_free(&c->m);
  c->exists = false;
  clone_linked = false;
}

/* ---- migration -------------------------------------------------------------- */

static void saved_free(void)
{
  for (int i = 0; i < mig_nsaved; i++)
    free(mig_saved[i].data);
  mig_nsaved = 0;
}

static void op_mig_prepare(void)
{
  /* the image, or the clone (which keeps its parent link unless
   * flattened: then execute copies the parent's data in) */
  mig_w = I[CLONE].exists && chance(40) ? CLONE : MAIN;
  struct img *im = &I[mig_w];
  if (mig_w == MAIN && I[CLONE].exists && clone_linked) {
    /* refused: the source is the parent of a clone; nothing changes */
    img_close(mig_w);
    logop(-1, 0, 0, 0, "migration prepare of the parent of a clone "
          "(refused)");
    pool_ensure(1);
    struct lbd_image_options o = {0};
    int r = lbd_migration_prepare(pio(im->pool), im->name, pio(1), "fsxm", &o,
                                  false);
    if (r >= 0)
      die("migration prepare of the parent of a clone succeeded");
    img_open(mig_w);
    check_all(mig_w);
    return;
  }
  int dp = (int)rnd(NPOOLS);
  pool_ensure(dp);
  char dst[64];
  if (dp != im->pool && chance(50))
    snprintf(dst, sizeof dst, "%s", im->name);
  else
    snprintf(dst, sizeof dst, "fsx%u", ++name_seq);
  struct lbd_image_options o;
  char desc[160];
  random_layout(&o, desc, sizeof desc, dp);
  if (chance(20)) { /* the source's layout */
    memset(&o, 0, sizeof o);
    snprintf(desc, sizeof desc, "the source's layout");
  } else if (chance(15)) { /* a new object size alone */
    uint64_t os = o.object_size;
    memset(&o, 0, sizeof o);
    o.object_size = os;
    snprintf(desc, sizeof desc, "object %" PRIu64 "K only", os / KiB);
  }
  /* Zero fields are the source's: an object size that its stripe unit
   * does not divide is refused (EINVAL, as rbd), with nothing changed. */
  struct lbd_image_info info;
  OK(lbd_stat(im->h, &info), "stat");
  uint64_t os = o.object_size ? o.object_size : info.object_size;
  uint64_t su = o.stripe_unit ? o.stripe_unit : info.stripe_unit;
  /* a new object size carries the source's stripe unit along when that
   * is the source's object size */
  if (o.object_size && !o.stripe_unit && info.stripe_unit == info.object_size)
    su = os;
  bool invalid = os % su != 0;
  img_close(mig_w);
  mig_flatten = mig_w == CLONE && clone_linked && chance(30);
  logop(-1, 0, 0, 0, "migration prepare %s/%s -> %s/%s (%s)%s%s",
        pools[im->pool].name, im->name, pools[dp].name, dst, desc,
        mig_flatten ? ", flatten" : "",
        invalid ? " (an invalid layout: refused)" : "");
  int r = lbd_migration_prepare(pio(im->pool), im->name, pio(dp), dst, &o,
                                mig_flatten);
  if (invalid) {
    if (r != -EINVAL)
      die("migration prepare with object size %" PRIu64 " and stripe unit "
          "%" PRIu64 ": %d (%s), want EINVAL", os, su, r, lbd_last_error());
    img_open(mig_w);
    check_all(mig_w);
    return;
  }
  OK(r, "migration prepare %s/%s -> %s/%s", pools[im->pool].name, im->name,
     pools[dp].name, dst);
  mig = 1;
  mig_src_pool = im->pool;
  snprintf(mig_src_name, sizeof mig_src_name, "%s", im->name);
  saved_free();
  for (int i = 0; i < im->m.n; i++) {
    mig_saved[i] = im->m.s[i];
    mig_saved[i].data = xdup(im->m.s[i].data, im->m.s[i].size);
  }
  mig_nsaved = im->m.n;
  im->pool = dp;
  snprintf(im->name, sizeof im->name, "%s", dst);
  snprintf(im->desc, sizeof im->desc, "%s", desc);
  img_open(mig_w);
  if (chance(30))
    check_all(mig_w);
}

/* The name a migration command is given: the target's or the source's. */
static void mig_name(lbd_ioctx_t **io, const char **name)
{
  if (chance(70)) {
    *io = pio(I[mig_w].pool);
    *name = I[mig_w].name;
  } else {
    *io = pio(mig_src_pool);
    *name = mig_src_name;
  }
}

static int pool_of(lbd_ioctx_t *io)
{
  for (int p = 0; p < NPOOLS; p++)
    if (pools[p].io == io)
      return p;
  die("no pool for an ioctx");
}

struct exec_child {
  struct kill_at ka;
  unsigned threads;
};

static void exec_child_main(void *arg)
{
  struct exec_child *x = arg;
  if (lbd_cluster_open(dir, false, &cl) < 0 ||
      lbd_ioctx_create(cl, pools[I[mig_w].pool].name, NULL,
                       &pools[I[mig_w].pool].io) < 0 ||
      lbd_migration_execute(pools[I[mig_w].pool].io, I[mig_w].name, x->threads,
                            kill_progress, &x->ka) < 0) {
    fprintf(stderr, "lbd-fsx child: %s\n", lbd_last_error());
    _exit(3);
  }
}

/* Client IO on the target from execute's progress callback. */
struct cbio {
  pthread_mutex_t mu;
  unsigned pct;
  uint64_t sub;
};

static int cbio_progress(uint64_t done, uint64_t total, void *arg)
{
  struct cbio *c = arg;
  (void)done, (void)total;
  pthread_mutex_lock(&c->mu);
  if (chance(c->pct))
    random_io(mig_w, ++c->sub);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

static void op_mig_execute(void)
{
  if (!no_kill && chance(30)) {
    struct exec_child x = {{0, 1 + rnd(12)}, 1 + (unsigned)rnd(4)};
    logop(-1, 0, 0, 0, "migration execute (%u threads), killed after %" PRIu64
          " progress calls", x.threads, x.ka.k);
    bool killed = run_child(exec_child_main, &x, "execute");
    img_open(mig_w);
    if (!killed) {
      logop(-1, 0, 0, 0, "(the execute child finished)");
      mig = 2;
      return;
    }
    if (chance(40))
      return; /* run again later, after more client IO */
  }
  lbd_ioctx_t *io;
  const char *name;
  mig_name(&io, &name);
  unsigned threads = 1 + (unsigned)rnd(4);
  if (!no_cbio && chance(60)) {
    struct cbio c = {PTHREAD_MUTEX_INITIALIZER, 20 + (unsigned)rnd(60), 0};
    logop(-1, 0, 0, 0, "migration execute %s (%u threads) with client IO "
          "from its progress callback (%u%%)", name, threads, c.pct);
    OK(lbd_migration_execute(io, name, threads, cbio_progress, &c),
       "migration execute %s", name);
  } else {
    logop(-1, 0, 0, 0, "migration execute %s (%u threads)", name, threads);
    OK(lbd_migration_execute(io, name, threads, NULL, NULL),
       "migration execute %s", name);
  }
  mig = 2;
  if (chance(30))
    check_all(mig_w);
}

struct finish_child {
  struct kill_at ka;
  bool commit;
  int pool;
  const char *name;
};

static void finish_child_main(void *arg)
{
  struct finish_child *f = arg;
  lbd_ioctx_t *io;
  if (lbd_cluster_open(dir, false, &cl) < 0 ||
      lbd_ioctx_create(cl, pools[f->pool].name, NULL, &io) < 0 ||
      (f->commit ? lbd_migration_commit(io, f->name, kill_progress, &f->ka)
                 : lbd_migration_abort(io, f->name, kill_progress, &f->ka)) <
          0) {
    fprintf(stderr, "lbd-fsx child: %s\n", lbd_last_error());
    _exit(3);
  }
}

/* Sometimes: run the commit or abort in a child killed after K progress
 * calls first (the parent then runs it again).  False if the child
 * finished it. */
static bool finish_killed_first(bool commit, lbd_ioctx_t *io,
                                const char *name)
{
  if (no_kill || !chance(25))
    return true;
  int pool = pool_of(io);
  /* commit calls progress twice, the second time when it is done */
  struct finish_child f = {{0, commit ? 1 : 1 + rnd(10)}, commit, pool,
                           name};
  logop(-1, 0, 0, 0, "migration %s %s in a child killed after %" PRIu64
        " progress calls", commit ? "commit" : "abort", name, f.ka.k);
  bool killed = run_child_reopen(finish_child_main, &f,
                                 commit ? "commit" : "abort", false);
  if (!killed)
    logop(-1, 0, 0, 0, "(the child finished)");
  return killed;
}

static void op_mig_finish(void)
{
  struct img *im = &I[mig_w];
  lbd_ioctx_t *io;
  const char *name;
  if (mig == 2 && chance(65)) {
    bool open = chance(50);
    if (open && mig_w == CLONE && !bug_clonecommit)
      open = false; /* known bug "clonecommit" (-B clonecommit) */
    if (!open)
      img_close(mig_w);
    mig_name(&io, &name);
    bool again = true;
    if (!open) {
      int p = pool_of(io);
      again = finish_killed_first(true, io, name);
      io = pio(p); /* (the cluster was opened again) */
      if (again && name == mig_src_name && !bug_resumename) {
        io = pio(I[mig_w].pool); /* known bug "resumename" */
        name = I[mig_w].name;
      }
    }
    int r = 0;
    if (again) {
      logop(-1, 0, 0, 0, "migration commit %s%s", name,
            open ? " (target open)" : "");
      r = lbd_migration_commit(io, name, NULL, NULL);
    }
    if (open && r == -EBUSY) {
      /* lbd refuses while the target (which holds the source open) is
       * open here; rbd would not */
      logop(-1, 0, 0, 0, "migration commit refused while the target is "
            "open: close it, commit again");
      img_close(mig_w);
      open = false;
      r = lbd_migration_commit(io, name, NULL, NULL);
    }
    OK(r, "migration commit %s", name);
    saved_free();
    mig = 0;
    if (mig_w == CLONE && mig_flatten)
      clone_linked = false;
    if (open && chance(50)) {
      /* the open handle reads on */
      for (int k = 0; k < 4; k++)
        random_io(mig_w, 100 + (uint64_t)k);
      img_close(mig_w);
    }
    img_close(mig_w);
    img_open(MAIN);
    img_open(CLONE);
    check_all(mig_w);
    return;
  }
  img_close(mig_w);
  mig_name(&io, &name);
  int p = pool_of(io);
  if (finish_killed_first(false, io, name)) {
    io = pio(p);
    logop(-1, 0, 0, 0, "migration abort %s (back to %s/%s)", name,
          pools[mig_src_pool].name, mig_src_name);
    OK(lbd_migration_abort(io, name, NULL, NULL), "migration abort %s", name);
  }
  /* the head as clients left it; the source's snapshots as before */
  for (int i = 0; i < im->m.n; i++)
    free(im->m.s[i].data);
  memcpy(im->m.s, mig_saved, sizeof mig_saved);
  im->m.n = mig_nsaved;
  mig_nsaved = 0;
  im->pool = mig_src_pool;
  snprintf(im->name, sizeof im->name, "%s", mig_src_name);
  mig = 0;
  img_open(MAIN);
  img_open(CLONE);
  check_all(mig_w);
}

/* ---- import-only sources (off: lbd_migration_prepare_import is not
 * there yet).  Build with -DLBD_FSX_IMPORT=ON and run with -i to add an op
 * that writes the image's head to a raw file, prepares an import of it as
 * a new image, does client IO on it, executes, then commits or aborts,
 * checking every byte. ---------------------------------------------------- */

#ifdef LBD_FSX_IMPORT
static void op_import(void)
{
  struct img *im = &I[MAIN];
  if (mig || I[CLONE].exists)
    return;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s-import.raw", dir);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(im->m.head, 1, im->m.size, f) != im->m.size || fclose(f))
    die("writing %s: %s", path, strerror(errno));
  char spec[PATH_MAX + 128];
  snprintf(spec, sizeof spec, "{\"type\": \"raw\", \"stream\": {\"type\": "
           "\"file\", \"file_path\": \"%s\"}}", path);
  /* the imported image takes the clone's slot while it lives */
  struct img *c = &I[CLONE];
  c->pool = (int)rnd(NPOOLS);
  pool_ensure(c->pool);
  struct lbd_image_options o;
  random_layout(&o, c->desc, sizeof c->desc, c->pool);
  snprintf(c->name, sizeof c->name, "fsxi%u", ++name_seq);
  logop(-1, 0, 0, 0, "import prepare %s -> %s/%s (%s)", path,
        pools[c->pool].name, c->name, c->desc);
  OK(lbd_migration_prepare_import(spec, pio(c->pool), c->name, &o),
     "import prepare");
  c->exists = true;
  c->m.size = im->m.size;
  c->m.head = xdup(im->m.head, im->m.size);
  img_open(CLONE);
  check_all(CLONE);
  for (int k = 0; k < 20; k++)
    random_io(CLONE, (uint64_t)k);
  logop(CLONE, 0, 0, 0, "import execute");
  OK(lbd_migration_execute(pio(c->pool), c->name, 2, NULL, NULL),
     "import execute");
  check_all(CLONE);
  img_close(CLONE);
  if (chance(50)) {
    logop(CLONE, 0, 0, 0, "import commit, then remove");
    OK(lbd_migration_commit(pio(c->pool), c->name, NULL, NULL),
       "import commit");
    img_open(CLONE);
    check_all(CLONE);
    img_close(CLONE);
    OK(lbd_remove(pio(c->pool), c->name), "remove the import");
  } else {
    logop(CLONE, 0, 0, 0, "import abort");
    OK(lbd_migration_abort(pio(c->pool), c->name, NULL, NULL),
       "import abort");
  }
  model_free(&c->m);
  c->exists = false;
  unlink(path);
  check_all(MAIN);
}
#endif

/* ---- diff, copy, export format 2 ------------------------------------------ */

struct diffcheck {
  uint8_t *covered; /* one byte per image byte: 1 data, 2 zero */
  uint64_t size;
  bool overlap_bad;
  uint64_t last_end;
};

static int diff_cb(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct diffcheck *d = arg;
  if (off < d->last_end)
    d->overlap_bad = true;
  d->last_end = off + len;
  for (uint64_t i = off; i < off + len && i < d->size; i++)
    d->covered[i] = exists ? 1 : 2;
  return 0;
}

/* lbd_diff_iterate from a snapshot (or the beginning) to the head: every
 * byte that differs must be in an extent, and a "zero" extent must read as
 * zeroes. */
static void op_diff(int w)
{
  struct img *im = &I[w];
  int i = im->m.n && chance(70) ? (int)rnd((uint64_t)im->m.n) : -1;
  bool whole = chance(30);
  if (i >= 0 && mig && w == mig_w && !bug_diffmig)
    return; /* known bug "diffmig" (-B diffmig) */
  /* the beginning of a clone (with its parent) or a migration target is
   * the parent's data: compare with zeroes */
  const uint8_t *from = i >= 0 ? im->m.s[i].data : NULL;
  uint64_t from_size = i >= 0 ? im->m.s[i].size : 0;
  logop(w, 0, 0, 0, "diff from %s to the head%s", i >= 0 ? im->m.s[i].name
        : "the beginning", whole ? " (whole objects)" : "");
  struct diffcheck d = {calloc(1, im->m.size ? im->m.size : 1), im->m.size,
                        false, 0};
  OK(lbd_diff_iterate(im->h, i >= 0 ? im->m.s[i].name : NULL, 0, im->m.size,
                      true, whole, diff_cb, &d),
     "diff %s", im->tag);
  if (d.overlap_bad)
    die("diff of %s: extents out of order or overlapping", im->tag);
  for (uint64_t x = 0; x < im->m.size; x++) {
    uint8_t old = from && x < from_size ? from[x] : 0;
    uint8_t cur = im->m.head[x];
    if ((old != cur && !d.covered[x]) || (d.covered[x] == 2 && cur != 0)) {
      uint64_t e = x;
      while (e < im->m.size && e < x + 4096 &&
             ((from && e < from_size ? from[e] : 0) != im->m.head[e] ||
              d.covered[e] == 2) && d.covered[e] != 1)
        e++;
      fprintf(stderr, "diff of %s from %s: byte 0x%" PRIx64 " is %s (0x%02x "
              "then, 0x%02x now)\n", im->tag, i >= 0 ? im->m.s[i].name :
              "the beginning", x, d.covered[x] ? "in a zero extent" :
              "changed but in no extent", old, cur);
      free(d.covered);
      fprintf(stderr, "\nlbd-fsx: FAIL at op %" PRIu64 " (seed %" PRIu64
              "): lbd_diff_iterate of %s misses a change at 0x%" PRIx64
              " (up to 0x%" PRIx64 ")\n", opno, opt_seed, im->tag, x, e);
      print_log(w, x, e > x ? e : x + 1);
      finish_fail();
    }
  }
  free(d.covered);
}

/* lbd_copy into a new image (random pool and layout): the head's bytes. */
static void op_copy(int w)
{
  struct img *im = &I[w];
  bool backing = (w == CLONE && clone_linked) || (mig && w == mig_w);
  int p = (int)rnd(NPOOLS);
  struct lbd_image_options o;
  char desc[160], name[64];
  random_layout(&o, desc, sizeof desc, p);
  if (backing && !bug_copy)
    return; /* known bug "copy" (-B copy), the same randomness consumed */
  pool_ensure(p);
  snprintf(name, sizeof name, "fsxcopy%u", ++name_seq);
  logop(w, 0, 0, 0, "copy to %s/%s (%s)", pools[p].name, name, desc);
  OK(lbd_copy(im->h, pio(p), name, &o), "copy %s", im->tag);
  lbd_image_t *h;
  OK(lbd_open(pio(p), name, NULL, LBD_OPEN_READ_ONLY, &h), "open the copy");
  uint64_t size;
  OK(lbd_get_size(h, &size), "size of the copy");
  if (size != im->m.size)
    die("the copy of %s has size %" PRIu64 ", want %" PRIu64, im->tag, size,
        im->m.size);
  for (uint64_t off = 0; off < size; off += 8 * MiB)
    check_handle(w, "(copy)", h, im->m.head, size, off, 8 * MiB);
  OK(lbd_close(h), "close the copy");
  OK(lbd_remove(pio(p), name), "remove the copy");
}

/* export --export-format 2 to a file, import it as a new image: the head
 * and every snapshot. */
static void op_export_v2(int w)
{
  struct img *im = &I[w];
  char path[PATH_MAX + 32], name[64];
  if (mig && w == mig_w && im->m.n && !bug_diffmig)
    return; /* known bug "diffmig": export v2 writes diffs (-B diffmig) */
  snprintf(path, sizeof path, "%s-export.v2", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    die("open %s: %s", path, strerror(errno));
  int p = (int)rnd(NPOOLS);
  pool_ensure(p);
  snprintf(name, sizeof name, "fsxv2%u", ++name_seq);
  logop(w, 0, 0, 0, "export v2 and import as %s/%s", pools[p].name, name);
  OK(lbd_export_v2(im->h, fd, NULL, NULL), "export v2 of %s", im->tag);
  lseek(fd, 0, SEEK_SET);
  OK(lbd_import_v2(pio(p), name, NULL, fd, NULL, NULL), "import v2");
  close(fd);
  unlink(path);
  /* check it as if it were the image itself */
  struct img saved = *im;
  im->pool = p;
  snprintf(im->name, sizeof im->name, "%s", name);
  im->h = NULL;
  check_all(w); /* protection included: the stream carries it */
  lbd_image_t *h = im->h;
  for (int i = 0; i < im->m.n; i++) {
    if (im->m.s[i].prot)
      OK(lbd_snap_unprotect(h, im->m.s[i].name), "unprotect in the import");
    OK(lbd_snap_remove(h, im->m.s[i].name), "snap remove in the import");
  }
  OK(lbd_close(h), "close the import");
  *im = saved;
  OK(lbd_remove(pio(p), name), "remove the import");
}

/* A burst of asynchronous IO, in flight together (non-overlapping: ops in
 * flight have no order between them). */
struct burst_op {
  int kind; /* 0 read, 1 write, 2 discard, 3 write_zeroes */
  uint64_t off, len, id;
  uint8_t *buf;
  lbd_completion_t *c;
};

static void op_aio_burst(int w)
{
  struct img *im = &I[w];
  unsigned n = 2 + (unsigned)rnd(24), k = 0;
  struct burst_op *b = calloc(n, sizeof *b);
  for (unsigned tries = 0; k < n && tries < 10 * n; tries++) {
    uint64_t off, len;
    random_extent(w, im->m.size, &off, &len);
    bool overlap = !len;
    for (unsigned j = 0; j < k && !overlap; j++)
      overlap = off < b[j].off + b[j].len && b[j].off < off + len;
    if (overlap)
      continue;
    unsigned r = (unsigned)rnd(10);
    b[k] = (struct burst_op){r < 4 ? 0 : r < 8 ? 1 : r < 9 ? 2 : 3, off, len,
                             write_id(200 + k), NULL, NULL};
    k++;
  }
  n = k;
  logop(w, 0, 0, 0, "aio burst of %u ops", n);
  parent_used_aio = true;
  for (unsigned j = 0; j < n; j++) {
    static const char *names[] = {"read", "write", "discard", "write_zeroes"};
    logop(w, b[j].kind == 1 ? b[j].id : 0, b[j].off, b[j].len,
          "  aio %s 0x%" PRIx64 "+0x%" PRIx64, names[b[j].kind], b[j].off,
          b[j].len);
    b[j].buf = malloc(b[j].len);
    if (b[j].kind == 1)
      pattern(b[j].buf, b[j].id, b[j].off, b[j].len);
    OK(lbd_aio_create_completion(NULL, NULL, &b[j].c), "completion");
    int r = b[j].kind == 0 ? lbd_aio_read(im->h, b[j].off, b[j].len, b[j].buf,
                                          b[j].c)
          : b[j].kind == 1 ? lbd_aio_write(im->h, b[j].off, b[j].len,
                                           b[j].buf, b[j].c)
          : b[j].kind == 2 ? lbd_aio_discard(im->h, b[j].off, b[j].len, b[j].c)
          : lbd_aio_write_zeroes(im->h, b[j].off, b[j].len, b[j].c);
    OK(r, "aio submit");
  }
  for (unsigned j = 0; j < n; j++) {
    lbd_aio_wait_for_complete(b[j].c);
    ssize_t r = lbd_aio_get_return_value(b[j].c);
    ssize_t want = b[j].kind < 2 ? (ssize_t)b[j].len : 0;
    if (r != want)
      die("aio op %u of the burst (0x%" PRIx64 "+0x%" PRIx64 "): %zd, want "
          "%zd (%s)", j, b[j].off, b[j].len, r, want,
          lbd_aio_get_error(b[j].c));
    if (b[j].kind == 0 && memcmp(b[j].buf, im->m.head + b[j].off, b[j].len))
      mismatch(w, NULL, b[j].off, b[j].buf, im->m.head + b[j].off, b[j].len);
  }
  for (unsigned j = 0; j < n; j++) {
    if (b[j].kind == 1)
      memcpy(im->m.head + b[j].off, b[j].buf, b[j].len);
    else if (b[j].kind > 1)
      memset(im->m.head + b[j].off, 0, b[j].len);
    lbd_aio_release(b[j].c);
    free(b[j].buf);
  }
  free(b);
}

/* ---- the mix ------------------------------------------------------------------- */

static void one_op(void)
{
  int w = I[CLONE].exists && chance(30) ? CLONE : MAIN;
  unsigned k = (unsigned)rnd(1000);
  if (k < 800) {
    random_io(w, 0);
    return;
  }
  k -= 800; /* 0..199: the rest */
  if (k < 15) {
    if (!no_resize)
      op_resize(w);
  } else if (k < 35) {
    if (!no_snap)
      op_snap_create(w);
  } else if (k < 50) {
    if (!no_snap)
      op_snap_remove(w);
  } else if (k < 60) {
    if (!no_snap)
      op_rollback(w);
  } else if (k < 80) {
    if (!no_snap)
      op_snap_read(w);
  } else if (k < 86) {
    if (!no_snap && w == MAIN && !mig)
      op_snap_protect(w);
  } else if (k < 96) {
    op_reopen();
  } else if (k < 104) {
    if (!no_kill)
      op_kill_writer(w);
  } else if (k < 112) {
    if (!no_clone)
      op_clone_create();
  } else if (k < 118) {
    if (!no_clone)
      op_flatten();
  } else if (k < 123) {
    if (!no_clone)
      op_clone_remove();
  } else if (k < 150) {
    if (no_mig)
      return;
    if (mig == 0 && k < 132)
      op_mig_prepare();
    else if (mig == 1 && k < 140)
      op_mig_execute();
    else if (mig && k >= 140)
      op_mig_finish();
  } else if (k < 160) {
    logop(-1, 0, 0, 0, "check everything");
    check_all(MAIN);
    check_all(CLONE);
  } else if (k < 175) {
    op_aio_burst(w);
  } else if (k < 181) {
    if (!no_diff)
      op_diff(w);
  } else if (k < 184) {
    if (!no_copy)
      op_copy(w);
  } else if (k < 186) {
    if (!no_copy)
      op_export_v2(w);
  } else if (k < 189) {
#ifdef LBD_FSX_IMPORT
    if (opt_import && !no_mig)
      op_import();
#endif
  } else {
    if (!no_ro)
      op_ro_read();
  }
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(int status)
{
  fprintf(status ? stderr : stdout,
          "usage: lbd-fsx [-S seed] [-N ops] [-T seconds] [-d dir] "
          "[-s max-size-MiB] [-X what,...] [-k] [-q] [-v]\n"
          "  -S SEED   the run's seed (default 1): the same seed, the same run\n"
          "  -N OPS    operations to run (default 10000; 0: no limit)\n"
          "  -T SECS   stop after SECS seconds (at an operation boundary)\n"
          "  -d DIR    the cluster directory (must not exist; default: a new\n"
          "            one in $TMPDIR); kept on failure, removed on success\n"
          "  -s MIB    the largest image size (default 24)\n"
          "  -X LIST   leave out of the mix: migration, clone, kill, snap,\n"
          "            resize, cbio (IO from execute's progress callback),\n"
          "            datapool, diff (diff checks), copy (copy, export v2),\n"
          "            ro (a second, read-only handle)\n"
          "  -B BUGS   steer around every fixed bug but these (replays the\n"
          "            regression runs made while they were open): aiofork (a\n"
          "            child forked after the parent used aio, using aio),\n"
          "            copy (lbd_copy of a clone or migration target),\n"
          "            diffmig (diff or export v2 of a migration target),\n"
          "            resumename (commit again by the source's name),\n"
          "            rosize (a read-only handle after a resize elsewhere),\n"
          "            clonecommit (commit a migrated clone while it is open)\n"
          "  -i        import-only migration sources (raw and qcow2 files it\n"
          "            writes); needs a build with -DLBD_FSX_IMPORT=ON (the\n"
          "            default)\n"
          "  -R CONF   the pools other than rbd on the Ceph cluster of CONF\n"
          "            (a RADOS pool each, removed at the end on success):\n"
          "            migrations then move images between the local store\n"
          "            and RADOS, and clones and IO run on RADOS too\n"
          "  -k        keep the cluster directory on success\n"
          "  -q        quiet; -v: log every operation\n");
  exit(status);
}

static void parse_exclude(char *list)
{
  for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
    if (!strcmp(t, "migration")) no_mig = true;
    else if (!strcmp(t, "clone")) no_clone = true;
    else if (!strcmp(t, "kill")) no_kill = true;
    else if (!strcmp(t, "snap")) no_snap = true;
    else if (!strcmp(t, "resize")) no_resize = true;
    else if (!strcmp(t, "cbio")) no_cbio = true;
    else if (!strcmp(t, "datapool")) no_dpool = true;
    else if (!strcmp(t, "diff")) no_diff = true;
    else if (!strcmp(t, "copy")) no_copy = true;
    else if (!strcmp(t, "ro")) no_ro = true;
    else {
      fprintf(stderr, "lbd-fsx: -X: unknown '%s'\n", t);
      usage(2);
    }
  }
}

int main(int argc, char **argv)
{
  int ch;
  while ((ch = getopt(argc, argv, "S:N:T:d:s:X:B:R:ikqvh")) != -1) {
    switch (ch) {
    case 'S': opt_seed = strtoull(optarg, NULL, 0); break;
    case 'N': opt_ops = strtoull(optarg, NULL, 0); break;
    case 'T': opt_time = strtod(optarg, NULL); break;
    case 'd': opt_dir = optarg; break;
    case 's': opt_maxsize = strtoull(optarg, NULL, 0) * MiB; break;
    case 'X': parse_exclude(optarg); break;
    case 'B':
      opt_bugs_named = true;
      for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ",")) {
        if (!strcmp(t, "aiofork")) bug_aiofork = true;
        else if (!strcmp(t, "copy")) bug_copy = true;
        else if (!strcmp(t, "diffmig")) bug_diffmig = true;
        else if (!strcmp(t, "resumename")) bug_resumename = true;
        else if (!strcmp(t, "rosize")) bug_rosize = true;
        else if (!strcmp(t, "clonecommit")) bug_clonecommit = true;
        else {
          fprintf(stderr, "lbd-fsx: -B: unknown bug '%s' (known: aiofork, "
                  "copy, diffmig, resumename, rosize, clonecommit)\n", t);
          return 2;
        }
      }
      break;
    case 'i': opt_import = true; break;
    case 'R': opt_ceph_conf = optarg; break;
    case 'k': opt_keep = true; break;
    case 'q': opt_quiet = true; break;
    case 'v': opt_verbose = true; break;
    case 'h': usage(0); break;
    default: usage(2);
    }
  }
  for (int i = 1; i < argc; i++) /* -X, -B, -s, -i shape the run */
    if ((!strcmp(argv[i], "-X") || !strcmp(argv[i], "-B") ||
         !strcmp(argv[i], "-s")) && i + 1 < argc) {
      size_t l = strlen(replay_args);
      snprintf(replay_args + l, sizeof replay_args - l, " %s %s", argv[i],
               argv[i + 1]);
      i++;
    } else if (!strcmp(argv[i], "-i")) {
      size_t l = strlen(replay_args);
      snprintf(replay_args + l, sizeof replay_args - l, " -i");
    }
  if (optind != argc || opt_maxsize < MiB)
    usage(2);
  if (!opt_bugs_named) /* every bug is fixed: take every path */
    bug_aiofork = bug_copy = bug_diffmig = bug_resumename = bug_rosize =
        bug_clonecommit = true;
#ifndef LBD_FSX_IMPORT
  if (opt_import) {
    fprintf(stderr, "lbd-fsx: -i: this build has no import-only sources "
            "(cmake -DLBD_FSX_IMPORT=ON, once lbd_migration_prepare_import "
            "works)\n");
    return 2;
  }
#endif
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (getenv("LBD_FSX_DEADLINE"))
    CHILD_DEADLINE = atoi(getenv("LBD_FSX_DEADLINE"));
  rng = opt_seed;
  t_start = now();
  if (opt_dir) {
    snprintf(dir, sizeof dir, "%s", opt_dir);
  } else {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/lbd-fsx.%" PRIu64 ".XXXXXX", tmp, opt_seed);
    if (!mkdtemp(dir)) {
      fprintf(stderr, "lbd-fsx: mkdtemp %s: %s\n", dir, strerror(errno));
      return 2;
    }
    rmdir(dir); /* the cluster makes it */
  }
  static const char *pool_names[NPOOLS] = {"rbd", "p1", "p2", "p3"};
  for (int p = 0; p < NPOOLS; p++)
    snprintf(pools[p].name, sizeof pools[p].name, "%s", pool_names[p]);
  I[MAIN].tag = "image";
  I[CLONE].tag = "clone";
  OK(lbd_cluster_open(dir, true, &cl), "create the cluster in %s", dir);
  pools[0].exists = true;
  OK(lbd_ioctx_create(cl, "rbd", NULL, &pools[0].io), "ioctx rbd");

  struct img *im = &I[MAIN];
  struct lbd_image_options o;
  random_layout(&o, im->desc, sizeof im->desc, 0);
  o.size = 1 + rnd(opt_maxsize);
  snprintf(im->name, sizeof im->name, "fsx");
  logop(-1, 0, 0, 0, "create %s, size 0x%" PRIx64 " (%s)", im->name, o.size,
        im->desc);
  OK(lbd_create(pio(0), im->name, &o), "create %s", im->name);
  im->exists = true;
  model_resize(&im->m, o.size);
  img_open(MAIN);
  if (!opt_quiet)
    printf("lbd-fsx: seed %" PRIu64 ", %s, image 0x%" PRIx64 " bytes (%s)\n",
           opt_seed, dir, o.size, im->desc);

  double t0 = now();
  t_start = t0;
  uint64_t done = 0;
  for (opno = 1; opt_ops == 0 || opno <= opt_ops; opno++) {
    if (opt_time > 0 && now() - t0 >= opt_time)
      break;
    one_op();
    done = opno;
    if (!opt_quiet && opno % 10000 == 0)
      printf("lbd-fsx: seed %" PRIu64 ": %" PRIu64 " ops, %.0f s\n", opt_seed,
             opno, now() - t0);
  }
  opno = done + 1;
  logop(-1, 0, 0, 0, "final check");
  if (mig) { /* finish it: commit or abort */
    if (mig == 1)
      op_mig_execute();
    op_mig_finish();
  }
  check_all(MAIN);
  check_all(CLONE);
  env_close();
  saved_free();
  model_free(&I[MAIN].m);
  model_free(&I[CLONE].m);
  free(rbuf);
  printf("lbd-fsx: seed %" PRIu64 ": %" PRIu64 " ops passed in %.1f s\n",
         opt_seed, done, now() - t0);
  if (!opt_keep && opt_ceph_conf)
    rados_pools_remove();
  if (!opt_keep) {
    char cmd[2 * PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s-pools'", dir, dir);
    if (system(cmd) != 0)
      fprintf(stderr, "lbd-fsx: could not remove %s\n", dir);
  }
  return 0;
}
