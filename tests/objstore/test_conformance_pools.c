/* Conformance: clusters and pools (objstore.h "cluster" and "pools"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

#include "conformance.h"

static bool backend_is_local(void)
{
  const char *b = getenv("LBD_TEST_BACKEND");
  return !b || !*b || strcmp(b, "local") == 0;
}

static char *path_join(const char *a, const char *b)
{
  char *p = NULL;
  assert_true(asprintf(&p, "%s/%s", a, b) > 0);
  return p;
}

static void write_file(const char *path, const char *text)
{
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  assert_int_equal(fclose(fp), 0);
}

static void expect_file(const char *path, const char *text)
{
  char buf[256] = {0};
  FILE *fp = fopen(path, "r");
  if (!fp)
    fail_msg("%s is gone", path);
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  assert_string_equal(buf, text);
}

static bool is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Number of entries in DIR other than . and .. (-1 if it does not exist). */
static int dir_entries(const char *dir)
{
  char *cmd = NULL;
  assert_true(asprintf(&cmd, "ls -A '%s' 2>/dev/null | wc -l", dir) > 0);
  if (!is_dir(dir)) {
    free(cmd);
    return -1;
  }
  FILE *p = popen(cmd, "r");
  free(cmd);
  assert_non_null(p);
  int n = -1;
  assert_int_equal(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

static uint64_t du_total;
static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
  (void)path; (void)ftw;
  if (flag == FTW_F)
    du_total += (uint64_t)st->st_blocks * 512;
  return 0;
}

/* Bytes allocated by the files under DIR. */
static uint64_t du(const char *dir)
{
  du_total = 0;
  nftw(dir, du_one, 16, FTW_PHYS);
  return du_total;
}

static bool same_path(const char *a, const char *b)
{
  char ra[PATH_MAX], rb[PATH_MAX];
  if (!realpath(a, ra) || !realpath(b, rb))
    return false;
  return strcmp(ra, rb) == 0;
}

/* ---- cluster -------------------------------------------------------------- */

static void test_cluster_create_and_open_errors(void **state)
{
  (void)state;
  char *tmp = fixture_mkdtemp("conf-cluster");
  assert_non_null(tmp);
  struct objstore_cluster *c = NULL;

  /* DIR is made if missing. */
  char *dir = path_join(tmp, "c");
  assert_ok(objstore_cluster_create(dir));
  assert_true(is_dir(dir));
  /* Not again: the directory is no longer empty. */
  error_sentinel();
  int r = objstore_cluster_create(dir);
  if (r != -EEXIST && r != -ENOTEMPTY)
    fail_msg("second cluster_create = %d, expected -EEXIST or -ENOTEMPTY", r);
  assert_fresh_error("cluster_create");
  /* ...and the first one still works. */
  assert_ok(objstore_cluster_open(dir, &c));
  objstore_cluster_close(c);
  c = NULL;

  /* An existing empty directory is fine. */
  char *empty = path_join(tmp, "empty");
  assert_int_equal(mkdir(empty, 0700), 0);
  assert_ok(objstore_cluster_create(empty));
  assert_ok(objstore_cluster_open(empty, &c));
  objstore_cluster_close(c);
  c = NULL;

  /* A non-empty directory is refused and left alone. */
  char *full = path_join(tmp, "full");
  assert_int_equal(mkdir(full, 0700), 0);
  char *stray = path_join(full, "stray.txt");
  write_file(stray, "mine");
  error_sentinel();
  r = objstore_cluster_create(full);
  if (r != -EEXIST && r != -ENOTEMPTY)
    fail_msg("cluster_create(non-empty) = %d, expected -EEXIST or -ENOTEMPTY",
             r);
  assert_fresh_error("cluster_create");
  expect_file(stray, "mine");
  assert_int_equal(dir_entries(full), 1);

  /* A regular file is not a directory. */
  assert_fails(objstore_cluster_create(stray));
  expect_file(stray, "mine");

  /* Opening: missing directory, empty directory, not a cluster. */
  char *missing = path_join(tmp, "missing");
  c = NULL;
  assert_err(objstore_cluster_open(missing, &c), ENOENT);
  assert_false(is_dir(missing));
  char *bare = path_join(tmp, "bare");
  assert_int_equal(mkdir(bare, 0700), 0);
  assert_fails(objstore_cluster_open(bare, &c));
  assert_fails(objstore_cluster_open(full, &c));
  assert_fails(objstore_cluster_open(stray, &c));

  free(missing);
  free(bare);
  free(stray);
  free(full);
  free(empty);
  free(dir);
  fixture_rm_rf(tmp);
  free(tmp);
}

static void test_cluster_client_names(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_cluster *c2 = NULL, *c3 = NULL;
  assert_ok(objstore_cluster_open(f->dir, &c2));
  assert_ok(objstore_cluster_open(f->dir, &c3));
  const char *n1 = objstore_cluster_client(f->cluster);
  const char *n2 = objstore_cluster_client(c2);
  const char *n3 = objstore_cluster_client(c3);
  assert_non_null(n1);
  assert_non_null(n2);
  assert_non_null(n3);
  char prefix[64];
  snprintf(prefix, sizeof prefix, "client.%d.", (int)getpid());
  assert_true(strncmp(n1, prefix, strlen(prefix)) == 0);
  assert_true(strncmp(n2, prefix, strlen(prefix)) == 0);
  assert_true(strncmp(n3, prefix, strlen(prefix)) == 0);
  assert_true(strlen(n1) > strlen(prefix));
  assert_true(strlen(n1) < 64); /* fits objstore_holder.client */
  assert_string_not_equal(n1, n2);
  assert_string_not_equal(n1, n3);
  assert_string_not_equal(n2, n3);
  /* The name stays stable for the life of the handle. */
  char keep[64];
  snprintf(keep, sizeof keep, "%s", n3);
  objstore_cluster_close(c2);
  assert_string_equal(objstore_cluster_client(c3), keep);
  /* A new handle gets a name no live handle has. */
  assert_ok(objstore_cluster_open(f->dir, &c2));
  assert_string_not_equal(objstore_cluster_client(c2), keep);
  assert_string_not_equal(objstore_cluster_client(c2),
                          objstore_cluster_client(f->cluster));
  objstore_cluster_close(c2);
  objstore_cluster_close(c3);
}

/* ---- pools ---------------------------------------------------------------- */

static void test_pool_create_lookup_list_info(void **state)
{
  struct fixture *f = FX(state);
  int64_t id = -1;
  assert_ok(objstore_pool_lookup(f->cluster, "test", &id));
  assert_int_equal(id, f->pool_id);

  int64_t a = -1, b = -1;
  assert_ok(objstore_pool_create(f->cluster, "alpha", NULL, &a));
  assert_ok(objstore_pool_create(f->cluster, "beta", NULL, &b));
  assert_true(a != f->pool_id && b != f->pool_id && a != b);
  assert_ok(objstore_pool_lookup(f->cluster, "alpha", &id));
  assert_int_equal(id, a);
  assert_ok(objstore_pool_lookup(f->cluster, "beta", &id));
  assert_int_equal(id, b);

  struct objstore_pool_info info;
  memset(&info, 0, sizeof info);
  assert_ok(objstore_pool_get_info(f->cluster, a, &info));
  assert_int_equal(info.id, a);
  assert_string_equal(info.name, "alpha");
  assert_true(info.backend[0] != '\0');
  assert_non_null(memchr(info.backend, '\0', sizeof info.backend));
  if (backend_is_local()) {
    assert_string_equal(info.backend, "local");
    assert_non_null(info.path);
    assert_true(is_dir(info.path));
  }
  free(info.path);

  struct objstore_pool_info *infos = NULL;
  size_t n = 0;
  assert_ok(objstore_pool_list(f->cluster, &infos, &n));
  assert_int_equal(n, 3);
  for (size_t i = 1; i < n; i++)
    assert_true(infos[i - 1].id < infos[i].id);
  for (size_t i = 0; i < n; i++) {
    const char *want = infos[i].id == f->pool_id ? "test"
                       : infos[i].id == a        ? "alpha"
                       : infos[i].id == b        ? "beta"
                                                 : NULL;
    if (!want)
      fail_msg("pool_list: unexpected id %" PRId64, infos[i].id);
    assert_string_equal(infos[i].name, want);
    assert_true(infos[i].backend[0] != '\0');
    if (backend_is_local())
      assert_true(infos[i].path && is_dir(infos[i].path));
  }
  /* Pools with their data in the cluster directory live in distinct places. */
  if (backend_is_local())
    for (size_t i = 0; i < n; i++)
      for (size_t j = i + 1; j < n; j++)
        assert_false(same_path(infos[i].path, infos[j].path));
  objstore_pool_info_free(infos, n);
}

static void test_pool_name_errors(void **state)
{
  struct fixture *f = FX(state);
  int64_t id = -1;

  assert_err(objstore_pool_create(f->cluster, "test", NULL, &id), EEXIST);
  assert_err(objstore_pool_lookup(f->cluster, "nope", &id), ENOENT);
  assert_err(objstore_pool_lookup(f->cluster, "tes", &id), ENOENT);
  assert_err(objstore_pool_lookup(f->cluster, "test2", &id), ENOENT);

  char *longest = repeat('p', OBJSTORE_MAX_POOL_NAME);
  char *toolong = repeat('q', OBJSTORE_MAX_POOL_NAME + 1);
  int64_t lid = -1;
  assert_ok(objstore_pool_create(f->cluster, longest, NULL, &lid));
  assert_ok(objstore_pool_lookup(f->cluster, longest, &id));
  assert_int_equal(id, lid);
  struct objstore_pool_info info;
  memset(&info, 0, sizeof info);
  assert_ok(objstore_pool_get_info(f->cluster, lid, &info));
  assert_string_equal(info.name, longest);
  free(info.path);
  assert_err(objstore_pool_create(f->cluster, toolong, NULL, &id),
             ENAMETOOLONG);
  assert_err(objstore_pool_create(f->cluster, "", NULL, &id), EINVAL);

  /* Nothing was made by the failed calls. */
  struct objstore_pool_info *infos = NULL;
  size_t n = 0;
  assert_ok(objstore_pool_list(f->cluster, &infos, &n));
  assert_int_equal(n, 2);
  objstore_pool_info_free(infos, n);
  free(longest);
  free(toolong);
}

static void test_pool_unknown_ids(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool_info info;
  struct objstore_pool *p = NULL;
  int64_t bad[] = {f->pool_id + 1000, -1, 0x7fffffffffffLL};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (bad[i] == f->pool_id)
      continue;
    memset(&info, 0, sizeof info);
    assert_err(objstore_pool_get_info(f->cluster, bad[i], &info), ENOENT);
    assert_err(objstore_pool_open(f->cluster, bad[i], "", &p), ENOENT);
    assert_err(objstore_pool_open(f->cluster, bad[i], "ns", &p), ENOENT);
  }
  assert_err(objstore_pool_remove(f->cluster, "nope"), ENOENT);
}

