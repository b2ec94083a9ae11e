/* Model test of image IO: random writes, discards and write_zeroes across
 * object and stripe boundaries, for several layouts, checked against an
 * in-memory copy of the image after every batch, after resizes (a shrink
 * drops the data past the new end, a regrow reads zeroes there) and after
 * closing and reopening the image and the cluster.
 *
 * The seed is printed; LBD_MODEL_SEED=<n> replays a run. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "image_fixture.h"
#include "../objstore/fixture.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)

static uint64_t seed;
static uint64_t rng;

static uint64_t rnd(void)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

static void rnd_fill(uint8_t *p, size_t len)
{
  while (len >= 8) {
    uint64_t v = rnd();
    memcpy(p, &v, 8);
    p += 8;
    len -= 8;
  }
  uint64_t v = rnd();
  memcpy(p, &v, len);
}

/* ---- the layouts ---------------------------------------------------------- */

struct layout {
  const char *what;
  uint64_t object_size, stripe_unit, stripe_count; /* 0: defaults */
  uint64_t size;
  bool data_pool;
};

static const struct layout layouts[] = {
    {"default 4M objects", 0, 0, 0, 3 * 4 * MiB + 3 * MiB / 2 + 777, false},
    {"os 64K su 16K sc 4", 64 * KiB, 16 * KiB, 4,
     5 * 256 * KiB + 3 * 16 * KiB + 100, false},
    {"os 8K su 4K sc 2", 8 * KiB, 4 * KiB, 2, 12 * 16 * KiB + 4 * KiB + 33,
     false},
    {"os 4K su 512 sc 8", 4 * KiB, 512, 8, 4 * 32 * KiB + 5 * 512 + 1, false},
    {"os 16K su 4K sc 3, data pool", 16 * KiB, 4 * KiB, 3,
     5 * 48 * KiB + 7 * 4 * KiB + 511, true},
    {"os 64K, data pool", 64 * KiB, 0, 0, 20 * 64 * KiB + 1234, true},
};

/* ---- one run ------------------------------------------------------------ */

#define LOG_MAX 64

struct run {
  const struct layout *l;
  struct image_env *e;  /* its cluster and pool rbd */
  lbd_image_t *img;
  uint64_t os, su, sc;  /* effective layout */
  uint64_t size;        /* current size */
  uint64_t cap;         /* model capacity */
  uint8_t *model;
  uint8_t *buf;
  char log[LOG_MAX][96];
  unsigned nlog;
};

static void logop(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logop(struct run *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->log[r->nlog % LOG_MAX], sizeof r->log[0], fmt, ap);
  va_end(ap);
  r->nlog++;
}

static void dump_log(const struct run *r)
{
  unsigned from = r->nlog > LOG_MAX ? r->nlog - LOG_MAX : 0;
  fprintf(stderr, "layout \"%s\" (os %" PRIu64 " su %" PRIu64 " sc %" PRIu64
          "), seed %" PRIu64 "; last operations:\n", r->l->what, r->os, r->su,
          r->sc, seed);
  for (unsigned i = from; i < r->nlog; i++)
    fprintf(stderr, "  #%u %s\n", i, r->log[i % LOG_MAX]);
}

#define run_ok(r, expr)                                                      \
  do {                                                                       \
    long long r_ = (long long)(expr);                                        \
    if (r_ < 0) {                                                            \
      dump_log(r);                                                           \
      fail_msg("%s = %lld: %s (seed %" PRIu64 ")", #expr, r_,                \
               lbd_last_error(), seed);                                      \
    }                                                                        \
  } while (0)

static void open_all(struct run *r)
{
  run_ok(r, lbd_cluster_open(r->e->dir, true, &r->e->c));
  run_ok(r, lbd_ioctx_create(r->e->c, "rbd", NULL, &r->e->io));
  run_ok(r, lbd_open(r->e->io, "model", NULL, 0, &r->img));
}

static void close_all(struct run *r)
{
  run_ok(r, lbd_flush(r->img));
  run_ok(r, lbd_close(r->img));
  r->img = NULL;
  lbd_ioctx_destroy(r->e->io);
  r->e->io = NULL;
  lbd_cluster_close(r->e->c);
  r->e->c = NULL;
}

