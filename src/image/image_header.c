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

static void copy_text(char *dst, size_t size, const struct objstore_kv *kv)
{
  size_t n = kv->len < size - 1 ? kv->len : size - 1;
  memcpy(dst, kv->value, n);
  dst[n] = 0;
}

/* migration_role, _pool, _ns, _image, _name, _state, _state_desc,
 * _flatten. */
static int migration_field(struct image_migration *m,
                           const struct objstore_kv *kv)
{
  const char *k = kv->key + 10, *v = kv->value;
  if (strcmp(k, "role") == 0)
    m->role = strcmp(v, "source") == 0   ? IMAGE_MIGRATION_SOURCE
              : strcmp(v, "target") == 0 ? IMAGE_MIGRATION_TARGET
                                         : IMAGE_MIGRATION_NONE;
  else if (strcmp(k, "pool") == 0)
    m->peer_pool = strtoll(v, NULL, 10);
  else if (strcmp(k, "ns") == 0)
    copy_text(m->peer_ns, sizeof m->peer_ns, kv);
  else if (strcmp(k, "image") == 0)
    copy_text(m->peer_id, sizeof m->peer_id, kv);
  else if (strcmp(k, "name") == 0)
    copy_text(m->peer_name, sizeof m->peer_name, kv);
  else if (strcmp(k, "state") == 0)
    copy_text(m->state, sizeof m->state, kv);
  else if (strcmp(k, "state_desc") == 0)
    copy_text(m->state_desc, sizeof m->state_desc, kv);
  else if (strcmp(k, "flatten") == 0)
    m->flatten = strcmp(v, "1") == 0;
  else if (strcmp(k, "import") == 0)
    m->import_only = strcmp(v, "1") == 0;
  return 0;
}

/* parent_pool, parent_ns, parent_image, parent_snap, parent_overlap. */
static int parent_field(struct image_parent *p, const struct objstore_kv *kv)
{
  if (strncmp(kv->key, "parent_", 7) != 0)
    return 0;
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
  if (strcmp(kv->key, "thick_provision") == 0) {
    hdr->thick = strcmp(kv->value, "1") == 0;
    return 0;
  }
  if (strncmp(kv->key, "migration_", 10) == 0 &&
      strncmp(kv->key, "migration_snap_", 15) != 0)
    return migration_field(&hdr->migration, kv);
  return parent_field(&hdr->parent, kv); /* or keys of other layers */
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

static void set_text(struct objstore_write_op *op, const char *key,
                     const char *v)
{
  objstore_write_op_omap_set(op, key, v, strlen(v));
}

static const char *const migration_keys[] = {
    "migration_pool", "migration_ns", "migration_image", "migration_name",
    "migration_role", "migration_state",
    "migration_state_desc", "migration_flatten", "migration_import",
    "migration_source_spec"};

static void migration_steps(struct objstore_write_op *op,
                            const struct image_migration *m)
{
  if (m->role == IMAGE_MIGRATION_NONE) { /* (the peer's keys come first) */
    for (size_t i = m->keep_peer ? 4 : 0;
         i < sizeof migration_keys / sizeof *migration_keys; i++)
      objstore_write_op_omap_rm(op, migration_keys[i]);
    return;
  }
  char pool[24];
  snprintf(pool, sizeof pool, "%" PRId64, m->peer_pool);
  set_text(op, "migration_role",
           m->role == IMAGE_MIGRATION_SOURCE ? "source" : "target");
  set_text(op, "migration_pool", pool);
  set_text(op, "migration_ns", m->peer_ns);
  set_text(op, "migration_image", m->peer_id);
  set_text(op, "migration_name", m->peer_name);
  set_text(op, "migration_state", m->state);
  set_text(op, "migration_state_desc", m->state_desc);
  set_text(op, "migration_flatten", m->flatten ? "1" : "0");
  set_text(op, "migration_import", m->import_only ? "1" : "0");
}

/* Add to OP the removal of every migration_snap_<id> key of header OID
 * (which snapshot of the source each was made from: of no use once the
 * migration is over).  The caller's version guard covers the listing. */
static int rm_migration_snap_keys(struct objstore_pool *pool, const char *oid,
                                  struct objstore_write_op *op)
{
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = MIGRATION_SNAP_PREFIX;
  size_t plen = strlen(MIGRATION_SNAP_PREFIX);
  bool more = true;
  while (more) {
    struct objstore_kv *kvs;
    size_t n;
    int r = objstore_omap_get(pool, oid, after, 64, &kvs, &n, &more);
    if (r < 0)
      return r;
    size_t i = 0;
    for (; i < n && strncmp(kvs[i].key, MIGRATION_SNAP_PREFIX, plen) == 0; i++)
      objstore_write_op_omap_rm(op, kvs[i].key);
    more = more && i == n; /* (past the prefix: done) */
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  return 0;
}

int image_header_set_migration(struct objstore_pool *pool, const char *id,
                               const struct image_header *hdr)
{
  char oid[64];
  header_oid(id, oid, sizeof oid);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr->version);
  migration_steps(op, &hdr->migration);
  int r = hdr->migration.role == IMAGE_MIGRATION_NONE
              ? rm_migration_snap_keys(pool, oid, op)
              : 0;
  if (r == 0)
    r = objstore_write_op_operate(pool, oid, op, NULL, OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
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
  if (hdr->migration.role != IMAGE_MIGRATION_NONE)
    migration_steps(op, &hdr->migration);
  if (hdr->thick)
    objstore_write_op_omap_set(op, "thick_provision", "1", 1);
  if (hdr->migration.import_only)
    set_u64(op, "parent_overlap", hdr->parent.overlap);
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

static const char *const parent_keys[] = {"parent_pool", "parent_ns",
                                          "parent_image", "parent_snap",
                                          "parent_overlap"};

static void parent_steps(struct objstore_write_op *op,
                         const struct image_parent *parent)
{
  set_u64(op, "parent_pool", (uint64_t)parent->pool_id);
  set_text(op, "parent_ns", parent->ns);
  set_text(op, "parent_image", parent->image_id);
  set_u64(op, "parent_snap", parent->snap_id);
}

/* A write op guarded by the header's version, or NULL (error set). */
static struct objstore_write_op *guarded_op(const struct image_header *hdr)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op) {
    lbd_error(ENOMEM, "out of memory");
    return NULL;
  }
  objstore_write_op_assert_exists(op);
  objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr->version);
  return op;
}