static void test_pool_open_namespaces(void **state)
{
  struct fixture *f = FX(state);
  assert_int_equal(objstore_pool_id(f->pool), f->pool_id);
  assert_string_equal(objstore_pool_ns(f->pool), "");

  struct objstore_pool *p = NULL;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "space", &p));
  assert_int_equal(objstore_pool_id(p), f->pool_id);
  assert_string_equal(objstore_pool_ns(p), "space");
  objstore_pool_close(p);

  char *longest = repeat('n', OBJSTORE_MAX_NS);
  char *toolong = repeat('n', OBJSTORE_MAX_NS + 1);
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, longest, &p));
  assert_string_equal(objstore_pool_ns(p), longest);
  put_str(p, "o", "in the longest namespace");
  expect_object(p, "o", OBJSTORE_SNAP_HEAD, "in the longest namespace", 24);
  objstore_pool_close(p);
  p = NULL;
  assert_err(objstore_pool_open(f->cluster, f->pool_id, toolong, &p),
             ENAMETOOLONG);
  free(longest);
  free(toolong);

  /* Pools are separate object spaces. */
  int64_t other = -1;
  assert_ok(objstore_pool_create(f->cluster, "other", NULL, &other));
  assert_ok(objstore_pool_open(f->cluster, other, "", &p));
  assert_int_equal(objstore_pool_id(p), other);
  put_str(f->pool, "same", "in test");
  put_str(p, "same", "in other pool");
  expect_object(f->pool, "same", OBJSTORE_SNAP_HEAD, "in test", 7);
  expect_object(p, "same", OBJSTORE_SNAP_HEAD, "in other pool", 13);
  expect_missing(p, "o", OBJSTORE_SNAP_HEAD);
  assert_ok(objstore_flush(p));
  assert_ok(objstore_flush(f->pool));
  objstore_pool_close(p);
}

