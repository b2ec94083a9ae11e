/* lbd_diff_iterate against an in-memory model: random writes, discards,
 * resizes and snapshots on striped and unstriped layouts, with and without
 * an object map.  After each batch, for every end version (the head, via
 * the writer that holds the object map and via a read-only handle, and
 * every snapshot) and every start (the beginning and each older snapshot):
 *
 *  - the extents come in image order, disjoint and coalesced;
 *  - they are exactly the 4 KiB blocks the model says changed: touched
 *    since the start and holding data at the end ("data"), or holding data
 *    at the start only ("zero");
 *  - in whole-object mode, whole objects, covering every changed block;
 *  - a sub-range gives the full diff clipped to it.
 *
 * Every operation is 4 KiB-aligned (and stripe units are multiples of
 * 4 KiB) so that the data maps of sparse reads are exact.  The seed is
 * printed; LBD_DIFF_SEED=<n> replays a run. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB (1ULL << 10)
#define BLK (4 * KiB)
#define MAX_SNAPS 6
#define MAX_BLOCKS 512 /* 2 MiB */

static uint64_t rng;

static uint64_t rnd(void)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }

static int setup(void **state) { return image_env_setup(state, "diff"); }
static int teardown(void **state) { return image_env_teardown(state); }

/* ---- the model ---------------------------------------------------------- */

struct version {
  uint64_t blocks;                    /* the size, in blocks */
  uint8_t bytes[MAX_BLOCKS * BLK];
  bool alloc[MAX_BLOCKS];             /* holds data */
  /* blocks changed since snapshot i, as of this version */
  bool touched[MAX_SNAPS][MAX_BLOCKS];
};

struct model {
  struct version head;
  struct version snaps[MAX_SNAPS];
  char names[MAX_SNAPS][16];
  int nsnaps;
};

struct layout {
  const char *what;
  uint64_t object_size, stripe_unit, stripe_count, size;
};

static const struct layout layouts[] = {
    {"64K objects", 64 * KiB, 64 * KiB, 1, 1024 * KiB - 12 * KiB},
    {"64K objects, 4K units x 4", 64 * KiB, 4 * KiB, 4, 1024 * KiB + 8 * KiB},
    {"16K objects, 8K units x 3", 16 * KiB, 8 * KiB, 3, 600 * KiB},
};

static void touch(struct model *m, uint64_t b)
{
  for (int s = 0; s < m->nsnaps; s++)
    m->head.touched[s][b] = true;
}

static void do_write(struct model *m, lbd_image_t *img)
{
  uint64_t b = rnd_below(m->head.blocks);
  uint64_t n = 1 + rnd_below(m->head.blocks - b < 40 ? m->head.blocks - b : 40);
  uint8_t *p = &m->head.bytes[b * BLK];
  /* Written zeroes are data too, except on RADOS, whose sparse reads take
   * 4 KiB blocks of zeroes for holes (README, "The RADOS backend"). */
  const char *backend = getenv("LBD_TEST_BACKEND");
  bool exact_zeroes = !backend || strcmp(backend, "rados") != 0;
  bool zeroes = exact_zeroes && rnd_below(8) == 0;
  for (uint64_t i = 0; i < n * BLK; i++)
    p[i] = zeroes ? 0 : (uint8_t)rnd();
  for (uint64_t i = b; i < b + n; i++) {
    m->head.alloc[i] = true;
    touch(m, i);
  }
  assert_int_equal(lbd_write(img, b * BLK, n * BLK, p), (ssize_t)(n * BLK));
}

static void do_discard(struct model *m, lbd_image_t *img)
{
  uint64_t b = rnd_below(m->head.blocks);
  uint64_t n = 1 + rnd_below(m->head.blocks - b < 64 ? m->head.blocks - b : 64);
  memset(&m->head.bytes[b * BLK], 0, n * BLK);
  for (uint64_t i = b; i < b + n; i++) {
    m->head.alloc[i] = false;
    touch(m, i);
  }
  assert_ok(lbd_discard(img, b * BLK, n * BLK));
}

