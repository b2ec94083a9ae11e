/* rbd's own files as import formats:
 *
 *   {"type": "rbd-export", "stream": {...}}
 *       an `rbd export --export-format 2` file: every diff in it that ends
 *       at a snapshot ('t') gives a snapshot of that name, the last diff is
 *       the head;
 *   {"type": "rbd-diff", "streams": [{...}, ...]}  (or "stream": {...})
 *       a chain of `rbd export-diff` files (v1 or v2) applied on nothing,
 *       oldest first: the first starts from nothing (no 'f'), each next one
 *       from the snapshot the one before it ends at; each diff that ends at
 *       a snapshot gives that snapshot, the last one is the head.
 *
 * The streams are parsed once at open, by the parsers of rbd's formats
 * (image/export_format.h, over a buffered reader of the stream), into an
 * index: for each version (each diff applied), the sorted extents of the
 * image that hold data with where that data lies in which stream.  Reads
 * and extents are answered from the index, with random access into the
 * streams; 'z' records and what no 'w' record wrote are holes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/export_format.h"
#include "source/format_int.h"
#include "util/error.h"

#define RBD_READ_BUF (1u << 20) /* the parser's read-ahead */
#define RBD_READ_AFTER_SKIP (64u << 10) /* after data skipped: a header */

/* [off, off+len) of the image is stream S's bytes from SOFF. */
struct rext {
  uint64_t off, len;
  uint64_t soff;
  uint32_t s;
};

struct rmap {
  struct rext *e;
  size_t n, cap;
  uint64_t size;
};

struct rbd_fmt {
  struct stream **streams;
  size_t nstreams;
  struct rmap *vers; /* one per diff applied, in order */
  size_t nvers;
  uint32_t *snap_ver; /* snapshot index -> version */
};

/* ---- the index ---------------------------------------------------------- */

static int rmap_push(struct rmap *m, const struct rext *x)
{
  if (x->len == 0)
    return 0;
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 16;
    struct rext *e = realloc(m->e, cap * sizeof *e);
    if (!e)
      return lbd_error(ENOMEM, "indexing the rbd stream: out of memory");
    m->e = e;
    m->cap = cap;
  }
  m->e[m->n++] = *x;
  return 0;
}

static void rext_trim_front(struct rext *x, uint64_t to)
{
  uint64_t d = to - x->off;
  x->off = to;
  x->len -= d;
  x->soff += d;
}

/* NEW = OLD with the records OPS (ascending, disjoint; a 'z' one has
 * s == UINT32_MAX) laid over it, cut at SIZE. */
static int rmap_apply(const struct rmap *old, const struct rext *ops,
                      size_t nops, uint64_t size, struct rmap *out)
{
  struct rmap m = {NULL, 0, 0, size};
  size_t i = 0;
  struct rext cur;
  bool have = false;
  int r = 0;
  for (size_t k = 0; r == 0 && k < nops; k++) {
    const struct rext *op = &ops[k];
    uint64_t opend = op->off + op->len;
    for (;;) { /* what ends before the op stays */
      if (!have && i < old->n) {
        cur = old->e[i++];
        have = true;
      }
      if (!have || cur.off + cur.len > op->off)
        break;
      if ((r = rmap_push(&m, &cur)) < 0)
        break;
      have = false;
    }
    if (r == 0 && have && cur.off < op->off) { /* its head stays */
      struct rext head = cur;
      head.len = op->off - cur.off;
      r = rmap_push(&m, &head);
      rext_trim_front(&cur, op->off);
    }
    if (r == 0 && op->s != UINT32_MAX)
      r = rmap_push(&m, op);
    for (; r == 0;) { /* what the op covers goes */
      if (!have && i < old->n) {
        cur = old->e[i++];
        have = true;
      }
      if (!have || cur.off >= opend)
        break;
      if (cur.off + cur.len <= opend) {
        have = false;
        continue;
      }
      rext_trim_front(&cur, opend);
      break;
    }
  }
  if (r == 0 && have)
    r = rmap_push(&m, &cur);
  for (; r == 0 && i < old->n; i++)
    r = rmap_push(&m, &old->e[i]);
  /* cut at the size */
  while (r == 0 && m.n && m.e[m.n - 1].off >= size)
    m.n--;
  if (r == 0 && m.n && m.e[m.n - 1].off + m.e[m.n - 1].len > size)
    m.e[m.n - 1].len = size - m.e[m.n - 1].off;
  if (r < 0) {
    free(m.e);
    return r;
  }
  *out = m;
  return 0;
}

