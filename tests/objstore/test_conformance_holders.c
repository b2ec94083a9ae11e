/* Conformance: watchers and locks (objstore.h "watchers and locks"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "conformance.h"

#define HEAD OBJSTORE_SNAP_HEAD
#define EXCL OBJSTORE_LOCK_EXCLUSIVE
#define SHARED OBJSTORE_LOCK_SHARED

static const struct objstore_holder *find(const struct objstore_holder *h,
                                          size_t n, const char *client,
                                          const char *cookie)
{
  for (size_t i = 0; i < n; i++)
    if (h[i].cookie && strcmp(h[i].cookie, cookie) == 0 &&
        strcmp(h[i].client, client) == 0)
      return &h[i];
  return NULL;
}

static void print_holders(const struct objstore_holder *h, size_t n)
{
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, "  holder %s cookie=%s desc=%s tag=%s pid=%d %s\n",
            h[i].client, h[i].cookie ? h[i].cookie : "(null)",
            h[i].desc ? h[i].desc : "(null)", h[i].tag ? h[i].tag : "(null)",
            (int)h[i].pid, h[i].exclusive ? "exclusive" : "shared");
}

/* One holder must match exactly. TAG NULL: not checked (watches). */
static void expect_holder(const struct objstore_holder *h, size_t n,
                          const char *client, const char *cookie,
                          const char *desc, const char *tag, pid_t pid,
                          bool exclusive)
{
  const struct objstore_holder *x = find(h, n, client, cookie);
  if (!x) {
    print_holders(h, n);
    fail_msg("no holder %s with cookie %s", client, cookie);
  }
  assert_non_null(memchr(x->client, '\0', sizeof x->client));
  assert_non_null(x->desc);
  assert_string_equal(x->desc, desc);
  if (tag) {
    assert_non_null(x->tag);
    assert_string_equal(x->tag, tag);
  }
  assert_int_equal(x->pid, pid);
  assert_int_equal(x->exclusive, exclusive);
}

static size_t lockers(struct objstore_pool *p, const char *oid,
                      const char *name, struct objstore_holder **h)
{
  size_t n = 12345;
  *h = NULL;
  assert_ok(objstore_list_lockers(p, oid, name, h, &n));
  return n;
}

static size_t watchers(struct objstore_pool *p, const char *oid,
                       struct objstore_holder **h)
{
  size_t n = 12345;
  *h = NULL;
  assert_ok(objstore_list_watchers(p, oid, h, &n));
  return n;
}

static void expect_no_lockers(struct objstore_pool *p, const char *oid,
                              const char *name)
{
  struct objstore_holder *h = NULL;
  size_t n = 0;
  int r = objstore_list_lockers(p, oid, name, &h, &n);
  if (r == -ENOENT)
    return; /* a lock nobody holds may also be "no such lock" */
  assert_ok(r);
  if (n) {
    print_holders(h, n);
    fail_msg("lock %s of %s still has %zu holders", name, oid, n);
  }
  objstore_holders_free(h, n);
}

static void expect_no_watchers(struct objstore_pool *p, const char *oid)
{
  struct objstore_holder *h = NULL;
  size_t n = watchers(p, oid, &h);
  if (n) {
    print_holders(h, n);
    fail_msg("%s still has %zu watchers", oid, n);
  }
  objstore_holders_free(h, n);
}

static const char *client_of(struct objstore_pool *p,
                             struct objstore_cluster *c)
{
  (void)p;
  return objstore_cluster_client(c);
}

/* ---- watches ------------------------------------------------------------------- */

