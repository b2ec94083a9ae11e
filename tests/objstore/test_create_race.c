/* Exclusive create under a multi-process race.
 *
 * NPROC forked processes, each with its own cluster handle, race ROUNDS
 * rounds; in round R all of them run, at the same moment (a process-shared
 * barrier), one write op on object "race.R": create(exclusive) + a small
 * write naming the caller.  The contract (the copy-up rule of DESIGN.md):
 * exactly one wins, every other one gets -EEXIST and nothing else, and the
 * object holds the winner's bytes. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define NPROC 8
#define ROUNDS 1000
#define CONTENT_MAX 64

/* Shared between the parent and every child (MAP_SHARED|MAP_ANONYMOUS). */
struct shared {
  pthread_barrier_t barrier;
  atomic_int wins[ROUNDS];         /* successful creates per round */
  atomic_int eexist[ROUNDS];       /* -EEXIST results per round */
  atomic_int winner[ROUNDS];       /* pid of the (last) winner */
  atomic_int other_errors;         /* results other than 0 and -EEXIST */
  atomic_int empty_messages;       /* -EEXIST with an empty lbd_last_error */
  atomic_int first_bad_round;
  atomic_int first_bad_ret;
  atomic_int setup_failures;
  char first_bad_msg[256];
  atomic_int msg_taken;
};

static pid_t children[NPROC];
static int nchildren;

static void note_bad(struct shared *sh, int round, int ret, const char *msg)
{
  int expected = 0;
  if (atomic_compare_exchange_strong(&sh->msg_taken, &expected, 1)) {
    atomic_store(&sh->first_bad_round, round);
    atomic_store(&sh->first_bad_ret, ret);
    snprintf(sh->first_bad_msg, sizeof sh->first_bad_msg, "%s", msg);
  }
}

static void format_content(char *buf, size_t size, pid_t pid, int round)
{
  snprintf(buf, size, "winner pid=%d round=%d\n", (int)pid, round);
}

/* Runs in the child; never returns. */
static void child_main(const char *dir, int64_t pool_id, struct shared *sh)
{
  struct objstore_cluster *cluster = NULL;
  struct objstore_pool *pool = NULL;
  int ret = objstore_cluster_open(dir, &cluster);
  if (ret == 0)
    ret = objstore_pool_open(cluster, pool_id, "", &pool);
  if (ret < 0) {
    atomic_fetch_add(&sh->setup_failures, 1);
    note_bad(sh, -1, ret, lbd_last_error());
  }
  pid_t me = getpid();
  for (int round = 0; round < ROUNDS; round++) {
    /* Everyone waits even after a failed set-up, so nobody hangs. */
    pthread_barrier_wait(&sh->barrier);
    if (!pool)
      continue;
    char oid[32], content[CONTENT_MAX];
    snprintf(oid, sizeof oid, "race.%04d", round);
    format_content(content, sizeof content, me, round);
    struct objstore_write_op *op = objstore_write_op_new();
    if (!op) {
      atomic_fetch_add(&sh->other_errors, 1);
      note_bad(sh, round, -ENOMEM, "objstore_write_op_new failed");
      continue;
    }
    objstore_write_op_create(op, true);
    objstore_write_op_write(op, 0, content, strlen(content));
    ret = objstore_write_op_operate(pool, oid, op, NULL, 0);
    objstore_write_op_free(op);
    if (ret == 0) {
      atomic_fetch_add(&sh->wins[round], 1);
      atomic_store(&sh->winner[round], (int)me);
    } else if (ret == -EEXIST) {
      atomic_fetch_add(&sh->eexist[round], 1);
      if (!lbd_last_error() || !*lbd_last_error()) {
        atomic_fetch_add(&sh->empty_messages, 1);
        note_bad(sh, round, ret, "(empty lbd_last_error after -EEXIST)");
      }
    } else {
      atomic_fetch_add(&sh->other_errors, 1);
      note_bad(sh, round, ret, lbd_last_error());
    }
  }
  if (pool)
    objstore_pool_close(pool);
  if (cluster)
    objstore_cluster_close(cluster);
  _exit(0);
}

static void kill_children(void)
{
  for (int i = 0; i < nchildren; i++) {
    if (children[i] > 0) {
      kill(children[i], SIGKILL);
      waitpid(children[i], NULL, 0);
      children[i] = 0;
    }
  }
  nchildren = 0;
}

static int teardown(void **state)
{
  kill_children();
  return fixture_teardown(state);
}

/* Reap every child; fail (after killing the rest) if one dies badly or
 * they take longer than LIMIT_S seconds. */
