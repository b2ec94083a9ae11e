/* A commit cut after each of its durable steps, every one in turn, is
 * finished by a second commit by either name (each cut twice: once by
 * each; cut after its marker went, the target's status says it is still
 * committing, and a commit by its name ends it), and all is as after a
 * commit never cut: the target holds the model's bytes at its head and
 * snapshot, the source and the commit marker are gone, the target's header
 * keeps no migration key, and status by either name says nothing is
 * migrating.
 *
 * The steps are counted by this program's own mdb_txn_begin/commit (they
 * run before liblmdb's): a child commits with a countdown of write
 * transactions and dies (_exit, as kill -9 would leave it) right after the
 * K-th is durable, for K = 1 .. the number a whole commit takes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "../objstore/lmdb_hooks.h"
#include "image/image.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define SIZE (4 * MiB)
#define COMMITS_OID "lbd_migration_commits"

/* ---- counting the durable steps --------------------------------------- */

static _Thread_local MDB_txn *top_write; /* this thread's, if any */
static int countdown; /* > 0: die after that many top-level write commits */
static int committed; /* top-level write transactions committed */

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags,
                  MDB_txn **txn)
{
  int r = lmdb_real_txn_begin(env, parent, flags, txn);
  if (r == 0 && !parent && !(flags & MDB_RDONLY))
    top_write = *txn;
  return r;
}

int mdb_txn_commit(MDB_txn *txn)
{
  bool top = txn && txn == top_write;
  if (top)
    top_write = NULL;
  int r = lmdb_real_txn_commit(txn);
  if (top && r == 0) {
    int n = __atomic_add_fetch(&committed, 1, __ATOMIC_SEQ_CST);
    int k = __atomic_load_n(&countdown, __ATOMIC_SEQ_CST);
    if (k > 0 && n >= k)
      _exit(0); /* right after the K-th durable step */
  }
  return r;
}

/* ---- the migration ------------------------------------------------------ */

static int setup(void **state) { return image_env_setup(state, "every-step"); }
static int teardown(void **state) { return image_env_teardown(state); }

struct model {
  char s0[SIZE], head[SIZE];
};

/* Source "vm" with snapshot s0, migrated to p2 and executed. */
static lbd_ioctx_t *prepare_executed(struct image_env *e, struct model *m)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "vm", &o));
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  for (size_t i = 0; i < SIZE; i++)
    m->head[i] = (char)(i * 7 / 4096 + 1);
  memset(m->head + MiB, 0, MiB); /* a hole */
  assert_int_equal(lbd_write(img, 0, SIZE, m->head), (ssize_t)SIZE);
  assert_ok(lbd_snap_create(img, "s0"));
  memcpy(m->s0, m->head, SIZE);
  memset(m->head + 2 * MiB + 5, 'h', 70 * KiB);
  assert_int_equal(lbd_write(img, 2 * MiB + 5, 70 * KiB, m->head + 2 * MiB + 5),
                   (ssize_t)(70 * KiB));
  assert_ok(lbd_close(img));
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options t = {.object_size = 512 * KiB};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &t, false));
  assert_ok(lbd_migration_execute(p2, "vm", 2, NULL, NULL));
  /* a client's write to the target, after execute */
  assert_ok(lbd_open(p2, "vm", NULL, 0, &img));
  memset(m->head + 3 * MiB - 7, 'c', 9000);
  assert_int_equal(lbd_write(img, 3 * MiB - 7, 9000, m->head + 3 * MiB - 7),
                   9000);
  assert_ok(lbd_close(img));
  return p2;
}

/* The child: commit (or abort, if ABORTING), dying after the STEP-th
 * durable step (0: never); its exit status is the number of steps it
 * took, if it lived. */