static void test_watch_basic(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *p = f->pool;
  uint64_t h1 = 0, h2 = 0;
  struct objstore_holder *h = NULL;
  size_t n = 0;
  assert_err(objstore_watch(p, "o", "rw", true, &h1), ENOENT);
  assert_err(objstore_list_watchers(p, "o", &h, &n), ENOENT);
  assert_err(objstore_unwatch(p, "o", 1), ENOENT);

  put_str(p, "o", "header");
  uint64_t v = version_of(p, "o");
  assert_ok(objstore_watch(p, "o", "rw", true, &h1));
  assert_ok(objstore_watch(p, "o", "read only", false, &h2));
  assert_true(h1 != h2);
  n = watchers(p, "o", &h);
  assert_int_equal(n, 2);
  char c1[32], c2[32];
  snprintf(c1, sizeof c1, "%" PRIu64, h1);
  snprintf(c2, sizeof c2, "%" PRIu64, h2);
  const char *me = objstore_cluster_client(f->cluster);
  expect_holder(h, n, me, c1, "rw", NULL, getpid(), true);
  expect_holder(h, n, me, c2, "read only", NULL, getpid(), false);
  objstore_holders_free(h, n);
  /* Watching is not writing. */
  expect_object(p, "o", HEAD, "header", 6);
  assert_int_equal(version_of(p, "o"), v);

  assert_ok(objstore_unwatch(p, "o", h1));
  n = watchers(p, "o", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, me, c2, "read only", NULL, getpid(), false);
  objstore_holders_free(h, n);
  assert_err(objstore_unwatch(p, "o", h1), ENOENT);
  assert_err(objstore_unwatch(p, "o", h1 + h2 + 1000), ENOENT);
  /* A watch belongs to its object. */
  put_str(p, "other", "x");
  assert_err(objstore_unwatch(p, "other", h2), ENOENT);
  assert_ok(objstore_unwatch(p, "o", h2));
  expect_no_watchers(p, "o");
  expect_no_watchers(p, "other");
}

static void test_watch_between_handles(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL, *p3 = NULL;
  put_str(f->pool, "o", "header");
  open_other(f, "", &c2, &p2);
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &p3));
  uint64_t a = 0, b = 0, c = 0;
  assert_ok(objstore_watch(f->pool, "o", "A", true, &a));
  assert_ok(objstore_watch(p2, "o", "B", false, &b));
  assert_ok(objstore_watch(p3, "o", "C", true, &c));
  char ca[32], cb[32], cc[32];
  snprintf(ca, sizeof ca, "%" PRIu64, a);
  snprintf(cb, sizeof cb, "%" PRIu64, b);
  snprintf(cc, sizeof cc, "%" PRIu64, c);
  const char *me = objstore_cluster_client(f->cluster);
  const char *other = objstore_cluster_client(c2);
  struct objstore_holder *h = NULL;
  struct objstore_pool *views[] = {f->pool, p2, p3};
  for (int i = 0; i < 3; i++) {
    size_t n = watchers(views[i], "o", &h);
    assert_int_equal(n, 3);
    expect_holder(h, n, me, ca, "A", NULL, getpid(), true);
    expect_holder(h, n, other, cb, "B", NULL, getpid(), false);
    expect_holder(h, n, me, cc, "C", NULL, getpid(), true);
    objstore_holders_free(h, n);
  }
  /* Closing a pool handle drops its watches, and only those. */
  objstore_pool_close(p3);
  size_t n = watchers(f->pool, "o", &h);
  assert_int_equal(n, 2);
  assert_null(find(h, n, me, cc));
  objstore_holders_free(h, n);
  objstore_pool_close(p2);
  n = watchers(f->pool, "o", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, me, ca, "A", NULL, getpid(), true);
  objstore_holders_free(h, n);
  objstore_cluster_close(c2);
  assert_ok(objstore_unwatch(f->pool, "o", a));
  expect_no_watchers(f->pool, "o");
}

