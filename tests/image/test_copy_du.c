/* lbd_copy and lbd_disk_usage: copies hold the same bytes for several
 * layouts (the source's, or another given in the options), only allocated
 * data is copied (holes and blocks of zeroes stay unallocated), progress
 * is reported and can stop the copy, failures leave no copy; du counts the
 * bytes the data objects hold. */
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
#define SIZE (8 * MiB + 12 * KiB)

struct env {
  struct image_env *base;
  lbd_ioctx_t *io, *io2; /* pool rbd (base's); pool other, namespace ns */
  unsigned char *model;  /* what the source holds */
};

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  void *base;
  if (!e || !(e->model = calloc(1, SIZE)) ||
      image_env_setup(&base, "image-copy-du") < 0)
    return -1;
  e->base = base;
  e->io = e->base->io;
  if (image_env_pool_create(e->base->c, "other", NULL) < 0 ||
      lbd_ioctx_create(e->base->c, "other", NULL, &e->io2) < 0 ||
      lbd_namespace_create(e->io2, "ns") < 0) {
    fprintf(stderr, "setup: %s\n", lbd_last_error());
    return -1;
  }
  lbd_ioctx_destroy(e->io2);
  if (lbd_ioctx_create(e->base->c, "other", "ns", &e->io2) < 0)
    return -1;
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  if (!e)
    return 0;
  lbd_ioctx_destroy(e->io2);
  void *base = e->base;
  image_env_teardown(&base);
  free(e->model);
  free(e);
  return 0;
}

static uint64_t rng_next(uint64_t *s)
{
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 17;
}

/* Write 4 KiB-aligned runs of random bytes (in the model too); returns the
 * bytes of data written (the runs do not overlap). */
static uint64_t fill(struct env *e, lbd_image_t *img, uint64_t seed)
{
  uint64_t s = seed, total = 0;
  static unsigned char buf[256 * KiB];
  for (int i = 0; i < 24; i++) {
    uint64_t len = (rng_next(&s) % 64 + 1) * 4 * KiB;
    uint64_t off = (uint64_t)i * (SIZE / 24) / (4 * KiB) * 4 * KiB;
    if (off + len > SIZE)
      len = SIZE - off;
    for (uint64_t k = 0; k < len; k++)
      buf[k] = (unsigned char)(rng_next(&s) | 1); /* no zero bytes */
    assert_int_equal(lbd_write(img, off, len, buf), (ssize_t)len);
    memcpy(e->model + off, buf, len);
    total += len;
  }
  /* the last byte of the image */
  unsigned char last = 0x77;
  assert_int_equal(lbd_write(img, SIZE - 1, 1, &last), 1);
  if (e->model[SIZE - 1] == 0)
    total += 4 * KiB;
  e->model[SIZE - 1] = last;
  return total;
}

