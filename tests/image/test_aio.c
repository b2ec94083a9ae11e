/* Asynchronous IO: many writes and reads in flight at once, checked byte
 * for byte; every callback runs exactly once, from a worker thread, also
 * for failed ops; flush waits for the ops before it; discard and
 * write_zeroes; completions released from their callback; bad input. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#define SIZE (32 * MiB)
#define NOPS 256
#define OPSIZE (16 * KiB)

struct env {
  struct image_env *base;
  lbd_image_t *img;
};

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  void *base;
  if (!e || image_env_setup(&base, "image-aio") < 0)
    return -1;
  e->base = base;
  /* striped, so that ops cross objects */
  struct lbd_image_options o = {.size = SIZE, .object_size = 1 * MiB,
                                .stripe_unit = 8 * KiB, .stripe_count = 4};
  if (lbd_create(e->base->io, "img", &o) < 0 ||
      lbd_open(e->base->io, "img", NULL, 0, &e->img) < 0) {
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
  if (e->img)
    lbd_close(e->img);
  void *base = e->base;
  image_env_teardown(&base);
  free(e);
  return 0;
}

static pthread_t main_thread;

struct op_state {
  atomic_int calls;
  atomic_int other_thread;
  ssize_t ret; /* seen by the callback */
};

static void count_cb(lbd_completion_t *c, void *arg)
{
  struct op_state *s = arg;
  s->ret = lbd_aio_get_return_value(c);
  atomic_fetch_add(&s->calls, 1);
  if (!pthread_equal(pthread_self(), main_thread))
    atomic_fetch_add(&s->other_thread, 1);
}

static uint64_t op_off(int i)
{
  /* spread, unaligned, crossing stripe units and objects */
  return ((uint64_t)i * 7919 % NOPS) * (SIZE / NOPS) + (uint64_t)i * 13;
}

static void pattern(unsigned char *p, size_t len, int i)
{
  for (size_t k = 0; k < len; k++)
    p[k] = (unsigned char)((k * 31 + (size_t)i * 7) % 251 + 1);
}

static void test_many_in_flight(void **state)
{
  struct env *e = *state;
  main_thread = pthread_self();
  unsigned char *wbuf = malloc(NOPS * OPSIZE), *rbuf = calloc(NOPS, OPSIZE);
  struct op_state *st = calloc(NOPS, sizeof *st);
  lbd_completion_t **c = calloc(NOPS, sizeof *c);
  assert_non_null(wbuf);
  assert_non_null(rbuf);
  assert_non_null(st);
  assert_non_null(c);
  for (int i = 0; i < NOPS; i++) {
    pattern(wbuf + (size_t)i * OPSIZE, OPSIZE, i);
    assert_ok(lbd_aio_create_completion(count_cb, &st[i], &c[i]));
    assert_ok(lbd_aio_write(e->img, op_off(i), OPSIZE,
                            wbuf + (size_t)i * OPSIZE, c[i]));
  }
  /* a flush submitted behind them completes after all of them */
  struct op_state fst = {0};
  lbd_completion_t *fc;
  assert_ok(lbd_aio_create_completion(count_cb, &fst, &fc));
  assert_ok(lbd_aio_flush(e->img, fc));
  assert_ok(lbd_aio_wait_for_complete(fc));
  assert_int_equal(lbd_aio_get_return_value(fc), 0);
  for (int i = 0; i < NOPS; i++) {
    if (!lbd_aio_is_complete(c[i]))
      fail_msg("write %d not complete after the flush that followed it", i);
    assert_int_equal(atomic_load(&st[i].calls), 1);
  }
  assert_int_equal(atomic_load(&fst.calls), 1);
  lbd_aio_release(fc);
  for (int i = 0; i < NOPS; i++) {
    assert_ok(lbd_aio_wait_for_complete(c[i]));
    assert_int_equal(lbd_aio_get_return_value(c[i]), OPSIZE);
    assert_int_equal(st[i].ret, OPSIZE);
    assert_int_equal(atomic_load(&st[i].other_thread), 1);
    assert_string_equal(lbd_aio_get_error(c[i]), "");
  }
  /* read them all back at once, reusing the completions */
  for (int i = 0; i < NOPS; i++)
    assert_ok(lbd_aio_read(e->img, op_off(i), OPSIZE,
                           rbuf + (size_t)i * OPSIZE, c[i]));
  for (int i = 0; i < NOPS; i++) {
    assert_ok(lbd_aio_wait_for_complete(c[i]));
    assert_int_equal(lbd_aio_get_return_value(c[i]), OPSIZE);
    assert_int_equal(atomic_load(&st[i].calls), 2);
    if (memcmp(rbuf + (size_t)i * OPSIZE, wbuf + (size_t)i * OPSIZE, OPSIZE))
      fail_msg("aio read %d does not match what was written", i);
    lbd_aio_release(c[i]);
  }
  /* and synchronously */
  unsigned char one[OPSIZE];
  for (int i = 0; i < NOPS; i += 17) {
    assert_int_equal(lbd_read(e->img, op_off(i), OPSIZE, one), OPSIZE);
    assert_memory_equal(one, wbuf + (size_t)i * OPSIZE, OPSIZE);
  }
  free(wbuf);
  free(rbuf);
  free(st);
  free(c);
}

static atomic_int released;

static void release_cb(lbd_completion_t *c, void *arg)
{
  (void)arg;
  atomic_fetch_add(&released, 1);
  lbd_aio_release(c); /* fire and forget */
}

