/* Advisory locks (lbd_lock_exclusive/shared, unlock, break_lock,
 * list_lockers): the rules of rbd's locks between clients, persistence
 * after the locking process has exited, a race of processes for one lock,
 * independence from the internal exclusive lock and from IO, and bad
 * input (negative errno and a message, nothing changed). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "image_fixture.h"
#include "../objstore/fixture.h"

#define MiB (1ULL << 20)

struct env {
  struct image_env *base; /* client 0: its cluster handle and pool rbd */
  lbd_cluster_t *c[2];    /* two clients */
  lbd_ioctx_t *io[2];
  lbd_image_t *img[2];    /* "img" opened by each, read-write */
};

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  void *base;
  if (!e || image_env_setup(&base, "image-advisory-lock") < 0)
    return -1;
  e->base = base;
  e->c[0] = e->base->c;
  e->io[0] = e->base->io;
  struct lbd_image_options o = {.size = 8 * MiB};
  if (lbd_create(e->io[0], "img", &o) < 0 ||
      lbd_cluster_open(e->base->dir, false, &e->c[1]) < 0 ||
      lbd_ioctx_create(e->c[1], "rbd", NULL, &e->io[1]) < 0 ||
      lbd_open(e->io[0], "img", NULL, 0, &e->img[0]) < 0 ||
      lbd_open(e->io[1], "img", NULL, 0, &e->img[1]) < 0) {
    fprintf(stderr, "setup: %s\n", lbd_last_error());
    return -1;
  }
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  if (!e)
    return 0;
  for (int i = 0; i < 2; i++)
    if (e->img[i])
      lbd_close(e->img[i]);
  lbd_ioctx_destroy(e->io[1]);
  lbd_cluster_close(e->c[1]);
  void *base = e->base;
  image_env_teardown(&base);
  free(e);
  return 0;
}

/* The lockers as "client/cookie,client/cookie" (sorted by the store). */
static char *lockers(lbd_image_t *img, bool *exclusive, char *tag,
                     size_t tag_size)
{
  static char buf[4096];
  char *t;
  struct lbd_locker *l;
  size_t n;
  assert_ok(lbd_list_lockers(img, exclusive, &t, &l, &n));
  buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    size_t used = strlen(buf);
    snprintf(buf + used, sizeof buf - used, "%s%s/%s", i ? "," : "",
             l[i].client, l[i].cookie);
    assert_true(strncmp(l[i].address, "pid ", 4) == 0);
    assert_true(l[i].time > 0);
  }
  if (tag)
    snprintf(tag, tag_size, "%s", t);
  lbd_lockers_free(t, l, n);
  return buf;
}

static void expect_err(int r, int want, const char *what)
{
  if (r != -want)
    fail_msg("%s: got %d (%s), want %d", what, r, lbd_last_error(), -want);
  if (!*lbd_last_error())
    fail_msg("%s: no error message", what);
}

static void test_exclusive(void **state)
{
  struct env *e = *state;
  const char *a = lbd_client_name(e->img[0]), *b = lbd_client_name(e->img[1]);
  assert_string_not_equal(a, b);
  bool excl = true;
  char tag[64], want[256];
  assert_string_equal(lockers(e->img[0], &excl, tag, sizeof tag), "");
  assert_false(excl);

  assert_ok(lbd_lock_exclusive(e->img[0], "mylock"));
  snprintf(want, sizeof want, "%s/mylock", a);
  assert_string_equal(lockers(e->img[1], &excl, tag, sizeof tag), want);
  assert_true(excl);
  assert_string_equal(tag, "");

  /* the same locker again; another cookie; another client; shared */
  expect_err(lbd_lock_exclusive(e->img[0], "mylock"), EEXIST, "relock");
  expect_err(lbd_lock_exclusive(e->img[0], "other"), EBUSY, "2nd cookie");
  expect_err(lbd_lock_exclusive(e->img[1], "mylock"), EBUSY, "other client");
  assert_non_null(strstr(lbd_last_error(), a)); /* names the holder */
  expect_err(lbd_lock_shared(e->img[1], "s", "tag"), EBUSY, "shared");
  /* only the holder unlocks; anyone breaks */
  expect_err(lbd_unlock(e->img[1], "mylock"), ENOENT, "unlock by other");
  expect_err(lbd_unlock(e->img[0], "nope"), ENOENT, "unlock unknown");
  assert_string_equal(lockers(e->img[0], &excl, NULL, 0), want);
  assert_ok(lbd_unlock(e->img[0], "mylock"));
  assert_string_equal(lockers(e->img[0], &excl, NULL, 0), "");

  assert_ok(lbd_lock_exclusive(e->img[1], "x"));
  expect_err(lbd_break_lock(e->img[0], a, "x"), ENOENT, "wrong client");
  expect_err(lbd_break_lock(e->img[0], b, "y"), ENOENT, "wrong cookie");
  assert_ok(lbd_break_lock(e->img[0], b, "x"));
  assert_string_equal(lockers(e->img[0], &excl, NULL, 0), "");
  expect_err(lbd_break_lock(e->img[0], b, "x"), ENOENT, "broken twice");
}

