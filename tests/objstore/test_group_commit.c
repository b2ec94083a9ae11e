/* All-or-nothing ops of many threads at once: the local backend commits
 * the changes of ops that finish together in one transaction (a nested
 * one each), so one op's failure must fail no other, and every op must
 * see exactly its own result.
 *
 * Threads mix write_full, guarded xattr ops, removes, snapshot writes and
 * create_history on objects of their own (checked against a model after
 * every op) and race on shared ones (counters behind xattr guards: the
 * final count is the number of successes; histories: exactly one winner).
 * A thread forks children meanwhile: each opens the cluster anew, makes
 * an object and exits.  Then the pool checks clean.
 *
 * Then LMDB failures, injected by this program's own mdb_txn_begin and
 * mdb_txn_commit (they run before liblmdb's): a group whose transaction
 * cannot begin or commit fails each of its ops with the reason, changes
 * nothing and leaves no file behind. */
#include <dirent.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
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
#include "fixture.h"
#define LMDB_HOOKS_FAIL_COMMITS
#include "lmdb_hooks.h"

#define THREADS 6
#define OWN 6        /* objects of each thread */
#define SHARED 3     /* counters every thread bumps */
#define HISTS 24     /* histories every thread tries to create */
#define SIZE 8192
#define MAXSNAPS 64

/* ---- LMDB failures on request ----------------------------------------- */

static int fail_begins;  /* top-level write transactions to refuse */
/* Remove snapshot hook_snap of hook_pool before the next top-level write
 * transaction begins (once). */
static struct objstore_pool *hook_pool;
static uint64_t hook_snap;

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned flags,
                  MDB_txn **txn)
{
  bool top = !parent && !(flags & MDB_RDONLY);
  struct objstore_pool *hp;
  if (top && (hp = __atomic_exchange_n(&hook_pool, NULL, __ATOMIC_SEQ_CST)))
    objstore_snap_remove(hp, hook_snap);
  if (top && __atomic_load_n(&fail_begins, __ATOMIC_SEQ_CST) > 0 &&
      __atomic_sub_fetch(&fail_begins, 1, __ATOMIC_SEQ_CST) >= 0)
    return EIO;
  int rc = lmdb_real_txn_begin(env, parent, flags, txn);
  if (rc == 0 && top)
    top_write = *txn;
  return rc;
}

static const char *dir_of_cluster;
static int64_t pool_id;

struct snaps {
  pthread_mutex_t mu;
  uint64_t ids[MAXSNAPS]; /* newest first */
  size_t n;
};

struct model {
  bool exists;
  bool clones;     /* snapshots keep a clone: no create_history */
  uint64_t seq;    /* snap seq of its last data change */
  char fill;
  char xv[16];     /* xattr "x", "" if absent */
};

struct job {
  struct objstore_pool *pool;
  struct snaps *snaps;
  int id;
  unsigned seed;
  int rounds;
  int bumps[SHARED];
  int hist_wins[HISTS];
  bool failed;
  char what[512];
};

#define FAIL(j, ...)                                                         \
  do {                                                                       \
    if (!(j)->failed) {                                                      \
      (j)->failed = true;                                                    \
      snprintf((j)->what, sizeof (j)->what, __VA_ARGS__);                    \
    }                                                                        \
  } while (0)

static void snapc_now(struct snaps *s, struct objstore_snapc *sc,
                      uint64_t *ids)
{
  pthread_mutex_lock(&s->mu);
  memcpy(ids, s->ids, s->n * sizeof *ids);
  sc->nsnaps = s->n;
  sc->seq = s->n ? s->ids[0] : 0;
  sc->snaps = ids;
  pthread_mutex_unlock(&s->mu);
}