static void do_resize(struct model *m, lbd_image_t *img, uint64_t base)
{
  uint64_t blocks = base / BLK / 2 + rnd_below(base / BLK);
  if (blocks > MAX_BLOCKS)
    blocks = MAX_BLOCKS;
  for (uint64_t i = blocks; i < m->head.blocks; i++) { /* shrink drops */
    memset(&m->head.bytes[i * BLK], 0, BLK);
    m->head.alloc[i] = false;
    touch(m, i);
  }
  for (uint64_t i = m->head.blocks; i < blocks; i++)
    touch(m, i);
  m->head.blocks = blocks;
  assert_ok(lbd_resize(img, blocks * BLK));
}

static void do_snap(struct model *m, lbd_image_t *img)
{
  int s = m->nsnaps++;
  snprintf(m->names[s], sizeof m->names[s], "s%d", s);
  memset(m->head.touched[s], 0, sizeof m->head.touched[s]);
  m->snaps[s] = m->head;
  assert_ok(lbd_snap_create(img, m->names[s]));
}

/* ---- collecting a diff ---------------------------------------------------- */

struct ext {
  uint64_t off, len;
  bool exists;
};

struct got {
  struct ext e[4096];
  size_t n;
};

static int collect(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct got *g = arg;
  if (g->n == sizeof g->e / sizeof *g->e)
    return -E2BIG;
  g->e[g->n++] = (struct ext){off, len, exists};
  return 0;
}

/* In image order, disjoint, coalesced, inside [OFF, END). */
static void check_shape(const struct got *g, uint64_t off, uint64_t end,
                        const char *what)
{
  for (size_t i = 0; i < g->n; i++) {
    const struct ext *x = &g->e[i];
    if (x->len == 0 || x->off < off || x->off + x->len > end)
      fail_msg("%s: extent %zu (%" PRIu64 "+%" PRIu64 ") outside [%" PRIu64
               ", %" PRIu64 ")", what, i, x->off, x->len, off, end);
    if (i && g->e[i - 1].off + g->e[i - 1].len > x->off)
      fail_msg("%s: extent %zu at %" PRIu64 " overlaps or precedes the one "
               "before it", what, i, x->off);
    if (i && g->e[i - 1].off + g->e[i - 1].len == x->off &&
        g->e[i - 1].exists == x->exists)
      fail_msg("%s: extents %zu and %zu at %" PRIu64 " are not coalesced",
               what, i - 1, i, x->off);
  }
}

/* Per block: 0 unreported, 1 data, 2 zero. */
static void to_blocks(const struct got *g, uint8_t *r, uint64_t blocks,
                      const char *what)
{
  memset(r, 0, blocks);
  for (size_t i = 0; i < g->n; i++) {
    const struct ext *x = &g->e[i];
    if (x->off % BLK || x->len % BLK)
      fail_msg("%s: extent %" PRIu64 "+%" PRIu64 " is not in whole blocks",
               what, x->off, x->len);
    for (uint64_t b = x->off / BLK; b < (x->off + x->len) / BLK; b++)
      r[b] = x->exists ? 1 : 2;
  }
}

/* What the model expects of block B between START (NULL: the beginning) and
 * END: 0 unchanged or zero at both, 1 data, 2 zero. */
static int expected(const struct version *start, int start_no,
                    const struct version *end, uint64_t b)
{
  bool touched = !start || end->touched[start_no][b];
  bool had = start && b < start->blocks && start->alloc[b];
  if (!touched)
    return 0;
  return end->alloc[b] ? 1 : had ? 2 : 0;
}

static uint64_t object_of(const struct layout *l, uint64_t off)
{
  uint64_t block = off / l->stripe_unit, sc = l->stripe_count;
  uint64_t units = l->object_size / l->stripe_unit;
  return (block / sc / units) * sc + block % sc;
}

