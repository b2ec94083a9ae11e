/* Helpers shared by the objstore conformance programs (test_conformance_*.c).
 *
 * Everything here uses only src/objstore/objstore.h and include/lbd/lbd.h, so
 * another backend runs the same suite.  Include it after <cmocka.h>. */
#ifndef LBD_TESTS_OBJSTORE_CONFORMANCE_H
#define LBD_TESTS_OBJSTORE_CONFORMANCE_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "lbd/lbd.h"
#include "objstore/objstore.h"

/* Stale messages: before a call that must fail, leave a known message (from
 * a failing cluster_open of a path that does not exist); after it, the
 * message must be non-empty and must not be that one, so a call that fails
 * without saying why is caught. */
#define SENTINEL_MARK "conformance-sentinel"
static bool sentinel_works = true;

static inline void error_sentinel(void)
{
  struct objstore_cluster *c = NULL;
  if (objstore_cluster_open("/nonexistent-lbd/" SENTINEL_MARK, &c) == 0)
    objstore_cluster_close(c);
  if (!strstr(lbd_last_error(), SENTINEL_MARK))
    sentinel_works = false;
}

/* The message after a failed call: non-empty and fresh. */
#define assert_fresh_error(what)                                             \
  do {                                                                       \
    const char *fm_ = lbd_last_error();                                      \
    if (!fm_ || !*fm_)                                                       \
      fail_msg("%s failed but lbd_last_error() is empty", what);             \
    if (sentinel_works && strstr(fm_, SENTINEL_MARK))                        \
      fail_msg("%s failed but left lbd_last_error() unchanged: %s", what,    \
               fm_);                                                         \
  } while (0)

