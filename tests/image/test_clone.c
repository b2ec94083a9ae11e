/* Clones: a clone reads its parent's snapshot where it has no data of its
 * own, copies objects up on write, keeps its own snapshots, shrinks its
 * overlap for good, survives racing copy-ups, and flattens; every read is
 * checked against an in-memory model of the bytes. */
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

#include "../objstore/fixture.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define PSIZE (8 * MiB)

static int setup(void **state) { return image_env_setup(state, "clone"); }
static int teardown(void **state) { return image_env_teardown(state); }

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void fill_random(char *b, uint64_t len)
{
  for (uint64_t i = 0; i < len; i++)
    b[i] = (char)(rnd() >> 56);
}

/* Image NAME (at SNAP) reads exactly MODEL[0, SIZE). */
static void expect_image(lbd_ioctx_t *io, const char *name, const char *snap,
                         const char *model, uint64_t size)
{
  lbd_image_t *img;
  assert_ok(lbd_open(io, name, snap, LBD_OPEN_READ_ONLY, &img));
  uint64_t got;
  assert_ok(lbd_get_size(img, &got));
  assert_int_equal(got, size);
  char *b = malloc(size);
  assert_int_equal(lbd_read(img, 0, size, b), (ssize_t)size);
  for (uint64_t i = 0; i < size; i++)
    if (b[i] != model[i])
      fail_msg("%s@%s at %llu: 0x%02x, want 0x%02x", name, snap ? snap : "-",
               (unsigned long long)i, b[i] & 0xff, model[i] & 0xff);
  free(b);
  assert_ok(lbd_close(img));
}

/* Parent "p" of PSIZE random bytes with protected snapshot "s"; the bytes
 * are returned (malloc'd).  Its head then changes, which no clone sees. */
static char *make_parent(struct image_env *e, const struct lbd_image_options *o)
{
  lbd_image_t *img;
  char *data = malloc(PSIZE);
  fill_random(data, PSIZE);
  memset(data + 2 * MiB, 0, MiB); /* a hole the clone must keep sparse */
  assert_ok(lbd_create(e->io, "p", o));
  assert_ok(lbd_open(e->io, "p", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, 2 * MiB, data), (ssize_t)(2 * MiB));
  assert_int_equal(lbd_write(img, 3 * MiB, PSIZE - 3 * MiB, data + 3 * MiB),
                   (ssize_t)(PSIZE - 3 * MiB));
  assert_ok(lbd_snap_create(img, "s"));
  assert_ok(lbd_snap_protect(img, "s"));
  char junk[4096];
  memset(junk, 'J', sizeof junk);
  assert_int_equal(lbd_write(img, 0, sizeof junk, junk), 4096);
  assert_ok(lbd_close(img));
  return data;
}

static void test_reads_parent_writes_copy_up(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = 1 * MiB};
  char *model = make_parent(e, &po);
  char *orig = malloc(PSIZE);
  memcpy(orig, model, PSIZE);
  struct lbd_image_options co = {0};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
  expect_image(e->io, "c", NULL, model, PSIZE);

  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  struct lbd_parent_info pi;
  assert_ok(lbd_get_parent(c, &pi));
  assert_string_equal(pi.image, "p");
  assert_string_equal(pi.snap, "s");
  assert_int_equal(pi.overlap, PSIZE);
  /* A partial write keeps the rest of the parent's object. */
  char w[100];
  memset(w, 'w', sizeof w);
  assert_int_equal(lbd_write(c, MiB + 5000, sizeof w, w), (ssize_t)sizeof w);
  memcpy(model + MiB + 5000, w, sizeof w);
  /* A partial discard reads zeroes there, not the parent. */
  assert_ok(lbd_discard(c, 4 * MiB + 8192, 8192));
  memset(model + 4 * MiB + 8192, 0, 8192);
  /* A whole-object discard too, and a tail one. */
  assert_ok(lbd_discard(c, 5 * MiB, MiB));
  memset(model + 5 * MiB, 0, MiB);
  assert_ok(lbd_discard(c, 6 * MiB + 512 * KiB, 512 * KiB));
  memset(model + 6 * MiB + 512 * KiB, 0, 512 * KiB);
  assert_ok(lbd_close(c));
  expect_image(e->io, "c", NULL, model, PSIZE);

  /* The parent's snapshot never changed. */
  expect_image(e->io, "p", "s", orig, PSIZE);
  free(orig);
  free(model);
}

