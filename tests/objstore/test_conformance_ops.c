/* Conformance: compound write ops, guards, xattrs and omap (objstore.h
 * "write ops" and "xattrs and omap"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include "conformance.h"

#define K 1024ull
#define HEAD OBJSTORE_SNAP_HEAD
#define S(x) (x), strlen(x) /* value, len */

static const char *cmp_name(enum objstore_cmp c)
{
  switch (c) {
  case OBJSTORE_CMP_EQ: return "EQ";
  case OBJSTORE_CMP_NE: return "NE";
  case OBJSTORE_CMP_GT: return "GT";
  case OBJSTORE_CMP_GTE: return "GTE";
  case OBJSTORE_CMP_LT: return "LT";
  case OBJSTORE_CMP_LTE: return "LTE";
  }
  return "?";
}

static const enum objstore_cmp all_cmps[] = {
    OBJSTORE_CMP_EQ, OBJSTORE_CMP_NE,  OBJSTORE_CMP_GT,
    OBJSTORE_CMP_GTE, OBJSTORE_CMP_LT, OBJSTORE_CMP_LTE};

/* Is (a CMP b), given c = sign of the bytewise/numeric comparison a vs b? */
static bool holds(enum objstore_cmp cmp, int c)
{
  switch (cmp) {
  case OBJSTORE_CMP_EQ: return c == 0;
  case OBJSTORE_CMP_NE: return c != 0;
  case OBJSTORE_CMP_GT: return c > 0;
  case OBJSTORE_CMP_GTE: return c >= 0;
  case OBJSTORE_CMP_LT: return c < 0;
  case OBJSTORE_CMP_LTE: return c <= 0;
  }
  return false;
}

static int bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c)
    return c < 0 ? -1 : 1;
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Printable form of LEN bytes. */
static void escape(char *out, size_t size, const void *data, size_t len)
{
  const unsigned char *d = data;
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < len && o + 5 < size; i++) {
    if (d[i] >= 0x20 && d[i] < 0x7f && d[i] != '"' && d[i] != '\\')
      out[o++] = (char)d[i];
    else
      o += (size_t)snprintf(out + o, size - o, "\\x%02x", d[i]);
  }
  out[o] = '\0';
}

static int operate(struct objstore_pool *p, const char *oid,
                   struct objstore_write_op *op)
{
  int r = objstore_write_op_operate(p, oid, op, NULL, 0);
  objstore_write_op_free(op);
  return r;
}

/* A test object: 100 KiB of data, xattrs a and b, omap k1..k3. */
static void make_rich(struct objstore_pool *p, const char *oid)
{
  void *data = filled(100 * K, 77);
  put(p, oid, data, 100 * K);
  free(data);
  assert_ok(objstore_setxattr(p, oid, "a", S("alpha")));
  assert_ok(objstore_setxattr(p, oid, "b", S("beta")));
  assert_ok(objstore_omap_set(p, oid, "k1", S("v1")));
  assert_ok(objstore_omap_set(p, oid, "k2", S("v2")));
  assert_ok(objstore_omap_set(p, oid, "k3", S("v3")));
}

/* ---- every step ------------------------------------------------------------ */

static void test_op_every_step(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct objstore_write_op *op = objstore_write_op_new();
  assert_non_null(op);
  objstore_write_op_create(op, true);
  objstore_write_op_write(op, 0, "hello world", 11);
  objstore_write_op_setxattr(op, "a", S("1"));
  objstore_write_op_setxattr(op, "b", S("2"));
  objstore_write_op_omap_set(op, "k1", S("v1"));
  objstore_write_op_omap_set(op, "k2", S("v2"));
  objstore_write_op_omap_set(op, "k3", S("v3"));
  objstore_write_op_omap_rm(op, "k2");
  objstore_write_op_rmxattr(op, "b");
  objstore_write_op_truncate(op, 5);
  objstore_write_op_write(op, 10, "X", 1);
  objstore_write_op_zero(op, 0, 2);
  objstore_write_op_setxattr(op, "a", S("one")); /* later step wins */
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, "\0\0llo\0\0\0\0\0X", 11);
  const struct want_kv x1[] = {{"a", "one", 3}};
  expect_xattrs(p, "o", x1, 1);
  const struct want_kv m1[] = {{"k1", "v1", 2}, {"k3", "v3", 2}};
  expect_omap(p, "o", m1, 2);
  uint64_t v = version_of(p, "o");
  assert_true(v > 0);

  /* Guards that hold, then data and omap replaced. */
  op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_create(op, false);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, v);
  objstore_write_op_cmp_xattr(op, "a", OBJSTORE_CMP_EQ, S("one"));
  objstore_write_op_write_full(op, "new", 3);
  objstore_write_op_omap_clear(op);
  objstore_write_op_omap_set(op, "k9", S("v9"));
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, "new", 3);
  expect_xattrs(p, "o", x1, 1);
  const struct want_kv m2[] = {{"k9", "v9", 2}};
  expect_omap(p, "o", m2, 1);
  assert_true(version_of(p, "o") > v);

  /* Steps run in order: write_full after write, truncate after write. */
  op = objstore_write_op_new();
  objstore_write_op_write(op, 0, "zzzzzzzz", 8);
  objstore_write_op_write_full(op, "ab", 2);
  objstore_write_op_write(op, 4, "cd", 2);
  objstore_write_op_truncate(op, 5);
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, "ab\0\0c", 5);

  /* FUA and a flush are accepted and change nothing else. */
  op = objstore_write_op_new();
  objstore_write_op_write(op, 0, "AB", 2);
  assert_ok(objstore_write_op_operate(p, "o", op, NULL, OBJSTORE_OP_FUA));
  objstore_write_op_free(op);
  expect_object(p, "o", HEAD, "AB\0\0c", 5);
  assert_ok(objstore_flush(p));
  expect_object(p, "o", HEAD, "AB\0\0c", 5);
}