/* Lay OPS over OLD one by one (records of a diff out of order). */
static int rmap_apply_each(const struct rmap *old, const struct rext *ops,
                           size_t nops, uint64_t size, struct rmap *out)
{
  struct rmap cur = {NULL, 0, 0, size};
  int r = rmap_apply(old, NULL, 0, UINT64_MAX, &cur);
  for (size_t k = 0; r == 0 && k < nops; k++) {
    struct rmap next;
    r = rmap_apply(&cur, &ops[k], 1, UINT64_MAX, &next);
    if (r == 0) {
      free(cur.e);
      cur = next;
    }
  }
  if (r == 0)
    r = rmap_apply(&cur, NULL, 0, size, out);
  free(cur.e);
  return r;
}

/* ---- parsing: an export_in over a stream -------------------------------- */

struct sreader {
  struct stream *s;
  uint64_t pos; /* of the next byte to hand out */
  uint8_t *buf;
  uint64_t bpos; /* stream offset of buf[0] */
  size_t blen;
  bool skipped; /* the last move was a skip: read little (records) */
};

static ssize_t sreader_read(void *ctx, void *out, size_t len)
{
  struct sreader *r = ctx;
  if (r->pos >= r->s->size)
    return 0;
  if (r->pos < r->bpos || r->pos >= r->bpos + r->blen) {
    uint64_t left = r->s->size - r->pos;
    size_t want = r->skipped ? RBD_READ_AFTER_SKIP : RBD_READ_BUF;
    size_t n = left < want ? (size_t)left : want;
    int e = format_pread(r->s, r->pos, n, r->buf);
    if (e < 0)
      return e;
    r->bpos = r->pos;
    r->blen = n;
    r->skipped = false;
  }
  size_t have = (size_t)(r->bpos + r->blen - r->pos);
  size_t n = len < have ? len : have;
  memcpy(out, r->buf + (r->pos - r->bpos), n);
  r->pos += n;
  return (ssize_t)n;
}

static int sreader_skip(void *ctx, uint64_t len)
{
  struct sreader *r = ctx;
  r->pos = len > UINT64_MAX - r->pos ? UINT64_MAX : r->pos + len;
  r->skipped = true;
  return 0;
}

/* ---- building the versions ---------------------------------------------- */

struct builder {
  struct rbd_fmt *rf;
  struct format *f; /* for snapshots */
  uint32_t stream;  /* the stream being walked */
  struct rext *ops; /* the current diff's records */
  size_t nops, cap;
  bool ordered;
  struct export_diff_meta meta;
  bool has_meta;
};

static int on_diff(void *arg, uint64_t index, const struct export_diff_meta *m)
{
  struct builder *b = arg;
  (void)index;
  b->meta = *m;
  b->has_meta = true;
  b->nops = 0;
  b->ordered = true;
  return 0;
}

static int on_record(void *arg, const struct export_record *rec,
                     uint64_t data_pos)
{
  struct builder *b = arg;
  if (rec->len == 0)
    return 0;
  if (b->nops == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 64;
    struct rext *o = realloc(b->ops, cap * sizeof *o);
    if (!o)
      return lbd_error(ENOMEM, "indexing the rbd stream: out of memory");
    b->ops = o;
    b->cap = cap;
  }
  if (b->nops && rec->off < b->ops[b->nops - 1].off + b->ops[b->nops - 1].len)
    b->ordered = false;
  b->ops[b->nops++] = (struct rext){
      rec->off, rec->len, rec->tag == EXPORT_TAG_WRITE ? data_pos : 0,
      rec->tag == EXPORT_TAG_WRITE ? b->stream : UINT32_MAX};
  return 0;
}

