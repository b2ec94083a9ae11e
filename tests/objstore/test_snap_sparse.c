/* Self-managed snapshots: history, clone bookkeeping, removal, sparseness.
 *
 *  - write, snap, overwrite, snap, overwrite: a read at each snap gives the
 *    bytes of that time; list_snaps reports the clones with their exact
 *    snaps lists, sizes and overlaps;
 *  - snap_remove frees clones: list_snaps after each removal, reads at a
 *    removed snap give ENOENT;
 *  - sparse stays sparse: a few 4 KiB blocks in a 4 MiB object, a snap, an
 *    overwrite: the sparse_read maps of head and snap show only the written
 *    blocks; on the local backend the files under the pool's path stay
 *    small, and shrink back after snap_remove. */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "fixture.h"

#define K 1024u
#define M (1024u * 1024u)

/* ---- helpers ------------------------------------------------------------ */

/* Bytes of pattern TAG (1..): each tag has its own 16-value range and none
 * is zero, so two patterns never agree on a byte. */
static unsigned char pat(int tag, uint64_t pos)
{
  return (unsigned char)(tag * 32 + ((pos * 31) >> 3) % 16);
}

static void fill(unsigned char *buf, int tag, uint64_t pos, size_t len)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = pat(tag, pos + i);
}

/* An image of an object: its bytes and size. */
struct model {
  unsigned char *bytes;
  size_t size;
  size_t cap;
};

static void model_init(struct model *m, size_t cap)
{
  m->bytes = calloc(1, cap);
  assert_non_null(m->bytes);
  m->size = 0;
  m->cap = cap;
}

static void model_copy(struct model *dst, const struct model *src)
{
  model_init(dst, src->cap);
  memcpy(dst->bytes, src->bytes, src->cap);
  dst->size = src->size;
}

static void model_write(struct model *m, int tag, uint64_t off, size_t len)
{
  assert_true(off + len <= m->cap);
  fill(m->bytes + off, tag, off, len);
  if (off + len > m->size)
    m->size = off + len;
}

static void model_free(struct model *m)
{
  free(m->bytes);
  m->bytes = NULL;
}

static void do_write(struct objstore_pool *pool, const char *oid,
                     const struct objstore_snapc *snapc, struct model *m,
                     int tag, uint64_t off, size_t len)
{
  unsigned char *buf = malloc(len);
  assert_non_null(buf);
  fill(buf, tag, off, len);
  assert_ok(objstore_write(pool, oid, snapc, off, buf, len));
  free(buf);
  if (m)
    model_write(m, tag, off, len);
}

/* Read all of OID at SNAP and compare with M (size and every byte). */
static void assert_reads(struct objstore_pool *pool, const char *oid,
                         uint64_t snap, const struct model *m,
                         const char *what)
{
  size_t len = m->size + 8 * K;
  unsigned char *buf = malloc(len);
  assert_non_null(buf);
  ssize_t n = objstore_read(pool, oid, snap, 0, len, buf);
  if (n < 0)
    fail_msg("%s: read %s at snap %" PRIu64 " = %zd: %s", what, oid, snap, n,
             lbd_last_error());
  if ((size_t)n != m->size)
    fail_msg("%s: read %s at snap %" PRIu64 ": %zd bytes, want %zu", what,
             oid, snap, n, m->size);
  for (size_t i = 0; i < m->size; i++)
    if (buf[i] != m->bytes[i])
      fail_msg("%s: read %s at snap %" PRIu64 ": byte %zu is %#x, want %#x",
               what, oid, snap, i, buf[i], m->bytes[i]);
  /* Past the end: nothing. */
  n = objstore_read(pool, oid, snap, m->size, 4 * K, buf);
  assert_int_equal(n, 0);
  struct objstore_stat st;
  assert_ok(objstore_stat(pool, oid, snap, &st));
  assert_int_equal(st.size, m->size);
  free(buf);
}

static void assert_enoent_at(struct objstore_pool *pool, const char *oid,
                             uint64_t snap, const char *what)
{
  unsigned char buf[64];
  ssize_t n = objstore_read(pool, oid, snap, 0, sizeof buf, buf);
  if (n != -ENOENT)
    fail_msg("%s: read %s at snap %" PRIu64 " = %zd, want -ENOENT", what, oid,
             snap, n);
  assert_true(lbd_last_error()[0] != '\0');
  struct objstore_stat st;
  assert_int_equal(objstore_stat(pool, oid, snap, &st), -ENOENT);
  assert_true(lbd_last_error()[0] != '\0');
  struct objstore_extent *ext = NULL;
  size_t next = 0;
  assert_int_equal(
      objstore_sparse_read(pool, oid, snap, 0, sizeof buf, NULL, &ext, &next),
      -ENOENT);
  assert_true(lbd_last_error()[0] != '\0');
  free(ext);
}