static void check_exact(const struct got *g, const struct version *start,
                        int start_no, const struct version *end,
                        const char *what)
{
  uint8_t r[MAX_BLOCKS];
  to_blocks(g, r, end->blocks, what);
  for (uint64_t b = 0; b < end->blocks; b++) {
    int want = expected(start, start_no, end, b);
    if (r[b] != want)
      fail_msg("%s: block %" PRIu64 " (offset %" PRIu64 ") reported %d, "
               "want %d (0 none, 1 data, 2 zero)", what, b, b * BLK, r[b],
               want);
  }
}

static void check_whole(const struct got *g, const struct layout *l,
                        const struct version *start, int start_no,
                        const struct version *end, const char *what)
{
  uint8_t r[MAX_BLOCKS];
  int per_object[MAX_BLOCKS];
  to_blocks(g, r, end->blocks, what);
  for (uint64_t i = 0; i < MAX_BLOCKS; i++)
    per_object[i] = -1;
  for (uint64_t b = 0; b < end->blocks; b++) {
    int want = expected(start, start_no, end, b);
    if ((want == 1 && r[b] != 1) || (want == 2 && r[b] == 0))
      fail_msg("%s: changed block %" PRIu64 " reported %d, want %d", what, b,
               r[b], want);
    if (r[b] == 2 && end->alloc[b])
      fail_msg("%s: block %" PRIu64 " with data reported zero", what, b);
    if (!r[b] && expected(start, start_no, end, b))
      fail_msg("%s: block %" PRIu64 " unreported", what, b);
    uint64_t o = object_of(l, b * BLK);
    if (per_object[o] < 0)
      per_object[o] = r[b];
    else if (per_object[o] != r[b])
      fail_msg("%s: object %" PRIu64 " only partly reported (block %" PRIu64
               ")", what, o, b);
  }
}

/* ---- one comparison -------------------------------------------------------- */

static void check_content(lbd_image_t *img, const struct version *v,
                          const char *what)
{
  uint64_t size;
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, v->blocks * BLK);
  uint8_t *buf = malloc(size);
  assert_int_equal(lbd_read(img, 0, size, buf), (ssize_t)size);
  if (memcmp(buf, v->bytes, size) != 0)
    fail_msg("%s: the image's bytes differ from the model's", what);
  free(buf);
}

static void check_one(lbd_image_t *img, const struct layout *l,
                      const struct model *m, int from, const struct version *end,
                      const char *end_name)
{
  char what[160];
  const struct version *start = from < 0 ? NULL : &m->snaps[from];
  const char *from_name = from < 0 ? NULL : m->names[from];
  uint64_t size = end->blocks * BLK;
  snprintf(what, sizeof what, "%s: diff %s..%s", l->what,
           from_name ? from_name : "beginning", end_name);
  static struct got g, w, part;
  g.n = w.n = part.n = 0;
  assert_ok(lbd_diff_iterate(img, from_name, 0, size, false, false, collect,
                             &g));
  check_shape(&g, 0, size, what);
  check_exact(&g, start, from, end, what);
  /* include_parent changes nothing without a parent */
  part.n = 0;
  assert_ok(lbd_diff_iterate(img, from_name, 0, size, true, false, collect,
                             &part));
  assert_int_equal(part.n, g.n);
  assert_memory_equal(part.e, g.e, g.n * sizeof *g.e);
  /* whole objects */
  assert_ok(lbd_diff_iterate(img, from_name, 0, size, true, true, collect,
                             &w));
  check_shape(&w, 0, size, what);
  check_whole(&w, l, start, from, end, what);
  /* a sub-range: the full diff clipped */
  uint64_t off = rnd_below(size), len = 1 + rnd_below(size - off);
  part.n = 0;
  assert_ok(lbd_diff_iterate(img, from_name, off, len, false, false, collect,
                             &part));
  check_shape(&part, off, off + len, what);
  size_t k = 0;
  for (size_t i = 0; i < g.n; i++) {
    uint64_t o = g.e[i].off, e = o + g.e[i].len;
    if (e <= off || o >= off + len)
      continue;
    o = o < off ? off : o;
    e = e > off + len ? off + len : e;
    if (k >= part.n || part.e[k].off != o || part.e[k].len != e - o ||
        part.e[k].exists != g.e[i].exists)
      fail_msg("%s: sub-range [%" PRIu64 ", %" PRIu64 ") differs at %zu",
               what, off, off + len, k);
    k++;
  }
  assert_int_equal(k, part.n);
}

