/* Image snapshots: the bytes of each moment stay readable at its snapshot
 * while the image changes, across handles, resizes and removal. */
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
#include "image_fixture.h"
#include "lbd/lbd.h"

#define MiB (1024ULL * 1024)
#define SIZE (16 * MiB)

static int setup(void **state) { return image_env_setup(state, "snapshot"); }
static int teardown(void **state) { return image_env_teardown(state); }

static void fill(lbd_image_t *img, uint64_t off, uint64_t len, char c)
{
  char *b = malloc(len);
  memset(b, c, len);
  assert_int_equal(lbd_write(img, off, len, b), (ssize_t)len);
  free(b);
}

/* Every byte of [OFF, OFF+LEN) of image NAME at SNAP reads C. */
static void expect_bytes(struct image_env *e, const char *snap, uint64_t off,
                         uint64_t len, char c)
{
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "img", snap, LBD_OPEN_READ_ONLY, &img));
  char *b = malloc(len);
  assert_int_equal(lbd_read(img, off, len, b), (ssize_t)len);
  for (uint64_t i = 0; i < len; i++)
    if (b[i] != c)
      fail_msg("%s at %llu: 0x%02x, want 0x%02x", snap ? snap : "head",
               (unsigned long long)(off + i), b[i] & 0xff, c & 0xff);
  free(b);
  assert_ok(lbd_close(img));
}

static void test_history(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = SIZE, .object_size = 1 * MiB,
                                .stripe_unit = 64 * 1024, .stripe_count = 4};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  fill(img, 0, SIZE, 'A');
  assert_ok(lbd_snap_create(img, "s1"));
  fill(img, 3 * MiB, 5 * MiB, 'B');
  assert_ok(lbd_discard(img, 12 * MiB, 4 * MiB));
  assert_ok(lbd_snap_create(img, "s2"));
  fill(img, 0, 1 * MiB, 'C');
  assert_ok(lbd_resize(img, 8 * MiB)); /* shrink: the snapshots keep it all */
  assert_ok(lbd_close(img));

  /* Another handle (lock handed over) keeps honouring the snapshots. */
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  fill(img, 4 * MiB, 1 * MiB, 'D');
  struct lbd_snap_info *s;
  size_t n;
  assert_ok(lbd_snap_list(img, &s, &n));
  assert_int_equal(n, 2);
  assert_string_equal(s[0].name, "s1");
  assert_string_equal(s[1].name, "s2");
  assert_int_equal(s[0].size, SIZE);
  assert_true(s[0].id < s[1].id);
  lbd_snap_list_free(s, n);
  assert_ok(lbd_close(img));

  expect_bytes(e, "s1", 0, SIZE, 'A');
  expect_bytes(e, "s2", 0, 3 * MiB, 'A');
  expect_bytes(e, "s2", 3 * MiB, 5 * MiB, 'B');
  expect_bytes(e, "s2", 8 * MiB, 4 * MiB, 'A');
  expect_bytes(e, "s2", 12 * MiB, 4 * MiB, 0);
  expect_bytes(e, NULL, 0, 1 * MiB, 'C');
  expect_bytes(e, NULL, 3 * MiB, 1 * MiB, 'B');
  expect_bytes(e, NULL, 4 * MiB, 1 * MiB, 'D');

  /* Removing s1 leaves s2 and the head intact. */
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  assert_ok(lbd_snap_remove(img, "s1"));
  assert_ok(lbd_close(img));
  expect_bytes(e, "s2", 3 * MiB, 5 * MiB, 'B');
  expect_bytes(e, "s2", 8 * MiB, 4 * MiB, 'A');
  expect_bytes(e, NULL, 4 * MiB, 1 * MiB, 'D');
}

