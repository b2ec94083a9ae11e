/* Image headers: the layout and state of one image, as omap keys with
 * decimal values on lbd_header.<id>. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

#define HEADER_FORMAT 1

static void header_oid(const char *id, char *buf, size_t size)
{
  snprintf(buf, size, IMAGE_HEADER_PREFIX "%s", id);
}

static int parse_u64(const struct objstore_kv *kv, uint64_t *v)
{
  char *end;
  errno = 0;
  unsigned long long x = strtoull(kv->value, &end, 10);
  if (errno || end == kv->value || *end)
    return lbd_error(EIO, "image header field %s is damaged", kv->key);
  *v = x;
  return 0;
}

/* parent_pool, parent_ns, parent_image, parent_snap, parent_overlap. */
static int parent_field(struct image_parent *p, const struct objstore_kv *kv)
{
  if (strncmp(kv->key, "parent_", 7) != 0)
    return 0; /* keys of later layers (snapshots, metadata) */
  const char *k = kv->key + 7, *v = kv->value;
  uint64_t x = 0;
  int r = 0;
  if (strcmp(k, "ns") == 0) {
    if (kv->len > OBJSTORE_MAX_NS)
      return lbd_error(EIO, "image header field %s is damaged", kv->key);
    memcpy(p->ns, v, kv->len);
    p->ns[kv->len] = 0;
  } else if (strcmp(k, "image") == 0) {
    if (kv->len != IMAGE_ID_LEN)
      return lbd_error(EIO, "image header field %s is damaged", kv->key);
    memcpy(p->image_id, v, kv->len + 1);
  } else if (strcmp(k, "pool") == 0 || strcmp(k, "snap") == 0 ||
             strcmp(k, "overlap") == 0) {
    if ((r = parse_u64(kv, &x)) < 0)
      return r;
    if (k[0] == 'p')
      p->pool_id = (int64_t)x;
    else if (k[0] == 's')
      p->snap_id = x;
    else
      p->overlap = x;
  }
  return 0;
}

static int header_field(struct image_header *hdr, const struct objstore_kv *kv,
                        unsigned *seen)
{
  static const char *const names[] = {"format",   "size",        "object_size",
                                      "stripe_unit", "stripe_count",
                                      "features", "data_pool",   "create_timestamp",
                                      "snap_seq"};
  uint64_t v = 0;
  for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
    if (strcmp(kv->key, names[i]) != 0)
      continue;
    if (i == 6) { /* data_pool may be -1 */
      hdr->data_pool_id = strtoll(kv->value, NULL, 10);
      *seen |= 1u << i;
      return 0;
    }
    int r = parse_u64(kv, &v);
    if (r < 0)
      return r;
    *seen |= 1u << i;
    switch (i) {
    case 0:
      if (v != HEADER_FORMAT)
        return lbd_error(EIO, "image header has format %" PRIu64 "; this lbd "
                         "reads format %d", v, HEADER_FORMAT);
      break;
    case 1: hdr->size = v; break;
    case 2: hdr->layout.object_size = v; break;
    case 3: hdr->layout.stripe_unit = v; break;
    case 4: hdr->layout.stripe_count = v; break;
    case 5: hdr->features = v; break;
    case 7: hdr->create_time = (int64_t)v; break;
    case 8: hdr->snap_seq = v; break;
    }
    return 0;
  }
  return parent_field(&hdr->parent, kv);
}

int image_header_read(struct objstore_pool *pool, const char *id,
                      struct image_header *hdr)
{
  char oid[64];
  header_oid(id, oid, sizeof oid);
  memset(hdr, 0, sizeof *hdr);
  hdr->parent.pool_id = -1;
  struct objstore_stat st;
  int r = objstore_stat(pool, oid, OBJSTORE_SNAP_HEAD, &st);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "image header %s is missing", oid);
  if (r < 0)
    return r;
  hdr->version = st.version;
  unsigned seen = 0;
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = "";
  bool more = true;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    if ((r = objstore_omap_get(pool, oid, after, 256, &kvs, &n, &more)) < 0)
      return r;
    for (size_t i = 0; r == 0 && i < n; i++)
      r = header_field(hdr, &kvs[i], &seen);
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  if (r == 0 && (seen & 0x1ff) != 0x1ff)
    r = lbd_error(EIO, "image header %s is incomplete", oid);
  if (r == 0)
    r = striping_check(&hdr->layout);
  if (r == 0 && hdr->parent.pool_id >= 0 && !hdr->parent.image_id[0])
    r = lbd_error(EIO, "image header %s names a parent pool but no parent "
                  "image", oid);
  return r;
}

static void set_u64(struct objstore_write_op *op, const char *key, uint64_t v)
{
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%" PRIu64, v);
  objstore_write_op_omap_set(op, key, buf, (size_t)n);
}

int image_header_create(struct objstore_pool *pool, const char *id,
                        const struct image_header *hdr)
{
  char oid[64], pool_buf[24];
  header_oid(id, oid, sizeof oid);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_create(op, true);
  set_u64(op, "format", HEADER_FORMAT);
  set_u64(op, "size", hdr->size);
  set_u64(op, "object_size", hdr->layout.object_size);
  set_u64(op, "stripe_unit", hdr->layout.stripe_unit);
  set_u64(op, "stripe_count", hdr->layout.stripe_count);
  set_u64(op, "features", hdr->features);
  int n = snprintf(pool_buf, sizeof pool_buf, "%" PRId64, hdr->data_pool_id);
  objstore_write_op_omap_set(op, "data_pool", pool_buf, (size_t)n);
  set_u64(op, "create_timestamp", (uint64_t)hdr->create_time);
  set_u64(op, "snap_seq", hdr->snap_seq);
  if (hdr->features & LBD_FEATURE_OBJECT_MAP)
    objstore_write_op_omap_set(op, "object_map_state", "clean", 5);
  if (hdr->parent.pool_id >= 0) {
    set_u64(op, "parent_pool", (uint64_t)hdr->parent.pool_id);
    objstore_write_op_omap_set(op, "parent_ns", hdr->parent.ns,
                               strlen(hdr->parent.ns));
    objstore_write_op_omap_set(op, "parent_image", hdr->parent.image_id,
                               strlen(hdr->parent.image_id));
    set_u64(op, "parent_snap", hdr->parent.snap_id);
    set_u64(op, "parent_overlap", hdr->parent.overlap);
  }
  int r = objstore_write_op_operate(pool, oid, op, NULL, OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}

int image_header_set_size(struct objstore_pool *pool, const char *id,
                          const struct image_header *hdr, uint64_t size)
{
  char oid[64];
  header_oid(id, oid, sizeof oid);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr->version);
  set_u64(op, "size", size);
  int r = objstore_write_op_operate(pool, oid, op, NULL, OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}

int image_header_set_overlap(struct objstore_pool *pool, const char *id,
                             const struct image_header *hdr, uint64_t overlap)
{
  char oid[64];
  header_oid(id, oid, sizeof oid);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr->version);
  if (overlap) {
    set_u64(op, "parent_overlap", overlap);
  } else {
    static const char *const keys[] = {"parent_pool", "parent_ns",
                                       "parent_image", "parent_snap",
                                       "parent_overlap"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
      objstore_write_op_omap_rm(op, keys[i]);
  }
  int r = objstore_write_op_operate(pool, oid, op, NULL, OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}