static void check_version(struct image_env *e, lbd_image_t *img,
                          const struct layout *l, const struct model *m,
                          int snap, const char *name)
{
  const struct version *end = snap < 0 ? &m->head : &m->snaps[snap];
  check_content(img, end, name);
  check_one(img, l, m, -1, end, name);
  for (int s = 0; s < (snap < 0 ? m->nsnaps : snap); s++)
    check_one(img, l, m, s, end, name);
  (void)e;
}

static void check_all(struct image_env *e, lbd_image_t *writer,
                      const struct layout *l, const struct model *m)
{
  lbd_image_t *img;
  check_version(e, writer, l, m, -1, "head (writer)");
  assert_ok(lbd_open(e->io, "m", NULL, LBD_OPEN_READ_ONLY, &img));
  check_version(e, img, l, m, -1, "head (reader)");
  assert_ok(lbd_close(img));
  for (int s = 0; s < m->nsnaps; s++) {
    assert_ok(lbd_open(e->io, "m", m->names[s], LBD_OPEN_READ_ONLY, &img));
    check_version(e, img, l, m, s, m->names[s]);
    assert_ok(lbd_close(img));
  }
}

static void run(struct image_env *e, const struct layout *l, bool object_map)
{
  static struct model m;
  memset(&m, 0, sizeof m);
  m.head.blocks = l->size / BLK;
  struct lbd_image_options o = {
      .size = l->size, .object_size = l->object_size,
      .stripe_unit = l->stripe_unit, .stripe_count = l->stripe_count,
      .features = object_map ? 0 /* defaults: with the object map */
                             : LBD_FEATURE_LAYERING |
                                   LBD_FEATURE_EXCLUSIVE_LOCK};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "m", &o));
  assert_ok(lbd_open(e->io, "m", NULL, 0, &img));
  for (int step = 0; step < 60; step++) {
    uint64_t op = rnd_below(100);
    if (op < 50)
      do_write(&m, img);
    else if (op < 75)
      do_discard(&m, img);
    else if (op < 83)
      do_resize(&m, img, l->size);
    else if (m.nsnaps < MAX_SNAPS)
      do_snap(&m, img);
    if (step % 12 == 11)
      check_all(e, img, l, &m);
  }
  check_all(e, img, l, &m);
  for (int s = 0; s < m.nsnaps; s++)
    assert_ok(lbd_snap_remove(img, m.names[s]));
  assert_ok(lbd_close(img));
  assert_ok(lbd_remove(e->io, "m"));
}

static void seed_rng(void)
{
  const char *s = getenv("LBD_DIFF_SEED");
  uint64_t seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
  printf("# LBD_DIFF_SEED=%" PRIu64 "\n", seed);
  rng = seed;
}

static void test_model(void **state)
{
  struct image_env *e = *state;
  for (size_t i = 0; i < sizeof layouts / sizeof *layouts; i++) {
    run(e, &layouts[i], true);
    run(e, &layouts[i], false);
  }
}

/* ---- the rest ---------------------------------------------------------- */

static int stop_at_second(uint64_t off, uint64_t len, bool exists, void *arg)
{
  (void)off, (void)len, (void)exists;
  return ++*(int *)arg == 2 ? -EINTR : 0;
}