static void test_op_assert_exists(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_write(op, 0, "x", 1);
  assert_err(operate(p, "o", op), ENOENT);
  expect_missing(p, "o", HEAD);

  put_str(p, "o", "abc");
  op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_write(op, 0, "x", 1);
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, "xbc", 3);

  /* An object of size 0 exists. */
  put(p, "e", "", 0);
  op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_setxattr(op, "seen", S("yes"));
  assert_ok(operate(p, "e", op));
  expect_xattr(p, "e", "seen", S("yes"));
}

static void test_op_create(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  /* Exclusive create of a missing object: empty object. */
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  assert_ok(operate(p, "new", op));
  expect_object(p, "new", HEAD, "", 0);
  assert_true(version_of(p, "new") > 0);

  /* Exclusive create of an existing object: EEXIST, nothing changes. */
  make_rich(p, "o");
  struct objstate before;
  objstate_capture(p, "o", &before);
  op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  objstore_write_op_write_full(op, "clobbered", 9);
  assert_err(operate(p, "o", op), EEXIST);
  objstate_expect_same(p, "o", &before, "create(exclusive) of existing");
  op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  assert_err(operate(p, "new", op), EEXIST);

  /* Non-exclusive create of an existing object keeps its data. */
  op = objstore_write_op_new();
  objstore_write_op_create(op, false);
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, before.data, before.st.size);
  const struct want_kv x[] = {{"a", "alpha", 5}, {"b", "beta", 4}};
  expect_xattrs(p, "o", x, 2);
  objstate_free(&before);

  /* Steps run in order: a write creates the object, so a later exclusive
   * create fails, and the whole op is undone. */
  op = objstore_write_op_new();
  objstore_write_op_write(op, 0, "x", 1);
  objstore_write_op_create(op, true);
  assert_err(operate(p, "late", op), EEXIST);
  expect_missing(p, "late", HEAD);
  struct objstore_list_entry *e = NULL;
  size_t n = 0;
  bool more = true;
  assert_ok(objstore_list(p, 0, NULL, NULL, 10, &e, &n, &more));
  assert_int_equal(n, 2); /* "new", "o" */
  objstore_list_free(e, n);
}

/* ---- guards ------------------------------------------------------------------ */

static void test_op_cmp_version_every_cmp(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  make_rich(p, "o");
  int hits = 0;
  for (size_t c = 0; c < 6; c++) {
    for (int d = -1; d <= 1; d++) {
      enum objstore_cmp cmp = all_cmps[c];
      uint64_t v = version_of(p, "o");
      assert_true(v >= 2);
      uint64_t val = v + (uint64_t)(int64_t)d;
      /* object's version CMP val: sign of (v - val) is -d. */
      bool ok = holds(cmp, -d);
      char tag[64];
      snprintf(tag, sizeof tag, "version %" PRIu64 " %s %" PRIu64, v,
               cmp_name(cmp), val);
      struct objstate before;
      objstate_capture(p, "o", &before);
      struct objstore_write_op *op = objstore_write_op_new();
      objstore_write_op_cmp_version(op, cmp, val);
      objstore_write_op_setxattr(op, "hit", S(tag));
      objstore_write_op_omap_set(op, "hit", S(tag));
      objstore_write_op_write(op, 0, tag, strlen(tag));
      error_sentinel();
      int r = operate(p, "o", op);
      if (ok) {
        if (r < 0)
          fail_msg("%s: op failed with %d: %s", tag, r, lbd_last_error());
        expect_xattr(p, "o", "hit", S(tag));
        char buf[64];
        assert_ret(objstore_read(p, "o", HEAD, 0, strlen(tag), buf),
                   strlen(tag));
        assert_bytes(buf, tag, strlen(tag));
        assert_true(version_of(p, "o") > v);
        hits++;
      } else {
        if (r != -ECANCELED)
          fail_msg("%s: op returned %d, expected -ECANCELED", tag, r);
        assert_fresh_error(tag);
        objstate_expect_same(p, "o", &before, tag);
      }
      objstate_free(&before);
    }
  }
  assert_int_equal(hits, 1 + 2 + 1 + 2 + 1 + 2);
}

