/* Two processes on one image: the exclusive lock and the watchers.
 *
 * A child opens the image read-write and writes (taking the exclusive
 * lock), reports over a pipe, and keeps writing.  The parent's own
 * read-write handle then gets EBUSY naming the holder; a read-only handle
 * in the parent reads while the child writes; the watchers list shows the
 * child's pid.  After kill -9 of the child the parent's write succeeds at
 * once (no sleep, no retry) and the child is gone from the watchers.  Then
 * the roles swap: while the parent holds the lock another child is refused,
 * and after the parent closes its handle a child may write. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "image_fixture.h"
#include "../objstore/fixture.h"

#define IMAGE "shared"
#define IMAGE_SIZE (16ULL << 20)
#define BLOCK (64 * 1024)

struct report {
  int ok;
  int ret;
  pid_t pid;
  char what[64];
  char msg[512];
};

static const char *dir; /* the cluster's, for the children */
static pid_t children[4];

static void reap_all(void)
{
  for (size_t i = 0; i < sizeof children / sizeof *children; i++)
    if (children[i] > 0) {
      kill(children[i], SIGKILL);
      waitpid(children[i], NULL, 0);
      children[i] = 0;
    }
}

static void forget_child(pid_t pid)
{
  for (size_t i = 0; i < sizeof children / sizeof *children; i++)
    if (children[i] == pid)
      children[i] = 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      _exit(3);
    p += n;
    len -= (size_t)n;
  }
}

