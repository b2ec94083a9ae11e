/* Handles that cache what they learnt of an object (the local backend
 * keeps each object's data file and record summary per handle, checked
 * against a generation counter the pool's processes share) must still see
 * every change another handle or process made.
 *
 * Two handles of one pool, in one process and in two (a forked child),
 * take turns: one reads and writes an object in place, so that it caches
 * it; the other replaces the object's data (write_full), removes and
 * recreates it, or writes it after a snapshot (its old data becomes the
 * snapshot's); then the first writes in place again and reads.  Its write
 * must land in the object as it is now, never in the replaced data or in
 * the snapshot, and its reads must see the other's changes.
 *
 * Also: an object created empty keeps its data file unsynced until its
 * next flush; if a power loss takes that file (simulated by removing it and
 * opening the pool again), the object reads as empty, can be written, and
 * a pool check does not report it missing.  An object created with data
 * has its file synced, so there a missing file is damage.  Data files
 * made ahead for creations are neither objects nor orphans to a check. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define OID "rbd_data.cache.0000000000000000"
#define BLK 4096

static void fill(char *buf, char c) { memset(buf, c, BLK); }

static void expect_block(struct objstore_pool *pool, const char *oid,
                         uint64_t snap, uint64_t off, char c)
{
  char buf[BLK];
  ssize_t n = objstore_read(pool, oid, snap, off, BLK, buf);
  if (n != BLK)
    fail_msg("read of %s at %llu: %zd (%s)", oid, (unsigned long long)off, n,
             n < 0 ? lbd_last_error() : "short");
  for (size_t i = 0; i < BLK; i++)
    if (buf[i] != c)
      fail_msg("%s at %llu: byte %zu is '%c', expected '%c'", oid,
               (unsigned long long)off, i, buf[i], c);
}

static void write_block(struct objstore_pool *pool, const char *oid,
                        const struct objstore_snapc *snapc, uint64_t off,
                        char c)
{
  char buf[BLK];
  fill(buf, c);
  assert_ok(objstore_write(pool, oid, snapc, off, buf, BLK));
}

static void write_full(struct objstore_pool *pool, const char *oid, char c)
{
  char buf[4 * BLK];
  memset(buf, c, sizeof buf);
  assert_ok(objstore_write_full(pool, oid, NULL, buf, sizeof buf));
}

/* P caches OID: a read and an in-place write. */
static void warm(struct objstore_pool *p, char c)
{
  write_block(p, OID, NULL, BLK, c);
  expect_block(p, OID, OBJSTORE_SNAP_HEAD, BLK, c);
}

static void same_process(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *a = f->pool, *b;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &b));

  /* write_full by B replaces the data file A cached. */
  write_full(a, OID, 'a');
  warm(a, 'b');
  write_full(b, OID, 'c');
  expect_block(a, OID, OBJSTORE_SNAP_HEAD, BLK, 'c');
  warm(a, 'd'); /* a cached the new file on that read */
  write_full(b, OID, 'e');
  write_block(a, OID, NULL, 0, 'f'); /* straight to the write, no read */
  expect_block(b, OID, OBJSTORE_SNAP_HEAD, 0, 'f');
  expect_block(b, OID, OBJSTORE_SNAP_HEAD, BLK, 'e');

  /* Removed and made again by B. */
  warm(a, 'g');
  assert_ok(objstore_remove(b, OID, NULL));
  char buf[BLK];
  assert_int_equal(objstore_read(a, OID, OBJSTORE_SNAP_HEAD, 0, BLK, buf),
                   -ENOENT);
  warm(a, 'h');
  assert_ok(objstore_remove(b, OID, NULL));
  write_full(b, OID, 'i');
  write_block(a, OID, NULL, 0, 'j');
  expect_block(b, OID, OBJSTORE_SNAP_HEAD, 0, 'j');
  expect_block(b, OID, OBJSTORE_SNAP_HEAD, BLK, 'i');

  /* A snapshot, then B's first write after it keeps the old data for the
   * snapshot and writes a new head; A, which cached the old head and
   * writes with no snap context, must write the new head. */
  warm(a, 'k');
  uint64_t snap;
  assert_ok(objstore_snap_create(b, &snap));
  struct objstore_snapc sc = {.seq = snap, .snaps = &snap, .nsnaps = 1};
  write_block(b, OID, &sc, 2 * BLK, 'l');
  write_block(a, OID, NULL, BLK, 'm');
  expect_block(b, OID, snap, BLK, 'k');
  expect_block(b, OID, OBJSTORE_SNAP_HEAD, BLK, 'm');
  expect_block(a, OID, OBJSTORE_SNAP_HEAD, 2 * BLK, 'l');
  expect_block(a, OID, snap, 2 * BLK, 'i');

  objstore_pool_close(b);
}