static void test_op_cmp_version_missing_object(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  /* A missing object has version 0. */
  struct {
    enum objstore_cmp cmp;
    uint64_t val;
    bool ok;
  } cases[] = {
      {OBJSTORE_CMP_EQ, 0, true},   {OBJSTORE_CMP_EQ, 1, false},
      {OBJSTORE_CMP_NE, 0, false},  {OBJSTORE_CMP_NE, 1, true},
      {OBJSTORE_CMP_GT, 0, false},  {OBJSTORE_CMP_GTE, 0, true},
      {OBJSTORE_CMP_GTE, 1, false}, {OBJSTORE_CMP_LT, 0, false},
      {OBJSTORE_CMP_LT, 1, true},   {OBJSTORE_CMP_LTE, 0, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char oid[32];
    snprintf(oid, sizeof oid, "m%zu", i);
    struct objstore_write_op *op = objstore_write_op_new();
    objstore_write_op_cmp_version(op, cases[i].cmp, cases[i].val);
    objstore_write_op_write(op, 0, S(oid));
    error_sentinel();
    int r = operate(p, oid, op);
    if (cases[i].ok) {
      if (r < 0)
        fail_msg("missing %s %" PRIu64 ": %d: %s", cmp_name(cases[i].cmp),
                 cases[i].val, r, lbd_last_error());
      expect_object(p, oid, HEAD, oid, strlen(oid));
    } else {
      if (r != -ECANCELED)
        fail_msg("missing %s %" PRIu64 ": returned %d, expected -ECANCELED",
                 cmp_name(cases[i].cmp), cases[i].val, r);
      assert_fresh_error(oid);
      expect_missing(p, oid, HEAD);
    }
  }
  /* After remove, the object compares as version 0 again. */
  put_str(p, "r", "x");
  assert_ok(objstore_remove(p, "r", NULL));
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, 0);
  objstore_write_op_write(op, 0, "y", 1);
  assert_ok(operate(p, "r", op));
  expect_object(p, "r", HEAD, "y", 1);
}

static void test_op_cmp_xattr_every_cmp(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  make_rich(p, "o");
  /* Stored values, and values to compare them against. */
  struct {
    const char *name;
    const char *stored; /* NULL: missing xattr */
    size_t slen;
  } attrs[] = {
      {"s", "m", 1},
      {"bin", "a\0b", 3},
      {"nope", NULL, 0},
      {"empty", "", 0},
  };
  struct {
    const char *v;
    size_t len;
  } vals[] = {
      {"l", 1},    {"m", 1},     {"n", 1},   {"mm", 2},    {"", 0},
      {"\x80", 1}, {"a\0c", 3},  {"a", 1},   {"a\0b", 3},  {"a\0", 2},
      {"a\0b\0", 4},
  };
  assert_ok(objstore_setxattr(p, "o", "s", "m", 1));
  assert_ok(objstore_setxattr(p, "o", "bin", "a\0b", 3));
  assert_ok(objstore_setxattr(p, "o", "empty", "", 0));
  int n = 0, wrong = 0;
  for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++) {
    for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
      for (size_t c = 0; c < 6; c++) {
        enum objstore_cmp cmp = all_cmps[c];
        const char *sv = attrs[a].stored ? attrs[a].stored : "";
        bool ok = holds(cmp, bytes_cmp(sv, attrs[a].slen, vals[v].v,
                                       vals[v].len));
        char tag[160], es[32], ev[32];
        escape(es, sizeof es, sv, attrs[a].slen);
        escape(ev, sizeof ev, vals[v].v, vals[v].len);
        snprintf(tag, sizeof tag, "xattr %s=\"%s\"%s %s \"%s\"",
                 attrs[a].name, es, attrs[a].stored ? "" : " (missing)",
                 cmp_name(cmp), ev);
        struct objstate before;
        objstate_capture(p, "o", &before);
        struct objstore_write_op *op = objstore_write_op_new();
        objstore_write_op_cmp_xattr(op, attrs[a].name, cmp, vals[v].v,
                                    vals[v].len);
        objstore_write_op_omap_set(op, "hit", S(tag));
        error_sentinel();
        int r = operate(p, "o", op);
        if (ok && r == -ECANCELED) {
          fprintf(stderr, "  WRONG: %s holds, but the op was canceled\n", tag);
          wrong++;
        } else if (!ok && r == 0) {
          fprintf(stderr, "  WRONG: %s is false, but the op ran\n", tag);
          wrong++;
        } else if (ok) {
          if (r < 0)
            fail_msg("%s: op failed with %d: %s", tag, r, lbd_last_error());
          struct objstore_kv *kvs = NULL;
          size_t count = 0;
          const char *key = "hit";
          assert_ok(objstore_omap_get_keys(p, "o", &key, 1, &kvs, &count));
          const struct want_kv w[] = {{"hit", tag, strlen(tag)}};
          expect_kvs(kvs, count, w, 1, false, tag);
          objstore_kv_free(kvs, count);
          n++;
        } else {
          if (r != -ECANCELED)
            fail_msg("%s: op returned %d, expected -ECANCELED", tag, r);
          assert_fresh_error(tag);
          objstate_expect_same(p, "o", &before, tag);
        }
        objstate_free(&before);
      }
    }
  }
  if (wrong)
    fail_msg("%d of %d xattr comparisons gave the wrong answer (see above)",
             wrong, (int)(sizeof attrs / sizeof attrs[0] *
                          sizeof vals / sizeof vals[0] * 6));
  assert_true(n > 0);
  /* The compared xattrs themselves never changed. */
  expect_xattr(p, "o", "s", "m", 1);
  expect_xattr(p, "o", "bin", "a\0b", 3);
}