static void test_pool_remove(void **state)
{
  struct fixture *f = FX(state);
  int64_t id = -1, id2 = -1;
  assert_ok(objstore_pool_create(f->cluster, "doomed", NULL, &id));
  struct objstore_pool_info info;
  memset(&info, 0, sizeof info);
  assert_ok(objstore_pool_get_info(f->cluster, id, &info));
  char *path = info.path;

  struct objstore_pool *p = NULL, *q = NULL;
  assert_ok(objstore_pool_open(f->cluster, id, "", &p));
  assert_ok(objstore_pool_open(f->cluster, id, "ns", &q));
  void *big = filled(300000, 1);
  put(p, "a", big, 300000);
  put_str(q, "b", "bee");
  assert_ok(objstore_setxattr(p, "a", "x", "y", 1));
  assert_ok(objstore_omap_set(p, "a", "k", "v", 1));
  objstore_pool_close(p);
  objstore_pool_close(q);

  assert_ok(objstore_pool_remove(f->cluster, "doomed"));
  assert_err(objstore_pool_lookup(f->cluster, "doomed", &id2), ENOENT);
  memset(&info, 0, sizeof info);
  assert_err(objstore_pool_get_info(f->cluster, id, &info), ENOENT);
  assert_err(objstore_pool_open(f->cluster, id, "", &p), ENOENT);
  assert_err(objstore_pool_remove(f->cluster, "doomed"), ENOENT);
  struct objstore_pool_info *infos = NULL;
  size_t n = 0;
  assert_ok(objstore_pool_list(f->cluster, &infos, &n));
  assert_int_equal(n, 1);
  assert_int_equal(infos[0].id, f->pool_id);
  objstore_pool_info_free(infos, n);
  /* Its data is gone from disk. */
  if (backend_is_local() && path && is_dir(path))
    assert_true(du(path) < 300000);
  free(path);

  /* The name can be used again, for an empty pool. */
  assert_ok(objstore_pool_create(f->cluster, "doomed", NULL, &id2));
  assert_ok(objstore_pool_open(f->cluster, id2, "", &p));
  expect_missing(p, "a", OBJSTORE_SNAP_HEAD);
  struct objstore_list_entry *e = NULL;
  bool more = true;
  assert_ok(objstore_list(p, OBJSTORE_LIST_ALL_NS, NULL, NULL, 100, &e, &n,
                          &more));
  assert_int_equal(n, 0);
  assert_false(more);
  objstore_list_free(e, n);
  objstore_pool_close(p);
  /* Other pools were not touched. */
  put_str(f->pool, "still", "here");
  expect_object(f->pool, "still", OBJSTORE_SNAP_HEAD, "here", 4);
  free(big);
}

