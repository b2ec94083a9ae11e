/* Conformance: object data, stat and listing (objstore.h "objects: reads",
 * "listing" and the one-step write conveniences). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <time.h>

#include "conformance.h"

#define K 1024ull
#define HEAD OBJSTORE_SNAP_HEAD

static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

/* ---- read and write -------------------------------------------------------- */

static void test_write_read_basic(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  assert_ok(objstore_write(p, "o", NULL, 0, "hello", 5));
  expect_object(p, "o", HEAD, "hello", 5);
  assert_ok(objstore_write(p, "o", NULL, 3, "XYZW", 4));
  expect_object(p, "o", HEAD, "helXYZW", 7);
  /* A write past the end leaves a zero-filled gap. */
  assert_ok(objstore_write(p, "o", NULL, 10, "!", 1));
  expect_object(p, "o", HEAD, "helXYZW\0\0\0!", 11);

  char buf[32];
  memset(buf, '#', sizeof buf);
  assert_ret(objstore_read(p, "o", HEAD, 2, 3, buf), 3);
  assert_bytes(buf, "lXY", 3);
  assert_int_equal(buf[3], '#'); /* nothing written past LEN */
  assert_ret(objstore_read(p, "o", HEAD, 8, 3, buf), 3);
  assert_bytes(buf, "\0\0!", 3);
  assert_ret(objstore_read(p, "o", HEAD, 0, 0, buf), 0);
  assert_ret(objstore_read(p, "o", HEAD, 11, 5, buf), 0);
  assert_ret(objstore_read(p, "o", HEAD, 1ull << 40, 5, buf), 0);

  /* A write at a high offset creates a missing object with that size. */
  assert_ok(objstore_write(p, "far", NULL, 100000, "z", 1));
  struct objstore_stat st;
  assert_ok(objstore_stat(p, "far", HEAD, &st));
  assert_int_equal(st.size, 100001);
  unsigned char *big = malloc(100001);
  assert_ret(objstore_read(p, "far", HEAD, 0, 100001, big), 100001);
  assert_true(all_zero(big, 100000));
  assert_int_equal(big[100000], 'z');
  free(big);
}

static void test_large_object_roundtrip(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  const size_t len = 4 << 20;
  unsigned char *data = filled(len, 3);
  put(p, "big", data, len);
  expect_object(p, "big", HEAD, data, len);
  /* Unaligned overwrites in the middle. */
  unsigned char *patch = filled(12345, 4);
  assert_ok(objstore_write(p, "big", NULL, 777777, patch, 12345));
  memcpy(data + 777777, patch, 12345);
  assert_ok(objstore_write(p, "big", NULL, len - 1, "E", 1));
  data[len - 1] = 'E';
  expect_object(p, "big", HEAD, data, len);
  unsigned char *buf = malloc(5000);
  assert_ret(objstore_read(p, "big", HEAD, 777000, 5000, buf), 5000);
  assert_bytes(buf, data + 777000, 5000);
  free(buf);
  free(patch);
  free(data);
}

static void test_write_full(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  unsigned char *data = filled(200000, 5);
  put(p, "o", data, 200000);
  expect_object(p, "o", HEAD, data, 200000);
  /* Replaces everything: shorter data shrinks the object. */
  put_str(p, "o", "abc");
  expect_object(p, "o", HEAD, "abc", 3);
  char buf[8];
  assert_ret(objstore_read(p, "o", HEAD, 100000, 8, buf), 0);
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  assert_ret(objstore_sparse_read(p, "o", HEAD, 0, 300000, NULL, &ext, &n),
             3);
  for (size_t i = 0; i < n; i++)
    assert_true(ext[i].off + ext[i].len <= 3);
  free(ext);
  /* Empty data: the object exists with size 0. */
  put(p, "o", "", 0);
  expect_object(p, "o", HEAD, "", 0);
  put(p, "empty", "", 0);
  expect_object(p, "empty", HEAD, "", 0);
  assert_ret(objstore_read(p, "empty", HEAD, 0, 8, buf), 0);
  free(data);
}

