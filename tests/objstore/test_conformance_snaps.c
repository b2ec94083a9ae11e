/* Conformance: self-managed snapshots (objstore.h "self-managed snapshots",
 * reads at a snap id and objstore_list_snaps). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "conformance.h"

#define K 1024ull
#define C (64 * K) /* a chunk */
#define HEAD OBJSTORE_SNAP_HEAD

static uint64_t snap(struct objstore_pool *p)
{
  uint64_t id = 0;
  assert_ok(objstore_snap_create(p, &id));
  return id;
}

/* A snap context for snaps S (newest first, NUL-less list ended by 0). */
struct sc {
  uint64_t ids[16];
  struct objstore_snapc c;
};

static const struct objstore_snapc *snapc(struct sc *s, uint64_t seq,
                                          size_t n, ...)
{
  va_list ap;
  va_start(ap, n);
  for (size_t i = 0; i < n; i++)
    s->ids[i] = va_arg(ap, uint64_t);
  va_end(ap);
  s->c.seq = seq;
  s->c.snaps = n ? s->ids : NULL;
  s->c.nsnaps = n;
  return &s->c;
}

struct want_clone {
  uint64_t cloneid;
  uint64_t alt_cloneid; /* also accepted (0: none) */
  uint64_t snaps[8];
  size_t nsnaps;
  uint64_t size;
  struct objstore_extent overlap[8];
  size_t noverlap;
};

static void expect_snaps(struct objstore_pool *p, const char *oid,
                         uint64_t seq, bool head_exists, uint64_t head_size,
                         const struct want_clone *want, size_t nwant)
{
  if (!fixture_has(FIXTURE_CAP_LIST_SNAPS))
    return;
  struct objstore_snap_set set;
  memset(&set, 0, sizeof set);
  assert_ok(objstore_list_snaps(p, oid, &set));
  if (set.seq != seq)
    fail_msg("list_snaps(%s).seq = %" PRIu64 ", expected %" PRIu64, oid,
             set.seq, seq);
  assert_int_equal(set.head_exists, head_exists);
  if (head_exists && set.head_size != head_size)
    fail_msg("list_snaps(%s).head_size = %" PRIu64 ", expected %" PRIu64, oid,
             set.head_size, head_size);
  if (set.nclones != nwant) {
    for (size_t i = 0; i < set.nclones; i++)
      fprintf(stderr, "  clone %" PRIu64 " (%zu snaps, size %" PRIu64 ")\n",
              set.clones[i].cloneid, set.clones[i].nsnaps,
              set.clones[i].size);
    fail_msg("list_snaps(%s): %zu clones, expected %zu", oid, set.nclones,
             nwant);
  }
  for (size_t i = 0; i < nwant; i++) {
    const struct objstore_clone_info *ci = &set.clones[i];
    const struct want_clone *w = &want[i];
    if (ci->cloneid != w->cloneid &&
        !(w->alt_cloneid && ci->cloneid == w->alt_cloneid))
      fail_msg("clone %zu: cloneid %" PRIu64 ", expected %" PRIu64, i,
               ci->cloneid, w->cloneid);
    if (ci->nsnaps != w->nsnaps)
      fail_msg("clone %zu: %zu snaps, expected %zu", i, ci->nsnaps,
               w->nsnaps);
    for (size_t j = 0; j < w->nsnaps; j++)
      if (ci->snaps[j] != w->snaps[j])
        fail_msg("clone %zu: snaps[%zu] = %" PRIu64 ", expected %" PRIu64, i,
                 j, ci->snaps[j], w->snaps[j]);
    if (ci->size != w->size)
      fail_msg("clone %zu: size %" PRIu64 ", expected %" PRIu64, i, ci->size,
               w->size);
    char what[64];
    snprintf(what, sizeof what, "clone %zu overlap", i);
    expect_extents(what, ci->overlap, ci->noverlap, w->overlap, w->noverlap);
  }
  objstore_snap_set_free(&set);
}

/* ---- ids ---------------------------------------------------------------------- */

