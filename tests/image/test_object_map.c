/* The object map stays exact: under writes, discards and resizes, across
 * reopen, after a writer dies without closing, and when damaged on disk
 * (rebuild). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "image/image.h"
#include "lbd/lbd.h"

#define MiB (1024ULL * 1024)

struct env {
  char *tmp;
  char dir[4096];
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
};

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  e->tmp = fixture_mkdtemp("object-map");
  snprintf(e->dir, sizeof e->dir, "%s/cluster", e->tmp);
  if (lbd_cluster_open(e->dir, true, &e->c) < 0 ||
      lbd_ioctx_create(e->c, "rbd", NULL, &e->io) < 0)
    return -1;
  struct lbd_image_options o = {.size = 64 * MiB, .object_size = 1 * MiB};
  if (lbd_create(e->io, "img", &o) < 0)
    return -1;
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  lbd_ioctx_destroy(e->io);
  lbd_cluster_close(e->c);
  fixture_rm_rf(e->tmp);
  free(e->tmp);
  free(e);
  return 0;
}

static void check_exact(lbd_image_t *img)
{
  uint64_t wrong = 99;
  assert_ok(lbd_object_map_check(img, &wrong));
  assert_int_equal(wrong, 0);
}

static void write_at(lbd_image_t *img, uint64_t off, char c)
{
  char buf[4096];
  memset(buf, c, sizeof buf);
  assert_int_equal(lbd_write(img, off, sizeof buf, buf), (ssize_t)sizeof buf);
}

static void test_exact_under_io(void **state)
{
  struct env *e = *state;
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  struct lbd_image_info info;
  assert_ok(lbd_stat(img, &info));
  assert_true(info.features & LBD_FEATURE_OBJECT_MAP);
  check_exact(img);
  for (int i = 0; i < 64; i += 3)
    write_at(img, (uint64_t)i * MiB + 512 * 1024, 'a' + (char)(i % 26));
  check_exact(img);
  assert_ok(lbd_discard(img, 3 * MiB, 4 * MiB)); /* objects 3..6 whole */
  assert_ok(lbd_discard(img, 9 * MiB + 4096, 8192)); /* inside object 9 */
  check_exact(img);
  char buf[4096];
  assert_int_equal(lbd_read(img, 3 * MiB + 512 * 1024, 4096, buf), 4096);
  for (int i = 0; i < 4096; i++)
    assert_int_equal(buf[i], 0);
  assert_int_equal(lbd_read(img, 9 * MiB + 512 * 1024, 4096, buf), 4096);
  assert_int_equal(buf[0], 'a' + 9);
  assert_ok(lbd_resize(img, 20 * MiB));
  check_exact(img);
  assert_ok(lbd_resize(img, 80 * MiB));
  write_at(img, 79 * MiB, 'z');
  check_exact(img);
  assert_ok(lbd_close(img));
  assert_ok(lbd_open(e->io, "img", NULL, LBD_OPEN_READ_ONLY, &img));
  check_exact(img);
  assert_int_equal(lbd_read(img, 79 * MiB, 4096, buf), 4096);
  assert_int_equal(buf[0], 'z');
  assert_ok(lbd_close(img));
}

/* Remove data object OBJECTNO behind the library's back. */
static void drop_object(struct env *e, lbd_image_t *img, uint64_t objectno)
{
  char oid[96];
  image_data_oid(img, objectno, oid, sizeof oid);
  assert_ok(objstore_remove(img->data, oid, NULL));
  (void)e;
}

static void test_dead_writer_then_rebuild(void **state)
{
  struct env *e = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) { /* a writer that dies without closing */
    lbd_cluster_t *c;
    lbd_ioctx_t *io;
    lbd_image_t *img;
    if (lbd_cluster_open(e->dir, false, &c) < 0 ||
        lbd_ioctx_create(c, "rbd", NULL, &io) < 0 ||
        lbd_open(io, "img", NULL, 0, &img) < 0)
      _exit(1);
    char buf[4096] = {7};
    for (int i = 0; i < 8; i++)
      if (lbd_write(img, (uint64_t)i * MiB, sizeof buf, buf) < 0)
        _exit(2);
    kill(getpid(), SIGKILL);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));

  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "img", NULL, LBD_OPEN_READ_ONLY, &img));
  check_exact(img);
  /* As if the writer had died between the map update and the data op. */
  drop_object(e, img, 5);
  uint64_t wrong = 0;
  assert_ok(lbd_object_map_check(img, &wrong));
  assert_int_equal(wrong, 1);
  assert_ok(lbd_close(img));

  /* The next writer finds the map dirty and rebuilds it. */
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  write_at(img, 20 * MiB, 'w');
  check_exact(img);
  char buf[4096];
  assert_int_equal(lbd_read(img, 5 * MiB, 4096, buf), 4096);
  assert_int_equal(buf[0], 0);
  assert_int_equal(lbd_read(img, 4 * MiB, 4096, buf), 4096);
  assert_int_equal(buf[0], 7);
  assert_ok(lbd_close(img));
}

static void test_rebuild_command(void **state)
{
  struct env *e = *state;
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "img", NULL, 0, &img));
  write_at(img, 2 * MiB, 'r');
  write_at(img, 30 * MiB, 'r');
  /* Damage the map on disk: everything NONEXISTENT. */
  char oid[64];
  image_object_map_oid(img->id, oid, sizeof oid);
  char zeros[16] = {0};
  assert_ok(objstore_write_full(img->io->pool, oid, NULL, zeros, sizeof zeros));
  uint64_t wrong = 0;
  assert_ok(lbd_object_map_check(img, &wrong));
  assert_int_equal(wrong, 2);
  assert_ok(lbd_object_map_rebuild(img));
  check_exact(img);
  assert_ok(lbd_close(img));

  /* Errors: no object map, read-only. */
  struct lbd_image_options o = {.size = 4 * MiB,
                                .features = LBD_FEATURE_LAYERING |
                                            LBD_FEATURE_EXCLUSIVE_LOCK};
  assert_ok(lbd_create(e->io, "plain", &o));
  assert_ok(lbd_open(e->io, "plain", NULL, 0, &img));
  assert_int_equal(lbd_object_map_rebuild(img), -EINVAL);
  assert_true(strlen(lbd_last_error()) > 0);
  assert_ok(lbd_close(img));
  o.features = LBD_FEATURE_LAYERING | LBD_FEATURE_OBJECT_MAP;
  assert_int_equal(lbd_create(e->io, "bad", &o), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "exclusive-lock"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_exact_under_io, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dead_writer_then_rebuild, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rebuild_command, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