static void test_watch_dead_process(void **state)
{
  struct fixture *f = FX(state);
  put_str(f->pool, "o", "header");
  uint64_t mine = 0;
  assert_ok(objstore_watch(f->pool, "o", "rw", true, &mine));
  struct child ch;
  const char *args[] = {"watch", "o", NULL};
  child_start(&ch, f, "", args);
  char line[256], client[128];
  child_line(&ch, line, sizeof line);
  uint64_t handle = 0;
  assert_int_equal(sscanf(line, "%127s %" SCNu64, client, &handle), 2);
  assert_string_not_equal(client, objstore_cluster_client(f->cluster));
  char cookie[32];
  snprintf(cookie, sizeof cookie, "%" PRIu64, handle);
  struct objstore_holder *h = NULL;
  size_t n = watchers(f->pool, "o", &h);
  assert_int_equal(n, 2);
  expect_holder(h, n, client, cookie, "rw", NULL, ch.pid, true);
  objstore_holders_free(h, n);
  child_kill(&ch);
  n = watchers(f->pool, "o", &h);
  assert_int_equal(n, 1);
  assert_null(find(h, n, client, cookie));
  objstore_holders_free(h, n);

  /* A child that exits normally leaves no watch either. */
  child_start(&ch, f, "", args);
  child_line(&ch, line, sizeof line);
  child_finish(&ch);
  n = watchers(f->pool, "o", &h);
  assert_int_equal(n, 1);
  objstore_holders_free(h, n);
  assert_ok(objstore_unwatch(f->pool, "o", mine));
}

/* ---- locks --------------------------------------------------------------------- */

static void test_lock_exclusive(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *a = f->pool, *b = NULL;
  struct objstore_cluster *cb = NULL;
  struct objstore_holder *h = NULL;
  size_t n = 0;
  assert_err(objstore_lock(a, "o", "lk", EXCL, "c1", "", "mine"), ENOENT);
  assert_err(objstore_list_lockers(a, "o", "lk", &h, &n), ENOENT);
  expect_missing(a, "o", HEAD); /* locking does not create it */

  put_str(a, "o", "header");
  open_other(f, "", &cb, &b);
  const char *ca = client_of(a, f->cluster), *cbn = client_of(b, cb);
  assert_ok(objstore_lock(a, "o", "lk", EXCL, "c1", "", "mine"));
  n = lockers(a, "o", "lk", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, ca, "c1", "mine", "", getpid(), true);
  objstore_holders_free(h, n);
  n = lockers(b, "o", "lk", &h); /* the same seen from the other handle */
  assert_int_equal(n, 1);
  expect_holder(h, n, ca, "c1", "mine", "", getpid(), true);
  objstore_holders_free(h, n);

  /* The same handle and cookie again: EEXIST, whatever the type. */
  assert_err(objstore_lock(a, "o", "lk", EXCL, "c1", "", "mine"), EEXIST);
  assert_err(objstore_lock(a, "o", "lk", SHARED, "c1", "", "mine"), EEXIST);
  /* Another owner: EBUSY, even with the same cookie. */
  assert_err(objstore_lock(b, "o", "lk", EXCL, "c2", "", "theirs"), EBUSY);
  assert_err(objstore_lock(b, "o", "lk", SHARED, "c2", "", "theirs"), EBUSY);
  assert_err(objstore_lock(b, "o", "lk", EXCL, "c1", "", "theirs"), EBUSY);
  n = lockers(a, "o", "lk", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, ca, "c1", "mine", "", getpid(), true);
  objstore_holders_free(h, n);

  /* Unlock: only the holder, only its cookie. */
  assert_err(objstore_unlock(b, "o", "lk", "c1"), ENOENT);
  assert_err(objstore_unlock(a, "o", "lk", "c2"), ENOENT);
  assert_err(objstore_unlock(a, "o", "nolock", "c1"), ENOENT);
  assert_ok(objstore_unlock(a, "o", "lk", "c1"));
  expect_no_lockers(a, "o", "lk");
  assert_err(objstore_unlock(a, "o", "lk", "c1"), ENOENT);

  /* Now the other handle can take it, and this one is busy. */
  assert_ok(objstore_lock(b, "o", "lk", EXCL, "c2", "tag", "theirs"));
  assert_err(objstore_lock(a, "o", "lk", EXCL, "c1", "", "mine"), EBUSY);
  assert_err(objstore_lock(a, "o", "lk", SHARED, "c1", "tag", "mine"), EBUSY);
  n = lockers(a, "o", "lk", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, cbn, "c2", "theirs", "tag", getpid(), true);
  objstore_holders_free(h, n);

  /* Locks are per name and per object. */
  assert_ok(objstore_lock(a, "o", "other", EXCL, "c1", "", "mine"));
  put_str(a, "o2", "x");
  assert_ok(objstore_lock(a, "o2", "lk", EXCL, "c1", "", "mine"));
  n = lockers(b, "o", "other", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, ca, "c1", "mine", "", getpid(), true);
  objstore_holders_free(h, n);
  /* Locking is not writing. */
  expect_object(a, "o", HEAD, "header", 6);
  close_other(cb, b);
}