/* Extent lists compare after merging adjacent extents. */
static size_t normalize(const struct objstore_extent *in, size_t n,
                        struct objstore_extent *out)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i].len == 0)
      continue;
    if (k && out[k - 1].off + out[k - 1].len == in[i].off)
      out[k - 1].len += in[i].len;
    else
      out[k++] = in[i];
  }
  return k;
}

static void format_extents(char *buf, size_t size,
                           const struct objstore_extent *e, size_t n)
{
  size_t at = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < n && at < size; i++)
    at += (size_t)snprintf(buf + at, size - at, "%s[%" PRIu64 "+%" PRIu64 "]",
                           i ? " " : "", e[i].off, e[i].len);
}

static void assert_extents(const char *what, const struct objstore_extent *got,
                           size_t ngot, const struct objstore_extent *want,
                           size_t nwant)
{
  for (size_t i = 1; i < ngot; i++)
    if (got[i].off < got[i - 1].off + got[i - 1].len)
      fail_msg("%s: extents not sorted and disjoint", what);
  struct objstore_extent *a = calloc(ngot + 1, sizeof *a);
  struct objstore_extent *b = calloc(nwant + 1, sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  size_t na = normalize(got, ngot, a), nb = normalize(want, nwant, b);
  bool same = na == nb;
  for (size_t i = 0; same && i < na; i++)
    same = a[i].off == b[i].off && a[i].len == b[i].len;
  if (!same) {
    char gs[512], ws[512];
    format_extents(gs, sizeof gs, a, na);
    format_extents(ws, sizeof ws, b, nb);
    fail_msg("%s: extents {%s}, want {%s}", what, gs, ws);
  }
  free(a);
  free(b);
}

struct want_clone {
  uint64_t cloneid;
  uint64_t snaps[4];
  size_t nsnaps;
  uint64_t size;
  struct objstore_extent overlap[4];
  size_t noverlap;
};

static void assert_snaps(struct objstore_pool *pool, const char *oid,
                         uint64_t seq, bool head_exists, uint64_t head_size,
                         const struct want_clone *want, size_t nwant,
                         const char *what)
{
  struct objstore_snap_set set;
  memset(&set, 0, sizeof set);
  int ret = objstore_list_snaps(pool, oid, &set);
  if (ret < 0)
    fail_msg("%s: list_snaps %s = %d: %s", what, oid, ret, lbd_last_error());
  if (set.nclones != nwant) {
    char ids[256] = "";
    size_t at = 0;
    for (size_t i = 0; i < set.nclones && at < sizeof ids; i++)
      at += (size_t)snprintf(ids + at, sizeof ids - at, " %" PRIu64,
                             set.clones[i].cloneid);
    fail_msg("%s: %s has %zu clones (ids%s), want %zu", what, oid,
             set.nclones, ids, nwant);
  }
  assert_int_equal(set.seq, seq);
  assert_int_equal(set.head_exists, head_exists);
  if (head_exists)
    assert_int_equal(set.head_size, head_size);
  for (size_t i = 0; i < nwant; i++) {
    const struct objstore_clone_info *c = &set.clones[i];
    char ctx[128];
    snprintf(ctx, sizeof ctx, "%s: %s clone #%zu (id %" PRIu64 ")", what, oid,
             i, c->cloneid);
    if (c->cloneid != want[i].cloneid)
      fail_msg("%s: want id %" PRIu64, ctx, want[i].cloneid);
    if (c->nsnaps != want[i].nsnaps)
      fail_msg("%s: serves %zu snaps, want %zu", ctx, c->nsnaps,
               want[i].nsnaps);
    for (size_t j = 0; j < c->nsnaps; j++)
      if (c->snaps[j] != want[i].snaps[j])
        fail_msg("%s: snaps[%zu] = %" PRIu64 ", want %" PRIu64, ctx, j,
                 c->snaps[j], want[i].snaps[j]);
    if (c->size != want[i].size)
      fail_msg("%s: size %" PRIu64 ", want %" PRIu64, ctx, c->size,
               want[i].size);
    char octx[160];
    snprintf(octx, sizeof octx, "%s overlap", ctx);
    assert_extents(octx, c->overlap, c->noverlap, want[i].overlap,
                   want[i].noverlap);
  }
  objstore_snap_set_free(&set);
}

static bool backend_is_local(void)
{
  const char *b = getenv("LBD_TEST_BACKEND");
  return !b || !*b || strcmp(b, "local") == 0;
}

static uint64_t du_total;
static int du_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
  (void)path;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode))
    du_total += (uint64_t)st->st_blocks * 512;
  return 0;
}