/* The diff just walked becomes the next version (and a snapshot if it ends
 * at one). */
static int end_diff(struct builder *b, const char *what)
{
  struct rbd_fmt *rf = b->rf;
  const struct export_diff_meta *m = &b->meta;
  if (m->size == 0)
    return lbd_error(EINVAL, "%s: the image size is 0", what);
  struct rmap *v = realloc(rf->vers, (rf->nvers + 1) * sizeof *v);
  if (!v)
    return lbd_error(ENOMEM, "%s: out of memory", what);
  rf->vers = v;
  struct rmap empty = {NULL, 0, 0, 0};
  const struct rmap *old = rf->nvers ? &rf->vers[rf->nvers - 1] : &empty;
  int r = b->ordered
              ? rmap_apply(old, b->ops, b->nops, m->size, &v[rf->nvers])
              : rmap_apply_each(old, b->ops, b->nops, m->size,
                                &v[rf->nvers]);
  if (r < 0)
    return r;
  rf->nvers++;
  if (!m->has_to)
    return 0;
  struct format *f = b->f;
  if (strlen(m->to) >= sizeof f->snaps[0].name)
    return lbd_error(EINVAL, "%s: snapshot name \"%.64s...\" is longer than "
                     "%zu bytes", what, m->to, sizeof f->snaps[0].name - 1);
  for (uint32_t i = 0; i < f->nsnaps; i++)
    if (strcmp(f->snaps[i].name, m->to) == 0)
      return lbd_error(EINVAL, "%s: snapshot \"%s\" twice", what, m->to);
  if (f->nsnaps >= FORMAT_HEAD - 1)
    return lbd_error(EINVAL, "%s: too many snapshots", what);
  struct format_snap *s = realloc(f->snaps, (f->nsnaps + 1) * sizeof *s);
  uint32_t *sv = realloc(rf->snap_ver, (f->nsnaps + 1) * sizeof *sv);
  if (s)
    f->snaps = s;
  if (sv)
    rf->snap_ver = sv;
  if (!s || !sv)
    return lbd_error(ENOMEM, "%s: out of memory", what);
  memset(&s[f->nsnaps], 0, sizeof *s);
  snprintf(s[f->nsnaps].name, sizeof s[f->nsnaps].name, "%s", m->to);
  s[f->nsnaps].size = m->size;
  sv[f->nsnaps] = (uint32_t)(rf->nvers - 1);
  f->nsnaps++;
  return 0;
}

static int image_diff_cb(void *arg, uint64_t index,
                         const struct export_diff_meta *m)
{
  struct builder *b = arg;
  if (index > 0) { /* the one before it is complete */
    char what[64];
    snprintf(what, sizeof what, "diff %" PRIu64, index);
    int r = end_diff(b, what);
    if (r < 0)
      return r;
  }
  return on_diff(arg, index, m);
}

/* ---- reads -------------------------------------------------------------- */

static const struct rmap *rbd_version(struct format *f, uint32_t snap)
{
  struct rbd_fmt *rf = f->priv;
  return snap == FORMAT_HEAD ? &rf->vers[rf->nvers - 1]
                             : &rf->vers[rf->snap_ver[snap]];
}

