/* Bad input to the image library: each a negative errno with a message for
 * the user, and no partial image left behind. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "image_fixture.h"
#include "../objstore/fixture.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define PiB (1ULL << 50)
#define SIZE (8 * MiB)

struct env {
  struct image_env *base;
  lbd_cluster_t *c;  /* base's */
  lbd_ioctx_t *io;   /* base's: pool rbd */
  lbd_image_t *h[2]; /* images a test left open when it failed */
};

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  void *base;
  if (!e || image_env_setup(&base, "image-bad-input") < 0)
    return -1;
  e->base = base;
  e->c = e->base->c;
  e->io = e->base->io;
  struct lbd_image_options o = {.size = SIZE};
  if (lbd_create(e->io, "keep", &o) < 0) {
    fprintf(stderr, "setup: %s\n", lbd_last_error());
    return -1;
  }
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  if (!e)
    return 0;
  for (size_t i = 0; i < 2; i++)
    if (e->h[i])
      lbd_close(e->h[i]);
  void *base = e->base;
  image_env_teardown(&base);
  free(e);
  return 0;
}

/* The image list is exactly {"keep"}. */
static void assert_only_keep(struct env *e, const char *after)
{
  char **names = NULL;
  size_t n = 0;
  assert_ok(lbd_list(e->io, &names, &n));
  if (n != 1 || strcmp(names[0], "keep") != 0) {
    fprintf(stderr, "images after %s:", after);
    for (size_t i = 0; i < n; i++)
      fprintf(stderr, " \"%s\"", names[i]);
    fprintf(stderr, "\n");
    lbd_names_free(names, n);
    fail_msg("after %s the image list is not just \"keep\"", after);
  }
  lbd_names_free(names, n);
}

/* R is a negative errno (WANT, if not 0) with a non-empty message that
 * contains MENTION (if not NULL). */
static void expect_error(long long r, int want, const char *what,
                         const char *mention)
{
  const char *msg = lbd_last_error();
  if (r >= 0)
    fail_msg("%s succeeded (%lld), want an error", what, r);
  if (r < -4095)
    fail_msg("%s = %lld: not a negative errno", what, r);
  if (want && r != -want)
    fail_msg("%s = %lld (%s), want -%d (%s)", what, r, strerror((int)-r), want,
             strerror(want));
  if (!msg || !*msg)
    fail_msg("%s = %lld with an empty lbd_last_error()", what, r);
  if (mention && !strstr(msg, mention))
    fail_msg("%s: message \"%s\" does not mention \"%s\"", what, msg,
             mention);
}

static void expect_create_fails(struct env *e, const char *name,
                                const struct lbd_image_options *o, int want,
                                const char *what, const char *mention)
{
  int r = lbd_create(e->io, name, o);
  expect_error(r, want, what, mention);
  assert_only_keep(e, what);
}

/* ---- names ---------------------------------------------------------------- */

static void test_bad_names(void **state)
{
  struct env *e = *state;
  struct lbd_image_options o = {.size = SIZE};
  char long_name[300], longer[5000];
  memset(long_name, 'n', 256);
  long_name[256] = '\0';
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  const char *bad[] = {"", "a/b", "a@b", "/", "@", "pool/image",
                       "image@snap", "a\nb", long_name, longer};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[64];
    snprintf(what, sizeof what, "create of bad name #%zu", i);
    expect_create_fails(e, bad[i], &o, 0, what, NULL);
    snprintf(what, sizeof what, "open of bad name #%zu", i);
    lbd_image_t *img = NULL;
    expect_error(lbd_open(e->io, bad[i], NULL, 0, &img), 0, what, NULL);
    snprintf(what, sizeof what, "remove of bad name #%zu", i);
    expect_error(lbd_remove(e->io, bad[i]), 0, what, NULL);
    snprintf(what, sizeof what, "rename to bad name #%zu", i);
    expect_error(lbd_rename(e->io, "keep", bad[i]), 0, what, NULL);
    assert_only_keep(e, what);
  }
  /* The reason is given for the characters. */
  expect_create_fails(e, "a/b", &o, EINVAL, "create a/b", "/");
  expect_create_fails(e, "a@b", &o, EINVAL, "create a@b", "@");
  /* The name is checked without a size. */
  struct lbd_image_options zero = {0};
  expect_create_fails(e, "a/b", &zero, 0, "create a/b of size 0", NULL);
  /* Creating "keep" again. */
  expect_create_fails(e, "keep", &o, EEXIST, "create of an existing name",
                      "keep");
}

