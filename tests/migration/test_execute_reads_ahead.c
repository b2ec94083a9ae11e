/* Execute (and flatten, of its parent's snapshot) asks the source's store
 * to read ahead of its copy-ups: every source object, the first one
 * included, gets a read-ahead hint
 * (posix_fadvise WILLNEED on the local backend), however the threads
 * interleave, and the target still reads the source's bytes.  Without the
 * hint each copy-up waits for its own cold read. */
#include <fcntl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define OBJECT (64 * KiB)
#define OBJECTS 16

/* The files (inode numbers) that got a WILLNEED hint while RECORDING. */
static pthread_mutex_t hinted_mu = PTHREAD_MUTEX_INITIALIZER;
static ino_t hinted[1024];
static size_t nhinted;
static bool recording;

int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
  static int (*real)(int, off_t, off_t, int);
  if (!real)
    real = (int (*)(int, off_t, off_t, int))dlsym(RTLD_NEXT, "posix_fadvise");
  struct stat st;
  if (advice == POSIX_FADV_WILLNEED && fstat(fd, &st) == 0) {
    pthread_mutex_lock(&hinted_mu);
    bool seen = false;
    for (size_t i = 0; i < nhinted; i++)
      seen = seen || hinted[i] == st.st_ino;
    if (recording && !seen && nhinted < 1024)
      hinted[nhinted++] = st.st_ino;
    pthread_mutex_unlock(&hinted_mu);
  }
  return real(fd, off, len, advice);
}

static int setup(void **state) { return image_env_setup(state, "ahead"); }
static int teardown(void **state) { return image_env_teardown(state); }

static char want[OBJECTS * OBJECT];

/* Image NAME of IO, OBJECTS objects of OBJECT bytes, written with WANT
 * (SEED varies it); left open in *IMG. */
static void make_image(lbd_ioctx_t *io, const char *name, int seed,
                       lbd_image_t **img)
{
  struct lbd_image_options o = {.size = OBJECTS * OBJECT,
                                .object_size = OBJECT};
  assert_int_equal(lbd_create(io, name, &o), 0);
  assert_int_equal(lbd_open(io, name, NULL, 0, img), 0);
  for (size_t i = 0; i < sizeof want; i++)
    want[i] = (char)(i / 4096 * seed + 1);
  assert_int_equal(lbd_write(*img, 0, sizeof want, want),
                   (ssize_t)sizeof want);
}

static void execute_hints_every_source_object(void **state)
{
  struct image_env *e = *state;
  if (image_env_rados(1))
    skip(); /* a hint of the local backend's files */
  lbd_image_t *img;
  make_image(e->io, "vm", 7, &img);
  assert_int_equal(lbd_close(img), 0);

  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options to = {.object_size = 2 * OBJECT};
  assert_int_equal(lbd_migration_prepare(e->io, "vm", p2, "vm", &to, false),
                   0);
  nhinted = 0;
  __atomic_store_n(&recording, true, __ATOMIC_SEQ_CST);
  assert_int_equal(lbd_migration_execute(p2, "vm", 4, NULL, NULL), 0);
  __atomic_store_n(&recording, false, __ATOMIC_SEQ_CST);
  /* Each target object reads two source objects: all 16 were hinted. */
  if (nhinted != OBJECTS)
    fail_msg("execute hinted %zu of the source's %d objects", nhinted,
             OBJECTS);
  expect_image_bytes(p2, "vm", NULL, want, sizeof want);
  assert_int_equal(lbd_migration_commit(p2, "vm", NULL, NULL), 0);
  expect_image_bytes(p2, "vm", NULL, want, sizeof want);
  lbd_ioctx_destroy(p2);
}

/* A flatten reads its parent's snapshot ahead the same way. */
static void flatten_hints_every_parent_object(void **state)
{
  struct image_env *e = *state;
  if (image_env_rados(1))
    skip();
  lbd_image_t *img;
  make_image(e->io, "base", 5, &img);
  assert_int_equal(lbd_snap_create(img, "s"), 0);
  assert_int_equal(lbd_snap_protect(img, "s"), 0);
  assert_int_equal(lbd_close(img), 0);
  struct lbd_image_options co = {0};
  assert_int_equal(lbd_clone(e->io, "base", "s", e->io, "kid", &co), 0);
  assert_int_equal(lbd_open(e->io, "kid", NULL, 0, &img), 0);
  nhinted = 0;
  __atomic_store_n(&recording, true, __ATOMIC_SEQ_CST);
  assert_int_equal(lbd_flatten(img, NULL, NULL), 0);
  __atomic_store_n(&recording, false, __ATOMIC_SEQ_CST);
  assert_int_equal(lbd_close(img), 0);
  if (nhinted != OBJECTS)
    fail_msg("flatten hinted %zu of the parent's %d objects", nhinted,
             OBJECTS);
  expect_image_bytes(e->io, "kid", NULL, want, sizeof want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(execute_hints_every_source_object,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(flatten_hints_every_parent_object,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