static void test_errors_leave_things_alone(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options o = {.size = MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "q", &o));
  assert_ok(lbd_open(e->io, "q", NULL, 0, &img));
  assert_ok(lbd_snap_create(img, "s"));
  expect_lbd_error(lbd_clone(e->io, "q", "s", e->io, "c", &o), EINVAL,
                   "clone of an unprotected snapshot", "protect");
  expect_lbd_error(lbd_clone(e->io, "q", "nope", e->io, "c", &o), ENOENT,
                   "clone of a missing snapshot", "nope");
  assert_ok(lbd_snap_protect(img, "s"));
  assert_ok(lbd_clone(e->io, "q", "s", e->io, "c", &o));
  expect_lbd_error(lbd_clone(e->io, "q", "s", e->io, "c", &o), EEXIST,
                   "clone over an existing image", "c");
  expect_lbd_error(lbd_snap_unprotect(img, "s"), EBUSY,
                   "unprotect with a clone", "rbd/c");
  expect_lbd_error(lbd_flatten(img, NULL, NULL), EINVAL, "flatten of a "
                   "non-clone", "not a clone");
  char **kids;
  size_t n;
  assert_ok(lbd_list_children(img, "s", &kids, &n));
  assert_int_equal(n, 1);
  assert_string_equal(kids[0], "rbd/c");
  lbd_names_free(kids, n);
  /* Removing the clone frees the snapshot. */
  assert_ok(lbd_remove(e->io, "c"));
  assert_ok(lbd_list_children(img, "s", &kids, &n));
  assert_int_equal(n, 0);
  lbd_names_free(kids, n);
  assert_ok(lbd_snap_unprotect(img, "s"));
  assert_ok(lbd_close(img));
}

/* Random writes, discards, resizes and snapshots on a clone whose layout
 * differs from its parent's; every state is checked, then flatten. */
static void run_model(struct image_env *e, const struct lbd_image_options *po,
                      const struct lbd_image_options *co, int steps)
{
  char *model = make_parent(e, po);
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", co));
  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  uint64_t size = PSIZE, cap = 2 * PSIZE;
  model = realloc(model, cap);
  memset(model + PSIZE, 0, cap - PSIZE);
  char *snaps[8] = {0};
  uint64_t snap_size[8];
  int nsnaps = 0;
  char *buf = malloc(cap);
  for (int step = 0; step < steps; step++) {
    uint64_t off = rnd() % size, len = 1 + rnd() % (size - off);
    if (len > 3 * MiB)
      len = 1 + rnd() % (3 * MiB);
    if (off + len > size)
      len = size - off;
    switch (rnd() % 8) {
    case 0: case 1: case 2:
      fill_random(buf, len);
      assert_int_equal(lbd_write(c, off, len, buf), (ssize_t)len);
      memcpy(model + off, buf, len);
      break;
    case 3:
      assert_ok(lbd_discard(c, off, len));
      memset(model + off, 0, len);
      break;
    case 4: { /* resize: shrinking drops the overlap for good */
      uint64_t ns = MiB + rnd() % (cap - MiB);
      assert_ok(lbd_resize(c, ns));
      if (ns < size)
        memset(model + ns, 0, cap - ns);
      size = ns;
      break;
    }
    case 5:
      if (nsnaps < 8) {
        char name[8];
        snprintf(name, sizeof name, "c%d", nsnaps);
        assert_ok(lbd_snap_create(c, name));
        snaps[nsnaps] = malloc(size);
        memcpy(snaps[nsnaps], model, size);
        snap_size[nsnaps++] = size;
      }
      break;
    default:
      expect_image(e->io, "c", NULL, model, size);
    }
  }
  assert_ok(lbd_flatten(c, NULL, NULL));
  struct lbd_parent_info pi;
  expect_lbd_error(lbd_get_parent(c, &pi), ENOENT, "parent after flatten",
                   NULL);
  assert_ok(lbd_close(c));
  /* The parent snapshot is free: remove it and the parent entirely. */
  lbd_image_t *p;
  assert_ok(lbd_open(e->io, "p", NULL, 0, &p));
  assert_ok(lbd_snap_unprotect(p, "s"));
  assert_ok(lbd_snap_remove(p, "s"));
  assert_ok(lbd_close(p));
  assert_ok(lbd_remove(e->io, "p"));
  expect_image(e->io, "c", NULL, model, size);
  for (int i = 0; i < nsnaps; i++) {
    char name[8];
    snprintf(name, sizeof name, "c%d", i);
    expect_image(e->io, "c", name, snaps[i], snap_size[i]);
    free(snaps[i]);
  }
  free(buf);
  free(model);
}

