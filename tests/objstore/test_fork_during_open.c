/* A child forked while another thread opens or closes a metadata
 * environment (kvenv: the process-wide registry behind every cluster and
 * pool handle) must be able to open one of its own: the registry's lock
 * may not be left held in the child by a thread that the child does not
 * have.
 *
 * A thread opens and closes an environment in a loop (each open makes a
 * new LMDB environment: the registry lock is held for a while); the main
 * thread forks meanwhile, and each child opens and closes another
 * environment under an alarm.  A child killed by the alarm hung. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "objstore/kvenv.h"
#include "fixture.h"

#define FORKS 200

static const char *const dbs[] = {"a", "b"};

struct opener {
  const char *dir;
  volatile bool stop;
  int opens;
  char what[256];
};

static void *open_close(void *arg)
{
  struct opener *o = arg;
  while (!o->stop) {
    struct kvenv *kv;
    int r = kvenv_open(o->dir, 1 << 20, dbs, 2, &kv);
    if (r < 0) {
      snprintf(o->what, sizeof o->what, "kvenv_open: %s", lbd_last_error());
      break;
    }
    kvenv_close(kv);
    o->opens++;
  }
  return NULL;
}

static void fork_while_opening(void **state)
{
  (void)state;
#ifdef __SANITIZE_ADDRESS__
  /* The child allocates without exec, and ASan's allocator is not
   * fork-safe: a child may hang in malloc for reasons of its own. */
  skip();
#endif
  char *busy = fixture_mkdtemp("kvenv-busy");
  char *own = fixture_mkdtemp("kvenv-child");
  struct opener o = {.dir = busy};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, open_close, &o), 0);
  int hung = 0, forks = 0;
  for (int i = 0; i < FORKS && !o.what[0]; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(5);
      struct kvenv *kv;
      int r = kvenv_open(own, 1 << 20, dbs, 2, &kv);
      if (r == 0)
        kvenv_close(kv);
      _exit(r == 0 ? 0 : 1);
    }
    assert_true(pid > 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
      hung++;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_msg("child %d: status %#x", i, status);
    forks++;
    if (hung)
      break; /* one is enough: each costs the alarm's 5 s */
  }
  o.stop = true;
  pthread_join(th, NULL);
  fixture_rm_rf(busy);
  fixture_rm_rf(own);
  free(busy);
  free(own);
  if (o.what[0])
    fail_msg("%s", o.what);
  if (hung)
    fail_msg("a child forked while another thread opened an environment "
             "hung in kvenv_open (%d of %d children)", hung, forks);
  assert_true(o.opens > 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fork_while_opening),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
