/* Conformance: objstore_create_history makes an object with its whole
 * snapshot history in one go, exclusively, and the object then behaves as
 * if it had been written state by state. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "conformance.h"

#define HEAD OBJSTORE_SNAP_HEAD

static uint64_t new_snap(struct objstore_pool *p)
{
  uint64_t id = 0;
  assert_ok(objstore_snap_create(p, &id));
  return id;
}

static struct objstore_history_state state(const uint64_t *snaps, size_t n,
                                           const char *data,
                                           const struct objstore_extent *ext,
                                           size_t next, uint64_t size)
{
  return (struct objstore_history_state){snaps, n, data != NULL, data, size,
                                         ext, next};
}

static void test_history_reads(void **st)
{
  struct objstore_pool *p = FX(st)->pool;
  uint64_t s1 = new_snap(p), s2 = new_snap(p), s3 = new_snap(p),
           s4 = new_snap(p);
  char a[8192], b[8192], c[6000];
  memset(a, 'a', sizeof a);
  memset(b, 0, sizeof b);
  memset(b + 4096, 'b', 4096);
  memset(c, 'c', sizeof c);
  struct objstore_extent ea = {0, 8192}, eb = {4096, 4096}, ec = {0, 6000};
  uint64_t at1[] = {s1}, at2[] = {s2}, at34[] = {s3, s4};
  struct objstore_history_state h[] = {
      state(at1, 1, a, &ea, 1, sizeof a),
      state(at2, 1, NULL, NULL, 0, 0), /* did not exist at s2 */
      state(at34, 2, b, &eb, 1, sizeof b),
      state(NULL, 0, c, &ec, 1, sizeof c),
  };
  assert_ok(objstore_create_history(p, "o", h, 4, s4));
  expect_object(p, "o", s1, a, sizeof a);
  expect_missing(p, "o", s2);
  expect_object(p, "o", s3, b, sizeof b);
  expect_object(p, "o", s4, b, sizeof b);
  expect_object(p, "o", HEAD, c, sizeof c);
  /* the hole of state s3 stays a hole */
  struct objstore_extent *ext;
  size_t n;
  char buf[8192];
  assert_ret(objstore_sparse_read(p, "o", s3, 0, sizeof buf, buf, &ext, &n),
             8192);
  assert_int_equal(n, 1);
  assert_int_equal(ext[0].off, 4096);
  free(ext);
  /* created once only */
  assert_err(objstore_create_history(p, "o", h, 4, s4), EEXIST);
  expect_object(p, "o", HEAD, c, sizeof c);
  /* a later write with the newest context keeps every state */
  uint64_t s5 = new_snap(p);
  uint64_t ids[] = {s5, s4, s3, s2, s1};
  struct objstore_snapc sc = {s5, ids, 5};
  assert_ok(objstore_write(p, "o", &sc, 0, "X", 1));
  expect_object(p, "o", s5, c, sizeof c);
  expect_object(p, "o", s1, a, sizeof a);
  c[0] = 'X';
  expect_object(p, "o", HEAD, c, sizeof c);
  /* removing the snaps frees their states */
  assert_ok(objstore_snap_remove(p, s3));
  expect_object(p, "o", s4, b, sizeof b);
  assert_ok(objstore_snap_remove(p, s4));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s4);
  expect_object(p, "o", s1, a, sizeof a);
}

/* Snaps newer than SEQ read the head; a state for a removed snap is
 * dropped. */
static void test_history_seq_and_dead_snaps(void **st)
{
  struct objstore_pool *p = FX(st)->pool;
  uint64_t s1 = new_snap(p), s2 = new_snap(p);
  assert_ok(objstore_snap_remove(p, s1));
  char a[100], c[200];
  memset(a, 'a', sizeof a);
  memset(c, 'c', sizeof c);
  struct objstore_extent ea = {0, 100}, ec = {0, 200};
  uint64_t at1[] = {s1};
  struct objstore_history_state h[] = {state(at1, 1, a, &ea, 1, sizeof a),
                                       state(NULL, 0, c, &ec, 1, sizeof c)};
  assert_ok(objstore_create_history(p, "o", h, 2, s1));
  expect_object(p, "o", s2, c, sizeof c); /* s2 > seq: the head */
  expect_missing(p, "o", s1);
  struct objstore_snap_set set;
  if (fixture_has(FIXTURE_CAP_LIST_SNAPS)) {
    assert_ok(objstore_list_snaps(p, "o", &set));
    assert_int_equal(set.nclones, 0);
    objstore_snap_set_free(&set);
  }
  struct objstore_check_report rep;
  assert_ok(objstore_pool_check(p, false, &rep));
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
}