static void test_failed_op_changes_nothing(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  make_rich(p, "o");
  uint64_t v = version_of(p, "o");
  void *patch = filled(10 * K, 88);

  for (int kind = 0; kind < 7; kind++) {
    if (kind == 5 && !fixture_has(FIXTURE_CAP_GUARDS_SEE_STEPS))
      continue; /* a cmpxattr after an rmxattr of the same op */
    struct objstate before;
    objstate_capture(p, "o", &before);
    struct objstore_write_op *op = objstore_write_op_new();
    /* Every kind of change first... */
    objstore_write_op_write(op, 50 * K, patch, 10 * K);
    objstore_write_op_zero(op, 0, 8 * K);
    objstore_write_op_truncate(op, 300 * K);
    objstore_write_op_write(op, 400 * K, patch, 10 * K);
    objstore_write_op_setxattr(op, "a", S("changed"));
    objstore_write_op_setxattr(op, "c", S("new"));
    objstore_write_op_rmxattr(op, "b");
    objstore_write_op_omap_set(op, "k1", S("changed"));
    objstore_write_op_omap_rm(op, "k2");
    objstore_write_op_omap_clear(op);
    objstore_write_op_omap_set(op, "k9", S("new"));
    int want;
    /* ...then a step that fails. */
    switch (kind) {
    case 0:
      objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, v + 1000);
      want = ECANCELED;
      break;
    case 1:
      objstore_write_op_cmp_xattr(op, "c", OBJSTORE_CMP_EQ, S("other"));
      want = ECANCELED;
      break;
    case 2:
      objstore_write_op_remove(op);
      objstore_write_op_assert_exists(op);
      want = ENOENT;
      break;
    case 3:
      objstore_write_op_remove(op);
      objstore_write_op_remove(op);
      want = ENOENT;
      break;
    case 4:
      objstore_write_op_create(op, true);
      want = EEXIST;
      break;
    case 5:
      objstore_write_op_write_full(op, "short", 5);
      objstore_write_op_cmp_xattr(op, "b", OBJSTORE_CMP_EQ, S("beta"));
      want = ECANCELED; /* b was removed by an earlier step */
      break;
    default: {
      char *toolong = repeat('x', OBJSTORE_MAX_OMAP_KEY + 1);
      objstore_write_op_omap_set(op, toolong, S("v"));
      free(toolong);
      want = ENAMETOOLONG;
      break;
    }
    }
    error_sentinel();
    int r = objstore_write_op_operate(p, "o", op, NULL, 0);
    objstore_write_op_free(op);
    char tag[32];
    snprintf(tag, sizeof tag, "failing op kind %d", kind);
    if (r != -want)
      fail_msg("%s returned %d, expected -%d", tag, r, want);
    assert_fresh_error(tag);
    objstate_expect_same(p, "o", &before, tag);
    objstate_free(&before);
  }
  expect_xattr(p, "o", "a", S("alpha"));

  /* The same on a missing object: it stays missing. */
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_write(op, 0, patch, 10 * K);
  objstore_write_op_setxattr(op, "a", S("x"));
  objstore_write_op_omap_set(op, "k", S("x"));
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_GT, 0);
  assert_err(operate(p, "missing", op), ECANCELED);
  expect_missing(p, "missing", HEAD);
  struct objstore_list_entry *e = NULL;
  size_t n = 0;
  bool more = true;
  assert_ok(objstore_list(p, OBJSTORE_LIST_ALL_NS, NULL, NULL, 10, &e, &n,
                          &more));
  assert_int_equal(n, 1);
  assert_string_equal(e[0].name, "o");
  objstore_list_free(e, n);
  free(patch);
}

static void test_remove_then_create_in_one_op(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  make_rich(p, "o");
  uint64_t v = version_of(p, "o");
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_remove(op);
  objstore_write_op_create(op, true);
  objstore_write_op_write(op, 0, "fresh", 5);
  objstore_write_op_setxattr(op, "n", S("new"));
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, "fresh", 5);
  const struct want_kv x[] = {{"n", "new", 3}};
  expect_xattrs(p, "o", x, 1);
  expect_omap(p, "o", NULL, 0);
  assert_true(version_of(p, "o") > v);

  /* Remove, then a metadata step: a new empty object. */
  v = version_of(p, "o");
  op = objstore_write_op_new();
  objstore_write_op_remove(op);
  objstore_write_op_omap_set(op, "only", S("this"));
  assert_ok(operate(p, "o", op));
  expect_object(p, "o", HEAD, "", 0);
  expect_xattrs(p, "o", NULL, 0);
  const struct want_kv m[] = {{"only", "this", 4}};
  expect_omap(p, "o", m, 1);
  assert_true(version_of(p, "o") > v);

  /* Remove in an op: ENOENT if missing. */
  op = objstore_write_op_new();
  objstore_write_op_remove(op);
  assert_err(operate(p, "tmp", op), ENOENT);
  expect_missing(p, "tmp", HEAD);
  op = objstore_write_op_new();
  objstore_write_op_remove(op);
  assert_ok(operate(p, "o", op));
  expect_missing(p, "o", HEAD);

  /* Create, then remove: nothing left. */
  op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  objstore_write_op_write(op, 0, "tmp", 3);
  objstore_write_op_remove(op);
  assert_ok(operate(p, "tmp", op));
  expect_missing(p, "tmp", HEAD);
}