static void test_missing_object(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  char buf[16];
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  struct objstore_stat st;
  assert_err(objstore_read(p, "ghost", HEAD, 0, sizeof buf, buf), ENOENT);
  assert_err(objstore_read(p, "ghost", HEAD, 0, 0, buf), ENOENT);
  assert_err(objstore_sparse_read(p, "ghost", HEAD, 0, 16, buf, &ext, &n),
             ENOENT);
  assert_err(objstore_sparse_read(p, "ghost", HEAD, 0, 16, NULL, &ext, &n),
             ENOENT);
  assert_err(objstore_stat(p, "ghost", HEAD, &st), ENOENT);
  assert_err(objstore_remove(p, "ghost", NULL), ENOENT);
  /* Zero leaves a missing object missing. */
  assert_ok(objstore_zero(p, "ghost", NULL, 0, 4096));
  expect_missing(p, "ghost", HEAD);
  /* Names are exact: a prefix or extension of an object is another object. */
  put_str(p, "ghostly", "boo");
  expect_missing(p, "ghost", HEAD);
  expect_missing(p, "ghostl", HEAD);
  expect_missing(p, "ghostlyy", HEAD);
  expect_missing(p, "Ghostly", HEAD);
  /* A prefetch hint makes nothing and reports nothing, even for a missing
   * object or a range past the end; reads after it are as before. */
  objstore_prefetch(p, "ghost", OBJSTORE_SNAP_HEAD, 0, 1 << 20);
  objstore_prefetch(p, "ghostly", OBJSTORE_SNAP_HEAD, 1 << 20, 4096);
  objstore_prefetch(p, "ghostly", OBJSTORE_SNAP_HEAD, 0, 1 << 20);
  objstore_prefetch(p, "ghostly", 12345, 0, 1 << 20); /* no such snap */
  assert_string_equal(lbd_last_error(), "");
  expect_missing(p, "ghost", HEAD);
  expect_object(p, "ghostly", HEAD, "boo", 3);
}

static void test_zero(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  const size_t len = 256 * K;
  unsigned char *want = filled(len, 9);
  put(p, "o", want, len);

  assert_ok(objstore_zero(p, "o", NULL, 64 * K, 64 * K));
  memset(want + 64 * K, 0, 64 * K);
  expect_object(p, "o", HEAD, want, len);
  const struct objstore_extent e1[] = {{0, 64 * K}, {128 * K, 128 * K}};
  expect_sparse(p, "o", HEAD, 0, len, e1, 2, "after zero");

  /* Small unaligned zero: bytes only. */
  assert_ok(objstore_zero(p, "o", NULL, 5, 10));
  memset(want + 5, 0, 10);
  expect_object(p, "o", HEAD, want, len);

  /* Past the end and across it: the size never changes. */
  assert_ok(objstore_zero(p, "o", NULL, 300 * K, 100 * K));
  expect_object(p, "o", HEAD, want, len);
  assert_ok(objstore_zero(p, "o", NULL, 192 * K, 128 * K));
  memset(want + 192 * K, 0, 64 * K);
  expect_object(p, "o", HEAD, want, len);
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  assert_ok(objstore_sparse_read(p, "o", HEAD, 0, len, NULL, &ext, &n));
  n = extents_normalize(ext, n);
  /* [0,15) is data or hole depending on granularity; the rest is exact. */
  assert_true(n >= 1);
  assert_int_equal(ext[n - 1].off, 128 * K);
  assert_int_equal(ext[n - 1].len, 64 * K);
  for (size_t i = 0; i + 1 < n; i++)
    assert_true(ext[i].off + ext[i].len <= 64 * K);
  free(ext);

  /* Zero everything: no data left, size kept. */
  assert_ok(objstore_zero(p, "o", NULL, 0, len));
  memset(want, 0, len);
  expect_object(p, "o", HEAD, want, len);
  expect_sparse(p, "o", HEAD, 0, len, NULL, 0, "all zeroed");
  free(want);
}

static void test_truncate(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  const size_t len = 256 * K;
  unsigned char *want = filled(len, 11);
  unsigned char *big = calloc(1, 512 * K);
  put(p, "o", want, len);

  /* Shrink, then grow: the grown part reads as zeroes, old data does not
   * come back, and holds no data. */
  assert_ok(objstore_truncate(p, "o", NULL, 128 * K));
  expect_object(p, "o", HEAD, want, 128 * K);
  assert_ok(objstore_truncate(p, "o", NULL, 512 * K));
  memcpy(big, want, 128 * K);
  expect_object(p, "o", HEAD, big, 512 * K);
  const struct objstore_extent e1[] = {{0, 128 * K}};
  expect_sparse(p, "o", HEAD, 0, 512 * K, e1, 1, "truncate grow");

  /* Unaligned. */
  assert_ok(objstore_truncate(p, "o", NULL, 1000));
  expect_object(p, "o", HEAD, want, 1000);
  assert_ok(objstore_truncate(p, "o", NULL, 100000));
  memset(big + 1000, 0, 512 * K - 1000);
  expect_object(p, "o", HEAD, big, 100000);
  /* A write beyond the end after a shrink exposes no old data either. */
  assert_ok(objstore_truncate(p, "o", NULL, 10));
  assert_ok(objstore_write(p, "o", NULL, 200000, "T", 1));
  memset(big + 10, 0, 512 * K - 10);
  big[200000] = 'T';
  expect_object(p, "o", HEAD, big, 200001);

  assert_ok(objstore_truncate(p, "o", NULL, 0));
  expect_object(p, "o", HEAD, "", 0);
  expect_sparse(p, "o", HEAD, 0, 4096, NULL, 0, "truncate 0");
  free(big);
  free(want);
}