static void test_shared(void **state)
{
  struct env *e = *state;
  const char *a = lbd_client_name(e->img[0]), *b = lbd_client_name(e->img[1]);
  bool excl = true;
  char tag[64], want[256];
  assert_ok(lbd_lock_shared(e->img[0], "s1", "grp"));
  assert_ok(lbd_lock_shared(e->img[1], "s1", "grp")); /* same id, 2 clients */
  assert_ok(lbd_lock_shared(e->img[1], "s2", "grp"));
  expect_err(lbd_lock_shared(e->img[1], "s2", "grp"), EEXIST, "again");
  expect_err(lbd_lock_shared(e->img[0], "s3", "other"), EBUSY, "other tag");
  expect_err(lbd_lock_exclusive(e->img[0], "x"), EBUSY, "exclusive");
  snprintf(want, sizeof want, "%s/s1,%s/s1,%s/s2", a, b, b);
  assert_string_equal(lockers(e->img[0], &excl, tag, sizeof tag), want);
  assert_false(excl);
  assert_string_equal(tag, "grp");
  assert_ok(lbd_unlock(e->img[1], "s1"));
  assert_ok(lbd_break_lock(e->img[1], a, "s1"));
  assert_ok(lbd_unlock(e->img[1], "s2"));
  assert_string_equal(lockers(e->img[0], &excl, tag, sizeof tag), "");
  /* once free, another tag or an exclusive lock is fine */
  assert_ok(lbd_lock_shared(e->img[0], "s3", "other"));
  assert_ok(lbd_unlock(e->img[0], "s3"));
  assert_ok(lbd_lock_exclusive(e->img[0], "x"));
}

/* A process takes a lock and exits: the lock stays (unlike the internal
 * exclusive lock), until broken. */
static void test_persists_after_exit(void **state)
{
  struct env *e = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    lbd_cluster_t *c;
    lbd_ioctx_t *io;
    lbd_image_t *img;
    int r = lbd_cluster_open(e->base->dir, false, &c);
    if (r == 0)
      r = lbd_ioctx_create(c, "rbd", NULL, &io);
    if (r == 0)
      r = lbd_open(io, "img", NULL, 0, &img);
    if (r == 0)
      r = lbd_lock_exclusive(img, "child lock");
    _exit(r == 0 ? 0 : 1); /* no close, no unlock */
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *t;
  bool excl;
  struct lbd_locker *l;
  size_t n;
  assert_ok(lbd_list_lockers(e->img[0], &excl, &t, &l, &n));
  assert_int_equal(n, 1);
  assert_true(excl);
  assert_string_equal(l[0].cookie, "child lock");
  char addr[32], client[64];
  snprintf(addr, sizeof addr, "pid %d", (int)pid);
  assert_string_equal(l[0].address, addr);
  snprintf(client, sizeof client, "%s", l[0].client);
  lbd_lockers_free(t, l, n);
  expect_err(lbd_lock_exclusive(e->img[0], "mine"), EBUSY, "after exit");
  /* advisory: IO goes on (and takes the internal lock) regardless */
  char buf[4096];
  memset(buf, 0x5a, sizeof buf);
  assert_int_equal(lbd_write(e->img[0], 0, sizeof buf, buf), sizeof buf);
  assert_ok(lbd_break_lock(e->img[1], client, "child lock"));
  assert_ok(lbd_lock_exclusive(e->img[0], "mine"));
  /* the header is unharmed: stat, resize, reopen */
  struct lbd_image_info info;
  assert_ok(lbd_resize(e->img[0], 16 * MiB));
  assert_ok(lbd_stat(e->img[0], &info));
  assert_int_equal(info.size, 16 * MiB);
  char got[4096];
  assert_int_equal(lbd_read(e->img[1], 0, sizeof got, got), sizeof got);
  assert_memory_equal(got, buf, sizeof buf);
}