static void test_version_grows(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  uint64_t last = 0, v;
  int stuck = 0;
#define GROWS(what)                                                          \
  do {                                                                       \
    v = version_of(p, "o");                                                  \
    if (v <= last) {                                                         \
      fprintf(stderr, "  version did not grow after %s: %" PRIu64            \
              " -> %" PRIu64 "\n", what, last, v);                           \
      stuck++;                                                               \
    }                                                                        \
    last = v;                                                                \
  } while (0)
#define KEEPS_OR_GROWS(what)                                                 \
  do {                                                                       \
    v = version_of(p, "o");                                                  \
    if (v < last)                                                            \
      fail_msg("version went down after %s: %" PRIu64 " -> %" PRIu64, what,  \
               last, v);                                                     \
    last = v;                                                                \
  } while (0)
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_create(op, true);
  assert_ok(operate(p, "o", op));
  GROWS("create");
  put_str(p, "o", "data data data");
  GROWS("write_full");
  assert_ok(objstore_write(p, "o", NULL, 2, "XX", 2));
  KEEPS_OR_GROWS("write");
  assert_ok(objstore_zero(p, "o", NULL, 0, 2));
  KEEPS_OR_GROWS("zero");
  assert_ok(objstore_write(p, "o", NULL, 100, "grow", 4));
  KEEPS_OR_GROWS("write past the end");
  assert_ok(objstore_setxattr(p, "o", "a", S("1")));
  GROWS("setxattr");
  assert_ok(objstore_setxattr(p, "o", "a", S("2")));
  GROWS("setxattr again");
  op = objstore_write_op_new();
  objstore_write_op_rmxattr(op, "a");
  assert_ok(operate(p, "o", op));
  GROWS("rmxattr");
  assert_ok(objstore_omap_set(p, "o", "k", S("v")));
  GROWS("omap_set");
  assert_ok(objstore_omap_set(p, "o", "k2", S("v")));
  GROWS("omap_set 2");
  assert_ok(objstore_omap_rm(p, "o", "k"));
  GROWS("omap_rm");
  op = objstore_write_op_new();
  objstore_write_op_omap_clear(op);
  assert_ok(operate(p, "o", op));
  GROWS("omap_clear");
  assert_ok(objstore_truncate(p, "o", NULL, 3));
  GROWS("truncate");
  op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_write(op, 0, "c", 1);
  assert_ok(operate(p, "o", op));
  KEEPS_OR_GROWS("guarded write (may run in place)");
  op = objstore_write_op_new();
  objstore_write_op_assert_exists(op);
  objstore_write_op_write(op, 0, "c", 1);
  objstore_write_op_setxattr(op, "b", S("1"));
  assert_ok(operate(p, "o", op));
  GROWS("compound op");
  op = objstore_write_op_new();
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, last);
  objstore_write_op_zero(op, 0, 1);
  assert_ok(operate(p, "o", op));
  GROWS("compound op with a zero");
  /* A failed op does not move it. */
  op = objstore_write_op_new();
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_LT, last);
  objstore_write_op_write(op, 0, "c", 1);
  assert_err(operate(p, "o", op), ECANCELED);
  assert_int_equal(version_of(p, "o"), last);
  /* Remove and re-create: it keeps growing (no ABA for cmp_version). */
  assert_ok(objstore_remove(p, "o", NULL));
  assert_int_equal(version_of(p, "o"), 0);
  put_str(p, "o", "again");
  GROWS("remove and re-create");
  if (stuck)
    fail_msg("%d ops that must grow the version did not (see above)", stuck);
#undef GROWS
#undef KEEPS_OR_GROWS
}

/* ---- xattrs ------------------------------------------------------------------ */

static void test_xattrs(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  void *v = NULL;
  size_t len = 0;
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  assert_err(objstore_getxattr(p, "o", "a", &v, &len), ENOENT);
  assert_err(objstore_getxattrs(p, "o", &kvs, &count), ENOENT);

  /* setxattr creates a missing object, empty. */
  assert_ok(objstore_setxattr(p, "o", "a", S("alpha")));
  expect_object(p, "o", HEAD, "", 0);
  expect_xattr(p, "o", "a", S("alpha"));
  assert_err(objstore_getxattr(p, "o", "b", &v, &len), ENOENT);
  assert_err(objstore_getxattr(p, "o", "alpha", &v, &len), ENOENT);

  /* Binary values, empty values, overwrite, big values. */
  assert_ok(objstore_setxattr(p, "o", "bin", "\0\x01\xff\0", 4));
  assert_ok(objstore_setxattr(p, "o", "empty", "", 0));
  assert_ok(objstore_setxattr(p, "o", "a", S("ALPHA!")));
  void *big = filled(64 * K, 5);
  assert_ok(objstore_setxattr(p, "o", "big", big, 64 * K));
  char *longest = repeat('n', OBJSTORE_MAX_XATTR_NAME);
  char *toolong = repeat('n', OBJSTORE_MAX_XATTR_NAME + 1);
  assert_ok(objstore_setxattr(p, "o", longest, S("max")));
  assert_err(objstore_setxattr(p, "o", toolong, S("x")), ENAMETOOLONG);
  assert_err(objstore_getxattr(p, "o", toolong, &v, &len), ENAMETOOLONG);
  expect_xattr(p, "o", "bin", "\0\x01\xff\0", 4);
  expect_xattr(p, "o", "empty", "", 0);
  expect_xattr(p, "o", "a", S("ALPHA!"));
  expect_xattr(p, "o", "big", big, 64 * K);
  expect_xattr(p, "o", longest, S("max"));
  const struct want_kv all[] = {{"a", "ALPHA!", 6},
                                {"big", big, 64 * K},
                                {"bin", "\0\x01\xff\0", 4},
                                {"empty", "", 0},
                                {longest, "max", 3}};
  expect_xattrs(p, "o", all, 5);

  /* xattrs live beside the data: data writes keep them. */
  put_str(p, "o", "some data");
  assert_ok(objstore_write(p, "o", NULL, 100, "more", 4));
  assert_ok(objstore_truncate(p, "o", NULL, 50));
  assert_ok(objstore_zero(p, "o", NULL, 0, 10));
  expect_xattrs(p, "o", all, 5);

  /* rmxattr removes just that one. */
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_rmxattr(op, "big");
  objstore_write_op_rmxattr(op, longest);
  assert_ok(operate(p, "o", op));
  assert_err(objstore_getxattr(p, "o", "big", &v, &len), ENOENT);
  const struct want_kv left[] = {
      {"a", "ALPHA!", 6}, {"bin", "\0\x01\xff\0", 4}, {"empty", "", 0}};
  expect_xattrs(p, "o", left, 3);
  free(big);
  free(longest);
  free(toolong);
}