static void test_sparse_read_gaps(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  unsigned char *a = filled(64 * K, 21);
  assert_ok(objstore_write(p, "s", NULL, 0, a, 64 * K));
  assert_ok(objstore_write(p, "s", NULL, 192 * K, a, 64 * K));
  assert_ok(objstore_write(p, "s", NULL, 1024 * K, a, 64 * K));
  const uint64_t size = 1088 * K;
  struct objstore_stat st;
  assert_ok(objstore_stat(p, "s", HEAD, &st));
  assert_int_equal(st.size, size);

  const struct objstore_extent all[] = {
      {0, 64 * K}, {192 * K, 64 * K}, {1024 * K, 64 * K}};
  expect_sparse(p, "s", HEAD, 0, size, all, 3, "whole");
  /* Asking for more than the object: the same map, a short count. */
  expect_sparse(p, "s", HEAD, 0, size + 100 * K, all, 3, "beyond");
  /* A window clips the extents. */
  const struct objstore_extent win[] = {{32 * K, 32 * K}, {192 * K, 40 * K}};
  expect_sparse(p, "s", HEAD, 32 * K, 200 * K, win, 2, "window");
  /* A window inside a hole. */
  expect_sparse(p, "s", HEAD, 300 * K, 100 * K, NULL, 0, "hole");
  /* Past the end: nothing. */
  struct objstore_extent *ext = NULL;
  size_t n = 99;
  unsigned char buf[16];
  assert_ret(objstore_sparse_read(p, "s", HEAD, size, 16, buf, &ext, &n), 0);
  assert_int_equal(n, 0);
  free(ext);
  ext = NULL;
  n = 99;
  assert_ret(
      objstore_sparse_read(p, "s", HEAD, size + 4096, 16, buf, &ext, &n), 0);
  assert_int_equal(n, 0);
  free(ext);

  /* Bytes through sparse_read equal the written ones. */
  unsigned char *got = malloc(64 * K);
  ext = NULL;
  assert_ret(
      objstore_sparse_read(p, "s", HEAD, 1024 * K, 64 * K, got, &ext, &n),
      64 * K);
  assert_bytes(got, a, 64 * K);
  free(ext);
  free(got);

  /* Filling a hole joins the extents. */
  unsigned char *b = filled(128 * K, 22);
  assert_ok(objstore_write(p, "s", NULL, 64 * K, b, 128 * K));
  const struct objstore_extent joined[] = {{0, 256 * K}, {1024 * K, 64 * K}};
  expect_sparse(p, "s", HEAD, 0, size, joined, 2, "joined");
  /* A hole punched into the middle of written data. */
  assert_ok(objstore_zero(p, "s", NULL, 128 * K, 64 * K));
  const struct objstore_extent punched[] = {
      {0, 128 * K}, {192 * K, 64 * K}, {1024 * K, 64 * K}};
  expect_sparse(p, "s", HEAD, 0, size, punched, 3, "punched");
  free(b);
  free(a);
}

static void test_sparse_read_unaligned_covers_data(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  assert_ok(objstore_write(p, "u", NULL, 5000, "abc", 3));
  assert_ok(objstore_write(p, "u", NULL, 70000, "xyz", 3));
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  unsigned char *buf = malloc(70003);
  assert_ret(objstore_sparse_read(p, "u", HEAD, 0, 70003, buf, &ext, &n),
             70003);
  uint64_t want[] = {5000, 5001, 5002, 70000, 70001, 70002};
  for (size_t w = 0; w < 6; w++) {
    bool in = false;
    for (size_t i = 0; i < n; i++)
      in |= want[w] >= ext[i].off && want[w] < ext[i].off + ext[i].len;
    if (!in) {
      extents_print("got", ext, n);
      fail_msg("byte %" PRIu64 " holds data but is in no extent", want[w]);
    }
  }
  for (size_t i = 0; i < n; i++)
    assert_true(ext[i].off + ext[i].len <= 70003);
  assert_bytes(buf + 5000, "abc", 3);
  assert_bytes(buf + 70000, "xyz", 3);
  assert_true(all_zero(buf, 5000));
  assert_true(all_zero(buf + 5003, 70000 - 5003));
  free(ext);
  free(buf);
}