static void test_errors(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 4 * MiB};
  lbd_image_t *img, *snap;
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  assert_ok(lbd_snap_create(img, "s"));
  expect_lbd_error(lbd_snap_create(img, "s"), EEXIST, "duplicate", "s");
  expect_lbd_error(lbd_snap_create(img, "a/b"), EINVAL, "bad name", NULL);
  expect_lbd_error(lbd_snap_remove(img, "nope"), ENOENT, "missing", "nope");
  expect_lbd_error(lbd_open(e->io, "img", "nope", 0, &snap), ENOENT,
                   "open missing snap", "nope");
  assert_ok(lbd_open(e->io, "img", "s", 0, &snap));
  char b[512] = {0};
  expect_lbd_error(lbd_write(snap, 0, sizeof b, b), EROFS, "write to snap",
                   NULL);
  expect_lbd_error(lbd_snap_create(snap, "t"), EROFS, "snap of a snap", NULL);
  assert_ok(lbd_close(snap));
  assert_ok(lbd_close(img));
  expect_lbd_error(lbd_remove(e->io, "img"), ENOTEMPTY, "remove with snaps",
                   "snapshot");
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  assert_ok(lbd_snap_protect(img, "s"));
  expect_lbd_error(lbd_snap_remove(img, "s"), EBUSY, "remove protected",
                   "protected");
  assert_ok(lbd_snap_create(img, "t"));
  expect_lbd_error(lbd_snap_rename(img, "t", "s"), EEXIST, "rename onto",
                   NULL);
  expect_lbd_error(lbd_snap_rename(img, "nope", "u"), ENOENT, "rename missing",
                   NULL);
  assert_ok(lbd_snap_rename(img, "t", "u"));
  struct lbd_snap_info *l;
  size_t n;
  assert_ok(lbd_snap_list(img, &l, &n));
  assert_int_equal(n, 2);
  assert_true(l[0].protected_);
  assert_string_equal(l[1].name, "u");
  assert_false(l[1].protected_);
  lbd_snap_list_free(l, n);
  assert_ok(lbd_snap_unprotect(img, "s"));
  assert_ok(lbd_snap_remove(img, "s"));
  assert_ok(lbd_snap_remove(img, "u"));
  assert_ok(lbd_close(img));
  assert_ok(lbd_remove(e->io, "img"));
}

static void test_rollback(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 8 * MiB, .object_size = 1 * MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "img", &o));
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  fill(img, 1 * MiB, 2 * MiB, 'A'); /* objects 0 and 3..7 stay holes */
  assert_ok(lbd_snap_create(img, "s1"));
  fill(img, 0, 1 * MiB, 'B');
  fill(img, 2 * MiB, 1 * MiB, 'B');
  assert_ok(lbd_discard(img, 1 * MiB, 1 * MiB));
  fill(img, 6 * MiB, 1 * MiB, 'B');
  assert_ok(lbd_snap_create(img, "s2"));
  assert_ok(lbd_resize(img, 4 * MiB));
  assert_ok(lbd_snap_rollback(img, "s1", NULL, NULL));
  uint64_t size;
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, 8 * MiB);
  assert_ok(lbd_close(img));
  expect_bytes(e, NULL, 0, 1 * MiB, 0);
  expect_bytes(e, NULL, 1 * MiB, 2 * MiB, 'A');
  expect_bytes(e, NULL, 3 * MiB, 5 * MiB, 0);
  expect_bytes(e, "s2", 0, 1 * MiB, 'B'); /* the later snapshot is intact */
  expect_bytes(e, "s2", 1 * MiB, 1 * MiB, 0);
  expect_bytes(e, "s2", 6 * MiB, 1 * MiB, 'B');
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  uint64_t wrong = 1;
  assert_ok(lbd_object_map_check(img, &wrong));
  assert_int_equal(wrong, 0);
  expect_lbd_error(lbd_snap_rollback(img, "nope", NULL, NULL), ENOENT,
                   "rollback to a missing snapshot", "nope");
  assert_ok(lbd_close(img));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_history, setup, teardown),
      cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