static void test_snap_ids_increase(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *ns = NULL;
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "ns", &ns));
  open_other(f, "other", &c2, &p2);
  uint64_t last = 0, ids[12];
  struct objstore_pool *handles[] = {f->pool, ns, p2};
  for (int i = 0; i < 12; i++) {
    ids[i] = snap(handles[i % 3]);
    if (i && ids[i] <= last)
      fail_msg("snap id %" PRIu64 " after %" PRIu64, ids[i], last);
    assert_true(ids[i] != HEAD);
    last = ids[i];
  }
  /* Removing snaps does not make ids reusable. */
  assert_ok(objstore_snap_remove(f->pool, ids[11]));
  assert_ok(objstore_snap_remove(ns, ids[10]));
  uint64_t next = snap(p2);
  assert_true(next > ids[11]);
  /* Unknown ids. */
  assert_err(objstore_snap_remove(f->pool, next + 1000), ENOENT);
  /* Ids are per pool: another pool starts its own sequence, and its ids do
   * not exist in this one. */
  int64_t other = -1;
  struct objstore_pool *q = NULL;
  assert_ok(objstore_pool_create(f->cluster, "other", NULL, &other));
  assert_ok(objstore_pool_open(f->cluster, other, "", &q));
  uint64_t qid = snap(q);
  assert_true(qid != HEAD);
  objstore_pool_close(q);
  objstore_pool_close(ns);
  close_other(c2, p2);
}

/* ---- the known sequence -------------------------------------------------------- */

static void test_snap_sequence_reads_and_list_snaps(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct sc sc;
  unsigned char *v0 = filled(4 * C, 100); /* state at s1 */
  put(p, "o", v0, 4 * C);
  expect_snaps(p, "o", 0, true, 4 * C, NULL, 0);

  uint64_t s1 = snap(p);
  unsigned char *chunk1 = filled(C, 101);
  assert_ok(objstore_write(p, "o", snapc(&sc, s1, 1, s1), C, chunk1, C));
  unsigned char *v1 = malloc(4 * C); /* state at s2, s3 */
  memcpy(v1, v0, 4 * C);
  memcpy(v1 + C, chunk1, C);

  uint64_t s2 = snap(p), s3 = snap(p);
  unsigned char *chunk3 = filled(C, 103);
  assert_ok(objstore_write(p, "o", snapc(&sc, s3, 3, s3, s2, s1), 3 * C,
                           chunk3, C));
  unsigned char *v3 = malloc(4 * C); /* state at s4 */
  memcpy(v3, v1, 4 * C);
  memcpy(v3 + 3 * C, chunk3, C);

  uint64_t s4 = snap(p);
  assert_ok(objstore_truncate(p, "o", snapc(&sc, s4, 4, s4, s3, s2, s1),
                              C + C / 2));
  /* state at s5: v3 cut to 1.5 chunks */

  uint64_t s5 = snap(p);
  assert_ok(objstore_zero(p, "o", snapc(&sc, s5, 5, s5, s4, s3, s2, s1), 0,
                          C / 2));
  unsigned char *vh = malloc(C + C / 2); /* head */
  memcpy(vh, v3, C + C / 2);
  memset(vh, 0, C / 2);

  expect_object(p, "o", s1, v0, 4 * C);
  expect_object(p, "o", s2, v1, 4 * C);
  expect_object(p, "o", s3, v1, 4 * C);
  expect_object(p, "o", s4, v3, 4 * C);
  expect_object(p, "o", s5, v3, C + C / 2);
  expect_object(p, "o", HEAD, vh, C + C / 2);

  const struct want_clone all[] = {
      {s1, 0, {s1}, 1, 4 * C, {{0, C}, {2 * C, 2 * C}}, 2},
      {s3, 0, {s2, s3}, 2, 4 * C, {{0, 3 * C}}, 1},
      {s4, 0, {s4}, 1, 4 * C, {{0, C + C / 2}}, 1},
      {s5, 0, {s5}, 1, C + C / 2, {{C / 2, C}}, 1},
  };
  expect_snaps(p, "o", s5, true, C + C / 2, all, 4);

  /* Sparse maps at snaps. */
  const struct objstore_extent full[] = {{0, 4 * C}};
  expect_sparse(p, "o", s1, 0, 4 * C, full, 1, "sparse at s1");
  expect_sparse(p, "o", s3, 0, 4 * C, full, 1, "sparse at s3");
  const struct objstore_extent head[] = {{C / 2, C}};
  expect_sparse(p, "o", HEAD, 0, 4 * C, head, 1, "sparse at head");

  /* Removing s3: s2 still reads the same clone, which now serves s2 only. */
  assert_ok(objstore_snap_remove(p, s3));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s3);
  expect_object(p, "o", s2, v1, 4 * C);
  const struct want_clone after3[] = {
      all[0],
      {s2, s3, {s2}, 1, 4 * C, {{0, 3 * C}}, 1},
      all[2],
      all[3],
  };
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) /* RADOS trims later */
    expect_snaps(p, "o", s5, true, C + C / 2, after3, 4);

  /* Removing s2 frees that clone; the older one now shares with s4's. */
  assert_ok(objstore_snap_remove(p, s2));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s2);
  expect_object(p, "o", s1, v0, 4 * C);
  expect_object(p, "o", s4, v3, 4 * C);
  const struct want_clone after2[] = {
      {s1, 0, {s1}, 1, 4 * C, {{0, C}, {2 * C, C}}, 2},
      all[2],
      all[3],
  };
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) /* RADOS trims later */
    expect_snaps(p, "o", s5, true, C + C / 2, after2, 3);

  /* Removing s5: s4's clone now shares with the head. */
  assert_ok(objstore_snap_remove(p, s5));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s5);
  expect_object(p, "o", s4, v3, 4 * C);
  const struct want_clone after5[] = {
      after2[0],
      {s4, 0, {s4}, 1, 4 * C, {{C / 2, C}}, 1},
  };
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) /* RADOS trims later */
    expect_snaps(p, "o", s5, true, C + C / 2, after5, 2);

  assert_ok(objstore_snap_remove(p, s1));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s1);
  assert_ok(objstore_snap_remove(p, s4));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s4);
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) /* RADOS trims later */
    expect_snaps(p, "o", s5, true, C + C / 2, NULL, 0);
  expect_object(p, "o", HEAD, vh, C + C / 2);
  assert_err(objstore_snap_remove(p, s4 + 1000), ENOENT);

  free(v0);
  free(v1);
  free(v3);
  free(vh);
  free(chunk1);
  free(chunk3);
}

