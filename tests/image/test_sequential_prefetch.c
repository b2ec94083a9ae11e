/* A sequential reader's prefetch of the next object is a hint: it must
 * never make the read wait.  Here another op holds the next object's
 * exclusive op lock for a while (its commit is held up on purpose by this
 * program's own mdb_txn_begin, which runs before liblmdb's); a sequential
 * read of the object before it must not wait for that op.  And reads that
 * prefetch read what was written. */
#include <errno.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "image_fixture.h"
#include "lbd/lbd.h"
#include "objstore/objstore.h"
#include "../objstore/lmdb_hooks.h"

#define MiB (1024 * 1024ULL)
#define OBJ (1 * MiB)
#define HOLD_US 1500000

/* The first top-level write transaction that thread HOLDER begins waits
 * HOLD_US first; HOLDING tells when it waits. */
static pthread_t holder;
static int armed, holding;

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags,
                  MDB_txn **txn)
{
  if (!parent && !(flags & MDB_RDONLY) &&
      __atomic_load_n(&armed, __ATOMIC_SEQ_CST) &&
      pthread_equal(pthread_self(), holder) &&
      __atomic_exchange_n(&armed, 0, __ATOMIC_SEQ_CST)) {
    __atomic_store_n(&holding, 1, __ATOMIC_SEQ_CST);
    usleep(HOLD_US);
    __atomic_store_n(&holding, 2, __ATOMIC_SEQ_CST);
  }
  return lmdb_real_txn_begin(env, parent, flags, txn);
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct slow_op {
  struct objstore_pool *pool;
  char oid[128];
  int r;
};

/* A write_full of the next object: all or nothing, under its exclusive op
 * lock, which it holds while its commit waits. */
static void *slow_write(void *arg)
{
  struct slow_op *s = arg;
  holder = pthread_self(); /* mdb_txn_begin waits in this thread only */
  static char data[4096];
  memset(data, 'n', sizeof data);
  s->r = objstore_write_full(s->pool, s->oid, NULL, data, sizeof data);
  return NULL;
}

static void prefetch_never_waits(void **state)
{
  struct image_env *e = *state;
  if (image_env_rados(1))
    skip(); /* the local backend's op locks */
  struct lbd_image_options o = {.size = 4 * OBJ, .object_size = OBJ};
  assert_int_equal(lbd_create(e->io, "img", &o), 0);
  lbd_image_t *img;
  assert_int_equal(lbd_open(e->io, "img", NULL, 0, &img), 0);
  char *buf = malloc(OBJ), *want = malloc(OBJ);
  assert_non_null(buf);
  assert_non_null(want);
  for (int i = 0; i < 2; i++) {
    memset(want, 'a' + i, OBJ);
    assert_int_equal(lbd_write(img, (uint64_t)i * OBJ, OBJ, want), OBJ);
  }
  assert_int_equal(lbd_flush(img), 0);
  struct lbd_image_info info;
  assert_int_equal(lbd_stat(img, &info), 0);

  /* A sequential read of object 0 prefetches object 1, while another op
   * on object 1 holds its exclusive lock. */
  struct objstore_cluster *c;
  struct objstore_pool *pool;
  int64_t id;
  assert_int_equal(objstore_cluster_open(e->dir, &c), 0);
  assert_int_equal(objstore_pool_lookup(c, "rbd", &id), 0);
  assert_int_equal(objstore_pool_open(c, id, "", &pool), 0);
  struct slow_op s = {.pool = pool};
  snprintf(s.oid, sizeof s.oid, "%s.%016" PRIx64, info.block_name_prefix,
           (uint64_t)1);
  pthread_t th;
  __atomic_store_n(&holding, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
  assert_int_equal(pthread_create(&th, NULL, slow_write, &s), 0);
  for (int i = 0; __atomic_load_n(&holding, __ATOMIC_SEQ_CST) == 0; i++) {
    if (i == 10000)
      fail_msg("the write of object 1 never began its commit");
    usleep(1000);
  }
  double t0 = now_s();
  assert_int_equal(lbd_read(img, 0, OBJ, buf), OBJ);
  double took = now_s() - t0;
  bool held = __atomic_load_n(&holding, __ATOMIC_SEQ_CST) == 1;
  pthread_join(th, NULL);
  assert_int_equal(s.r, 0);
  memset(want, 'a', OBJ);
  assert_memory_equal(buf, want, OBJ);
  if (took > 0.5 || !held)
    fail_msg("a sequential read of object 0 took %.2f s: its prefetch of "
             "object 1 waited for an op on object 1", took);

  /* Sequential reads through every object read what is there. */
  assert_int_equal(lbd_read(img, OBJ, OBJ, buf), OBJ);
  assert_int_equal(buf[0], 'n');
  assert_int_equal(buf[OBJ - 1], 0);
  assert_int_equal(lbd_read(img, 2 * OBJ, OBJ, buf), OBJ);
  assert_int_equal(buf[0], 0);
  objstore_pool_close(pool);
  objstore_cluster_close(c);
  free(buf);
  free(want);
  assert_int_equal(lbd_close(img), 0);
}

static int setup(void **state) { return image_env_setup(state, "prefetch"); }

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(prefetch_never_waits, setup,
                                      image_env_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