static void test_model_same_layout(void **state)
{
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  struct lbd_image_options co = {.object_size = MiB};
  run_model(*state, &po, &co, 60);
}

static void test_model_striped_child(void **state)
{
  struct lbd_image_options po = {.size = PSIZE, .object_size = 2 * MiB};
  struct lbd_image_options co = {.object_size = 512 * KiB,
                                 .stripe_unit = 64 * KiB, .stripe_count = 3};
  run_model(*state, &po, &co, 60);
}

static void test_model_object_map_off(void **state)
{
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB,
                                 .stripe_unit = 128 * KiB, .stripe_count = 2};
  struct lbd_image_options co = {.object_size = MiB,
                                 .features = LBD_FEATURE_LAYERING |
                                             LBD_FEATURE_DEEP_FLATTEN};
  run_model(*state, &po, &co, 60);
}

/* A clone of a clone reads through both; flattening the middle one keeps
 * the grandchild's bytes. */
static void test_chain(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  char *model = make_parent(e, &po);
  struct lbd_image_options co = {0};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c1", &co));
  lbd_image_t *c1;
  assert_ok(lbd_open(e->io, "c1", NULL, 0, &c1));
  char w[3000];
  memset(w, '1', sizeof w);
  assert_int_equal(lbd_write(c1, 100, sizeof w, w), (ssize_t)sizeof w);
  memcpy(model + 100, w, sizeof w);
  assert_ok(lbd_snap_create(c1, "t"));
  assert_ok(lbd_snap_protect(c1, "t"));
  assert_int_equal(lbd_write(c1, 7 * MiB, sizeof w, w), (ssize_t)sizeof w);
  assert_ok(lbd_clone(e->io, "c1", "t", e->io, "c2", &co));
  expect_image(e->io, "c2", NULL, model, PSIZE);
  assert_ok(lbd_flatten(c1, NULL, NULL));
  assert_ok(lbd_close(c1));
  expect_image(e->io, "c2", NULL, model, PSIZE);
  expect_image(e->io, "c1", "t", model, PSIZE);
  free(model);
}

/* Two handles (no exclusive lock) copy up the same objects at once, each
 * writing its own blocks: every write and every other parent byte stays. */
struct racer {
  lbd_ioctx_t *io;
  int which;
};

static void *race_writer(void *arg)
{
  struct racer *r = arg;
  lbd_image_t *img;
  if (lbd_open(r->io, "c", NULL, 0, &img) < 0)
    return (void *)1;
  char b[4096];
  memset(b, 'a' + r->which, sizeof b);
  for (uint64_t obj = 0; obj < PSIZE / MiB; obj++)
    if (lbd_write(img, obj * MiB + (uint64_t)r->which * 8192, sizeof b, b) !=
        sizeof b)
      return (void *)1;
  return lbd_close(img) < 0 ? (void *)1 : NULL;
}