/* ---- sizes and layouts ---------------------------------------------------- */

static void test_bad_sizes(void **state)
{
  struct env *e = *state;
  struct lbd_image_options o = {.size = 64 * PiB + 1};
  expect_create_fails(e, "img", &o, EINVAL, "create of 64 PiB + 1", NULL);
  o.size = 65 * PiB;
  expect_create_fails(e, "img", &o, EINVAL, "create of 65 PiB", NULL);
  o.size = UINT64_MAX;
  expect_create_fails(e, "img", &o, EINVAL, "create of 2^64-1 bytes", NULL);
}

static void test_bad_layouts(void **state)
{
  struct env *e = *state;
  static const struct {
    uint64_t os, su, sc;
    const char *mention;
  } bad[] = {
      {3000, 0, 0, "3000"},
      {64 * MiB, 0, 0, "67108864"},
      {2 * KiB, 0, 0, NULL},
      {6 * MiB, 0, 0, NULL},
      {4 * MiB + 4096, 0, 0, NULL},
      {64 * KiB, 24 * KiB, 2, "24576"},   /* unit does not divide */
      {4 * MiB, 3 * MiB, 1, NULL},
      {4 * MiB, 8 * MiB, 1, NULL},        /* unit over the object */
      {4 * KiB, 256, 2, "256"},           /* unit under 512 */
      {4 * MiB, 64 * KiB, 4097, "4097"},  /* stripe count over 4096 */
      {0, 1000, 2, NULL},                 /* default 4M, unit 1000 */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    struct lbd_image_options o = {.size = SIZE,
                                  .object_size = bad[i].os,
                                  .stripe_unit = bad[i].su,
                                  .stripe_count = bad[i].sc};
    char what[128];
    snprintf(what, sizeof what, "create with os %" PRIu64 " su %" PRIu64
             " sc %" PRIu64, bad[i].os, bad[i].su, bad[i].sc);
    expect_create_fails(e, "img", &o, EINVAL, what, bad[i].mention);
  }
}

/* ---- features --------------------------------------------------------------- */

static void test_features(void **state)
{
  struct env *e = *state;
  uint64_t f = 0;
  assert_ok(lbd_features_parse("layering,exclusive-lock", &f));
  assert_int_equal(f, LBD_FEATURE_LAYERING | LBD_FEATURE_EXCLUSIVE_LOCK);
  assert_ok(lbd_features_parse("layering,striping,exclusive-lock,object-map,"
                               "fast-diff,deep-flatten,data-pool", &f));
  assert_int_equal(f, LBD_FEATURE_LAYERING | LBD_FEATURE_STRIPINGV2 |
                          LBD_FEATURE_EXCLUSIVE_LOCK | LBD_FEATURE_OBJECT_MAP |
                          LBD_FEATURE_FAST_DIFF | LBD_FEATURE_DEEP_FLATTEN |
                          LBD_FEATURE_DATA_POOL);
  expect_error(lbd_features_parse("layering,bogus", &f), EINVAL,
               "parse of layering,bogus", "bogus");
  expect_error(lbd_features_parse("journaling", &f), EINVAL,
               "parse of journaling", "journaling");
  expect_error(lbd_features_parse("exclusive_lock", &f), EINVAL,
               "parse of exclusive_lock", "exclusive_lock");
  expect_error(lbd_features_parse("Layering", &f), EINVAL,
               "parse of Layering", "Layering");

  /* Known to rbd, not supported here: a clear error, no image. */
  struct lbd_image_options o = {.size = SIZE};
  o.features = LBD_FEATURE_LAYERING | LBD_FEATURE_OBJECT_MAP;
  expect_create_fails(e, "img", &o, 0, "create with object-map",
                      "object-map");
  o.features = LBD_FEATURE_EXCLUSIVE_LOCK | LBD_FEATURE_OBJECT_MAP |
               LBD_FEATURE_FAST_DIFF;
  expect_create_fails(e, "img", &o, 0, "create with object-map,fast-diff",
                      "fast-diff");
  /* A bit that names no feature. */
  o.features = LBD_FEATURE_LAYERING | (1ULL << 40);
  expect_create_fails(e, "img", &o, 0, "create with feature bit 40", NULL);
  /* data-pool without a data pool. */
  o.features = LBD_FEATURE_LAYERING | LBD_FEATURE_DATA_POOL;
  expect_create_fails(e, "img", &o, 0, "create with data-pool and no pool",
                      NULL);
}