/* The child runs B's side of a step when told, over a pipe. */
static void child_main(const char *dir, int64_t pool_id, int cmd, int ack)
{
  struct objstore_cluster *cluster;
  struct objstore_pool *b;
  if (objstore_cluster_open(dir, &cluster) < 0 ||
      objstore_pool_open(cluster, pool_id, "", &b) < 0)
    _exit(2);
  char c;
  while (read(cmd, &c, 1) == 1) {
    char buf[4 * BLK];
    int r;
    switch (c) {
    case 'R':
      r = objstore_remove(b, OID, NULL);
      break;
    default: /* write_full with byte C */
      memset(buf, c, sizeof buf);
      r = objstore_write_full(b, OID, NULL, buf, sizeof buf);
    }
    char res = r < 0 ? 'E' : 'K';
    if (write(ack, &res, 1) != 1)
      _exit(3);
  }
  objstore_pool_close(b);
  objstore_cluster_close(cluster);
  _exit(0);
}

static void tell(int cmd, int ack, char c)
{
  char res;
  assert_int_equal(write(cmd, &c, 1), 1);
  assert_int_equal(read(ack, &res, 1), 1);
  assert_int_equal(res, 'K');
}

static void two_processes(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *a = f->pool;
  int to_child[2], from_child[2];
  assert_int_equal(pipe(to_child), 0);
  assert_int_equal(pipe(from_child), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(to_child[1]);
    close(from_child[0]);
    child_main(f->dir, f->pool_id, to_child[0], from_child[1]);
  }
  close(to_child[0]);
  close(from_child[1]);
  int cmd = to_child[1], ack = from_child[0];

  write_full(a, OID, 'a');
  for (char c = 'b'; c < 'x'; c += 4) {
    warm(a, c);
    tell(cmd, ack, (char)(c + 1)); /* the child replaces the data */
    write_block(a, OID, NULL, 0, (char)(c + 2));
    expect_block(a, OID, OBJSTORE_SNAP_HEAD, 0, (char)(c + 2));
    expect_block(a, OID, OBJSTORE_SNAP_HEAD, BLK, (char)(c + 1));
    warm(a, (char)(c + 3));
    tell(cmd, ack, 'R'); /* removes it */
    char buf[BLK];
    assert_int_equal(objstore_read(a, OID, OBJSTORE_SNAP_HEAD, 0, BLK, buf),
                     -ENOENT);
    write_full(a, OID, (char)(c + 3));
  }
  close(cmd);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ack);
}

/* A process that keeps writing an object in place (the local backend then
 * holds a lease on its op lock) must let another process's all-or-nothing
 * op on it through promptly, and a killed one at once. */
static void busy_writer_yields(void **state)
{
  struct fixture *f = *state;
  write_full(f->pool, OID, 'a');
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    alarm(120);
    struct objstore_cluster *cluster;
    struct objstore_pool *p;
    if (objstore_cluster_open(f->dir, &cluster) < 0 ||
        objstore_pool_open(cluster, f->pool_id, "", &p) < 0)
      _exit(2);
    char buf[BLK];
    memset(buf, 'c', sizeof buf);
    for (unsigned long i = 0;; i++) {
      if (objstore_write(p, OID, NULL, 0, buf, sizeof buf) < 0)
        _exit(3);
      if (i == 100 && write(ready[1], "r", 1) != 1)
        _exit(4);
    }
  }
  close(ready[1]);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  for (int round = 0; round < 20; round++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    write_full(f->pool, OID, (char)('A' + round));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s > 5)
      fail_msg("round %d: write_full waited %.1f s for the busy writer",
               round, s);
    expect_block(f->pool, OID, OBJSTORE_SNAP_HEAD, 2 * BLK,
                 (char)('A' + round));
  }
  kill(pid, SIGKILL);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  write_full(f->pool, OID, 'z');
  expect_block(f->pool, OID, OBJSTORE_SNAP_HEAD, 0, 'z');
  close(ready[0]);
}

/* The data files of the pool (the local backend's layout). */
static int data_files(struct fixture *f, char paths[][512], int max)
{
  struct objstore_pool_info info;
  assert_ok(objstore_pool_get_info(f->cluster, f->pool_id, &info));
  int n = 0;
  for (int i = 0; i < 256; i++) {
    char d[400];
    snprintf(d, sizeof d, "%s/data/%02x", info.path, i);
    DIR *dir = opendir(d);
    if (!dir)
      continue;
    struct dirent *e;
    while ((e = readdir(dir)))
      if (e->d_name[0] != '.' && n < max)
        snprintf(paths[n++], 512, "%s/%s", d, e->d_name);
    closedir(dir);
  }
  free(info.path);
  return n;
}

/* What a restart after a power loss looks like to the pool: new handles. */
static void reopen(struct fixture *f)
{
  objstore_pool_close(f->pool);
  objstore_cluster_close(f->cluster);
  assert_ok(objstore_cluster_open(f->dir, &f->cluster));
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &f->pool));
}

static bool local_backend(void)
{
  const char *backend = getenv("LBD_TEST_BACKEND");
  return !backend || !*backend || strcmp(backend, "local") == 0;
}

