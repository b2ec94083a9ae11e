/* Asynchronous IO in a child of fork(): the process-wide aio thread pool
 * and its workers are the parent's, so the child must get a pool of its
 * own, even when the parent forked with ops in flight.
 *
 * The parent keeps aio writes in flight on image A and forks; the child
 * opens its own handles, writes and reads image B asynchronously and
 * checks the data (an alarm makes a hang a failure); the parent's ops all
 * complete and read back. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "image_fixture.h"
#include "../objstore/fixture.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define SIZE (16 * MiB)
#define NOPS 64
#define OPSIZE (16 * KiB)

static int setup(void **state) { return image_env_setup(state, "aio-fork"); }
static int teardown(void **state) { return image_env_teardown(state); }

static void fill(char *buf, int i, char tag)
{
  for (size_t k = 0; k < OPSIZE; k++)
    buf[k] = (char)(tag + i + (int)(k % 13));
}

/* NOPS aio writes of image IMG, then NOPS aio reads checked; 0 if good. */
static int aio_round(lbd_image_t *img, char tag)
{
  static char bufs[NOPS][OPSIZE], got[NOPS][OPSIZE];
  lbd_completion_t *c[NOPS];
  for (int i = 0; i < NOPS; i++) {
    fill(bufs[i], i, tag);
    if (lbd_aio_create_completion(NULL, NULL, &c[i]) < 0 ||
        lbd_aio_write(img, (uint64_t)i * 3 * OPSIZE, OPSIZE, bufs[i], c[i]) <
            0)
      return 1;
  }
  for (int i = 0; i < NOPS; i++) {
    if (lbd_aio_wait_for_complete(c[i]) < 0 ||
        lbd_aio_get_return_value(c[i]) != (ssize_t)OPSIZE)
      return 2;
    lbd_aio_release(c[i]);
  }
  for (int i = 0; i < NOPS; i++)
    if (lbd_aio_create_completion(NULL, NULL, &c[i]) < 0 ||
        lbd_aio_read(img, (uint64_t)i * 3 * OPSIZE, OPSIZE, got[i], c[i]) < 0)
      return 3;
  for (int i = 0; i < NOPS; i++) {
    if (lbd_aio_wait_for_complete(c[i]) < 0 ||
        lbd_aio_get_return_value(c[i]) != (ssize_t)OPSIZE)
      return 4;
    lbd_aio_release(c[i]);
    if (memcmp(got[i], bufs[i], OPSIZE) != 0)
      return 5;
  }
  return 0;
}

static void child_main(const char *dir)
{
  alarm(60); /* a hang fails the test */
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  if (lbd_cluster_open(dir, false, &c) < 0 ||
      lbd_ioctx_create(c, "rbd", NULL, &io) < 0 ||
      lbd_open(io, "b", NULL, 0, &img) < 0)
    _exit(10);
  int r = aio_round(img, 'b');
  if (r == 0)
    r = aio_round(img, 'c');
  lbd_close(img);
  lbd_ioctx_destroy(io);
  lbd_cluster_close(c);
  _exit(r);
}

static void fork_with_ops_in_flight(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = SIZE};
  assert_ok(lbd_create(e->io, "a", &o));
  assert_ok(lbd_create(e->io, "b", &o));
  lbd_image_t *a;
  assert_ok(lbd_open(e->io, "a", NULL, 0, &a));
  assert_int_equal(aio_round(a, 'x'), 0); /* the pool is running */
  static char busy[NOPS][OPSIZE];
  lbd_completion_t *c[NOPS];
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < NOPS; i++) { /* in flight when the child starts */
      fill(busy[i], i, (char)('p' + round));
      assert_ok(lbd_aio_create_completion(NULL, NULL, &c[i]));
      assert_ok(lbd_aio_write(a, SIZE / 2 + (uint64_t)i * OPSIZE, OPSIZE,
                              busy[i], c[i]));
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
      child_main(e->dir);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_msg("round %d: child %s %d", round,
               WIFEXITED(status) ? "exited with" : "killed by signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    for (int i = 0; i < NOPS; i++) {
      assert_ok(lbd_aio_wait_for_complete(c[i]));
      assert_int_equal(lbd_aio_get_return_value(c[i]), OPSIZE);
      lbd_aio_release(c[i]);
    }
    char got[OPSIZE];
    for (int i = 0; i < NOPS; i++) {
      assert_int_equal(lbd_read(a, SIZE / 2 + (uint64_t)i * OPSIZE, OPSIZE,
                                got), OPSIZE);
      assert_memory_equal(got, busy[i], OPSIZE);
    }
  }
  assert_int_equal(aio_round(a, 'z'), 0);
  assert_ok(lbd_close(a));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(fork_with_ops_in_flight, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
