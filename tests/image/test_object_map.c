/* The object map stays exact: under writes, discards and resizes, across
 * reopen, after a writer dies without closing, and when damaged on disk
 * (rebuild). */
#include <errno.h>
#include <pthread.h>
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

#include "image_fixture.h"
#include "../objstore/fixture.h"
#include "image/image.h"
#include "lbd/lbd.h"

#define MiB (1024ULL * 1024)

static int setup(void **state)
{
  if (image_env_setup(state, "object-map") < 0)
    return -1;
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 64 * MiB, .object_size = 1 * MiB};
  return lbd_create(e->io, "img", &o) < 0 ? -1 : 0;
}

static int teardown(void **state) { return image_env_teardown(state); }

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
  struct image_env *e = *state;
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
static void drop_object(struct image_env *e, lbd_image_t *img, uint64_t objectno)
{
  char oid[96];
  image_data_oid(img, objectno, oid, sizeof oid);
  assert_ok(objstore_remove(img->data, oid, NULL));
  (void)e;
}

static void test_dead_writer_then_rebuild(void **state)
{
  struct image_env *e = *state;
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
  struct image_env *e = *state;
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

/* A write and a discard of one object in flight together end with the map
 * agreeing with the data, and nothing changes when the map is rebuilt. */
#define RACE_OBJECTS 500
static pthread_barrier_t race_bar;

static void *race_writer(void *arg)
{
  lbd_image_t *img = arg;
  char b[512];
  memset(b, 0x5a, sizeof b);
  for (uint64_t i = 0; i < RACE_OBJECTS; i++) {
    pthread_barrier_wait(&race_bar);
    if (lbd_write(img, i * 4096, sizeof b, b) != (ssize_t)sizeof b)
      return (void *)1;
  }
  return NULL;
}

static void *race_discarder(void *arg)
{
  lbd_image_t *img = arg;
  for (uint64_t i = 0; i < RACE_OBJECTS; i++) {
    pthread_barrier_wait(&race_bar);
    if (lbd_discard(img, i * 4096, 4096) < 0)
      return (void *)1;
  }
  return NULL;
}

static void test_write_discard_race(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = RACE_OBJECTS * 4096ULL,
                                .object_size = 4096};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "race", &o));
  assert_ok(lbd_open(e->io, "race", NULL, 0, &img));
  char *all = malloc(o.size), *before = malloc(RACE_OBJECTS * 512);
  memset(all, 0x11, o.size);
  assert_int_equal(lbd_write(img, 0, o.size, all), (ssize_t)o.size);
  pthread_barrier_init(&race_bar, NULL, 2);
  pthread_t t1, t2;
  void *r1, *r2;
  pthread_create(&t1, NULL, race_writer, img);
  pthread_create(&t2, NULL, race_discarder, img);
  pthread_join(t1, &r1);
  pthread_join(t2, &r2);
  pthread_barrier_destroy(&race_bar);
  assert_null(r1);
  assert_null(r2);
  check_exact(img);
  for (uint64_t i = 0; i < RACE_OBJECTS; i++)
    assert_int_equal(lbd_read(img, i * 4096, 512, before + i * 512), 512);
  assert_ok(lbd_object_map_rebuild(img));
  for (uint64_t i = 0; i < RACE_OBJECTS; i++) {
    char now[512];
    assert_int_equal(lbd_read(img, i * 4096, 512, now), 512);
    assert_memory_equal(now, before + i * 512, 512);
  }
  free(all);
  free(before);
  assert_ok(lbd_close(img));
}

/* Shrinking removes the objects past the new end, even partial ones of a
 * striped set, so growing again finds none and the map stays exact. */
static void test_shrink_removes_objects(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = 256 * 1024, .object_size = 65536,
                                .stripe_unit = 4096, .stripe_count = 4};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "striped", &o));
  assert_ok(lbd_open(e->io, "striped", NULL, 0, &img));
  char *all = malloc(o.size);
  memset(all, 0x33, o.size);
  assert_int_equal(lbd_write(img, 0, o.size, all), (ssize_t)o.size);
  assert_ok(lbd_resize(img, 4096));
  assert_ok(lbd_resize(img, o.size));
  check_exact(img);
  char buf[4096];
  assert_int_equal(lbd_read(img, 4096, 4096, buf), 4096);
  for (int i = 0; i < 4096; i++)
    assert_int_equal(buf[i], 0);
  assert_int_equal(lbd_read(img, 0, 4096, buf), 4096);
  assert_int_equal(buf[0], 0x33);
  free(all);
  assert_ok(lbd_close(img));
  /* The documented default feature set is accepted. */
  o = (struct lbd_image_options){.size = 4 * MiB,
                                 .features = LBD_FEATURES_DEFAULT};
  assert_ok(lbd_create(e->io, "defaults", &o));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_exact_under_io, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dead_writer_then_rebuild, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rebuild_command, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_discard_race, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_shrink_removes_objects, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