static void reap_children(int limit_s)
{
  time_t deadline = time(NULL) + limit_s;
  int left = nchildren;
  while (left > 0) {
    for (int i = 0; i < nchildren; i++) {
      if (children[i] <= 0)
        continue;
      int status;
      pid_t r = waitpid(children[i], &status, WNOHANG);
      if (r == 0)
        continue;
      pid_t pid = children[i];
      children[i] = 0;
      left--;
      if (r < 0)
        fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        kill_children();
        fail_msg("child %d ended badly: %s %d", (int)pid,
                 WIFSIGNALED(status) ? "signal" : "exit status",
                 WIFSIGNALED(status) ? WTERMSIG(status)
                                     : WEXITSTATUS(status));
      }
    }
    if (left > 0) {
      if (time(NULL) > deadline) {
        kill_children();
        fail_msg("children still running after %d s", limit_s);
      }
      struct timespec ts = {0, 5 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  nchildren = 0;
}

static void test_create_exclusive_race(void **state)
{
  struct fixture *f = *state;
  struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true(sh != MAP_FAILED);
  memset(sh, 0, sizeof *sh);
  pthread_barrierattr_t attr;
  assert_int_equal(pthread_barrierattr_init(&attr), 0);
  assert_int_equal(
      pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED), 0);
  assert_int_equal(pthread_barrier_init(&sh->barrier, &attr, NPROC), 0);
  pthread_barrierattr_destroy(&attr);

  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < NPROC; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      kill_children();
      fail_msg("fork: %s", strerror(errno));
    }
    if (pid == 0) {
      alarm(300); /* never outlive a stuck run */
      child_main(f->dir, f->pool_id, sh);
    }
    children[nchildren++] = pid;
  }
  pid_t pids[NPROC];
  memcpy(pids, children, sizeof pids);
  reap_children(240);

  if (atomic_load(&sh->setup_failures) || atomic_load(&sh->other_errors) ||
      atomic_load(&sh->empty_messages))
    fail_msg("setup failures %d, unexpected errors %d, empty messages %d; "
             "first: round %d ret %d (%s): %s",
             atomic_load(&sh->setup_failures),
             atomic_load(&sh->other_errors),
             atomic_load(&sh->empty_messages),
             atomic_load(&sh->first_bad_round),
             atomic_load(&sh->first_bad_ret),
             strerror(-atomic_load(&sh->first_bad_ret)), sh->first_bad_msg);

  for (int round = 0; round < ROUNDS; round++) {
    int wins = atomic_load(&sh->wins[round]);
    int eexist = atomic_load(&sh->eexist[round]);
    if (wins != 1 || eexist != NPROC - 1)
      fail_msg("round %d: %d winners and %d EEXIST (want 1 and %d)", round,
               wins, eexist, NPROC - 1);
    pid_t winner = atomic_load(&sh->winner[round]);
    bool known = false;
    for (int i = 0; i < NPROC; i++)
      known |= pids[i] == winner;
    assert_true(known);

    char oid[32], want[CONTENT_MAX], got[CONTENT_MAX * 2];
    snprintf(oid, sizeof oid, "race.%04d", round);
    format_content(want, sizeof want, winner, round);
    memset(got, 0, sizeof got);
    ssize_t n = objstore_read(f->pool, oid, OBJSTORE_SNAP_HEAD, 0,
                              sizeof got - 1, got);
    assert_ok(n);
    if ((size_t)n != strlen(want) || memcmp(got, want, (size_t)n) != 0)
      fail_msg("round %d: object holds \"%.*s\" (%zd bytes), winner wrote "
               "\"%s\"", round, (int)n, got, n, want);
    struct objstore_stat st;
    assert_ok(objstore_stat(f->pool, oid, OBJSTORE_SNAP_HEAD, &st));
    assert_int_equal(st.size, strlen(want));
  }

  /* Exactly ROUNDS objects exist, named race.0000 ... */
  size_t total = 0;
  char after[64] = "";
  bool more = true;
  while (more) {
    struct objstore_list_entry *ents = NULL;
    size_t count = 0;
    assert_ok(objstore_list(f->pool, 0, total ? "" : NULL,
                            total ? after : NULL, 128, &ents, &count, &more));
    for (size_t i = 0; i < count; i++) {
      char want[32];
      snprintf(want, sizeof want, "race.%04zu", total + i);
      assert_string_equal(ents[i].name, want);
      assert_string_equal(ents[i].ns, "");
    }
    if (count)
      snprintf(after, sizeof after, "%s", ents[count - 1].name);
    total += count;
    objstore_list_free(ents, count);
    if (count == 0)
      break;
  }
  assert_int_equal(total, ROUNDS);

  /* And one more exclusive create from the parent still says EEXIST. */
  struct objstore_write_op *op = objstore_write_op_new();
  assert_non_null(op);
  objstore_write_op_create(op, true);
  objstore_write_op_write(op, 0, "parent", 6);
  assert_int_equal(objstore_write_op_operate(f->pool, "race.0000", op, NULL, 0),
                   -EEXIST);
  assert_true(lbd_last_error()[0] != '\0');
  objstore_write_op_free(op);

  pthread_barrier_destroy(&sh->barrier);
  munmap(sh, sizeof *sh);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_create_exclusive_race,
                                      fixture_setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