/* ---- pools ---------------------------------------------------------------- */

static void test_missing_pools(void **state)
{
  struct env *e = *state;
  lbd_ioctx_t *io = NULL;
  expect_error(lbd_ioctx_create(e->c, "nope", NULL, &io), ENOENT,
               "ioctx on a missing pool", "nope");
  expect_error(lbd_ioctx_create(e->c, "rbd", "nons", &io), ENOENT,
               "ioctx on a missing namespace", "nons");
  struct lbd_image_options o = {.size = SIZE, .data_pool = "nope"};
  expect_create_fails(e, "img", &o, ENOENT, "create with a missing data pool",
                      "nope");
  assert_only_keep(e, "a missing data pool");
}

/* ---- images ----------------------------------------------------------------- */

static void test_remove_with_watcher(void **state)
{
  struct env *e = *state;
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "keep", NULL, LBD_OPEN_READ_ONLY, &img));
  expect_error(lbd_remove(e->io, "keep"), EBUSY,
               "remove of an image open read-only", NULL);
  assert_only_keep(e, "a refused remove");
  assert_ok(lbd_close(img));
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &img));
  unsigned char b[512];
  memset(b, 7, sizeof b);
  assert_int_equal(lbd_write(img, 0, sizeof b, b), sizeof b);
  expect_error(lbd_remove(e->io, "keep"), EBUSY,
               "remove of an image open read-write", NULL);
  assert_only_keep(e, "a refused remove");
  /* The data is still there. */
  unsigned char got[512];
  assert_int_equal(lbd_read(img, 0, sizeof got, got), sizeof got);
  assert_memory_equal(got, b, sizeof b);
  assert_ok(lbd_close(img));
}

static void test_open_missing(void **state)
{
  struct env *e = *state;
  lbd_image_t *img = NULL;
  expect_error(lbd_open(e->io, "missing", NULL, 0, &img), ENOENT,
               "open of a missing image", "missing");
  expect_error(lbd_open(e->io, "missing", NULL, LBD_OPEN_READ_ONLY, &img),
               ENOENT, "read-only open of a missing image", "missing");
  expect_error(lbd_remove(e->io, "missing"), ENOENT,
               "remove of a missing image", "missing");
  expect_error(lbd_rename(e->io, "missing", "other"), ENOENT,
               "rename of a missing image", "missing");
  expect_error(lbd_open(e->io, "keep", "nosnap", 0, &img), ENOENT,
               "open at a missing snapshot", "nosnap");
  assert_only_keep(e, "opening missing images");
}

