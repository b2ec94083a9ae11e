/* Live migration through the library: the target reads the source's bytes
 * at its head and every snapshot from the moment prepare returns; a client
 * writing during execute loses nothing; abort gives every write back to the
 * source; refusals change nothing; and kill -9 anywhere in prepare,
 * execute, commit or abort leaves a state that running the step again (or
 * abort) finishes, with every byte checked against a model. */
#include <errno.h>
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

#include "../objstore/fixture.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define SIZE (12 * MiB + 8 * KiB) /* not a multiple of any object size */
#define NSNAPS 2

static int setup(void **state) { return image_env_setup(state, "migration"); }
static int teardown(void **state) { return image_env_teardown(state); }

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void fill_random(char *b, uint64_t len)
{
  for (uint64_t i = 0; i < len; i++)
    b[i] = (char)(rnd() >> 56);
}

/* What the image holds: its head and each snapshot. */
struct model {
  char *snap[NSNAPS + 2];
  uint64_t snap_size[NSNAPS + 2];
  int nsnaps;
  char *head;
  uint64_t size;
};

static void model_free(struct model *m)
{
  for (int i = 0; i < m->nsnaps; i++)
    free(m->snap[i]);
  free(m->head);
  memset(m, 0, sizeof *m);
}

static void write_model(lbd_image_t *img, struct model *m, uint64_t off,
                        uint64_t len)
{
  char *b = malloc(len);
  fill_random(b, len);
  assert_int_equal(lbd_write(img, off, len, b), (ssize_t)len);
  memcpy(m->head + off, b, len);
  free(b);
}

static void snap_model(lbd_image_t *img, struct model *m, const char *name)
{
  assert_ok(lbd_snap_create(img, name));
  m->snap[m->nsnaps] = malloc(m->size);
  memcpy(m->snap[m->nsnaps], m->head, m->size);
  m->snap_size[m->nsnaps++] = m->size;
}

/* Source "vm": data, a hole, two snapshots with writes between. */
static void make_source(lbd_ioctx_t *io, struct model *m)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = 2 * MiB};
  lbd_image_t *img;
  memset(m, 0, sizeof *m);
  m->size = SIZE;
  m->head = calloc(1, 2 * SIZE);
  assert_ok(lbd_create(io, "vm", &o));
  assert_ok(lbd_open(io, "vm", NULL, 0, &img));
  write_model(img, m, 0, 3 * MiB);
  write_model(img, m, 7 * MiB, SIZE - 7 * MiB);
  snap_model(img, m, "s0");
  write_model(img, m, MiB, 100 * KiB);
  assert_ok(lbd_discard(img, 8 * MiB, 2 * MiB));
  memset(m->head + 8 * MiB, 0, 2 * MiB);
  snap_model(img, m, "s1");
  write_model(img, m, 11 * MiB, 5000);
  assert_ok(lbd_metadata_set(img, "owner", "ops"));
  assert_ok(lbd_close(img));
}

static void expect_model(lbd_ioctx_t *io, const char *name,
                         const struct model *m)
{
  expect_image_bytes(io, name, NULL, m->head, m->size);
  for (int i = 0; i < m->nsnaps; i++) {
    char s[8];
    snprintf(s, sizeof s, "s%d", i);
    expect_image_bytes(io, name, s, m->snap[i], m->snap_size[i]);
  }
}

static const struct lbd_image_options striped = {
    .object_size = MiB, .stripe_unit = 64 * KiB, .stripe_count = 3};

