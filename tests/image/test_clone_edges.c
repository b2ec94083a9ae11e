/* Clone edge cases found in review: each test pins one bug, checked
 * against an in-memory model of the bytes at the head and snapshots. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "image/image.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define PSIZE (8 * MiB)

static int setup(void **state) { return image_env_setup(state, "clone-edges"); }
static int teardown(void **state) { return image_env_teardown(state); }

static uint64_t rng_state = 0x853c49e6748fea9bULL;
static uint64_t rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void fill_random(char *b, uint64_t len)
{
  for (uint64_t i = 0; i < len; i++)
    b[i] = (char)(rnd() >> 56);
}

static void expect_image(lbd_ioctx_t *io, const char *name, const char *snap,
                         const char *model, uint64_t size)
{
  lbd_image_t *img;
  if (lbd_open(io, name, snap, LBD_OPEN_READ_ONLY, &img) < 0)
    fail_msg("open %s@%s: %s", name, snap ? snap : "-", lbd_last_error());
  uint64_t got;
  assert_ok(lbd_get_size(img, &got));
  assert_int_equal(got, size);
  char *b = malloc(size);
  assert_int_equal(lbd_read(img, 0, size, b), (ssize_t)size);
  for (uint64_t i = 0; i < size; i++)
    if (b[i] != model[i])
      fail_msg("%s@%s at %llu: 0x%02x, want 0x%02x", name, snap ? snap : "-",
               (unsigned long long)i, b[i] & 0xff, model[i] & 0xff);
  free(b);
  assert_ok(lbd_close(img));
}

/* Parent "p" of PSIZE random bytes with protected snapshot "s". */
static char *make_parent(struct image_env *e, const struct lbd_image_options *o)
{
  lbd_image_t *img;
  char *data = malloc(PSIZE);
  fill_random(data, PSIZE);
  assert_ok(lbd_create(e->io, "p", o));
  assert_ok(lbd_open(e->io, "p", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, PSIZE, data), (ssize_t)PSIZE);
  assert_ok(lbd_snap_create(img, "s"));
  assert_ok(lbd_snap_protect(img, "s"));
  assert_ok(lbd_close(img));
  return data;
}

static void drop_parent(struct image_env *e)
{
  lbd_image_t *p;
  assert_ok(lbd_open(e->io, "p", NULL, 0, &p));
  assert_ok(lbd_snap_unprotect(p, "s"));
  assert_ok(lbd_snap_remove(p, "s"));
  assert_ok(lbd_close(p));
  assert_ok(lbd_remove(e->io, "p"));
}

/* A snapshot taken before the clone shrank reads the parent past the new
 * overlap; rolling back to it must bring those bytes back to the head. */
static void rollback_after_shrink(struct image_env *e,
                                  const struct lbd_image_options *co,
                                  bool flatten)
{
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  char *model = make_parent(e, &po);
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", co));
  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  char w[3000];
  memset(w, 'w', sizeof w);
  assert_int_equal(lbd_write(c, MiB + 10, sizeof w, w), (ssize_t)sizeof w);
  memcpy(model + MiB + 10, w, sizeof w);
  assert_ok(lbd_snap_create(c, "full"));
  assert_ok(lbd_resize(c, 2 * MiB + 100));
  assert_ok(lbd_resize(c, PSIZE));
  assert_int_equal(lbd_write(c, 6 * MiB, sizeof w, w), (ssize_t)sizeof w);
  assert_ok(lbd_snap_rollback(c, "full", NULL, NULL));
  if (flatten)
    assert_ok(lbd_flatten(c, NULL, NULL));
  assert_ok(lbd_close(c));
  expect_image(e->io, "c", NULL, model, PSIZE);
  expect_image(e->io, "c", "full", model, PSIZE);
  if (flatten) {
    drop_parent(e);
    expect_image(e->io, "c", NULL, model, PSIZE);
    expect_image(e->io, "c", "full", model, PSIZE);
  }
  free(model);
}

static void test_rollback_after_shrink(void **state)
{
  struct lbd_image_options co = {.features = LBD_FEATURE_LAYERING};
  rollback_after_shrink(*state, &co, false);
}

static void test_rollback_after_shrink_deep_flatten(void **state)
{
  struct lbd_image_options co = {0}; /* defaults: deep-flatten, object map */
  rollback_after_shrink(*state, &co, true);
}

static void test_rollback_after_shrink_striped(void **state)
{
  struct lbd_image_options co = {.object_size = 512 * KiB,
                                 .stripe_unit = 64 * KiB, .stripe_count = 3};
  rollback_after_shrink(*state, &co, true);
}

/* A clone shrunk to nothing keeps its parent link for its snapshots: a
 * snapshot taken before still reads the parent (the link was dropped, and
 * it read zeroes), the head reads zeroes when grown back, and the parent
 * stays a parent (its snapshot cannot be unprotected). */
static void test_shrink_to_zero_keeps_snapshots(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  char *model = make_parent(e, &po);
  struct lbd_image_options co = {.features = LBD_FEATURE_LAYERING |
                                             LBD_FEATURE_EXCLUSIVE_LOCK};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  assert_ok(lbd_snap_create(c, "before"));
  assert_ok(lbd_resize(c, 0));
  assert_ok(lbd_resize(c, PSIZE));
  assert_ok(lbd_close(c));
  char *zero = calloc(1, PSIZE);
  expect_image(e->io, "c", NULL, zero, PSIZE);
  expect_image(e->io, "c", "before", model, PSIZE);
  /* still a clone, of overlap 0, as rbd says */
  struct lbd_parent_info pi;
  assert_ok(lbd_open(e->io, "c", NULL, LBD_OPEN_READ_ONLY, &c));
  assert_ok(lbd_get_parent(c, &pi));
  assert_string_equal(pi.image, "p");
  assert_int_equal(pi.overlap, 0);
  assert_ok(lbd_close(c));
  lbd_image_t *p;
  assert_ok(lbd_open(e->io, "p", NULL, 0, &p));
  expect_lbd_error(lbd_snap_unprotect(p, "s"), EBUSY, "unprotect of a "
                   "parent whose clone was shrunk to nothing", "c");
  assert_ok(lbd_close(p));
  free(zero);
  free(model);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rollback_after_shrink, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rollback_after_shrink_deep_flatten,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_shrink_to_zero_keeps_snapshots,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollback_after_shrink_striped,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
