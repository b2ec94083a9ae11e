/* A child of fork() must hold no creation lock of the parent's data files.
 *
 * The local backend locks each data file it creates (a spare file made
 * ahead, or the file of an object being created) until its commit, so
 * that a pool check leaves it alone.  The lock is an OFD lock: a child
 * that inherits the descriptor keeps it after the parent closed its own,
 * as long as the child lives (if the parent died before its commit, a
 * pool check then never removes the orphan).  So a child must close such
 * descriptors: the backend's fork handlers do it.
 *
 * A thread creates objects, or opens and closes handles that made spare
 * files (a handle being closed too), while the main thread forks; each child looks for a descriptor of
 * a data file that holds a lock (/proc/self/fdinfo) and exits with their
 * count. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define FORKS 400

/* In a child: descriptors of files under DATA that hold a lock.  No
 * malloc here (the sanitizers' allocators are not fork-safe). */
static int locked_data_fds(const char *data)
{
  int n = 0;
  size_t dlen = strlen(data);
  for (int fd = 0; fd < 4096; fd++) {
    char p[64], target[4096], info[4096];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(p, target, sizeof target - 1);
    if (len <= 0)
      continue;
    target[len] = '\0';
    if (strncmp(target, data, dlen) != 0)
      continue;
    snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
    int ifd = open(p, O_RDONLY | O_CLOEXEC);
    if (ifd < 0)
      continue;
    ssize_t got = read(ifd, info, sizeof info - 1);
    close(ifd);
    info[got > 0 ? got : 0] = '\0';
    n += strstr(info, "lock:") != NULL;
  }
  return n;
}

struct worker {
  struct fixture *f;
  volatile bool stop;
  int rounds;
  char what[256];
};

/* Objects created one after another: each makes a data file (or takes a
 * spare), writes and syncs it, commits, closes it. */
static void *create_objects(void *arg)
{
  struct worker *w = arg;
  char buf[4096];
  memset(buf, 'c', sizeof buf);
  for (int i = 0; !w->stop; i++) {
    char oid[32];
    snprintf(oid, sizeof oid, "obj.%d", i);
    if (objstore_write_full(w->f->pool, oid, NULL, buf, sizeof buf) < 0 ||
        objstore_remove(w->f->pool, oid, NULL) < 0) {
      snprintf(w->what, sizeof w->what, "%s: %s", oid, lbd_last_error());
      break;
    }
    w->rounds++;
  }
  return NULL;
}

/* Handles that made spare files, closed. */
static void *open_close(void *arg)
{
  struct worker *w = arg;
  for (int i = 0; !w->stop; i++) {
    struct objstore_pool *p;
    char oid[32];
    snprintf(oid, sizeof oid, "h.%d", i);
    if (objstore_pool_open(w->f->cluster, w->f->pool_id, "", &p) < 0) {
      snprintf(w->what, sizeof w->what, "open: %s", lbd_last_error());
      break;
    }
    int r = objstore_write_full(p, oid, NULL, "x", 1);
    usleep(1000); /* the spare thread fills up */
    if (r == 0)
      r = objstore_remove(p, oid, NULL);
    if (r < 0)
      snprintf(w->what, sizeof w->what, "%s: %s", oid, lbd_last_error());
    objstore_pool_close(p);
    if (r < 0)
      break;
    w->rounds++;
  }
  return NULL;
}

static void fork_meanwhile(struct fixture *f, void *(*fn)(void *))
{
  struct objstore_pool_info info;
  assert_ok(objstore_pool_get_info(f->cluster, f->pool_id, &info));
  char data[4200];
  snprintf(data, sizeof data, "%s/data/", info.path);
  free(info.path);
  struct worker w = {.f = f};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, fn, &w), 0);
  int leaky = 0, leaked = 0, forks = 0;
  for (int i = 0; i < FORKS && !w.what[0]; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      int n = locked_data_fds(data);
      _exit(n > 99 ? 99 : n);
    }
    assert_true(pid > 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status)) {
      leaky++;
      leaked += WEXITSTATUS(status);
    }
    forks++;
    usleep(200);
  }
  w.stop = true;
  pthread_join(th, NULL);
  if (w.what[0])
    fail_msg("%s", w.what);
  assert_true(w.rounds > 0);
  if (leaky)
    fail_msg("%d of %d children held %d locked data file descriptors of "
             "their parent", leaky, forks, leaked);
}

static void fork_while_creating(void **state)
{
  fork_meanwhile(*state, create_objects);
}

static void fork_while_closing(void **state)
{
  fork_meanwhile(*state, open_close);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(fork_while_closing, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(fork_while_creating, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
