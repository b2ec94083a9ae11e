/* Write ops are all or nothing across kill -9.
 *
 * Each trial forks a child that opens the cluster with its own handle and
 * loops, without pause, over a few objects:
 *   - "crash.full.N": write_full of a whole object (up to 4 MiB) whose every
 *     4 KiB block carries the op's generation number;
 *   - "crash.cmp.N": one compound op, steps in random order: a cmp_xattr
 *     guard on the generation the child knows is there, a truncate to the
 *     new size, several writes to different ranges that together cover the
 *     object, setxattr "gen" and omap_set "gen" -- all with the same
 *     generation.  The last one is small (up to 16 KiB) and written in
 *     bursts: many short ops, so that kills often land inside a commit.
 * No op is a lone write/zero step, so the in-place exception of the
 * contract does not apply: every op must be all or nothing.
 *
 * Before each op the child records (in shared memory) the generation in
 * flight for the object, after it the generation acknowledged.  The parent
 * kills the child with SIGKILL after a random delay (0-30 ms) and checks
 * that every object is exactly in the state of the acknowledged op or of
 * the one in flight: one generation in every block, the size that
 * generation wrote, xattr and omap "gen" equal to the data's generation.
 * Then pool_check must find nothing missing, and after a repair no orphan.
 *
 * LBD_CRASH_TRIALS (default 200) and LBD_CRASH_SEED change the run. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define BLOCK 4096u
#define FULL_MAX (4u << 20)   /* write_full objects: up to 4 MiB */
#define CMP_MAX (1u << 20)    /* compound-op objects: up to 1 MiB */
#define SMALL_MAX (16u << 10) /* the last compound-op object: up to 16 KiB */
#define NFULL 2
#define NCMP 3
#define NOBJ (NFULL + NCMP)
#define SMALL_OBJ (NOBJ - 1)
#define SMALL_BURST 8
#define MAX_DELAY_US 30000
#define DEFAULT_TRIALS 200

/* Shared between the parent and the child of a trial. */
struct shared {
  _Atomic uint64_t next_gen;
  _Atomic uint64_t acked[NOBJ];    /* last acknowledged generation, 0: none */
  _Atomic uint64_t inflight[NOBJ]; /* generation of the op started last */
  _Atomic uint64_t ops_done;
  _Atomic int child_failed;
  int child_ret;
  char child_msg[512];
};

static pid_t child_pid;

static bool is_cmp(int obj) { return obj >= NFULL; }

static size_t max_size(int obj)
{
  return obj == SMALL_OBJ ? SMALL_MAX : is_cmp(obj) ? CMP_MAX : FULL_MAX;
}

static void oid_of(int obj, char *buf, size_t size)
{
  if (is_cmp(obj))
    snprintf(buf, size, "crash.cmp.%d", obj - NFULL);
  else
    snprintf(buf, size, "crash.full.%d", obj);
}

