/* An op that changes nothing (zero of a missing object) succeeds, whether
 * the local backend commits it alone or in a group with other ops whose
 * commit fails: it needs no commit, as it needs none alone.  The ops of
 * the group that did change something fail with the commit's reason and
 * leave no trace.
 *
 * A group is made on purpose: the first op's transaction is held at its
 * begin (by this program's own mdb_txn_begin, which runs before liblmdb's)
 * while two more ops queue behind it; they are then committed together,
 * and that commit fails (this program's mdb_txn_commit). */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"
#define LMDB_HOOKS_FAIL_COMMITS
#include "lmdb_hooks.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool hold_next, holding, release;
static int write_begins;  /* top-level write transactions begun */

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags,
                  MDB_txn **txn)
{
  bool top = !parent && !(flags & MDB_RDONLY);
  if (top) {
    pthread_mutex_lock(&mu);
    write_begins++;
    if (hold_next) {
      hold_next = false;
      holding = true;
      pthread_cond_broadcast(&cv);
      while (!release)
        pthread_cond_wait(&cv, &mu);
      holding = false;
    }
    pthread_mutex_unlock(&mu);
  }
  int rc = lmdb_real_txn_begin(env, parent, flags, txn);
  if (rc == 0 && top)
    top_write = *txn;
  return rc;
}

struct op {
  struct objstore_pool *pool;
  const char *oid;
  bool zero; /* else write_full */
  int r;
  char err[256];
};

static void *run(void *arg)
{
  struct op *o = arg;
  o->r = o->zero ? objstore_zero(o->pool, o->oid, NULL, 0, 4096)
                 : objstore_write_full(o->pool, o->oid, NULL, "data", 4);
  snprintf(o->err, sizeof o->err, "%s", o->r < 0 ? lbd_last_error() : "");
  return NULL;
}

static void noop_in_failed_group(void **state)
{
  struct fixture *f = *state;
  struct op first = {.pool = f->pool, .oid = "first"};
  struct op change = {.pool = f->pool, .oid = "change"};
  struct op noop = {.pool = f->pool, .oid = "missing", .zero = true};
  pthread_t t0, t1, t2;

  /* Alone, the no-op commits nothing: a failing commit does not touch it. */
  fail_commits = 1;
  run(&noop);
  if (noop.r < 0)
    fail_msg("zero of a missing object, alone: %s", noop.err);
  fail_commits = 0;

  pthread_mutex_lock(&mu);
  hold_next = true;
  pthread_mutex_unlock(&mu);
  assert_int_equal(pthread_create(&t0, NULL, run, &first), 0);
  pthread_mutex_lock(&mu);
  while (!holding)
    pthread_cond_wait(&cv, &mu);
  int begins = write_begins;
  pthread_mutex_unlock(&mu);
  /* The leader is held at its begin: these two queue behind it. */
  assert_int_equal(pthread_create(&t1, NULL, run, &change), 0);
  assert_int_equal(pthread_create(&t2, NULL, run, &noop), 0);
  usleep(300000);
  __atomic_store_n(&fail_commits, 2, __ATOMIC_SEQ_CST); /* both groups' */
  pthread_mutex_lock(&mu);
  release = true;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  pthread_join(t0, NULL);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  fail_commits = 0;
  /* One more begin: the two queued ops were one group. */
  assert_int_equal(write_begins, begins + 1);

  assert_int_equal(first.r, -EIO);
  assert_int_equal(change.r, -EIO);
  assert_non_null(strstr(change.err, "committing metadata"));
  if (noop.r < 0)
    fail_msg("zero of a missing object, in a group whose commit failed: %s",
             noop.err);
  assert_int_equal(objstore_stat(f->pool, "change", OBJSTORE_SNAP_HEAD,
                                 &(struct objstore_stat){0}), -ENOENT);
  assert_int_equal(objstore_stat(f->pool, "missing", OBJSTORE_SNAP_HEAD,
                                 &(struct objstore_stat){0}), -ENOENT);
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, false, &rep));
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.objects, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(noop_in_failed_group, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
