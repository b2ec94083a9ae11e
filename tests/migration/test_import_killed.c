/* kill -9 anywhere in an import-only migration: prepare of a raw file
 * with a snapshot file, execute, then commit or abort, killed at a random
 * moment; the operator's next commands (from what status says) finish or
 * undo it: after a commit the target holds the files' bytes, after an
 * abort no target is left, and the source files never change. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#define SIZE (6 * MiB)

static char spec[2 * PATH_MAX + 256];

static int setup(void **state) { return image_env_setup(state, "import-kill"); }
static int teardown(void **state) { return image_env_teardown(state); }

/* A file of SIZE bytes at PATH: random runs and holes (SEED varies them). */
static char *make_file(const char *path, unsigned seed)
{
  char *b = calloc(1, SIZE);
  assert_non_null(b);
  srandom(seed);
  for (uint64_t off = 0; off < SIZE; off += 256 * KiB)
    if (random() % 3)
      for (uint64_t i = off; i < off + 100 * KiB; i++)
        b[i] = (char)random();
  image_env_write_file(path, b, SIZE);
  return b;
}

static int slow(uint64_t done, uint64_t total, void *arg)
{
  (void)done, (void)total, (void)arg;
  usleep(300);
  return 0;
}

/* The child: prepare, execute, then commit or abort; killed on the way. */
static void child_run(const char *dir, bool abort_it)
{
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
  struct lbd_image_options o = {.object_size = 256 * KiB};
  if (lbd_cluster_open(dir, false, &c) < 0 ||
      lbd_ioctx_create(c, "rbd", NULL, &io) < 0 ||
      lbd_migration_prepare_import(spec, io, "vm", &o) < 0 ||
      lbd_migration_execute(io, "vm", 2, slow, NULL) < 0 ||
      (abort_it ? lbd_migration_abort(io, "vm", slow, NULL)
                : lbd_migration_commit(io, "vm", NULL, NULL)) < 0)
    _exit(1);
  _exit(0);
}

/* After the kill: what an operator does, from the status. */
static void recover(struct image_env *e, bool abort_it)
{
  struct lbd_migration_status st;
  if (lbd_migration_status(e->io, "vm", &st) < 0)
    return; /* never named, aborted, or committed */
  if (getenv("LBD_TEST_VERBOSE"))
    fprintf(stderr, "recovering from %s (%s)\n", st.state,
            abort_it ? "abort" : "commit");
  int r = 0;
  /* a prepare cut before "prepared" is undone; so is an abort */
  if (abort_it || strcmp(st.state, "preparing") == 0 ||
      strcmp(st.state, "aborting") == 0) {
    r = lbd_migration_abort(e->io, "vm", NULL, NULL);
  } else {
    if (strcmp(st.state, "committing") && strcmp(st.state, "executed"))
      r = lbd_migration_execute(e->io, "vm", 0, NULL, NULL);
    if (r == 0)
      r = lbd_migration_commit(e->io, "vm", NULL, NULL);
  }
  if (r < 0)
    fail_msg("recovering from state %s: %s", st.state, lbd_last_error());
}

static void test_import_killed_anywhere(void **state)
{
  struct image_env *e = *state;
  char head_path[PATH_MAX], snap_path[PATH_MAX];
  snprintf(head_path, sizeof head_path, "%s/head.raw", e->tmp);
  snprintf(snap_path, sizeof snap_path, "%s/s0.raw", e->tmp);
  char *head = make_file(head_path, 1), *s0 = make_file(snap_path, 2);
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}, \"snapshots\": [{\"type\": \"raw\", "
           "\"name\": \"s0\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}}]}",
           head_path, snap_path);
  int trials = image_env_int("LBD_KILL_TRIALS", 16);
  /* Prepare to commit takes about 60 ms here: the kill comes within. */
  int max_ms = image_env_int("LBD_KILL_MAX_MS", 80);
  srand((unsigned)time(NULL));
  int committed = 0;
  for (int t = 0; t < trials; t++) {
    bool abort_it = t % 3 == 2;
    image_env_kill_child(e, child_run, abort_it, max_ms);
    recover(e, abort_it);
    lbd_image_t *img;
    int r = lbd_open(e->io, "vm", NULL, LBD_OPEN_READ_ONLY, &img);
    if (abort_it || r == -ENOENT) { /* (a kill before prepare named it) */
      expect_lbd_error(r, ENOENT, "the target after an abort", "vm");
      continue;
    }
    assert_ok(r);
    assert_ok(lbd_close(img));
    struct lbd_migration_status st;
    expect_lbd_error(lbd_migration_status(e->io, "vm", &st), EINVAL,
                     "status after the commit", "not being migrated");
    expect_image_bytes(e->io, "vm", NULL, head, SIZE);
    expect_image_bytes(e->io, "vm", "s0", s0, SIZE);
    committed++;
    /* clean up for the next trial */
    assert_ok(lbd_open(e->io, "vm", NULL, 0, &img));
    assert_ok(lbd_snap_remove(img, "s0"));
    assert_ok(lbd_close(img));
    assert_ok(lbd_remove(e->io, "vm"));
  }
  /* the sources never changed */
  expect_file_bytes(head_path, head, SIZE);
  expect_file_bytes(snap_path, s0, SIZE);
  if (getenv("LBD_TEST_VERBOSE"))
    fprintf(stderr, "%d of %d trials committed\n", committed, trials);
  free(head);
  free(s0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_import_killed_anywhere, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