static void test_prepare_reads_source_at_once(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &striped, false));
  expect_model(p2, "vm", &m);
  /* the source: out of the directory, in the trash, read-only */
  lbd_image_t *img;
  expect_lbd_error(lbd_open(e->io, "vm", NULL, 0, &img), ENOENT,
                   "open of the source by name", "vm");
  struct lbd_migration_status st;
  assert_ok(lbd_migration_status(e->io, "vm", &st));
  assert_string_equal(st.state, "prepared");
  assert_string_equal(st.dest_pool, "p2");
  assert_ok(lbd_migration_status(p2, "vm", &st));
  assert_string_equal(st.source_pool, "rbd");
  /* metadata came along */
  char *v;
  assert_ok(lbd_open(p2, "vm", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_metadata_get(img, "owner", &v));
  assert_string_equal(v, "ops");
  free(v);
  struct lbd_image_info info;
  assert_ok(lbd_stat(img, &info));
  assert_int_equal(info.object_size, MiB);
  assert_int_equal(info.stripe_unit, 64 * KiB);
  assert_ok(lbd_close(img));
  expect_lbd_error(lbd_migration_verify(p2, "vm", NULL, NULL), EILSEQ,
                   "verify before execute", "needs its source");
  assert_ok(lbd_migration_execute(p2, "vm", 0, NULL, NULL));
  assert_ok(lbd_migration_verify(e->io, "vm", NULL, NULL));
  expect_model(p2, "vm", &m);
  assert_ok(lbd_migration_commit(e->io, "vm", NULL, NULL)); /* by source */
  expect_model(p2, "vm", &m);
  expect_lbd_error(lbd_migration_status(p2, "vm", &st), EINVAL,
                   "status after commit", "not being migrated");
  struct lbd_trash_info *t;
  size_t n;
  assert_ok(lbd_trash_list(e->io, true, &t, &n));
  assert_int_equal(n, 0);
  lbd_trash_list_free(t, n);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* A client writes (and snapshots) the target while execute runs. */
struct writer {
  lbd_ioctx_t *io;
  struct model *m;
  volatile int stop;
  int err;
  char msg[512]; /* lbd_last_error() of the failed call */
};

static void *writer_main(void *arg)
{
  struct writer *w = arg;
  lbd_image_t *img;
  if (lbd_open(w->io, "vm", NULL, 0, &img) < 0) {
    w->err = 1;
    return NULL;
  }
  for (int i = 0; !w->stop || i < 40; i++) {
    uint64_t off = rnd() % w->m->size;
    uint64_t len = 1 + rnd() % (300 * KiB);
    if (off + len > w->m->size)
      len = w->m->size - off;
    if (i % 5 == 4) {
      if (lbd_discard(img, off, len) < 0)
        w->err = 2, snprintf(w->msg, sizeof w->msg, "%s", lbd_last_error());
      memset(w->m->head + off, 0, len);
    } else {
      char *b = malloc(len);
      fill_random(b, len);
      if (lbd_write(img, off, len, b) != (ssize_t)len)
        w->err = 3, snprintf(w->msg, sizeof w->msg, "%s", lbd_last_error());
      memcpy(w->m->head + off, b, len);
      free(b);
    }
    if (i == 20) {
      char name[8];
      snprintf(name, sizeof name, "s%d", w->m->nsnaps);
      if (lbd_snap_create(img, name) < 0)
        w->err = 4, snprintf(w->msg, sizeof w->msg, "%s", lbd_last_error());
      w->m->snap[w->m->nsnaps] = malloc(w->m->size);
      memcpy(w->m->snap[w->m->nsnaps], w->m->head, w->m->size);
      w->m->snap_size[w->m->nsnaps++] = w->m->size;
    }
    if (w->err)
      break;
  }
  if (lbd_close(img) < 0)
    w->err = 5, snprintf(w->msg, sizeof w->msg, "%s", lbd_last_error());
  return NULL;
}

static void test_execute_with_a_writer(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &striped, false));
  struct writer w = {.io = p2, .m = &m};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
  assert_ok(lbd_migration_execute(p2, "vm", 4, NULL, NULL));
  w.stop = 1;
  pthread_join(t, NULL);
  if (w.err)
    fail_msg("the writer failed (%d): %s", w.err, w.msg);
  assert_ok(lbd_migration_verify(p2, "vm", NULL, NULL)); /* writes are its own */
  expect_model(p2, "vm", &m);
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_model(p2, "vm", &m);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

static void test_abort_gives_writes_back(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options big = {.object_size = 4 * MiB};
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "moved", &big, false));
  lbd_image_t *img;
  assert_ok(lbd_open(p2, "moved", NULL, 0, &img));
  write_model(img, &m, 5 * MiB, 3 * MiB);
  assert_ok(lbd_discard(img, 0, 64 * KiB));
  memset(m.head, 0, 64 * KiB);
  assert_ok(lbd_resize(img, SIZE + 2 * MiB)); /* and a write past the end */
  m.size = SIZE + 2 * MiB;
  write_model(img, &m, SIZE + MiB, 4096);
  assert_ok(lbd_snap_create(img, "later")); /* goes with the target */
  assert_ok(lbd_close(img));
  assert_ok(lbd_migration_execute(p2, "moved", 0, NULL, NULL));
  assert_ok(lbd_migration_abort(p2, "moved", NULL, NULL));
  expect_model(e->io, "vm", &m);
  expect_lbd_error(lbd_open(p2, "moved", NULL, 0, &img), ENOENT,
                   "open of the aborted target", NULL);
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img)); /* read-write again */
  write_model(img, &m, 0, 10);
  assert_ok(lbd_close(img));
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