static void check_bytes(struct env *e, lbd_ioctx_t *io, const char *name)
{
  lbd_image_t *img;
  uint64_t size;
  assert_ok(lbd_open(io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, SIZE);
  unsigned char *got = malloc(SIZE);
  assert_non_null(got);
  assert_int_equal(lbd_read(img, 0, SIZE, got), (ssize_t)SIZE);
  for (uint64_t i = 0; i < SIZE; i++)
    if (got[i] != e->model[i])
      fail_msg("%s: byte %" PRIu64 " is %u, want %u", name, i, got[i],
               e->model[i]);
  free(got);
  assert_ok(lbd_close(img));
}

static uint64_t used_of(lbd_ioctx_t *io, const char *name, uint64_t *prov)
{
  lbd_image_t *img;
  uint64_t used, p;
  assert_ok(lbd_open(io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_disk_usage(img, &p, &used));
  assert_ok(lbd_close(img));
  if (prov)
    *prov = p;
  return used;
}

struct prog {
  uint64_t calls, last, total;
  uint64_t stop_at; /* 0: never */
};

static int on_progress(uint64_t done, uint64_t total, void *arg)
{
  struct prog *p = arg;
  if (done < p->last || done > total)
    fail_msg("progress went from %" PRIu64 " to %" PRIu64 " of %" PRIu64,
             p->last, done, total);
  p->calls++;
  p->last = done;
  p->total = total;
  return p->stop_at && p->calls >= p->stop_at;
}

static void copy_layouts(struct env *e, const struct lbd_image_options *src_o,
                         const char *what)
{
  lbd_image_t *src;
  assert_ok(lbd_create(e->io, "src", src_o));
  assert_ok(lbd_open(e->io, "src", NULL, 0, &src));
  memset(e->model, 0, SIZE);
  uint64_t written = fill(e, src, 42);
  /* a block of explicit zeroes is allocated in the source only */
  static unsigned char zeroes[64 * KiB];
  uint64_t zoff = SIZE / 2 / (4 * KiB) * (4 * KiB);
  assert_int_equal(lbd_write(src, zoff, sizeof zeroes, zeroes),
                   (ssize_t)sizeof zeroes);
  memset(e->model + zoff, 0, sizeof zeroes);
  assert_ok(lbd_flush(src));
  uint64_t prov, src_used = used_of(e->io, "src", &prov);
  assert_int_equal(prov, SIZE);
  printf("%s: %" PRIu64 " bytes written, source uses %" PRIu64 "\n", what,
         written, src_used);
  assert_true(src_used >= written / 2 && src_used <= written + 256 * KiB);

  /* the source's layout */
  struct prog p = {0, 0, 0, 0};
  assert_ok(lbd_copy_with_progress(src, e->io, "copy", NULL, on_progress, &p));
  assert_true(p.calls >= 2);
  assert_int_equal(p.last, p.total);
  check_bytes(e, e->io, "copy");
  lbd_image_t *img;
  struct lbd_image_info si, ci;
  assert_ok(lbd_stat(src, &si));
  assert_ok(lbd_open(e->io, "copy", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_stat(img, &ci));
  assert_ok(lbd_close(img));
  assert_int_equal(ci.object_size, si.object_size);
  assert_int_equal(ci.stripe_unit, si.stripe_unit);
  assert_int_equal(ci.stripe_count, si.stripe_count);
  assert_int_equal(ci.features, si.features);
  assert_string_not_equal(ci.id, si.id);
  /* only data: the copy uses no more than the source, less its zeroes
   * (which RADOS' sparse reads count as holes in the source already) */
  uint64_t copy_used = used_of(e->io, "copy", NULL);
  uint64_t zeroes_used = image_env_rados(1) ? 0 : sizeof zeroes;
  assert_true(copy_used + zeroes_used <= src_used);
  assert_true(copy_used >= written / 2);

  /* other layouts, in another pool and namespace */
  struct lbd_image_options o[] = {
      {.object_size = 64 * KiB, .stripe_unit = 16 * KiB, .stripe_count = 3},
      {.object_size = 32 * KiB},
      {.object_size = 8 * MiB, .features = LBD_FEATURE_LAYERING},
  };
  for (size_t i = 0; i < sizeof o / sizeof *o; i++) {
    assert_ok(lbd_copy(src, e->io2, "copy2", &o[i]));
    check_bytes(e, e->io2, "copy2");
    assert_ok(lbd_open(e->io2, "copy2", NULL, LBD_OPEN_READ_ONLY, &img));
    assert_ok(lbd_stat(img, &ci));
    assert_ok(lbd_close(img));
    assert_int_equal(ci.object_size, o[i].object_size);
    assert_int_equal(ci.stripe_count, o[i].stripe_count ? o[i].stripe_count
                                                        : 1);
    if (o[i].features)
      assert_int_equal(ci.features, o[i].features);
    assert_int_equal(used_of(e->io2, "copy2", NULL), copy_used);
    assert_ok(lbd_remove(e->io2, "copy2"));
  }

  /* a copy of a copy, after discards in it */
  assert_ok(lbd_open(e->io, "copy", NULL, 0, &img));
  assert_ok(lbd_discard(img, 0, SIZE / 3));
  memset(e->model, 0, SIZE / 3);
  assert_ok(lbd_copy(img, e->io, "copy3", NULL));
  assert_ok(lbd_close(img));
  check_bytes(e, e->io, "copy3");
  assert_int_equal(used_of(e->io, "copy3", NULL), used_of(e->io, "copy", NULL));

  assert_ok(lbd_close(src));
  assert_ok(lbd_remove(e->io, "src"));
  assert_ok(lbd_remove(e->io, "copy"));
  assert_ok(lbd_remove(e->io, "copy3"));
}

static void test_copy_default(void **state)
{
  struct lbd_image_options o = {.size = SIZE};
  copy_layouts(*state, &o, "default layout");
}

static void test_copy_striped(void **state)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = 1 * MiB,
                                .stripe_unit = 64 * KiB, .stripe_count = 5};
  copy_layouts(*state, &o, "striped");
}

static void test_copy_small_objects(void **state)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = 16 * KiB};
  copy_layouts(*state, &o, "16 KiB objects");
}

static void expect_err(int r, int want, const char *what)
{
  if (r != -want)
    fail_msg("%s: got %d (%s), want %d", what, r, lbd_last_error(), -want);
  if (!*lbd_last_error())
    fail_msg("%s: no error message", what);
}

