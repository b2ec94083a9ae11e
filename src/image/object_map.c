/* The object map (feature object-map): two bits per data object saying
 * whether it exists, in lbd_object_map.<id> beside the header, as rbd's
 * (element i in byte i/4, most significant bits first).
 *
 * Only the exclusive lock holder changes it, and it is exact:
 *  - before a write reaches an object not marked EXISTS, the map says
 *    EXISTS; before an object is removed, PENDING; after, NONEXISTENT;
 *  - the header's object_map_state is "dirty" while a writer holds the
 *    lock and "clean" after a clean close.  A writer that finds it dirty
 *    (its predecessor died between a map update and the data op) rebuilds
 *    the map from the listing of the image's data objects first.
 * A client without the lock never trusts its copy: another may be writing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

#define MAP_STATE_KEY "object_map_state"

void image_object_map_oid(const char *id, char *buf, size_t size)
{
  snprintf(buf, size, IMAGE_OBJECT_MAP_PREFIX "%s", id);
}

static uint64_t map_bytes(uint64_t nobjects) { return (nobjects + 3) / 4; }

uint8_t image_object_map_get(const struct lbd_image *img, uint64_t objectno)
{
  if (objectno >= img->omap_objects)
    return OBJECT_NONEXISTENT;
  return (img->omap[objectno / 4] >> (6 - 2 * (objectno % 4))) & 3;
}

static void map_put(uint8_t *map, uint64_t objectno, uint8_t state)
{
  unsigned shift = 6 - 2 * (unsigned)(objectno % 4);
  map[objectno / 4] = (uint8_t)((map[objectno / 4] & ~(3u << shift)) |
                                ((unsigned)state << shift));
}

int image_object_map_check_size(const struct image_header *hdr)
{
  uint64_t n = striping_object_count(&hdr->layout, hdr->size);
  if ((hdr->features & LBD_FEATURE_OBJECT_MAP) && n > IMAGE_OBJECT_MAP_MAX)
    return lbd_error(EINVAL, "an image of %" PRIu64 " objects is too large "
                     "for an object map (at most %d): use larger objects or "
                     "leave out the object-map feature", n,
                     IMAGE_OBJECT_MAP_MAX);
  return 0;
}

int image_object_map_create(struct objstore_pool *pool, const char *id,
                            uint64_t nobjects)
{
  char oid[64];
  image_object_map_oid(id, oid, sizeof oid);
  /* All zeroes (NONEXISTENT), and sparse. */
  return objstore_truncate(pool, oid, NULL, map_bytes(nobjects));
}

/* Durably: a power loss must not keep a write and lose "dirty". */
static int set_state(struct lbd_image *img, const char *state)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op); /* never recreate a removed header */
  objstore_write_op_omap_set(op, MAP_STATE_KEY, state, strlen(state));
  int r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                    OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return r;
}

static int get_state(struct lbd_image *img, bool *dirty)
{
  const char *keys[] = {MAP_STATE_KEY};
  struct objstore_kv *kvs;
  size_t n;
  int r = objstore_omap_get_keys(img->io->pool, img->header_oid, keys, 1,
                                 &kvs, &n);
  if (r < 0)
    return r;
  *dirty = n == 1 && strcmp(kvs[0].value, "clean") != 0;
  objstore_kv_free(kvs, n);
  return 0;
}

/* Read the map on disk; -ENOENT if its object is missing. */
static int map_read(const struct lbd_image *img, uint8_t **out, uint64_t *n)
{
  char oid[64];
  *n = striping_object_count(&img->hdr.layout, img->hdr.size);
  uint64_t bytes = map_bytes(*n);
  uint8_t *map = calloc(bytes ? bytes : 1, 1);
  if (!map)
    return lbd_error(ENOMEM, "out of memory for the object map");
  image_object_map_oid(img->id, oid, sizeof oid);
  ssize_t got = objstore_read(img->io->pool, oid, OBJSTORE_SNAP_HEAD, 0,
                              (size_t)bytes, map);
  if (got < 0) {
    free(map);
    return (int)got;
  }
  *out = map;
  return 0;
}

/* Load the map; -ENOENT if its object is missing. */
int image_object_map_load(struct lbd_image *img)
{
  uint8_t *map;
  uint64_t n;
  int r = map_read(img, &map, &n);
  if (r < 0)
    return r;
  pthread_mutex_lock(&img->omap_mu);
  free(img->omap);
  img->omap_objects = n;
  img->omap = map;
  pthread_mutex_unlock(&img->omap_mu);
  return 0;
}

int image_object_map_set(struct lbd_image *img, uint64_t objectno,
                         uint8_t state)
{
  if (!img->omap || objectno >= img->omap_objects)
    return 0;
  pthread_mutex_lock(&img->omap_mu);
  int r = 0;
  uint8_t old = image_object_map_get(img, objectno);
  if (old != state) {
    char oid[64];
    map_put(img->omap, objectno, state);
    image_object_map_oid(img->id, oid, sizeof oid);
    r = objstore_write(img->io->pool, oid, NULL, objectno / 4,
                       &img->omap[objectno / 4], 1);
    if (r < 0) /* memory says what the disk says */
      map_put(img->omap, objectno, old);
  }
  pthread_mutex_unlock(&img->omap_mu);
  return r;
}