/* ---- existence at a snap -------------------------------------------------------- */

static void test_snap_object_created_after_snap(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct sc sc;
  uint64_t s1 = snap(p);
  assert_ok(objstore_write_full(p, "o", snapc(&sc, s1, 1, s1), "A", 1));
  expect_missing(p, "o", s1);
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  assert_err(objstore_sparse_read(p, "o", s1, 0, 10, NULL, &ext, &n), ENOENT);
  expect_object(p, "o", HEAD, "A", 1);
  /* More writes under the same snap context make no clone. */
  assert_ok(objstore_write_full(p, "o", snapc(&sc, s1, 1, s1), "AB", 2));
  expect_snaps(p, "o", s1, true, 2, NULL, 0);
  expect_missing(p, "o", s1);

  /* A later snap gets a clone that serves it alone. */
  uint64_t s2 = snap(p);
  assert_ok(objstore_write_full(p, "o", snapc(&sc, s2, 2, s2, s1), "xyz", 3));
  expect_missing(p, "o", s1);
  expect_object(p, "o", s2, "AB", 2);
  expect_object(p, "o", HEAD, "xyz", 3);
  const struct want_clone w[] = {{s2, 0, {s2}, 1, 2, {{0, 0}}, 0}};
  expect_snaps(p, "o", s2, true, 3, w, 1);

  /* An object written before a snap and not since reads the same at it. */
  uint64_t s3 = snap(p);
  expect_object(p, "o", s3, "xyz", 3);
  expect_snaps(p, "o", s2, true, 3, w, 1);

  /* Never-allocated ids hold nothing. */
  if (fixture_has(FIXTURE_CAP_UNKNOWN_SNAPS))
    expect_missing(p, "o", s3 + 1000);
  expect_missing(p, "other", s1);
}