static void test_large_offsets(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  /* Past 32 bits on the local backend; within RADOS' default object size
   * limit elsewhere. */
  const char *be = getenv("LBD_TEST_BACKEND");
  const bool local = !be || !*be || strcmp(be, "local") == 0;
  const uint64_t off = local ? 5ull << 30 : 96ull << 20;
  unsigned char *a = filled(64 * K, 31);
  assert_ok(objstore_write(p, "huge", NULL, off, a, 64 * K));
  struct objstore_stat st;
  assert_ok(objstore_stat(p, "huge", HEAD, &st));
  assert_int_equal(st.size, off + 64 * K);
  unsigned char *buf = malloc(128 * K);
  assert_ret(objstore_read(p, "huge", HEAD, off - 64 * K, 128 * K, buf),
             128 * K);
  assert_true(all_zero(buf, 64 * K));
  assert_bytes(buf + 64 * K, a, 64 * K);
  assert_ret(objstore_read(p, "huge", HEAD, off / 2, 4096, buf), 4096);
  assert_true(all_zero(buf, 4096));
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  assert_ok(objstore_sparse_read(p, "huge", HEAD, 0, (size_t)st.size, NULL,
                                 &ext, &n));
  const struct objstore_extent want[] = {{off, 64 * K}};
  expect_extents("huge", ext, n, want, 1);
  free(ext);
  assert_ok(objstore_zero(p, "huge", NULL, off, 32 * K));
  assert_ok(objstore_truncate(p, "huge", NULL, off + 48 * K));
  assert_ret(objstore_read(p, "huge", HEAD, off, 128 * K, buf), 48 * K);
  assert_true(all_zero(buf, 32 * K));
  assert_bytes(buf + 32 * K, a + 32 * K, 16 * K);
  assert_ok(objstore_truncate(p, "huge", NULL, 0));
  free(buf);
  free(a);
}

static void test_remove(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  put_str(p, "o", "data");
  assert_ok(objstore_setxattr(p, "o", "attr", "val", 3));
  assert_ok(objstore_omap_set(p, "o", "key", "val", 3));
  uint64_t v = version_of(p, "o");
  put_str(p, "other", "stays");
  assert_ok(objstore_remove(p, "o", NULL));
  expect_missing(p, "o", HEAD);
  void *val = NULL;
  size_t len = 0;
  assert_err(objstore_getxattr(p, "o", "attr", &val, &len), ENOENT);
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  bool more = false;
  assert_err(objstore_omap_get(p, "o", NULL, 10, &kvs, &count, &more),
             ENOENT);
  assert_err(objstore_remove(p, "o", NULL), ENOENT);
  expect_object(p, "other", HEAD, "stays", 5);

  /* Re-created: a new object, without the old xattrs and omap, and with a
   * version that kept growing. */
  assert_ok(objstore_write(p, "o", NULL, 2, "new", 3));
  expect_object(p, "o", HEAD, "\0\0new", 5);
  expect_xattrs(p, "o", NULL, 0);
  expect_omap(p, "o", NULL, 0);
  assert_true(version_of(p, "o") > v);
}

static void test_stat_version_mtime(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  int64_t t0 = now_ns();
  put_str(p, "o", "one");
  int64_t t1 = now_ns();
  struct objstore_stat s1, s2, s3;
  assert_ok(objstore_stat(p, "o", HEAD, &s1));
  assert_int_equal(s1.size, 3);
  assert_true(s1.version > 0);
  /* mtime is wall-clock time of the change (allow coarse clocks). */
  if (s1.mtime_ns < t0 - 2000000000LL || s1.mtime_ns > t1 + 2000000000LL)
    fail_msg("mtime %" PRId64 " not within [%" PRId64 ", %" PRId64 "]",
             s1.mtime_ns, t0, t1);
  /* Reading changes nothing. */
  char buf[8];
  assert_ret(objstore_read(p, "o", HEAD, 0, 8, buf), 3);
  assert_ok(objstore_stat(p, "o", HEAD, &s2));
  assert_int_equal(s2.version, s1.version);
  assert_int_equal(s2.mtime_ns, s1.mtime_ns);
  sleep_ms(20);
  put_str(p, "o", "two!");
  assert_ok(objstore_stat(p, "o", HEAD, &s3));
  assert_int_equal(s3.size, 4);
  assert_true(s3.version > s1.version);
  if (fixture_has(FIXTURE_CAP_MTIME_NS))
    assert_true(s3.mtime_ns > s1.mtime_ns);
  /* In-place writes may keep the version but never lower it, and do change
   * the mtime. */
  sleep_ms(20);
  assert_ok(objstore_write(p, "o", NULL, 0, "T", 1));
  assert_ok(objstore_stat(p, "o", HEAD, &s2));
  assert_true(s2.version >= s3.version);
  if (fixture_has(FIXTURE_CAP_MTIME_NS))
    assert_true(s2.mtime_ns > s3.mtime_ns);
  sleep_ms(20);
  assert_ok(objstore_truncate(p, "o", NULL, 2));
  assert_ok(objstore_stat(p, "o", HEAD, &s1));
  assert_true(s1.version > s2.version);
  if (fixture_has(FIXTURE_CAP_MTIME_NS))
    assert_true(s1.mtime_ns > s2.mtime_ns);
  assert_int_equal(s1.size, 2);
}

/* ---- names ----------------------------------------------------------------- */

