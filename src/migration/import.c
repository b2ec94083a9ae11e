/* Import-only migration (the reference doc's "Prepare Import-Only
 * Migration"): the target's backing is a source described by a source-spec
 * (JSON) — a snapshot of an lbd image ("native"), or a raw or QCOW file
 * behind a stream (file, http, s3) — opened read-only; the source is never
 * changed.  The spec is kept in the target's header
 * (migration_source_spec); every open of the target opens the source again
 * through the opener registered with the image layer below. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "image/backing.h"
#include "image/image.h"
#include "source/format.h"
#include "util/error.h"
#include "util/random.h"

#define SPEC_KEY "migration_source_spec"

/* ---- sources: a native snapshot, or a format ---------------------------- */

struct native_snap {
  uint64_t id;
  lbd_image_t *img; /* opened on first use */
};

struct import_source {
  struct format *fmt;        /* raw, qcow */
  lbd_ioctx_t *io;           /* native: the image's namespace */
  char image_id[IMAGE_ID_LEN + 1];
  lbd_image_t *head;         /* native: at the spec's snapshot */
  struct lbd_snap_info *snaps; /* native: the older snapshots */
  struct native_snap *open;
  size_t nsnaps;
  pthread_mutex_t mu;
};

static void source_free(struct import_source *s)
{
  if (!s)
    return;
  format_close(s->fmt);
  for (size_t i = 0; i < s->nsnaps; i++)
    lbd_close(s->open[i].img);
  lbd_close(s->head);
  lbd_ioctx_destroy(s->io);
  free(s->snaps);
  free(s->open);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

static const char *json_text(const json_t *o, const char *key)
{
  const json_t *v = json_object_get(o, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* An id given as a JSON number or as a string of digits: 0, or EINVAL
 * naming FIELD; 1 if absent. */
static int json_id(const json_t *o, const char *field, uint64_t *v)
{
  const json_t *j = json_object_get(o, field);
  if (!j)
    return 1;
  if (json_is_integer(j) && json_integer_value(j) >= 0) {
    *v = (uint64_t)json_integer_value(j);
    return 0;
  }
  const char *t = json_is_string(j) ? json_string_value(j) : NULL;
  char *end;
  if (t && *t >= '0' && *t <= '9') {
    *v = strtoull(t, &end, 10);
    if (!*end)
      return 0;
  }
  return lbd_error(EINVAL, "the source-spec's %s must be a number", field);
}

/* The native source's ioctx: pool_name or pool_id, pool_namespace. */
static int native_ioctx(lbd_cluster_t *cluster, const json_t *spec,
                        lbd_ioctx_t **io)
{
  const char *pool = json_text(spec, "pool_name");
  const char *ns = json_text(spec, "pool_namespace");
  uint64_t pid;
  int r;
  if (pool)
    return lbd_ioctx_create(cluster, pool, ns, io);
  if ((r = json_id(spec, "pool_id", &pid)) == 0)
    return image_ioctx_by_id(cluster, (int64_t)pid, ns ? ns : "", io);
  return r < 0 ? r : lbd_error(EINVAL, "a native source-spec needs pool_name "
                               "or pool_id");
}

/* Open image_name (or image_id, e.g. in the trash) at snap_name / snap_id,
 * and list the snapshots older than that one. */
static int native_open(lbd_cluster_t *cluster, const json_t *spec,
                       struct import_source *s)
{
  const char *name = json_text(spec, "image_name");
  const char *id = json_text(spec, "image_id");
  const char *snap = json_text(spec, "snap_name");
  uint64_t snap_id = OBJSTORE_SNAP_HEAD;
  if (!name && !id)
    return lbd_error(EINVAL, "a native source-spec needs image_name or "
                     "image_id");
  int r = snap ? 0 : json_id(spec, "snap_id", &snap_id);
  if (r < 0)
    return r;
  if (r > 0)
    return lbd_error(EINVAL, "a native source-spec needs snap_name or "
                     "snap_id: an import reads a snapshot, which never "
                     "changes");
  if ((r = native_ioctx(cluster, spec, &s->io)) == 0)
    r = image_open(s->io, id ? NULL : name, id, snap, snap_id,
                   LBD_OPEN_READ_ONLY, 0, &s->head);
  size_t n = 0;
  if (r == 0)
    r = lbd_snap_list(s->head, &s->snaps, &n);
  for (size_t i = 0; r == 0 && i < n; i++)
    if (s->snaps[i].id < s->head->snap_id)
      s->snaps[s->nsnaps++] = s->snaps[i];
  if (r == 0 && !(s->open = calloc(s->nsnaps + 1, sizeof *s->open)))
    r = lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < s->nsnaps; i++)
    s->open[i].id = s->snaps[i].id;
  if (r == 0)
    snprintf(s->image_id, sizeof s->image_id, "%s", s->head->id);
  return r;
}

static int source_open(lbd_cluster_t *cluster, const char *text,
                       struct import_source **out)
{
  json_error_t jerr;
  json_t *spec = json_loads(text, 0, &jerr);
  if (!spec || !json_is_object(spec)) {
    json_decref(spec);
    return lbd_error(EINVAL, "the source-spec is not a JSON object: %s "
                     "(line %d)", spec ? "not an object" : jerr.text,
                     jerr.line);
  }
  struct import_source *s = calloc(1, sizeof *s);
  if (!s) {
    json_decref(spec);
    return lbd_error(ENOMEM, "out of memory");
  }
  pthread_mutex_init(&s->mu, NULL);
  const char *type = json_text(spec, "type");
  int r = !type ? lbd_error(EINVAL, "the source-spec has no \"type\" "
                            "(native, raw, qcow, rbd-export or rbd-diff)")
          : strcmp(type, "native") == 0 ? native_open(cluster, spec, s)
                                        : format_open(spec, cluster, &s->fmt);
  json_decref(spec);
  if (r < 0) {
    source_free(s);
    return lbd_error_prefix(r, "the import source");
  }
  *out = s;
  return 0;
}

static uint32_t source_snap_count(const struct import_source *s)
{
  return s->fmt ? format_snap_count(s->fmt) : (uint32_t)s->nsnaps;
}

static uint64_t source_size(const struct import_source *s)
{
  uint64_t size = 0;
  if (s->fmt)
    return format_size(s->fmt, FORMAT_HEAD);
  lbd_get_size(s->head, &size);
  return size;
}

/* Snapshot I (oldest first) as an lbd_snap_info whose id is I. */
static void source_snap_info(const struct import_source *s, uint32_t i,
                             struct lbd_snap_info *info)
{
  memset(info, 0, sizeof *info);
  info->id = i;
  if (s->fmt) {
    const struct format_snap *f = format_snap(s->fmt, i);
    snprintf(info->name, sizeof info->name, "%s", f->name);
    info->size = f->size;
    /* raw files carry no time: the snapshot's is the import's */
    info->timestamp = f->timestamp ? f->timestamp : (int64_t)time(NULL);
  } else {
    *info = s->snaps[i];
    info->id = i;
    info->protected_ = false;
  }
}

/* The native handle for snapshot index SNAP (FORMAT_HEAD: the spec's). */
static int native_at(struct import_source *s, uint32_t snap, lbd_image_t **img)
{
  *img = s->head;
  if (snap == FORMAT_HEAD || snap >= s->nsnaps)
    return 0;
  int r = 0;
  pthread_mutex_lock(&s->mu);
  struct native_snap *n = &s->open[snap];
  if (!n->img)
    r = image_open(s->io, NULL, s->image_id, NULL, n->id, LBD_OPEN_READ_ONLY,
                   0, &n->img);
  *img = n->img;
  pthread_mutex_unlock(&s->mu);
  return r;
}

static int source_read(struct import_source *s, uint32_t snap, uint64_t off,
                       size_t len, void *buf)
{
  if (s->fmt)
    return format_read(s->fmt, snap, off, len, buf);
  lbd_image_t *img;
  int r = native_at(s, snap, &img);
  ssize_t n = r < 0 ? r : lbd_read(img, off, len, buf);
  if (n < 0)
    return (int)n;
  memset((char *)buf + n, 0, len - (size_t)n);
  return 0;
}

static int add_extent(uint64_t off, uint64_t len, bool exists, void *arg)
{
  return exists ? extent_set_add(arg, off, len) : 0;
}

static int source_extents(struct import_source *s, uint32_t snap,
                          uint64_t off, uint64_t len, struct extent_set *out)
{
  if (s->fmt)
    return format_extents(s->fmt, snap, off, len, out);
  lbd_image_t *img;
  uint64_t size;
  int r = native_at(s, snap, &img);
  if (r < 0)
    return r;
  lbd_get_size(img, &size);
  if (off >= size)
    return 0;
  return lbd_diff_iterate(img, NULL, off, len < size - off ? len : size - off,
                          true, false, add_extent, out);
}

/* ---- the backing of an import target ------------------------------------ */

struct import_backing {
  struct image_backing base;
  struct import_source *src;
  struct image_snap_link *map; /* target snap -> source snapshot index */
  size_t nmap;
};

static uint32_t mapped(const struct import_backing *b, uint64_t snap)
{
  for (size_t i = 0; i < b->nmap; i++)
    if (b->map[i].dst == snap)
      return (uint32_t)b->map[i].src;
  return FORMAT_HEAD; /* the head, and snapshots taken on the target */
}

static int backing_read(struct image_backing *base, uint64_t snap,
                        uint64_t off, size_t len, void *buf)
{
  struct import_backing *b = (struct import_backing *)base;
  return source_read(b->src, mapped(b, snap), off, len, buf);
}

static int backing_extents(struct image_backing *base, uint64_t snap,
                           uint64_t off, uint64_t len, struct extent_set *out)
{
  struct import_backing *b = (struct import_backing *)base;
  return source_extents(b->src, mapped(b, snap), off, len, out);
}

static void backing_close(struct image_backing *base)
{
  struct import_backing *b = (struct import_backing *)base;
  source_free(b->src);
  free(b->map);
  free(b);
}

static const struct image_backing_ops import_ops = {
    .read = backing_read, .extents = backing_extents, .close = backing_close};

static int read_spec(struct lbd_image *img, char **spec)
{
  const char *keys[] = {SPEC_KEY};
  struct objstore_kv *kvs;
  size_t n;
  int r = objstore_omap_get_keys(img->io->pool, img->header_oid, keys, 1, &kvs,
                                 &n);
  if (r < 0)
    return r;
  if (n == 0)
    r = lbd_error(EIO, "image %s is an import target without a source-spec",
                  img->name);
  else
    *spec = strdup(kvs[0].value);
  objstore_kv_free(kvs, n);
  if (r == 0 && !*spec)
    r = lbd_error(ENOMEM, "out of memory");
  return r;
}

static int import_backing_open(struct lbd_image *img,
                               struct image_backing **out)
{
  struct import_backing *b = calloc(1, sizeof *b);
  char *spec = NULL;
  if (!b)
    return lbd_error(ENOMEM, "out of memory");
  b->base.ops = &import_ops;
  int r = read_spec(img, &spec);
  if (r == 0)
    r = source_open(img->io->cluster, spec, &b->src);
  if (r == 0)
    r = image_migration_snaps(img, &b->map, &b->nmap);
  free(spec);
  if (r < 0) {
    source_free(b->src);
    free(b->map);
    free(b);
    return r;
  }
  *out = &b->base;
  return 0;
}

__attribute__((constructor)) static void import_register(void)
{
  image_backing_register_import(import_backing_open);
}

/* ---- prepare ------------------------------------------------------------ */

static int target_create(lbd_ioctx_t *io, const char *id, const char *spec,
                         struct image_header *hdr,
                         struct import_source *src)
{
  int r = 0;
  char oid[64];
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", id);
  if ((hdr->features & LBD_FEATURE_OBJECT_MAP) &&
      (r = image_object_map_create(io->pool, id, striping_object_count(
                                                     &hdr->layout,
                                                     hdr->size))) < 0)
    return r;
  if ((r = image_header_create(io->pool, id, hdr)) < 0 ||
      (r = objstore_omap_set(io->pool, oid, SPEC_KEY, spec, strlen(spec))) < 0)
    return r;
  struct objstore_pool *data;
  if ((r = image_open_data_pool(io, hdr, &data)) < 0)
    return r;
  for (uint32_t i = 0; r == 0 && i < source_snap_count(src); i++) {
    struct lbd_snap_info info;
    source_snap_info(src, i, &info);
    r = image_snap_import(io->pool, id, data, &info);
  }
  objstore_pool_close(data);
  return r;
}

static int set_prepared(lbd_ioctx_t *io, const char *id)
{
  for (int i = 0; i < 100; i++) {
    struct image_header hdr;
    int r = image_header_read(io->pool, id, &hdr);
    if (r < 0)
      return r;
    snprintf(hdr.migration.state, sizeof hdr.migration.state, "prepared");
    if ((r = image_header_set_migration(io->pool, id, &hdr)) != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the header of image %s keeps changing", id);
}

int lbd_migration_prepare_import(const char *spec, lbd_ioctx_t *dst_io,
                                 const char *dst,
                                 const struct lbd_image_options *opts)
{
  lbd_error_clear();
  struct import_source *src = NULL;
  struct image_header hdr;
  char id[IMAGE_ID_LEN + 1];
  int r = image_check_name("target image name", dst);
  if (r == 0 && (r = image_dir_lookup(dst_io->pool, dst, id)) == 0)
    r = lbd_error(EEXIST, "image %s exists already", dst);
  else if (r == -ENOENT)
    r = 0;
  lbd_error_clear();
  /* The source first: reachable, recognised, its size known. */
  if (r == 0)
    r = source_open(dst_io->cluster, spec, &src);
  struct lbd_image_options o = *opts;
  if (r == 0 && (o.size = source_size(src)) == 0)
    r = lbd_error(EINVAL, "the import source is empty");
  if (r == 0)
    r = image_header_from_options(dst_io, &o, &hdr);
  if (r < 0) {
    source_free(src);
    return lbd_error_prefix(r, "preparing the import of %s", dst);
  }
  hdr.parent.overlap = hdr.size;
  hdr.migration = (struct image_migration){.role = IMAGE_MIGRATION_TARGET,
                                           .peer_pool = -1,
                                           .import_only = true};
  snprintf(hdr.migration.state, sizeof hdr.migration.state, "preparing");
  snprintf(id, sizeof id, "%012" PRIx64,
           lbd_random_u64() & (uint64_t)0xffffffffffff);
  /* Everything before the name: a crash leaves an unnamed image at most. */
  if ((r = target_create(dst_io, id, spec, &hdr, src)) == 0 &&
      (r = image_dir_add(dst_io->pool, dst, id)) == 0)
    r = set_prepared(dst_io, id);
  source_free(src);
  if (r < 0) {
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    image_dir_remove(dst_io->pool, dst, id);
    image_remove_storage(dst_io, id, &hdr, NULL, NULL);
    return lbd_error(r, "preparing the import of %s: %s", dst, msg);
  }
  return 0;
}