static int read_all(int fd, void *buf, size_t len)
{
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int setup(void **state)
{
  if (image_env_setup(state, "image-two-procs") < 0)
    return -1;
  struct image_env *e = *state;
  dir = e->dir;
  struct lbd_image_options o = {.size = IMAGE_SIZE};
  if (lbd_create(e->io, IMAGE, &o) < 0) {
    fprintf(stderr, "setup: %s\n", lbd_last_error());
    return -1;
  }
  return 0;
}

static int teardown(void **state)
{
  reap_all();
  return image_env_teardown(state);
}

/* ---- children ------------------------------------------------------------ */

enum child_kind {
  CHILD_WRITER,    /* write, report, keep writing until killed */
  CHILD_TRY_WRITE, /* try one write, report its result, exit */
};

static void child_main(enum child_kind kind, int fd)
{
  struct report rep;
  memset(&rep, 0, sizeof rep);
  rep.pid = getpid();
  lbd_cluster_t *c = NULL;
  lbd_ioctx_t *io = NULL;
  lbd_image_t *img = NULL;
  static unsigned char buf[BLOCK];
  int r = lbd_cluster_open(dir, false, &c);
  snprintf(rep.what, sizeof rep.what, "lbd_cluster_open");
  if (r == 0) {
    snprintf(rep.what, sizeof rep.what, "lbd_ioctx_create");
    r = lbd_ioctx_create(c, "rbd", NULL, &io);
  }
  if (r == 0) {
    snprintf(rep.what, sizeof rep.what, "lbd_open");
    r = lbd_open(io, IMAGE, NULL, 0, &img);
  }
  unsigned gen = 1;
  if (r == 0) {
    snprintf(rep.what, sizeof rep.what, "lbd_write");
    memset(buf, (int)gen, sizeof buf);
    ssize_t n = lbd_write(img, 0, BLOCK, buf);
    r = n == BLOCK ? 0 : n < 0 ? (int)n : -EIO;
  }
  rep.ok = r == 0;
  rep.ret = r;
  if (r < 0)
    snprintf(rep.msg, sizeof rep.msg, "%s", lbd_last_error());
  write_all(fd, &rep, sizeof rep);
  close(fd);
  if (kind == CHILD_TRY_WRITE || r < 0) {
    if (img)
      lbd_close(img);
    lbd_ioctx_destroy(io);
    lbd_cluster_close(c);
    _exit(r < 0 ? 1 : 0);
  }
  /* Keep writing new generations (1..250) until killed. */
  for (;;) {
    gen = gen % 250 + 1;
    memset(buf, (int)gen, sizeof buf);
    if (lbd_write(img, 0, BLOCK, buf) != BLOCK)
      _exit(4);
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

static pid_t start_child(enum child_kind kind, struct report *rep)
{
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    alarm(60); /* never outlive a stuck run */
    child_main(kind, fds[1]);
  }
  for (size_t i = 0; i < sizeof children / sizeof *children; i++)
    if (children[i] == 0) {
      children[i] = pid;
      break;
    }
  close(fds[1]);
  int r = read_all(fds[0], rep, sizeof *rep);
  close(fds[0]);
  if (r < 0)
    fail_msg("child %d died before reporting", (int)pid);
  return pid;
}

static void kill_and_reap(pid_t pid)
{
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  forget_child(pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
}

static int wait_exit(pid_t pid)
{
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  forget_child(pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* ---- helpers ------------------------------------------------------------- */

static bool message_names_pid(const char *msg, pid_t pid)
{
  char a[32], b[48];
  snprintf(a, sizeof a, "pid %d", (int)pid);
  snprintf(b, sizeof b, "client.%d.", (int)pid);
  return strstr(msg, a) || strstr(msg, b);
}

/* Watchers of IMG: how many with PID, and their mode (rw of the last). */
static size_t watchers_with_pid(lbd_image_t *img, pid_t pid, bool *rw)
{
  struct lbd_watcher *w = NULL;
  size_t n = 0, hits = 0;
  assert_ok(lbd_watchers_list(img, &w, &n));
  for (size_t i = 0; i < n; i++)
    if (w[i].pid == pid) {
      hits++;
      if (rw)
        *rw = w[i].rw;
      assert_true(w[i].client[0] != '\0');
    }
  free(w);
  return hits;
}

static void expect_busy(int r, const char *call, pid_t holder)
{
  if (r != -EBUSY)
    fail_msg("%s = %d (%s), want -EBUSY while pid %d writes", call, r,
             lbd_last_error(), (int)holder);
  const char *msg = lbd_last_error();
  if (!msg || !*msg)
    fail_msg("%s: EBUSY with an empty lbd_last_error()", call);
  if (!message_names_pid(msg, holder))
    fail_msg("%s: EBUSY message \"%s\" does not name the holder (pid %d)",
             call, msg, (int)holder);
}

/* ---- the test ------------------------------------------------------------ */

static void test_two_processes(void **state)
{
  (void)state;
  struct report rep;
  pid_t child = start_child(CHILD_WRITER, &rep);
  if (!rep.ok)
    fail_msg("child: %s = %d: %s", rep.what, rep.ret, rep.msg);

  lbd_cluster_t *c;
  lbd_ioctx_t *io;
  lbd_image_t *w, *ro;
  assert_ok(lbd_cluster_open(dir, false, &c));
  assert_ok(lbd_ioctx_create(c, "rbd", NULL, &io));
  assert_ok(lbd_open(io, IMAGE, NULL, 0, &w));
  assert_ok(lbd_open(io, IMAGE, NULL, LBD_OPEN_READ_ONLY, &ro));

  /* A second writer is refused, with the holder named. */
  static unsigned char buf[BLOCK], got[BLOCK];
  memset(buf, 0xEE, sizeof buf);
  expect_busy((int)lbd_write(w, 1 << 20, BLOCK, buf), "lbd_write", child);
  expect_busy(lbd_discard(w, 2 << 20, BLOCK), "lbd_discard", child);
  expect_busy(lbd_write_zeroes(w, 2 << 20, BLOCK), "lbd_write_zeroes", child);
  expect_busy(lbd_resize(w, IMAGE_SIZE * 2), "lbd_resize", child);
  /* ... and nothing of it landed. */
  assert_int_equal(lbd_read(ro, 1 << 20, BLOCK, got), BLOCK);
  for (size_t i = 0; i < BLOCK; i++)
    if (got[i] != 0)
      fail_msg("refused write landed: byte %zu is 0x%02x", i, got[i]);
  uint64_t size;
  assert_ok(lbd_get_size(ro, &size));
  assert_int_equal(size, IMAGE_SIZE);

  /* Watchers: the child read-write, the parent's two handles. */
  bool rw = false;
  assert_int_equal(watchers_with_pid(ro, child, &rw), 1);
  assert_true(rw);
  assert_int_equal(watchers_with_pid(ro, getpid(), NULL), 2);

  /* The read-only handle reads while the child writes: every read works,
   * holds only generations the child writes, and they move on. */
  bool seen[256] = {false};
  unsigned distinct = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int k = 0;; k++) {
    ssize_t n = lbd_read(ro, 0, BLOCK, got);
    if (n != BLOCK)
      fail_msg("read-only read while the child writes = %zd: %s", n,
               lbd_last_error());
    for (size_t i = 0; i < BLOCK; i++) {
      if (got[i] < 1 || got[i] > 250)
        fail_msg("read %d: byte %zu is %u, never written", k, i, got[i]);
      if (!seen[got[i]]) {
        seen[got[i]] = true;
        distinct++;
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    double dt = (double)(now.tv_sec - t0.tv_sec) +
                (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
    if (distinct >= 3 && k >= 20)
      break;
    if (dt > 5)
      fail_msg("the reader saw %u generation(s) in 5 s: no progress of the "
               "writer visible", distinct);
    struct timespec ts = {0, 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  /* Still refused while the child lives. */
  expect_busy((int)lbd_write(w, 0, BLOCK, buf), "lbd_write", child);

  /* kill -9: the lock is free at once. */
  kill_and_reap(child);
  ssize_t n = lbd_write(w, 0, BLOCK, buf);
  if (n != BLOCK)
    fail_msg("write after kill -9 of the holder = %zd: %s", n,
             lbd_last_error());
  assert_int_equal(lbd_read(ro, 0, BLOCK, got), BLOCK);
  assert_memory_equal(got, buf, BLOCK);
  assert_int_equal(watchers_with_pid(ro, child, NULL), 0);
  assert_int_equal(watchers_with_pid(w, child, NULL), 0);
  assert_int_equal(watchers_with_pid(ro, getpid(), NULL), 2);
  assert_ok(lbd_discard(w, 0, BLOCK));
  assert_ok(lbd_resize(w, IMAGE_SIZE + BLOCK));
  assert_ok(lbd_resize(w, IMAGE_SIZE));

  /* Now the parent holds the lock: another process is refused, naming
   * the parent. */
  pid_t other = start_child(CHILD_TRY_WRITE, &rep);
  wait_exit(other);
  if (rep.ok)
    fail_msg("a second process wrote while this one holds the lock");
  if (rep.ret != -EBUSY)
    fail_msg("second process: %s = %d (%s), want -EBUSY", rep.what, rep.ret,
             rep.msg);
  if (!message_names_pid(rep.msg, getpid()))
    fail_msg("second process: EBUSY message \"%s\" does not name the holder "
             "(pid %d)", rep.msg, (int)getpid());
  assert_int_equal(watchers_with_pid(ro, other, NULL), 0);

  /* After the parent closes its writer, another process may write. */
  assert_ok(lbd_close(w));
  other = start_child(CHILD_TRY_WRITE, &rep);
  assert_int_equal(wait_exit(other), 0);
  if (!rep.ok)
    fail_msg("after the holder closed: %s = %d: %s", rep.what, rep.ret,
             rep.msg);
  assert_int_equal(lbd_read(ro, 0, BLOCK, got), BLOCK);
  for (size_t i = 0; i < BLOCK; i++)
    assert_int_equal(got[i], 1);
  assert_int_equal(watchers_with_pid(ro, getpid(), &rw), 1);
  assert_false(rw);

  assert_ok(lbd_close(ro));
  /* No watchers left: the image can be removed. */
  assert_ok(lbd_remove(io, IMAGE));
  lbd_ioctx_destroy(io);
  lbd_cluster_close(c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