static void check_own(struct job *j, const char *oid, const struct model *m)
{
  static _Thread_local char buf[SIZE];
  ssize_t n = objstore_read(j->pool, oid, OBJSTORE_SNAP_HEAD, 0, SIZE, buf);
  if (!m->exists) {
    if (n != -ENOENT)
      FAIL(j, "%s: read gave %zd, want ENOENT", oid, n);
    return;
  }
  if (n != SIZE) {
    FAIL(j, "%s: read gave %zd (%s)", oid, n, lbd_last_error());
    return;
  }
  for (size_t k = 0; k < SIZE; k++)
    if (buf[k] != m->fill) {
      FAIL(j, "%s: byte %zu is %d, want %d", oid, k, buf[k], m->fill);
      return;
    }
  void *v = NULL;
  size_t len = 0;
  int r = objstore_getxattr(j->pool, oid, "x", &v, &len);
  if (m->xv[0] ? (r < 0 || len != strlen(m->xv) || memcmp(v, m->xv, len))
               : r != -ENOENT)
    FAIL(j, "%s: xattr x is %d '%.*s', want '%s'", oid, r,
         r < 0 ? 0 : (int)len, r < 0 ? "" : (char *)v, m->xv);
  free(v);
}

static void own_op(struct job *j, int i, struct model *m)
{
  char oid[64], data[SIZE];
  snprintf(oid, sizeof oid, "own.%d.%d", j->id, i);
  int what = rand_r(&j->seed) % 6;
  char fill = (char)('a' + rand_r(&j->seed) % 26);
  memset(data, fill, sizeof data);
  uint64_t ids[MAXSNAPS];
  struct objstore_snapc sc;
  snapc_now(j->snaps, &sc, ids);
  int r;
  switch (what) {
  case 0: { /* write_full + setxattr behind a guard that holds */
    struct objstore_write_op *op = objstore_write_op_new();
    objstore_write_op_cmp_xattr(op, "x", OBJSTORE_CMP_EQ, m->xv,
                                strlen(m->xv));
    objstore_write_op_write_full(op, data, sizeof data);
    char xv[16];
    snprintf(xv, sizeof xv, "v%d", rand_r(&j->seed) % 1000);
    objstore_write_op_setxattr(op, "x", xv, strlen(xv));
    r = objstore_write_op_operate(j->pool, oid, op, &sc, 0);
    objstore_write_op_free(op);
    if (r < 0) {
      FAIL(j, "%s: guarded write_full: %s", oid, lbd_last_error());
      return;
    }
    if (m->exists && sc.seq > m->seq)
      m->clones = true; /* a clone for the snaps since its last change */
    m->exists = true;
    m->fill = fill;
    m->seq = sc.seq > m->seq ? sc.seq : m->seq;
    snprintf(m->xv, sizeof m->xv, "%s", xv);
    break;
  }
  case 1: { /* the same behind a guard that fails: nothing changes */
    struct objstore_write_op *op = objstore_write_op_new();
    objstore_write_op_cmp_xattr(op, "x", OBJSTORE_CMP_EQ, "nope", 4);
    objstore_write_op_write_full(op, data, sizeof data);
    objstore_write_op_setxattr(op, "x", "bad", 3);
    r = objstore_write_op_operate(j->pool, oid, op, &sc, 0);
    objstore_write_op_free(op);
    if (r != -ECANCELED)
      FAIL(j, "%s: failing guard gave %d", oid, r);
    break;
  }
  case 2: /* remove */
    r = objstore_remove(j->pool, oid, &sc);
    if (r != (m->exists ? 0 : -ENOENT)) {
      FAIL(j, "%s: remove gave %d (%s)", oid, r, lbd_last_error());
      return;
    }
    if (m->exists) {
      if (sc.seq > m->seq)
        m->clones = true;
      m->exists = false;
      m->xv[0] = '\0';
      m->seq = sc.seq > m->seq ? sc.seq : m->seq;
    }
    break;
  case 3: { /* create_history: only where no record is left */
    struct objstore_extent ext = {0, SIZE};
    struct objstore_history_state st = {.exists = true, .buf = data,
                                        .size = SIZE, .data = &ext,
                                        .ndata = 1};
    r = objstore_create_history(j->pool, oid, &st, 1, sc.seq);
    bool clean = !m->exists && !m->clones;
    if (r != (clean ? 0 : -EEXIST)) {
      FAIL(j, "%s: create_history gave %d (%s), model %s", oid, r,
           lbd_last_error(), clean ? "clean" : "taken");
      return;
    }
    if (r == 0) {
      m->exists = true;
      m->fill = fill;
      m->seq = sc.seq;
      m->xv[0] = '\0';
    }
    break;
  }
  case 4: /* rmxattr of a present or missing xattr, exclusive create */
    if (m->exists) {
      struct objstore_write_op *op = objstore_write_op_new();
      objstore_write_op_create(op, true);
      r = objstore_write_op_operate(j->pool, oid, op, &sc, 0);
      objstore_write_op_free(op);
      if (r != -EEXIST)
        FAIL(j, "%s: exclusive create of an existing object gave %d", oid, r);
      op = objstore_write_op_new();
      objstore_write_op_rmxattr(op, "x");
      r = objstore_write_op_operate(j->pool, oid, op, &sc, 0);
      objstore_write_op_free(op);
      if (r < 0)
        FAIL(j, "%s: rmxattr: %s", oid, lbd_last_error());
      m->xv[0] = '\0';
    }
    break;
  default: /* a snapshot write of the whole object (in place or not) */
    if (m->exists) {
      r = objstore_write(j->pool, oid, &sc, 0, data, sizeof data);
      if (r < 0) {
        FAIL(j, "%s: write: %s", oid, lbd_last_error());
        return;
      }
      if (sc.seq > m->seq)
        m->clones = true;
      m->fill = fill;
      m->seq = sc.seq > m->seq ? sc.seq : m->seq;
    }
    break;
  }
  check_own(j, oid, m);
}