/* 8 threads in each of 2 processes: block WHICH of every 16 in each
 * object is that thread's. */
#define RACERS 16

static void race_threads(lbd_ioctx_t *io, int first)
{
  struct racer r[RACERS / 2];
  pthread_t t[RACERS / 2];
  for (int i = 0; i < RACERS / 2; i++) {
    r[i] = (struct racer){io, first + i};
    assert_int_equal(pthread_create(&t[i], NULL, race_writer, &r[i]), 0);
  }
  for (int i = 0; i < RACERS / 2; i++) {
    void *ret;
    pthread_join(t[i], &ret);
    assert_null(ret);
  }
}

static void test_racing_copy_ups(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  char *model = make_parent(e, &po);
  struct lbd_image_options co = {.features = LBD_FEATURE_LAYERING};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
  for (int round = 0; round < 3; round++) {
    /* the other process opens the cluster itself */
    lbd_ioctx_destroy(e->io);
    lbd_cluster_close(e->c);
    pid_t pid = fork();
    if (pid == 0) {
      lbd_cluster_t *c;
      lbd_ioctx_t *io;
      if (lbd_cluster_open(e->dir, false, &c) < 0 ||
          lbd_ioctx_create(c, "rbd", NULL, &io) < 0)
        _exit(2);
      race_threads(io, RACERS / 2);
      _exit(0);
    }
    assert_ok(lbd_cluster_open(e->dir, false, &e->c));
    assert_ok(lbd_ioctx_create(e->c, "rbd", NULL, &e->io));
    race_threads(e->io, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (uint64_t obj = 0; obj < PSIZE / MiB; obj++)
      for (uint64_t blk = 0; blk < RACERS; blk++)
        memset(model + obj * MiB + blk * 8192, 'a' + (int)blk, 4096);
    expect_image(e->io, "c", NULL, model, PSIZE);
    /* again on fresh objects */
    assert_ok(lbd_remove(e->io, "c"));
    assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
    free(model);
    lbd_image_t *p;
    assert_ok(lbd_open(e->io, "p", "s", LBD_OPEN_READ_ONLY, &p));
    model = malloc(PSIZE);
    assert_int_equal(lbd_read(p, 0, PSIZE, model), (ssize_t)PSIZE);
    assert_ok(lbd_close(p));
  }
  free(model);
}

/* Rolling a clone back to its snapshot: objects copied up after it read the
 * parent again. */
static void test_rollback(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  char *model = make_parent(e, &po);
  struct lbd_image_options co = {0};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  char w[5000];
  memset(w, 'x', sizeof w);
  assert_int_equal(lbd_write(c, 10, sizeof w, w), (ssize_t)sizeof w);
  memcpy(model + 10, w, sizeof w);
  assert_ok(lbd_snap_create(c, "r"));
  memset(w, 'y', sizeof w);
  assert_int_equal(lbd_write(c, 10, sizeof w, w), (ssize_t)sizeof w);
  assert_int_equal(lbd_write(c, 3 * MiB, sizeof w, w), (ssize_t)sizeof w);
  assert_ok(lbd_discard(c, 5 * MiB, MiB));
  assert_ok(lbd_snap_rollback(c, "r", NULL, NULL));
  assert_ok(lbd_close(c));
  expect_image(e->io, "c", NULL, model, PSIZE);
  expect_image(e->io, "c", "r", model, PSIZE);
  free(model);
}

/* A snapshot taken before a shrink keeps reading the parent past the new
 * overlap, after flatten and without the parent too (deep-flatten). */
static void test_snapshot_overlaps(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = MiB};
  char *model = make_parent(e, &po);
  struct lbd_image_options co = {0};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  assert_ok(lbd_snap_create(c, "full"));
  expect_image(e->io, "c", "full", model, PSIZE);
  assert_ok(lbd_resize(c, 2 * MiB + 100));
  expect_image(e->io, "c", "full", model, PSIZE);
  assert_ok(lbd_resize(c, PSIZE));
  assert_ok(lbd_snap_create(c, "short"));
  char *shrunk = calloc(1, PSIZE);
  memcpy(shrunk, model, 2 * MiB + 100);
  expect_image(e->io, "c", "full", model, PSIZE);
  expect_image(e->io, "c", "short", shrunk, PSIZE);
  expect_image(e->io, "c", NULL, shrunk, PSIZE);
  assert_ok(lbd_flatten(c, NULL, NULL));
  assert_ok(lbd_close(c));
  lbd_image_t *p;
  assert_ok(lbd_open(e->io, "p", NULL, 0, &p));
  assert_ok(lbd_snap_unprotect(p, "s"));
  assert_ok(lbd_snap_remove(p, "s"));
  assert_ok(lbd_close(p));
  assert_ok(lbd_remove(e->io, "p"));
  expect_image(e->io, "c", "full", model, PSIZE);
  expect_image(e->io, "c", "short", shrunk, PSIZE);
  expect_image(e->io, "c", NULL, shrunk, PSIZE);
  free(shrunk);
  free(model);
}