static int step;
static bool aborting;
static void commit_child(const char *dir, bool by_source)
{
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
  if (lbd_cluster_open(dir, false, &c) < 0 ||
      lbd_ioctx_create(c, by_source ? "rbd" : "p2", NULL, &io) < 0)
    _exit(255);
  __atomic_store_n(&committed, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&countdown, step, __ATOMIC_SEQ_CST);
  int r = aborting ? lbd_migration_abort(io, "vm", NULL, NULL)
                   : lbd_migration_commit(io, "vm", NULL, NULL);
  int n = __atomic_load_n(&committed, __ATOMIC_SEQ_CST);
  _exit(r < 0 ? 254 : n > 200 ? 200 : n);
}

/* Run commit_child with E's cluster closed; its exit status. */
static int run_child(struct image_env *e, bool by_source)
{
  lbd_ioctx_destroy(e->io);
  lbd_cluster_close(e->c);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    commit_child(e->dir, by_source);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_ok(lbd_cluster_open(e->dir, false, &e->c));
  assert_ok(lbd_ioctx_create(e->c, "rbd", NULL, &e->io));
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* Image vm of IO keeps no migration key in its header. */
static void expect_no_migration_keys(lbd_ioctx_t *io, int k)
{
  lbd_image_t *img;
  struct objstore_kv *kvs;
  size_t n;
  assert_ok(lbd_open(io, "vm", NULL, LBD_OPEN_READ_ONLY, &img));
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = "";
  bool more = true;
  while (more) {
    assert_ok(objstore_omap_get(io->pool, img->header_oid, after, 64, &kvs,
                                &n, &more));
    for (size_t i = 0; i < n; i++)
      if (strncmp(kvs[i].key, "migration_", 10) == 0)
        fail_msg("cut after step %d: key %s is left in %s/vm's header", k,
                 kvs[i].key, io->pool_name);
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  assert_ok(lbd_close(img));
}

/* The source vm is back as the model, with no trace of the migration. */
static void expect_aborted(struct image_env *e, lbd_ioctx_t *p2,
                           const struct model *m, int k)
{
  expect_image_bytes(e->io, "vm", NULL, m->head, SIZE);
  expect_image_bytes(e->io, "vm", "s0", m->s0, SIZE);
  lbd_image_t *img;
  expect_lbd_error(lbd_open(p2, "vm", NULL, LBD_OPEN_READ_ONLY, &img), ENOENT,
                   "the target after the abort", "vm");
  struct lbd_migration_status st;
  expect_lbd_error(lbd_migration_status(e->io, "vm", &st), EINVAL,
                   "status by the source's name", "not being migrated");
  expect_lbd_error(lbd_migration_status(p2, "vm", &st), ENOENT,
                   "status by the target's name", "does not exist");
  expect_no_migration_keys(e->io, k);
}

static void expect_done(struct image_env *e, lbd_ioctx_t *p2,
                        const struct model *m, int k)
{
  expect_image_bytes(p2, "vm", NULL, m->head, SIZE);
  expect_image_bytes(p2, "vm", "s0", m->s0, SIZE);
  lbd_image_t *img;
  expect_lbd_error(lbd_open(e->io, "vm", NULL, LBD_OPEN_READ_ONLY, &img),
                   ENOENT, "the source after the commit", "vm");
  struct lbd_migration_status st;
  expect_lbd_error(lbd_migration_status(e->io, "vm", &st), ENOENT,
                   "status by the source's name", "does not exist");
  expect_lbd_error(lbd_migration_status(p2, "vm", &st), EINVAL,
                   "status by the target's name", "not being migrated");
  const char *keys[] = {"vm"};
  struct objstore_kv *kvs;
  size_t n = 0;
  int r = objstore_omap_get_keys(e->io->pool, COMMITS_OID, keys, 1, &kvs, &n);
  if (r == 0)
    objstore_kv_free(kvs, n);
  if (r == 0 && n)
    fail_msg("cut after step %d: the commit marker is left", k);
  expect_no_migration_keys(p2, k);
}

/* The operator commits again, by the other name than the cut one's. */
static void finish_commit(struct image_env *e, lbd_ioctx_t *p2,
                          bool by_source)
{
  int r = lbd_migration_commit(by_source ? p2 : e->io, "vm", NULL, NULL);
  if (r < 0 && by_source) /* it had ended: nothing is migrating */
    expect_lbd_error(r, EINVAL, "commit by the target's name", "not being "
                     "migrated");
  else if (r < 0)
    expect_lbd_error(r, ENOENT, "commit by the source's name",
                     "does not exist");
  /* Cut after the marker went, the source's name finds nothing: the
   * target's status says what is left. */
  struct lbd_migration_status st;
  if (lbd_migration_status(p2, "vm", &st) == 0) {
    assert_string_equal(st.state, "committing");
    assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  }
}

/* The operator aborts again, by the other name; if that name finds
 * nothing any more, by the first. */
static void finish_abort(struct image_env *e, lbd_ioctx_t *p2,
                         bool by_source, int k)
{
  int r = lbd_migration_abort(by_source ? p2 : e->io, "vm", NULL, NULL);
  struct lbd_migration_status st;
  if (r < 0 && (lbd_migration_status(e->io, "vm", &st) == 0 ||
                lbd_migration_status(p2, "vm", &st) == 0))
    r = lbd_migration_abort(by_source ? e->io : p2, "vm", NULL, NULL);
  if (r < 0 && lbd_migration_status(e->io, "vm", &st) == 0)
    fail_msg("cut after step %d: abort by either name fails, and the "
             "source is still %s", k, st.state);
}

/* Commit (or abort, ABORT_IT) cut after each of its durable steps in
 * turn, each cut finished once by each name. */
static void cut_after_every_step(struct image_env *e, bool abort_it)
{
  if (image_env_rados(1) || image_env_rados(2))
    skip(); /* the steps counted are the local store's */
  static struct model m;
  aborting = abort_it;
  lbd_ioctx_t *p2 = prepare_executed(e, &m); /* how many steps it takes */
  lbd_ioctx_destroy(p2);
  step = 0;
  int steps = run_child(e, false);
  assert_true(steps > 0 && steps < 200);
  if (getenv("LBD_TEST_VERBOSE"))
    fprintf(stderr, "%s takes %d durable steps\n",
            abort_it ? "abort" : "commit", steps);
  p2 = image_env_pool(e, "p2");
  for (int trial = 1; trial < 2 * (steps + 1); trial++) {
    int k = trial / 2; /* (trial 1: the whole run above) */
    if (trial > 1) {
      bool by_source = trial % 2;
      lbd_ioctx_destroy(p2);
      p2 = prepare_executed(e, &m);
      lbd_ioctx_destroy(p2);
      step = k;
      int status = run_child(e, by_source);
      p2 = image_env_pool(e, "p2");
      if (status >= 200) /* (0: it died; else it ended, after N steps) */
        fail_msg("cut after step %d of %d: it failed (exit %d)", k, steps,
                 status);
      if (abort_it)
        finish_abort(e, p2, by_source, k);
      else
        finish_commit(e, p2, by_source);
    }
    if (abort_it)
      expect_aborted(e, p2, &m, k);
    else
      expect_done(e, p2, &m, k);
    /* the image left, removed for the next trial */
    lbd_ioctx_t *io = abort_it ? e->io : p2;
    lbd_image_t *img;
    assert_ok(lbd_open(io, "vm", NULL, 0, &img));
    assert_ok(lbd_snap_remove(img, "s0"));
    assert_ok(lbd_close(img));
    assert_ok(lbd_remove(io, "vm"));
  }
  lbd_ioctx_destroy(p2);
  aborting = false;
}

static void test_commit_cut_after_every_step(void **state)
{
  cut_after_every_step(*state, false);
}

/* The same for abort: cut after each durable step (the copy back of the
 * client's write included), then abort again by either name. */
static void test_abort_cut_after_every_step(void **state)
{
  cut_after_every_step(*state, true);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_commit_cut_after_every_step, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_abort_cut_after_every_step, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