static void test_object_name_limits(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  char *longest = repeat('o', OBJSTORE_MAX_OBJECT_NAME);
  char *toolong = repeat('o', OBJSTORE_MAX_OBJECT_NAME + 1);
  put_str(p, longest, "max");
  expect_object(p, longest, HEAD, "max", 3);
  char buf[8];
  struct objstore_stat st;
  assert_err(objstore_write(p, toolong, NULL, 0, "x", 1), ENAMETOOLONG);
  assert_err(objstore_write_full(p, toolong, NULL, "x", 1), ENAMETOOLONG);
  assert_err(objstore_read(p, toolong, HEAD, 0, 8, buf), ENAMETOOLONG);
  assert_err(objstore_stat(p, toolong, HEAD, &st), ENAMETOOLONG);
  assert_err(objstore_setxattr(p, toolong, "a", "b", 1), ENAMETOOLONG);
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_write_full(op, "x", 1);
  assert_err(objstore_write_op_operate(p, toolong, op, NULL, 0),
             ENAMETOOLONG);
  objstore_write_op_free(op);
  assert_err(objstore_write(p, "", NULL, 0, "x", 1), EINVAL);
  /* The failed calls made nothing. */
  struct objstore_list_entry *e = NULL;
  size_t n = 0;
  bool more = true;
  assert_ok(objstore_list(p, OBJSTORE_LIST_ALL_NS, NULL, NULL, 100, &e, &n,
                          &more));
  assert_int_equal(n, 1);
  assert_string_equal(e[0].name, longest);
  objstore_list_free(e, n);
  free(longest);
  free(toolong);
}

static int str_cmp(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_object_names_odd(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  char *slashes = repeat('/', OBJSTORE_MAX_OBJECT_NAME);
  const char *names[] = {
      "a",       "a/b",   "a/b/",   "/a",     "..",        ".",
      "a/../b",  "b",     " space", "tab\t",  "new\nline", "\xc3\xbcml",
      "%2F",     "a\\b",  "-rf",    "a.b",    "A",         "\x7f\x01",
      "lock.mdb", "data.mdb", "~",    slashes,
  };
  const size_t n = sizeof names / sizeof names[0];
  for (size_t i = 0; i < n; i++) {
    char data[64];
    snprintf(data, sizeof data, "object number %zu", i);
    put_str(p, names[i], data);
  }
  for (size_t i = 0; i < n; i++) {
    char data[64];
    snprintf(data, sizeof data, "object number %zu", i);
    expect_object(p, names[i], HEAD, data, strlen(data));
  }
  /* Listed once each, sorted bytewise. */
  const char **sorted = malloc(n * sizeof *sorted);
  memcpy(sorted, names, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, str_cmp);
  struct objstore_list_entry *e = NULL;
  size_t count = 0;
  bool more = true;
  assert_ok(objstore_list(p, 0, NULL, NULL, 1000, &e, &count, &more));
  assert_int_equal(count, n);
  assert_false(more);
  for (size_t i = 0; i < n; i++) {
    assert_string_equal(e[i].name, sorted[i]);
    assert_string_equal(e[i].ns, "");
  }
  objstore_list_free(e, count);
  /* Removing one touches no other. */
  assert_ok(objstore_remove(p, "a/b", NULL));
  expect_missing(p, "a/b", HEAD);
  expect_object(p, "a/b/", HEAD, "object number 2", 15);
  expect_object(p, "a", HEAD, "object number 0", 15);
  free(sorted);
  free(slashes);
}

/* ---- namespaces and listing -------------------------------------------------- */

/* Lists everything with pages of MAX entries; returns "ns\x1fname" strings. */
static size_t list_all(struct objstore_pool *p, unsigned flags, size_t max,
                       char ***out)
{
  char **all = NULL;
  size_t total = 0;
  char *after_ns = NULL, *after_name = NULL;
  for (int pages = 0;; pages++) {
    assert_true(pages < 1000);
    struct objstore_list_entry *e = NULL;
    size_t n = 0;
    bool more = false;
    assert_ok(objstore_list(p, flags, after_ns, after_name, max, &e, &n,
                            &more));
    assert_true(n <= max);
    if (more)
      assert_int_equal(n, max);
    all = realloc(all, (total + n + 1) * sizeof *all);
    for (size_t i = 0; i < n; i++) {
      assert_non_null(e[i].ns);
      assert_non_null(e[i].name);
      assert_true(asprintf(&all[total++], "%s\x1f%s", e[i].ns, e[i].name) >
                  0);
    }
    if (n) {
      free(after_ns);
      free(after_name);
      after_ns = strdup(e[n - 1].ns);
      after_name = strdup(e[n - 1].name);
    }
    objstore_list_free(e, n);
    if (!more)
      break;
  }
  free(after_ns);
  free(after_name);
  *out = all;
  return total;
}

static void free_strs(char **s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(s[i]);
  free(s);
}

static void test_namespaces(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *p1 = NULL, *p2 = NULL;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "ns1", &p1));
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "ns2", &p2));
  put_str(f->pool, "o", "default");
  put_str(p1, "o", "one");
  put_str(p2, "o", "two");
  put_str(p1, "only1", "x");
  expect_object(f->pool, "o", HEAD, "default", 7);
  expect_object(p1, "o", HEAD, "one", 3);
  expect_object(p2, "o", HEAD, "two", 3);
  expect_missing(f->pool, "only1", HEAD);
  expect_missing(p2, "only1", HEAD);
  /* xattrs and omap are per namespace too. */
  assert_ok(objstore_setxattr(p1, "o", "who", "ns1", 3));
  void *v = NULL;
  size_t len = 0;
  assert_err(objstore_getxattr(p2, "o", "who", &v, &len), ENOENT);
  assert_err(objstore_getxattr(f->pool, "o", "who", &v, &len), ENOENT);

  char **all = NULL;
  size_t n = list_all(p1, 0, 100, &all);
  assert_int_equal(n, 2);
  assert_string_equal(all[0], "ns1\x1fo");
  assert_string_equal(all[1], "ns1\x1fonly1");
  free_strs(all, n);
  n = list_all(f->pool, 0, 100, &all);
  assert_int_equal(n, 1);
  assert_string_equal(all[0], "\x1fo");
  free_strs(all, n);
  /* ALL_NS: sorted by (namespace, name), from any handle. */
  const char *want[] = {"\x1fo", "ns1\x1fo", "ns1\x1fonly1", "ns2\x1fo"};
  struct objstore_pool *handles[] = {f->pool, p1, p2};
  for (size_t h = 0; h < 3; h++) {
    n = list_all(handles[h], OBJSTORE_LIST_ALL_NS, 100, &all);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++)
      assert_string_equal(all[i], want[i]);
    free_strs(all, n);
  }

  /* Removing in one namespace leaves the others. */
  assert_ok(objstore_remove(p1, "o", NULL));
  expect_missing(p1, "o", HEAD);
  expect_object(f->pool, "o", HEAD, "default", 7);
  expect_object(p2, "o", HEAD, "two", 3);
  assert_ok(objstore_remove(p1, "only1", NULL));
  n = list_all(p1, 0, 100, &all);
  assert_int_equal(n, 0);
  free_strs(all, n);
  n = list_all(p2, OBJSTORE_LIST_ALL_NS, 100, &all);
  assert_int_equal(n, 2);
  assert_string_equal(all[0], "\x1fo");
  assert_string_equal(all[1], "ns2\x1fo");
  free_strs(all, n);
  objstore_pool_close(p1);
  objstore_pool_close(p2);
}