static void test_snap_remove_at_head(void **state)
{
  struct fixture *f = FX(state);
  struct objstore_pool *p = f->pool;
  struct sc sc;
  unsigned char *a = filled(3 * C, 1), *b = filled(2 * C, 2);
  put(p, "o", a, 3 * C);
  assert_ok(objstore_setxattr(p, "o", "x", "y", 1));
  uint64_t s1 = snap(p);
  assert_ok(objstore_remove(p, "o", snapc(&sc, s1, 1, s1)));
  expect_missing(p, "o", HEAD);
  expect_object(p, "o", s1, a, 3 * C);
  const struct objstore_extent full[] = {{0, 3 * C}};
  expect_sparse(p, "o", s1, 0, 3 * C, full, 1, "removed head, at s1");
  /* Not listed: listing shows objects that exist at head. */
  struct objstore_list_entry *e = NULL;
  size_t n = 0;
  bool more = true;
  assert_ok(objstore_list(p, OBJSTORE_LIST_ALL_NS, NULL, NULL, 10, &e, &n,
                          &more));
  assert_int_equal(n, 0);
  objstore_list_free(e, n);
  /* Its snapshots remain listed, without a head. */
  const struct want_clone w1[] = {{s1, 0, {s1}, 1, 3 * C, {{0, 0}}, 0}};
  expect_snaps(p, "o", s1, false, 0, w1, 1);
  /* Metadata of the removed head is gone. */
  void *v = NULL;
  size_t len = 0;
  assert_err(objstore_getxattr(p, "o", "x", &v, &len), ENOENT);
  assert_err(objstore_remove(p, "o", snapc(&sc, s1, 1, s1)), ENOENT);

  /* Re-created at head: a new object, the snap unchanged. */
  assert_ok(objstore_write_full(p, "o", snapc(&sc, s1, 1, s1), b, 2 * C));
  expect_object(p, "o", HEAD, b, 2 * C);
  expect_object(p, "o", s1, a, 3 * C);
  expect_snaps(p, "o", s1, true, 2 * C, w1, 1);

  /* Removed again under a newer snap: both snaps read their data. */
  uint64_t s2 = snap(p);
  assert_ok(objstore_remove(p, "o", snapc(&sc, s2, 2, s2, s1)));
  expect_missing(p, "o", HEAD);
  expect_object(p, "o", s1, a, 3 * C);
  expect_object(p, "o", s2, b, 2 * C);
  const struct want_clone w2[] = {{s1, 0, {s1}, 1, 3 * C, {{0, 0}}, 0},
                                  {s2, 0, {s2}, 1, 2 * C, {{0, 0}}, 0}};
  expect_snaps(p, "o", s2, false, 0, w2, 2);

  /* Once no snap needs them, the object is gone entirely. */
  assert_ok(objstore_snap_remove(p, s1));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s1);
  expect_object(p, "o", s2, b, 2 * C);
  assert_ok(objstore_snap_remove(p, s2));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "o", s2);
  expect_missing(p, "o", HEAD);
  struct objstore_snap_set set;
  memset(&set, 0, sizeof set);
  if (fixture_has(FIXTURE_CAP_LIST_SNAPS) &&
      fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) /* RADOS trims later */
    assert_err(objstore_list_snaps(p, "o", &set), ENOENT);
  free(a);
  free(b);
}

static void test_snap_remove_unchanged_object(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  put_str(p, "still", "unchanged since the snap");
  uint64_t s1 = snap(p);
  expect_object(p, "still", s1, "unchanged since the snap", 24);
  assert_ok(objstore_snap_remove(p, s1));
  /* Reads at a removed snap fail even where the head served them. */
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW))
    expect_missing(p, "still", s1);
  expect_object(p, "still", HEAD, "unchanged since the snap", 24);
}

static void test_snap_sparse_holes(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct sc sc;
  unsigned char *a = filled(C, 5);
  assert_ok(objstore_write(p, "o", NULL, 0, a, C));
  assert_ok(objstore_write(p, "o", NULL, 2 * C, a, C));
  uint64_t s1 = snap(p);
  assert_ok(objstore_write(p, "o", snapc(&sc, s1, 1, s1), C, a, C));
  const struct objstore_extent holes[] = {{0, C}, {2 * C, C}};
  const struct objstore_extent full[] = {{0, 3 * C}};
  expect_sparse(p, "o", s1, 0, 3 * C, holes, 2, "s1 with a hole");
  expect_sparse(p, "o", HEAD, 0, 3 * C, full, 1, "head filled");
  /* A hole punched at head (same snap context: no new clone). */
  assert_ok(objstore_zero(p, "o", snapc(&sc, s1, 1, s1), 0, C));
  const struct objstore_extent punched[] = {{C, 2 * C}};
  expect_sparse(p, "o", HEAD, 0, 3 * C, punched, 1, "head punched");
  expect_sparse(p, "o", s1, 0, 3 * C, holes, 2, "s1 after punch");
  unsigned char *want = calloc(1, 3 * C);
  memcpy(want, a, C);
  memcpy(want + 2 * C, a, C);
  expect_object(p, "o", s1, want, 3 * C);
  const struct want_clone w[] = {{s1, 0, {s1}, 1, 3 * C, {{2 * C, C}}, 1}};
  expect_snaps(p, "o", s1, true, 3 * C, w, 1);
  free(want);
  free(a);
}