int image_object_map_rebuild(struct lbd_image *img)
{
  uint64_t n = striping_object_count(&img->hdr.layout, img->hdr.size);
  uint64_t bytes = map_bytes(n);
  uint8_t *map = calloc(bytes ? bytes : 1, 1);
  if (!map)
    return lbd_error(ENOMEM, "out of memory for the object map");
  char prefix[64], after[96], oid[64];
  int plen = snprintf(prefix, sizeof prefix, IMAGE_DATA_PREFIX "%s.", img->id);
  snprintf(after, sizeof after, "%s", prefix);
  const char *ns = objstore_pool_ns(img->data);
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_list_entry *e;
    size_t count;
    if ((r = objstore_list(img->data, 0, ns, after, 1024, &e, &count,
                           &more)) < 0)
      break;
    for (size_t i = 0; i < count; i++) {
      if (strncmp(e[i].name, prefix, (size_t)plen) != 0) {
        more = false;
        break;
      }
      uint64_t objectno = strtoull(e[i].name + plen, NULL, 16);
      if (objectno < n)
        map_put(map, objectno, OBJECT_EXISTS);
      snprintf(after, sizeof after, "%s", e[i].name);
    }
    objstore_list_free(e, count);
  }
  image_object_map_oid(img->id, oid, sizeof oid);
  if (r == 0)
    r = objstore_write_full(img->io->pool, oid, NULL, map, bytes);
  if (r < 0) {
    free(map);
    return lbd_error_prefix(r, "rebuilding the object map of image %s",
                            img->name);
  }
  pthread_mutex_lock(&img->omap_mu);
  free(img->omap);
  img->omap = map;
  img->omap_objects = n;
  pthread_mutex_unlock(&img->omap_mu);
  return 0;
}

int image_object_map_acquired(struct lbd_image *img)
{
  if (!(img->hdr.features & LBD_FEATURE_OBJECT_MAP))
    return 0;
  bool dirty = false;
  int r = get_state(img, &dirty);
  if (r == 0 && !dirty && (r = image_object_map_load(img)) == -ENOENT)
    dirty = true; /* the map object is lost: make it anew */
  if (r == 0 || r == -ENOENT)
    r = dirty ? image_object_map_rebuild(img) : 0;
  if (r == 0)
    r = set_state(img, "dirty");
  return r;
}

int image_object_map_released(struct lbd_image *img)
{
  /* A migration copies objects in without the lock: the map of a target
   * stays dirty, and the first holder after the commit rebuilds it. */
  if (!img->omap || img->hdr.migration.role == IMAGE_MIGRATION_TARGET)
    return 0;
  return set_state(img, "clean");
}

int image_object_map_resize(struct lbd_image *img, uint64_t size)
{
  if (!img->omap)
    return 0;
  struct striping l = img->hdr.layout;
  uint64_t n = striping_object_count(&l, size), bytes = map_bytes(n);
  uint8_t *map = calloc(bytes ? bytes : 1, 1);
  if (!map)
    return lbd_error(ENOMEM, "out of memory for the object map");
  pthread_mutex_lock(&img->omap_mu);
  uint64_t keep = n < img->omap_objects ? n : img->omap_objects;
  for (uint64_t i = 0; i < keep; i++)
    map_put(map, i, image_object_map_get(img, i));
  char oid[64];
  image_object_map_oid(img->id, oid, sizeof oid);
  int r = objstore_write_full(img->io->pool, oid, NULL, map, bytes);
  if (r == 0) {
    free(img->omap);
    img->omap = map;
    img->omap_objects = n;
  } else {
    free(map);
  }
  pthread_mutex_unlock(&img->omap_mu);
  return r;
}

int lbd_object_map_rebuild(lbd_image_t *img)
{
  lbd_error_clear();
  if (!(img->hdr.features & LBD_FEATURE_OBJECT_MAP))
    return lbd_error(EINVAL, "image %s has no object map (feature "
                     "object-map)", img->name);
  if (img->read_only)
    return lbd_error(EROFS, "image %s is open read-only", img->name);
  int r = image_acquire_lock(img);
  if (r < 0)
    return r;
  pthread_rwlock_wrlock(&img->io_lock); /* no write may slip past the listing */
  r = image_object_map_rebuild(img);
  pthread_rwlock_unlock(&img->io_lock);
  return r;
}

int lbd_object_map_check(lbd_image_t *img, uint64_t *wrong)
{
  lbd_error_clear();
  *wrong = 0;
  if (!(img->hdr.features & LBD_FEATURE_OBJECT_MAP))
    return lbd_error(EINVAL, "image %s has no object map (feature "
                     "object-map)", img->name);
  uint8_t *map; /* the map on disk, against the objects */
  uint64_t n;
  int r = map_read(img, &map, &n);
  if (r == -ENOENT)
    return lbd_error(EIO, "image %s: its object map is missing: run 'lbd "
                     "object-map rebuild'", img->name);
  if (r < 0)
    return r;
  for (uint64_t i = 0; i < n; i++) {
    char oid[96];
    struct objstore_stat st;
    image_data_oid(img, i, oid, sizeof oid);
    int e = objstore_stat(img->data, oid, OBJSTORE_SNAP_HEAD, &st);
    if (e < 0 && e != -ENOENT) {
      free(map);
      return e;
    }
    uint8_t s = (map[i / 4] >> (6 - 2 * (i % 4))) & 3;
    if ((e == 0) != (s == OBJECT_EXISTS || s == OBJECT_EXISTS_CLEAN))
      (*wrong)++;
  }
  lbd_error_clear();
  free(map);
  return 0;
}
