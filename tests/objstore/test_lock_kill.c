/* Locks and watches vanish when their holder dies.
 *
 * A child process opens the cluster with its own handle, takes a lock and a
 * watch on an object, tells the parent over a pipe, and sleeps.  The parent
 * sees the lock held (EBUSY, a message naming the holder, list_lockers and
 * list_watchers showing the child's pid), kills the child with SIGKILL,
 * reaps it, and at once -- no sleep, no retry -- takes the lock itself and
 * finds no watchers left. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define OID "lbd_header.kill"
#define LOCK_NAME "lbd_lock"
#define CHILD_COOKIE "child cookie 1"
#define CHILD_TAG "tag-A"
#define CHILD_DESC "held by the child"
#define WATCH_DESC "child watch rw"

static pid_t child_pid;

struct child_report {
  int ok;                 /* 1 when every step worked */
  int ret;                /* else the failing return code */
  char what[64];
  char msg[256];
  char client[64];        /* objstore_cluster_client() of the child */
  uint64_t watch_handle;
  pid_t grandchild;       /* a child of its own, or 0 */
};

static pid_t grandchild_pid;
static bool with_grandchild; /* the holder forks a child that lives on */

static void reap_child(void)
{
  if (child_pid > 0) {
    kill(child_pid, SIGKILL);
    waitpid(child_pid, NULL, 0);
    child_pid = 0;
  }
  if (grandchild_pid > 0) { /* not ours to reap: init's */
    kill(grandchild_pid, SIGKILL);
    grandchild_pid = 0;
  }
}

static int teardown(void **state)
{
  reap_child();
  return fixture_teardown(state);
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

/* The child: lock + watch, report, sleep until killed.  Never returns. */
static void child_main(const char *dir, int64_t pool_id, int fd,
                       enum objstore_lock_type type)
{
  struct child_report rep;
  memset(&rep, 0, sizeof rep);
  struct objstore_cluster *cluster = NULL;
  struct objstore_pool *pool = NULL;
  int ret = objstore_cluster_open(dir, &cluster);
  snprintf(rep.what, sizeof rep.what, "objstore_cluster_open");
  if (ret == 0) {
    snprintf(rep.client, sizeof rep.client, "%s",
             objstore_cluster_client(cluster));
    snprintf(rep.what, sizeof rep.what, "objstore_pool_open");
    ret = objstore_pool_open(cluster, pool_id, "", &pool);
  }
  if (ret == 0) {
    snprintf(rep.what, sizeof rep.what, "objstore_lock");
    ret = objstore_lock(pool, OID, LOCK_NAME, type, CHILD_COOKIE, CHILD_TAG,
                        CHILD_DESC);
  }
  if (ret == 0) {
    snprintf(rep.what, sizeof rep.what, "objstore_watch");
    ret = objstore_watch(pool, OID, WATCH_DESC, true, &rep.watch_handle);
  }
  /* A child of the holder, forked without exec, must not keep the
   * holder's lock and watch alive once the holder is gone. */
  if (ret == 0 && with_grandchild) {
    int gp[2];
    if (pipe(gp) < 0)
      _exit(4);
    pid_t g = fork();
    if (g == 0) { /* (fork's handlers have run when it returns here) */
      alarm(60);
      close(gp[0]);
      write_all(gp[1], "r", 1);
      close(gp[1]);
      for (;;)
        pause();
    }
    close(gp[1]);
    char c;
    if (g > 0 && read(gp[0], &c, 1) != 1)
      _exit(5);
    close(gp[0]);
    rep.grandchild = g > 0 ? g : 0;
    if (g < 0) {
      snprintf(rep.what, sizeof rep.what, "fork");
      ret = -errno;
    }
  }
  rep.ok = ret == 0;
  rep.ret = ret;
  if (ret < 0)
    snprintf(rep.msg, sizeof rep.msg, "%s", lbd_last_error());
  write_all(fd, &rep, sizeof rep);
  close(fd);
  if (ret < 0)
    _exit(1);
  for (;;)
    pause();
}

static struct child_report start_child(struct fixture *f,
                                       enum objstore_lock_type type)
{
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    alarm(120); /* never outlive a stuck run */
    child_main(f->dir, f->pool_id, fds[1], type);
  }
  child_pid = pid;
  close(fds[1]);
  struct child_report rep;
  size_t got = 0;
  while (got < sizeof rep) {
    ssize_t n = read(fds[0], (char *)&rep + got, sizeof rep - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      close(fds[0]);
      reap_child();
      fail_msg("child died before reporting (read %zd)", n);
    }
    got += (size_t)n;
  }
  close(fds[0]);
  grandchild_pid = rep.grandchild;
  if (!rep.ok)
    fail_msg("child: %s = %d: %s", rep.what, rep.ret, rep.msg);
  return rep;
}