/* ---- snap contexts ----------------------------------------------------------- */

static void test_snapc_invalid(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct sc sc;
  put_str(p, "o", "original");
  uint64_t s1 = snap(p), s2 = snap(p);
  uint64_t bogus = s2 + 1000;
  struct objstate before;
  objstate_capture(p, "o", &before);

  const struct objstore_snapc *bad[4];
  struct sc scs[4];
  bad[0] = snapc(&scs[0], s2, 2, s1, s2); /* oldest first */
  bad[1] = snapc(&scs[1], s1, 2, s2, s1); /* s2 above seq */
  bad[2] = snapc(&scs[2], s1, 1, s2);     /* s2 above seq */
  bad[3] = snapc(&scs[3], s2, 3, s2, s1, s2); /* not sorted */
  for (int i = 0; i < 4; i++) {
    char tag[32];
    snprintf(tag, sizeof tag, "bad snapc %d", i);
    assert_err(objstore_write(p, "o", bad[i], 0, "X", 1), EINVAL);
    assert_err(objstore_write_full(p, "o", bad[i], "X", 1), EINVAL);
    assert_err(objstore_truncate(p, "o", bad[i], 1), EINVAL);
    assert_err(objstore_zero(p, "o", bad[i], 0, 1), EINVAL);
    assert_err(objstore_remove(p, "o", bad[i]), EINVAL);
    struct objstore_write_op *op = objstore_write_op_new();
    objstore_write_op_setxattr(op, "a", "b", 1);
    objstore_write_op_write(op, 0, "X", 1);
    assert_err(objstore_write_op_operate(p, "o", op, bad[i], 0), EINVAL);
    objstore_write_op_free(op);
    assert_err(objstore_write(p, "new", bad[i], 0, "X", 1), EINVAL);
    expect_missing(p, "new", HEAD);
    objstate_expect_same(p, "o", &before, tag);
    expect_snaps(p, "o", 0, true, 8, NULL, 0);
  }

  /* Snap ids that were never allocated. */
  const struct objstore_snapc *never[2];
  never[0] = snapc(&scs[0], bogus, 2, bogus, s1);
  never[1] = snapc(&scs[1], bogus, 0);
  for (int i = 0; i < 2 && fixture_has(FIXTURE_CAP_UNKNOWN_SNAPS); i++) {
    char tag[32];
    snprintf(tag, sizeof tag, "never-allocated snapc %d", i);
    assert_fails(objstore_write(p, "o", never[i], 0, "X", 1));
    assert_fails(objstore_remove(p, "o", never[i]));
    assert_fails(objstore_write(p, "new", never[i], 0, "X", 1));
    expect_missing(p, "new", HEAD);
    objstate_expect_same(p, "o", &before, tag);
    expect_snaps(p, "o", 0, true, 8, NULL, 0);
  }
  objstate_free(&before);

  /* A valid one works, and keeps the old data at both snaps. */
  assert_ok(objstore_write(p, "o", snapc(&sc, s2, 2, s2, s1), 0, "X", 1));
  expect_object(p, "o", HEAD, "Xriginal", 8);
  expect_object(p, "o", s1, "original", 8);
  expect_object(p, "o", s2, "original", 8);
  const struct want_clone w[] = {{s2, 0, {s1, s2}, 2, 8, {{1, 7}}, 1}};
  expect_snaps(p, "o", s2, true, 8, w, 1);
}