/* Create OID empty, then lose its only data file as a power loss may. */
static void create_and_lose(struct fixture *f)
{
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  assert_ok(objstore_write_op_operate(f->pool, OID, op, NULL, 0));
  objstore_write_op_free(op);
  reopen(f); /* no spare data files made ahead (close removes them) */
  static char paths[8][512];
  assert_int_equal(data_files(f, paths, 8), 1);
  assert_int_equal(unlink(paths[0]), 0);
  reopen(f);
}

static void lost_unsynced_file(void **state)
{
  struct fixture *f = *state;
  if (!local_backend())
    skip();
  create_and_lose(f);
  char buf[BLK];
  assert_int_equal(objstore_read(f->pool, OID, OBJSTORE_SNAP_HEAD, 0, BLK,
                                 buf), 0);
  struct objstore_stat st;
  assert_ok(objstore_stat(f->pool, OID, OBJSTORE_SNAP_HEAD, &st));
  assert_int_equal(st.size, 0);
  struct objstore_snap_set set;
  assert_ok(objstore_list_snaps(f->pool, OID, &set));
  assert_true(set.head_exists);
  assert_int_equal(set.head_size, 0);
  objstore_snap_set_free(&set);
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, false, &rep));
  assert_int_equal(rep.missing, 0);
  assert_int_equal(rep.orphans, 0);

  /* Written (the file is made again), then read back. */
  write_block(f->pool, OID, NULL, BLK, 'w');
  expect_block(f->pool, OID, OBJSTORE_SNAP_HEAD, BLK, 'w');
  assert_int_equal(objstore_read(f->pool, OID, OBJSTORE_SNAP_HEAD, 0, BLK,
                                 buf), BLK);
  memset(&rep, 0, sizeof rep);
  assert_ok(objstore_pool_check(f->pool, true, &rep));
  assert_int_equal(rep.missing, 0);
  assert_int_equal(rep.orphans, 0);
}

/* The first write after a snapshot of such an object: the snapshot keeps
 * an empty object, in a file of its own that exists. */
static void lost_unsynced_file_snapshot(void **state)
{
  struct fixture *f = *state;
  if (!local_backend())
    skip();
  create_and_lose(f);
  uint64_t snap;
  assert_ok(objstore_snap_create(f->pool, &snap));
  struct objstore_snapc sc = {.seq = snap, .snaps = &snap, .nsnaps = 1};
  write_block(f->pool, OID, &sc, 0, 'x');
  char buf[BLK];
  assert_int_equal(objstore_read(f->pool, OID, snap, 0, BLK, buf), 0);
  expect_block(f->pool, OID, OBJSTORE_SNAP_HEAD, 0, 'x');
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, true, &rep));
  assert_int_equal(rep.missing, 0);
  assert_int_equal(rep.objects, 2);
}

/* An object created with data has its file synced: losing it is damage. */
static void lost_synced_file(void **state)
{
  struct fixture *f = *state;
  if (!local_backend())
    skip();
  write_full(f->pool, OID, 'd');
  reopen(f);
  static char paths[8][512];
  assert_int_equal(data_files(f, paths, 8), 1);
  assert_int_equal(unlink(paths[0]), 0);
  reopen(f);
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, true, &rep));
  assert_int_equal(rep.missing, 1);
  char buf[BLK];
  assert_int_equal(objstore_read(f->pool, OID, OBJSTORE_SNAP_HEAD, 0, BLK,
                                 buf), -EIO);
}

/* Data files made ahead for object creations are neither objects nor
 * orphans for a check, and go with the handle that made them. */
static void spare_files(void **state)
{
  struct fixture *f = *state;
  if (!local_backend())
    skip();
  for (int i = 0; i < 20; i++) {
    char oid[32];
    snprintf(oid, sizeof oid, "spare.%d", i);
    write_block(f->pool, oid, NULL, 0, 's');
  }
  usleep(100000); /* let the spares be made */
  static char paths[64][512];
  int n = data_files(f, paths, 64);
  assert_true(n >= 20);
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, true, &rep));
  assert_int_equal(rep.objects, 20);
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
  reopen(f);
  assert_int_equal(data_files(f, paths, 64), 20);
}

/* An object made by a metadata op is empty too; repair makes its lost file
 * again. */
static void repair_makes_it_again(void **state)
{
  struct fixture *f = *state;
  if (!local_backend())
    skip();
  assert_ok(objstore_setxattr(f->pool, "meta-only", "k", "v", 1));
  reopen(f);
  static char paths[8][512];
  assert_int_equal(data_files(f, paths, 8), 1);
  assert_int_equal(unlink(paths[0]), 0);
  reopen(f);
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, true, &rep));
  assert_int_equal(rep.missing, 0);
  assert_int_equal(data_files(f, paths, 8), 1);
  void *v;
  size_t len;
  assert_ok(objstore_getxattr(f->pool, "meta-only", "k", &v, &len));
  assert_int_equal(len, 1);
  free(v);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(same_process, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(two_processes, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(busy_writer_yields, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(lost_unsynced_file, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(lost_unsynced_file_snapshot,
                                      fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(lost_synced_file, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(spare_files, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(repair_makes_it_again, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