static void kill_and_reap(pid_t pid)
{
  assert_int_equal(kill(pid, SIGKILL), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  child_pid = 0;
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void assert_error_names_holder(const char *call,
                                      const struct child_report *rep,
                                      pid_t pid)
{
  const char *msg = lbd_last_error();
  char pidstr[32];
  snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
  assert_non_null(msg);
  if (!*msg)
    fail_msg("%s: EBUSY with an empty lbd_last_error()", call);
  if (!strstr(msg, rep->client) && !strstr(msg, pidstr))
    fail_msg("%s: EBUSY message \"%s\" names neither the holder's client "
             "\"%s\" nor its pid %s", call, msg, rep->client, pidstr);
}

/* The watch cookie is the handle; accept it written in decimal or 0x-hex. */
static void assert_cookie_is_handle(const char *cookie, uint64_t handle)
{
  assert_non_null(cookie);
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(cookie, &end, 0);
  if (errno || end == cookie || *end || v != handle)
    fail_msg("watch cookie \"%s\" is not the handle %" PRIu64, cookie,
             handle);
}

static void assert_child_watch(struct fixture *f,
                               const struct child_report *rep, pid_t pid)
{
  struct objstore_holder *w = NULL;
  size_t nw = 0;
  assert_ok(objstore_list_watchers(f->pool, OID, &w, &nw));
  assert_int_equal(nw, 1);
  assert_int_equal(w[0].pid, pid);
  assert_string_equal(w[0].client, rep->client);
  assert_cookie_is_handle(w[0].cookie, rep->watch_handle);
  assert_non_null(w[0].desc);
  assert_string_equal(w[0].desc, WATCH_DESC);
  assert_true(w[0].exclusive); /* rw watch */
  objstore_holders_free(w, nw);
}

static void assert_no_watchers(struct fixture *f)
{
  struct objstore_holder *w = NULL;
  size_t nw = 99;
  assert_ok(objstore_list_watchers(f->pool, OID, &w, &nw));
  if (nw != 0)
    fail_msg("%zu watcher(s) left after the holder died; first: client %s "
             "pid %d", nw, w[0].client, (int)w[0].pid);
  objstore_holders_free(w, nw);
}

static void make_object(struct fixture *f)
{
  static const char body[] = "header of an image";
  assert_ok(objstore_write_full(f->pool, OID, NULL, body, sizeof body - 1));
}

static void test_exclusive_lock_dies_with_holder(void **state)
{
  struct fixture *f = *state;
  make_object(f);
  struct child_report rep = start_child(f, OBJSTORE_LOCK_EXCLUSIVE);
  pid_t pid = child_pid;
  assert_string_not_equal(rep.client, objstore_cluster_client(f->cluster));

  /* Held by the child: EBUSY for us, whatever cookie or type we ask. */
  assert_int_equal(objstore_lock(f->pool, OID, LOCK_NAME,
                                 OBJSTORE_LOCK_EXCLUSIVE, "parent cookie",
                                 "", "parent"),
                   -EBUSY);
  assert_error_names_holder("exclusive lock", &rep, pid);
  assert_int_equal(objstore_lock(f->pool, OID, LOCK_NAME,
                                 OBJSTORE_LOCK_EXCLUSIVE, CHILD_COOKIE,
                                 CHILD_TAG, "parent, child's cookie"),
                   -EBUSY);
  assert_error_names_holder("exclusive lock with the child's cookie", &rep,
                            pid);
  assert_int_equal(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_SHARED,
                                 "parent cookie", CHILD_TAG, "parent"),
                   -EBUSY);
  assert_error_names_holder("shared lock", &rep, pid);
  /* We do not hold it, so we cannot unlock it. */
  assert_int_equal(objstore_unlock(f->pool, OID, LOCK_NAME, CHILD_COOKIE),
                   -ENOENT);
  assert_true(lbd_last_error()[0] != '\0');

  struct objstore_holder *h = NULL;
  size_t nh = 0;
  assert_ok(objstore_list_lockers(f->pool, OID, LOCK_NAME, &h, &nh));
  assert_int_equal(nh, 1);
  assert_int_equal(h[0].pid, pid);
  assert_string_equal(h[0].client, rep.client);
  assert_string_equal(h[0].cookie, CHILD_COOKIE);
  assert_string_equal(h[0].tag, CHILD_TAG);
  assert_string_equal(h[0].desc, CHILD_DESC);
  assert_true(h[0].exclusive);
  objstore_holders_free(h, nh);
  assert_child_watch(f, &rep, pid);

  kill_and_reap(pid);

  /* At once: no sleep, no retry. */
  assert_ok(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_EXCLUSIVE,
                          "parent cookie", "", "parent"));
  assert_no_watchers(f);
  h = NULL;
  nh = 0;
  assert_ok(objstore_list_lockers(f->pool, OID, LOCK_NAME, &h, &nh));
  assert_int_equal(nh, 1);
  assert_int_equal(h[0].pid, getpid());
  assert_string_equal(h[0].client, objstore_cluster_client(f->cluster));
  assert_string_equal(h[0].cookie, "parent cookie");
  assert_true(h[0].exclusive);
  objstore_holders_free(h, nh);
  /* Breaking the dead child's hold (if a record of it is left) does not
   * touch ours; our own lock is ours to release. */
  int r = objstore_break_lock(f->pool, OID, LOCK_NAME, rep.client,
                              CHILD_COOKIE);
  if (r != 0 && r != -ENOENT)
    fail_msg("break_lock of the dead holder = %d: %s", r, lbd_last_error());
  h = NULL;
  nh = 0;
  assert_ok(objstore_list_lockers(f->pool, OID, LOCK_NAME, &h, &nh));
  assert_int_equal(nh, 1);
  assert_int_equal(h[0].pid, getpid());
  objstore_holders_free(h, nh);
  assert_ok(objstore_unlock(f->pool, OID, LOCK_NAME, "parent cookie"));

  /* The object itself is untouched. */
  char buf[64];
  ssize_t n = objstore_read(f->pool, OID, OBJSTORE_SNAP_HEAD, 0, sizeof buf,
                            buf);
  assert_int_equal(n, strlen("header of an image"));
  assert_memory_equal(buf, "header of an image", (size_t)n);
}