static void test_io_past_end(void **state)
{
  struct env *e = *state;
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &img));
  unsigned char b[8192], got[8192];
  memset(b, 0x5a, sizeof b);
  /* Known content at the end. */
  assert_int_equal(lbd_write(img, SIZE - 4096, 4096, b), 4096);
  memset(b, 0xc3, sizeof b);
  expect_error(lbd_write(img, SIZE, 1, b), EINVAL, "write at the end", NULL);
  expect_error(lbd_write(img, SIZE - 1, 2, b), EINVAL,
               "write across the end", NULL);
  expect_error(lbd_write(img, SIZE - 4096, 8192, b), EINVAL,
               "write of 8K over the last 4K", NULL);
  expect_error(lbd_write(img, SIZE + 4096, 512, b), EINVAL,
               "write past the end", NULL);
  expect_error(lbd_write(img, UINT64_MAX - 10, 512, b), EINVAL,
               "write at 2^64-11 (offset + length wraps)", NULL);
  expect_error(lbd_discard(img, SIZE - 512, 1024), EINVAL,
               "discard across the end", NULL);
  expect_error(lbd_discard(img, UINT64_MAX - 10, 512), EINVAL,
               "discard at 2^64-11", NULL);
  expect_error(lbd_discard(img, 0, UINT64_MAX), EINVAL,
               "discard of 2^64-1 bytes", NULL);
  expect_error(lbd_write_zeroes(img, SIZE - 512, 1024), EINVAL,
               "write_zeroes across the end", NULL);
  expect_error(lbd_write_zeroes(img, SIZE, 1), EINVAL,
               "write_zeroes at the end", NULL);
  /* Nothing of the refused calls landed. */
  assert_int_equal(lbd_read(img, SIZE - 4096, 4096, got), 4096);
  for (size_t i = 0; i < 4096; i++)
    if (got[i] != 0x5a)
      fail_msg("a refused call changed byte %zu before the end to 0x%02x",
               i, got[i]);
  uint64_t size;
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, SIZE);
  /* Sizes for resize: not over 64 PiB (0 is a size, as in rbd). */
  expect_error(lbd_resize(img, 64 * PiB + 1), EINVAL,
               "resize to 64 PiB + 1", NULL);
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, SIZE);
  /* Clean up the content written. */
  assert_ok(lbd_discard(img, SIZE - 4096, 4096));
  assert_ok(lbd_close(img));
}

/* The end of the image is its size now, not the size a handle saw when it
 * was opened: another handle shrinks the image (and closes, letting go of
 * the exclusive lock); a write past the new end through the first handle is
 * refused, and the dropped range still reads as zeroes after a regrow (as
 * librbd refreshes its header when it takes the lock). */
static void test_past_end_after_shrink_elsewhere(void **state)
{
  struct env *e = *state;
  lbd_image_t *old, *other;
  unsigned char b[4096], got[4096];
  memset(b, 0x77, sizeof b);
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &old));
  e->h[0] = old;
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &other));
  e->h[1] = other;
  assert_ok(lbd_resize(other, SIZE / 2));
  e->h[1] = NULL;
  assert_ok(lbd_close(other));
  ssize_t n = lbd_write(old, SIZE / 2 + SIZE / 4, sizeof b, b);
  if (n >= 0)
    fail_msg("a write at %" PRIu64 " succeeded (%zd) on an image shrunk to %"
             PRIu64 " by another handle: want EINVAL", SIZE / 2 + SIZE / 4, n,
             SIZE / 2);
  expect_error(n, EINVAL, "write past the end set by another handle", NULL);
  e->h[0] = NULL;
  assert_ok(lbd_close(old));
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &other));
  e->h[1] = other;
  uint64_t size;
  assert_ok(lbd_get_size(other, &size));
  assert_int_equal(size, SIZE / 2);
  assert_ok(lbd_resize(other, SIZE));
  assert_int_equal(lbd_read(other, SIZE / 2 + SIZE / 4, sizeof got, got),
                   sizeof got);
  for (size_t i = 0; i < sizeof got; i++)
    if (got[i])
      fail_msg("after shrink and regrow byte %zu of the dropped range reads "
               "0x%02x: a write past the end landed", i, got[i]);
  e->h[1] = NULL;
  assert_ok(lbd_close(other));
}

/* Grown by another handle: a write inside the new size is not past the
 * end. */
static void test_write_after_grow_elsewhere(void **state)
{
  struct env *e = *state;
  lbd_image_t *old, *other;
  unsigned char b[4096], got[4096];
  memset(b, 0x77, sizeof b);
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &old));
  e->h[0] = old;
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &other));
  e->h[1] = other;
  assert_ok(lbd_resize(other, 2 * SIZE));
  e->h[1] = NULL;
  assert_ok(lbd_close(other));
  ssize_t n = lbd_write(old, SIZE + SIZE / 2, sizeof b, b);
  if (n != (ssize_t)sizeof b)
    fail_msg("a write at %" PRIu64 " of an image grown to %" PRIu64 " by "
             "another handle = %zd: %s", SIZE + SIZE / 2, 2 * SIZE, n,
             lbd_last_error());
  assert_int_equal(lbd_read(old, SIZE + SIZE / 2, sizeof got, got),
                   sizeof got);
  assert_memory_equal(got, b, sizeof b);
  assert_ok(lbd_resize(old, SIZE));
  e->h[0] = NULL;
  assert_ok(lbd_close(old));
}