static int run_op(struct objstore_pool *pool, const char *id,
                  struct objstore_write_op *op)
{
  char oid[64];
  header_oid(id, oid, sizeof oid);
  int r = objstore_write_op_operate(pool, oid, op, NULL, OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}

int image_header_set_overlap(struct objstore_pool *pool, const char *id,
                             const struct image_header *hdr, uint64_t overlap)
{
  struct objstore_write_op *op = guarded_op(hdr);
  if (!op)
    return -ENOMEM;
  set_u64(op, "parent_overlap", overlap);
  return run_op(pool, id, op);
}

int image_header_drop_parent(struct objstore_pool *pool, const char *id,
                             const struct image_header *hdr)
{
  struct objstore_write_op *op = guarded_op(hdr);
  if (!op)
    return -ENOMEM;
  for (size_t i = 0; i < sizeof parent_keys / sizeof *parent_keys; i++)
    objstore_write_op_omap_rm(op, parent_keys[i]);
  return run_op(pool, id, op);
}

int image_header_commit_parent(struct objstore_pool *pool, const char *id,
                               const struct image_header *hdr,
                               const struct image_parent *parent,
                               const uint64_t *snap_ids,
                               const uint64_t *overlaps, size_t nsnaps)
{
  struct objstore_write_op *op = guarded_op(hdr);
  if (!op)
    return -ENOMEM;
  parent_steps(op, parent);
  set_u64(op, "parent_overlap", parent->overlap);
  for (size_t i = 0; i < nsnaps; i++) {
    char key[64];
    snprintf(key, sizeof key, IMAGE_SNAP_OVERLAP_PREFIX "%016" PRIx64,
             snap_ids[i]);
    set_u64(op, key, overlaps[i]);
  }
  struct image_migration m = hdr->migration;
  snprintf(m.state, sizeof m.state, "committing");
  m.state_desc[0] = 0;
  migration_steps(op, &m);
  return run_op(pool, id, op);
}

int image_header_set_parent(struct objstore_pool *pool, const char *id,
                            const struct image_header *hdr,
                            const struct image_parent *parent)
{
  struct objstore_write_op *op = guarded_op(hdr);
  if (!op)
    return -ENOMEM;
  parent_steps(op, parent);
  return run_op(pool, id, op);
}