static void test_lock_shared_tags(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *a = f->pool, *b = NULL;
  struct objstore_cluster *cb = NULL;
  put_str(a, "o", "header");
  open_other(f, "", &cb, &b);
  const char *ca = client_of(a, f->cluster), *cbn = client_of(b, cb);
  assert_ok(objstore_lock(a, "o", "s", SHARED, "a", "t", "da"));
  assert_ok(objstore_lock(b, "o", "s", SHARED, "b", "t", "db"));
  /* Another tag or an exclusive lock conflicts. */
  assert_err(objstore_lock(b, "o", "s", SHARED, "c", "u", "dc"), EBUSY);
  assert_err(objstore_lock(b, "o", "s", EXCL, "d", "t", "dd"), EBUSY);
  assert_err(objstore_lock(a, "o", "s", EXCL, "e", "t", "de"), EBUSY);
  /* More shared holds with the same tag are fine, also on one handle. */
  assert_ok(objstore_lock(a, "o", "s", SHARED, "a2", "t", "da2"));
  assert_err(objstore_lock(a, "o", "s", SHARED, "a2", "t", "da2"), EEXIST);
  struct objstore_holder *h = NULL;
  size_t n = lockers(b, "o", "s", &h);
  assert_int_equal(n, 3);
  expect_holder(h, n, ca, "a", "da", "t", getpid(), false);
  expect_holder(h, n, ca, "a2", "da2", "t", getpid(), false);
  expect_holder(h, n, cbn, "b", "db", "t", getpid(), false);
  objstore_holders_free(h, n);

  assert_ok(objstore_unlock(a, "o", "s", "a"));
  assert_ok(objstore_unlock(a, "o", "s", "a2"));
  /* b alone still holds it shared with tag t. */
  assert_err(objstore_lock(a, "o", "s", SHARED, "x", "u", "dx"), EBUSY);
  n = lockers(a, "o", "s", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, cbn, "b", "db", "t", getpid(), false);
  objstore_holders_free(h, n);
  assert_ok(objstore_unlock(b, "o", "s", "b"));
  expect_no_lockers(a, "o", "s");
  /* Free again: any tag. */
  assert_ok(objstore_lock(a, "o", "s", SHARED, "x", "u", "dx"));
  assert_ok(objstore_lock(b, "o", "s", SHARED, "y", "u", "dy"));
  close_other(cb, b);
}

