/* lbd-bench-image: an lbd image against a plain file, side by side.
 *
 * Every test runs the same IO twice on the same filesystem: once on an lbd
 * image (include/lbd/lbd.h: a fresh cluster, default features, 4 MiB
 * objects), once on one plain file of the same size (the baseline a block
 * device backed by a file would get).  4 MiB sequential and 4 KiB random,
 * reads and writes, at queue depth 1 (synchronous calls on both sides) and
 * queue depth N (lbd_aio_* with N ops in flight against N threads doing
 * pwrite/pread).  Passes alternate which side goes first from round to
 * round, so drift (page cache state, writeback, a noisy neighbour) hits both
 * sides alike.  bench/README.md says what each number means. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "lbd/lbd.h"

#define SEQ_BS ((size_t)4 << 20)  /* 4 MiB: one object */
#define RAND_BS ((size_t)4 << 10) /* 4 KiB */
#define MIB (1024.0 * 1024.0)
#define MAX_QD 256
#define PROG "lbd-bench-image"

/* ---- options and global state ------------------------------------------ */

static struct {
  const char *dir;    /* parent of the run directory */
  unsigned size_mib;  /* image and file size */
  unsigned rounds;
  unsigned ops;       /* random 4 KiB ops per pass and side */
  unsigned qd;        /* the deep queue depth */
  unsigned aio_threads; /* 0: lbd's default ($LBD_AIO_THREADS or 16) */
  uint64_t seed;
  bool json;
  const char *json_file;
  bool cold;
  bool prefault;
} opt = {
    .dir = "./bench-tmp",
    .size_mib = 1024,
    .rounds = 3,
    .ops = 20000,
    .qd = 16,
    .seed = 1,
    .cold = true,
    .prefault = true,
};

static uint64_t img_size;        /* bytes */
static unsigned nchunks;         /* 4 MiB chunks in the image */
static char cluster_dir[PATH_MAX];
static char files_dir[PATH_MAX];
static bool drop_caches_ok;
static char *scratch;            /* SEQ_BS of pseudo-random bytes */

/* ---- small helpers ------------------------------------------------------ */

/* LEN bytes (plus 64 MiB) of scratch data, written and deleted just before
 * a timed pass that fills the page cache (bench_prefault says why). */
static void prefault(size_t len)
{
  if (opt.prefault)
    bench_prefault(len, scratch, SEQ_BS);
}

/* ---- the two sides and their targets ------------------------------------ */

enum side { BASE, LBD };
static const char *const side_name[] = {"baseline", "lbd"};

static lbd_cluster_t *cluster;

/* One image and one plain file, both new and sparse when made. */
struct target {
  char pool[64];
  lbd_ioctx_t *io;
  lbd_image_t *img;
  char path[PATH_MAX];
  int fd;
};

static unsigned target_seq;
static char features_text[256]; /* of the first image made */

static void target_make(struct target *t)
{
  unsigned n = target_seq++;
  snprintf(t->pool, sizeof t->pool, "bench-%u", n);
  BENCH_CHECK_LBD(lbd_pool_create(cluster, t->pool, NULL), "lbd_pool_create %s",
                  t->pool);
  BENCH_CHECK_LBD(lbd_ioctx_create(cluster, t->pool, NULL, &t->io),
                  "lbd_ioctx_create %s", t->pool);
  struct lbd_image_options o;
  memset(&o, 0, sizeof o); /* default object size and features */
  o.size = img_size;
  BENCH_CHECK_LBD(lbd_create(t->io, "bench", &o), "lbd_create %s/bench",
                  t->pool);
  BENCH_CHECK_LBD(lbd_open(t->io, "bench", NULL, 0, &t->img),
                  "lbd_open %s/bench", t->pool);
  /* Take the exclusive lock now, untimed: a zero-length write does that
   * and nothing else.  A guest pays it once per open, not per IO. */
  BENCH_CHECK_LBD(lbd_write(t->img, 0, 0, scratch),
                  "taking the lock of %s/bench", t->pool);
  if (!features_text[0]) {
    struct lbd_image_info info;
    BENCH_CHECK_LBD(lbd_stat(t->img, &info), "lbd_stat %s/bench", t->pool);
    lbd_features_format(info.features, features_text, sizeof features_text);
  }

  char leaf[64];
  snprintf(leaf, sizeof leaf, "plain-%u.img", n);
  bench_path_join(t->path, files_dir, leaf);
  t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL, 0644);
  if (t->fd < 0)
    bench_die("open %s: %s", t->path, strerror(errno));
  if (ftruncate(t->fd, (off_t)img_size) != 0) /* sparse, as the image */
    bench_die("ftruncate %s: %s", t->path, strerror(errno));
  bench_syncfs_dir(files_dir);
}

static void target_drop(struct target *t)
{
  BENCH_CHECK_LBD(lbd_close(t->img), "lbd_close %s/bench", t->pool);
  t->img = NULL;
  lbd_ioctx_destroy(t->io);
  t->io = NULL;
  BENCH_CHECK_LBD(lbd_pool_remove(cluster, t->pool), "lbd_pool_remove %s",
                  t->pool);
  close(t->fd);
  unlink(t->path);
  t->fd = -1;
  /* The deletes' journal work is not the next pass'. */
  bench_syncfs_dir(files_dir);
}

/* ---- the passes ---------------------------------------------------------- */

enum pass_id {
  SEQ_W1, SEQ_WN, SEQ_O1, SEQ_R1, SEQ_RN, SEQ_R1C, SEQ_RNC,
  RND_W1, RND_WN, RND_O1, RND_ON, RND_R1, RND_RN, NPASS
};