/* Bump shared counter K by one if nobody else did meanwhile. */
static void shared_op(struct job *j, int k)
{
  char oid[32];
  snprintf(oid, sizeof oid, "counter.%d", k);
  void *v = NULL;
  size_t len = 0;
  int r = objstore_getxattr(j->pool, oid, "n", &v, &len);
  if (r < 0 && r != -ENOENT) {
    FAIL(j, "%s: getxattr: %s", oid, lbd_last_error());
    return;
  }
  long n = r < 0 ? 0 : strtol(v, NULL, 10);
  char now[24], next[24];
  snprintf(now, sizeof now, "%ld", n);
  snprintf(next, sizeof next, "%ld", n + 1);
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_cmp_xattr(op, "n", OBJSTORE_CMP_EQ, r < 0 ? "" : now,
                              r < 0 ? 0 : strlen(now));
  objstore_write_op_setxattr(op, "n", next, strlen(next));
  objstore_write_op_write_full(op, next, strlen(next));
  r = objstore_write_op_operate(j->pool, oid, op, NULL, 0);
  objstore_write_op_free(op);
  free(v);
  if (r == 0)
    j->bumps[k]++;
  else if (r != -ECANCELED)
    FAIL(j, "%s: bump: %d %s", oid, r, lbd_last_error());
}

static void hist_op(struct job *j, int h)
{
  char oid[32], data[SIZE];
  snprintf(oid, sizeof oid, "hist.%d", h);
  memset(data, 'A' + j->id, sizeof data);
  struct objstore_extent ext = {0, SIZE};
  struct objstore_history_state st = {.exists = true, .buf = data,
                                      .size = SIZE, .data = &ext, .ndata = 1};
  int r = objstore_create_history(j->pool, oid, &st, 1, 0);
  if (r == 0)
    j->hist_wins[h]++;
  else if (r != -EEXIST)
    FAIL(j, "%s: create_history: %d %s", oid, r, lbd_last_error());
}

static void *run(void *arg)
{
  struct job *j = arg;
  struct model m[OWN] = {0};
  for (int round = 0; round < j->rounds && !j->failed; round++) {
    int i = rand_r(&j->seed) % OWN;
    own_op(j, i, &m[i]);
    shared_op(j, rand_r(&j->seed) % SHARED);
    if (round < HISTS)
      hist_op(j, (round + j->id) % HISTS);
  }
  return NULL;
}

struct forker {
  struct snaps *snaps;
  struct objstore_pool *pool;
  volatile bool stop;
  int forks;
  bool failed;
  char what[256];
};