static void test_break_lock(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *a = f->pool, *b = NULL;
  struct objstore_cluster *cb = NULL;
  put_str(a, "o", "header");
  open_other(f, "", &cb, &b);
  const char *ca = client_of(a, f->cluster), *cbn = client_of(b, cb);
  assert_ok(objstore_lock(a, "o", "lk", EXCL, "c1", "", "mine"));
  assert_err(objstore_break_lock(b, "o", "lk", ca, "wrong"), ENOENT);
  assert_err(objstore_break_lock(b, "o", "lk", cbn, "c1"), ENOENT);
  assert_err(objstore_break_lock(b, "o", "nolock", ca, "c1"), ENOENT);
  assert_ok(objstore_break_lock(b, "o", "lk", ca, "c1"));
  expect_no_lockers(b, "o", "lk");
  assert_ok(objstore_lock(b, "o", "lk", EXCL, "c2", "", "theirs"));
  /* The broken holder no longer holds it. */
  assert_err(objstore_unlock(a, "o", "lk", "c1"), ENOENT);
  assert_err(objstore_lock(a, "o", "lk", EXCL, "c1", "", "mine"), EBUSY);
  assert_ok(objstore_unlock(b, "o", "lk", "c2"));

  /* Breaking one shared hold leaves the others. */
  assert_ok(objstore_lock(a, "o", "s", SHARED, "a", "t", "da"));
  assert_ok(objstore_lock(b, "o", "s", SHARED, "b", "t", "db"));
  assert_ok(objstore_break_lock(a, "o", "s", cbn, "b"));
  struct objstore_holder *h = NULL;
  size_t n = lockers(b, "o", "s", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, ca, "a", "da", "t", getpid(), false);
  objstore_holders_free(h, n);
  assert_err(objstore_unlock(b, "o", "s", "b"), ENOENT);
  /* A holder may break its own lock too. */
  assert_ok(objstore_break_lock(a, "o", "s", ca, "a"));
  expect_no_lockers(a, "o", "s");
  /* On a missing object. */
  assert_err(objstore_break_lock(a, "missing", "s", ca, "a"), ENOENT);
  close_other(cb, b);
}

static void test_holders_vanish_on_pool_close(void **state)
{
  struct fixture *f = FX(state);
  put_str(f->pool, "o", "header");
  /* A second pool handle of the same cluster handle. */
  struct objstore_pool *p3 = NULL;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &p3));
  uint64_t w = 0;
  assert_ok(objstore_lock(p3, "o", "lk", EXCL, "c3", "", "p3"));
  assert_ok(objstore_lock(p3, "o", "sh", SHARED, "c3", "t", "p3"));
  assert_ok(objstore_watch(p3, "o", "p3", true, &w));
  assert_ok(objstore_lock(f->pool, "o", "sh", SHARED, "c1", "t", "p1"));
  objstore_pool_close(p3);
  expect_no_lockers(f->pool, "o", "lk");
  expect_no_watchers(f->pool, "o");
  struct objstore_holder *h = NULL;
  size_t n = lockers(f->pool, "o", "sh", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, objstore_cluster_client(f->cluster), "c1", "p1", "t",
                getpid(), false);
  objstore_holders_free(h, n);
  assert_ok(objstore_lock(f->pool, "o", "lk", EXCL, "c1", "", "p1"));
  assert_ok(objstore_unlock(f->pool, "o", "lk", "c1"));

  /* A pool handle of another cluster handle, closed while its cluster
   * handle stays open. */
  struct objstore_cluster *cb = NULL;
  struct objstore_pool *b = NULL;
  open_other(f, "", &cb, &b);
  assert_ok(objstore_lock(b, "o", "lk", EXCL, "cb", "", "b"));
  assert_ok(objstore_watch(b, "o", "b", false, &w));
  assert_err(objstore_lock(f->pool, "o", "lk", EXCL, "c1", "", "p1"), EBUSY);
  objstore_pool_close(b);
  expect_no_lockers(f->pool, "o", "lk");
  expect_no_watchers(f->pool, "o");
  assert_ok(objstore_lock(f->pool, "o", "lk", EXCL, "c1", "", "p1"));
  /* ...and the cluster handle can open the pool and lock again. */
  assert_ok(objstore_pool_open(cb, f->pool_id, "", &b));
  assert_err(objstore_lock(b, "o", "lk", EXCL, "cb", "", "b"), EBUSY);
  close_other(cb, b);
}