static void test_pool_at_own_directory(void **state)
{
  struct fixture *f = FX(state);
  if (!backend_is_local())
    skip(); /* a pool directory is a local-backend notion */
  char *tmp = fixture_mkdtemp("conf-disk");
  assert_non_null(tmp);
  char *dir = path_join(tmp, "pooldir"); /* missing: made */
  int64_t id = -1;
  assert_ok(objstore_pool_create(f->cluster, "far", dir, &id));
  assert_true(is_dir(dir));

  struct objstore_pool_info info;
  memset(&info, 0, sizeof info);
  assert_ok(objstore_pool_get_info(f->cluster, id, &info));
  assert_string_equal(info.name, "far");
  if (backend_is_local()) {
    assert_non_null(info.path);
    if (!same_path(info.path, dir))
      fail_msg("pool path %s, expected %s", info.path, dir);
  }
  free(info.path);

  uint64_t cluster_before = du(f->dir), dir_before = du(dir);
  struct objstore_pool *p = NULL;
  assert_ok(objstore_pool_open(f->cluster, id, "", &p));
  const size_t len = 2 << 20;
  void *data = filled(len, 7);
  put(p, "bulk", data, len);
  assert_ok(objstore_flush(p));
  expect_object(p, "bulk", OBJSTORE_SNAP_HEAD, data, len);
  if (backend_is_local()) {
    /* The data really lives in DIR, not in the cluster directory. */
    uint64_t cluster_after = du(f->dir), dir_after = du(dir);
    if (dir_after < dir_before + len)
      fail_msg("pool dir grew by %" PRIu64 " bytes for a %zu-byte object",
               dir_after - dir_before, len);
    if (cluster_after > cluster_before + len / 4)
      fail_msg("cluster dir grew by %" PRIu64 " bytes for an object of a "
               "pool elsewhere",
               cluster_after - cluster_before);
  }
  objstore_pool_close(p);

  /* It survives closing and reopening the cluster. */
  objstore_pool_close(f->pool);
  f->pool = NULL;
  objstore_cluster_close(f->cluster);
  f->cluster = NULL;
  assert_ok(objstore_cluster_open(f->dir, &f->cluster));
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &f->pool));
  int64_t id2 = -1;
  assert_ok(objstore_pool_lookup(f->cluster, "far", &id2));
  assert_int_equal(id2, id);
  assert_ok(objstore_pool_open(f->cluster, id, "", &p));
  expect_object(p, "bulk", OBJSTORE_SNAP_HEAD, data, len);
  objstore_pool_close(p);

  /* An existing empty directory is accepted too. */
  char *dir2 = path_join(tmp, "empty");
  assert_int_equal(mkdir(dir2, 0700), 0);
  int64_t id3 = -1;
  assert_ok(objstore_pool_create(f->cluster, "far2", dir2, &id3));
  assert_ok(objstore_pool_open(f->cluster, id3, "", &p));
  put_str(p, "bulk", "small");
  expect_object(p, "bulk", OBJSTORE_SNAP_HEAD, "small", 5);
  objstore_pool_close(p);

  /* Removing the pool removes its data from DIR; DIR can host a new pool. */
  assert_ok(objstore_pool_remove(f->cluster, "far"));
  if (backend_is_local()) {
    int left = dir_entries(dir);
    if (left > 0)
      fail_msg("%s still holds %d entries after pool_remove", dir, left);
    int64_t id4 = -1;
    assert_ok(objstore_pool_create(f->cluster, "again", dir, &id4));
    assert_ok(objstore_pool_open(f->cluster, id4, "", &p));
    expect_missing(p, "bulk", OBJSTORE_SNAP_HEAD);
    objstore_pool_close(p);
    assert_ok(objstore_pool_remove(f->cluster, "again"));
  }
  assert_ok(objstore_pool_open(f->cluster, id3, "", &p));
  expect_object(p, "bulk", OBJSTORE_SNAP_HEAD, "small", 5);
  objstore_pool_close(p);
  assert_ok(objstore_pool_remove(f->cluster, "far2"));

  free(data);
  free(dir);
  free(dir2);
  fixture_rm_rf(tmp);
  free(tmp);
}