static void test_xattr_listing_after_rm(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  assert_ok(objstore_setxattr(p, "o", "z", S("last")));
  assert_ok(objstore_setxattr(p, "o", "a", S("first")));
  assert_ok(objstore_setxattr(p, "o", "m", S("mid")));
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_rmxattr(op, "m");
  assert_ok(operate(p, "o", op));
  const struct want_kv w[] = {{"a", "first", 5}, {"z", "last", 4}};
  expect_xattrs(p, "o", w, 2);
  /* An object with no xattrs lists none. */
  put_str(p, "plain", "x");
  expect_xattrs(p, "plain", NULL, 0);
}

/* ---- omap -------------------------------------------------------------------- */

static void test_omap_basic(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  bool more = false;
  assert_err(objstore_omap_get(p, "o", NULL, 10, &kvs, &count, &more),
             ENOENT);
  const char *k1 = "k";
  assert_err(objstore_omap_get_keys(p, "o", &k1, 1, &kvs, &count), ENOENT);

  /* omap_set creates a missing object, empty. */
  assert_ok(objstore_omap_set(p, "o", "k", S("v")));
  expect_object(p, "o", HEAD, "", 0);
  assert_ok(objstore_omap_set(p, "o", "bin", "\0\xff\0", 3));
  assert_ok(objstore_omap_set(p, "o", "empty", "", 0));
  assert_ok(objstore_omap_set(p, "o", "k", S("v2"))); /* overwrite */
  void *big = filled(100 * K, 3);
  assert_ok(objstore_omap_set(p, "o", "big", big, 100 * K));
  char *longest = repeat('k', OBJSTORE_MAX_OMAP_KEY);
  char *toolong = repeat('k', OBJSTORE_MAX_OMAP_KEY + 1);
  assert_ok(objstore_omap_set(p, "o", longest, S("max")));
  assert_err(objstore_omap_set(p, "o", toolong, S("x")), ENAMETOOLONG);
  const struct want_kv all[] = {{"big", big, 100 * K},
                                {"bin", "\0\xff\0", 3},
                                {"empty", "", 0},
                                {"k", "v2", 2},
                                {longest, "max", 3}};
  expect_omap(p, "o", all, 5);

  /* Data and xattr changes keep the omap. */
  put_str(p, "o", "data");
  assert_ok(objstore_truncate(p, "o", NULL, 1));
  assert_ok(objstore_setxattr(p, "o", "x", S("y")));
  expect_omap(p, "o", all, 5);

  /* Remove one key; removing it again is harmless or ENOENT, not a crash. */
  assert_ok(objstore_omap_rm(p, "o", "bin"));
  int r = objstore_omap_rm(p, "o", "bin");
  assert_true(r == 0 || r == -ENOENT);
  const struct want_kv after[] = {{"big", big, 100 * K},
                                  {"empty", "", 0},
                                  {"k", "v2", 2},
                                  {longest, "max", 3}};
  expect_omap(p, "o", after, 4);

  /* Clear: no keys, xattrs and data kept. */
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_omap_clear(op);
  assert_ok(operate(p, "o", op));
  expect_omap(p, "o", NULL, 0);
  expect_xattr(p, "o", "x", S("y"));
  expect_object(p, "o", HEAD, "d", 1);
  /* Keys can be set again after a clear. */
  op = objstore_write_op_new();
  objstore_write_op_omap_clear(op);
  objstore_write_op_omap_set(op, "after", S("clear"));
  assert_ok(operate(p, "o", op));
  const struct want_kv one[] = {{"after", "clear", 5}};
  expect_omap(p, "o", one, 1);

  /* An object without omap has an empty one. */
  put_str(p, "plain", "x");
  expect_omap(p, "plain", NULL, 0);
  free(big);
  free(longest);
  free(toolong);
}

