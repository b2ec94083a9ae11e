/* A clone migrated keeps its parent link (rbd's default): execute copies
 * only what the clone has of its own, commit links the target to the
 * clone's parent with overlaps no larger than the clone's, the parent's
 * children list names the target, and every byte of the head and of every
 * snapshot stays as it was, also through a handle opened before the
 * commit.  --flatten makes the target independent; abort gives the clone
 * back; kill -9 anywhere in the commit, then commit again, ends the same. */
#include <errno.h>
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

#include "../objstore/fixture.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define SIZE (12 * MiB + 8 * KiB)
#define OVERLAP (10 * MiB) /* the clone is shrunk to it and grown back */

static int setup(void **state) { return image_env_setup(state, "migclone"); }
static int teardown(void **state) { return image_env_teardown(state); }

static uint64_t rng = 0x2545f4914f6cdd1dULL;
static void fill_random(char *b, uint64_t len)
{
  for (uint64_t i = 0; i < len; i++) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    b[i] = (char)(rng >> 56);
  }
}

/* The clone's bytes: head, its snapshot k1, and t1 (made on the target). */
struct model {
  char head[SIZE], k1[SIZE], t1[SIZE];
};

static void write_model(lbd_image_t *img, char *m, uint64_t off, uint64_t len)
{
  char *b = malloc(len);
  fill_random(b, len);
  assert_int_equal(lbd_write(img, off, len, b), (ssize_t)len);
  memcpy(m + off, b, len);
  free(b);
}

/* Parent "gold" (written all over, so that a byte of it read where the
 * clone hides it shows), snapshot s protected; clone "kid" of gold@s with
 * writes, a discard and zeroes over parent data, snapshot k1, more writes,
 * and a shrink to OVERLAP and back. */
static void make_clone(lbd_ioctx_t *io, struct model *m)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = 2 * MiB};
  lbd_image_t *img;
  if (lbd_open(io, "gold", NULL, 0, &img) < 0) {
    assert_ok(lbd_create(io, "gold", &o));
    assert_ok(lbd_open(io, "gold", NULL, 0, &img));
    write_model(img, m->head, 0, SIZE);
    assert_ok(lbd_snap_create(img, "s"));
    assert_ok(lbd_snap_protect(img, "s"));
  } else {
    assert_int_equal(lbd_read(img, 0, SIZE, m->head), (ssize_t)SIZE);
  }
  assert_ok(lbd_close(img));
  struct lbd_image_options co = {.object_size = MiB};
  assert_ok(lbd_clone(io, "gold", "s", io, "kid", &co));
  assert_ok(lbd_open(io, "kid", NULL, 0, &img));
  write_model(img, m->head, 0, 5000);
  assert_ok(lbd_discard(img, 4 * MiB, MiB));
  memset(m->head + 4 * MiB, 0, MiB);
  assert_ok(lbd_write_zeroes(img, 6 * MiB + 100 * KiB, 50 * KiB));
  memset(m->head + 6 * MiB + 100 * KiB, 0, 50 * KiB);
  assert_ok(lbd_snap_create(img, "k1"));
  memcpy(m->k1, m->head, SIZE);
  write_model(img, m->head, 9 * MiB + 3, 7000);
  assert_ok(lbd_resize(img, OVERLAP));
  assert_ok(lbd_resize(img, SIZE));
  memset(m->head + OVERLAP, 0, SIZE - OVERLAP);
  assert_ok(lbd_close(img));
}

static void expect_handle_bytes(lbd_image_t *img, const char *want)
{
  char *b = malloc(SIZE);
  assert_int_equal(lbd_read(img, 0, SIZE, b), (ssize_t)SIZE);
  for (uint64_t i = 0; i < SIZE; i++)
    if (b[i] != want[i])
      fail_msg("a handle opened before the commit, at %llu: 0x%02x, want "
               "0x%02x", (unsigned long long)i, b[i] & 0xff, want[i] & 0xff);
  free(b);
}