static void test_list_paging(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *p = f->pool, *z = NULL, *x = NULL;
  for (int i = 0; i < 25; i++) {
    char name[16];
    snprintf(name, sizeof name, "obj%02d", i);
    put_str(p, name, name);
  }
  put_str(p, "gone", "x");
  assert_ok(objstore_remove(p, "gone", NULL));
  put(p, "empty", "", 0);
  assert_ok(objstore_zero(p, "never", NULL, 0, 10));

  struct objstore_list_entry *e = NULL;
  size_t n = 0;
  bool more = false;
  /* Page 1: "empty", obj00..obj08. */
  assert_ok(objstore_list(p, 0, NULL, NULL, 10, &e, &n, &more));
  assert_int_equal(n, 10);
  assert_true(more);
  assert_string_equal(e[0].name, "empty");
  assert_string_equal(e[9].name, "obj08");
  objstore_list_free(e, n);
  /* After an entry. */
  assert_ok(objstore_list(p, 0, "", "obj08", 10, &e, &n, &more));
  assert_int_equal(n, 10);
  assert_true(more);
  assert_string_equal(e[0].name, "obj09");
  assert_string_equal(e[9].name, "obj18");
  objstore_list_free(e, n);
  /* Exactly MAX remaining: more is false. */
  assert_ok(objstore_list(p, 0, "", "obj14", 10, &e, &n, &more));
  assert_int_equal(n, 10);
  assert_false(more);
  assert_string_equal(e[0].name, "obj15");
  assert_string_equal(e[9].name, "obj24");
  objstore_list_free(e, n);
  /* Fewer than MAX. */
  assert_ok(objstore_list(p, 0, "", "obj20", 10, &e, &n, &more));
  assert_int_equal(n, 4);
  assert_false(more);
  assert_string_equal(e[3].name, "obj24");
  objstore_list_free(e, n);
  /* After a name that is not an object: from the next one. */
  assert_ok(objstore_list(p, 0, "", "obj10x", 3, &e, &n, &more));
  assert_int_equal(n, 3);
  assert_true(more);
  assert_string_equal(e[0].name, "obj11");
  objstore_list_free(e, n);
  assert_ok(objstore_list(p, 0, "", "a", 1, &e, &n, &more));
  assert_int_equal(n, 1);
  assert_true(more);
  assert_string_equal(e[0].name, "empty");
  objstore_list_free(e, n);
  /* After the last one: nothing. */
  assert_ok(objstore_list(p, 0, "", "obj24", 10, &e, &n, &more));
  assert_int_equal(n, 0);
  assert_false(more);
  objstore_list_free(e, n);
  assert_ok(objstore_list(p, 0, "", "zzz", 10, &e, &n, &more));
  assert_int_equal(n, 0);
  assert_false(more);
  objstore_list_free(e, n);

  /* Pages of every size give the same listing as one call. */
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "z", &z));
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "x", &x));
  put_str(z, "a", "1");
  put_str(z, "obj00", "2");
  put_str(x, "m", "3");
  const size_t total = 26 + 3;
  char **ref = NULL;
  assert_int_equal(list_all(p, OBJSTORE_LIST_ALL_NS, 1000, &ref), total);
  for (size_t i = 1; i < total; i++)
    assert_true(strcmp(ref[i - 1], ref[i]) < 0);
  assert_string_equal(ref[0], "\x1f" "empty");
  assert_string_equal(ref[26], "x\x1fm");
  assert_string_equal(ref[27], "z\x1f" "a");
  assert_string_equal(ref[28], "z\x1fobj00");
  size_t sizes[] = {1, 2, 3, 4, 7, 26, 27, 28, 29, 30};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    char **got = NULL;
    size_t m = list_all(p, OBJSTORE_LIST_ALL_NS, sizes[s], &got);
    assert_int_equal(m, total);
    for (size_t i = 0; i < m; i++)
      assert_string_equal(got[i], ref[i]);
    free_strs(got, m);
  }
  /* ALL_NS after an entry of another namespace. */
  assert_ok(objstore_list(p, OBJSTORE_LIST_ALL_NS, "x", "m", 10, &e, &n,
                          &more));
  assert_int_equal(n, 2);
  assert_false(more);
  assert_string_equal(e[0].ns, "z");
  assert_string_equal(e[0].name, "a");
  objstore_list_free(e, n);
  assert_ok(objstore_list(p, OBJSTORE_LIST_ALL_NS, "", "obj24", 1, &e, &n,
                          &more));
  assert_int_equal(n, 1);
  assert_true(more);
  assert_string_equal(e[0].ns, "x");
  assert_string_equal(e[0].name, "m");
  objstore_list_free(e, n);
  /* Without ALL_NS, each handle pages its own namespace. */
  char **zs = NULL;
  assert_int_equal(list_all(z, 0, 1, &zs), 2);
  assert_string_equal(zs[0], "z\x1f" "a");
  assert_string_equal(zs[1], "z\x1fobj00");
  free_strs(zs, 2);
  free_strs(ref, total);
  objstore_pool_close(z);
  objstore_pool_close(x);
}