/* Read [off, off+len) and compare it with the model. */
static void check_range(struct run *r, uint64_t off, uint64_t len,
                        const char *when)
{
  memset(r->buf, 0xa5, len);
  ssize_t n = lbd_read(r->img, off, len, r->buf);
  if (n != (ssize_t)len) {
    dump_log(r);
    fail_msg("%s: read(%" PRIu64 ", %" PRIu64 ") = %zd: %s (seed %" PRIu64
             ")", when, off, len, n, lbd_last_error(), seed);
  }
  if (memcmp(r->buf, r->model + off, len) != 0) {
    uint64_t i = 0;
    while (r->buf[i] == r->model[off + i])
      i++;
    uint64_t j = i;
    while (j < len && r->buf[j] != r->model[off + j])
      j++;
    dump_log(r);
    fail_msg("%s: image byte %" PRIu64 " reads 0x%02x, model has 0x%02x "
             "(differs for %" PRIu64 " bytes from there; read of %" PRIu64
             " at %" PRIu64 "; seed %" PRIu64 ")", when, off + i, r->buf[i],
             r->model[off + i], j - i, len, off, seed);
  }
}

static void check_all(struct run *r, const char *when)
{
  uint64_t size;
  run_ok(r, lbd_get_size(r->img, &size));
  if (size != r->size) {
    dump_log(r);
    fail_msg("%s: size %" PRIu64 ", model %" PRIu64, when, size, r->size);
  }
  check_range(r, 0, r->size, when);
  /* And some unaligned partial reads. */
  for (int k = 0; k < 8; k++) {
    uint64_t off = rnd_below(r->size);
    uint64_t len = 1 + rnd_below(r->size - off);
    if (k % 2)
      len = 1 + rnd_below(len < 3 * r->su ? len : 3 * r->su);
    check_range(r, off, len, when);
  }
  /* The last byte alone. */
  check_range(r, r->size - 1, 1, when);
}

/* An offset biased to object, stripe unit and period edges. */
static uint64_t pick_offset(struct run *r)
{
  uint64_t edge;
  switch (rnd_below(4)) {
  case 0:
    return rnd_below(r->size);
  case 1:
    edge = rnd_below(r->size / r->su + 1) * r->su;
    break;
  case 2:
    edge = rnd_below(r->size / r->os + 1) * r->os;
    break;
  default:
    edge = rnd_below(r->size / (r->os * r->sc) + 1) * r->os * r->sc;
    break;
  }
  /* Exactly on the edge, or a little before or after it. */
  switch (rnd_below(3)) {
  case 0:
    break;
  case 1:
    edge = edge > 0 ? edge - 1 - rnd_below(edge < 600 ? edge : 600) : 0;
    break;
  default:
    edge += 1 + rnd_below(600);
    break;
  }
  return edge < r->size ? edge : r->size - 1 - rnd_below(r->size < 64 ? r->size : 64);
}

static uint64_t pick_length(struct run *r, uint64_t off)
{
  uint64_t max = r->size - off, len;
  switch (rnd_below(6)) {
  case 0:
    len = 1 + rnd_below(512);
    break;
  case 1:
    len = 1 + rnd_below(2 * r->su);
    break;
  case 2:
    len = r->su * (1 + rnd_below(2 * r->sc + 1)); /* whole units */
    break;
  case 3:
    len = r->os * (1 + rnd_below(2)); /* whole objects' worth */
    break;
  case 4:
    len = 1 + rnd_below(r->os * r->sc * 2); /* across periods */
    break;
  default:
    len = max; /* to the end */
    break;
  }
  if (len > 6 * MiB)
    len = 1 + rnd_below(6 * MiB);
  return len < max ? len : max;
}

static void op_write(struct run *r, uint64_t off, uint64_t len)
{
  logop(r, "write %" PRIu64 " +%" PRIu64, off, len);
  rnd_fill(r->buf, len);
  ssize_t n = lbd_write(r->img, off, len, r->buf);
  if (n != (ssize_t)len) {
    dump_log(r);
    fail_msg("write(%" PRIu64 ", %" PRIu64 ") = %zd: %s (seed %" PRIu64 ")",
             off, len, n, lbd_last_error(), seed);
  }
  memcpy(r->model + off, r->buf, len);
}

static void op_discard(struct run *r, uint64_t off, uint64_t len, bool zeroes)
{
  logop(r, "%s %" PRIu64 " +%" PRIu64, zeroes ? "write_zeroes" : "discard",
        off, len);
  if (zeroes)
    run_ok(r, lbd_write_zeroes(r->img, off, len));
  else
    run_ok(r, lbd_discard(r->img, off, len));
  memset(r->model + off, 0, len);
}

static void random_op(struct run *r)
{
  uint64_t off = pick_offset(r);
  uint64_t len = pick_length(r, off);
  unsigned kind = (unsigned)rnd_below(10);
  if (kind < 6)
    op_write(r, off, len);
  else if (kind < 8)
    op_discard(r, off, len, false);
  else
    op_discard(r, off, len, true);
}