/* Snapshots and forks while the others commit. */
static void *snap_and_fork(void *arg)
{
  struct forker *fk = arg;
  int i = 0;
  while (!fk->stop && !fk->failed) {
    uint64_t id;
    if (i % 2 == 0 && fk->snaps->n < MAXSNAPS) {
      if (objstore_snap_create(fk->pool, &id) < 0) {
        fk->failed = true;
        snprintf(fk->what, sizeof fk->what, "snap create: %s",
                 lbd_last_error());
        break;
      }
      pthread_mutex_lock(&fk->snaps->mu);
      memmove(fk->snaps->ids + 1, fk->snaps->ids,
              fk->snaps->n * sizeof *fk->snaps->ids);
      fk->snaps->ids[0] = id;
      fk->snaps->n++;
      pthread_mutex_unlock(&fk->snaps->mu);
    } else {
      char oid[32], pid_s[24];
      snprintf(oid, sizeof oid, "child.%d", i);
      snprintf(pid_s, sizeof pid_s, "%lld", (long long)pool_id);
      char *const argv[] = {"child", (char *)dir_of_cluster, pid_s, oid, NULL};
      /* The child runs this program anew: between fork and exec it may
       * call nothing that takes a lock (ASan's malloc is not fork-safe). */
      pid_t pid = fork();
      if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
      }
      int status = 0;
      if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0) {
        fk->failed = true;
        snprintf(fk->what, sizeof fk->what, "child %d failed: status %#x",
                 i, status);
        break;
      }
      fk->forks++;
    }
    i++;
    usleep(2000);
  }
  return NULL;
}

static void mixed_ops(void **state)
{
  struct fixture *f = *state;
  dir_of_cluster = f->dir;
  pool_id = f->pool_id;
  struct snaps snaps = {.mu = PTHREAD_MUTEX_INITIALIZER};
  struct objstore_pool *pools[THREADS];
  pthread_t th[THREADS], fth;
  static struct job jobs[THREADS];
  int rounds = getenv("LBD_GROUP_ROUNDS") ? atoi(getenv("LBD_GROUP_ROUNDS"))
                                          : 150;
  struct forker fk = {.snaps = &snaps, .pool = f->pool};
  for (int t = 0; t < THREADS; t++) {
    if (t % 3 == 2)
      assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &pools[t]));
    else
      pools[t] = f->pool;
    jobs[t] = (struct job){.pool = pools[t], .snaps = &snaps, .id = t,
                           .seed = (unsigned)(time(NULL) * 31 + t),
                           .rounds = rounds};
  }
  assert_int_equal(pthread_create(&fth, NULL, snap_and_fork, &fk), 0);
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, run, &jobs[t]), 0);
  for (int t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  fk.stop = true;
  pthread_join(fth, NULL);
  for (int t = 0; t < THREADS; t++)
    if (jobs[t].failed)
      fail_msg("thread %d (seed %u): %s", t, jobs[t].seed, jobs[t].what);
  if (fk.failed)
    fail_msg("%s", fk.what);
  assert_true(fk.forks > 0);

  for (int k = 0; k < SHARED; k++) {
    int total = 0;
    for (int t = 0; t < THREADS; t++)
      total += jobs[t].bumps[k];
    char oid[32], want[24], buf[24];
    snprintf(oid, sizeof oid, "counter.%d", k);
    snprintf(want, sizeof want, "%d", total);
    if (total == 0)
      continue;
    void *v;
    size_t len;
    assert_ok(objstore_getxattr(f->pool, oid, "n", &v, &len));
    assert_string_equal((char *)v, want);
    free(v);
    ssize_t n = objstore_read(f->pool, oid, OBJSTORE_SNAP_HEAD, 0, sizeof buf,
                              buf);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
  }
  for (int h = 0; h < HISTS; h++) {
    int wins = 0;
    for (int t = 0; t < THREADS; t++)
      wins += jobs[t].hist_wins[h];
    if (wins != 1)
      fail_msg("hist.%d: %d winners", h, wins);
  }
  for (int t = 0; t < THREADS; t++)
    if (t % 3 == 2)
      objstore_pool_close(pools[t]);
  struct objstore_check_report rep = {0};
  assert_ok(objstore_flush(f->pool));
  assert_ok(objstore_pool_check(f->pool, false, &rep));
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
}

static size_t data_file_count(const struct fixture *f)
{
  struct objstore_check_report rep = {0};
  assert_ok(objstore_pool_check(f->pool, false, &rep));
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
  return rep.objects;
}