/* The children of gold@s: exactly WANT (NULL: none). */
static void expect_children(lbd_ioctx_t *io, const char *want)
{
  lbd_image_t *img;
  char **kids;
  size_t n;
  assert_ok(lbd_open(io, "gold", "s", LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_list_children(img, NULL, &kids, &n));
  if (!want)
    assert_int_equal(n, 0);
  else {
    assert_int_equal(n, 1);
    assert_string_equal(kids[0], want);
  }
  lbd_names_free(kids, n);
  assert_ok(lbd_close(img));
}

static void expect_parent(lbd_ioctx_t *io, const char *name, uint64_t overlap)
{
  lbd_image_t *img;
  struct lbd_parent_info pi;
  assert_ok(lbd_open(io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  if (!overlap) {
    expect_lbd_error(lbd_get_parent(img, &pi), ENOENT, "parent of a "
                     "flattened target", "no parent");
  } else {
    assert_ok(lbd_get_parent(img, &pi));
    assert_string_equal(pi.pool, "rbd");
    assert_string_equal(pi.image, "gold");
    assert_string_equal(pi.snap, "s");
    assert_int_equal(pi.overlap, overlap);
  }
  assert_ok(lbd_close(img));
}

static int count_data(uint64_t off, uint64_t len, bool exists, void *arg)
{
  (void)off;
  if (exists)
    *(uint64_t *)arg += len;
  return 0;
}

/* Bytes of [OFF, OFF+LEN) that image NAME holds itself. */
static uint64_t own_bytes(lbd_ioctx_t *io, const char *name, uint64_t off,
                          uint64_t len)
{
  lbd_image_t *img;
  uint64_t n = 0;
  assert_ok(lbd_open(io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_diff_iterate(img, NULL, off, len, false, false, count_data,
                             &n));
  assert_ok(lbd_close(img));
  return n;
}

/* Unprotect gold@s: WANT 0 (it works) or the error it must give. */
static void unprotect_gold(lbd_ioctx_t *io, int want, const char *mention)
{
  lbd_image_t *img;
  assert_ok(lbd_open(io, "gold", NULL, 0, &img));
  int r = lbd_snap_unprotect(img, "s");
  if (want)
    expect_lbd_error(r, want, "unprotect of the parent snapshot", mention);
  else
    assert_ok(r);
  assert_ok(lbd_close(img));
}

/* Prepare kid -> p2/kid with another layout, then a client writes a part
 * only the parent held (a copy-up through the source), snapshots t1, and
 * writes past the overlap. */
static lbd_ioctx_t *prepare_and_write(struct image_env *e, struct model *m,
                                      bool flatten)
{
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options o = {.object_size = 512 * KiB};
  assert_ok(lbd_migration_prepare(e->io, "kid", p2, "kid", &o, flatten));
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "kid", NULL, 0, &img));
  write_model(img, m->head, 2 * MiB + 10, 3000);
  assert_ok(lbd_snap_create(img, "t1"));
  memcpy(m->t1, m->head, SIZE);
  write_model(img, m->head, 11 * MiB, 100);
  assert_ok(lbd_close(img));
  return p2;
}

static void expect_model(lbd_ioctx_t *io, const struct model *m, bool t1)
{
  expect_image_bytes(io, "kid", NULL, m->head, SIZE);
  expect_image_bytes(io, "kid", "k1", m->k1, SIZE);
  if (t1)
    expect_image_bytes(io, "kid", "t1", m->t1, SIZE);
}

static void test_clone_keeps_its_parent(void **state)
{
  struct image_env *e = *state;
  static struct model m;
  make_clone(e->io, &m);
  lbd_ioctx_t *p2 = prepare_and_write(e, &m, false);
  expect_model(p2, &m, true);
  expect_lbd_error(lbd_migration_verify(p2, "kid", NULL, NULL), EILSEQ,
                   "verify before execute", "needs its source");
  lbd_image_t *old, *oldw; /* opened before the commit, used after it */
  assert_ok(lbd_open(p2, "kid", NULL, LBD_OPEN_READ_ONLY, &old));
  assert_ok(lbd_open(p2, "kid", NULL, 0, &oldw));
  assert_ok(lbd_migration_execute(p2, "kid", 3, NULL, NULL));
  assert_ok(lbd_migration_verify(p2, "kid", NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "kid", NULL, NULL));
  expect_model(p2, &m, true);
  expect_parent(p2, "kid", OVERLAP);
  expect_children(e->io, "p2/kid");
  unprotect_gold(e->io, EBUSY, "p2/kid");
  /* execute copied what the clone had of its own, not the parent's data;
   * the discarded and zeroed parts still hide the parent */
  assert_int_equal(own_bytes(p2, "kid", 7 * MiB, MiB), 0);
  assert_int_equal(own_bytes(p2, "kid", OVERLAP, SIZE - OVERLAP), 100);
  expect_handle_bytes(old, m.head);
  write_model(oldw, m.head, 7 * MiB + 5, 100); /* copy-up from the parent */
  assert_ok(lbd_close(oldw));
  assert_ok(lbd_close(old));
  expect_model(p2, &m, true);

  /* flatten it now: the parent is free */
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "kid", NULL, 0, &img));
  assert_ok(lbd_flatten(img, NULL, NULL));
  assert_ok(lbd_close(img));
  expect_model(p2, &m, true);
  expect_children(e->io, NULL);
  unprotect_gold(e->io, 0, NULL);
  lbd_ioctx_destroy(p2);
}