static void do_resize(struct run *r, uint64_t size)
{
  logop(r, "resize %" PRIu64 " -> %" PRIu64, r->size, size);
  run_ok(r, lbd_resize(r->img, size));
  if (size < r->size)
    memset(r->model + size, 0, r->size - size); /* dropped */
  r->size = size;
}

static void run_layout(struct image_env *e, const struct layout *l)
{
  struct run *r = calloc(1, sizeof *r);
  assert_non_null(r);
  r->l = l;
  r->e = e;
  rng = seed ^ (uint64_t)(l - layouts) * 0x2545f4914f6cdd1dULL;
  r->os = l->object_size ? l->object_size : 4 * MiB;
  r->su = l->stripe_unit ? l->stripe_unit : r->os;
  r->sc = l->stripe_count ? l->stripe_count : 1;
  r->size = l->size;
  r->cap = l->size + l->size / 2 + r->os;
  r->model = calloc(1, r->cap);
  r->buf = malloc(r->cap);
  assert_non_null(r->model);
  assert_non_null(r->buf);

  int64_t data_pool_id = -1;
  if (l->data_pool) {
    run_ok(r, image_env_pool_create(e->c, "data", NULL));
    struct lbd_pool_info *pools;
    size_t np;
    run_ok(r, lbd_pool_list(e->c, &pools, &np));
    for (size_t i = 0; i < np; i++)
      if (strcmp(pools[i].name, "data") == 0)
        data_pool_id = pools[i].id;
    lbd_pool_list_free(pools, np);
    assert_true(data_pool_id >= 0);
  }
  struct lbd_image_options o = {
      .size = l->size,
      .object_size = l->object_size,
      .stripe_unit = l->stripe_unit,
      .stripe_count = l->stripe_count,
      .data_pool = l->data_pool ? "data" : NULL,
  };
  run_ok(r, lbd_create(e->io, "model", &o));
  run_ok(r, lbd_open(e->io, "model", NULL, 0, &r->img));

  struct lbd_image_info info;
  run_ok(r, lbd_stat(r->img, &info));
  assert_int_equal(info.size, l->size);
  assert_int_equal(info.object_size, r->os);
  assert_int_equal(info.stripe_unit, r->su);
  assert_int_equal(info.stripe_count, r->sc);
  assert_int_equal(info.data_pool_id, data_pool_id);
  assert_int_equal(1ULL << info.order, r->os);

  /* A fresh image reads as zeroes. */
  check_all(r, "fresh image");

  char when[96];
  const int batches = 8, ops = 12;
  for (int b = 0; b < batches; b++) {
    for (int k = 0; k < ops; k++)
      random_op(r);
    snprintf(when, sizeof when, "after batch %d", b);
    check_all(r, when);
    if (b == 2) {
      /* Shrink to an unaligned size inside an object and unit, check, then
       * grow past the original size: the dropped range reads as zeroes. */
      uint64_t small = r->size / 3 + r->su / 2 + 13;
      do_resize(r, small);
      check_all(r, "after shrink");
      for (int k = 0; k < ops / 2; k++)
        random_op(r);
      check_all(r, "after shrink and IO");
      do_resize(r, l->size + l->size / 2);
      check_all(r, "after regrow");
    }
    if (b == 5) {
      /* Shrink to an object-set boundary, and back to the original. */
      uint64_t period = r->os * r->sc;
      uint64_t edge = (r->size / 2) / period * period;
      do_resize(r, edge ? edge : period);
      check_all(r, "after shrink to a period edge");
      do_resize(r, l->size);
      check_all(r, "after regrow to the original size");
    }
    if (b == 3) {
      /* Close and reopen the image alone. */
      logop(r, "reopen image");
      run_ok(r, lbd_close(r->img));
      run_ok(r, lbd_open(e->io, "model", NULL, 0, &r->img));
      check_all(r, "after reopening the image");
    }
  }

  /* Close everything, reopen the cluster, and check again; also through a
   * read-only handle. */
  logop(r, "reopen cluster");
  close_all(r);
  open_all(r);
  check_all(r, "after reopening the cluster");
  lbd_image_t *rw = r->img;
  run_ok(r, lbd_open(e->io, "model", NULL, LBD_OPEN_READ_ONLY, &r->img));
  check_all(r, "through a read-only handle");
  run_ok(r, lbd_close(r->img));
  r->img = rw;

  /* Discard everything: all zeroes. */
  op_discard(r, 0, r->size, false);
  check_all(r, "after discarding the whole image");

  run_ok(r, lbd_close(r->img));
  run_ok(r, lbd_remove(e->io, "model"));
  char **names;
  size_t n;
  run_ok(r, lbd_list(e->io, &names, &n));
  assert_int_equal(n, 0);
  lbd_names_free(names, n);
  free(r->model);
  free(r->buf);
  free(r);
}