/* The first extent of M that ends after OFF. */
static size_t rmap_find(const struct rmap *m, uint64_t off)
{
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->e[mid].off + m->e[mid].len <= off)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int rbd_read(struct format *f, uint32_t snap, uint64_t off, size_t len,
                    void *buf)
{
  struct rbd_fmt *rf = f->priv;
  const struct rmap *m = rbd_version(f, snap);
  uint8_t *p = buf;
  uint64_t end = off + len;
  for (size_t i = rmap_find(m, off); off < end; i++) {
    const struct rext *x = i < m->n ? &m->e[i] : NULL;
    uint64_t next = x && x->off < end ? x->off : end;
    if (next > off) { /* a hole */
      memset(p, 0, (size_t)(next - off));
      p += next - off;
      off = next;
      if (off == end)
        break;
    }
    uint64_t xend = x->off + x->len < end ? x->off + x->len : end;
    struct stream *s = rf->streams[x->s];
    int r = format_pread(s, x->soff + (off - x->off), (size_t)(xend - off), p);
    if (r < 0)
      return lbd_error_prefix(r, "%s", f->ops->name);
    p += xend - off;
    off = xend;
  }
  return 0;
}

static int rbd_extents(struct format *f, uint32_t snap, uint64_t off,
                       uint64_t len, struct extent_set *out)
{
  const struct rmap *m = rbd_version(f, snap);
  uint64_t end = off + len;
  for (size_t i = rmap_find(m, off); i < m->n && m->e[i].off < end; i++) {
    uint64_t a = m->e[i].off > off ? m->e[i].off : off;
    uint64_t b = m->e[i].off + m->e[i].len < end ? m->e[i].off + m->e[i].len
                                                 : end;
    int r = extent_set_add(out, a, b - a);
    if (r < 0)
      return lbd_error(r, "%s: out of memory", f->ops->name);
  }
  return 0;
}

static void rbd_close(struct format *f)
{
  struct rbd_fmt *rf = f->priv;
  if (!rf)
    return;
  for (size_t i = 0; i < rf->nstreams; i++)
    stream_close(rf->streams[i]);
  for (size_t i = 0; i < rf->nvers; i++)
    free(rf->vers[i].e);
  free(rf->streams);
  free(rf->vers);
  free(rf->snap_ver);
  free(rf);
}

static const struct format_ops rbd_export_ops = {
  .struct_size = sizeof(struct format_ops),
  .name = "rbd-export",
  .read = rbd_read,
  .extents = rbd_extents,
  .close = rbd_close,
};

static const struct format_ops rbd_diff_ops = {
  .struct_size = sizeof(struct format_ops),
  .name = "rbd-diff",
  .read = rbd_read,
  .extents = rbd_extents,
  .close = rbd_close,
};

/* ---- open --------------------------------------------------------------- */

static int walk_export(struct builder *b, struct stream *s)
{
  struct sreader sr = {.s = s};
  struct export_in in = {sreader_read, sreader_skip, &sr, 0};
  struct export_image_header h;
  uint64_t n;
  if (!(sr.buf = malloc(RBD_READ_BUF)))
    return lbd_error(ENOMEM, "out of memory");
  int r = export_image_begin(&in, &h, &n);
  if (r == 0) {
    export_image_header_free(&h); /* layout and metadata: not a source's */
    struct export_visitor v = {image_diff_cb, on_record, b};
    r = export_image_walk(&in, n, &v);
  }
  if (r == 0) {
    char what[64];
    snprintf(what, sizeof what, "diff %" PRIu64, n);
    r = end_diff(b, what);
  }
  free(sr.buf);
  return r < 0 ? lbd_error_prefix(r, "%s", s->name) : 0;
}