/* Bytes allocated to regular files under the pool's path. */
static uint64_t pool_du(struct fixture *f)
{
  struct objstore_pool_info info;
  memset(&info, 0, sizeof info);
  assert_ok(objstore_pool_get_info(f->cluster, f->pool_id, &info));
  assert_non_null(info.path);
  du_total = 0;
  assert_int_equal(nftw(info.path, du_one, 16, FTW_PHYS), 0);
  free(info.path);
  return du_total;
}

/* ---- history ------------------------------------------------------------ */

static void test_snap_history_and_removal(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *p = f->pool;
  const char *oid = "lbd_data.hist.0000000000000000";
  struct model head, m1, m2, m4;
  model_init(&head, 64 * K);

  /* t0: A over [0,16K), no snapshots yet; "gone" exists before s1. */
  do_write(p, oid, NULL, &head, 1, 0, 16 * K);
  struct model gone;
  model_init(&gone, 64 * K);
  do_write(p, "gone", NULL, &gone, 6, 0, 12 * K);

  uint64_t s1, s2, s3, s4, s6;
  assert_ok(objstore_snap_create(p, &s1));
  model_copy(&m1, &head);
  uint64_t sn1[] = {s1};
  struct objstore_snapc c1 = {s1, sn1, 1};
  /* t1: B over [4K,8K), then E over [6K,7K): one clone (s1) only. */
  do_write(p, oid, &c1, &head, 2, 4 * K, 4 * K);
  do_write(p, oid, &c1, &head, 5, 6 * K, 1 * K);
  /* "late" is born after s1; "gone" dies after s1. */
  struct model late, late2;
  model_init(&late, 64 * K);
  do_write(p, "late", &c1, &late, 7, 0, 4 * K);
  assert_ok(objstore_remove(p, "gone", &c1));

  assert_ok(objstore_snap_create(p, &s2));
  assert_true(s2 > s1);
  model_copy(&m2, &head);
  model_copy(&late2, &late);
  uint64_t sn2[] = {s2, s1};
  struct objstore_snapc c2 = {s2, sn2, 2};
  /* t2: C over [12K,20K): the object grows. */
  do_write(p, oid, &c2, &head, 3, 12 * K, 8 * K);
  do_write(p, "late", &c2, &late, 8, 0, 1 * K);

  assert_ok(objstore_snap_create(p, &s3));
  assert_ok(objstore_snap_create(p, &s4));
  assert_true(s3 > s2 && s4 > s3);
  model_copy(&m4, &head);
  uint64_t sn4[] = {s4, s3, s2, s1};
  struct objstore_snapc c4 = {s4, sn4, 4};
  /* t3: D over [0,4K). */
  do_write(p, oid, &c4, &head, 4, 0, 4 * K);
  /* A snap after the last write: served by the head. */
  assert_ok(objstore_snap_create(p, &s6));
  assert_true(s6 > s4);

  /* Reads at each snap give that time's bytes. */
  assert_reads(p, oid, s1, &m1, "at s1");
  assert_reads(p, oid, s2, &m2, "at s2");
  assert_reads(p, oid, s3, &m4, "at s3");
  assert_reads(p, oid, s4, &m4, "at s4");
  assert_reads(p, oid, s6, &head, "at s6");
  assert_reads(p, oid, OBJSTORE_SNAP_HEAD, &head, "head");
  assert_enoent_at(p, "late", s1, "late at s1");
  assert_reads(p, "late", s2, &late2, "late at s2");
  assert_reads(p, "late", s4, &late, "late at s4");
  assert_reads(p, "late", OBJSTORE_SNAP_HEAD, &late, "late head");
  assert_reads(p, "gone", s1, &gone, "gone at s1");
  assert_enoent_at(p, "gone", s2, "gone at s2");
  assert_enoent_at(p, "gone", OBJSTORE_SNAP_HEAD, "gone head");

  /* Clones: s1 (A), s2 (A B E A), s4 serving s3 and s4 (... C C). */
  struct want_clone w[3] = {
      {s1, {s1}, 1, 16 * K, {{0, 4 * K}, {8 * K, 8 * K}}, 2},
      {s2, {s2}, 1, 16 * K, {{0, 12 * K}}, 1},
      {s4, {s3, s4}, 2, 20 * K, {{4 * K, 16 * K}}, 1},
  };
  assert_snaps(p, oid, s4, true, 20 * K, w, 3, "before removal");
  struct want_clone wl[1] = {{s2, {s2}, 1, 4 * K, {{1 * K, 3 * K}}, 1}};
  assert_snaps(p, "late", s2, true, 4 * K, wl, 1, "late");
  struct want_clone wg[1] = {{s1, {s1}, 1, 12 * K, {{0, 0}}, 0}};
  assert_snaps(p, "gone", s1, false, 0, wg, 1, "gone");

  /* Remove s2: its clone goes; s1's overlap now runs against s4's clone. */
  assert_ok(objstore_snap_remove(p, s2));
  assert_enoent_at(p, oid, s2, "after removing s2");
  assert_enoent_at(p, "late", s2, "late after removing s2");
  struct want_clone w2[2] = {
      {s1, {s1}, 1, 16 * K, {{0, 4 * K}, {8 * K, 4 * K}}, 2},
      {s4, {s3, s4}, 2, 20 * K, {{4 * K, 16 * K}}, 1},
  };
  assert_snaps(p, oid, s4, true, 20 * K, w2, 2, "s2 removed");
  assert_snaps(p, "late", s2, true, 4 * K, NULL, 0, "late, s2 removed");
  assert_reads(p, oid, s1, &m1, "at s1, s2 removed");
  assert_reads(p, oid, s3, &m4, "at s3, s2 removed");
  assert_reads(p, oid, s4, &m4, "at s4, s2 removed");
  assert_reads(p, "late", s4, &late, "late at s4, s2 removed");
  assert_enoent_at(p, "late", s1, "late at s1, s2 removed");

  /* Remove s3: s4's clone stays, serving s4 alone. */
  assert_ok(objstore_snap_remove(p, s3));
  assert_enoent_at(p, oid, s3, "after removing s3");
  struct want_clone w3[2] = {
      {s1, {s1}, 1, 16 * K, {{0, 4 * K}, {8 * K, 4 * K}}, 2},
      {s4, {s4}, 1, 20 * K, {{4 * K, 16 * K}}, 1},
  };
  assert_snaps(p, oid, s4, true, 20 * K, w3, 2, "s3 removed");
  assert_reads(p, oid, s1, &m1, "at s1, s3 removed");
  assert_reads(p, oid, s4, &m4, "at s4, s3 removed");

  /* Remove s1: its clone goes (and "gone" is gone for good). */
  assert_ok(objstore_snap_remove(p, s1));
  assert_enoent_at(p, oid, s1, "after removing s1");
  assert_enoent_at(p, "gone", s1, "gone after removing s1");
  struct want_clone w4[1] = {{s4, {s4}, 1, 20 * K, {{4 * K, 16 * K}}, 1}};
  assert_snaps(p, oid, s4, true, 20 * K, w4, 1, "s1 removed");
  assert_reads(p, oid, s4, &m4, "at s4, s1 removed");
  {
    struct objstore_snap_set set;
    memset(&set, 0, sizeof set);
    int ret = objstore_list_snaps(p, "gone", &set);
    if (ret == 0) {
      assert_false(set.head_exists);
      assert_int_equal(set.nclones, 0);
      objstore_snap_set_free(&set);
    } else {
      assert_int_equal(ret, -ENOENT);
      assert_true(lbd_last_error()[0] != '\0');
    }
  }

  /* Remove s6 (no clone), then s4: nothing but the head is left. */
  assert_ok(objstore_snap_remove(p, s6));
  assert_enoent_at(p, oid, s6, "after removing s6");
  assert_snaps(p, oid, s4, true, 20 * K, w4, 1, "s6 removed");
  assert_ok(objstore_snap_remove(p, s4));
  assert_enoent_at(p, oid, s4, "after removing s4");
  assert_snaps(p, oid, s4, true, 20 * K, NULL, 0, "all removed");
  assert_reads(p, oid, OBJSTORE_SNAP_HEAD, &head, "head at the end");
  assert_reads(p, "late", OBJSTORE_SNAP_HEAD, &late, "late head at the end");

  /* The listing holds the two live heads only. */
  struct objstore_list_entry *ents = NULL;
  size_t count = 0;
  bool more = true;
  assert_ok(objstore_list(p, 0, NULL, NULL, 16, &ents, &count, &more));
  assert_int_equal(count, 2);
  assert_false(more);
  assert_string_equal(ents[0].name, "late");
  assert_string_equal(ents[1].name, oid);
  objstore_list_free(ents, count);

  /* New snap ids keep growing. */
  uint64_t s7;
  assert_ok(objstore_snap_create(p, &s7));
  assert_true(s7 > s6);

  model_free(&head);
  model_free(&m1);
  model_free(&m2);
  model_free(&m4);
  model_free(&late);
  model_free(&late2);
  model_free(&gone);
}