static void test_pool_dir_not_empty(void **state)
{
  struct fixture *f = FX(state);
  if (!backend_is_local())
    skip();
  char *tmp = fixture_mkdtemp("conf-busy");
  assert_non_null(tmp);
  char *stray = path_join(tmp, "stray");
  write_file(stray, "keep me");
  int64_t id = -1;

  assert_err(objstore_pool_create(f->cluster, "busy", tmp, &id), ENOTEMPTY);
  assert_err(objstore_pool_lookup(f->cluster, "busy", &id), ENOENT);
  expect_file(stray, "keep me");
  assert_int_equal(dir_entries(tmp), 1);

  /* A directory another pool uses is in use. */
  char *dir = path_join(tmp, "used");
  int64_t used = -1;
  assert_ok(objstore_pool_create(f->cluster, "used", dir, &used));
  struct objstore_pool *p = NULL;
  assert_ok(objstore_pool_open(f->cluster, used, "", &p));
  put_str(p, "o", "data of used");
  objstore_pool_close(p);
  assert_err(objstore_pool_create(f->cluster, "thief", dir, &id), ENOTEMPTY);
  assert_err(objstore_pool_lookup(f->cluster, "thief", &id), ENOENT);
  /* So is the cluster directory itself. */
  assert_err(objstore_pool_create(f->cluster, "inside", f->dir, &id),
             ENOTEMPTY);
  assert_err(objstore_pool_lookup(f->cluster, "inside", &id), ENOENT);
  assert_ok(objstore_pool_open(f->cluster, used, "", &p));
  expect_object(p, "o", OBJSTORE_SNAP_HEAD, "data of used", 12);
  objstore_pool_close(p);
  /* A name clash is reported before touching the directory. */
  char *fresh = path_join(tmp, "fresh");
  assert_err(objstore_pool_create(f->cluster, "used", fresh, &id), EEXIST);
  assert_ok(objstore_pool_open(f->cluster, used, "", &p));
  expect_object(p, "o", OBJSTORE_SNAP_HEAD, "data of used", 12);
  objstore_pool_close(p);
  assert_ok(objstore_pool_remove(f->cluster, "used"));

  free(fresh);
  free(dir);
  free(stray);
  fixture_rm_rf(tmp);
  free(tmp);
}