static const struct pass_def {
  const char *key;  /* JSON */
  const char *name; /* table, without the queue depth */
  bool seq, write, deep, cold; /* cold: a cold read (--no-cold skips) */
  bool fresh; /* a write on a new, sparse image and file */
  bool drop;  /* the page cache is dropped before the pass */
} pass_def[NPASS] = {
    [SEQ_W1] = {"seq_write_qd1", "write", true, true, false, false, true},
    [SEQ_WN] = {"seq_write_qdN", "write", true, true, true, false, true},
    [SEQ_O1] = {"seq_overwrite_qd1", "overwrite", true, true, false, false,
                false},
    [SEQ_R1] = {"seq_read_qd1", "read warm", true, false, false, false, false},
    [SEQ_RN] = {"seq_read_qdN", "read warm", true, false, true, false, false},
    [SEQ_R1C] = {"seq_read_cold_qd1", "read cold", true, false, false, true,
                 false, true},
    [SEQ_RNC] = {"seq_read_cold_qdN", "read cold", true, false, true, true,
                 false, true},
    [RND_W1] = {"rand_write_qd1", "write", false, true, false, false, true},
    [RND_WN] = {"rand_write_qdN", "write", false, true, true, false, true},
    [RND_O1] = {"rand_overwrite_qd1", "overwrite", false, true, false, false,
                false, true},
    [RND_ON] = {"rand_overwrite_qdN", "overwrite", false, true, true, false,
                false, true},
    [RND_R1] = {"rand_read_qd1", "read", false, false, false, false, false},
    [RND_RN] = {"rand_read_qdN", "read", false, false, true, false, false},
};

struct result {
  double io_s;     /* first issue to last completion */
  double flush_s;  /* the flush after a write pass */
  double cpu_io_s; /* process CPU over the IO */
  double cpu_s;    /* process CPU over IO + flush */
  struct bench_lat lat; /* per op, issue to completion */
  unsigned objects; /* lbd data objects the pass wrote to */
};

static struct result *res[NPASS][2]; /* [pass][side][round] */
static bool ran[NPASS];

/* What one pass does: N ops of BS bytes at OFFS[i], QD in flight. */
struct job {
  enum side side;
  bool write;
  size_t bs;
  unsigned n;
  const uint64_t *offs;
  unsigned qd;
  struct target *t;
  uint64_t *lat_ns; /* [n] */
  char **bufs;      /* [qd] of bs */
  uint16_t tag;     /* stamped into written data */
  _Atomic unsigned next;
};

/* Every 4 KiB block written carries its own block number (and a tag): the
 * reads check it, so a wrong mapping cannot pass unnoticed. */
static void stamp(char *buf, size_t bs, uint64_t off, uint16_t tag)
{
  for (size_t b = 0; b < bs; b += RAND_BS) {
    uint64_t v = ((off + b) / RAND_BS) | ((uint64_t)tag << 48);
    memcpy(buf + b, &v, sizeof v);
  }
}

static void check_stamp(const char *buf, uint64_t off, enum side s)
{
  uint64_t v;
  memcpy(&v, buf, sizeof v);
  if ((v & 0xffffffffffffu) != off / RAND_BS || (v >> 48) == 0)
    bench_die("%s: read back the wrong data at %llu (stamp %#llx)",
              side_name[s], (unsigned long long)off, (unsigned long long)v);
}

static void base_io(struct job *j, char *buf, unsigned i)
{
  uint64_t off = j->offs[i];
  if (j->write)
    stamp(buf, j->bs, off, j->tag);
  uint64_t t0 = bench_now_ns();
  ssize_t n = j->write ? pwrite(j->t->fd, buf, j->bs, (off_t)off)
                       : pread(j->t->fd, buf, j->bs, (off_t)off);
  j->lat_ns[i] = bench_now_ns() - t0;
  if (n != (ssize_t)j->bs)
    bench_die("%s %s at %llu: %s", j->write ? "pwrite" : "pread", j->t->path,
              (unsigned long long)off, n < 0 ? strerror(errno) : "short");
  if (!j->write)
    check_stamp(buf, off, BASE);
}

struct base_thread {
  struct job *j;
  pthread_barrier_t *start;
  unsigned k;
};

static void *base_worker(void *arg)
{
  struct base_thread *bt = arg;
  struct job *j = bt->j;
  pthread_barrier_wait(bt->start);
  for (;;) {
    unsigned i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n)
      break;
    base_io(j, j->bufs[bt->k], i);
  }
  return NULL;
}

/* Baseline: QD 1 in this thread, else QD threads doing pread/pwrite. */
static void run_base(struct job *j)
{
  if (j->qd == 1) {
    for (unsigned i = 0; i < j->n; i++)
      base_io(j, j->bufs[0], i);
    return;
  }
  pthread_t th[MAX_QD];
  struct base_thread bt[MAX_QD];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, j->qd + 1);
  for (unsigned k = 0; k < j->qd; k++) {
    bt[k] = (struct base_thread){j, &start, k};
    if (pthread_create(&th[k], NULL, base_worker, &bt[k]) != 0)
      bench_die("pthread_create: %s", strerror(errno));
  }
  pthread_barrier_wait(&start);
  for (unsigned k = 0; k < j->qd; k++)
    pthread_join(th[k], NULL);
  pthread_barrier_destroy(&start);
}

/* lbd, QD 1: the synchronous calls. */
static void lbd_sync_io(struct job *j)
{
  char *buf = j->bufs[0];
  for (unsigned i = 0; i < j->n; i++) {
    uint64_t off = j->offs[i];
    if (j->write)
      stamp(buf, j->bs, off, j->tag);
    uint64_t t0 = bench_now_ns();
    ssize_t n = j->write ? lbd_write(j->t->img, off, j->bs, buf)
                         : lbd_read(j->t->img, off, j->bs, buf);
    j->lat_ns[i] = bench_now_ns() - t0;
    BENCH_CHECK_LBD(n, "%s %s/bench at %llu",
                    j->write ? "lbd_write" : "lbd_read", j->t->pool,
                    (unsigned long long)off);
    if (n != (ssize_t)j->bs)
      bench_die("%s at %llu: %zd bytes", j->write ? "lbd_write" : "lbd_read",
                (unsigned long long)off, n);
    if (!j->write)
      check_stamp(buf, off, LBD);
  }
}