static void test_failed_op_with_snapc_makes_no_clone(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct sc sc;
  put_str(p, "o", "before");
  uint64_t s1 = snap(p);
  struct objstate st;
  objstate_capture(p, "o", &st);
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_write_full(op, "AFTER!", 6);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, st.st.version + 99);
  assert_err(objstore_write_op_operate(p, "o", op, snapc(&sc, s1, 1, s1), 0),
             ECANCELED);
  objstore_write_op_free(op);
  objstate_expect_same(p, "o", &st, "failed op under a snap context");
  expect_snaps(p, "o", 0, true, 6, NULL, 0);
  objstate_free(&st);

  /* Compound ops clone too. */
  op = objstore_write_op_new();
  objstore_write_op_write_full(op, "AFTER!", 6);
  objstore_write_op_setxattr(op, "x", "y", 1);
  assert_ok(objstore_write_op_operate(p, "o", op, snapc(&sc, s1, 1, s1), 0));
  objstore_write_op_free(op);
  expect_object(p, "o", HEAD, "AFTER!", 6);
  expect_object(p, "o", s1, "before", 6);
  const struct want_clone w[] = {{s1, 0, {s1}, 1, 6, {{0, 0}}, 0}};
  expect_snaps(p, "o", s1, true, 6, w, 1);
  /* Metadata-only ops under the same context change only the head. */
  assert_ok(objstore_setxattr(p, "o", "x", "z", 1));
  expect_object(p, "o", s1, "before", 6);
}

static void test_snap_remove_and_create_in_one_op(void **state)
{
  struct objstore_pool *p = FX(state)->pool;
  struct sc sc;
  unsigned char *a = filled(2 * C, 61);
  put(p, "o", a, 2 * C);
  assert_ok(objstore_setxattr(p, "o", "x", "old", 3));
  uint64_t s1 = snap(p);
  struct objstore_write_op *op = objstore_write_op_new();
  objstore_write_op_remove(op);
  objstore_write_op_create(op, true);
  objstore_write_op_write_full(op, "NEW", 3);
  assert_ok(objstore_write_op_operate(p, "o", op, snapc(&sc, s1, 1, s1), 0));
  objstore_write_op_free(op);
  expect_object(p, "o", HEAD, "NEW", 3);
  expect_object(p, "o", s1, a, 2 * C);
  void *v = NULL;
  size_t len = 0;
  assert_err(objstore_getxattr(p, "o", "x", &v, &len), ENOENT);
  const struct want_clone w[] = {{s1, 0, {s1}, 1, 2 * C, {{0, 0}}, 0}};
  expect_snaps(p, "o", s1, true, 3, w, 1);
  free(a);
}

static void test_snaps_across_namespaces_and_handles(void **state)
{
  struct fixture *f = FX(state);
  struct sc sc;
  struct objstore_pool *ns = NULL;
  struct objstore_cluster *c2 = NULL;
  struct objstore_pool *p2 = NULL;
  assert_ok(objstore_pool_open(f->cluster, f->pool_id, "ns", &ns));
  open_other(f, "ns", &c2, &p2);
  put_str(f->pool, "o", "default ns");
  put_str(ns, "o", "ns v1");
  uint64_t s1 = snap(ns); /* a pool-wide id, whichever handle made it */
  assert_ok(objstore_write_full(f->pool, "o", snapc(&sc, s1, 1, s1), "D2", 2));
  assert_ok(objstore_write_full(p2, "o", snapc(&sc, s1, 1, s1), "N2", 2));
  expect_object(f->pool, "o", s1, "default ns", 10);
  expect_object(ns, "o", s1, "ns v1", 5);
  expect_object(p2, "o", s1, "ns v1", 5);
  expect_object(ns, "o", HEAD, "N2", 2);
  /* Removal through another handle is seen by all. */
  assert_ok(objstore_snap_remove(p2, s1));
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) {
    expect_missing(ns, "o", s1);
    expect_missing(f->pool, "o", s1);
  }
  if (fixture_has(FIXTURE_CAP_SNAP_REMOVE_NOW)) /* RADOS trims later */
    expect_snaps(f->pool, "o", s1, true, 2, NULL, 0);
  objstore_pool_close(ns);
  close_other(c2, p2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fixture_setup, fixture_teardown)

int main(int argc, char **argv)
{
  CONFORMANCE_INIT(argc, argv);
  const struct CMUnitTest tests[] = {
      T(test_snap_ids_increase),
      T(test_snap_sequence_reads_and_list_snaps),
      T(test_snap_object_created_after_snap),
      T(test_snap_remove_at_head),
      T(test_snap_remove_unchanged_object),
      T(test_snap_sparse_holes),
      T(test_snapc_invalid),
      T(test_failed_op_with_snapc_makes_no_clone),
      T(test_snap_remove_and_create_in_one_op),
      T(test_snaps_across_namespaces_and_handles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
