/* Image snapshots.  The header names them (snapshot_<id> omap keys: size,
 * time, protected flag and name); the object store keeps their data, as
 * self-managed snapshots of the data pool: every data write carries the
 * image's snap context, so the first write after a snapshot clones. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"
#include "util/error.h"

#define SNAP_PREFIX "snapshot_"
#define OVERLAP_PREFIX IMAGE_SNAP_OVERLAP_PREFIX
#define RETRIES 100

static int snap_parse(const struct objstore_kv *kv, struct lbd_snap_info *s)
{
  char *end;
  memset(s, 0, sizeof *s);
  s->id = strtoull(kv->key + strlen(SNAP_PREFIX), &end, 16);
  int prot = 0, pos = -1;
  if (*end || sscanf(kv->value, "%" SCNu64 " %" SCNd64 " %d%n", &s->size,
                     &s->timestamp, &prot, &pos) != 3 ||
      pos < 0 || ((char *)kv->value)[pos] != ' ')
    return lbd_error(EIO, "image header entry %s is damaged", kv->key);
  s->protected_ = prot != 0;
  snprintf(s->name, sizeof s->name, "%s", (char *)kv->value + pos + 1);
  return 0;
}

int image_snaps_read(struct objstore_pool *pool, const char *header_oid,
                     struct lbd_snap_info **snaps, size_t *count)
{
  *snaps = NULL;
  *count = 0;
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = SNAP_PREFIX;
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    if ((r = objstore_omap_get(pool, header_oid, after, 256, &kvs, &n,
                               &more)) < 0)
      break;
    struct lbd_snap_info *p = realloc(*snaps, (*count + n + 1) * sizeof *p);
    if (!p) {
      objstore_kv_free(kvs, n);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    *snaps = p;
    for (size_t i = 0; i < n && r == 0; i++) {
      if (strncmp(kvs[i].key, SNAP_PREFIX, strlen(SNAP_PREFIX)) != 0) {
        more = false;
        break;
      }
      if ((r = snap_parse(&kvs[i], &p[*count])) == 0)
        (*count)++;
      snprintf(after, sizeof after, "%s", kvs[i].key);
    }
    objstore_kv_free(kvs, n);
  }
  if (r < 0) {
    free(*snaps);
    *snaps = NULL;
    *count = 0;
  }
  return r;
}

void lbd_snap_list_free(struct lbd_snap_info *snaps, size_t count)
{
  (void)count;
  free(snaps);
}

int image_snapc_refresh(struct lbd_image *img)
{
  struct lbd_snap_info *snaps;
  size_t n;
  int r = image_snaps_read(img->io->pool, img->header_oid, &snaps, &n);
  if (r < 0)
    return r;
  uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
  uint64_t *overlaps = malloc((n ? n : 1) * sizeof *overlaps);
  if (!ids || !overlaps) {
    free(ids);
    free(overlaps);
    free(snaps);
    return lbd_error(ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n && r == 0; i++) { /* newest first */
    ids[i] = snaps[n - 1 - i].id;
    overlaps[i] = 0;
    if (image_backing_linked(&img->hdr) &&
        (r = image_snap_overlap(img, ids[i], &overlaps[i])) == -ENOENT) {
      overlaps[i] = img->hdr.parent.overlap; /* none recorded */
      r = 0;
    }
  }
  free(snaps);
  if (r < 0) {
    free(ids);
    free(overlaps);
    return r;
  }
  free(img->snap_ids);
  free(img->snap_overlaps);
  img->snap_ids = ids;
  img->snap_overlaps = overlaps;
  img->snapc.seq = img->hdr.snap_seq;
  img->snapc.snaps = ids;
  img->snapc.nsnaps = n;
  return 0;
}

int image_snap_overlap(struct lbd_image *img, uint64_t snap_id,
                       uint64_t *overlap)
{
  char key[64];
  snprintf(key, sizeof key, OVERLAP_PREFIX "%016" PRIx64, snap_id);
  const char *keys[] = {key};
  struct objstore_kv *kvs;
  size_t n;
  int r = objstore_omap_get_keys(img->io->pool, img->header_oid, keys, 1, &kvs,
                                 &n);
  if (r < 0)
    return r;
  if (n)
    *overlap = strtoull(kvs[0].value, NULL, 10);
  objstore_kv_free(kvs, n);
  return n ? 0 : -ENOENT;
}

