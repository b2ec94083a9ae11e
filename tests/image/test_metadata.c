/* Image metadata: get, set, list, remove; kept across reopen, gone with the
 * image, apart from the header fields; bad input. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "image/image.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define MiB (1ULL << 20)
#define SIZE (8 * MiB)
#define OBJ (1 * MiB)

static int setup(void **state) { return image_env_setup(state, "image-metadata"); }
static int teardown(void **state) { return image_env_teardown(state); }
#define expect_error expect_lbd_error


/* "k=v ..." of lbd_metadata_list. */
static void expect_meta(lbd_image_t *img, const char *want)
{
  struct lbd_metadata *m;
  size_t n;
  char got[4096] = "";
  assert_ok(lbd_metadata_list(img, &m, &n));
  for (size_t i = 0; i < n; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s=%s",
             i ? " " : "", m[i].key, m[i].value);
  lbd_metadata_list_free(m, n);
  assert_string_equal(got, want);
}

static void test_round_trip(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 8 * MiB};
  lbd_image_t *img;
  char *v;
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  expect_meta(img, "");
  assert_ok(lbd_metadata_set(img, "foo", "bar"));
  assert_ok(lbd_metadata_set(img, "conf_rbd_cache", "false"));
  assert_ok(lbd_metadata_set(img, "empty", ""));
  assert_ok(lbd_metadata_set(img, "spaces and = signs", "a b = c\nd"));
  /* names of header fields are user keys like any other */
  assert_ok(lbd_metadata_set(img, "size", "1"));
  expect_meta(img, "conf_rbd_cache=false empty= foo=bar size=1 "
                   "spaces and = signs=a b = c\nd");
  assert_ok(lbd_metadata_get(img, "foo", &v));
  assert_string_equal(v, "bar");
  free(v);
  assert_ok(lbd_metadata_set(img, "foo", "baz"));
  assert_ok(lbd_metadata_get(img, "foo", &v));
  assert_string_equal(v, "baz");
  free(v);
  assert_ok(lbd_metadata_get(img, "empty", &v));
  assert_string_equal(v, "");
  free(v);
  /* The header is intact: size, resize and IO work. */
  uint64_t size;
  struct lbd_image_info info;
  assert_ok(lbd_stat(img, &info));
  assert_int_equal(info.size, 8 * MiB);
  assert_ok(lbd_resize(img, 16 * MiB));
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, 16 * MiB);
  assert_int_equal(lbd_write(img, 0, 5, "hello"), 5);
  assert_ok(lbd_metadata_remove(img, "size"));
  assert_ok(lbd_metadata_remove(img, "empty"));
  expect_error(lbd_metadata_remove(img, "empty"), ENOENT, "remove twice",
               "empty");
  expect_error(lbd_metadata_get(img, "nope", &v), ENOENT, "get missing",
               "nope");
  assert_null(v);
  assert_ok(lbd_close(img));
  /* Kept across reopen, readable read-only, not writable read-only. */
  assert_ok(lbd_open(e->io, "img", NULL, LBD_OPEN_READ_ONLY, &img));
  expect_meta(img, "conf_rbd_cache=false foo=baz spaces and = signs=a b = "
                   "c\nd");
  expect_error(lbd_metadata_set(img, "x", "y"), EROFS, "set read-only",
               NULL);
  expect_error(lbd_metadata_remove(img, "foo"), EROFS, "remove read-only",
               NULL);
  assert_ok(lbd_stat(img, &info));
  assert_int_equal(info.size, 16 * MiB);
  char buf[5];
  assert_int_equal(lbd_read(img, 0, 5, buf), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_ok(lbd_close(img));
  /* Gone with the image: a new image of that name has none. */
  assert_ok(lbd_remove(e->io, "img"));
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  expect_meta(img, "");
  assert_ok(lbd_close(img));
}

static void test_many(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 8 * MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  for (int i = 0; i < 600; i++) { /* more than one page of the listing */
    char k[16], v[16];
    snprintf(k, sizeof k, "k%04d", i);
    snprintf(v, sizeof v, "v%d", i);
    assert_ok(lbd_metadata_set(img, k, v));
  }
  struct lbd_metadata *m;
  size_t n;
  assert_ok(lbd_metadata_list(img, &m, &n));
  assert_int_equal(n, 600);
  for (size_t i = 0; i < n; i++) {
    char k[16], v[16];
    snprintf(k, sizeof k, "k%04zu", i);
    snprintf(v, sizeof v, "v%zu", i);
    assert_string_equal(m[i].key, k);
    assert_string_equal(m[i].value, v);
  }
  lbd_metadata_list_free(m, n);
  assert_ok(lbd_close(img));
}

static void test_bad_input(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 8 * MiB};
  lbd_image_t *img;
  char *v, long_key[500], *big;
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  memset(long_key, 'k', sizeof long_key - 1);
  long_key[sizeof long_key - 1] = '\0';
  expect_error(lbd_metadata_set(img, "", "v"), EINVAL, "set empty key",
               "empty");
  expect_error(lbd_metadata_set(img, NULL, "v"), EINVAL, "set NULL key",
               NULL);
  expect_error(lbd_metadata_set(img, long_key, "v"), ENAMETOOLONG,
               "set long key", NULL);
  expect_error(lbd_metadata_set(img, "k", NULL), EINVAL, "set NULL value",
               NULL);
  big = malloc(65 * 1024 + 1);
  assert_non_null(big);
  memset(big, 'v', 65 * 1024);
  big[65 * 1024] = '\0';
  expect_error(lbd_metadata_set(img, "k", big), EFBIG, "set big value",
               NULL);
  free(big);
  expect_error(lbd_metadata_get(img, "", &v), EINVAL, "get empty key", NULL);
  expect_error(lbd_metadata_remove(img, long_key), ENAMETOOLONG,
               "remove long key", NULL);
  expect_meta(img, "");
  /* The image removed under an open handle. */
  assert_ok(lbd_close(img));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  char oid[64];
  snprintf(oid, sizeof oid, "lbd_header.%s", img->id);
  assert_ok(objstore_remove(e->io->pool, oid, NULL));
  expect_error(lbd_metadata_set(img, "k", "v"), ENOENT, "set on removed",
               "removed");
  struct objstore_stat st;
  assert_int_equal(objstore_stat(e->io->pool, oid, OBJSTORE_SNAP_HEAD, &st),
                   -ENOENT);
  lbd_close(img);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