static void test_list_sorted_bytewise(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  const char *names[] = {"b",   "B",  "a",    "_",   "\xc3\xa4", "a0",
                         "a\x01", "A", "\x80", "aa",  "a",        "~"};
  const char *want[] = {"A",  "B",  "_",  "a",   "a\x01",    "a0",
                        "aa", "b",  "~",  "\x80", "\xc3\xa4"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    put_str(p, names[i], "x");
  struct objstore_list_entry *e = NULL;
  size_t n = 0;
  bool more = true;
  assert_ok(objstore_list(p, 0, NULL, NULL, 100, &e, &n, &more));
  assert_int_equal(n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, want[i]) != 0)
      fail_msg("list[%zu] = \"%s\", expected \"%s\"", i, e[i].name, want[i]);
  objstore_list_free(e, n);
  /* Paging after a name with a high byte. */
  assert_ok(objstore_list(p, 0, "", "~", 100, &e, &n, &more));
  assert_int_equal(n, 2);
  assert_string_equal(e[0].name, "\x80");
  objstore_list_free(e, n);
}

/* ---- threads and processes ---------------------------------------------------- */

struct worker {
  struct objstore_pool *pool;
  int id;
  int errors;
  char msg[256];
};

static void *worker_main(void *arg)
{
  struct worker *w = arg;
  unsigned char data[5000], got[5000];
  for (int i = 0; i < 12 && !w->errors; i++) {
    char name[32];
    snprintf(name, sizeof name, "w%d.%d", w->id, i % 3);
    fill(data, sizeof data, (unsigned)(w->id * 100 + i));
    int r = objstore_write_full(w->pool, name, NULL, data, sizeof data);
    if (r == 0)
      r = objstore_write(w->pool, name, NULL, 4000, data, 1000);
    ssize_t n = r == 0 ? objstore_read(w->pool, name, HEAD, 0, sizeof got,
                                       got)
                       : r;
    memcpy(data + 4000, data, 1000);
    if (n != (ssize_t)sizeof got || memcmp(got, data, sizeof got) != 0) {
      w->errors++;
      snprintf(w->msg, sizeof w->msg, "%s: r=%d n=%zd: %s", name, r, n,
               n < 0 ? lbd_last_error() : "bytes differ");
    }
    /* The error message is per thread: a failing call here must not be
     * confused by others. */
    struct objstore_stat st;
    if (objstore_stat(w->pool, "no-such-object", HEAD, &st) != -ENOENT ||
        !lbd_last_error()[0]) {
      w->errors++;
      snprintf(w->msg, sizeof w->msg, "stat of a missing object");
    }
  }
  return NULL;
}