static void test_lock_dead_process(void **state)
{
  struct fixture *f = FX(state);
  put_str(f->pool, "o", "header");
  struct child ch;
  const char *args[] = {"lock", "o", "lk", "x", "kid", "ktag", NULL};
  child_start(&ch, f, "", args);
  char line[256], client[128];
  int pid = 0;
  child_line(&ch, line, sizeof line);
  assert_int_equal(sscanf(line, "%127s %d", client, &pid), 2);
  assert_int_equal(pid, ch.pid);
  assert_string_not_equal(client, objstore_cluster_client(f->cluster));
  struct objstore_holder *h = NULL;
  size_t n = lockers(f->pool, "o", "lk", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, client, "kid", "child", "ktag", ch.pid, true);
  objstore_holders_free(h, n);
  assert_err(objstore_lock(f->pool, "o", "lk", EXCL, "kid", "ktag", "p"),
             EBUSY);
  /* A third process is refused as well. */
  struct child t;
  const char *targs[] = {"trylock", "o", "lk", "s", "t", "ktag", NULL};
  child_start(&t, f, "", targs);
  char res[64];
  child_line(&t, res, sizeof res);
  assert_int_equal(atoi(res), -EBUSY);
  assert_int_equal(child_wait(&t), 0);

  /* kill -9: its lock no longer counts. */
  child_kill(&ch);
  expect_no_lockers(f->pool, "o", "lk");
  assert_ok(objstore_lock(f->pool, "o", "lk", EXCL, "mine", "", "p"));
  n = lockers(f->pool, "o", "lk", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, objstore_cluster_client(f->cluster), "mine", "p", "",
                getpid(), true);
  objstore_holders_free(h, n);
  /* While we hold it, a child cannot take it. */
  const char *targs2[] = {"trylock", "o", "lk", "x", "kid", "", NULL};
  child_start(&t, f, "", targs2);
  child_line(&t, res, sizeof res);
  assert_int_equal(atoi(res), -EBUSY);
  assert_int_equal(child_wait(&t), 0);
  assert_ok(objstore_unlock(f->pool, "o", "lk", "mine"));
  /* A child that exits normally releases its lock too. */
  child_start(&ch, f, "", args);
  child_line(&ch, line, sizeof line);
  child_finish(&ch);
  expect_no_lockers(f->pool, "o", "lk");
  assert_ok(objstore_lock(f->pool, "o", "lk", EXCL, "mine", "", "p"));
}

static void test_lock_limits_and_namespaces(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *a = f->pool, *ns = NULL;
  put_str(a, "o", "header");
  char *longest = repeat('c', OBJSTORE_MAX_COOKIE);
  char *toolong = repeat('c', OBJSTORE_MAX_COOKIE + 1);
  assert_ok(objstore_lock(a, "o", "lk", SHARED, longest, "", "d"));
  assert_err(objstore_lock(a, "o", "lk", SHARED, toolong, "", "d"),
             ENAMETOOLONG);
  struct objstore_holder *h = NULL;
  size_t n = lockers(a, "o", "lk", &h);
  assert_int_equal(n, 1);
  expect_holder(h, n, objstore_cluster_client(f->cluster), longest, "d", "",
                getpid(), false);
  objstore_holders_free(h, n);
  assert_ok(objstore_unlock(a, "o", "lk", longest));

  /* The same object name in another namespace is another object. */
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "ns", &ns));
  uint64_t w = 0;
  assert_err(objstore_lock(ns, "o", "lk", EXCL, "c", "", "d"), ENOENT);
  assert_err(objstore_watch(ns, "o", "d", true, &w), ENOENT);
  put_str(ns, "o", "ns header");
  assert_ok(objstore_lock(a, "o", "lk", EXCL, "c", "", "d"));
  assert_ok(objstore_lock(ns, "o", "lk", EXCL, "c", "", "d"));
  assert_ok(objstore_watch(ns, "o", "d", true, &w));
  expect_no_watchers(a, "o");
  n = lockers(ns, "o", "lk", &h);
  assert_int_equal(n, 1);
  objstore_holders_free(h, n);
  objstore_pool_close(ns);
  free(longest);
  free(toolong);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(int argc, char **argv)
{
  CONFORMANCE_INIT(argc, argv);
  const struct CMUnitTest tests[] = {
      T(test_watch_basic),
      T(test_watch_between_handles),
      T(test_watch_dead_process),
      T(test_lock_exclusive),
      T(test_lock_shared_tags),
      T(test_break_lock),
      T(test_holders_vanish_on_pool_close),
      T(test_lock_dead_process),
      T(test_lock_limits_and_namespaces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