static void test_read_only(void **state)
{
  struct env *e = *state;
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "keep", NULL, LBD_OPEN_READ_ONLY, &img));
  unsigned char b[4096];
  memset(b, 1, sizeof b);
  expect_error(lbd_write(img, 0, sizeof b, b), EROFS,
               "write on a read-only image", NULL);
  expect_error(lbd_discard(img, 0, 4096), EROFS,
               "discard on a read-only image", NULL);
  expect_error(lbd_write_zeroes(img, 0, 4096), EROFS,
               "write_zeroes on a read-only image", NULL);
  expect_error(lbd_resize(img, 2 * SIZE), EROFS,
               "resize of a read-only image", NULL);
  /* Reads work, and see nothing of the refused write. */
  unsigned char got[4096];
  assert_int_equal(lbd_read(img, 4096, sizeof got, got), sizeof got);
  for (size_t i = 0; i < sizeof got; i++)
    assert_int_equal(got[i], 0);
  uint64_t size;
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, SIZE);
  /* A read-only handle takes no lock: a writer elsewhere is not refused. */
  lbd_image_t *w;
  assert_ok(lbd_open(e->io, "keep", NULL, 0, &w));
  assert_int_equal(lbd_write(w, 4096, sizeof b, b), sizeof b);
  assert_int_equal(lbd_read(img, 4096, sizeof got, got), sizeof got);
  assert_memory_equal(got, b, sizeof b);
  assert_ok(lbd_discard(w, 4096, sizeof b));
  assert_ok(lbd_close(w));
  assert_ok(lbd_close(img));
}

/* 64 PiB exactly is allowed (a cluster without "keep": the image is not
 * removed, its removal would visit every possible object; the cluster
 * goes whole at teardown). */
static int setup_empty(void **state)
{
  return image_env_setup(state, "image-bad-input-big");
}

static int teardown_empty(void **state) { return image_env_teardown(state); }

static void test_largest_size(void **state)
{
  struct image_env *e = *state;
  lbd_ioctx_t *io = e->io;
  lbd_image_t *img;
  /* Too many objects for an object map: a clear error, nothing left. */
  struct lbd_image_options o = {.size = 64 * PiB};
  assert_int_equal(lbd_create(io, "huge", &o), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "object map"));
  o.features = LBD_FEATURE_LAYERING | LBD_FEATURE_EXCLUSIVE_LOCK;
  assert_ok(lbd_create(io, "huge", &o));
  assert_ok(lbd_open(io, "huge", NULL, 0, &img));
  struct lbd_image_info info;
  assert_ok(lbd_stat(img, &info));
  assert_int_equal(info.size, 64 * PiB);
  assert_int_equal(info.num_objs, 64 * PiB / (4 * MiB));
  unsigned char b[4096], got[4096];
  memset(b, 0x11, sizeof b);
  assert_int_equal(lbd_write(img, 64 * PiB - 4096, 4096, b), 4096);
  assert_int_equal(lbd_read(img, 64 * PiB - 4096, 4096, got), 4096);
  assert_memory_equal(got, b, sizeof b);
  expect_error(lbd_write(img, 64 * PiB - 4095, 4096, b), EINVAL,
               "write across the end of a 64 PiB image", NULL);
  expect_error(lbd_resize(img, 64 * PiB + 4096), EINVAL,
               "growing a 64 PiB image", NULL);
  assert_ok(lbd_close(img));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_sizes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_layouts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_features, setup, teardown),
      cmocka_unit_test_setup_teardown(test_missing_pools, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove_with_watcher, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_open_missing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_io_past_end, setup, teardown),
      cmocka_unit_test_setup_teardown(test_past_end_after_shrink_elsewhere,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_after_grow_elsewhere, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
      cmocka_unit_test_setup_teardown(test_largest_size, setup_empty,
                                      teardown_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
