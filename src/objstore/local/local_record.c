/* Object records: the metadata of one object (head and clones) in LMDB. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objstore/local/local.h"
#include "util/error.h"

#define RECORD_FORMAT 1

void local_be64(uint64_t v, unsigned char out[8])
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    out[i] = (unsigned char)v;
}

uint64_t local_get_be64(const unsigned char in[8])
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | in[i];
  return v;
}

int64_t local_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void local_record_free(struct local_record *rec)
{
  for (size_t i = 0; i < rec->nclones; i++) {
    free(rec->clones[i].snaps);
    extent_set_free(&rec->clones[i].overlap);
  }
  free(rec->clones);
  memset(rec, 0, sizeof *rec);
}

size_t local_obj_key(const char *ns, const char *oid, char *buf, size_t size)
{
  size_t nl = strlen(ns), ol = strlen(oid);
  if (nl + 1 + ol > size)
    return 0;
  memcpy(buf, ns, nl);
  buf[nl] = '\0';
  memcpy(buf + nl + 1, oid, ol);
  return nl + 1 + ol;
}

/* A bounds-checked reader over an encoded record. */
struct reader {
  const unsigned char *p, *end;
  bool bad;
};

static uint64_t rd64(struct reader *r)
{
  uint64_t v = 0;
  if (r->end - r->p < 8) {
    r->bad = true;
    return 0;
  }
  memcpy(&v, r->p, 8);
  r->p += 8;
  return v;
}

static uint32_t rd32(struct reader *r)
{
  uint32_t v = 0;
  if (r->end - r->p < 4) {
    r->bad = true;
    return 0;
  }
  memcpy(&v, r->p, 4);
  r->p += 4;
  return v;
}

static int decode_clone(struct reader *r, struct local_clone *c)
{
  c->cloneid = rd64(r);
  c->file = rd64(r);
  c->size = rd64(r);
  uint32_t n = rd32(r);
  if (r->bad || (size_t)(r->end - r->p) < (size_t)n * 8)
    return -EIO;
  c->snaps = calloc(n ? n : 1, sizeof *c->snaps);
  if (!c->snaps)
    return -ENOMEM;
  c->nsnaps = n;
  for (uint32_t i = 0; i < n; i++)
    c->snaps[i] = rd64(r);
  n = rd32(r);
  if (r->bad || (size_t)(r->end - r->p) < (size_t)n * 16)
    return -EIO;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t off = rd64(r), len = rd64(r);
    if (extent_set_add(&c->overlap, off, len) < 0)
      return -ENOMEM;
  }
  return 0;
}

int local_record_decode(const void *data, size_t len, struct local_record *rec)
{
  struct reader r = {data, (const unsigned char *)data + len, false};
  memset(rec, 0, sizeof *rec);
  if (len < 2 || r.p[0] != RECORD_FORMAT)
    return lbd_error(EIO, "object record has unknown format %d",
                     len ? r.p[0] : -1);
  rec->head_exists = (r.p[1] & 1) != 0;
  rec->head_unsynced = (r.p[1] & 2) != 0;
  r.p += 2;
  rec->iid = rd64(&r);
  rec->version = rd64(&r);
  rec->mtime_ns = (int64_t)rd64(&r);
  rec->snap_seq = rd64(&r);
  rec->head_file = rd64(&r);
  uint32_t n = rd32(&r);
  if (r.bad || n > len / 32)
    return lbd_error(EIO, "object record is truncated");
  if (n == 0)
    return 0; /* most objects: no clone, no allocation */
  rec->clones = calloc(n, sizeof *rec->clones);
  if (!rec->clones)
    return lbd_error(ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    rec->nclones++;
    int e = decode_clone(&r, &rec->clones[i]);
    if (e < 0) {
      local_record_free(rec);
      return e == -ENOMEM ? lbd_error(ENOMEM, "out of memory")
                          : lbd_error(EIO, "object record is truncated");
    }
  }
  return 0;
}

struct writer {
  unsigned char *buf;
  size_t len, cap;
  bool oom;
};

static void wr(struct writer *w, const void *p, size_t n)
{
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 128;
    while (cap < w->len + n)
      cap *= 2;
    unsigned char *b = realloc(w->buf, cap);
    if (!b) {
      w->oom = true;
      return;
    }
    w->buf = b;
    w->cap = cap;
  }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}

static void wr64(struct writer *w, uint64_t v) { wr(w, &v, 8); }
static void wr32(struct writer *w, uint32_t v) { wr(w, &v, 4); }

int local_record_encode(const struct local_record *rec, void **out,
                        size_t *len)
{
  struct writer w = {0};
  unsigned char head[2] = {RECORD_FORMAT,
                           (unsigned char)(rec->head_exists |
                                           (rec->head_exists &&
                                            rec->head_unsynced) << 1)};
  wr(&w, head, 2);
  wr64(&w, rec->iid);
  wr64(&w, rec->version);
  wr64(&w, (uint64_t)rec->mtime_ns);
  wr64(&w, rec->snap_seq);
  wr64(&w, rec->head_file);
  wr32(&w, (uint32_t)rec->nclones);
  for (size_t i = 0; i < rec->nclones; i++) {
    const struct local_clone *c = &rec->clones[i];
    wr64(&w, c->cloneid);
    wr64(&w, c->file);
    wr64(&w, c->size);
    wr32(&w, (uint32_t)c->nsnaps);
    for (size_t j = 0; j < c->nsnaps; j++)
      wr64(&w, c->snaps[j]);
    wr32(&w, (uint32_t)c->overlap.n);
    for (size_t j = 0; j < c->overlap.n; j++) {
      wr64(&w, c->overlap.ext[j].off);
      wr64(&w, c->overlap.ext[j].len);
    }
  }
  if (w.oom) {
    free(w.buf);
    return lbd_error(ENOMEM, "out of memory");
  }
  *out = w.buf;
  *len = w.len;
  return 0;
}

int local_record_get(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const char *key, size_t klen, struct local_record *rec)
{
  MDB_val v;
  int r = kv_get(txn, bp->kv->dbi[LDB_OBJ], key, klen, &v);
  if (r < 0)
    return r;
  return local_record_decode(v.mv_data, v.mv_size, rec);
}

int local_record_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const char *key, size_t klen,
                     const struct local_record *rec)
{
  void *data;
  size_t len;
  int r = local_record_encode(rec, &data, &len);
  if (r < 0)
    return r;
  r = kv_put(txn, bp->kv->dbi[LDB_OBJ], key, klen, data, len);
  free(data);
  return r;
}

int local_cfg_get(MDB_txn *txn, struct objstore_backend_pool *bp,
                  const char *name, uint64_t *v)
{
  MDB_val val;
  int r = kv_get(txn, bp->kv->dbi[LDB_CFG], name, strlen(name), &val);
  if (r == -ENOENT) {
    *v = 0;
    return 0;
  }
  if (r < 0)
    return r;
  if (val.mv_size != sizeof *v)
    return lbd_error(EIO, "pool setting %s is damaged", name);
  memcpy(v, val.mv_data, sizeof *v);
  return 0;
}

int local_cfg_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                  const char *name, uint64_t v)
{
  return kv_put(txn, bp->kv->dbi[LDB_CFG], name, strlen(name), &v, sizeof v);
}

int local_cfg_next(MDB_txn *txn, struct objstore_backend_pool *bp,
                   const char *name, uint64_t *value)
{
  uint64_t v;
  int r = local_cfg_get(txn, bp, name, &v);
  if (r == 0 && (r = local_cfg_put(txn, bp, name, v + 1)) == 0)
    *value = v + 1;
  return r;
}