uint64_t image_snap_overlap_max(const struct lbd_image *img)
{
  uint64_t max = 0;
  for (size_t i = 0; i < img->snapc.nsnaps; i++)
    if (img->snap_overlaps[i] > max)
      max = img->snap_overlaps[i];
  return max;
}

const struct objstore_snapc *image_snapc(const struct lbd_image *img)
{
  return img->snapc.seq ? &img->snapc : NULL;
}

int image_snap_lookup(struct objstore_pool *pool, const char *header_oid,
                      const char *name, struct lbd_snap_info *info)
{
  struct lbd_snap_info *snaps;
  size_t n;
  int r = image_snaps_read(pool, header_oid, &snaps, &n);
  if (r < 0)
    return r;
  r = -ENOENT;
  for (size_t i = 0; i < n; i++)
    if (strcmp(snaps[i].name, name) == 0) {
      *info = snaps[i];
      r = 0;
    }
  free(snaps);
  return r;
}

int lbd_snap_list(lbd_image_t *img, struct lbd_snap_info **snaps,
                  size_t *count)
{
  lbd_error_clear();
  int r = image_snaps_read(img->io->pool, img->header_oid, snaps, count);
  return r < 0 ? lbd_error_prefix(r, "listing snapshots of %s", img->name)
               : 0;
}

static int snap_writable(struct lbd_image *img, const char *name)
{
  int r = image_check_name("snapshot name", name);
  if (r == 0 && img->read_only)
    r = lbd_error(EROFS, "image %s is open read-only", img->name);
  if (r == 0)
    r = image_acquire_lock(img);
  return r;
}

/* Set or remove (VALUE NULL) header key KEY, with snap_seq SEQ if not 0,
 * guarded by the header's version; re-reads and retries on a race. */
static int header_snap_update(struct lbd_image *img, const char *key,
                              const char *value, uint64_t seq,
                              const char *must_be_absent)
{
  for (int i = 0; i < RETRIES; i++) {
    struct image_header hdr;
    int r = image_header_read(img->io->pool, img->id, &hdr);
    if (r < 0)
      return r;
    if (must_be_absent) {
      struct lbd_snap_info old;
      if ((r = image_snap_lookup(img->io->pool, img->header_oid,
                                 must_be_absent, &old)) == 0)
        return lbd_error(EEXIST, "image %s already has a snapshot %s",
                         img->name, must_be_absent);
      if (r != -ENOENT)
        return r;
    }
    struct objstore_write_op *op = objstore_write_op_new();
    if (!op)
      return lbd_error(ENOMEM, "out of memory");
    objstore_write_op_assert_exists(op);
    objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr.version);
    char okey[64], oval[24];
    snprintf(okey, sizeof okey, OVERLAP_PREFIX "%s", key + strlen(SNAP_PREFIX));
    if (value) {
      objstore_write_op_omap_set(op, key, value, strlen(value));
      if (seq && image_backing_linked(&hdr)) { /* a clone's new snapshot */
        int n = snprintf(oval, sizeof oval, "%" PRIu64, hdr.parent.overlap);
        objstore_write_op_omap_set(op, okey, oval, (size_t)n);
      }
    } else {
      objstore_write_op_omap_rm(op, key);
      objstore_write_op_omap_rm(op, okey);
    }
    if (seq) {
      char buf[24];
      int n = snprintf(buf, sizeof buf, "%" PRIu64, seq);
      objstore_write_op_omap_set(op, "snap_seq", buf, (size_t)n);
    }
    r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                  OBJSTORE_OP_FUA);
    objstore_write_op_free(op);
    if (r != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the header of image %s keeps changing", img->name);
}

/* Take in the header's snapshots: no data op may straddle the change. */
static int snap_reload(struct lbd_image *img)
{
  struct image_header hdr;
  int r = image_header_read(img->io->pool, img->id, &hdr);
  if (r < 0)
    return r;
  pthread_mutex_lock(&img->mu);
  img->hdr = hdr;
  pthread_mutex_unlock(&img->mu);
  return image_snapc_refresh(img);
}