static void test_shared_lock_dies_with_holder(void **state)
{
  struct fixture *f = *state;
  make_object(f);
  struct child_report rep = start_child(f, OBJSTORE_LOCK_SHARED);
  pid_t pid = child_pid;

  /* Conflicts: exclusive, or shared with another tag. */
  assert_int_equal(objstore_lock(f->pool, OID, LOCK_NAME,
                                 OBJSTORE_LOCK_EXCLUSIVE, "parent cookie",
                                 "", "parent"),
                   -EBUSY);
  assert_error_names_holder("exclusive lock over a shared one", &rep, pid);
  assert_int_equal(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_SHARED,
                                 "parent cookie", "tag-B", "parent"),
                   -EBUSY);
  assert_error_names_holder("shared lock with another tag", &rep, pid);

  /* Shared with the same tag: both hold it. */
  assert_ok(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_SHARED,
                          "parent cookie", CHILD_TAG, "parent"));
  struct objstore_holder *h = NULL;
  size_t nh = 0;
  assert_ok(objstore_list_lockers(f->pool, OID, LOCK_NAME, &h, &nh));
  assert_int_equal(nh, 2);
  int seen_child = 0, seen_parent = 0;
  for (size_t i = 0; i < nh; i++) {
    assert_false(h[i].exclusive);
    assert_string_equal(h[i].tag, CHILD_TAG);
    if (h[i].pid == pid) {
      seen_child++;
      assert_string_equal(h[i].client, rep.client);
      assert_string_equal(h[i].cookie, CHILD_COOKIE);
      assert_string_equal(h[i].desc, CHILD_DESC);
    } else if (h[i].pid == getpid()) {
      seen_parent++;
      assert_string_equal(h[i].client, objstore_cluster_client(f->cluster));
      assert_string_equal(h[i].cookie, "parent cookie");
    }
  }
  assert_int_equal(seen_child, 1);
  assert_int_equal(seen_parent, 1);
  objstore_holders_free(h, nh);
  assert_ok(objstore_unlock(f->pool, OID, LOCK_NAME, "parent cookie"));

  /* Only the child again. */
  h = NULL;
  nh = 0;
  assert_ok(objstore_list_lockers(f->pool, OID, LOCK_NAME, &h, &nh));
  assert_int_equal(nh, 1);
  assert_int_equal(h[0].pid, pid);
  assert_false(h[0].exclusive);
  objstore_holders_free(h, nh);
  assert_child_watch(f, &rep, pid);

  kill_and_reap(pid);

  /* At once: the exclusive lock the child's shared hold blocked. */
  assert_ok(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_EXCLUSIVE,
                          "parent cookie", "", "parent"));
  assert_no_watchers(f);
  h = NULL;
  nh = 0;
  assert_ok(objstore_list_lockers(f->pool, OID, LOCK_NAME, &h, &nh));
  assert_int_equal(nh, 1);
  assert_int_equal(h[0].pid, getpid());
  assert_true(h[0].exclusive);
  objstore_holders_free(h, nh);
  assert_ok(objstore_unlock(f->pool, OID, LOCK_NAME, "parent cookie"));
}