static void test_discard_zeroes_release_in_cb(void **state)
{
  struct env *e = *state;
  static unsigned char buf[4 * MiB];
  memset(buf, 0xab, sizeof buf);
  atomic_store(&released, 0);
  lbd_completion_t *c;
  assert_ok(lbd_aio_create_completion(release_cb, NULL, &c));
  assert_ok(lbd_aio_write(e->img, 0, sizeof buf, buf, c));
  lbd_completion_t *f;
  assert_ok(lbd_aio_create_completion(NULL, NULL, &f));
  assert_ok(lbd_aio_flush(e->img, f));
  assert_ok(lbd_aio_wait_for_complete(f));
  assert_int_equal(atomic_load(&released), 1);

  lbd_completion_t *d, *z;
  assert_ok(lbd_aio_create_completion(NULL, NULL, &d));
  assert_ok(lbd_aio_create_completion(NULL, NULL, &z));
  assert_ok(lbd_aio_discard(e->img, 100 * KiB, 1 * MiB, d));
  assert_ok(lbd_aio_write_zeroes(e->img, 3 * MiB, 1 * MiB - 5, z));
  assert_ok(lbd_aio_flush(e->img, f));
  assert_ok(lbd_aio_wait_for_complete(f));
  assert_true(lbd_aio_is_complete(d));
  assert_true(lbd_aio_is_complete(z));
  assert_int_equal(lbd_aio_get_return_value(d), 0);
  assert_int_equal(lbd_aio_get_return_value(z), 0);
  static unsigned char got[4 * MiB];
  assert_int_equal(lbd_read(e->img, 0, sizeof got, got), sizeof got);
  for (uint64_t i = 0; i < sizeof got; i++) {
    bool zero = (i >= 100 * KiB && i < 100 * KiB + MiB) ||
                (i >= 3 * MiB && i < 4 * MiB - 5);
    if (got[i] != (zero ? 0 : 0xab))
      fail_msg("byte %" PRIu64 " is %u", i, got[i]);
  }
  lbd_aio_release(d);
  lbd_aio_release(z);
  lbd_aio_release(f);
}

static void test_failures(void **state)
{
  struct env *e = *state;
  main_thread = pthread_self();
  unsigned char buf[4096] = {1};
  struct op_state s = {0};
  lbd_completion_t *c;
  assert_ok(lbd_aio_create_completion(count_cb, &s, &c));
  /* submission errors: no callback */
  assert_int_equal(lbd_aio_write(e->img, 0, sizeof buf, buf, NULL), -EINVAL);
  assert_true(*lbd_last_error());
  assert_int_equal(lbd_aio_write(NULL, 0, sizeof buf, buf, c), -EINVAL);
  assert_int_equal(lbd_aio_read(e->img, 0, sizeof buf, NULL, c), -EINVAL);
  assert_int_equal(lbd_aio_wait_for_complete(c), -EINVAL); /* not submitted */
  assert_int_equal(lbd_aio_create_completion(NULL, NULL, NULL), -EINVAL);
  assert_int_equal(atomic_load(&s.calls), 0);

  /* op errors: the callback runs once with the error */
  assert_ok(lbd_aio_write(e->img, SIZE - 10, sizeof buf, buf, c));
  assert_ok(lbd_aio_wait_for_complete(c));
  assert_int_equal(atomic_load(&s.calls), 1);
  assert_int_equal(atomic_load(&s.other_thread), 1);
  assert_int_equal(lbd_aio_get_return_value(c), -EINVAL);
  assert_non_null(strstr(lbd_aio_get_error(c), "past the end"));
  assert_ok(lbd_aio_discard(e->img, SIZE, 1, c));
  assert_ok(lbd_aio_wait_for_complete(c));
  assert_int_equal(lbd_aio_get_return_value(c), -EINVAL);
  assert_int_equal(atomic_load(&s.calls), 2);

  lbd_image_t *ro;
  assert_ok(lbd_open(e->base->io, "img", NULL, LBD_OPEN_READ_ONLY, &ro));
  assert_ok(lbd_aio_write(ro, 0, sizeof buf, buf, c));
  assert_ok(lbd_aio_wait_for_complete(c));
  assert_int_equal(lbd_aio_get_return_value(c), -EROFS);
  assert_int_equal(atomic_load(&s.calls), 3);
  /* a read past the end reads nothing, as lbd_read */
  assert_ok(lbd_aio_read(ro, SIZE + 100, sizeof buf, buf, c));
  assert_ok(lbd_aio_wait_for_complete(c));
  assert_int_equal(lbd_aio_get_return_value(c), 0);
  assert_ok(lbd_close(ro));

  /* one op at a time per completion */
  static unsigned char big[8 * MiB];
  struct op_state s2 = {0};
  lbd_completion_t *c2;
  assert_ok(lbd_aio_create_completion(count_cb, &s2, &c2));
  int busy = 0;
  for (int i = 0; i < 20 && !busy; i++) {
    assert_ok(lbd_aio_write(e->img, 0, sizeof big, big, c2));
    int r = lbd_aio_write(e->img, 0, sizeof buf, buf, c2);
    if (r == -EBUSY)
      busy = 1;
    else
      assert_int_equal(r, 0); /* the first was already done */
    assert_ok(lbd_aio_wait_for_complete(c2));
  }
  assert_true(busy);
  lbd_aio_release(c2);
  lbd_aio_release(c);
  assert_int_equal(atomic_load(&s.calls), 4);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_many_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_discard_zeroes_release_in_cb,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