static void test_refusals_change_nothing(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  struct lbd_image_options o = {0};
  lbd_image_t *img, *other;
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  expect_lbd_error(lbd_migration_prepare(e->io, "vm", p2, "vm", &o, false),
                   EBUSY, "prepare of an open source", "watchers");
  assert_ok(lbd_close(img));
  assert_ok(lbd_create(p2, "taken", &(struct lbd_image_options){.size = MiB}));
  expect_lbd_error(lbd_migration_prepare(e->io, "vm", p2, "taken", &o, false),
                   EEXIST, "prepare over an existing image", "taken");
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  assert_ok(lbd_lock_exclusive(img, "maint"));
  assert_ok(lbd_close(img));
  expect_lbd_error(lbd_migration_prepare(e->io, "vm", p2, "vm", &o, false),
                   EBUSY, "prepare of a locked source", "lock");
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  assert_ok(lbd_break_lock(img, lbd_client_name(img), "maint"));
  assert_ok(lbd_close(img));
  expect_lbd_error(lbd_migration_execute(e->io, "vm", 0, NULL, NULL), EINVAL,
                   "execute without prepare", "not being migrated");
  expect_model(e->io, "vm", &m);
  assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &o, false));
  expect_lbd_error(lbd_migration_prepare(e->io, "vm", p2, "vm2", &o, false),
                   EBUSY, "second prepare", "already");
  expect_lbd_error(lbd_migration_commit(p2, "vm", NULL, NULL), EINVAL,
                   "commit before execute", "executed");
  assert_ok(lbd_open(p2, "vm", NULL, LBD_OPEN_READ_ONLY, &other));
  expect_lbd_error(lbd_migration_abort(p2, "vm", NULL, NULL), EBUSY,
                   "abort while the target is open", "open");
  assert_ok(lbd_close(other));
  expect_model(p2, "vm", &m);
  assert_ok(lbd_migration_execute(p2, "vm", 0, NULL, NULL));
  assert_ok(lbd_migration_commit(p2, "vm", NULL, NULL));
  expect_lbd_error(lbd_migration_abort(p2, "vm", NULL, NULL), EINVAL,
                   "abort after commit", "not being migrated");
  expect_model(p2, "vm", &m);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* The source is the parent of a clone: the clone follows it to the target
 * (and back at abort), reading the same bytes throughout. */
static void test_parent_of_clones(void **state)
{
  struct image_env *e = *state;
  struct model m;
  make_source(e->io, &m);
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
  assert_ok(lbd_snap_protect(img, "s1"));
  assert_ok(lbd_close(img));
  struct lbd_image_options co = {.object_size = MiB};
  assert_ok(lbd_clone(e->io, "vm", "s1", e->io, "kid", &co));
  char *kid = malloc(SIZE);
  memcpy(kid, m.snap[1], SIZE);
  assert_ok(lbd_open(e->io, "kid", NULL, 0, &img));
  write_model(img, &(struct model){.head = kid, .size = SIZE}, 0, 5000);
  assert_ok(lbd_close(img));
  lbd_ioctx_t *p2 = image_env_pool(e, "p2");
  for (int round = 0; round < 2; round++) { /* abort, then commit */
    assert_ok(lbd_migration_prepare(e->io, "vm", p2, "vm", &striped, false));
    expect_image_bytes(e->io, "kid", NULL, kid, SIZE);
    struct lbd_parent_info pi;
    assert_ok(lbd_open(e->io, "kid", NULL, LBD_OPEN_READ_ONLY, &img));
    assert_ok(lbd_get_parent(img, &pi));
    assert_ok(lbd_close(img));
    assert_string_equal(pi.pool, "p2");
    assert_string_equal(pi.snap, "s1");
    assert_ok(lbd_migration_execute(p2, "vm", 0, NULL, NULL));
    expect_image_bytes(e->io, "kid", NULL, kid, SIZE);
    if (round == 0) {
      assert_ok(lbd_migration_abort(p2, "vm", NULL, NULL));
      assert_ok(lbd_open(e->io, "kid", NULL, LBD_OPEN_READ_ONLY, &img));
      assert_ok(lbd_get_parent(img, &pi));
      assert_ok(lbd_close(img));
      assert_string_equal(pi.pool, "rbd");
      expect_image_bytes(e->io, "kid", NULL, kid, SIZE);
      continue;
    }
    expect_lbd_error(lbd_migration_commit(p2, "vm", NULL, NULL), EBUSY,
                     "commit of a parent without force", "rbd/kid");
    assert_ok(lbd_migration_commit_flags(p2, "vm", LBD_MIGRATION_FORCE, NULL,
                                         NULL));
  }
  expect_image_bytes(e->io, "kid", NULL, kid, SIZE);
  assert_ok(lbd_open(p2, "vm", "s1", LBD_OPEN_READ_ONLY, &img));
  char **kids;
  size_t n;
  assert_ok(lbd_list_children(img, NULL, &kids, &n));
  assert_int_equal(n, 1);
  assert_string_equal(kids[0], "rbd/kid");
  lbd_names_free(kids, n);
  assert_ok(lbd_close(img));
  assert_ok(lbd_open(e->io, "kid", NULL, 0, &img));
  assert_ok(lbd_flatten(img, NULL, NULL));
  assert_ok(lbd_close(img));
  expect_image_bytes(e->io, "kid", NULL, kid, SIZE);
  free(kid);
  lbd_ioctx_destroy(p2);
  model_free(&m);
}