static void test_omap_paging_and_order(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  for (int i = 0; i < 30; i++) {
    char k[16], v[16];
    snprintf(k, sizeof k, "k%02d", i);
    snprintf(v, sizeof v, "value %d", i);
    assert_ok(objstore_omap_set(p, "o", k, S(v)));
  }
  /* Pages of 7: 7,7,7,7,2. */
  char after[16] = "";
  int seen = 0;
  for (int page = 0; page < 5; page++) {
    struct objstore_kv *kvs = NULL;
    size_t count = 0;
    bool more = false;
    assert_ok(objstore_omap_get(p, "o", page ? after : NULL, 7, &kvs, &count,
                                &more));
    assert_int_equal(count, page < 4 ? 7 : 2);
    assert_int_equal(more, page < 4);
    for (size_t i = 0; i < count; i++) {
      char k[16], v[16];
      snprintf(k, sizeof k, "k%02d", seen);
      snprintf(v, sizeof v, "value %d", seen);
      assert_string_equal(kvs[i].key, k);
      assert_int_equal(kvs[i].len, strlen(v));
      assert_bytes(kvs[i].value, v, strlen(v));
      seen++;
    }
    snprintf(after, sizeof after, "%s", kvs[count - 1].key);
    objstore_kv_free(kvs, count);
  }
  assert_int_equal(seen, 30);

  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  bool more = true;
  /* "" is the same as NULL. */
  assert_ok(objstore_omap_get(p, "o", "", 3, &kvs, &count, &more));
  assert_int_equal(count, 3);
  assert_true(more);
  assert_string_equal(kvs[0].key, "k00");
  objstore_kv_free(kvs, count);
  /* Exactly MAX left: more is false. */
  assert_ok(objstore_omap_get(p, "o", "k19", 10, &kvs, &count, &more));
  assert_int_equal(count, 10);
  assert_false(more);
  assert_string_equal(kvs[0].key, "k20");
  assert_string_equal(kvs[9].key, "k29");
  objstore_kv_free(kvs, count);
  /* START_AFTER need not be a key. */
  assert_ok(objstore_omap_get(p, "o", "k10x", 2, &kvs, &count, &more));
  assert_int_equal(count, 2);
  assert_true(more);
  assert_string_equal(kvs[0].key, "k11");
  objstore_kv_free(kvs, count);
  assert_ok(objstore_omap_get(p, "o", "a", 1, &kvs, &count, &more));
  assert_int_equal(count, 1);
  assert_string_equal(kvs[0].key, "k00");
  objstore_kv_free(kvs, count);
  assert_ok(objstore_omap_get(p, "o", "k29", 10, &kvs, &count, &more));
  assert_int_equal(count, 0);
  assert_false(more);
  objstore_kv_free(kvs, count);
  assert_ok(objstore_omap_get(p, "o", "z", 10, &kvs, &count, &more));
  assert_int_equal(count, 0);
  assert_false(more);
  objstore_kv_free(kvs, count);

  /* Bytewise (unsigned) order. */
  const char *keys[] = {"b", "B", "a", "_", "\xc3\xa4", "a0", "a\x01",
                        "A", "\x80", "aa", "~", "a "};
  const char *sorted[] = {"A",  "B",  "_", "a",    "a\x01",    "a ",
                          "a0", "aa", "b", "~",    "\x80",     "\xc3\xa4"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    assert_ok(objstore_omap_set(p, "order", keys[i], S(keys[i])));
  assert_ok(objstore_omap_get(p, "order", NULL, 100, &kvs, &count, &more));
  assert_int_equal(count, 12);
  assert_false(more);
  for (size_t i = 0; i < count; i++) {
    if (strcmp(kvs[i].key, sorted[i]) != 0)
      fail_msg("omap[%zu] = \"%s\", expected \"%s\"", i, kvs[i].key,
               sorted[i]);
    assert_bytes(kvs[i].value, sorted[i], strlen(sorted[i]));
  }
  objstore_kv_free(kvs, count);
  assert_ok(objstore_omap_get(p, "order", "~", 100, &kvs, &count, &more));
  assert_int_equal(count, 2);
  assert_string_equal(kvs[0].key, "\x80");
  objstore_kv_free(kvs, count);
}

static void test_omap_get_keys(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  assert_ok(objstore_omap_set(p, "o", "a", S("A")));
  assert_ok(objstore_omap_set(p, "o", "b", "", 0));
  assert_ok(objstore_omap_set(p, "o", "c", "C\0c", 3));
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  const char *ask[] = {"c", "missing", "a", "zz", "b", "a0"};
  assert_ok(objstore_omap_get_keys(p, "o", ask, 6, &kvs, &count));
  const struct want_kv want[] = {{"a", "A", 1}, {"b", "", 0}, {"c", "C\0c", 3}};
  expect_kvs(kvs, count, want, 3, true, "get_keys");
  objstore_kv_free(kvs, count);

  const char *none[] = {"x", "y"};
  kvs = NULL;
  count = 99;
  assert_ok(objstore_omap_get_keys(p, "o", none, 2, &kvs, &count));
  assert_int_equal(count, 0);
  objstore_kv_free(kvs, count);
  kvs = NULL;
  count = 99;
  assert_ok(objstore_omap_get_keys(p, "o", NULL, 0, &kvs, &count));
  assert_int_equal(count, 0);
  objstore_kv_free(kvs, count);
  const char *one = "c";
  assert_ok(objstore_omap_get_keys(p, "o", &one, 1, &kvs, &count));
  expect_kvs(kvs, count, want + 2, 1, false, "get_keys c");
  objstore_kv_free(kvs, count);
}

/* ---- op argument handling ------------------------------------------------------ */

static void test_op_copies_strings(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  put_str(p, "o", "x");
  assert_ok(objstore_setxattr(p, "o", "guard", S("ok")));
  char name[16] = "attr", value[16] = "value", key[16] = "key",
       val2[16] = "val", gname[16] = "guard", gval[16] = "ok";
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_cmp_xattr(op, gname, OBJSTORE_CMP_EQ, gval, 2);
  objstore_write_op_setxattr(op, name, value, 5);
  objstore_write_op_omap_set(op, key, val2, 3);
  objstore_write_op_omap_rm(op, "none");
  /* Scribble over every buffer before running the op. */
  memset(name, 'Z', 15);
  memset(value, 'Z', 15);
  memset(key, 'Z', 15);
  memset(val2, 'Z', 15);
  memset(gname, 'Z', 15);
  memset(gval, 'Z', 15);
  assert_ok(operate(p, "o", op));
  expect_xattr(p, "o", "attr", S("value"));
  const struct want_kv m[] = {{"key", "val", 3}};
  expect_omap(p, "o", m, 1);
}

static void test_op_name_limits(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  put_str(p, "o", "data");
  struct objstate before;
  objstate_capture(p, "o", &before);
  char *xl = repeat('x', OBJSTORE_MAX_XATTR_NAME + 1);
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_write(op, 0, "DATA", 4);
  objstore_write_op_setxattr(op, xl, S("v"));
  assert_err(operate(p, "o", op), ENAMETOOLONG);
  objstate_expect_same(p, "o", &before, "xattr name too long");
  op = objstore_write_op_new();
  objstore_write_op_write(op, 0, "DATA", 4);
  objstore_write_op_cmp_xattr(op, xl, OBJSTORE_CMP_EQ, "", 0);
  assert_err(operate(p, "o", op), ENAMETOOLONG);
  objstate_expect_same(p, "o", &before, "cmp_xattr name too long");
  objstate_free(&before);
  free(xl);
}

/* ---- concurrency: compare-and-swap from threads of two handles ---------------- */

struct casw {
  struct objstore_pool *pool;
  int done;
  int retries;
  char err[256];
};

static void *cas_main(void *arg)
{
  struct casw *w = arg;
  while (w->done < 15) {
    int r = cas_increment(w->pool, "counter", &w->retries);
    if (r < 0) {
      snprintf(w->err, sizeof w->err, "%d: %s", r, lbd_last_error());
      break;
    }
    w->done++;
  }
  return NULL;
}

static void expect_counter(struct objstore_pool *p, const char *oid, long n)
{
  char want[32];
  snprintf(want, sizeof want, "%06ld", n);
  expect_xattr(p, oid, "n", S(want));
  /* Every increment recorded once: keys 000001..N. */
  struct objstore_kv *kvs = NULL;
  size_t count = 0;
  bool more = true;
  assert_ok(objstore_omap_get(p, oid, NULL, 100000, &kvs, &count, &more));
  assert_int_equal(count, n);
  for (size_t i = 0; i < count; i++) {
    char k[32];
    snprintf(k, sizeof k, "%06zu", i + 1);
    assert_string_equal(kvs[i].key, k);
  }
  objstore_kv_free(kvs, count);
}

static void test_concurrent_compare_and_swap(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL;
  open_other(f, "", &c2, &p2);
  struct casw w[4];
  pthread_t t[4];
  for (int i = 0; i < 4; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].pool = i % 2 ? p2 : f->pool;
    assert_int_equal(pthread_create(&t[i], NULL, cas_main, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 4; i++)
    if (w[i].err[0])
      fail_msg("thread %d: %s", i, w[i].err);
  /* No lost update: 60 increments, each recorded once. */
  expect_counter(f->pool, "counter", 60);
  expect_counter(p2, "counter", 60);
  close_other(c2, p2);
}

static void test_concurrent_compare_and_swap_processes(void **state)
{
  struct fixture *f = FX(state);
  struct child ch[3];
  const char *args[] = {"cas", "counter", "20", NULL};
  for (int i = 0; i < 3; i++)
    child_start(&ch[i], f, "", args);
  int retries = 0;
  for (int i = 0; i < 20; i++)
    assert_ok(cas_increment(f->pool, "counter", &retries));
  for (int i = 0; i < 3; i++)
    assert_int_equal(child_wait(&ch[i]), 0);
  expect_counter(f->pool, "counter", 80);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(int argc, char **argv)
{
  CONFORMANCE_INIT(argc, argv);
  const struct CMUnitTest tests[] = {
      T(test_op_every_step),
      T(test_op_assert_exists),
      T(test_op_create),
      T(test_op_cmp_version_every_cmp),
      T(test_op_cmp_version_missing_object),
      T(test_op_cmp_xattr_every_cmp),
      T(test_failed_op_changes_nothing),
      T(test_remove_then_create_in_one_op),
      T(test_version_grows),
      T(test_xattrs),
      T(test_xattr_listing_after_rm),
      T(test_omap_basic),
      T(test_omap_paging_and_order),
      T(test_omap_get_keys),
      T(test_op_copies_strings),
      T(test_op_name_limits),
      T(test_concurrent_compare_and_swap),
      T(test_concurrent_compare_and_swap_processes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
