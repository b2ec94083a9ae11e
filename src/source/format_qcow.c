/* The qcow format: QCOW version 1 and QCOW2 (version 2 and 3 headers),
 * read-only and refcount-free (qemu's docs/interop/qcow2.txt).
 *
 * Covered: L1/L2 tables, unallocated clusters (holes, or the backing
 * file's data), zero clusters (the L2 entry's bit 0, in any version, as
 * qemu reads it), cluster sizes 512 B to 2 MiB, compressed clusters (zlib
 * deflate, zstd when the header's compression type says so), extended L2
 * entries (32 subclusters with allocated/zero bitmaps), internal snapshots
 * (their own L1 tables and sizes, oldest first by date), a backing file
 * chain (the name resolved relative to this stream, its format from the
 * backing format extension or probed, at most DEPTH deep).  Refused with
 * ENOTSUP naming the feature: encryption, external data files, unknown
 * incompatible features, other compression types; with EINVAL: anything
 * out of bounds of the stream or of qemu's own limits.
 *
 * Every header and table field is checked against the stream's size before
 * it is used: L1 tables and every L2 table they point to at open, data and
 * compressed cluster offsets when they are read.  L2 tables are cached
 * (a small LRU under a mutex: reads come from several threads). */
#include "source/format_int.h"
#include "source/qcow.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "util/error.h"

#define L2_CACHE_BYTES (16u << 20)
#define L2_CACHE_MIN 4
#define L2_CACHE_MAX 64
#define SN_TABLE_CHUNK (64u << 10)
#define MAX_VIRTUAL_SIZE (1ull << 62)

struct l1 {
  uint64_t *e; /* L2 table offsets, 0: none */
  uint32_t n;
};

struct l2_slot {
  uint64_t off;
  uint64_t used;
  uint8_t *buf; /* NULL: empty */
};

struct qcow {
  struct stream *s;
  unsigned version;
  unsigned cluster_bits;
  uint64_t cluster_size;
  unsigned l2_bits;    /* log2 of the entries of an L2 table */
  size_t l2_bytes;     /* bytes of an L2 table */
  unsigned entry_size; /* 8, 16 with extended L2 entries */
  bool ext_l2;
  unsigned unit_bits;  /* a cluster's, or a subcluster's */
  int compression;
  unsigned csize_shift; /* QCOW2 compressed entries */
  uint64_t csize_mask;
  struct l1 head;
  struct l1 *snap_l1; /* as f->snaps: oldest first */
  uint32_t nsnaps;
  struct format *backing;

  pthread_mutex_t lock; /* the L2 cache and the compressed cluster */
  struct l2_slot *cache;
  unsigned ncache;
  uint64_t tick;
  uint8_t *zbuf;
  uint64_t zkey;
  bool zvalid;
};

enum run_type { RUN_DATA, RUN_ZERO, RUN_UNALLOC, RUN_COMPRESSED };

struct run {
  enum run_type type;
  uint64_t host;  /* DATA: where the run's first byte is; COMPRESSED: the
                   * compressed data */
  uint64_t csize; /* COMPRESSED: its size */
  uint64_t len;
};

static uint64_t be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

static uint32_t be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint16_t be16(const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}