/* Processes racing for one exclusive lock: exactly one wins. */
static void test_race(void **state)
{
  struct env *e = *state;
  enum { N = 6 };
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pids[N];
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      close(fds[1]);
      lbd_cluster_t *c;
      lbd_ioctx_t *io;
      lbd_image_t *img;
      char cookie[16], go;
      snprintf(cookie, sizeof cookie, "racer%d", i);
      int r = lbd_cluster_open(e->base->dir, false, &c);
      if (r == 0)
        r = lbd_ioctx_create(c, "rbd", NULL, &io);
      if (r == 0)
        r = lbd_open(io, "img", NULL, 0, &img);
      if (r == 0 && read(fds[0], &go, 1) != 0)
        r = -EIO;
      if (r == 0)
        r = lbd_lock_exclusive(img, cookie);
      _exit(r == 0 ? 0 : r == -EBUSY ? 16 : 1);
    }
  }
  close(fds[0]);
  close(fds[1]); /* go */
  int won = 0;
  for (int i = 0; i < N; i++) {
    int status;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    int code = WEXITSTATUS(status);
    assert_true(code == 0 || code == 16);
    won += code == 0;
  }
  assert_int_equal(won, 1);
  bool excl;
  char *list = lockers(e->img[0], &excl, NULL, 0);
  assert_true(excl);
  assert_null(strchr(list, ','));
  assert_non_null(strstr(list, "/racer"));
}

static void test_bad_input(void **state)
{
  struct env *e = *state;
  char longid[200];
  memset(longid, 'x', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  expect_err(lbd_lock_exclusive(e->img[0], ""), EINVAL, "empty id");
  expect_err(lbd_lock_exclusive(e->img[0], NULL), EINVAL, "NULL id");
  expect_err(lbd_lock_exclusive(e->img[0], longid), ENAMETOOLONG, "long id");
  expect_err(lbd_lock_exclusive(e->img[0], "a\nb"), EINVAL, "control char");
  expect_err(lbd_lock_shared(e->img[0], "s", ""), EINVAL, "empty tag");
  expect_err(lbd_lock_shared(e->img[0], "s", NULL), EINVAL, "NULL tag");
  expect_err(lbd_unlock(e->img[0], ""), EINVAL, "unlock empty");
  expect_err(lbd_break_lock(e->img[0], "", "x"), EINVAL, "empty client");
  expect_err(lbd_break_lock(e->img[0], "a b", "x"), EINVAL, "client space");
  expect_err(lbd_break_lock(e->img[0], "client.1.1", ""), EINVAL, "no id");
  /* read-only: no changes, but listing works */
  lbd_image_t *ro;
  assert_ok(lbd_open(e->io[0], "img", NULL, LBD_OPEN_READ_ONLY, &ro));
  expect_err(lbd_lock_exclusive(ro, "r"), EROFS, "read-only lock");
  expect_err(lbd_lock_shared(ro, "r", "t"), EROFS, "read-only shared");
  expect_err(lbd_unlock(ro, "r"), EROFS, "read-only unlock");
  expect_err(lbd_break_lock(ro, "client.1.1", "r"), EROFS, "read-only break");
  bool excl;
  assert_string_equal(lockers(ro, &excl, NULL, 0), "");
  assert_ok(lbd_close(ro));
  /* odd but valid ids round-trip through the stored entry */
  const char *odd = "id with \"quotes\", \\ and spaces";
  assert_ok(lbd_lock_shared(e->img[0], odd, "t\"ag"));
  char tag[64];
  char want[256];
  snprintf(want, sizeof want, "%s/%s", lbd_client_name(e->img[0]), odd);
  assert_string_equal(lockers(e->img[1], &excl, tag, sizeof tag), want);
  assert_string_equal(tag, "t\"ag");
  assert_ok(lbd_unlock(e->img[0], odd));
  /* the image removed under an open handle */
  assert_ok(lbd_close(e->img[1]));
  e->img[1] = NULL;
  assert_ok(lbd_close(e->img[0]));
  e->img[0] = NULL;
  lbd_image_t *h;
  assert_ok(lbd_open(e->io[0], "img", NULL, 0, &h));
  assert_ok(lbd_lock_exclusive(h, "kept"));
  assert_ok(lbd_close(h));
  assert_ok(lbd_remove(e->io[0], "img")); /* locks go with the image */
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared, setup, teardown),
      cmocka_unit_test_setup_teardown(test_persists_after_exit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_race, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