static uint64_t splitmix(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct rng {
  uint64_t s;
};
static uint64_t rng_next(struct rng *r) { return splitmix(r->s++); }
static uint64_t rng_below(struct rng *r, uint64_t n) { return rng_next(r) % n; }

/* The size the op of generation G writes: whole blocks minus a tail that
 * always leaves the last block room for its 16-byte header. */
static size_t size_of(int obj, uint64_t gen)
{
  uint64_t h = splitmix(gen ^ 0x5151);
  uint64_t blocks = max_size(obj) / BLOCK;
  size_t size = (size_t)((h % blocks) + 1) * BLOCK;
  if ((h >> 32) & 1)
    size -= (size_t)((h >> 40) % (BLOCK - 100));
  return size;
}

/* Block B of generation G: 8 bytes gen, 8 bytes block index, then bytes
 * derived from G only (a per-generation template). */
static void make_template(uint64_t gen, unsigned char *tpl)
{
  memcpy(tpl, &gen, 8);
  memset(tpl + 8, 0, 8);
  uint64_t x = gen * 0x2545f4914f6cdd1dull;
  for (size_t i = 16; i < BLOCK; i += 8) {
    x = splitmix(x);
    memcpy(tpl + i, &x, 8);
  }
}

static void fill_object(unsigned char *buf, size_t size,
                        const unsigned char *tpl)
{
  for (size_t off = 0; off < size; off += BLOCK) {
    size_t n = size - off < BLOCK ? size - off : BLOCK;
    unsigned char blk[BLOCK];
    memcpy(blk, tpl, BLOCK);
    uint64_t b = off / BLOCK;
    memcpy(blk + 8, &b, 8);
    memcpy(buf + off, blk, n);
  }
}

static void child_fail(struct shared *sh, int ret, const char *what)
{
  sh->child_ret = ret;
  snprintf(sh->child_msg, sizeof sh->child_msg, "%s = %d: %s", what, ret,
           lbd_last_error());
  atomic_store(&sh->child_failed, 1);
  _exit(1);
}

static int compound_op(struct objstore_pool *pool, const char *oid,
                       uint64_t prev_gen, uint64_t gen, const unsigned char *buf,
                       size_t size, struct rng *r, unsigned flags)
{
  /* Cut [0, size) into 2-6 pieces. */
  size_t cuts[8];
  size_t ncuts = 0;
  cuts[ncuts++] = 0;
  int want = 1 + (int)rng_below(r, 5);
  for (int i = 0; i < want; i++)
    cuts[ncuts++] = 1 + (size_t)rng_below(r, size - 1);
  cuts[ncuts++] = size;
  for (size_t i = 1; i < ncuts; i++) /* insertion sort */
    for (size_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
      size_t t = cuts[j];
      cuts[j] = cuts[j - 1];
      cuts[j - 1] = t;
    }
  /* Steps: writes (one per non-empty piece), truncate, setxattr, omap_set,
   * in a random order after the guard. */
  enum { S_WRITE, S_TRUNC, S_XATTR, S_OMAP };
  struct step {
    int kind;
    size_t off, len;
  } steps[16];
  size_t nsteps = 0;
  for (size_t i = 0; i + 1 < ncuts; i++)
    if (cuts[i + 1] > cuts[i])
      steps[nsteps++] = (struct step){S_WRITE, cuts[i], cuts[i + 1] - cuts[i]};
  steps[nsteps++] = (struct step){S_TRUNC, 0, 0};
  steps[nsteps++] = (struct step){S_XATTR, 0, 0};
  steps[nsteps++] = (struct step){S_OMAP, 0, 0};
  for (size_t i = nsteps - 1; i > 0; i--) {
    size_t j = (size_t)rng_below(r, i + 1);
    struct step t = steps[i];
    steps[i] = steps[j];
    steps[j] = t;
  }
  char prev[32] = "", cur[32];
  if (prev_gen)
    snprintf(prev, sizeof prev, "%" PRIu64, prev_gen);
  snprintf(cur, sizeof cur, "%" PRIu64, gen);

  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return -ENOMEM;
  objstore_write_op_cmp_xattr(op, "gen", OBJSTORE_CMP_EQ, prev, strlen(prev));
  for (size_t i = 0; i < nsteps; i++) {
    switch (steps[i].kind) {
    case S_WRITE:
      objstore_write_op_write(op, steps[i].off, buf + steps[i].off,
                              steps[i].len);
      break;
    case S_TRUNC:
      objstore_write_op_truncate(op, size);
      break;
    case S_XATTR:
      objstore_write_op_setxattr(op, "gen", cur, strlen(cur));
      break;
    case S_OMAP:
      objstore_write_op_omap_set(op, "gen", cur, strlen(cur));
      break;
    }
  }
  int ret = objstore_write_op_operate(pool, oid, op, NULL, flags);
  objstore_write_op_free(op);
  return ret;
}

/* The child of one trial: never returns. */
static void child_main(const char *dir, int64_t pool_id, struct shared *sh,
                       int ready_fd, uint64_t seed)
{
  struct objstore_cluster *cluster = NULL;
  struct objstore_pool *pool = NULL;
  int ret = objstore_cluster_open(dir, &cluster);
  if (ret < 0)
    child_fail(sh, ret, "objstore_cluster_open");
  ret = objstore_pool_open(cluster, pool_id, "", &pool);
  if (ret < 0)
    child_fail(sh, ret, "objstore_pool_open");
  unsigned char *buf = malloc(FULL_MAX);
  unsigned char *tpl = malloc(BLOCK);
  if (!buf || !tpl)
    child_fail(sh, -ENOMEM, "malloc");
  struct rng r = {seed};
  char c = 'r';
  if (write(ready_fd, &c, 1) != 1)
    _exit(2);
  close(ready_fd);
  int burst = 0;
  for (;;) {
    int obj;
    if (burst > 0) {
      obj = SMALL_OBJ;
      burst--;
    } else {
      obj = (int)rng_below(&r, NOBJ);
      if (obj == SMALL_OBJ)
        burst = SMALL_BURST - 1;
    }
    char oid[32];
    oid_of(obj, oid, sizeof oid);
    uint64_t prev = atomic_load(&sh->acked[obj]);
    uint64_t gen = atomic_fetch_add(&sh->next_gen, 1);
    size_t size = size_of(obj, gen);
    make_template(gen, tpl);
    fill_object(buf, size, tpl);
    unsigned flags = rng_below(&r, 16) == 0 ? OBJSTORE_OP_FUA : 0;
    atomic_store(&sh->inflight[obj], gen);
    if (is_cmp(obj)) {
      ret = compound_op(pool, oid, prev, gen, buf, size, &r, flags);
      if (ret < 0) {
        char what[160];
        snprintf(what, sizeof what,
                 "compound op on %s (generation %" PRIu64 " over %" PRIu64 ")",
                 oid, gen, prev);
        child_fail(sh, ret, what);
      }
    } else if (rng_below(&r, 2)) {
      ret = objstore_write_full(pool, oid, NULL, buf, size);
      if (ret < 0)
        child_fail(sh, ret, "objstore_write_full");
    } else {
      struct objstore_write_op *op = objstore_write_op_new();
      if (!op)
        child_fail(sh, -ENOMEM, "objstore_write_op_new");
      objstore_write_op_write_full(op, buf, size);
      ret = objstore_write_op_operate(pool, oid, op, NULL, flags);
      objstore_write_op_free(op);
      if (ret < 0)
        child_fail(sh, ret, "write op with write_full");
    }
    atomic_store(&sh->acked[obj], gen);
    atomic_fetch_add(&sh->ops_done, 1);
  }
}

static int teardown(void **state)
{
  if (child_pid > 0) {
    kill(child_pid, SIGKILL);
    waitpid(child_pid, NULL, 0);
    child_pid = 0;
  }
  return fixture_teardown(state);
}

static unsigned char *vbuf; /* FULL_MAX + BLOCK */

/* Check OBJ against the generations the child left; return the generation
 * found (0: the object does not exist). */
static uint64_t verify_object(struct objstore_pool *pool, int obj,
                              uint64_t acked, uint64_t inflight, int trial)
{
  char oid[32];
  oid_of(obj, oid, sizeof oid);
  struct objstore_stat st;
  int ret = objstore_stat(pool, oid, OBJSTORE_SNAP_HEAD, &st);
  if (ret == -ENOENT) {
    assert_true(lbd_last_error()[0] != '\0');
    if (acked != 0)
      fail_msg("trial %d: %s is missing but generation %" PRIu64
               " was acknowledged", trial, oid, acked);
    ssize_t n = objstore_read(pool, oid, OBJSTORE_SNAP_HEAD, 0, 16, vbuf);
    assert_int_equal(n, -ENOENT);
    return 0;
  }
  if (ret < 0)
    fail_msg("trial %d: stat %s = %d: %s (acked %" PRIu64 ", in flight %"
             PRIu64 ")", trial, oid, ret, lbd_last_error(), acked, inflight);
  if (st.size < 16 || st.size > max_size(obj))
    fail_msg("trial %d: %s has size %" PRIu64 " (acked %" PRIu64
             ", in flight %" PRIu64 ")", trial, oid, st.size, acked,
             inflight);
  ssize_t n = objstore_read(pool, oid, OBJSTORE_SNAP_HEAD, 0,
                            (size_t)st.size + BLOCK, vbuf);
  assert_ok(n);
  if ((uint64_t)n != st.size)
    fail_msg("trial %d: %s: read %zd bytes, stat says %" PRIu64, trial, oid,
             n, st.size);
  uint64_t gen;
  memcpy(&gen, vbuf, 8);
  if (gen == 0 || (gen != acked && gen != inflight))
    fail_msg("trial %d: %s: block 0 has generation %" PRIu64
             "; acknowledged %" PRIu64 ", in flight %" PRIu64, trial, oid,
             gen, acked, inflight);
  size_t want_size = size_of(obj, gen);
  if (st.size != want_size)
    fail_msg("trial %d: %s: generation %" PRIu64 " wrote %zu bytes, the "
             "object has %" PRIu64 " (acked %" PRIu64 ", in flight %" PRIu64
             ")", trial, oid, gen, want_size, st.size, acked, inflight);
  unsigned char tpl[BLOCK], blk[BLOCK];
  make_template(gen, tpl);
  memcpy(blk, tpl, BLOCK);
  for (size_t off = 0; off < want_size; off += BLOCK) {
    size_t len = want_size - off < BLOCK ? want_size - off : BLOCK;
    uint64_t b = off / BLOCK;
    memcpy(blk + 8, &b, 8);
    if (memcmp(vbuf + off, blk, len) != 0) {
      uint64_t g2, b2;
      memcpy(&g2, vbuf + off, 8);
      memcpy(&b2, vbuf + off + 8, 8);
      size_t at = 0;
      while (at < len && vbuf[off + at] == blk[at])
        at++;
      fail_msg("trial %d: %s (generation %" PRIu64 ", %zu bytes): block %"
               PRIu64 " differs at byte %zu; it says generation %" PRIu64
               " block %" PRIu64 " (acked %" PRIu64 ", in flight %" PRIu64
               ")", trial, oid, gen, want_size, b, at, g2, b2, acked,
               inflight);
    }
  }
  if (is_cmp(obj)) {
    char want[32];
    snprintf(want, sizeof want, "%" PRIu64, gen);
    void *val = NULL;
    size_t len = 0;
    assert_ok(objstore_getxattr(pool, oid, "gen", &val, &len));
    if (len != strlen(want) || memcmp(val, want, len) != 0)
      fail_msg("trial %d: %s: data has generation %s, xattr gen is \"%.*s\"",
               trial, oid, want, (int)len, (char *)val);
    free(val);
    const char *keys[] = {"gen"};
    struct objstore_kv *kvs = NULL;
    size_t count = 0;
    assert_ok(objstore_omap_get_keys(pool, oid, keys, 1, &kvs, &count));
    if (count != 1 || strcmp(kvs[0].key, "gen") != 0 ||
        kvs[0].len != strlen(want) || memcmp(kvs[0].value, want, kvs[0].len))
      fail_msg("trial %d: %s: data has generation %s, omap gen is \"%.*s\" "
               "(%zu keys)", trial, oid, want,
               count ? (int)kvs[0].len : 0,
               count ? (char *)kvs[0].value : "", count);
    objstore_kv_free(kvs, count);
  }
  return gen;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
  const char *v = getenv(name);
  return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void test_kill9_atomicity(void **state)
{
  struct fixture *f = *state;
  int trials = (int)env_u64("LBD_CRASH_TRIALS", DEFAULT_TRIALS);
  uint64_t seed = env_u64("LBD_CRASH_SEED", (uint64_t)time(NULL));
  printf("crash atomicity: %d trials, LBD_CRASH_SEED=%" PRIu64 "\n", trials,
         seed);
  fflush(stdout);
  struct rng r = {seed};

  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(sh != MAP_FAILED);
  memset(sh, 0, sizeof *sh);
  atomic_store(&sh->next_gen, 1);
  vbuf = malloc(FULL_MAX + BLOCK);
  assert_non_null(vbuf);

  /* An empty pool checks clean. */
  struct objstore_check_report rep0;
  memset(&rep0, 0xff, sizeof rep0);
  assert_ok(objstore_pool_check(f->pool, false, &rep0));
  assert_int_equal(rep0.objects, 0);
  assert_int_equal(rep0.orphans, 0);
  assert_int_equal(rep0.missing, 0);

  uint64_t state_gen[NOBJ] = {0};
  int killed_mid_op = 0, landed_new = 0, trials_with_orphans = 0;
  uint64_t total_orphans = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  for (int trial = 0; trial < trials; trial++) {
    for (int o = 0; o < NOBJ; o++) {
      atomic_store(&sh->acked[o], state_gen[o]);
      atomic_store(&sh->inflight[o], state_gen[o]);
    }
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    uint64_t child_seed = rng_next(&r);
    /* 0-30 ms, with the edges (at once, and the whole range) common. */
    long delay_us;
    switch (trial % 8) {
    case 0: delay_us = 0; break;
    case 1: delay_us = (long)rng_below(&r, 1000); break;
    case 2: delay_us = MAX_DELAY_US - (long)rng_below(&r, 3000); break;
    default: delay_us = (long)rng_below(&r, MAX_DELAY_US + 1); break;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      alarm(30); /* never outlive a stuck parent */
      child_main(f->dir, f->pool_id, sh, fds[1], child_seed);
    }
    child_pid = pid;
    close(fds[1]);
    char c;
    ssize_t n;
    do
      n = read(fds[0], &c, 1);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == 1 && delay_us > 0) {
      struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
      while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    }
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    child_pid = 0;
    if (atomic_load(&sh->child_failed))
      fail_msg("trial %d: child failed: %s", trial, sh->child_msg);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
      fail_msg("trial %d: child ended by itself (status %#x)", trial, status);
    if (n != 1)
      fail_msg("trial %d: child died before it was ready", trial);

    for (int o = 0; o < NOBJ; o++) {
      uint64_t acked = atomic_load(&sh->acked[o]);
      uint64_t inflight = atomic_load(&sh->inflight[o]);
      uint64_t got = verify_object(f->pool, o, acked, inflight, trial);
      if (inflight != acked) {
        killed_mid_op++;
        landed_new += got == inflight;
      }
      state_gen[o] = got;
    }

    struct objstore_check_report rep;
    memset(&rep, 0xff, sizeof rep);
    assert_ok(objstore_pool_check(f->pool, false, &rep));
    if (rep.missing != 0)
      fail_msg("trial %d: pool_check: %" PRIu64 " missing data file(s)",
               trial, rep.missing);
    if (rep.orphans) {
      trials_with_orphans++;
      total_orphans += rep.orphans;
    }
    memset(&rep, 0xff, sizeof rep);
    assert_ok(objstore_pool_check(f->pool, true, &rep));
    assert_int_equal(rep.missing, 0);
    memset(&rep, 0xff, sizeof rep);
    assert_ok(objstore_pool_check(f->pool, false, &rep));
    if (rep.orphans != 0 || rep.missing != 0)
      fail_msg("trial %d: after repair pool_check finds %" PRIu64
               " orphan(s), %" PRIu64 " missing", trial, rep.orphans,
               rep.missing);
    uint64_t exist = 0;
    for (int o = 0; o < NOBJ; o++)
      exist += state_gen[o] != 0;
    if (rep.objects != exist)
      fail_msg("trial %d: pool_check counted %" PRIu64 " objects, %" PRIu64
               " exist", trial, rep.objects, exist);
    /* Repair touched nothing the objects hold. */
    if (trial % 20 == 19 || trial == trials - 1)
      for (int o = 0; o < NOBJ; o++)
        assert_int_equal(verify_object(f->pool, o, state_gen[o],
                                       state_gen[o], trial),
                         state_gen[o]);
  }

  /* A fresh handle sees the same. */
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL;
  assert_ok(objstore_cluster_open(f->dir, &c2));
  assert_ok(objstore_pool_open(c2, f->pool_id, "", &p2));
  for (int o = 0; o < NOBJ; o++)
    assert_int_equal(verify_object(p2, o, state_gen[o], state_gen[o], -1),
                     state_gen[o]);
  objstore_pool_close(p2);
  objstore_cluster_close(c2);

  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("crash atomicity: %d trials in %.1f s, %" PRIu64 " ops acknowledged, "
         "%d kills during an op (%d of them landed), orphans in %d trials "
         "(%" PRIu64 " in all)\n",
         trials,
         (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
         atomic_load(&sh->ops_done), killed_mid_op, landed_new,
         trials_with_orphans, total_orphans);
  free(vbuf);
  vbuf = NULL;
  munmap(sh, sizeof *sh);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_kill9_atomicity, fixture_setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