static void test_errors(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 1 << 20, .object_size = 64 * KiB};
  lbd_image_t *img, *at;
  char buf[BLK];
  memset(buf, 'x', sizeof buf);
  assert_ok(lbd_create(e->io, "err", &o));
  assert_ok(lbd_open(e->io, "err", NULL, 0, &img));
  assert_ok(lbd_snap_create(img, "a"));
  assert_ok(lbd_snap_create(img, "b"));
  struct got g = {.n = 0};
  expect_lbd_error(lbd_diff_iterate(img, "nosuch", 0, 1 << 20, false, false,
                                    collect, &g),
                   ENOENT, "diff from a missing snapshot", "nosuch");
  expect_lbd_error(lbd_diff_iterate(img, "a", 0, 1, false, false, NULL, NULL),
                   EINVAL, "diff without a callback", NULL);
  assert_ok(lbd_open(e->io, "err", "a", LBD_OPEN_READ_ONLY, &at));
  expect_lbd_error(lbd_diff_iterate(at, "b", 0, 1 << 20, false, false,
                                    collect, &g),
                   EINVAL, "diff from a newer snapshot", "newer");
  assert_ok(lbd_diff_iterate(at, "a", 0, 1 << 20, false, false, collect, &g));
  assert_int_equal(g.n, 0); /* from a snapshot to itself: nothing */
  assert_ok(lbd_close(at));
  /* a callback's error stops the walk and comes back */
  for (int i = 0; i < 4; i++)
    assert_int_equal(lbd_write(img, (uint64_t)i * 128 * KiB, BLK, buf), BLK);
  int calls = 0;
  expect_lbd_error(lbd_diff_iterate(img, NULL, 0, 1 << 20, false, false,
                                    stop_at_second, &calls),
                   EINTR, "diff stopped by its callback", "callback");
  assert_int_equal(calls, 2);
  /* past the end: nothing; a range reaching past it: clipped */
  g.n = 0;
  assert_ok(lbd_diff_iterate(img, NULL, 2 << 20, 4096, false, false, collect,
                             &g));
  assert_int_equal(g.n, 0);
  assert_ok(lbd_diff_iterate(img, NULL, 384 * KiB, UINT64_MAX, false, false,
                             collect, &g));
  assert_int_equal(g.n, 1);
  assert_int_equal(g.e[0].off, 384 * KiB);
  assert_ok(lbd_snap_remove(img, "a"));
  assert_ok(lbd_snap_remove(img, "b"));
  assert_ok(lbd_close(img));
}

/* du of a snapshot counts what the snapshot holds, also when the head has
 * dropped those objects. */
static void test_du_snapshot(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 1 << 20, .object_size = 64 * KiB};
  lbd_image_t *img, *at;
  char buf[16 * KiB];
  uint64_t prov, used;
  memset(buf, 'y', sizeof buf);
  assert_ok(lbd_create(e->io, "du", &o));
  assert_ok(lbd_open(e->io, "du", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, sizeof buf, buf), sizeof buf);
  assert_int_equal(lbd_write(img, 512 * KiB, sizeof buf, buf), sizeof buf);
  assert_ok(lbd_snap_create(img, "full"));
  assert_ok(lbd_discard(img, 0, 1 << 20));
  assert_ok(lbd_resize(img, 256 * KiB));
  assert_ok(lbd_disk_usage(img, &prov, &used));
  assert_int_equal(prov, 256 * KiB);
  assert_int_equal(used, 0);
  assert_ok(lbd_open(e->io, "du", "full", LBD_OPEN_READ_ONLY, &at));
  assert_ok(lbd_disk_usage(at, &prov, &used));
  assert_int_equal(prov, 1 << 20);
  assert_int_equal(used, 2 * sizeof buf);
  assert_ok(lbd_close(at));
  assert_ok(lbd_snap_remove(img, "full"));
  assert_ok(lbd_close(img));
}

int main(void)
{
  seed_rng();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_model, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_du_snapshot, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
