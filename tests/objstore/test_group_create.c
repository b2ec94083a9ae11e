/* Plain writes that create objects, from many threads at once (as
 * asynchronous writes into a new image do): the local backend commits such
 * creations together.  Every object must exist afterwards with the data
 * written, each creation must have had a version of its own, a shared
 * object must hold one writer's whole block, a bad snap context must fail
 * its own write only, and the pool must check clean. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define THREADS 8
#define PER_THREAD 48
#define SHARED 8 /* objects every thread writes */
#define BLK 4096

struct job {
  struct objstore_pool *pool;
  int id;
  int failed;
  char what[256];
};

static void *run(void *arg)
{
  struct job *j = arg;
  char buf[BLK];
  for (int i = 0; i < PER_THREAD + SHARED && !j->failed; i++) {
    char oid[64];
    if (i < PER_THREAD)
      snprintf(oid, sizeof oid, "obj.%d.%d", j->id, i);
    else
      snprintf(oid, sizeof oid, "shared.%d", i - PER_THREAD);
    memset(buf, 'A' + j->id, sizeof buf);
    int r = objstore_write(j->pool, oid, NULL, (uint64_t)(i % 4) * BLK, buf,
                           sizeof buf);
    if (r < 0) {
      j->failed = 1;
      snprintf(j->what, sizeof j->what, "write %s: %s", oid, lbd_last_error());
    }
    if (i == 3) { /* a seq no snap was allocated for: this write only fails */
      uint64_t snap = 1000;
      struct objstore_snapc sc = {.seq = snap, .snaps = &snap, .nsnaps = 1};
      snprintf(oid, sizeof oid, "bad-seq.%d", j->id);
      r = objstore_write(j->pool, oid, &sc, 0, buf, sizeof buf);
      if (r != -EINVAL) {
        j->failed = 1;
        snprintf(j->what, sizeof j->what, "bad seq write: %d", r);
      }
    }
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void creations_at_once(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *pools[THREADS];
  pthread_t th[THREADS];
  struct job jobs[THREADS];
  for (int t = 0; t < THREADS; t++) {
    /* half share the fixture's handle, half have their own */
    if (t % 2)
      assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &pools[t]));
    else
      pools[t] = f->pool;
    jobs[t] = (struct job){.pool = pools[t], .id = t};
    assert_int_equal(pthread_create(&th[t], NULL, run, &jobs[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    if (jobs[t].failed)
      fail_msg("thread %d: %s", t, jobs[t].what);
  }

  uint64_t versions[THREADS * PER_THREAD];
  size_t nv = 0;
  char buf[BLK];
  for (int t = 0; t < THREADS; t++) {
    for (int i = 0; i < PER_THREAD; i++) {
      char oid[64];
      snprintf(oid, sizeof oid, "obj.%d.%d", t, i);
      uint64_t off = (uint64_t)(i % 4) * BLK;
      assert_int_equal(objstore_read(f->pool, oid, OBJSTORE_SNAP_HEAD, off,
                                     BLK, buf), BLK);
      for (size_t k = 0; k < BLK; k++)
        if (buf[k] != 'A' + t)
          fail_msg("%s: byte %zu is %d", oid, k, buf[k]);
      struct objstore_stat st;
      assert_ok(objstore_stat(f->pool, oid, OBJSTORE_SNAP_HEAD, &st));
      assert_int_equal(st.size, off + BLK);
      versions[nv++] = st.version;
    }
    char oid[64];
    snprintf(oid, sizeof oid, "bad-seq.%d", t);
    assert_int_equal(objstore_read(f->pool, oid, OBJSTORE_SNAP_HEAD, 0, BLK,
                                   buf), -ENOENT);
  }
  /* An in-place write keeps its object's version: each is its creation's. */
  qsort(versions, nv, sizeof *versions, cmp_u64);
  for (size_t i = 1; i < nv; i++)
    if (versions[i] == versions[i - 1])
      fail_msg("two creations share version %llu",
               (unsigned long long)versions[i]);
  for (int i = 0; i < SHARED; i++) {
    char oid[64];
    snprintf(oid, sizeof oid, "shared.%d", i);
    uint64_t off = (uint64_t)((PER_THREAD + i) % 4) * BLK;
    assert_int_equal(objstore_read(f->pool, oid, OBJSTORE_SNAP_HEAD, off, BLK,
                                   buf), BLK);
    for (size_t k = 1; k < BLK; k++)
      if (buf[k] != buf[0] || buf[0] < 'A' || buf[0] >= 'A' + THREADS)
        fail_msg("%s: mixed or foreign data at byte %zu", oid, k);
  }
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, false, &rep));
  assert_int_equal(rep.objects, THREADS * PER_THREAD + SHARED);
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
  for (int t = 1; t < THREADS; t += 2)
    objstore_pool_close(pools[t]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(creations_at_once, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