/* ---- kill -9 anywhere ------------------------------------------------- */

static int slow(uint64_t done, uint64_t total, void *arg)
{
  (void)done, (void)total, (void)arg;
  usleep(200);
  return 0;
}

/* The child: prepare, execute, then commit or abort; killed on the way. */
static void child_run(const char *dir, bool abort_it)
{
  lbd_cluster_t *c;
  lbd_ioctx_t *io, *p2;
  struct lbd_image_options o = {.object_size = 512 * KiB};
  if (lbd_cluster_open(dir, false, &c) < 0 ||
      lbd_ioctx_create(c, "rbd", NULL, &io) < 0 ||
      lbd_ioctx_create(c, "p2", NULL, &p2) < 0 ||
      lbd_migration_prepare(io, "vm", p2, "vm", &o, false) < 0 ||
      lbd_migration_execute(p2, "vm", 2, slow, NULL) < 0 ||
      (abort_it ? lbd_migration_abort(p2, "vm", slow, NULL)
                : lbd_migration_commit(p2, "vm", NULL, NULL)) < 0)
    _exit(1);
  _exit(0);
}

/* After the kill: finish whatever step was cut, as an operator would. */
static void recover(struct image_env *e, lbd_ioctx_t *p2, bool abort_it)
{
  struct lbd_migration_status st;
  if (lbd_migration_status(e->io, "vm", &st) < 0 &&
      lbd_migration_status(p2, "vm", &st) < 0)
    return; /* never started, or all done */
  struct lbd_image_options o = {.object_size = 512 * KiB};
  int r = 0;
  if (getenv("LBD_TEST_VERBOSE"))
    fprintf(stderr, "recovering from %s (%s)\n", st.state,
            abort_it ? "abort" : "commit");
  if (strcmp(st.state, "preparing") == 0)
    r = lbd_migration_prepare(e->io, "vm", p2, "vm", &o, false);
  if (r == 0 && (strcmp(st.state, "aborting") == 0 || abort_it))
    r = lbd_migration_abort(e->io, "vm", NULL, NULL);
  if (r == 0 && !abort_it && strcmp(st.state, "aborting") != 0) {
    if (strcmp(st.state, "committing") && strcmp(st.state, "executed"))
      r = lbd_migration_execute(p2, "vm", 0, NULL, NULL);
    if (r == 0)
      r = lbd_migration_commit(p2, "vm", NULL, NULL);
  }
  if (r < 0)
    fail_msg("recovering from state %s: %s", st.state, lbd_last_error());
}

static void test_kill9_anywhere(void **state)
{
  struct image_env *e = *state;
  int trials = image_env_int("LBD_KILL_TRIALS", 24);
  /* The kill comes within 60 ms (LBD_KILL_MAX_MS): all of prepare to
   * commit takes about that long locally, longer on RADOS. */
  int max_ms = image_env_int("LBD_KILL_MAX_MS", 60);
  srand((unsigned)time(NULL));
  for (int t = 0; t < trials; t++) {
    struct model m;
    bool abort_it = t % 3 == 2;
    make_source(e->io, &m);
    lbd_ioctx_t *p2 = image_env_pool(e, "p2");
    lbd_ioctx_destroy(p2);
    image_env_kill_child(e, child_run, abort_it, max_ms);
    p2 = image_env_pool(e, "p2");
    recover(e, p2, abort_it);
    lbd_image_t *img;
    lbd_ioctx_t *where = lbd_open(p2, "vm", NULL, LBD_OPEN_READ_ONLY, &img) == 0
                             ? p2 : e->io;
    if (where == p2)
      assert_ok(lbd_close(img));
    expect_model(where, "vm", &m);
    /* clean up for the next trial: the image, its snapshots */
    assert_ok(lbd_open(where, "vm", NULL, 0, &img));
    assert_ok(lbd_snap_remove(img, "s0"));
    assert_ok(lbd_snap_remove(img, "s1"));
    assert_ok(lbd_close(img));
    assert_ok(lbd_remove(where, "vm"));
    lbd_ioctx_destroy(p2);
    model_free(&m);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_prepare_reads_source_at_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_execute_with_a_writer, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_abort_gives_writes_back, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refusals_change_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_parent_of_clones, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill9_anywhere, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