static void expect_data(struct objstore_pool *p, const char *oid,
                        const char *want)
{
  char buf[64];
  ssize_t n = objstore_read(p, oid, OBJSTORE_SNAP_HEAD, 0, sizeof buf, buf);
  if (!want) {
    assert_int_equal(n, -ENOENT);
    return;
  }
  assert_int_equal(n, (ssize_t)strlen(want));
  assert_memory_equal(buf, want, strlen(want));
}

static void expect_failed(int r, const char *reason)
{
  assert_int_equal(r, -EIO);
  if (!strstr(lbd_last_error(), reason))
    fail_msg("error '%s' does not say '%s'", lbd_last_error(), reason);
}

/* A group whose transaction cannot begin, or cannot commit: each kind of
 * all-or-nothing op fails with the reason, and nothing changed. */
static void injected_failures(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *p = f->pool;
  assert_ok(objstore_write_full(p, "old", NULL, "before", 6));
  uint64_t objects = data_file_count(f);
  char data[SIZE];
  memset(data, 'h', sizeof data);
  struct objstore_extent ext = {0, SIZE};
  struct objstore_history_state st = {.exists = true, .buf = data,
                                      .size = SIZE, .data = &ext, .ndata = 1};
  static const char *const reasons[] = {"starting a metadata transaction",
                                        "committing metadata"};
  for (int k = 0; k < 2; k++) {
    int *knob = k == 0 ? &fail_begins : &fail_commits;
    *knob = 1;
    expect_failed(objstore_write_full(p, "old", NULL, "after", 5), reasons[k]);
    *knob = 1;
    expect_failed(objstore_write_full(p, "new", NULL, "after", 5), reasons[k]);
    *knob = 1; /* a plain write to a missing object creates it empty first */
    expect_failed(objstore_write(p, "new", NULL, 0, "after", 5), reasons[k]);
    *knob = 1;
    expect_failed(objstore_setxattr(p, "old", "k", "v", 1), reasons[k]);
    *knob = 1;
    expect_failed(objstore_create_history(p, "hist", &st, 1, 0), reasons[k]);
    assert_int_equal(*knob, 0);
    expect_data(p, "old", "before");
    expect_data(p, "new", NULL);
    expect_data(p, "hist", NULL);
    assert_int_equal(objstore_getxattr(p, "old", "k", &(void *){NULL},
                                       &(size_t){0}), -ENOENT);
    assert_int_equal(data_file_count(f), objects);
  }
  /* and then all is well */
  assert_ok(objstore_write_full(p, "old", NULL, "after", 5));
  assert_ok(objstore_create_history(p, "hist", &st, 1, 0));
  expect_data(p, "old", "after");
}

struct writer {
  struct objstore_pool *pool;
  int id;
  int ok, failed;
  char what[256];
};

static void *write_many(void *arg)
{
  struct writer *w = arg;
  char last[8][32] = {{0}}; /* what each object holds: "" for nothing */
  for (int i = 0; i < 200; i++) {
    char oid[32], val[32], buf[32];
    snprintf(oid, sizeof oid, "w.%d.%d", w->id, i % 8);
    snprintf(val, sizeof val, "%d.%d", w->id, i);
    int r = objstore_write_full(w->pool, oid, NULL, val, strlen(val));
    if (r == 0) {
      w->ok++;
      snprintf(last[i % 8], sizeof last[i % 8], "%s", val);
    } else if (r != -EIO || !strstr(lbd_last_error(), "committing metadata")) {
      snprintf(w->what, sizeof w->what, "%s: %d %s", oid, r, lbd_last_error());
      return NULL;
    } else {
      w->failed++;
    }
    ssize_t n = objstore_read(w->pool, oid, OBJSTORE_SNAP_HEAD, 0, sizeof buf,
                              buf);
    const char *want = last[i % 8];
    if (want[0] ? n != (ssize_t)strlen(want) || memcmp(buf, want, (size_t)n)
                : n != -ENOENT) {
      snprintf(w->what, sizeof w->what, "%s: reads %zd '%.*s', want '%s'",
               oid, n, n > 0 ? (int)n : 0, buf, want);
      return NULL;
    }
  }
  return NULL;
}