static void test_clone_flattened(void **state)
{
  struct image_env *e = *state;
  static struct model m;
  make_clone(e->io, &m);
  lbd_ioctx_t *p2 = prepare_and_write(e, &m, true);
  assert_ok(lbd_migration_execute(p2, "kid", 0, NULL, NULL));
  assert_int_equal(own_bytes(p2, "kid", 7 * MiB, MiB), MiB);
  assert_ok(lbd_migration_commit(p2, "kid", NULL, NULL));
  expect_model(p2, &m, true);
  expect_parent(p2, "kid", 0);
  expect_children(e->io, NULL);
  unprotect_gold(e->io, 0, NULL);
  lbd_ioctx_destroy(p2);
}

static void test_clone_abort(void **state)
{
  struct image_env *e = *state;
  static struct model m;
  make_clone(e->io, &m);
  lbd_ioctx_t *p2 = prepare_and_write(e, &m, false);
  assert_ok(lbd_migration_execute(p2, "kid", 0, NULL, NULL));
  assert_ok(lbd_migration_abort(p2, "kid", NULL, NULL));
  expect_model(e->io, &m, false); /* t1 went with the target */
  expect_parent(e->io, "kid", OVERLAP);
  expect_children(e->io, "rbd/kid");
  lbd_ioctx_destroy(p2);
}

/* The target rolled back to a snapshot taken while the clone owned
 * nothing there: the rollback's copy-up must carry every snapshot's state
 * (it carried the head's alone when it asked only for the source's own
 * objects: after a flatten, the snapshot read zeroes). */
static void test_clone_rollback_then_flatten(void **state)
{
  struct image_env *e = *state;
  static struct model m;
  make_clone(e->io, &m);
  lbd_image_t *img;
  static char gold[SIZE];
  assert_ok(lbd_open(e->io, "gold", "s", LBD_OPEN_READ_ONLY, &img));
  assert_int_equal(lbd_read(img, 0, SIZE, gold), (ssize_t)SIZE);
  assert_ok(lbd_close(img));
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  assert_ok(lbd_migration_prepare(e->io, "kid", p2, "kid",
                                  &(struct lbd_image_options){0}, false));
  assert_ok(lbd_open(p2, "kid", NULL, 0, &img));
  assert_ok(lbd_snap_rollback(img, "k1", NULL, NULL));
  assert_ok(lbd_close(img));
  memcpy(m.head, m.k1, SIZE);
  assert_ok(lbd_migration_execute(p2, "kid", 0, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "kid", NULL, NULL));
  expect_model(p2, &m, false);
  assert_ok(lbd_open(p2, "kid", NULL, 0, &img));
  assert_ok(lbd_flatten(img, NULL, NULL));
  assert_ok(lbd_close(img));
  expect_model(p2, &m, false);
  expect_image_bytes(p2, "kid", "k1", m.k1, SIZE);
  expect_image_bytes(e->io, "gold", "s", gold, SIZE);
  lbd_ioctx_destroy(p2);
}

/* A chain: gold@s -> kid, kid@k1 -> gk.  The middle clone migrates (gk
 * follows it, and it keeps gold), then gk does (it keeps p2/kid@k1). */