static void test_layout_0(void **state) { run_layout(*state, &layouts[0]); }
static void test_layout_1(void **state) { run_layout(*state, &layouts[1]); }
static void test_layout_2(void **state) { run_layout(*state, &layouts[2]); }
static void test_layout_3(void **state) { run_layout(*state, &layouts[3]); }
static void test_layout_4(void **state) { run_layout(*state, &layouts[4]); }
static void test_layout_5(void **state) { run_layout(*state, &layouts[5]); }

/* ---- where the data goes ------------------------------------------------- */

static uint64_t du_total;

static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode))
    du_total += (uint64_t)st->st_blocks * 512;
  return 0;
}

static uint64_t pool_usage(lbd_cluster_t *c, const char *pool)
{
  struct lbd_pool_info *pools;
  size_t n;
  assert_ok(lbd_pool_list(c, &pools, &n));
  du_total = 0;
  bool found = false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(pools[i].name, pool) == 0) {
      found = true;
      assert_int_equal(nftw(pools[i].path, du_one, 16, FTW_PHYS), 0);
    }
  lbd_pool_list_free(pools, n);
  if (!found)
    fail_msg("no pool %s in lbd_pool_list", pool);
  return du_total;
}

/* 8 MiB written: the data pool grew by that much, the image's own pool
 * by little (from the usages META0 and DATA0 before). */
static void check_placement(lbd_cluster_t *c, uint64_t meta0, uint64_t data0)
{
  uint64_t meta1 = pool_usage(c, "rbd"), data1 = pool_usage(c, "data");
  printf("data pool: image pool %" PRIu64 " -> %" PRIu64 ", data pool %"
         PRIu64 " -> %" PRIu64 " bytes\n", meta0, meta1, data0, data1);
  if (data1 < data0 + 8 * MiB)
    fail_msg("8 MiB written, the data pool grew by %" PRId64 " bytes only",
             (int64_t)(data1 - data0));
  if (meta1 > meta0 + 1 * MiB)
    fail_msg("8 MiB written to an image with a data pool, its own pool grew "
             "by %" PRIu64 " bytes", meta1 - meta0);
}

/* With a data pool, the data lands there, not in the image's pool. */
static void test_data_pool_placement(void **state)
{
  struct image_env *e = *state;
  lbd_cluster_t *c = e->c;
  lbd_ioctx_t *io = e->io;
  lbd_image_t *img;
  assert_ok(image_env_pool_create(c, "data", NULL));
  struct lbd_image_options o = {.size = 16 * MiB, .object_size = 1 * MiB,
                                .data_pool = "data"};
  assert_ok(lbd_create(io, "dp", &o));
  assert_ok(lbd_open(io, "dp", NULL, 0, &img));
  struct lbd_image_info info;
  assert_ok(lbd_stat(img, &info));
  assert_true(info.features & LBD_FEATURE_DATA_POOL);
  /* pool_usage measures the files of local pools */
  bool local = !image_env_rados(1) && !image_env_rados(2);
  uint64_t meta0 = local ? pool_usage(c, "rbd") : 0;
  uint64_t data0 = local ? pool_usage(c, "data") : 0;
  uint8_t *b = malloc(8 * MiB);
  assert_non_null(b);
  rng = seed;
  rnd_fill(b, 8 * MiB);
  assert_int_equal(lbd_write(img, 4 * MiB + 4096, 8 * MiB, b), 8 * MiB);
  assert_ok(lbd_flush(img));
  if (local)
    check_placement(c, meta0, data0);
  uint8_t *got = malloc(8 * MiB);
  assert_non_null(got);
  assert_int_equal(lbd_read(img, 4 * MiB + 4096, 8 * MiB, got), 8 * MiB);
  assert_memory_equal(got, b, 8 * MiB);
  free(b);
  free(got);
  assert_ok(lbd_close(img));
  assert_ok(lbd_remove(io, "dp"));
}

static int setup(void **state) { return image_env_setup(state, "image-model"); }
static int teardown(void **state) { return image_env_teardown(state); }

int main(void)
{
  const char *env = getenv("LBD_MODEL_SEED");
  if (env && *env)
    seed = strtoull(env, NULL, 0);
  else
    seed = (uint64_t)time(NULL) * 1000003ULL ^ (uint64_t)getpid();
  printf("model seed: %" PRIu64 " (replay with LBD_MODEL_SEED=%" PRIu64 ")\n",
         seed, seed);
  fflush(stdout);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_layout_0, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layout_1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layout_2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layout_3, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layout_4, setup, teardown),
      cmocka_unit_test_setup_teardown(test_layout_5, setup, teardown),
      cmocka_unit_test_setup_teardown(test_data_pool_placement, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