/* EXPR must fail with exactly -ERR and leave a message in lbd_last_error(). */
#define assert_err(expr, err)                                                \
  do {                                                                       \
    error_sentinel();                                                        \
    long long e_ = (long long)(expr);                                        \
    const char *m_ = lbd_last_error();                                       \
    if (e_ != -(long long)(err))                                             \
      fail_msg("%s = %lld, expected -%s (-%d); last error: %s", #expr, e_,   \
               #err, (int)(err), m_ ? m_ : "(null)");                        \
    assert_fresh_error(#expr);                                               \
  } while (0)

/* EXPR must fail (any negative errno) and leave a message. */
#define assert_fails(expr)                                                   \
  do {                                                                       \
    error_sentinel();                                                        \
    long long e_ = (long long)(expr);                                        \
    if (e_ >= 0)                                                             \
      fail_msg("%s = %lld, expected an error", #expr, e_);                   \
    assert_fresh_error(#expr);                                               \
  } while (0)

/* EXPR must return exactly N (a count), not an error. */
#define assert_ret(expr, n)                                                  \
  do {                                                                       \
    long long e_ = (long long)(expr);                                        \
    if (e_ < 0)                                                              \
      fail_msg("%s = %lld: %s", #expr, e_, lbd_last_error());                \
    if (e_ != (long long)(n))                                                \
      fail_msg("%s = %lld, expected %lld", #expr, e_, (long long)(n));       \
  } while (0)

#define FX(state) ((struct fixture *)*(state))

/* ---- data ---------------------------------------------------------------- */

/* Deterministic bytes that are never zero, so holes stand out. */
static inline void fill(void *buf, size_t len, unsigned seed)
{
  unsigned char *p = buf;
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < len; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (unsigned char)(1 + (x >> 16) % 255);
  }
}

static inline void *filled(size_t len, unsigned seed)
{
  void *p = malloc(len ? len : 1);
  assert_non_null(p);
  fill(p, len, seed);
  return p;
}

static inline bool all_zero(const void *buf, size_t len)
{
  const unsigned char *p = buf;
  for (size_t i = 0; i < len; i++)
    if (p[i])
      return false;
  return true;
}

/* Byte-exact comparison that reports the first differing offset. */
#define assert_bytes(got, want, len)                                         \
  do {                                                                       \
    const unsigned char *g_ = (const unsigned char *)(got);                  \
    const unsigned char *w_ = (const unsigned char *)(want);                 \
    size_t l_ = (len);                                                       \
    for (size_t i_ = 0; i_ < l_; i_++)                                       \
      if (g_[i_] != w_[i_])                                                  \
        fail_msg("%s differs from %s at byte %zu of %zu: 0x%02x != 0x%02x",  \
                 #got, #want, i_, l_, g_[i_], w_[i_]);                       \
  } while (0)

/* The object must read as exactly WANT (SIZE bytes) at SNAPID: stat size,
 * one whole read, a read past the end, and a read that straddles the end. */
static inline void expect_object(struct objstore_pool *pool, const char *oid,
                                 uint64_t snapid, const void *want,
                                 size_t size)
{
  struct objstore_stat st;
  assert_ok(objstore_stat(pool, oid, snapid, &st));
  if (st.size != size)
    fail_msg("stat(%s)@%" PRIu64 ".size = %" PRIu64 ", expected %zu", oid,
             snapid, st.size, size);
  unsigned char *buf = malloc(size + 4096);
  assert_non_null(buf);
  memset(buf, 0xEE, size + 4096);
  ssize_t r = objstore_read(pool, oid, snapid, 0, size + 4096, buf);
  if (r < 0)
    fail_msg("read(%s)@%" PRIu64 " = %zd: %s", oid, snapid, r,
             lbd_last_error());
  if ((size_t)r != size)
    fail_msg("read(%s)@%" PRIu64 " returned %zd, expected %zu", oid, snapid,
             r, size);
  if (size)
    assert_bytes(buf, want, size);
  /* Past the end: 0 bytes. */
  assert_ret(objstore_read(pool, oid, snapid, size, 100, buf), 0);
  assert_ret(objstore_read(pool, oid, snapid, size + 12345, 100, buf), 0);
  /* Straddling the end: short. */
  if (size >= 10) {
    memset(buf, 0xEE, 100);
    assert_ret(objstore_read(pool, oid, snapid, size - 10, 100, buf), 10);
    assert_bytes(buf, (const unsigned char *)want + size - 10, 10);
  }
  free(buf);
}

static inline void expect_missing(struct objstore_pool *pool, const char *oid,
                                  uint64_t snapid)
{
  char buf[16];
  struct objstore_stat st;
  assert_err(objstore_read(pool, oid, snapid, 0, sizeof buf, buf), ENOENT);
  assert_err(objstore_stat(pool, oid, snapid, &st), ENOENT);
}

static inline void put(struct objstore_pool *pool, const char *oid,
                       const void *data, size_t len)
{
  assert_ok(objstore_write_full(pool, oid, NULL, data, len));
}

static inline void put_str(struct objstore_pool *pool, const char *oid,
                           const char *s)
{
  put(pool, oid, s, strlen(s));
}

/* Version of OID at head, 0 when it does not exist. */
static inline uint64_t version_of(struct objstore_pool *pool, const char *oid)
{
  struct objstore_stat st;
  int r = objstore_stat(pool, oid, OBJSTORE_SNAP_HEAD, &st);
  if (r == -ENOENT)
    return 0;
  assert_ok(r);
  return st.version;
}

/* A string of N copies of C (malloc'd). */
static inline char *repeat(char c, size_t n)
{
  char *s = malloc(n + 1);
  assert_non_null(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* ---- key/value lists ------------------------------------------------------ */

static inline int kv_cmp(const void *a, const void *b)
{
  return strcmp(((const struct objstore_kv *)a)->key,
                ((const struct objstore_kv *)b)->key);
}

/* Wanted key/value pair; VLEN (size_t)-1 means strlen(value). */
struct want_kv {
  const char *key;
  const void *value;
  size_t len;
};

/* KVS must hold exactly WANT (WANT sorted by key) in any order when SORT,
 * else in that exact order; every value must be NUL-terminated. */
static inline void expect_kvs(struct objstore_kv *kvs, size_t count,
                              const struct want_kv *want, size_t nwant,
                              bool sort, const char *what)
{
  if (count != nwant) {
    for (size_t i = 0; i < count; i++)
      fprintf(stderr, "  %s[%zu] = \"%s\"\n", what, i, kvs[i].key);
    fail_msg("%s: %zu entries, expected %zu", what, count, nwant);
  }
  if (sort && count > 1)
    qsort(kvs, count, sizeof *kvs, kv_cmp);
  for (size_t i = 0; i < count; i++) {
    assert_non_null(kvs[i].key);
    if (strcmp(kvs[i].key, want[i].key) != 0)
      fail_msg("%s[%zu].key = \"%s\", expected \"%s\"", what, i, kvs[i].key,
               want[i].key);
    size_t wl = want[i].len == (size_t)-1 ? strlen(want[i].value)
                                          : want[i].len;
    if (kvs[i].len != wl)
      fail_msg("%s[%s].len = %zu, expected %zu", what, kvs[i].key,
               kvs[i].len, wl);
    assert_non_null(kvs[i].value);
    if (wl)
      assert_bytes(kvs[i].value, want[i].value, wl);
    if (((const char *)kvs[i].value)[wl] != '\0')
      fail_msg("%s[%s].value is not NUL-terminated", what, kvs[i].key);
  }
}

static inline void expect_xattr(struct objstore_pool *pool, const char *oid,
                                const char *name, const void *value,
                                size_t len)
{
  void *v = NULL;
  size_t l = 12345;
  assert_ok(objstore_getxattr(pool, oid, name, &v, &l));
  if (l != len)
    fail_msg("xattr %s of %s: len %zu, expected %zu", name, oid, l, len);
  assert_non_null(v);
  if (len)
    assert_bytes(v, value, len);
  if (((const char *)v)[len] != '\0')
    fail_msg("xattr %s of %s is not NUL-terminated", name, oid);
  free(v);
}

/* Every omap pair of OID, read with one call (MAX large). */
static inline void expect_omap(struct objstore_pool *pool, const char *oid,
                               const struct want_kv *want, size_t nwant)
{
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  bool more = true;
  assert_ok(objstore_omap_get(pool, oid, NULL, 100000, &kvs, &count, &more));
  assert_false(more);
  expect_kvs(kvs, count, want, nwant, false, "omap");
  objstore_kv_free(kvs, count);
}

static inline void expect_xattrs(struct objstore_pool *pool, const char *oid,
                                 const struct want_kv *want, size_t nwant)
{
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  assert_ok(objstore_getxattrs(pool, oid, &kvs, &count));
  expect_kvs(kvs, count, want, nwant, true, "xattrs");
  objstore_kv_free(kvs, count);
}

/* ---- whole-object state, for "a failed op changed nothing" ------------------ */

struct objstate {
  bool exists;
  struct objstore_stat st;
  unsigned char *data;
  struct objstore_kv *xattrs;
  size_t nxattrs;
  struct objstore_kv *omap;
  size_t nomap;
};

static inline void objstate_capture(struct objstore_pool *pool,
                                    const char *oid, struct objstate *s)
{
  memset(s, 0, sizeof *s);
  int r = objstore_stat(pool, oid, OBJSTORE_SNAP_HEAD, &s->st);
  if (r == -ENOENT)
    return;
  assert_ok(r);
  s->exists = true;
  s->data = malloc(s->st.size + 1);
  assert_non_null(s->data);
  assert_ret(objstore_read(pool, oid, OBJSTORE_SNAP_HEAD, 0, s->st.size,
                           s->data),
             s->st.size);
  assert_ok(objstore_getxattrs(pool, oid, &s->xattrs, &s->nxattrs));
  if (s->nxattrs > 1)
    qsort(s->xattrs, s->nxattrs, sizeof *s->xattrs, kv_cmp);
  bool more = false;
  assert_ok(objstore_omap_get(pool, oid, NULL, 100000, &s->omap, &s->nomap,
                              &more));
  assert_false(more);
}

static inline void objstate_free(struct objstate *s)
{
  free(s->data);
  objstore_kv_free(s->xattrs, s->nxattrs);
  objstore_kv_free(s->omap, s->nomap);
  memset(s, 0, sizeof *s);
}

/* OID must be exactly as captured in BEFORE: existence, size, version, mtime,
 * data, xattrs and omap. */
static inline void objstate_expect_same(struct objstore_pool *pool,
                                        const char *oid,
                                        const struct objstate *before,
                                        const char *what)
{
  struct objstate now;
  objstate_capture(pool, oid, &now);
  if (now.exists != before->exists)
    fail_msg("%s: object %s %s", what, oid,
             before->exists ? "vanished" : "appeared");
  if (now.exists) {
    if (now.st.size != before->st.size)
      fail_msg("%s: size %" PRIu64 " -> %" PRIu64, what, before->st.size,
               now.st.size);
    if (now.st.version != before->st.version)
      fail_msg("%s: version %" PRIu64 " -> %" PRIu64, what,
               before->st.version, now.st.version);
    if (now.st.mtime_ns != before->st.mtime_ns)
      fail_msg("%s: mtime %" PRId64 " -> %" PRId64, what, before->st.mtime_ns,
               now.st.mtime_ns);
    assert_bytes(now.data, before->data, now.st.size);
    if (now.nxattrs != before->nxattrs)
      fail_msg("%s: %zu xattrs -> %zu", what, before->nxattrs, now.nxattrs);
    for (size_t i = 0; i < now.nxattrs; i++) {
      assert_string_equal(now.xattrs[i].key, before->xattrs[i].key);
      assert_int_equal(now.xattrs[i].len, before->xattrs[i].len);
      assert_bytes(now.xattrs[i].value, before->xattrs[i].value,
                   now.xattrs[i].len);
    }
    if (now.nomap != before->nomap)
      fail_msg("%s: %zu omap keys -> %zu", what, before->nomap, now.nomap);
    for (size_t i = 0; i < now.nomap; i++) {
      assert_string_equal(now.omap[i].key, before->omap[i].key);
      assert_int_equal(now.omap[i].len, before->omap[i].len);
      assert_bytes(now.omap[i].value, before->omap[i].value,
                   now.omap[i].len);
    }
  }
  objstate_free(&now);
}

/* ---- extents -------------------------------------------------------------- */

/* Merge touching extents (a backend may report [0,4K)+[4K,8K) or [0,8K)). */
static inline size_t extents_normalize(struct objstore_extent *e, size_t n)
{
  size_t out = 0;
  for (size_t i = 0; i < n; i++) {
    if (e[i].len == 0)
      continue;
    if (out && e[out - 1].off + e[out - 1].len == e[i].off)
      e[out - 1].len += e[i].len;
    else
      e[out++] = e[i];
  }
  return out;
}

static inline void extents_print(const char *what,
                                 const struct objstore_extent *e, size_t n)
{
  fprintf(stderr, "  %s (%zu):", what, n);
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, " [%" PRIu64 ",+%" PRIu64 ")", e[i].off, e[i].len);
  fprintf(stderr, "\n");
}

/* GOT must be sorted and disjoint, and (after merging touching extents)
 * exactly WANT. */
static inline void expect_extents(const char *what,
                                  const struct objstore_extent *got, size_t n,
                                  const struct objstore_extent *want,
                                  size_t nwant)
{
  for (size_t i = 1; i < n; i++)
    if (got[i].off < got[i - 1].off + got[i - 1].len) {
      extents_print("got", got, n);
      fail_msg("%s: extents not sorted and disjoint", what);
    }
  struct objstore_extent *copy = malloc((n + 1) * sizeof *copy);
  assert_non_null(copy);
  if (n)
    memcpy(copy, got, n * sizeof *copy);
  size_t m = extents_normalize(copy, n);
  bool same = m == nwant;
  for (size_t i = 0; same && i < m; i++)
    same = copy[i].off == want[i].off && copy[i].len == want[i].len;
  if (!same) {
    extents_print("got", got, n);
    extents_print("want", want, nwant);
    free(copy);
    fail_msg("%s: extents differ", what);
  }
  free(copy);
}

/* sparse_read OID at SNAPID over [OFF, OFF+LEN): the returned count and
 * bytes must match a plain read, and the extents must be exactly WANT. */
static inline void expect_sparse(struct objstore_pool *pool, const char *oid,
                                 uint64_t snapid, uint64_t off, size_t len,
                                 const struct objstore_extent *want,
                                 size_t nwant, const char *what)
{
  unsigned char *a = malloc(len + 1), *b = malloc(len + 1);
  assert_non_null(a);
  assert_non_null(b);
  memset(a, 0xAA, len);
  memset(b, 0xBB, len);
  ssize_t r = objstore_read(pool, oid, snapid, off, len, a);
  if (r < 0)
    fail_msg("%s: read = %zd: %s", what, r, lbd_last_error());
  struct objstore_extent *ext = NULL;
  size_t next = 0;
  ssize_t s = objstore_sparse_read(pool, oid, snapid, off, len, b, &ext,
                                   &next);
  if (s < 0)
    fail_msg("%s: sparse_read = %zd: %s", what, s, lbd_last_error());
  if (s != r)
    fail_msg("%s: sparse_read returned %zd, read returned %zd", what, s, r);
  assert_bytes(b, a, (size_t)r);
  /* Outside the extents the data reads as zeroes. */
  uint64_t pos = off;
  for (size_t i = 0; i <= next; i++) {
    uint64_t end = i < next ? ext[i].off : off + (uint64_t)r;
    if (i < next && (ext[i].off < off || ext[i].off + ext[i].len > off + len))
      fail_msg("%s: extent [%" PRIu64 ",+%" PRIu64 ") outside the window",
               what, ext[i].off, ext[i].len);
    if (end > off + (uint64_t)r)
      end = off + (uint64_t)r;
    if (end > pos && !all_zero(a + (pos - off), end - pos))
      fail_msg("%s: bytes outside the extents [%" PRIu64 ",%" PRIu64
               ") are not zero",
               what, pos, end);
    if (i < next)
      pos = ext[i].off + ext[i].len;
  }
  expect_extents(what, ext, next, want, nwant);
  free(ext);
  /* BUF NULL: the map only, the same one. */
  ext = NULL;
  next = 0;
  s = objstore_sparse_read(pool, oid, snapid, off, len, NULL, &ext, &next);
  if (s < 0)
    fail_msg("%s: sparse_read(NULL buf) = %zd: %s", what, s,
             lbd_last_error());
  if (s != r)
    fail_msg("%s: sparse_read(NULL buf) returned %zd, read returned %zd",
             what, s, r);
  expect_extents(what, ext, next, want, nwant);
  free(ext);
  free(a);
  free(b);
}

/* ---- a second handle on the fixture's cluster ------------------------------ */

/* Opens another cluster handle on the same directory (as another process
 * would) and pool POOL_ID in namespace NS. */
static inline void open_other(struct fixture *f, const char *ns,
                              struct objstore_cluster **c,
                              struct objstore_pool **p)
{
  assert_ok(objstore_cluster_open(f->dir, c));
  assert_ok(objstore_pool_open(*c, f->pool_id, ns, p));
}

static inline void close_other(struct objstore_cluster *c,
                               struct objstore_pool *p)
{
  if (p)
    objstore_pool_close(p);
  if (c)
    objstore_cluster_close(c);
}

/* ---- compare-and-swap increments ---------------------------------------------- */

/* Add one to the decimal counter in xattr "n" of OID (missing: 0) with an
 * optimistic cmp_version guard, retrying on ECANCELED; also records the new
 * value as an omap key.  Returns 0 or a negative errno (not ECANCELED). */
static inline int cas_increment(struct objstore_pool *pool, const char *oid,
                                int *retries)
{
  for (;;) {
    struct objstore_stat st;
    uint64_t ver = 0;
    int r = objstore_stat(pool, oid, OBJSTORE_SNAP_HEAD, &st);
    if (r == 0)
      ver = st.version;
    else if (r != -ENOENT)
      return r;
    long n = 0;
    if (ver) {
      void *v = NULL;
      size_t len = 0;
      r = objstore_getxattr(pool, oid, "n", &v, &len);
      if (r == -ENOENT)
        continue; /* removed or changed under us: look again */
      if (r < 0)
        return r;
      n = strtol(v, NULL, 10);
      free(v);
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%06ld", n + 1);
    struct objstore_write_op *op = objstore_write_op_new();
    objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, ver);
    objstore_write_op_setxattr(op, "n", buf, strlen(buf));
    objstore_write_op_omap_set(op, buf, buf, strlen(buf));
    r = objstore_write_op_operate(pool, oid, op, NULL, 0);
    objstore_write_op_free(op);
    if (r != -ECANCELED)
      return r;
    if (retries)
      (*retries)++;
  }
}

/* ---- child processes -------------------------------------------------------
 *
 * Each conformance program can be re-run as a helper:
 *   PROG --child DIR POOL_ID NS CMD ARGS...
 * which opens its own cluster handle.  Commands:
 *   write OID DATA           write_full, then exit 0
 *   lock OID NAME x|s COOKIE TAG
 *                            take the lock, print "CLIENT PID\n", then wait for
 *                            stdin to close (or for SIGKILL)
 *   watch OID                watch "rw", print "CLIENT HANDLE\n", then wait
 *   trylock OID NAME x|s COOKIE TAG
 *                            print the lock call's result "%d\n", exit 0
 *   cas OID N                N cas_increment()s of OID, then exit 0
 * It exits 2 (and prints the error on stderr) when a call fails. */

static inline int conformance_child_main(int argc, char **argv)
{
  if (argc < 6) {
    fprintf(stderr, "child: bad arguments\n");
    return 2;
  }
  const char *dir = argv[2], *ns = argv[4], *cmd = argv[5];
  int64_t pool_id = strtoll(argv[3], NULL, 10);
  struct objstore_cluster *c = NULL;
  struct objstore_pool *p = NULL;
  if (objstore_cluster_open(dir, &c) < 0 ||
      objstore_pool_open(c, pool_id, ns, &p) < 0) {
    fprintf(stderr, "child: open: %s\n", lbd_last_error());
    return 2;
  }
  int r = 0;
  if (strcmp(cmd, "write") == 0 && argc == 8) {
    r = objstore_write_full(p, argv[6], NULL, argv[7], strlen(argv[7]));
  } else if ((strcmp(cmd, "lock") == 0 || strcmp(cmd, "trylock") == 0) &&
             argc == 11) {
    enum objstore_lock_type t = argv[8][0] == 's' ? OBJSTORE_LOCK_SHARED
                                                  : OBJSTORE_LOCK_EXCLUSIVE;
    r = objstore_lock(p, argv[6], argv[7], t, argv[9], argv[10], "child");
    if (strcmp(cmd, "trylock") == 0) {
      printf("%d\n", r);
      fflush(stdout);
      r = 0;
    } else if (r == 0) {
      printf("%s %d\n", objstore_cluster_client(c), (int)getpid());
      fflush(stdout);
      char b[64];
      while (read(0, b, sizeof b) > 0)
        ;
    }
  } else if (strcmp(cmd, "cas") == 0 && argc == 8) {
    int n = atoi(argv[7]);
    for (int i = 0; i < n && r == 0; i++)
      r = cas_increment(p, argv[6], NULL);
  } else if (strcmp(cmd, "watch") == 0 && argc == 7) {
    uint64_t h = 0;
    r = objstore_watch(p, argv[6], "rw", true, &h);
    if (r == 0) {
      printf("%s %" PRIu64 "\n", objstore_cluster_client(c), h);
      fflush(stdout);
      char b[64];
      while (read(0, b, sizeof b) > 0)
        ;
    }
  } else {
    fprintf(stderr, "child: unknown command %s\n", cmd);
    r = -EINVAL;
  }
  if (r < 0)
    fprintf(stderr, "child: %s: %s\n", cmd, lbd_last_error());
  objstore_pool_close(p);
  objstore_cluster_close(c);
  return r < 0 ? 2 : 0;
}

/* Call first in main(): runs the child helper and exits when asked to, and
 * applies $CONFORMANCE_FILTER / $CONFORMANCE_SKIP (cmocka test name patterns,
 * e.g. CONFORMANCE_FILTER='test_omap*') to run a subset. */
#define CONFORMANCE_INIT(argc, argv)                                         \
  do {                                                                       \
    if ((argc) > 1 && strcmp((argv)[1], "--child") == 0)                     \
      return conformance_child_main((argc), (argv));                         \
    const char *flt_ = getenv("CONFORMANCE_FILTER");                         \
    const char *skp_ = getenv("CONFORMANCE_SKIP");                           \
    if (flt_ && *flt_)                                                       \
      cmocka_set_test_filter(flt_);                                          \
    if (skp_ && *skp_)                                                       \
      cmocka_set_skip_filter(skp_);                                          \
  } while (0)

struct child {
  pid_t pid;
  int to;   /* its stdin */
  int from; /* its stdout */
};

/* Start this program as a child with ARGS (NULL-terminated, after NS). */
static inline void child_start(struct child *ch, struct fixture *f,
                               const char *ns, const char *const *args)
{
  char pool_id[32];
  snprintf(pool_id, sizeof pool_id, "%" PRId64, f->pool_id);
  const char *argv[32];
  size_t n = 0;
  argv[n++] = "conformance-child";
  argv[n++] = "--child";
  argv[n++] = f->dir;
  argv[n++] = pool_id;
  argv[n++] = ns;
  for (size_t i = 0; args[i] && n < 31; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  int in[2], out[2];
  assert_int_equal(pipe2(in, O_CLOEXEC), 0);
  assert_int_equal(pipe2(out, O_CLOEXEC), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execv("/proc/self/exe", (char *const *)argv);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  ch->pid = pid;
  ch->to = in[1];
  ch->from = out[0];
}

/* Read one line of the child's output (without the newline). */
static inline void child_line(struct child *ch, char *buf, size_t size)
{
  size_t n = 0;
  while (n + 1 < size) {
    char c;
    ssize_t r = read(ch->from, &c, 1);
    if (r <= 0)
      break;
    if (c == '\n')
      break;
    buf[n++] = c;
  }
  buf[n] = '\0';
  if (n == 0)
    fail_msg("child %d printed nothing (did it fail? see stderr)",
             (int)ch->pid);
}

/* Wait for the child; returns its exit status, or -signal. */
static inline int child_wait(struct child *ch)
{
  int status = 0;
  if (ch->to >= 0)
    close(ch->to);
  ch->to = -1;
  while (waitpid(ch->pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (ch->from >= 0)
    close(ch->from);
  ch->from = -1;
  ch->pid = 0;
  if (WIFSIGNALED(status))
    return -WTERMSIG(status);
  return WEXITSTATUS(status);
}

static inline void child_kill(struct child *ch)
{
  kill(ch->pid, SIGKILL);
  assert_int_equal(child_wait(ch), -SIGKILL);
}

/* Close the child's stdin: it cleans up and exits 0. */
static inline void child_finish(struct child *ch)
{
  assert_int_equal(child_wait(ch), 0);
}

#endif