static void test_history_refusals(void **st)
{
  struct objstore_pool *p = FX(st)->pool;
  uint64_t s1 = new_snap(p);
  char c[10] = "0123456789";
  struct objstore_extent ec = {0, 10}, bad = {5, 10};
  uint64_t at1[] = {s1};
  struct objstore_history_state head = state(NULL, 0, c, &ec, 1, 10);
  struct objstore_history_state nohead = state(NULL, 0, NULL, NULL, 0, 0);
  struct objstore_history_state badext = state(NULL, 0, c, &bad, 1, 10);
  struct objstore_history_state snaphead[] = {state(at1, 1, c, &ec, 1, 10)};
  struct objstore_history_state late[] = {state(at1, 1, c, &ec, 1, 10), head};
  assert_err(objstore_create_history(p, "o", &nohead, 1, 0), EINVAL);
  assert_err(objstore_create_history(p, "o", &badext, 1, 0), EINVAL);
  assert_err(objstore_create_history(p, "o", snaphead, 1, s1), EINVAL);
  assert_err(objstore_create_history(p, "o", late, 2, 0), EINVAL);
  assert_err(objstore_create_history(p, "o", &head, 0, 0), EINVAL);
  expect_missing(p, "o", HEAD);
  /* an object with only snapshot clones left has a history already */
  uint64_t ids[] = {s1};
  struct objstore_snapc sc = {s1, ids, 1};
  put(p, "gone", "old", 3);
  assert_ok(objstore_remove(p, "gone", &sc));
  if (fixture_has(FIXTURE_CAP_CLONES_NO_HEAD)) {
    assert_err(objstore_create_history(p, "gone", &head, 1, s1), EEXIST);
    expect_object(p, "gone", s1, "old", 3);
    expect_missing(p, "gone", HEAD);
  }
  /* an existing object */
  put(p, "x", "x", 1);
  assert_err(objstore_create_history(p, "x", &head, 1, 0), EEXIST);
  expect_object(p, "x", HEAD, "x", 1);
}

/* Creations from many threads at once (parallel copy-ups): each its own
 * object, and racing ones on the same name: exactly one wins each, and
 * every object reads its own states at the snapshot and at the head. */
#define PAR_THREADS 8
#define PAR_OBJECTS 16

struct par_job {
  struct objstore_pool *pool;
  uint64_t snap;
  int thread;
  int won[PAR_OBJECTS];
  int failed;
};

static void par_fill(char *buf, size_t len, int object, int state)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)(object * 7 + state * 3 + (int)(i / 512));
}

static int par_create(struct par_job *j, const char *oid, int object)
{
  char old[4096], now[6000];
  par_fill(old, sizeof old, object, 0);
  par_fill(now, sizeof now, object, 1);
  struct objstore_extent eo = {0, sizeof old}, en = {1000, 5000};
  uint64_t at[] = {j->snap};
  struct objstore_history_state h[] = {
      state(at, 1, old, &eo, 1, sizeof old),
      state(NULL, 0, now, &en, 1, sizeof now)};
  return objstore_create_history(j->pool, oid, h, 2, j->snap);
}

static void *par_main(void *arg)
{
  struct par_job *j = arg;
  char oid[32];
  for (int i = 0; i < PAR_OBJECTS; i++) {
    snprintf(oid, sizeof oid, "own.%d.%d", j->thread, i);
    if (par_create(j, oid, j->thread * PAR_OBJECTS + i) != 0)
      j->failed++;
    snprintf(oid, sizeof oid, "race.%d", i);
    int r = par_create(j, oid, 1000 + i);
    if (r == 0)
      j->won[i] = 1;
    else if (r != -EEXIST)
      j->failed++;
  }
  return NULL;
}

static void expect_par(struct objstore_pool *p, const char *oid, int object,
                       uint64_t snap)
{
  char old[4096], now[6000];
  par_fill(old, sizeof old, object, 0);
  par_fill(now, sizeof now, object, 1);
  memset(now, 0, 1000); /* the head's data starts at 1000 */
  expect_object(p, oid, snap, old, sizeof old);
  expect_object(p, oid, HEAD, now, sizeof now);
}

static void test_history_parallel(void **st)
{
  struct objstore_pool *p = FX(st)->pool;
  uint64_t s1 = new_snap(p);
  struct par_job jobs[PAR_THREADS];
  pthread_t tids[PAR_THREADS];
  for (int t = 0; t < PAR_THREADS; t++) {
    jobs[t] = (struct par_job){.pool = p, .snap = s1, .thread = t};
    assert_int_equal(pthread_create(&tids[t], NULL, par_main, &jobs[t]), 0);
  }
  for (int t = 0; t < PAR_THREADS; t++)
    assert_int_equal(pthread_join(tids[t], NULL), 0);
  char oid[32];
  for (int i = 0; i < PAR_OBJECTS; i++) {
    int winners = 0;
    for (int t = 0; t < PAR_THREADS; t++)
      winners += jobs[t].won[i];
    assert_int_equal(winners, 1);
    snprintf(oid, sizeof oid, "race.%d", i);
    expect_par(p, oid, 1000 + i, s1);
  }
  for (int t = 0; t < PAR_THREADS; t++) {
    assert_int_equal(jobs[t].failed, 0);
    for (int i = 0; i < PAR_OBJECTS; i++) {
      snprintf(oid, sizeof oid, "own.%d.%d", t, i);
      expect_par(p, oid, t * PAR_OBJECTS + i, s1);
    }
  }
  struct objstore_check_report rep;
  assert_ok(objstore_pool_check(p, false, &rep));
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(int argc, char **argv)
{
  CONFORMANCE_INIT(argc, argv);
  const struct CMUnitTest tests[] = {
      T(test_history_reads),
      T(test_history_seq_and_dead_snaps),
      T(test_history_refusals),
      T(test_history_parallel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