/* lbd, QD > 1: QD aio ops in flight; each callback queues its slot, and
 * this thread reaps it and issues the next op in it. */
struct aio_slot {
  struct aio_engine *e;
  unsigned k;
  lbd_completion_t *c;
  unsigned op;
  uint64_t t0, t1;
};

struct aio_engine {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned ring[MAX_QD + 1];
  unsigned head, tail;
};

static void aio_done(lbd_completion_t *c, void *arg)
{
  (void)c;
  struct aio_slot *sl = arg;
  struct aio_engine *e = sl->e;
  sl->t1 = bench_now_ns();
  pthread_mutex_lock(&e->mu);
  e->ring[e->tail] = sl->k;
  e->tail = (e->tail + 1) % (MAX_QD + 1);
  pthread_cond_signal(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

static void aio_issue(struct job *j, struct aio_slot *sl, unsigned i)
{
  char *buf = j->bufs[sl->k];
  uint64_t off = j->offs[i];
  if (j->write)
    stamp(buf, j->bs, off, j->tag);
  sl->op = i;
  sl->t0 = bench_now_ns();
  if (j->write)
    BENCH_CHECK_LBD(lbd_aio_write(j->t->img, off, j->bs, buf, sl->c),
                    "lbd_aio_write at %llu", (unsigned long long)off);
  else
    BENCH_CHECK_LBD(lbd_aio_read(j->t->img, off, j->bs, buf, sl->c),
                    "lbd_aio_read at %llu", (unsigned long long)off);
}

static void lbd_aio_io(struct job *j)
{
  struct aio_engine e;
  struct aio_slot sl[MAX_QD];
  pthread_mutex_init(&e.mu, NULL);
  pthread_cond_init(&e.cv, NULL);
  e.head = e.tail = 0;
  for (unsigned k = 0; k < j->qd; k++) {
    sl[k] = (struct aio_slot){.e = &e, .k = k};
    BENCH_CHECK_LBD(lbd_aio_create_completion(aio_done, &sl[k], &sl[k].c),
                    "lbd_aio_create_completion");
  }
  unsigned next = 0, done = 0;
  for (unsigned k = 0; k < j->qd && next < j->n; k++)
    aio_issue(j, &sl[k], next++);
  while (done < j->n) {
    pthread_mutex_lock(&e.mu);
    while (e.head == e.tail)
      pthread_cond_wait(&e.cv, &e.mu);
    unsigned k = e.ring[e.head];
    e.head = (e.head + 1) % (MAX_QD + 1);
    pthread_mutex_unlock(&e.mu);
    struct aio_slot *s = &sl[k];
    BENCH_CHECK_LBD(lbd_aio_wait_for_complete(s->c),
                    "lbd_aio_wait_for_complete");
    ssize_t r = lbd_aio_get_return_value(s->c);
    uint64_t off = j->offs[s->op];
    if (r < 0)
      bench_die_lbd(r, lbd_aio_get_error(s->c), "%s %s/bench at %llu",
                    j->write ? "lbd_aio_write" : "lbd_aio_read", j->t->pool,
                    (unsigned long long)off);
    if (r != (ssize_t)j->bs)
      bench_die("lbd_aio at %llu: %zd bytes", (unsigned long long)off, r);
    j->lat_ns[s->op] = s->t1 - s->t0;
    if (!j->write)
      check_stamp(j->bufs[k], off, LBD);
    done++;
    if (next < j->n)
      aio_issue(j, s, next++);
  }
  for (unsigned k = 0; k < j->qd; k++)
    lbd_aio_release(sl[k].c);
  pthread_cond_destroy(&e.cv);
  pthread_mutex_destroy(&e.mu);
}

static char *slot_bufs[MAX_QD]; /* SEQ_BS each */
static uint64_t *seq_offs;      /* [nchunks] */
static uint64_t *rand_offs[3];  /* [ops]: writes, overwrites, reads */
static uint64_t *lat_buf;       /* [max(nchunks, ops)] */
static uint16_t next_tag = 1;

/* Distinct 4 MiB objects that OFFS touch. */
static unsigned objects_touched(const uint64_t *offs, unsigned n)
{
  bool *seen = bench_xcalloc(nchunks, 1);
  unsigned count = 0;
  for (unsigned i = 0; i < n; i++) {
    unsigned o = (unsigned)(offs[i] / SEQ_BS);
    if (!seen[o]) {
      seen[o] = true;
      count++;
    }
  }
  free(seen);
  return count;
}

static void make_cold(enum side s, struct target *t)
{
  if (s == BASE)
    posix_fadvise(t->fd, 0, 0, POSIX_FADV_DONTNEED);
  if (drop_caches_ok && bench_drop_caches())
    return;
  if (s == BASE)
    return;
  /* No drop_caches: drop each file of the image's pool instead. */
  struct lbd_pool_info *pools;
  size_t n;
  BENCH_CHECK_LBD(lbd_flush(t->img), "lbd_flush");
  BENCH_CHECK_LBD(lbd_pool_list(cluster, &pools, &n), "lbd_pool_list");
  for (size_t i = 0; i < n; i++)
    if (strcmp(pools[i].name, t->pool) == 0 && pools[i].path)
      bench_fadvise_tree(pools[i].path);
  lbd_pool_list_free(pools, n);
}

/* One timed pass of P on side S, round R, on target T; unless RECORD,
 * only for its effect (filling a target for passes that read it). */
static void run_pass(enum pass_id p, enum side s, unsigned round,
                     struct target *t, bool record)
{
  const struct pass_def *d = &pass_def[p];
  struct job j;
  memset(&j, 0, sizeof j);
  j.side = s;
  j.write = d->write;
  j.bs = d->seq ? SEQ_BS : RAND_BS;
  j.n = d->seq ? nchunks : opt.ops;
  j.offs = d->seq ? seq_offs
                  : rand_offs[p == RND_W1 || p == RND_WN ? 0
                              : p == RND_O1 || p == RND_ON ? 1 : 2];
  j.qd = d->deep ? opt.qd : 1;
  j.t = t;
  j.lat_ns = lat_buf;
  j.bufs = slot_bufs;
  j.tag = next_tag++;
  if (next_tag == 0)
    next_tag = 1;
  atomic_init(&j.next, 0);

  bench_progress("round %u/%u: %s %s qd%u, %s%s", round + 1, opt.rounds,
                 d->seq ? "4 MiB sequential" : "4 KiB random", d->name, j.qd,
                 side_name[s], record ? "" : " (untimed, to fill it)");
  if (d->drop)
    make_cold(s, t);
  if (d->fresh || d->cold) /* passes that fill the page cache */
    prefault(d->seq ? img_size : (size_t)j.n * j.bs);

  struct result scratch_result;
  struct result *r = record ? &res[p][s][round] : &scratch_result;
  uint64_t c0 = bench_cpu_ns(), t0 = bench_now_ns();
  if (s == BASE)
    run_base(&j);
  else if (j.qd == 1)
    lbd_sync_io(&j);
  else
    lbd_aio_io(&j);
  uint64_t t1 = bench_now_ns();
  r->cpu_io_s = (double)(bench_cpu_ns() - c0) / 1e9;
  if (d->write) {
    if (s == LBD)
      BENCH_CHECK_LBD(lbd_flush(t->img), "lbd_flush %s/bench", t->pool);
    else if (fdatasync(t->fd) != 0)
      bench_die("fdatasync %s: %s", t->path, strerror(errno));
  }
  uint64_t t2 = bench_now_ns();
  r->io_s = (double)(t1 - t0) / 1e9;
  r->flush_s = (double)(t2 - t1) / 1e9;
  r->cpu_s = (double)(bench_cpu_ns() - c0) / 1e9;
  r->lat = bench_latency(lat_buf, j.n);
  r->objects = d->write ? objects_touched(j.offs, j.n) : 0;
  if (record)
    ran[p] = true;
}

static bool only[NPASS]; /* --only: the passes to run; none set: all */
static bool only_set;

static bool wanted(enum pass_id p)
{
  if (pass_def[p].cold && !opt.cold)
    return false;
  return !only_set || only[p];
}

/* Run P on both sides of T (its image and its file), in ORDER, if wanted. */
static void pass_both(enum pass_id p, const enum side order[2], unsigned round,
                      struct target *t)
{
  if (!wanted(p))
    return;
  for (int k = 0; k < 2; k++)
    run_pass(p, order[k], round, t, true);
}

/* ---- results ------------------------------------------------------------ */

/* Field F of the results of pass P, side S, one per round. */
enum field { F_RATE, F_RATE_FLUSH, F_FLUSH_MS, F_CPU, F_CPU_FLUSH,
             F_MEAN, F_P50, F_P99, F_MAX, F_CPU_US_OP };

static double field(enum pass_id p, enum side s, unsigned round, enum field f)
{
  const struct result *r = &res[p][s][round];
  const struct pass_def *d = &pass_def[p];
  double work = d->seq ? (double)img_size / MIB : (double)opt.ops;
  switch (f) {
  case F_RATE: return work / r->io_s;
  case F_RATE_FLUSH: return work / (r->io_s + r->flush_s);
  case F_FLUSH_MS: return r->flush_s * 1e3;
  case F_CPU: return r->cpu_io_s / r->io_s;
  case F_CPU_FLUSH: return r->cpu_s / (r->io_s + r->flush_s);
  case F_MEAN: return r->lat.mean_us;
  case F_P50: return r->lat.p50_us;
  case F_P99: return r->lat.p99_us;
  case F_MAX: return r->lat.max_us;
  case F_CPU_US_OP: return r->cpu_io_s * 1e6 / (d->seq ? nchunks : opt.ops);
  }
  return 0;
}

static double med(enum pass_id p, enum side s, enum field f, double *lo,
                  double *hi)
{
  double v[opt.rounds];
  for (unsigned r = 0; r < opt.rounds; r++)
    v[r] = field(p, s, r, f);
  return bench_median(v, opt.rounds, lo, hi);
}

static double ratio(enum pass_id p, enum field f)
{
  return med(p, LBD, f, NULL, NULL) / med(p, BASE, f, NULL, NULL);
}

/* The lines the targets of issue 3 are judged on. */
struct target_line {
  enum pass_id p;
  bool flush;
  double goal;
};
static const struct target_line seq_targets[] = {
    {SEQ_W1, false, 0.8}, {SEQ_W1, true, 0.8}, {SEQ_WN, false, 0.8},
    {SEQ_WN, true, 0.8},  {SEQ_O1, false, 0.8}, {SEQ_O1, true, 0.8},
    {SEQ_R1, false, 0.8}, {SEQ_RN, false, 0.8},
    {SEQ_R1C, false, 0.8}, {SEQ_RNC, false, 0.8},
};
static const struct target_line rand_targets[] = {
    {RND_W1, false, 0.5}, {RND_W1, true, 0.5}, {RND_WN, false, 0.5},
    {RND_WN, true, 0.5},  {RND_O1, false, 0.5}, {RND_O1, true, 0.5},
    {RND_ON, false, 0.5}, {RND_ON, true, 0.5},
};
#define NELEM(a) (sizeof(a) / sizeof *(a))

static void line_label(char *buf, size_t size, enum pass_id p, bool flush)
{
  const struct pass_def *d = &pass_def[p];
  bool fresh = d->fresh;
  snprintf(buf, size, "%s qd%u%s%s", d->name, d->deep ? opt.qd : 1,
           fresh ? " (new)" : "", flush ? " +flush" : "");
}

static const char *cold_method = "none";
static char aio_threads_text[64];

static void print_targets(FILE *f, const struct target_line *tl, size_t n,
                          const char *title)
{
  fprintf(f, "  %s\n", title);
  bool any = false;
  for (size_t i = 0; i < n; i++)
    any |= ran[tl[i].p];
  if (!any)
    fprintf(f, "    (not measured)\n");
  for (size_t i = 0; i < n; i++) {
    if (!ran[tl[i].p])
      continue;
    char label[64];
    line_label(label, sizeof label, tl[i].p, tl[i].flush);
    double q = ratio(tl[i].p, tl[i].flush ? F_RATE_FLUSH : F_RATE);
    fprintf(f, "    %-30s %7.1f%%  %s\n", label, 100 * q,
            q >= tl[i].goal ? "met" : "MISSED");
  }
}

static void print_table(void)
{
  FILE *f = stdout;
  fprintf(f, "lbd image benchmark (lbd %d.%d.%d): an lbd image vs a plain "
          "file\n",
          LBD_VERSION_MAJOR, LBD_VERSION_MINOR, LBD_VERSION_PATCH);
  bench_print_host(f);
  fprintf(f, "  image       %u MiB, 4 MiB objects, features %s; a new pool "
          "and image for every\n"
          "              write pass (exclusive lock taken before timing)\n",
          opt.size_mib, features_text);
  fprintf(f, "  baseline    one plain file of %u MiB, made sparse (ftruncate) "
          "for every write pass,\n"
          "              buffered pwrite/pread on an open fd\n",
          opt.size_mib);
  fprintf(f, "  queue depth 1: lbd_write/lbd_read vs pwrite/pread, one "
          "thread;\n"
          "              %u: lbd_aio_write/read, %u in flight (aio threads: "
          "%s) vs %u threads\n",
          opt.qd, opt.qd, aio_threads_text, opt.qd);
  fprintf(f, "  sequential  4 MiB IOs over the whole image, in order (%u per "
          "pass)\n",
          nchunks);
  fprintf(f, "  random      %u x 4 KiB per pass, 4 KiB aligned, uniform, seed "
          "%llu, same offsets\n"
          "              both sides; (new): on a new sparse image/file; "
          "overwrite and read:\n"
          "              on the fully written one; read: page cache warm; "
          "overwrite: page\n"
          "              cache dropped first\n",
          opt.ops, (unsigned long long)opt.seed);
  fprintf(f, "  flush       after every write pass: lbd_flush vs fdatasync; "
          "+flush = IO + flush\n");
  fprintf(f, "  rounds      %u, side order alternating; median [min .. max] "
          "over the rounds\n",
          opt.rounds);
  fprintf(f, "  memory      %s\n",
          opt.prefault ? "a pass worth of scratch data written and deleted "
                         "before each pass that fills the cache"
                       : "not prefaulted (--no-prefault)");
  fprintf(f, "  cold cache  for the cold reads%s and the random overwrites: "
          "%s\n",
          opt.cold ? "" : " (not measured: --no-cold)", cold_method);
  if (bench.load[0] > 0.5)
    fprintf(f, "  WARNING     the machine was busy when the run started "
            "(load %.2f): expect noise\n",
            bench.load[0]);

  fprintf(f, "\n4 MiB sequential, MiB/s: median [min .. max], cpu = process "
          "CPU / wall\n");
  fprintf(f, "  %-24s %22s %5s %22s %5s %9s\n", "test", "baseline", "cpu",
          "lbd", "cpu", "lbd/base");
  for (int p = 0; p < NPASS; p++) {
    if (!pass_def[p].seq || !ran[p])
      continue;
    for (int fl = 0; fl <= (int)pass_def[p].write; fl++) {
      char label[64], cell[2][64];
      double c[2];
      line_label(label, sizeof label, (enum pass_id)p, fl);
      enum field rf = fl ? F_RATE_FLUSH : F_RATE;
      for (int s = 0; s < 2; s++) {
        double lo, hi, m = med(p, s, rf, &lo, &hi);
        snprintf(cell[s], sizeof cell[s], "%.0f [%.0f .. %.0f]", m, lo, hi);
        c[s] = med(p, s, fl ? F_CPU_FLUSH : F_CPU, NULL, NULL);
      }
      fprintf(f, "  %-24s %22s %4.0f%% %22s %4.0f%% %8.1f%%\n", label,
              cell[BASE], 100 * c[BASE], cell[LBD], 100 * c[LBD],
              100 * ratio(p, rf));
    }
  }

  fprintf(f, "\n4 KiB random, IOPS: median [min .. max]; cpu = process CPU "
          "us per op\n");
  fprintf(f, "  %-24s %26s %6s %26s %6s %9s\n", "test", "baseline", "cpu",
          "lbd", "cpu", "lbd/base");
  for (int p = 0; p < NPASS; p++) {
    if (pass_def[p].seq || !ran[p])
      continue;
    for (int fl = 0; fl <= (int)pass_def[p].write; fl++) {
      char label[64], cell[2][64], cpu[2][16];
      line_label(label, sizeof label, (enum pass_id)p, fl);
      enum field rf = fl ? F_RATE_FLUSH : F_RATE;
      for (int s = 0; s < 2; s++) {
        double lo, hi, m = med(p, s, rf, &lo, &hi);
        snprintf(cell[s], sizeof cell[s], "%.0f [%.0f .. %.0f]", m, lo, hi);
        snprintf(cpu[s], sizeof cpu[s], "%.1f",
                 med(p, s, F_CPU_US_OP, NULL, NULL));
        if (fl)
          cpu[s][0] = '\0';
      }
      fprintf(f, "  %-24s %26s %6s %26s %6s %8.1f%%\n", label, cell[BASE],
              cpu[BASE], cell[LBD], cpu[LBD], 100 * ratio(p, rf));
    }
  }

  fprintf(f, "\n4 KiB random, latency in us from issue to completion: "
          "medians over the rounds\n");
  fprintf(f, "  %-24s %-36s   %s\n", "", " ------------ baseline -------------",
          " --------------- lbd ---------------");
  fprintf(f, "  %-24s %8s %8s %8s %9s   %8s %8s %8s %9s\n", "test", "mean",
          "p50", "p99", "max", "mean", "p50", "p99", "max");
  for (int p = 0; p < NPASS; p++) {
    if (pass_def[p].seq || !ran[p])
      continue;
    char label[64];
    line_label(label, sizeof label, (enum pass_id)p, false);
    fprintf(f, "  %-24s", label);
    for (int s = 0; s < 2; s++)
      fprintf(f, " %8.1f %8.1f %8.1f %9.1f%s", med(p, s, F_MEAN, NULL, NULL),
              med(p, s, F_P50, NULL, NULL), med(p, s, F_P99, NULL, NULL),
              med(p, s, F_MAX, NULL, NULL), s ? "\n" : "  ");
  }

  fprintf(f, "\nflush after each write pass, ms: median [min .. max]\n");
  fprintf(f, "  %-24s %26s %26s %8s\n", "pass", "baseline fdatasync",
          "lbd_flush", "objects");
  for (int p = 0; p < NPASS; p++) {
    if (!pass_def[p].write || !ran[p])
      continue;
    char label[64], cell[2][64];
    snprintf(label, sizeof label, "%s ", pass_def[p].seq ? "4M" : "4K");
    line_label(label + 3, sizeof label - 3, (enum pass_id)p, false);
    for (int s = 0; s < 2; s++) {
      double lo, hi, m = med(p, s, F_FLUSH_MS, &lo, &hi);
      snprintf(cell[s], sizeof cell[s], "%.1f [%.1f .. %.1f]", m, lo, hi);
    }
    fprintf(f, "  %-24s %26s %26s %8u\n", label, cell[BASE], cell[LBD],
            res[p][LBD][0].objects);
  }
  fprintf(f, "  (objects: lbd data objects the pass writes to; on a new "
          "image each is created by\n   its first write)\n");

  fprintf(f, "\ntargets (issue 3), lbd/base of the medians\n");
  print_targets(f, seq_targets, NELEM(seq_targets),
                "4 MiB sequential >= 80% of the plain file:");
  print_targets(f, rand_targets, NELEM(rand_targets),
                "4 KiB random write >= 50% of the plain file (IOPS):");
  fprintf(f, "\ntotal run time %.1f s\n", bench.total_s);
}

static void json_rounds(FILE *f, enum pass_id p, enum side s, enum field fl)
{
  fprintf(f, "[");
  for (unsigned r = 0; r < opt.rounds; r++)
    fprintf(f, "%s%.2f", r ? ", " : "", field(p, s, r, fl));
  fprintf(f, "]");
}

static void json_targets(FILE *f, const struct target_line *tl, size_t n)
{
  bool first = true;
  for (size_t i = 0; i < n; i++) {
    if (!ran[tl[i].p])
      continue;
    double q = ratio(tl[i].p, tl[i].flush ? F_RATE_FLUSH : F_RATE);
    fprintf(f, "%s{\"test\": \"%s\", \"flush\": %s, \"ratio\": %.4f, "
            "\"goal\": %.2f, \"met\": %s}",
            first ? "" : ", ", pass_def[tl[i].p].key,
            tl[i].flush ? "true" : "false", q, tl[i].goal,
            q >= tl[i].goal ? "true" : "false");
    first = false;
  }
}

static void print_json(FILE *f)
{
  fprintf(f, "{\n  \"params\": {\"dir\": ");
  bench_json_str(f, bench.run_dir);
  fprintf(f, ", \"fs\": ");
  bench_json_str(f, bench.fs);
  fprintf(f, ", \"size\": %llu, \"object_size\": %zu, \"features\": ",
          (unsigned long long)img_size, SEQ_BS);
  bench_json_str(f, features_text);
  fprintf(f, ", \"rounds\": %u, \"seq_io_size\": %zu, \"rand_io_size\": %zu, "
          "\"random_ops\": %u, \"qd\": %u, \"aio_threads\": ",
          opt.rounds, SEQ_BS, RAND_BS, opt.ops, opt.qd);
  bench_json_str(f, aio_threads_text);
  fprintf(f, ", \"seed\": %llu, \"prefault\": %s, \"cold_method\": ",
          (unsigned long long)opt.seed, opt.prefault ? "true" : "false");
  bench_json_str(f, cold_method);
  fprintf(f, ", \"cold_reads\": %s", opt.cold ? "true" : "false");
  fprintf(f, "},\n  ");
  bench_json_host(f);
  fprintf(f, ",\n");
  fprintf(f, "  \"passes\": {\n");
  bool first = true;
  for (int p = 0; p < NPASS; p++) {
    if (!ran[p])
      continue;
    const struct pass_def *d = &pass_def[p];
    fprintf(f, "%s    \"%s\": {\"qd\": %u, \"unit\": \"%s\"", first ? "" : ",\n",
            d->key, d->deep ? opt.qd : 1, d->seq ? "MiB/s" : "IOPS");
    first = false;
    for (int s = 0; s < 2; s++) {
      double lo, hi, m = med(p, s, F_RATE, &lo, &hi);
      fprintf(f, ",\n      \"%s\": {\"rate\": %.1f, \"min\": %.1f, "
              "\"max\": %.1f, \"rounds\": ",
              side_name[s], m, lo, hi);
      json_rounds(f, p, s, F_RATE);
      if (d->write) {
        m = med(p, s, F_RATE_FLUSH, &lo, &hi);
        fprintf(f, ", \"rate_flush\": %.1f, \"rate_flush_min\": %.1f, "
                "\"rate_flush_max\": %.1f, \"flush_ms\": %.2f",
                m, lo, hi, med(p, s, F_FLUSH_MS, NULL, NULL));
      }
      fprintf(f, ", \"lat_us\": {\"mean\": %.2f, \"p50\": %.2f, "
              "\"p99\": %.2f, \"max\": %.2f}, \"cpu\": %.3f, "
              "\"cpu_us_per_op\": %.2f}",
              med(p, s, F_MEAN, NULL, NULL), med(p, s, F_P50, NULL, NULL),
              med(p, s, F_P99, NULL, NULL), med(p, s, F_MAX, NULL, NULL),
              med(p, s, F_CPU, NULL, NULL),
              med(p, s, F_CPU_US_OP, NULL, NULL));
    }
    fprintf(f, ",\n      \"ratio\": %.4f", ratio(p, F_RATE));
    if (d->write)
      fprintf(f, ", \"ratio_flush\": %.4f, \"objects\": %u",
              ratio(p, F_RATE_FLUSH), res[p][LBD][0].objects);
    fprintf(f, "}");
  }
  fprintf(f, "\n  },\n  \"targets\": {\"seq_4m_80pct\": [");
  json_targets(f, seq_targets, NELEM(seq_targets));
  fprintf(f, "],\n              \"rand_4k_write_50pct\": [");
  json_targets(f, rand_targets, NELEM(rand_targets));
  fprintf(f, "]},\n  \"total_s\": %.1f\n}\n", bench.total_s);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *f)
{
  fprintf(f,
          "usage: " PROG " [options]\n"
          "Compare an lbd image with a plain file on one filesystem.\n\n"
          "  --dir DIR      where to work (default ./bench-tmp); a run\n"
          "                 directory is made inside and removed at the end\n"
          "  --size MIB     image and file size (default 1024), a multiple "
          "of 4\n"
          "  --rounds N     rounds, alternating sides (default 3)\n"
          "  --ops N        random 4 KiB ops per pass and side (default "
          "20000)\n"
          "  --qd N         the deep queue depth (default 16; the other is "
          "1)\n"
          "  --aio-threads N  set LBD_AIO_THREADS (default: lbd's own)\n"
          "  --seed N       seed of the random offsets (default 1)\n"
          "  --only LIST    run only these passes (comma-separated keys as\n"
          "                 in the JSON, e.g. rand_write_qd1,seq_read_qdN)\n"
          "  --no-cold      skip the cold-cache sequential reads\n"
          "  --no-prefault  do not write and delete a pass worth of scratch\n"
          "                 data before each pass that fills the page cache\n"
          "  --keep         keep the run directory\n"
          "  --json         print JSON instead of the table\n"
          "  --json-file F  also write the JSON to F\n"
          "  --quiet        no progress lines on stderr\n"
          "  --help\n");
}

static unsigned parse_uint(const char *s, const char *what, unsigned min,
                           unsigned max)
{
  unsigned v;
  if (!bench_parse_uint(s, min, max, &v)) {
    fprintf(stderr, PROG ": bad %s: %s (%u to %u)\n", what, s, min, max);
    exit(2);
  }
  return v;
}

/* --only KEY,KEY...: pass keys as in the JSON, "qdN" for the deep queue. */
static void parse_only(const char *arg)
{
  char *copy = strdup(arg), *save = NULL;
  if (!copy)
    bench_die("out of memory");
  for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
    int p;
    for (p = 0; p < NPASS && strcmp(pass_def[p].key, k) != 0; p++)
      ;
    if (p == NPASS) {
      fprintf(stderr, PROG ": --only: unknown pass %s; known:", k);
      for (p = 0; p < NPASS; p++)
        fprintf(stderr, " %s", pass_def[p].key);
      fputc('\n', stderr);
      exit(2);
    }
    only[p] = only_set = true;
  }
  free(copy);
}

static void parse_args(int argc, char **argv)
{
  static const struct option lo[] = {
      {"dir", required_argument, NULL, 'd'},
      {"size", required_argument, NULL, 'S'},
      {"rounds", required_argument, NULL, 'r'},
      {"ops", required_argument, NULL, 'o'},
      {"qd", required_argument, NULL, 'Q'},
      {"aio-threads", required_argument, NULL, 'A'},
      {"seed", required_argument, NULL, 's'},
      {"only", required_argument, NULL, 'O'},
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
  while ((c = getopt_long(argc, argv, "d:S:r:o:Q:A:s:O:CPkjJ:qh", lo, NULL)) !=
         -1) {
    switch (c) {
    case 'd': opt.dir = optarg; break;
    case 'S': opt.size_mib = parse_uint(optarg, "--size", 4, 1u << 24); break;
    case 'r': opt.rounds = parse_uint(optarg, "--rounds", 1, 1000); break;
    case 'o': opt.ops = parse_uint(optarg, "--ops", 1, 1u << 26); break;
    case 'Q': opt.qd = parse_uint(optarg, "--qd", 2, MAX_QD); break;
    case 'A': opt.aio_threads = parse_uint(optarg, "--aio-threads", 1, 256);
      break;
    case 's': opt.seed = parse_uint(optarg, "--seed", 0, UINT32_MAX); break;
    case 'O': parse_only(optarg); break;
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
  if (opt.size_mib % 4) {
    fprintf(stderr, PROG ": --size must be a multiple of 4 (MiB)\n");
    exit(2);
  }
}

static void fill_random_offsets(void)
{
  uint64_t blocks = img_size / RAND_BS;
  for (int k = 0; k < 3; k++) {
    uint64_t st = opt.seed * 0x100000001b3u + (uint64_t)k * 0x5851f42d4c957f2du;
    rand_offs[k] = bench_xcalloc(opt.ops, sizeof(uint64_t));
    for (unsigned i = 0; i < opt.ops; i++)
      rand_offs[k][i] = (bench_splitmix64(&st) % blocks) * RAND_BS;
  }
}

int main(int argc, char **argv)
{
  bench.prog = PROG;
  parse_args(argc, argv);
  bench_host_start();
  img_size = (uint64_t)opt.size_mib << 20;
  nchunks = (unsigned)(img_size / SEQ_BS);
  if (opt.aio_threads) {
    char v[16];
    snprintf(v, sizeof v, "%u", opt.aio_threads);
    setenv("LBD_AIO_THREADS", v, 1); /* read at lbd's first aio op */
  }
  const char *env = getenv("LBD_AIO_THREADS");
  snprintf(aio_threads_text, sizeof aio_threads_text, "%s",
           env && *env ? env : "lbd default, 16");

  bench_setup_dirs(opt.dir, PROG);
  bench_path_join(cluster_dir, bench.run_dir, "cluster");
  bench_path_join(files_dir, bench.run_dir, "files");
  if (mkdir(files_dir, 0755) != 0)
    bench_die("mkdir %s: %s", files_dir, strerror(errno));
  drop_caches_ok = bench_drop_caches();
  cold_method = drop_caches_ok
                    ? "echo 1 > " BENCH_DROP_CACHES " before each side's pass\n"
                      "              (baseline: fadvise DONTNEED too)"
                    : "no drop_caches (not root?): fadvise DONTNEED of the "
                      "plain file\n"
                      "              and of every file of the image's pool";

  scratch = bench_xalloc(SEQ_BS);
  bench_fill_random(scratch, SEQ_BS, opt.seed);
  for (unsigned k = 0; k < opt.qd; k++) {
    slot_bufs[k] = bench_xalloc(SEQ_BS);
    memcpy(slot_bufs[k], scratch, SEQ_BS);
    slot_bufs[k][8] ^= (char)k; /* not all alike */
  }
  seq_offs = bench_xcalloc(nchunks, sizeof *seq_offs);
  for (unsigned i = 0; i < nchunks; i++)
    seq_offs[i] = (uint64_t)i * SEQ_BS;
  fill_random_offsets();
  lat_buf =
      bench_xcalloc(nchunks > opt.ops ? nchunks : opt.ops, sizeof *lat_buf);
  for (int p = 0; p < NPASS; p++)
    for (int s = 0; s < 2; s++)
      res[p][s] = bench_xcalloc(opt.rounds, sizeof(struct result));

  BENCH_CHECK_LBD(lbd_cluster_open(cluster_dir, true, &cluster),
                  "lbd_cluster_open %s", cluster_dir);

  for (unsigned round = 0; round < opt.rounds; round++) {
    /* Even rounds: baseline first; odd rounds: lbd first. */
    const enum side order[2] = {round % 2 ? LBD : BASE,
                                round % 2 ? BASE : LBD};
    struct target t; /* an image for lbd, a file for the baseline */

    /* A new target: sequential write at qd 1; then, on the data it wrote,
     * the reads and the random overwrites. */
    static const enum pass_id on_written[] = {
        SEQ_W1, SEQ_O1, SEQ_R1, SEQ_RN, RND_R1, RND_RN, SEQ_R1C, SEQ_RNC,
        RND_O1, RND_ON};
    bool need = false;
    for (size_t i = 0; i < NELEM(on_written); i++)
      need |= wanted(on_written[i]);
    if (need) {
      target_make(&t);
      if (wanted(SEQ_W1))
        pass_both(SEQ_W1, order, round, &t);
      else
        for (int k = 0; k < 2; k++)
          run_pass(SEQ_W1, order[k], round, &t, false);
      pass_both(SEQ_O1, order, round, &t);
      pass_both(SEQ_R1, order, round, &t);
      pass_both(SEQ_RN, order, round, &t);
      pass_both(RND_R1, order, round, &t);
      pass_both(RND_RN, order, round, &t);
      pass_both(SEQ_R1C, order, round, &t);
      pass_both(SEQ_RNC, order, round, &t);
      pass_both(RND_O1, order, round, &t);
      pass_both(RND_ON, order, round, &t);
      target_drop(&t);
    }

    /* The other writes, each on a new target. */
    static const enum pass_id fresh[] = {SEQ_WN, RND_W1, RND_WN};
    for (size_t i = 0; i < NELEM(fresh); i++) {
      if (!wanted(fresh[i]))
        continue;
      target_make(&t);
      pass_both(fresh[i], order, round, &t);
      target_drop(&t);
    }
  }

  lbd_cluster_close(cluster);
  bench_host_end();
  bench_output(opt.json, opt.json_file, print_json, print_table);
  bench_cleanup();
  for (int p = 0; p < NPASS; p++)
    for (int s = 0; s < 2; s++)
      free(res[p][s]);
  for (unsigned k = 0; k < opt.qd; k++)
    free(slot_bufs[k]);
  for (int k = 0; k < 3; k++)
    free(rand_offs[k]);
  free(seq_offs);
  free(lat_buf);
  free(scratch);
  return 0;
}