/* ---- sparseness --------------------------------------------------------- */

static void assert_map(struct objstore_pool *p, const char *oid, uint64_t snap,
                       const struct model *m,
                       const struct objstore_extent *want, size_t nwant,
                       const char *what)
{
  unsigned char *buf = malloc(4 * M);
  assert_non_null(buf);
  struct objstore_extent *ext = NULL;
  size_t next = 0;
  ssize_t n = objstore_sparse_read(p, oid, snap, 0, 4 * M, buf, &ext, &next);
  if (n < 0)
    fail_msg("%s: sparse_read = %zd: %s", what, n, lbd_last_error());
  assert_int_equal(n, m->size);
  assert_extents(what, ext, next, want, nwant);
  if (memcmp(buf, m->bytes, m->size) != 0)
    fail_msg("%s: sparse_read bytes differ", what);
  free(ext);
  /* The map alone, of a window, clipped to it. */
  ext = NULL;
  next = 0;
  n = objstore_sparse_read(p, oid, snap, 1 * M - 4 * K, 8 * K + 1, NULL, &ext,
                           &next);
  assert_int_equal(n, 8 * K + 1);
  struct objstore_extent w1[] = {{1 * M, 4 * K}};
  assert_extents(what, ext, next, w1, 1);
  free(ext);
  free(buf);
}