/* Threads committing together while some commits fail: every op that
 * failed left its object as it was, every other one is there. */
static void failures_in_groups(void **state)
{
  struct fixture *f = *state;
  pthread_t th[4];
  struct writer w[4];
  for (int t = 0; t < 4; t++) {
    w[t] = (struct writer){.pool = f->pool, .id = t};
    assert_int_equal(pthread_create(&th[t], NULL, write_many, &w[t]), 0);
  }
  int failures = 0;
  for (int i = 0; i < 20; i++) {
    __atomic_store_n(&fail_commits, 1, __ATOMIC_SEQ_CST);
    usleep(5000);
  }
  for (int t = 0; t < 4; t++) {
    pthread_join(th[t], NULL);
    if (w[t].what[0])
      fail_msg("writer %d: %s", t, w[t].what);
    failures += w[t].failed;
  }
  fail_commits = 0;
  assert_true(failures > 0);
  data_file_count(f);
}

/* A child of snap_and_fork: make an object through a handle of its own. */
static int child_main(const char *dir, int64_t id, const char *oid)
{
  struct objstore_cluster *c;
  struct objstore_pool *p;
  char buf[16];
  alarm(20);
  int r = objstore_cluster_open(dir, &c);
  if (r == 0 && (r = objstore_pool_open(c, id, "", &p)) == 0) {
    r = objstore_write_full(p, oid, NULL, "child", 5);
    if (r == 0 &&
        objstore_read(p, oid, OBJSTORE_SNAP_HEAD, 0, sizeof buf, buf) != 5)
      r = -EIO;
    objstore_pool_close(p);
  }
  if (r == 0)
    objstore_cluster_close(c);
  if (r < 0)
    fprintf(stderr, "child: %s\n", lbd_last_error());
  return r == 0 ? 0 : 1;
}

static int count_data_files(const struct fixture *f)
{
  struct objstore_pool_info info;
  assert_ok(objstore_pool_get_info(f->cluster, f->pool_id, &info));
  int n = 0;
  for (int i = 0; i < 256; i++) {
    char d[600];
    snprintf(d, sizeof d, "%s/data/%02x", info.path, i);
    DIR *dir = opendir(d);
    if (!dir)
      continue;
    struct dirent *e;
    while ((e = readdir(dir)))
      n += e->d_name[0] != '.';
    closedir(dir);
  }
  free(info.path);
  return n;
}

/* A history state whose snapshot goes between its file's making and the
 * commit: the commit buries the file, and the handle unlinks it as it
 * does every file it buried (here at close). */
static void history_snap_gone(void **state)
{
  struct fixture *f = *state;
  uint64_t s1;
  assert_ok(objstore_snap_create(f->pool, &s1));
  char a[SIZE], b[SIZE];
  memset(a, 'a', sizeof a);
  memset(b, 'b', sizeof b);
  struct objstore_extent ext = {0, SIZE};
  struct objstore_history_state st[2] = {
      {.snaps = &s1, .nsnaps = 1, .exists = true, .buf = a, .size = SIZE,
       .data = &ext, .ndata = 1},
      {.exists = true, .buf = b, .size = SIZE, .data = &ext, .ndata = 1}};
  hook_snap = s1;
  __atomic_store_n(&hook_pool, f->pool, __ATOMIC_SEQ_CST);
  assert_ok(objstore_create_history(f->pool, "h", st, 2, s1));
  assert_null(hook_pool);
  char buf[SIZE];
  assert_int_equal(objstore_read(f->pool, "h", OBJSTORE_SNAP_HEAD, 0, SIZE,
                                 buf), SIZE);
  assert_memory_equal(buf, b, SIZE);
  objstore_pool_close(f->pool); /* no spare files either after this */
  int files = count_data_files(f);
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &f->pool));
  assert_int_equal(files, 1);
}

int main(int argc, char **argv)
{
  if (argc == 4 && strcmp(argv[0], "child") == 0)
    return child_main(argv[1], strtoll(argv[2], NULL, 10), argv[3]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(mixed_ops, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(injected_failures, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(failures_in_groups, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(history_snap_gone, fixture_setup,
                                      fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