/* The snapshot limit (0: none). */
static int snap_limit_get(struct lbd_image *img, uint64_t *limit)
{
  const char *keys[] = {"snap_limit"};
  struct objstore_kv *kvs;
  size_t n;
  *limit = 0;
  int r = objstore_omap_get_keys(img->io->pool, img->header_oid, keys, 1, &kvs,
                                 &n);
  if (r < 0)
    return r;
  if (n)
    *limit = strtoull(kvs[0].value, NULL, 10);
  objstore_kv_free(kvs, n);
  return 0;
}

int lbd_snap_limit_set(lbd_image_t *img, uint64_t limit)
{
  lbd_error_clear();
  int r = img->read_only ? lbd_error(EROFS, "image %s is open read-only",
                                     img->name)
                         : image_acquire_lock(img);
  struct objstore_write_op *op = r == 0 ? objstore_write_op_new() : NULL;
  if (r == 0 && !op)
    r = lbd_error(ENOMEM, "out of memory");
  if (r == 0) {
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRIu64, limit);
    objstore_write_op_assert_exists(op);
    if (limit)
      objstore_write_op_omap_set(op, "snap_limit", buf, (size_t)n);
    else
      objstore_write_op_omap_rm(op, "snap_limit");
    r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                  OBJSTORE_OP_FUA);
  }
  objstore_write_op_free(op);
  return r < 0 ? lbd_error_prefix(r, "setting the snapshot limit of %s",
                                  img->name)
               : 0;
}

int lbd_snap_create(lbd_image_t *img, const char *name)
{
  lbd_error_clear();
  int r = snap_writable(img, name);
  uint64_t limit;
  if (r == 0 && (r = snap_limit_get(img, &limit)) == 0 && limit) {
    struct lbd_snap_info *snaps;
    size_t n;
    if ((r = image_snaps_read(img->io->pool, img->header_oid, &snaps, &n)) == 0)
      free(snaps);
    if (r == 0 && n >= limit)
      r = lbd_error(EDQUOT, "image %s has %zu snapshot(s), its limit: remove "
                    "one or raise the limit ('lbd snap limit set')",
                    img->name, n);
  }
  if (r < 0)
    return lbd_error_prefix(r, "creating snapshot %s@%s", img->name,
                            name ? name : "");
  uint64_t id;
  pthread_rwlock_wrlock(&img->io_lock);
  if ((r = objstore_snap_create(img->data, &id)) == 0) {
    char key[64], value[IMAGE_MAX_NAME + 64];
    snprintf(key, sizeof key, SNAP_PREFIX "%016" PRIx64, id);
    snprintf(value, sizeof value, "%" PRIu64 " %" PRId64 " 0 %s",
             img->hdr.size, (int64_t)time(NULL), name);
    r = header_snap_update(img, key, value, id, name);
    if (r < 0) /* give the unused id back */
      objstore_snap_remove(img->data, id);
    else
      r = snap_reload(img);
  }
  pthread_rwlock_unlock(&img->io_lock);
  return r < 0 ? lbd_error_prefix(r, "creating snapshot %s@%s", img->name,
                                  name)
               : 0;
}

int lbd_snap_remove(lbd_image_t *img, const char *name)
{
  lbd_error_clear();
  struct lbd_snap_info info;
  int r = snap_writable(img, name);
  if (r == 0 && (r = image_snap_lookup(img->io->pool, img->header_oid, name,
                                       &info)) == -ENOENT)
    r = lbd_error(ENOENT, "image %s has no snapshot %s", img->name, name);
  if (r == 0 && info.protected_)
    r = lbd_error(EBUSY, "snapshot %s@%s is protected: unprotect it first",
                  img->name, name);
  if (r < 0)
    return lbd_error_prefix(r, "removing snapshot %s@%s", img->name,
                            name ? name : "");
  char key[64];
  snprintf(key, sizeof key, SNAP_PREFIX "%016" PRIx64, info.id);
  pthread_rwlock_wrlock(&img->io_lock);
  /* Header first: a crash before the release leaves its clones to a later
   * pool check, never a named snapshot without its data. */
  r = header_snap_update(img, key, NULL, 0, NULL);
  if (r == 0)
    r = snap_reload(img);
  pthread_rwlock_unlock(&img->io_lock);
  if (r == 0)
    r = objstore_snap_remove(img->data, info.id);
  return r < 0 ? lbd_error_prefix(r, "removing snapshot %s@%s", img->name,
                                  name)
               : 0;
}