static void test_sparse_stays_sparse(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *p = f->pool;
  const char *oid = "lbd_data.sparse.0000000000000000";
  bool local = backend_is_local();
  uint64_t du0 = local ? pool_du(f) : 0;

  struct model head, snap;
  model_init(&head, 4 * M);
  const uint64_t blocks[] = {0, 1 * M, 2 * M + 8 * K, 4 * M - 4 * K};
  for (int i = 0; i < 4; i++)
    do_write(p, oid, NULL, &head, 1 + i, blocks[i], 4 * K);
  assert_int_equal(head.size, 4 * M);
  struct objstore_extent all4[4] = {
      {blocks[0], 4 * K}, {blocks[1], 4 * K}, {blocks[2], 4 * K},
      {blocks[3], 4 * K}};
  assert_map(p, oid, OBJSTORE_SNAP_HEAD, &head, all4, 4, "head, no snap");
  uint64_t du1 = local ? pool_du(f) : 0;

  uint64_t s;
  assert_ok(objstore_snap_create(p, &s));
  model_copy(&snap, &head);
  uint64_t sn[] = {s};
  struct objstore_snapc c = {s, sn, 1};
  /* Overwrite the block at 1 MiB; punch the one at 2 MiB + 8 KiB. */
  do_write(p, oid, &c, &head, 6, blocks[1], 4 * K);
  assert_ok(objstore_zero(p, oid, &c, blocks[2], 4 * K));
  memset(head.bytes + blocks[2], 0, 4 * K);

  struct objstore_extent head3[3] = {
      {blocks[0], 4 * K}, {blocks[1], 4 * K}, {blocks[3], 4 * K}};
  assert_map(p, oid, OBJSTORE_SNAP_HEAD, &head, head3, 3, "head after snap");
  assert_map(p, oid, s, &snap, all4, 4, "at the snap");
  struct want_clone w[1] = {
      {s, {s}, 1, 4 * M,
       {{0, 1 * M}, {1 * M + 4 * K, 1 * M + 4 * K}, {2 * M + 12 * K,
                                                     2 * M - 12 * K}},
       3}};
  assert_snaps(p, oid, s, true, 4 * M, w, 1, "sparse");

  uint64_t du2 = local ? pool_du(f) : 0;
  if (local) {
    printf("sparse: pool files take %" PRIu64 " KiB empty, %" PRIu64
           " KiB with 4 blocks, %" PRIu64 " KiB with a snap\n",
           du0 / K, du1 / K, du2 / K);
    if (du2 >= 512 * K)
      fail_msg("a 4 MiB object with 4 written blocks and one snap takes %" PRIu64
               " KiB of files (empty pool: %" PRIu64 " KiB)", du2 / K,
               du0 / K);
  }

  assert_ok(objstore_snap_remove(p, s));
  assert_enoent_at(p, oid, s, "removed snap");
  assert_snaps(p, oid, s, true, 4 * M, NULL, 0, "sparse, snap removed");
  assert_map(p, oid, OBJSTORE_SNAP_HEAD, &head, head3, 3, "head, snap gone");
  if (local) {
    uint64_t du3 = pool_du(f);
    printf("sparse: %" PRIu64 " KiB after snap_remove\n", du3 / K);
    if (du3 > du1 + 64 * K)
      fail_msg("after snap_remove the pool files take %" PRIu64
               " KiB; before the snap %" PRIu64 " KiB", du3 / K, du1 / K);
  }
  model_free(&head);
  model_free(&snap);
}