static int slow_progress(uint64_t done, uint64_t total, void *arg)
{
  (void)done, (void)total, (void)arg;
  usleep(3000);
  return 0;
}

/* kill -9 during flatten and during rollback, then again: same bytes. */
static void test_kill9_flatten_and_rollback(void **state)
{
  struct image_env *e = *state;
  struct lbd_image_options po = {.size = PSIZE, .object_size = 64 * KiB};
  char *model = make_parent(e, &po);
  struct lbd_image_options co = {0};
  assert_ok(lbd_clone(e->io, "p", "s", e->io, "c", &co));
  lbd_image_t *c;
  assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
  assert_ok(lbd_snap_create(c, "r"));
  char *w = malloc(PSIZE);
  memset(w, 'w', PSIZE);
  assert_int_equal(lbd_write(c, 0, PSIZE, w), (ssize_t)PSIZE);
  assert_ok(lbd_close(c));
  for (int step = 0; step < 2; step++) { /* 0: rollback, 1: flatten */
    lbd_ioctx_destroy(e->io);
    lbd_cluster_close(e->c);
    pid_t pid = fork();
    if (pid == 0) {
      lbd_cluster_t *cl;
      lbd_ioctx_t *io;
      lbd_image_t *img;
      if (lbd_cluster_open(e->dir, false, &cl) < 0 ||
          lbd_ioctx_create(cl, "rbd", NULL, &io) < 0 ||
          lbd_open(io, "c", NULL, 0, &img) < 0)
        _exit(2);
      if (step == 0)
        lbd_snap_rollback(img, "r", slow_progress, NULL);
      else
        lbd_flatten(img, slow_progress, NULL);
      _exit(0);
    }
    usleep(60000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_ok(lbd_cluster_open(e->dir, false, &e->c));
    assert_ok(lbd_ioctx_create(e->c, "rbd", NULL, &e->io));
    assert_ok(lbd_open(e->io, "c", NULL, 0, &c));
    if (step == 0)
      assert_ok(lbd_snap_rollback(c, "r", NULL, NULL));
    else
      assert_ok(lbd_flatten(c, NULL, NULL));
    assert_ok(lbd_close(c));
    expect_image(e->io, "c", NULL, model, PSIZE);
    expect_image(e->io, "c", "r", model, PSIZE);
  }
  free(w);
  free(model);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_reads_parent_writes_copy_up, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_errors_leave_things_alone, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_model_same_layout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_model_striped_child, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_model_object_map_off, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_racing_copy_ups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_overlaps, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_kill9_flatten_and_rollback, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