static void test_pools_shared_between_handles(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_cluster *c2 = NULL;
  assert_ok(objstore_cluster_open(f->dir, &c2));
  int64_t id = -1, a = -1, b = -1;
  assert_ok(objstore_pool_lookup(c2, "test", &id));
  assert_int_equal(id, f->pool_id);

  /* Created through one handle, seen through the other. */
  assert_ok(objstore_pool_create(c2, "from2", NULL, &a));
  assert_ok(objstore_pool_lookup(f->cluster, "from2", &id));
  assert_int_equal(id, a);
  assert_ok(objstore_pool_create(f->cluster, "from1", NULL, &b));
  assert_ok(objstore_pool_lookup(c2, "from1", &id));
  assert_int_equal(id, b);
  assert_err(objstore_pool_create(c2, "from1", NULL, &id), EEXIST);

  struct objstore_pool *p2 = NULL;
  assert_ok(objstore_pool_open(c2, f->pool_id, "", &p2));
  put_str(p2, "shared", "written by handle 2");
  expect_object(f->pool, "shared", OBJSTORE_SNAP_HEAD, "written by handle 2",
                19);
  objstore_pool_close(p2);

  assert_ok(objstore_pool_remove(c2, "from1"));
  assert_err(objstore_pool_lookup(f->cluster, "from1", &id), ENOENT);
  objstore_cluster_close(c2);

  /* Everything persists across close and reopen. */
  objstore_pool_close(f->pool);
  f->pool = NULL;
  objstore_cluster_close(f->cluster);
  f->cluster = NULL;
  assert_ok(objstore_cluster_open(f->dir, &f->cluster));
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "", &f->pool));
  struct objstore_pool_info *infos = NULL;
  size_t n = 0;
  assert_ok(objstore_pool_list(f->cluster, &infos, &n));
  assert_int_equal(n, 2);
  assert_int_equal(infos[0].id, f->pool_id < a ? f->pool_id : a);
  assert_int_equal(infos[1].id, f->pool_id < a ? a : f->pool_id);
  objstore_pool_info_free(infos, n);
  expect_object(f->pool, "shared", OBJSTORE_SNAP_HEAD, "written by handle 2",
                19);
  /* A new pool after reopening gets an id no other pool has. */
  int64_t c = -1;
  assert_ok(objstore_pool_create(f->cluster, "later", NULL, &c));
  assert_true(c != a && c != f->pool_id);
}