/* Rewrite snapshot NAME's header entry with NEW_NAME (or the same name) and
 * PROTECTED_ (-1: unchanged), guarded by the header's version. */
static int snap_rewrite(lbd_image_t *img, const char *what, const char *name,
                        const char *new_name, int protected_)
{
  lbd_error_clear();
  int r = snap_writable(img, name);
  if (r == 0 && new_name)
    r = image_check_name("new snapshot name", new_name);
  for (int i = 0; r == 0; i++) {
    struct image_header hdr;
    struct lbd_snap_info info, other;
    if (i == RETRIES) {
      r = lbd_error(EAGAIN, "the header of image %s keeps changing",
                    img->name);
      break;
    }
    if ((r = image_header_read(img->io->pool, img->id, &hdr)) < 0)
      break;
    r = image_snap_lookup(img->io->pool, img->header_oid, name, &info);
    if (r == -ENOENT)
      r = lbd_error(ENOENT, "image %s has no snapshot %s", img->name, name);
    if (r == 0 && new_name && strcmp(new_name, name) != 0 &&
        image_snap_lookup(img->io->pool, img->header_oid, new_name,
                          &other) == 0)
      r = lbd_error(EEXIST, "image %s already has a snapshot %s", img->name,
                    new_name);
    if (r < 0)
      break;
    lbd_error_clear();
    char key[64], value[IMAGE_MAX_NAME + 64];
    snprintf(key, sizeof key, SNAP_PREFIX "%016" PRIx64, info.id);
    snprintf(value, sizeof value, "%" PRIu64 " %" PRId64 " %d %s", info.size,
             info.timestamp,
             protected_ < 0 ? (int)info.protected_ : protected_,
             new_name ? new_name : info.name);
    struct objstore_write_op *op = objstore_write_op_new();
    if (!op) {
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    objstore_write_op_assert_exists(op);
    objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr.version);
    objstore_write_op_omap_set(op, key, value, strlen(value));
    r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                  OBJSTORE_OP_FUA);
    objstore_write_op_free(op);
    if (r != -ECANCELED)
      break;
    r = 0; /* the header changed meanwhile: look again */
  }
  return r < 0 ? lbd_error_prefix(r, "%s snapshot %s@%s", what, img->name,
                                  name ? name : "")
               : 0;
}

int lbd_snap_rename(lbd_image_t *img, const char *name, const char *new_name)
{
  return snap_rewrite(img, "renaming", name, new_name, -1);
}

int lbd_snap_protect(lbd_image_t *img, const char *name)
{
  return snap_rewrite(img, "protecting", name, NULL, 1);
}

int lbd_snap_unprotect(lbd_image_t *img, const char *name)
{
  lbd_error_clear();
  struct lbd_snap_info info;
  char **children = NULL;
  size_t n = 0;
  int r = image_check_name("snapshot name", name);
  if (r == 0 && (r = image_snap_lookup(img->io->pool, img->header_oid, name,
                                       &info)) == -ENOENT)
    r = lbd_error(ENOENT, "image %s has no snapshot %s", img->name, name);
  if (r == 0)
    r = image_children_list(img, info.id, &children, &n);
  if (r == 0 && n)
    r = lbd_error(EBUSY, "snapshot %s@%s has %zu clone(s) (%s%s): flatten or "
                  "remove them first", img->name, name, n, children[0],
                  n > 1 ? ", ..." : "");
  lbd_names_free(children, n);
  if (r < 0)
    return lbd_error_prefix(r, "unprotecting snapshot %s@%s", img->name,
                            name ? name : "");
  return snap_rewrite(img, "unprotecting", name, NULL, 0);
}