static void test_threads_share_handles(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL;
  open_other(f, "", &c2, &p2);
  struct worker w[6];
  pthread_t t[6];
  for (int i = 0; i < 6; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].pool = i % 2 ? p2 : f->pool;
    w[i].id = i;
    assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < 6; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 6; i++)
    if (w[i].errors)
      fail_msg("thread %d: %s", i, w[i].msg);
  char **all = NULL;
  size_t n = list_all(f->pool, 0, 7, &all);
  assert_int_equal(n, 18);
  free_strs(all, n);
  close_other(c2, p2);
}

struct flipper {
  struct objstore_pool *pool;
  volatile int stop;
  int reads, torn;
  char msg[256];
};

/* Readers see a write_full whole or not at all: 'A' x 100000 or 'B' x 200000,
 * never a mix or a wrong length. */
static void *reader_main(void *arg)
{
  struct flipper *fl = arg;
  unsigned char *buf = malloc(300000);
  while (!fl->stop && !fl->torn) {
    ssize_t n = objstore_read(fl->pool, "flip", HEAD, 0, 300000, buf);
    fl->reads++;
    if (n < 0) {
      fl->torn++;
      snprintf(fl->msg, sizeof fl->msg, "read: %zd: %s", n, lbd_last_error());
      break;
    }
    unsigned char want = n == 100000 ? 'A' : n == 200000 ? 'B' : 0;
    bool ok = want != 0;
    for (ssize_t i = 0; ok && i < n; i++)
      ok = buf[i] == want;
    if (!ok) {
      fl->torn++;
      snprintf(fl->msg, sizeof fl->msg,
               "read %zd bytes, first 0x%02x last 0x%02x", n, n ? buf[0] : 0,
               n ? buf[n - 1] : 0);
    }
  }
  free(buf);
  return NULL;
}

static void test_write_full_is_atomic_for_readers(void **state)
{
  struct fixture *f = FX(state);
  unsigned char *a = malloc(100000), *b = malloc(200000);
  memset(a, 'A', 100000);
  memset(b, 'B', 200000);
  put(f->pool, "flip", a, 100000);
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL;
  open_other(f, "", &c2, &p2);
  struct flipper fl[2];
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    memset(&fl[i], 0, sizeof fl[i]);
    fl[i].pool = i ? p2 : f->pool;
    assert_int_equal(pthread_create(&t[i], NULL, reader_main, &fl[i]), 0);
  }
  for (int i = 0; i < 60; i++) {
    int r = i % 2 ? objstore_write_full(f->pool, "flip", NULL, a, 100000)
                  : objstore_write_full(f->pool, "flip", NULL, b, 200000);
    if (r < 0) {
      fl[0].stop = fl[1].stop = 1;
      pthread_join(t[0], NULL);
      pthread_join(t[1], NULL);
      fail_msg("write_full: %s", lbd_last_error());
    }
  }
  fl[0].stop = fl[1].stop = 1;
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  for (int i = 0; i < 2; i++)
    if (fl[i].torn)
      fail_msg("reader %d saw a partial write_full: %s", i, fl[i].msg);
  assert_true(fl[0].reads > 0 && fl[1].reads > 0);
  close_other(c2, p2);
  free(a);
  free(b);
}

static void test_other_process_sees_writes(void **state)
{
  struct fixture *f = FX(state);
  put_str(f->pool, "mine", "parent");
  struct child ch;
  const char *args[] = {"write", "theirs", "from the child", NULL};
  child_start(&ch, f, "", args);
  assert_int_equal(child_wait(&ch), 0);
  expect_object(f->pool, "theirs", HEAD, "from the child", 14);
  const char *args2[] = {"write", "mine", "overwritten", NULL};
  child_start(&ch, f, "", args2);
  assert_int_equal(child_wait(&ch), 0);
  expect_object(f->pool, "mine", HEAD, "overwritten", 11);
  char **all = NULL;
  size_t n = list_all(f->pool, 0, 10, &all);
  assert_int_equal(n, 2);
  free_strs(all, n);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(int argc, char **argv)
{
  CONFORMANCE_INIT(argc, argv);
  const struct CMUnitTest tests[] = {
      T(test_write_read_basic),
      T(test_large_object_roundtrip),
      T(test_write_full),
      T(test_missing_object),
      T(test_zero),
      T(test_truncate),
      T(test_sparse_read_gaps),
      T(test_sparse_read_unaligned_covers_data),
      T(test_large_offsets),
      T(test_remove),
      T(test_stat_version_mtime),
      T(test_object_name_limits),
      T(test_object_names_odd),
      T(test_namespaces),
      T(test_list_paging),
      T(test_list_sorted_bytewise),
      T(test_threads_share_handles),
      T(test_write_full_is_atomic_for_readers),
      T(test_other_process_sees_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