static int qerr(const struct qcow *q, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int qerr(const struct qcow *q, int err, const char *fmt, ...)
{
  char msg[LBD_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lbd_error(err, "qcow %s: %s", q->s->name, msg);
}

/* Whether [OFF, OFF+LEN) lies inside the stream. */
static bool in_file(const struct qcow *q, uint64_t off, uint64_t len)
{
  return off <= q->s->size && len <= q->s->size - off;
}

static int pread_q(struct qcow *q, uint64_t off, size_t len, void *buf)
{
  int r = format_pread(q->s, off, len, buf);
  if (r < 0)
    return lbd_error_prefix(r, "qcow %s", q->s->name);
  return 0;
}

/* ---- the L2 cache ---- */

static struct l2_slot *cache_find(struct qcow *q, uint64_t off)
{
  for (unsigned i = 0; i < q->ncache; i++)
    if (q->cache[i].buf && q->cache[i].off == off) {
      q->cache[i].used = ++q->tick;
      return &q->cache[i];
    }
  return NULL;
}

/* The L2 table at OFF (checked at open: inside the stream), with q->lock
 * held on success; the caller unlocks. */
static int l2_get_locked(struct qcow *q, uint64_t off, const uint8_t **tbl)
{
  pthread_mutex_lock(&q->lock);
  struct l2_slot *slot = cache_find(q, off);
  if (slot) {
    *tbl = slot->buf;
    return 0;
  }
  pthread_mutex_unlock(&q->lock);
  uint8_t *buf = malloc(q->l2_bytes);
  if (!buf)
    return qerr(q, ENOMEM, "out of memory for an L2 table");
  int r = pread_q(q, off, q->l2_bytes, buf);
  if (r < 0) {
    free(buf);
    return r;
  }
  pthread_mutex_lock(&q->lock);
  slot = cache_find(q, off);
  if (slot) {
    free(buf);
  } else {
    slot = &q->cache[0];
    for (unsigned i = 1; i < q->ncache && slot->buf; i++)
      if (!q->cache[i].buf || q->cache[i].used < slot->used)
        slot = &q->cache[i];
    free(slot->buf);
    slot->buf = buf;
    slot->off = off;
    slot->used = ++q->tick;
  }
  *tbl = slot->buf;
  return 0;
}

/* ---- mapping guest offsets ---- */

/* What the L2 table T says of guest offset POS: *U's type, host, csize,
 * and len up to the end of POS's cluster or subcluster. */
static int decode(struct qcow *q, const uint8_t *t, uint64_t pos,
                  struct run *u)
{
  uint64_t ci = (pos >> q->cluster_bits) & ((1ull << q->l2_bits) - 1);
  uint64_t in_cluster = pos & (q->cluster_size - 1);
  uint64_t e = be64(t + ci * q->entry_size);
  uint64_t unit = 1ull << q->unit_bits;
  u->len = unit - (pos & (unit - 1));
  u->host = 0;
  u->csize = 0;
  uint64_t host;
  if (q->version == 1) {
    if (e & QCOW1_OFLAG_COMPRESSED) {
      unsigned shift = 63 - q->cluster_bits;
      u->type = RUN_COMPRESSED;
      u->csize = (e >> shift) & (q->cluster_size - 1);
      u->host = e & ((1ull << shift) - 1);
      u->len = q->cluster_size - in_cluster;
      goto compressed;
    }
    if (e == 0) {
      u->type = RUN_UNALLOC;
      return 0;
    }
    host = e;
    goto data;
  }
  if (e & QCOW2_OFLAG_COMPRESSED) {
    uint64_t off = e & ((1ull << q->csize_shift) - 1);
    uint64_t nsect = ((e >> q->csize_shift) & q->csize_mask) + 1;
    u->type = RUN_COMPRESSED;
    u->host = off;
    u->csize = nsect * 512 - (off & 511);
    u->len = q->cluster_size - in_cluster;
    goto compressed;
  }
  host = e & QCOW2_L2E_OFFSET_MASK;
  if (q->ext_l2) {
    uint64_t bm = be64(t + ci * q->entry_size + 8);
    unsigned sc = (unsigned)(in_cluster >> q->unit_bits);
    bool alloc = bm >> sc & 1, zero = bm >> (32 + sc) & 1;
    if (alloc && zero)
      return qerr(q, EINVAL, "subcluster %u of guest cluster at %llu is "
                  "both allocated and zero", sc,
                  (unsigned long long)(pos - in_cluster));
    if (!alloc) {
      u->type = zero ? RUN_ZERO : RUN_UNALLOC;
      return 0;
    }
    if (host == 0)
      return qerr(q, EINVAL, "allocated subcluster without a cluster "
                  "offset at guest offset %llu", (unsigned long long)pos);
  } else if (e & QCOW2_OFLAG_ZERO) {
    u->type = RUN_ZERO;
    return 0;
  } else if (host == 0) {
    u->type = RUN_UNALLOC;
    return 0;
  }
  if (host & (q->cluster_size - 1))
    return qerr(q, EINVAL, "data cluster offset %llu (guest offset %llu) "
                "is not cluster-aligned", (unsigned long long)host,
                (unsigned long long)(pos - in_cluster));
data:
  if (host >= q->s->size || q->s->size - host <= in_cluster)
    return qerr(q, EINVAL, "data cluster at offset %llu (guest offset "
                "%llu) is beyond the end of the file (%llu bytes)",
                (unsigned long long)host,
                (unsigned long long)(pos - in_cluster),
                (unsigned long long)q->s->size);
  u->type = RUN_DATA;
  u->host = host + in_cluster;
  return 0;
compressed:
  if (u->host == 0 || u->host >= q->s->size || u->csize == 0)
    return qerr(q, EINVAL, "compressed cluster at offset %llu, %llu bytes "
                "(guest offset %llu) is outside the file (%llu bytes)",
                (unsigned long long)u->host, (unsigned long long)u->csize,
                (unsigned long long)(pos - in_cluster),
                (unsigned long long)q->s->size);
  return 0;
}

/* The run of guest offsets from OFF (at most MAX bytes) that L1 maps
 * alike: one type, and for data contiguous in the file. */
static int map(struct qcow *q, const struct l1 *l1, uint64_t off,
               uint64_t max, struct run *run)
{
  unsigned span_bits = q->cluster_bits + q->l2_bits;
  uint64_t l1i = off >> span_bits;
  uint64_t lim = ((l1i + 1) << span_bits) - off;
  if (lim > max)
    lim = max;
  if (l1i >= l1->n || l1->e[l1i] == 0) {
    /* unallocated up to the next L1 entry that has an L2 table */
    while (lim < max && ++l1i < l1->n && l1->e[l1i] == 0)
      lim += 1ull << span_bits;
    if (l1i >= l1->n)
      lim = max;
    run->type = RUN_UNALLOC;
    run->host = run->csize = 0;
    run->len = lim < max ? lim : max;
    return 0;
  }
  const uint8_t *t = NULL;
  int r = l2_get_locked(q, l1->e[l1i], &t);
  if (r < 0)
    return r;
  r = decode(q, t, off, run);
  if (r == 0 && run->type != RUN_COMPRESSED) {
    while (run->len < lim) {
      struct run u;
      r = decode(q, t, off + run->len, &u);
      if (r < 0 || u.type != run->type ||
          (u.type == RUN_DATA && u.host != run->host + run->len))
        break;
      run->len += u.len;
    }
    r = r < 0 && run->len > 0 ? 0 : r; /* the bad unit errs on its own */
  }
  pthread_mutex_unlock(&q->lock);
  if (run->len > lim)
    run->len = lim;
  return r;
}

/* ---- compressed clusters ---- */

static int inflate_zlib(const uint8_t *in, size_t inlen, uint8_t *out,
                        size_t outlen)
{
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  if (inflateInit2(&zs, -12) != Z_OK)
    return -ENOMEM;
  zs.next_in = (Bytef *)in;
  zs.avail_in = (uInt)inlen;
  zs.next_out = out;
  zs.avail_out = (uInt)outlen;
  int r = inflate(&zs, Z_FINISH);
  bool ok = (r == Z_STREAM_END || r == Z_BUF_ERROR) && zs.avail_out == 0;
  inflateEnd(&zs);
  return ok ? 0 : -EIO;
}

static int inflate_zstd(const uint8_t *in, size_t inlen, uint8_t *out,
                        size_t outlen)
{
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  if (!dctx)
    return -ENOMEM;
  ZSTD_outBuffer ob = {out, outlen, 0};
  ZSTD_inBuffer ib = {in, inlen, 0};
  int r = 0;
  while (ob.pos < ob.size) {
    size_t in_pos = ib.pos, out_pos = ob.pos;
    size_t z = ZSTD_decompressStream(dctx, &ob, &ib);
    if (ZSTD_isError(z) || (ib.pos <= in_pos && ob.pos <= out_pos)) {
      r = -EIO;
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  return r;
}

/* Copy [AT, AT+LEN) of the compressed cluster RUN describes to BUF. */
static int read_compressed(struct qcow *q, const struct run *run,
                           uint64_t at, size_t len, uint8_t *buf)
{
  pthread_mutex_lock(&q->lock);
  if (q->zvalid && q->zkey == run->host) {
    memcpy(buf, q->zbuf + at, len);
    pthread_mutex_unlock(&q->lock);
    return 0;
  }
  pthread_mutex_unlock(&q->lock);
  size_t csize = (size_t)run->csize;
  uint8_t *in = malloc(csize), *out = malloc(q->cluster_size);
  int r;
  if (!in || !out) {
    r = qerr(q, ENOMEM, "out of memory for a compressed cluster");
    goto out;
  }
  r = pread_q(q, run->host, csize, in); /* past the end: zeroes */
  if (r < 0)
    goto out;
  if (q->compression == QCOW2_COMPRESSION_ZSTD)
    r = inflate_zstd(in, csize, out, q->cluster_size);
  else
    r = inflate_zlib(in, csize, out, q->cluster_size);
  if (r < 0) {
    r = qerr(q, r == -ENOMEM ? ENOMEM : EINVAL, "compressed cluster at "
             "offset %llu (%zu bytes) does not decompress (%s)",
             (unsigned long long)run->host, csize,
             q->compression == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib");
    goto out;
  }
  memcpy(buf, out + at, len);
  pthread_mutex_lock(&q->lock);
  uint8_t *old = q->zbuf;
  q->zbuf = out;
  q->zkey = run->host;
  q->zvalid = true;
  pthread_mutex_unlock(&q->lock);
  out = old;
out:
  free(in);
  free(out);
  return r;
}

/* ---- reads and extents ---- */

static const struct l1 *snap_l1(struct qcow *q, uint32_t snap)
{
  return snap == FORMAT_HEAD ? &q->head : &q->snap_l1[snap];
}

static int qcow_read(struct format *f, uint32_t snap, uint64_t off,
                     size_t len, void *vbuf)
{
  struct qcow *q = f->priv;
  const struct l1 *l1 = snap_l1(q, snap);
  uint8_t *buf = vbuf;
  while (len > 0) {
    struct run run;
    int r = map(q, l1, off, len, &run);
    if (r < 0)
      return r;
    size_t n = (size_t)run.len;
    switch (run.type) {
    case RUN_DATA:
      r = pread_q(q, run.host, n, buf);
      break;
    case RUN_ZERO:
      memset(buf, 0, n);
      break;
    case RUN_UNALLOC:
      if (q->backing)
        r = format_read(q->backing, FORMAT_HEAD, off, n, buf);
      else
        memset(buf, 0, n);
      break;
    case RUN_COMPRESSED:
      r = read_compressed(q, &run, off & (q->cluster_size - 1), n, buf);
      break;
    }
    if (r < 0)
      return r;
    buf += n;
    off += n;
    len -= n;
  }
  return 0;
}

static int qcow_extents(struct format *f, uint32_t snap, uint64_t off,
                        uint64_t len, struct extent_set *out)
{
  struct qcow *q = f->priv;
  const struct l1 *l1 = snap_l1(q, snap);
  while (len > 0) {
    struct run run;
    int r = map(q, l1, off, len, &run);
    if (r < 0)
      return r;
    if (run.type == RUN_DATA || run.type == RUN_COMPRESSED)
      r = extent_set_add(out, off, run.len);
    else if (run.type == RUN_UNALLOC && q->backing)
      r = format_extents(q->backing, FORMAT_HEAD, off, run.len, out);
    if (r < 0)
      return r;
    off += run.len;
    len -= run.len;
  }
  return 0;
}

static void qcow_close(struct format *f)
{
  struct qcow *q = f->priv;
  if (!q)
    return;
  for (unsigned i = 0; i < q->ncache; i++)
    free(q->cache[i].buf);
  free(q->cache);
  free(q->zbuf);
  free(q->head.e);
  for (uint32_t i = 0; i < q->nsnaps; i++)
    free(q->snap_l1[i].e);
  free(q->snap_l1);
  format_close(q->backing);
  if (q->s)
    stream_close(q->s);
  pthread_mutex_destroy(&q->lock);
  free(q);
}

static const struct format_ops qcow_ops = {
  .struct_size = sizeof(struct format_ops),
  .name = "qcow",
  .read = qcow_read,
  .extents = qcow_extents,
  .close = qcow_close,
};

/* ---- open: tables ---- */

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* No two entries of one L1 table may share an L2 table (qemu never makes
 * that; it would let a small file map an enormous disk). */
static int check_l2_unique(struct qcow *q, const uint64_t *e, uint32_t n,
                           const char *what)
{
  uint64_t *c = malloc((size_t)n * sizeof *c);
  if (!c)
    return qerr(q, ENOMEM, "out of memory for an L1 table");
  memcpy(c, e, (size_t)n * sizeof *c);
  qsort(c, n, sizeof *c, cmp_u64);
  int r = 0;
  for (uint32_t i = 1; i < n; i++)
    if (c[i] != 0 && c[i] == c[i - 1]) {
      r = qerr(q, EINVAL, "%s L1 table: two entries share the L2 table at "
               "offset %llu", what, (unsigned long long)c[i]);
      break;
    }
  free(c);
  return r;
}

/* Load the L1 table of N entries at OFF into *L1 and check every L2 table
 * it points to.  WHAT names it in messages. */
static int load_l1(struct qcow *q, uint64_t off, uint32_t n, const char *what,
                   struct l1 *l1)
{
  l1->e = NULL;
  l1->n = 0;
  if (n == 0)
    return 0;
  if ((uint64_t)n * 8 > QCOW_MAX_L1_BYTES)
    return qerr(q, EINVAL, "%s L1 table has %u entries (more than qemu's "
                "limit of %u)", what, n, QCOW_MAX_L1_BYTES / 8);
  if (off == 0 || !in_file(q, off, (uint64_t)n * 8))
    return qerr(q, EINVAL, "%s L1 table at offset %llu (%u entries) is "
                "outside the file (%llu bytes)", what,
                (unsigned long long)off, n, (unsigned long long)q->s->size);
  if (q->version >= 2 && (off & (q->cluster_size - 1)))
    return qerr(q, EINVAL, "%s L1 table offset %llu is not cluster-aligned",
                what, (unsigned long long)off);
  uint8_t *raw = malloc((size_t)n * 8);
  uint64_t *e = malloc((size_t)n * sizeof *e);
  if (!raw || !e) {
    free(raw);
    free(e);
    return qerr(q, ENOMEM, "out of memory for an L1 table");
  }
  int r = pread_q(q, off, (size_t)n * 8, raw);
  for (uint32_t i = 0; r == 0 && i < n; i++) {
    uint64_t v = be64(raw + (size_t)i * 8);
    if (q->version >= 2)
      v &= QCOW2_L1E_OFFSET_MASK;
    e[i] = v;
    if (v == 0)
      continue;
    if (v & (q->cluster_size - 1)) /* as qemu makes them, QCOW1 too */
      r = qerr(q, EINVAL, "%s L1 entry %u: L2 table offset %llu is not "
               "cluster-aligned", what, i, (unsigned long long)v);
    else if (!in_file(q, v, q->l2_bytes))
      r = qerr(q, EINVAL, "%s L1 entry %u: L2 table at offset %llu is "
               "outside the file (%llu bytes)", what, i,
               (unsigned long long)v, (unsigned long long)q->s->size);
  }
  free(raw);
  if (r == 0)
    r = check_l2_unique(q, e, n, what);
  if (r < 0) {
    free(e);
    return r;
  }
  l1->e = e;
  l1->n = n;
  return 0;
}

struct sn_entry {
  struct format_snap info;
  uint64_t l1_off;
  uint32_t l1_n;
  uint32_t nsec;
  uint32_t index;
};

static int sn_cmp(const void *a, const void *b)
{
  const struct sn_entry *x = a, *y = b;
  if (x->info.timestamp != y->info.timestamp)
    return x->info.timestamp < y->info.timestamp ? -1 : 1;
  if (x->nsec != y->nsec)
    return x->nsec < y->nsec ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Make sure BUF (read from table offset BASE, *HAVE bytes so far) holds
 * [0, NEED): read on in chunks, within the file and the table limit. */
static int sn_need(struct qcow *q, uint64_t base, uint8_t **buf,
                   size_t *have, size_t need, uint32_t i)
{
  if (need <= *have)
    return 0;
  if (need > QCOW_MAX_SNAPSHOT_TABLE || !in_file(q, base, need))
    return qerr(q, EINVAL, "snapshot table entry %u (table at offset %llu) "
                "runs past the end of the file or %u MiB", i,
                (unsigned long long)base, QCOW_MAX_SNAPSHOT_TABLE >> 20);
  size_t want = *have * 2 > need ? *have * 2 : need;
  if (want < SN_TABLE_CHUNK)
    want = SN_TABLE_CHUNK;
  if (want > QCOW_MAX_SNAPSHOT_TABLE)
    want = QCOW_MAX_SNAPSHOT_TABLE;
  if (want > q->s->size - base)
    want = (size_t)(q->s->size - base);
  uint8_t *p = realloc(*buf, want);
  if (!p)
    return qerr(q, ENOMEM, "out of memory for the snapshot table");
  *buf = p;
  int r = pread_q(q, base + *have, want - *have, p + *have);
  if (r < 0)
    return r;
  *have = want;
  return 0;
}

static int load_snapshots(struct qcow *q, struct format *f, uint32_t nb,
                          uint64_t base)
{
  if (nb == 0)
    return 0;
  if (nb > QCOW_MAX_SNAPSHOTS)
    return qerr(q, EINVAL, "%u snapshots (more than qemu's limit of %u)", nb,
                QCOW_MAX_SNAPSHOTS);
  if (base & (q->cluster_size - 1))
    return qerr(q, EINVAL, "snapshot table offset %llu is not "
                "cluster-aligned", (unsigned long long)base);
  struct sn_entry *sn = calloc(nb, sizeof *sn);
  uint8_t *buf = NULL;
  size_t have = 0, pos = 0;
  uint64_t l1_total = 0;
  int r = sn ? 0 : qerr(q, ENOMEM, "out of memory for snapshots");
  for (uint32_t i = 0; r == 0 && i < nb; i++) {
    r = sn_need(q, base, &buf, &have, pos + QCOW2_SN_FIXED, i);
    if (r < 0)
      break;
    const uint8_t *p = buf + pos;
    uint32_t extra = be32(p + QCOW2_SN_EXTRA_SIZE);
    uint16_t idlen = be16(p + QCOW2_SN_ID_SIZE);
    uint16_t namelen = be16(p + QCOW2_SN_NAME_SIZE);
    struct sn_entry *e = &sn[i];
    e->index = i;
    e->l1_off = be64(p + QCOW2_SN_L1_OFFSET);
    e->l1_n = be32(p + QCOW2_SN_L1_SIZE);
    e->info.timestamp = be32(p + QCOW2_SN_DATE_SEC);
    e->nsec = be32(p + QCOW2_SN_DATE_NSEC);
    if (extra > QCOW_MAX_SNAPSHOT_EXTRA) {
      r = qerr(q, EINVAL, "snapshot table entry %u: %u bytes of extra data "
               "(more than qemu's limit of %u)", i, extra,
               QCOW_MAX_SNAPSHOT_EXTRA);
      break;
    }
    size_t len = QCOW2_SN_FIXED + (size_t)extra + idlen + namelen;
    r = sn_need(q, base, &buf, &have, pos + len, i);
    if (r < 0)
      break;
    p = buf + pos;
    const uint8_t *x = p + QCOW2_SN_FIXED;
    e->info.size = f->size;
    if (extra >= QCOW2_SN_EXTRA_DISK_SIZE + 8)
      e->info.size = be64(x + QCOW2_SN_EXTRA_DISK_SIZE);
    if (e->info.size > MAX_VIRTUAL_SIZE) {
      r = qerr(q, EINVAL, "snapshot table entry %u: disk size %llu is "
               "absurd", i, (unsigned long long)e->info.size);
      break;
    }
    const char *id = (const char *)x + extra;
    const char *name = id + idlen;
    size_t nl = namelen;
    if (nl == 0) { /* unnamed: its id */
      name = id;
      nl = idlen;
    }
    if (nl == 0)
      snprintf(e->info.name, sizeof e->info.name, "snapshot-%u", i);
    else if (nl >= sizeof e->info.name || memchr(name, 0, nl)) {
      r = qerr(q, EINVAL, "snapshot table entry %u: the name is longer than "
               "%zu bytes or holds a NUL byte", i,
               sizeof e->info.name - 1);
      break;
    } else {
      memcpy(e->info.name, name, nl);
      e->info.name[nl] = 0;
    }
    l1_total += (uint64_t)e->l1_n * 8;
    pos += (len + 7) & ~(size_t)7;
  }
  free(buf);
  if (r == 0 && l1_total > q->s->size)
    r = qerr(q, EINVAL, "the snapshots' L1 tables (%llu bytes) are larger "
             "than the file", (unsigned long long)l1_total);
  if (r == 0) {
    qsort(sn, nb, sizeof *sn, sn_cmp);
    f->snaps = calloc(nb, sizeof *f->snaps);
    q->snap_l1 = calloc(nb, sizeof *q->snap_l1);
    if (!f->snaps || !q->snap_l1)
      r = qerr(q, ENOMEM, "out of memory for snapshots");
  }
  for (uint32_t i = 0; r == 0 && i < nb; i++) {
    char what[300];
    snprintf(what, sizeof what, "snapshot \"%s\"", sn[i].info.name);
    r = load_l1(q, sn[i].l1_off, sn[i].l1_n, what, &q->snap_l1[i]);
    if (r == 0) {
      f->snaps[i] = sn[i].info;
      q->nsnaps = f->nsnaps = i + 1;
    }
  }
  free(sn);
  return r;
}

/* ---- open: headers ---- */

struct hdr_info {
  uint64_t backing_off;
  uint32_t backing_len;
  char backing_fmt[64];
  bool has_backing_fmt;
  const uint8_t *features; /* the feature name table, in the header buffer */
  size_t nfeatures;
};

static void feature_name(const struct hdr_info *h, unsigned type,
                         unsigned bit, char *out, size_t outlen)
{
  snprintf(out, outlen, "unknown");
  for (size_t i = 0; i < h->nfeatures; i++) {
    const uint8_t *e = h->features + i * QCOW2_FEATURE_NAME_SIZE;
    if (e[0] == type && e[1] == bit) {
      size_t n = strnlen((const char *)e + 2, QCOW2_FEATURE_NAME_SIZE - 2);
      snprintf(out, outlen, "%.*s", (int)n, (const char *)e + 2);
      return;
    }
  }
}

/* The header extensions in [POS, END) of H. */
static int parse_extensions(struct qcow *q, const uint8_t *h, size_t pos,
                            size_t end, struct hdr_info *hi)
{
  while (pos + 8 <= end) {
    uint32_t type = be32(h + pos), len = be32(h + pos + 4);
    pos += 8;
    if (type == QCOW2_EXT_END)
      break;
    if (len > end - pos)
      return qerr(q, EINVAL, "header extension 0x%08x at offset %zu: length "
                  "%u runs past the header area", type, pos - 8, len);
    if (type == QCOW2_EXT_BACKING_FORMAT) {
      if (len >= sizeof hi->backing_fmt || memchr(h + pos, 0, len))
        return qerr(q, ENOTSUP, "backing file format name of %u bytes is "
                    "not supported (raw or qcow2)", len);
      memcpy(hi->backing_fmt, h + pos, len);
      hi->backing_fmt[len] = 0;
      hi->has_backing_fmt = true;
    } else if (type == QCOW2_EXT_FEATURE_TABLE) {
      hi->features = h + pos;
      hi->nfeatures = len / QCOW2_FEATURE_NAME_SIZE;
    }
    size_t adv = ((size_t)len + 7) & ~(size_t)7;
    if (adv > end - pos)
      break;
    pos += adv;
  }
  return 0;
}

static int check_incompat(struct qcow *q, uint64_t incompat,
                          const struct hdr_info *hi)
{
  char name[64];
  if (incompat & (1ull << QCOW2_INCOMPAT_DATA_FILE))
    return qerr(q, ENOTSUP, "external data files (incompatible feature bit "
                "%d) are not supported", QCOW2_INCOMPAT_DATA_FILE);
  if (incompat & (1ull << QCOW2_INCOMPAT_CORRUPT))
    return qerr(q, EINVAL, "the image is marked corrupt (incompatible "
                "feature bit %d): repair it with qemu-img check -r all",
                QCOW2_INCOMPAT_CORRUPT);
  uint64_t known = 1ull << QCOW2_INCOMPAT_DIRTY |
                   1ull << QCOW2_INCOMPAT_COMPRESSION |
                   1ull << QCOW2_INCOMPAT_EXTL2;
  for (unsigned bit = 0; bit < 64; bit++)
    if ((incompat & ~known) >> bit & 1) {
      feature_name(hi, 0, bit, name, sizeof name);
      return qerr(q, ENOTSUP, "incompatible feature bit %u (%s) is not "
                  "supported", bit, name);
    }
  return 0;
}

static int check_crypt(struct qcow *q, uint32_t crypt)
{
  if (crypt == 1)
    return qerr(q, ENOTSUP, "encryption (AES, crypt_method 1) is not "
                "supported");
  if (crypt == 2)
    return qerr(q, ENOTSUP, "encryption (LUKS, crypt_method 2) is not "
                "supported");
  if (crypt != 0)
    return qerr(q, ENOTSUP, "encryption (crypt_method %u) is not "
                "supported", crypt);
  return 0;
}

static int setup_cache(struct qcow *q)
{
  unsigned n = (unsigned)(L2_CACHE_BYTES / q->l2_bytes);
  if (n < L2_CACHE_MIN)
    n = L2_CACHE_MIN;
  if (n > L2_CACHE_MAX)
    n = L2_CACHE_MAX;
  q->cache = calloc(n, sizeof *q->cache);
  if (!q->cache)
    return qerr(q, ENOMEM, "out of memory");
  q->ncache = n;
  return 0;
}

static int parse_v1(struct qcow *q, struct format *f, const uint8_t *h,
                    struct hdr_info *hi)
{
  if (q->s->size < QCOW1_HDR_SIZE)
    return qerr(q, EINVAL, "truncated QCOW header (%llu bytes)",
                (unsigned long long)q->s->size);
  int r = check_crypt(q, be32(h + QCOW1_CRYPT));
  if (r < 0)
    return r;
  unsigned cb = h[QCOW1_CLUSTER_BITS], l2b = h[QCOW1_L2_BITS];
  if (cb < 9 || cb > 16)
    return qerr(q, EINVAL, "cluster_bits %u out of range (9 to 16)", cb);
  if (l2b < 6 || l2b > 13)
    return qerr(q, EINVAL, "l2_bits %u out of range (6 to 13)", l2b);
  q->cluster_bits = cb;
  q->cluster_size = 1ull << cb;
  q->l2_bits = l2b;
  q->l2_bytes = (size_t)8 << l2b;
  q->entry_size = 8;
  q->unit_bits = cb;
  f->size = be64(h + QCOW1_SIZE);
  if (f->size > MAX_VIRTUAL_SIZE)
    return qerr(q, EINVAL, "virtual size %llu is absurd",
                (unsigned long long)f->size);
  hi->backing_off = be64(h + QCOW1_BACKING_OFFSET);
  hi->backing_len = be32(h + QCOW1_BACKING_SIZE);
  unsigned shift = cb + l2b;
  uint64_t l1n = (f->size + (1ull << shift) - 1) >> shift;
  if (l1n > UINT32_MAX)
    return qerr(q, EINVAL, "L1 table too large");
  r = setup_cache(q);
  if (r < 0)
    return r;
  return load_l1(q, be64(h + QCOW1_L1_OFFSET), (uint32_t)l1n, "the image's",
                 &q->head);
}

static int parse_v2(struct qcow *q, struct format *f, uint8_t **hbuf,
                    size_t *hbuf_len, struct hdr_info *hi)
{
  const uint8_t *h = *hbuf;
  size_t min = q->version == 2 ? QCOW2_V2_HDR_SIZE : QCOW2_V3_HDR_SIZE;
  if (q->s->size < min)
    return qerr(q, EINVAL, "truncated QCOW2 version %u header (%llu bytes)",
                q->version, (unsigned long long)q->s->size);
  uint32_t cb = be32(h + QCOW2_CLUSTER_BITS);
  if (cb < 9 || cb > 21)
    return qerr(q, EINVAL, "cluster_bits %u out of range (9 to 21)", cb);
  q->cluster_bits = cb;
  q->cluster_size = 1ull << cb;
  /* the whole first cluster: header extensions and the backing name */
  size_t hlen = q->s->size < q->cluster_size ? (size_t)q->s->size
                                             : (size_t)q->cluster_size;
  if (hlen > QCOW2_V3_HDR_SIZE + 8) {
    uint8_t *p = realloc(*hbuf, hlen);
    if (!p)
      return qerr(q, ENOMEM, "out of memory");
    *hbuf = p;
    *hbuf_len = hlen;
    int r = pread_q(q, 0, hlen, p);
    if (r < 0)
      return r;
    h = p;
  }
  uint64_t incompat = 0;
  size_t hdr_len = QCOW2_V2_HDR_SIZE;
  if (q->version == 3) {
    incompat = be64(h + QCOW2_INCOMPAT);
    hdr_len = be32(h + QCOW2_HEADER_LENGTH);
    if (hdr_len < QCOW2_V3_HDR_SIZE || hdr_len > hlen)
      return qerr(q, EINVAL, "header_length %zu out of range (104 to %zu)",
                  hdr_len, hlen);
    uint32_t order = be32(h + QCOW2_REFCOUNT_ORDER);
    if (order > 6)
      return qerr(q, EINVAL, "refcount_order %u out of range (0 to 6)",
                  order);
  }
  hi->backing_off = be64(h + QCOW2_BACKING_OFFSET);
  hi->backing_len = be32(h + QCOW2_BACKING_SIZE);
  size_t ext_end = hlen;
  if (hi->backing_off && hi->backing_off < ext_end)
    ext_end = (size_t)hi->backing_off;
  int r = parse_extensions(q, h, hdr_len, ext_end, hi);
  if (r < 0)
    return r;
  r = check_crypt(q, be32(h + QCOW2_CRYPT));
  if (r < 0)
    return r;
  r = check_incompat(q, incompat, hi);
  if (r < 0)
    return r;
  unsigned ctype = hdr_len > QCOW2_COMPRESSION_TYPE
                       ? h[QCOW2_COMPRESSION_TYPE] : 0;
  bool cbit = incompat >> QCOW2_INCOMPAT_COMPRESSION & 1;
  if (cbit != (ctype != QCOW2_COMPRESSION_ZLIB))
    return qerr(q, EINVAL, "compression type %u does not agree with "
                "incompatible feature bit %d", ctype,
                QCOW2_INCOMPAT_COMPRESSION);
  if (ctype != QCOW2_COMPRESSION_ZLIB && ctype != QCOW2_COMPRESSION_ZSTD)
    return qerr(q, ENOTSUP, "compression type %u is not supported (zlib or "
                "zstd)", ctype);
  q->compression = (int)ctype;
  q->ext_l2 = incompat >> QCOW2_INCOMPAT_EXTL2 & 1;
  if (q->ext_l2 && cb < 14)
    return qerr(q, EINVAL, "extended L2 entries need clusters of 16 KiB or "
                "more (cluster_bits %u)", cb);
  q->entry_size = q->ext_l2 ? 16 : 8;
  q->l2_bits = cb - (q->ext_l2 ? 4 : 3);
  q->l2_bytes = (size_t)q->cluster_size;
  q->unit_bits = q->ext_l2 ? cb - 5 : cb;
  q->csize_shift = 62 - (cb - 8);
  q->csize_mask = (1ull << (cb - 8)) - 1;

  f->size = be64(h + QCOW2_SIZE);
  if (f->size > MAX_VIRTUAL_SIZE)
    return qerr(q, EINVAL, "virtual size %llu is absurd",
                (unsigned long long)f->size);
  unsigned shift = cb + q->l2_bits;
  uint64_t need = (f->size + (1ull << shift) - 1) >> shift;
  uint32_t l1n = be32(h + QCOW2_L1_SIZE);
  if (l1n < need)
    return qerr(q, EINVAL, "L1 table of %u entries is too small for the "
                "virtual size %llu (%llu entries)", l1n,
                (unsigned long long)f->size, (unsigned long long)need);
  r = setup_cache(q);
  if (r < 0)
    return r;
  r = load_l1(q, be64(h + QCOW2_L1_OFFSET), l1n, "the image's", &q->head);
  if (r < 0)
    return r;
  return load_snapshots(q, f, be32(h + QCOW2_NB_SNAPSHOTS),
                        be64(h + QCOW2_SNAPSHOTS_OFFSET));
}

int format_qcow_probe(struct stream *s, bool *is_qcow)
{
  uint8_t m[4];
  *is_qcow = false;
  if (s->size < 4)
    return 0;
  int r = format_pread(s, 0, 4, m);
  if (r < 0)
    return r;
  *is_qcow = be32(m) == QCOW_MAGIC;
  return 0;
}

static int open_backing(struct qcow *q, const uint8_t *h, size_t hlen,
                        const struct hdr_info *hi, unsigned depth)
{
  uint64_t off = hi->backing_off;
  uint32_t len = hi->backing_len;
  if (off == 0 || len == 0)
    return 0;
  uint64_t limit = q->version == 1 ? q->s->size : hlen;
  if (len > QCOW_MAX_BACKING_NAME || off > limit || len > limit - off)
    return qerr(q, EINVAL, "backing file name at offset %llu, %u bytes, is "
                "outside the %s", (unsigned long long)off, len,
                q->version == 1 ? "file" : "first cluster");
  char name[QCOW_MAX_BACKING_NAME + 1];
  int r = 0;
  if (q->version == 1)
    r = pread_q(q, off, len, name);
  else
    memcpy(name, h + off, len);
  if (r < 0)
    return r;
  name[len] = 0;
  if (strlen(name) != len)
    return qerr(q, EINVAL, "backing file name holds a NUL byte");
  if (depth == 0)
    return qerr(q, EINVAL, "backing file \"%s\": the backing chain is too "
                "deep (at most %d files)", name, FORMAT_MAX_BACKING_DEPTH);
  const char *type = NULL;
  if (hi->has_backing_fmt) {
    if (strcmp(hi->backing_fmt, "raw") == 0)
      type = "raw";
    else if (!strcmp(hi->backing_fmt, "qcow2") ||
             !strcmp(hi->backing_fmt, "qcow"))
      type = "qcow";
    else
      return qerr(q, ENOTSUP, "backing file \"%s\": format \"%s\" is not "
                  "supported (raw, qcow or qcow2)", name, hi->backing_fmt);
  }
  struct stream *bs;
  r = stream_open_relative(q->s, name, &bs);
  if (r < 0)
    return lbd_error_prefix(r, "qcow %s: backing file \"%s\"", q->s->name,
                            name);
  if (!type) {
    bool is_qcow;
    r = format_qcow_probe(bs, &is_qcow);
    if (r < 0) {
      stream_close(bs);
      return lbd_error_prefix(r, "qcow %s: backing file \"%s\"", q->s->name,
                              name);
    }
    type = is_qcow ? "qcow" : "raw";
  }
  /* its errors name it (not prefixed: a chain of 16 would not fit) */
  return format_open_stream(type, bs, depth - 1, &q->backing);
}

int format_qcow_open_stream(struct stream *s, unsigned depth,
                            struct format **out)
{
  *out = NULL;
  struct qcow *q = calloc(1, sizeof *q);
  struct format *f = q ? format_new(&qcow_ops, q, 0) : NULL;
  if (!f) {
    free(q);
    stream_close(s);
    return lbd_error(ENOMEM, "qcow: out of memory");
  }
  q->s = s;
  pthread_mutex_init(&q->lock, NULL);
  size_t hlen = QCOW2_V3_HDR_SIZE + 8;
  uint8_t *h = malloc(hlen);
  struct hdr_info hi;
  memset(&hi, 0, sizeof hi);
  int r = h ? pread_q(q, 0, hlen, h) : qerr(q, ENOMEM, "out of memory");
  if (r < 0)
    goto fail;
  if (s->size < 8 || be32(h) != QCOW_MAGIC) {
    r = qerr(q, EINVAL, "not a QCOW image (bad magic)");
    goto fail;
  }
  q->version = be32(h + 4);
  if (q->version == 1) {
    r = parse_v1(q, f, h, &hi);
  } else if (q->version == 2 || q->version == 3) {
    r = parse_v2(q, f, &h, &hlen, &hi);
  } else {
    r = qerr(q, ENOTSUP, "QCOW version %u is not supported (1, 2 or 3)",
             q->version);
  }
  if (r == 0)
    r = open_backing(q, h, hlen, &hi, depth);
  if (r < 0)
    goto fail;
  free(h);
  *out = f;
  return 0;
fail:
  free(h);
  format_close(f);
  return r;
}