static void expect_images(lbd_ioctx_t *io, const char *want)
{
  char **names, buf[256] = "";
  size_t n;
  assert_ok(lbd_list(io, &names, &n));
  for (size_t i = 0; i < n; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", i ? " " : "",
             names[i]);
  lbd_names_free(names, n);
  assert_string_equal(buf, want);
}

static void test_bad_input(void **state)
{
  struct env *e = *state;
  struct lbd_image_options o = {.size = SIZE};
  lbd_image_t *src;
  assert_ok(lbd_create(e->io, "src", &o));
  assert_ok(lbd_create(e->io, "exists", &o));
  assert_ok(lbd_open(e->io, "src", NULL, 0, &src));
  memset(e->model, 0, SIZE);
  fill(e, src, 7);
  lbd_image_t *ex;
  static unsigned char mark[4096];
  memset(mark, 0xee, sizeof mark);
  assert_ok(lbd_open(e->io, "exists", NULL, 0, &ex));
  assert_int_equal(lbd_write(ex, 0, sizeof mark, mark), sizeof mark);
  assert_ok(lbd_close(ex));

  expect_err(lbd_copy(src, e->io, "exists", NULL), EEXIST, "existing dest");
  expect_err(lbd_copy(src, e->io, "src", NULL), EEXIST, "onto itself");
  expect_err(lbd_copy(src, e->io, "", NULL), EINVAL, "empty name");
  expect_err(lbd_copy(src, e->io, "a/b", NULL), EINVAL, "slash");
  expect_err(lbd_copy(src, e->io, "a@b", NULL), EINVAL, "at");
  expect_err(lbd_copy(NULL, e->io, "x", NULL), EINVAL, "no source");
  expect_err(lbd_copy(src, NULL, "x", NULL), EINVAL, "no dest io");
  struct lbd_image_options bad[] = {
      {.size = 1 * MiB},
      {.object_size = 3 * KiB},
      {.object_size = 64 * MiB},
      {.object_size = 64 * KiB, .stripe_unit = 48 * KiB},
      {.features = 1ULL << 40},
      {.data_pool = "nosuchpool"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int r = lbd_copy(src, e->io, "x", &bad[i]);
    if (r >= 0 || !*lbd_last_error())
      fail_msg("bad options %zu: %d (%s)", i, r, lbd_last_error());
  }
  /* stopped by the progress callback: ECANCELED, no copy left */
  struct prog p = {0, 0, 0, 2};
  expect_err(lbd_copy_with_progress(src, e->io, "x", NULL, on_progress, &p),
             ECANCELED, "stopped");
  expect_images(e->io, "exists src");
  assert_ok(lbd_close(src));
  check_bytes(e, e->io, "src");
  assert_ok(lbd_open(e->io, "exists", NULL, LBD_OPEN_READ_ONLY, &ex));
  unsigned char got[4096];
  assert_int_equal(lbd_read(ex, 0, sizeof got, got), sizeof got);
  assert_memory_equal(got, mark, sizeof mark);
  assert_ok(lbd_close(ex));
}

static void test_du(void **state)
{
  struct env *e = *state;
  struct lbd_image_options o = {.size = 1ULL << 30, .object_size = 1 * MiB};
  lbd_image_t *img;
  uint64_t prov;
  assert_ok(lbd_create(e->io, "du", &o));
  assert_int_equal(used_of(e->io, "du", &prov), 0);
  assert_int_equal(prov, 1ULL << 30);
  assert_ok(lbd_open(e->io, "du", NULL, 0, &img));
  static unsigned char buf[64 * KiB];
  memset(buf, 1, sizeof buf);
  /* 10 chunks far apart, one across an object boundary */
  for (int i = 0; i < 9; i++)
    assert_int_equal(lbd_write(img, (uint64_t)i * 100 * MiB, sizeof buf, buf),
                     sizeof buf);
  assert_int_equal(lbd_write(img, 950 * MiB - 32 * KiB, sizeof buf, buf),
                   sizeof buf);
  assert_int_equal(used_of(e->io, "du", NULL), 10 * sizeof buf);
  assert_ok(lbd_discard(img, 0, 32 * KiB));
  assert_int_equal(used_of(e->io, "du", NULL), 10 * sizeof buf - 32 * KiB);
  assert_ok(lbd_discard(img, 0, 1ULL << 30));
  assert_int_equal(used_of(e->io, "du", NULL), 0);
  assert_ok(lbd_close(img));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_copy_default, setup, teardown),
      cmocka_unit_test_setup_teardown(test_copy_striped, setup, teardown),
      cmocka_unit_test_setup_teardown(test_copy_small_objects, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_du, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