/* A dead holder's lock does not block even when nobody listed it first:
 * the very first call after the kill is the lock itself. */
static void test_lock_first_call_after_kill(void **state)
{
  struct fixture *f = *state;
  make_object(f);
  struct child_report rep = start_child(f, OBJSTORE_LOCK_EXCLUSIVE);
  (void)rep;
  kill_and_reap(child_pid);
  assert_ok(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_SHARED,
                          "parent cookie", "tag-Z", "parent"));
  assert_no_watchers(f);
  assert_ok(objstore_unlock(f->pool, OID, LOCK_NAME, "parent cookie"));
}

/* The holder forked a child (no exec) before it died: that child, alive,
 * shares the holder's open files, and so its liveness locks (OFD locks);
 * they must still die with the holder. */
static void test_lock_dies_with_holder_despite_its_child(void **state)
{
  struct fixture *f = *state;
  const char *backend = getenv("LBD_TEST_BACKEND");
  if (backend && strcmp(backend, "rados") == 0)
    skip(); /* a RADOS holder's liveness is its connection, not a file */
  make_object(f);
  with_grandchild = true;
  struct child_report rep = start_child(f, OBJSTORE_LOCK_EXCLUSIVE);
  with_grandchild = false;
  assert_true(rep.grandchild > 0);
  kill_and_reap(child_pid);
  assert_ok(objstore_lock(f->pool, OID, LOCK_NAME, OBJSTORE_LOCK_EXCLUSIVE,
                          "parent cookie", "", "parent"));
  assert_no_watchers(f);
  assert_ok(objstore_unlock(f->pool, OID, LOCK_NAME, "parent cookie"));
  reap_child(); /* the grandchild */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_exclusive_lock_dies_with_holder,
                                      fixture_setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared_lock_dies_with_holder,
                                      fixture_setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_lock_dies_with_holder_despite_its_child, fixture_setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_lock_first_call_after_kill,
                                      fixture_setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