/* Diff I of a chain: it must start where the one before it (PREV) ends. */
static int walk_diff(struct builder *b, struct stream *s, size_t i,
                     const struct export_diff_meta *prev)
{
  struct sreader sr = {.s = s};
  struct export_in in = {sreader_read, sreader_skip, &sr, 0};
  struct export_record rec;
  char what[256];
  snprintf(what, sizeof what, "streams[%zu] (%.200s)", i, s->name);
  if (!(sr.buf = malloc(RBD_READ_BUF)))
    return lbd_error(ENOMEM, "out of memory");
  int r = export_diff_begin(&in, 0, &b->meta, &rec);
  if (r == 0 && i == 0 && b->meta.has_from)
    r = lbd_error(EINVAL, "the diff starts from snapshot \"%.256s\": the "
                  "first diff of a chain must start from nothing",
                  b->meta.from);
  if (r == 0 && i > 0 && !prev->has_to)
    r = lbd_error(EINVAL, "the diff before it (streams[%zu]) ends at no "
                  "snapshot, so nothing can follow it", i - 1);
  if (r == 0 && i > 0 &&
      (!b->meta.has_from || strcmp(b->meta.from, prev->to) != 0))
    r = lbd_error(EINVAL, "the diff starts from %s%.256s%s, not from "
                  "snapshot \"%.256s\" where streams[%zu] ends",
                  b->meta.has_from ? "snapshot \"" : "nothing",
                  b->meta.has_from ? b->meta.from : "",
                  b->meta.has_from ? "\"" : "", prev->to, i - 1);
  if (r == 0) {
    struct export_diff_meta m = b->meta;
    on_diff(b, i, &m);
    struct export_visitor v = {NULL, on_record, b};
    r = export_diff_walk_body(&in, &b->meta, &rec, false, &v);
  }
  if (r == 0)
    r = end_diff(b, what);
  free(sr.buf);
  return r < 0 ? lbd_error_prefix(r, "%s", what) : 0;
}

static int open_streams(const json_t *spec, lbd_cluster_t *cluster,
                        bool chain, struct rbd_fmt *rf)
{
  const json_t *one = json_object_get(spec, "stream");
  const json_t *many = chain ? json_object_get(spec, "streams") : NULL;
  if (one && many)
    return lbd_error(EINVAL, "give \"stream\" or \"streams\", not both");
  if (many && (!json_is_array(many) || json_array_size(many) == 0))
    return lbd_error(EINVAL, "\"streams\" must be a non-empty array of "
                     "stream objects");
  if (!one && !many)
    return lbd_error(EINVAL, "missing \"%s\"", chain ? "streams" : "stream");
  size_t n = many ? json_array_size(many) : 1;
  if (n > 65536)
    return lbd_error(EINVAL, "\"streams\": more than 65536 diffs");
  for (size_t i = 0; i < n; i++) {
    const json_t *st = many ? json_array_get(many, i) : one;
    if (!json_is_object(st))
      return many ? lbd_error(EINVAL, "streams[%zu] is not an object", i)
                  : lbd_error(EINVAL, "\"stream\" is not an object");
  }
  if (!(rf->streams = calloc(n, sizeof *rf->streams)))
    return lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    int r = stream_open(many ? json_array_get(many, i) : one, cluster,
                        &rf->streams[i]);
    if (r < 0)
      return many ? lbd_error_prefix(r, "streams[%zu]", i)
                  : lbd_error_prefix(r, "stream");
    rf->nstreams = i + 1;
  }
  return 0;
}

int format_rbd_open_spec(const json_t *spec, lbd_cluster_t *cluster,
                         bool chain, struct format **out)
{
  *out = NULL;
  const char *type = chain ? "rbd-diff" : "rbd-export";
  struct rbd_fmt *rf = calloc(1, sizeof *rf);
  struct format *f =
      rf ? format_new(chain ? &rbd_diff_ops : &rbd_export_ops, rf, 0) : NULL;
  if (!f) {
    free(rf);
    return lbd_error(ENOMEM, "source-spec: out of memory");
  }
  int r = open_streams(spec, cluster, chain, rf);
  struct builder b = {.rf = rf, .f = f};
  struct export_diff_meta prev = {0};
  for (size_t i = 0; r == 0 && i < rf->nstreams; i++) {
    b.stream = (uint32_t)i;
    if (chain) {
      r = walk_diff(&b, rf->streams[i], i, &prev);
      prev = b.meta;
    } else {
      r = walk_export(&b, rf->streams[i]);
    }
  }
  free(b.ops);
  if (r < 0) {
    format_close(f);
    return lbd_error_prefix(r, "source-spec (%s)", type);
  }
  f->size = rf->vers[rf->nvers - 1].size;
  *out = f;
  return 0;
}