int lbd_snap_rollback(lbd_image_t *img, const char *name,
                      lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  struct lbd_snap_info info;
  int r = snap_writable(img, name);
  if (r == 0 && (r = image_snap_lookup(img->io->pool, img->header_oid, name,
                                       &info)) == -ENOENT)
    r = lbd_error(ENOENT, "image %s has no snapshot %s", img->name, name);
  /* The size first: shrinking drops what the snapshot lacks (its snap
   * context keeps every snapshot's data); growing makes room. */
  if (r == 0 && info.size != img->hdr.size)
    r = lbd_resize(img, info.size);
  void *buf = r == 0 ? malloc(img->hdr.layout.object_size) : NULL;
  if (r == 0 && !buf)
    r = lbd_error(ENOMEM, "out of memory");
  uint64_t count = striping_object_count(&img->hdr.layout, info.size);
  if (r == 0)
    pthread_rwlock_rdlock(&img->io_lock);
  for (uint64_t i = 0; r == 0 && i < count; i++) {
    r = image_rollback_object(img, i, info.id, buf);
    if (r == 0 && progress && progress(i + 1, count, arg))
      r = lbd_error(ECANCELED, "stopped");
  }
  if (buf)
    pthread_rwlock_unlock(&img->io_lock);
  free(buf);
  return r < 0 ? lbd_error_prefix(r, "rolling back image %s to snapshot %s",
                                  img->name, name ? name : "")
               : 0;
}

int image_snap_import(struct objstore_pool *pool, const char *id,
                      struct objstore_pool *data,
                      const struct lbd_snap_info *snap)
{
  char oid[64];
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", id);
  struct lbd_snap_info have;
  int r = image_snap_lookup(pool, oid, snap->name, &have);
  if (r != -ENOENT)
    return r; /* there already (a resumed prepare), or an error */
  lbd_error_clear();
  uint64_t sid;
  if ((r = objstore_snap_create(data, &sid)) < 0)
    return r;
  char key[64], okey[64], mkey[64], value[IMAGE_MAX_NAME + 64], num[24],
      src[24], seq[24];
  snprintf(key, sizeof key, SNAP_PREFIX "%016" PRIx64, sid);
  snprintf(okey, sizeof okey, OVERLAP_PREFIX "%016" PRIx64, sid);
  snprintf(mkey, sizeof mkey, MIGRATION_SNAP_PREFIX "%016" PRIx64, sid);
  snprintf(value, sizeof value, "%" PRIu64 " %" PRId64 " %d %s", snap->size,
           snap->timestamp, (int)snap->protected_, snap->name);
  snprintf(num, sizeof num, "%" PRIu64, snap->size);
  snprintf(src, sizeof src, "%" PRIu64, snap->id);
  snprintf(seq, sizeof seq, "%" PRIu64, sid);
  for (int i = 0; i < RETRIES; i++) {
    struct image_header hdr;
    if ((r = image_header_read(pool, id, &hdr)) < 0)
      break;
    struct objstore_write_op *op = objstore_write_op_new();
    if (!op) {
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    objstore_write_op_assert_exists(op);
    objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, hdr.version);
    objstore_write_op_omap_set(op, key, value, strlen(value));
    objstore_write_op_omap_set(op, okey, num, strlen(num));
    objstore_write_op_omap_set(op, mkey, src, strlen(src));
    objstore_write_op_omap_set(op, "snap_seq", seq, strlen(seq));
    r = objstore_write_op_operate(pool, oid, op, NULL, OBJSTORE_OP_FUA);
    objstore_write_op_free(op);
    if (r != -ECANCELED)
      break;
  }
  if (r < 0)
    objstore_snap_remove(data, sid);
  return r;
}

int image_migration_snaps(struct lbd_image *img, struct image_snap_link **links,
                          size_t *count)
{
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = MIGRATION_SNAP_PREFIX;
  size_t plen = strlen(MIGRATION_SNAP_PREFIX);
  bool more = true;
  int r = 0;
  *links = NULL;
  *count = 0;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    if ((r = objstore_omap_get(img->io->pool, img->header_oid, after, 64, &kvs,
                               &n, &more)) < 0)
      break;
    for (size_t i = 0; r == 0 && i < n; i++) {
      if (strncmp(kvs[i].key, MIGRATION_SNAP_PREFIX, plen) != 0) {
        more = false;
        break;
      }
      snprintf(after, sizeof after, "%s", kvs[i].key);
      struct image_snap_link *p = realloc(*links, (*count + 1) * sizeof *p);
      if (!p) {
        r = lbd_error(ENOMEM, "out of memory");
        break;
      }
      *links = p;
      p[(*count)++] = (struct image_snap_link){
          strtoull(kvs[i].key + plen, NULL, 16),
          strtoull(kvs[i].value, NULL, 10)};
    }
    objstore_kv_free(kvs, n);
  }
  if (r < 0) {
    free(*links);
    *links = NULL;
    *count = 0;
  }
  return r;
}