/* A whole 4 MiB clone: its space really comes back with snap_remove. */
static void test_snap_remove_frees_space(void **state)
{
  struct fixture *f = *state;
  struct objstore_pool *p = f->pool;
  const char *oid = "lbd_data.full.0000000000000000";
  bool local = backend_is_local();
  unsigned char *buf = malloc(4 * M);
  assert_non_null(buf);
  struct model head, snap;
  model_init(&head, 4 * M);
  fill(buf, 1, 0, 4 * M);
  assert_ok(objstore_write_full(p, oid, NULL, buf, 4 * M));
  model_write(&head, 1, 0, 4 * M);
  uint64_t du1 = local ? pool_du(f) : 0;

  uint64_t s;
  assert_ok(objstore_snap_create(p, &s));
  model_copy(&snap, &head);
  uint64_t sn[] = {s};
  struct objstore_snapc c = {s, sn, 1};
  fill(buf, 2, 0, 3 * M);
  assert_ok(objstore_write_full(p, oid, &c, buf, 3 * M));
  model_free(&head); /* the old bytes live on in SNAP */
  model_init(&head, 4 * M);
  model_write(&head, 2, 0, 3 * M);
  assert_reads(p, oid, s, &snap, "4 MiB at the snap");
  assert_reads(p, oid, OBJSTORE_SNAP_HEAD, &head, "3 MiB head");
  /* write_full replaces everything: nothing shared. */
  struct want_clone w[1] = {{s, {s}, 1, 4 * M, {{0, 0}}, 0}};
  assert_snaps(p, oid, s, true, 3 * M, w, 1, "write_full after snap");
  uint64_t du2 = local ? pool_du(f) : 0;

  assert_ok(objstore_snap_remove(p, s));
  assert_enoent_at(p, oid, s, "removed snap");
  assert_snaps(p, oid, s, true, 3 * M, NULL, 0, "clone freed");
  assert_reads(p, oid, OBJSTORE_SNAP_HEAD, &head, "3 MiB head, snap gone");
  if (local) {
    uint64_t du3 = pool_du(f);
    printf("full clone: %" PRIu64 " KiB before the snap, %" PRIu64
           " KiB with it, %" PRIu64 " KiB after snap_remove\n",
           du1 / K, du2 / K, du3 / K);
    if (du2 < du1 + 3 * M)
      fail_msg("the pool's files do not hold the data: %" PRIu64 " KiB with "
               "4 MiB at a snap and 3 MiB at head", du2 / K);
    if (du3 > du1)
      fail_msg("after snap_remove the pool files take %" PRIu64
               " KiB, more than the %" PRIu64 " KiB of a 4 MiB object alone",
               du3 / K, du1 / K);
  }
  free(buf);
  model_free(&head);
  model_free(&snap);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_snap_history_and_removal,
                                      fixture_setup, fixture_teardown),
      cmocka_unit_test_setup_teardown(test_sparse_stays_sparse, fixture_setup,
                                      fixture_teardown),
      cmocka_unit_test_setup_teardown(test_snap_remove_frees_space,
                                      fixture_setup, fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