static void test_clone_chain(void **state)
{
  struct image_env *e = *state;
  static struct model m;
  static char gk[SIZE];
  make_clone(e->io, &m);
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "kid", NULL, 0, &img));
  assert_ok(lbd_snap_protect(img, "k1"));
  assert_ok(lbd_close(img));
  assert_ok(lbd_clone(e->io, "kid", "k1", e->io, "gk",
                      &(struct lbd_image_options){.object_size = 4 * MiB}));
  memcpy(gk, m.k1, SIZE);
  assert_ok(lbd_open(e->io, "gk", NULL, 0, &img));
  write_model(img, gk, 3 * MiB, 10000);
  assert_ok(lbd_close(img));
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  assert_ok(lbd_migration_prepare(e->io, "kid", p2, "kid",
                                  &(struct lbd_image_options){0}, false));
  expect_image_bytes(e->io, "gk", NULL, gk, SIZE);
  assert_ok(lbd_migration_execute(p2, "kid", 0, NULL, NULL));
  assert_ok(lbd_migration_commit_flags(p2, "kid", LBD_MIGRATION_FORCE, NULL,
                                       NULL));
  expect_model(p2, &m, false);
  expect_parent(p2, "kid", OVERLAP);
  expect_image_bytes(e->io, "gk", NULL, gk, SIZE);
  /* now the grandchild: it keeps p2/kid@k1 */
  assert_ok(lbd_migration_prepare(e->io, "gk", p2, "gk",
                                  &(struct lbd_image_options){
                                      .object_size = 256 * KiB},
                                  false));
  assert_ok(lbd_migration_execute(p2, "gk", 0, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "gk", NULL, NULL));
  expect_image_bytes(p2, "gk", NULL, gk, SIZE);
  struct lbd_parent_info pi;
  assert_ok(lbd_open(p2, "gk", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_get_parent(img, &pi));
  assert_string_equal(pi.pool, "p2");
  assert_string_equal(pi.image, "kid");
  assert_string_equal(pi.snap, "k1");
  assert_ok(lbd_close(img));
  char **kids;
  size_t n;
  assert_ok(lbd_open(p2, "kid", "k1", LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_list_children(img, NULL, &kids, &n));
  assert_int_equal(n, 1);
  assert_string_equal(kids[0], "p2/gk");
  lbd_names_free(kids, n);
  assert_ok(lbd_close(img));
  lbd_ioctx_destroy(p2);
}

/* kill -9 at a random moment of the commit; commit again (by either
 * name), and all is as after a commit never cut. */
static void commit_child(const char *dir, bool by_source)
{
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
  if (lbd_cluster_open(dir, false, &c) < 0 ||
      lbd_ioctx_create(c, by_source ? "rbd" : "p2", NULL, &io) < 0)
    _exit(2);
  _exit(lbd_migration_commit(io, "kid", NULL, NULL) < 0 ? 1 : 0);
}

static void test_clone_commit_killed(void **state)
{
  struct image_env *e = *state;
  int trials = image_env_int("LBD_KILL_TRIALS", 12);
  if (trials > 30)
    trials = 30;
  int max_ms = image_env_int("LBD_KILL_MAX_MS", 40);
  srand((unsigned)time(NULL));
  for (int t = 0; t < trials; t++) {
    static struct model m;
    make_clone(e->io, &m);
    lbd_ioctx_t *p2 = prepare_and_write(e, &m, false);
    assert_ok(lbd_migration_execute(p2, "kid", 0, NULL, NULL));
    lbd_ioctx_destroy(p2);
    image_env_kill_child(e, commit_child, t % 2, max_ms);
    p2 = image_env_pool(e, "p2");
    int r = lbd_migration_commit(t % 2 ? e->io : p2, "kid", NULL, NULL);
    if (r < 0 && t % 2) /* it had ended: the source's name is gone */
      expect_lbd_error(r, ENOENT, "commit by the source after a finished "
                       "commit", "does not exist");
    else if (r < 0) /* it had ended: nothing is migrating any more */
      expect_lbd_error(r, EINVAL, "commit after a finished commit",
                       "not being migrated");
    expect_model(p2, &m, true);
    expect_parent(p2, "kid", OVERLAP);
    expect_children(e->io, "p2/kid");
    lbd_image_t *img;
    expect_lbd_error(lbd_open(e->io, "kid", NULL, LBD_OPEN_READ_ONLY, &img),
                     ENOENT, "the source after the commit", "kid");
    /* clean up for the next trial */
    assert_ok(lbd_open(p2, "kid", NULL, 0, &img));
    assert_ok(lbd_snap_remove(img, "k1"));
    assert_ok(lbd_snap_remove(img, "t1"));
    assert_ok(lbd_close(img));
    assert_ok(lbd_remove(p2, "kid"));
    expect_children(e->io, NULL);
    lbd_ioctx_destroy(p2);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_clone_keeps_its_parent, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_clone_flattened, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clone_abort, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clone_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_clone_rollback_then_flatten, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_clone_commit_killed, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