static void test_pool_from_other_process(void **state)
{
  struct fixture *f = FX(state);
  struct child ch;
  const char *args[] = {"write", "child-obj", "hello from a child", NULL};
  child_start(&ch, f, "", args);
  assert_int_equal(child_wait(&ch), 0);
  expect_object(f->pool, "child-obj", OBJSTORE_SNAP_HEAD,
                "hello from a child", 18);
  const char *args2[] = {"write", "child-obj", "in ns", NULL};
  child_start(&ch, f, "kid", args2);
  assert_int_equal(child_wait(&ch), 0);
  struct objstore_pool *p = NULL;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "kid", &p));
  expect_object(p, "child-obj", OBJSTORE_SNAP_HEAD, "in ns", 5);
  objstore_pool_close(p);
  expect_object(f->pool, "child-obj", OBJSTORE_SNAP_HEAD,
                "hello from a child", 18);
}

/* ---- maintenance ------------------------------------------------------------ */

static void test_pool_check_healthy(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *p = f->pool;
  put_str(p, "a", "object a");
  put_str(p, "b", "object b");
  void *big = filled(200000, 3);
  put(p, "c", big, 200000);
  uint64_t s1 = 0;
  assert_ok(objstore_snap_create(p, &s1));
  struct objstore_snapc sc = {s1, &s1, 1};
  assert_ok(objstore_write(p, "c", &sc, 0, "changed", 7));

  struct objstore_check_report rep;
  memset(&rep, 0xAB, sizeof rep);
  assert_ok(objstore_pool_check(p, false, &rep));
  if (fixture_has(FIXTURE_CAP_CHECK_COUNTS))
    assert_int_equal(rep.objects, 4); /* three heads and one clone */
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
  memset(&rep, 0xAB, sizeof rep);
  assert_ok(objstore_pool_check(p, true, &rep));
  if (fixture_has(FIXTURE_CAP_CHECK_COUNTS))
    assert_int_equal(rep.objects, 4);
  assert_int_equal(rep.orphans, 0);
  assert_int_equal(rep.missing, 0);
  /* A repair of a healthy pool changes nothing. */
  expect_object(p, "a", OBJSTORE_SNAP_HEAD, "object a", 8);
  expect_object(p, "c", s1, big, 200000);
  memcpy(big, "changed", 7);
  expect_object(p, "c", OBJSTORE_SNAP_HEAD, big, 200000);
  free(big);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(int argc, char **argv)
{
  CONFORMANCE_INIT(argc, argv);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cluster_create_and_open_errors),
      T(test_cluster_client_names),
      T(test_pool_create_lookup_list_info),
      T(test_pool_name_errors),
      T(test_pool_unknown_ids),
      T(test_pool_open_namespaces),
      T(test_pool_remove),
      T(test_pool_at_own_directory),
      T(test_pool_dir_not_empty),
      T(test_pools_shared_between_handles),
      T(test_pool_from_other_process),
      T(test_pool_check_healthy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
