/* Images: create, open, close, remove, rename, list, resize, stat, the
 * exclusive lock and watchers. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/aio.h"
#include "image/backing.h"
#include "image/image.h"
#include "util/error.h"
#include "util/random.h"

#define DEFAULT_OBJECT_SIZE (4ULL << 20)
#define MAX_IMAGE_SIZE (1ULL << 56) /* 64 PiB */
#define SUPPORTED_FEATURES                                                   \
  (LBD_FEATURE_LAYERING | LBD_FEATURE_STRIPINGV2 |                           \
   LBD_FEATURE_EXCLUSIVE_LOCK | LBD_FEATURE_OBJECT_MAP |                     \
   LBD_FEATURE_DEEP_FLATTEN | LBD_FEATURE_DATA_POOL)

static const struct {
  const char *name;
  uint64_t bit;
} feature_names[] = {
    {"layering", LBD_FEATURE_LAYERING},
    {"striping", LBD_FEATURE_STRIPINGV2},
    {"exclusive-lock", LBD_FEATURE_EXCLUSIVE_LOCK},
    {"object-map", LBD_FEATURE_OBJECT_MAP},
    {"fast-diff", LBD_FEATURE_FAST_DIFF},
    {"deep-flatten", LBD_FEATURE_DEEP_FLATTEN},
    {"data-pool", LBD_FEATURE_DATA_POOL},
};
#define NFEATURES (sizeof feature_names / sizeof *feature_names)

int lbd_features_parse(const char *text, uint64_t *features)
{
  char *end;
  lbd_error_clear();
  unsigned long long n = strtoull(text, &end, 0);
  if (*text && !*end) {
    *features = n;
    return 0;
  }
  *features = 0;
  const char *p = text;
  while (*p) {
    size_t len = strcspn(p, ",");
    bool found = false;
    for (size_t i = 0; i < NFEATURES; i++) {
      if (strlen(feature_names[i].name) == len &&
          strncmp(p, feature_names[i].name, len) == 0) {
        *features |= feature_names[i].bit;
        found = true;
      }
    }
    if (!found && len)
      return lbd_error(EINVAL, "unknown image feature \"%.*s\" (known: "
                       "layering, striping, exclusive-lock, object-map, "
                       "fast-diff, deep-flatten, data-pool)", (int)len, p);
    p += len + (p[len] == ',');
  }
  return 0;
}

void lbd_features_format(uint64_t features, char *buf, size_t size)
{
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < NFEATURES; i++)
    if (features & feature_names[i].bit)
      used += (size_t)snprintf(buf + used, used < size ? size - used : 0,
                               "%s%s", used ? ", " : "",
                               feature_names[i].name);
}

/* Fill HDR from OPTS with rbd's defaults and rules. */
int image_header_from_options(lbd_ioctx_t *io,
                              const struct lbd_image_options *opts,
                              struct image_header *hdr)
{
  memset(hdr, 0, sizeof *hdr);
  hdr->parent.pool_id = -1;
  hdr->size = opts->size;
  hdr->layout.object_size = opts->object_size ? opts->object_size
                                              : DEFAULT_OBJECT_SIZE;
  hdr->layout.stripe_unit = opts->stripe_unit ? opts->stripe_unit
                                              : hdr->layout.object_size;
  hdr->layout.stripe_count = opts->stripe_count ? opts->stripe_count : 1;
  hdr->features = opts->features ? opts->features
                                 : (LBD_FEATURES_DEFAULT & SUPPORTED_FEATURES);
  hdr->data_pool_id = -1;
  hdr->create_time = (int64_t)time(NULL);
  hdr->thick = opts->thick_provision;
  if (hdr->size > MAX_IMAGE_SIZE)
    return lbd_error(EINVAL, "image size %" PRIu64 " is over the limit of "
                     "64 PiB", hdr->size);
  int r = striping_check(&hdr->layout);
  if (r < 0)
    return r;
  if (hdr->layout.stripe_unit != hdr->layout.object_size ||
      hdr->layout.stripe_count != 1)
    hdr->features |= LBD_FEATURE_STRIPINGV2;
  uint64_t unsupported = hdr->features & ~SUPPORTED_FEATURES;
  if (unsupported) {
    char names[256];
    lbd_features_format(unsupported, names, sizeof names);
    return lbd_error(ENOTSUP, "image feature(s) %s not supported by this "
                     "version of lbd", names[0] ? names : "(unknown bits)");
  }
  if ((hdr->features & LBD_FEATURE_OBJECT_MAP) &&
      !(hdr->features & LBD_FEATURE_EXCLUSIVE_LOCK))
    return lbd_error(EINVAL, "feature object-map needs feature "
                     "exclusive-lock");
  if ((r = image_object_map_check_size(hdr)) < 0)
    return r;
  if (opts->data_pool && *opts->data_pool) {
    if ((r = objstore_pool_lookup(io->cluster->os, opts->data_pool,
                                  &hdr->data_pool_id)) < 0)
      return lbd_error_prefix(r, "data pool");
    hdr->features |= LBD_FEATURE_DATA_POOL;
  } else if (hdr->features & LBD_FEATURE_DATA_POOL) {
    return lbd_error(EINVAL, "feature data-pool needs a data pool "
                     "(--data-pool)");
  }
  return 0;
}

int lbd_create(lbd_ioctx_t *io, const char *name,
               const struct lbd_image_options *opts)
{
  lbd_error_clear();
  return image_create(io, name, opts, NULL, NULL);
}

int image_create(lbd_ioctx_t *io, const char *name,
                 const struct lbd_image_options *opts,
                 const struct image_parent *parent, lbd_ioctx_t *parent_io)
{
  struct image_header hdr;
  char id[IMAGE_ID_LEN + 1];
  int r = image_check_name("image name", name);
  if (r == 0)
    r = image_header_from_options(io, opts, &hdr);
  if (r == 0 && parent) {
    hdr.parent = *parent;
    if (!(hdr.features & LBD_FEATURE_LAYERING))
      r = lbd_error(EINVAL, "a clone needs feature layering");
  }
  if (r == 0) { /* refuse early, before anything is written */
    r = image_dir_lookup(io->pool, name, id);
    if (r == 0)
      r = lbd_error(EEXIST, "image %s already exists", name);
    else if (r == -ENOENT)
      r = 0;
  }
  if (r < 0)
    return lbd_error_prefix(r, "creating image %s", name);
  snprintf(id, sizeof id, "%012" PRIx64,
           lbd_random_u64() & (uint64_t)0xffffffffffff);
  /* Child link, object map, header, name: a crash leaves unnamed objects
   * (and a child link that listing drops), never a name without an image
   * nor a clone its parent does not know. */
  if (parent && (r = image_child_link(parent_io, parent->image_id,
                                      parent->snap_id, io->pool_id, io->ns,
                                      id, true)) < 0)
    return lbd_error_prefix(r, "creating image %s", name);
  if ((hdr.features & LBD_FEATURE_OBJECT_MAP) &&
      (r = image_object_map_create(io->pool, id, striping_object_count(
                                                     &hdr.layout, hdr.size))) < 0)
    goto fail;
  if ((r = image_header_create(io->pool, id, &hdr)) < 0 ||
      (r = image_dir_add(io->pool, name, id)) < 0)
    goto fail;
  return 0;
fail:;
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", lbd_last_error());
  image_remove_storage(io, id, NULL, NULL, NULL); /* nothing written */
  if (parent)
    image_child_link(parent_io, parent->image_id, parent->snap_id,
                     io->pool_id, io->ns, id, false);
  return lbd_error(r, "creating image %s: %s", name, msg);
}

int image_open_data_pool(lbd_ioctx_t *io, const struct image_header *hdr,
                         struct objstore_pool **data)
{
  int64_t id = hdr->data_pool_id >= 0 ? hdr->data_pool_id : io->pool_id;
  return objstore_pool_open(io->cluster->os, id, io->ns, data);
}

static void image_free(lbd_image_t *img)
{
  image_backing_close(img);
  objstore_pool_close(img->data);
  free(img->snap_ids);
  free(img->snap_overlaps);
  free(img->omap);
  for (int i = 0; i < 64; i++)
    pthread_mutex_destroy(&img->obj_mu[i]);
  pthread_rwlock_destroy(&img->io_lock);
  pthread_mutex_destroy(&img->omap_mu);
  pthread_mutex_destroy(&img->mu);
  free(img);
}

/* Find the image: by name in the directory, or by id (then its name, or
 * the id itself when it has none, as in the trash). */
static int image_find(lbd_image_t *img, const char *name, const char *id)
{
  if (name) {
    snprintf(img->name, sizeof img->name, "%s", name);
    return image_dir_lookup(img->io->pool, name, img->id);
  }
  snprintf(img->id, sizeof img->id, "%s", id);
  int r = image_dir_name(img->io->pool, id, img->name);
  if (r == -ENOENT) {
    snprintf(img->name, sizeof img->name, "%s", id);
    r = 0;
  }
  return r;
}

/* Point IMG at snapshot SNAP (a name) or SNAP_ID: its size and overlap. */
static int image_at_snap(lbd_image_t *img, const char *snap, uint64_t snap_id)
{
  struct lbd_snap_info *snaps;
  size_t n;
  int r = image_snaps_read(img->io->pool, img->header_oid, &snaps, &n);
  if (r < 0)
    return r;
  r = snap ? lbd_error(ENOENT, "image %s has no snapshot %s", img->name, snap)
           : lbd_error(ENOENT, "image %s has no snapshot with id %" PRIu64,
                       img->name, snap_id);
  for (size_t i = 0; i < n; i++) {
    if (snap ? strcmp(snaps[i].name, snap) != 0 : snaps[i].id != snap_id)
      continue;
    img->snap_id = snaps[i].id;
    img->hdr.size = snaps[i].size;
    lbd_error_clear();
    r = 0;
  }
  free(snaps);
  uint64_t overlap;
  if (r == 0 && image_backing_linked(&img->hdr) &&
      (r = image_snap_overlap(img, img->snap_id, &overlap)) == 0)
    img->hdr.parent.overlap = overlap;
  if (r == -ENOENT && img->snap_id != OBJSTORE_SNAP_HEAD) {
    lbd_error_clear(); /* no overlap of its own: the head's */
    r = 0;
  }
  img->read_only = true;
  return r;
}

int image_open(lbd_ioctx_t *io, const char *name, const char *id,
               const char *snap, uint64_t snap_id, unsigned flags, int depth,
               lbd_image_t **out)
{
  lbd_image_t *img = calloc(1, sizeof *img);
  if (!img)
    return lbd_error(ENOMEM, "out of memory");
  pthread_mutex_init(&img->mu, NULL);
  pthread_mutex_init(&img->omap_mu, NULL);
  pthread_rwlock_init(&img->io_lock, NULL);
  for (int i = 0; i < 64; i++)
    pthread_mutex_init(&img->obj_mu[i], NULL);
  img->io = io;
  img->snap_id = OBJSTORE_SNAP_HEAD;
  img->read_only = flags & LBD_OPEN_READ_ONLY;
  snprintf(img->lock_cookie, sizeof img->lock_cookie, "auto %" PRIu64,
           lbd_random_u64());
  int r;
  if ((r = image_find(img, name, id)) < 0 ||
      (r = image_header_read(io->pool, img->id, &img->hdr)) < 0 ||
      (r = image_open_data_pool(io, &img->hdr, &img->data)) < 0)
    goto fail;
  snprintf(img->header_oid, sizeof img->header_oid, IMAGE_HEADER_PREFIX "%s",
           img->id);
  if ((r = image_snapc_refresh(img)) < 0)
    goto fail;
  img->map_untrusted = img->hdr.migration.role == IMAGE_MIGRATION_TARGET;
  if ((snap || snap_id != OBJSTORE_SNAP_HEAD) &&
      (r = image_at_snap(img, snap, snap_id)) < 0)
    goto fail;
  if (!img->read_only && !(flags & IMAGE_OPEN_MIGRATION) &&
      img->hdr.migration.role == IMAGE_MIGRATION_SOURCE) {
    r = lbd_error(EROFS, "image being migrated to %s: it is read-only until "
                  "'lbd migration abort'", img->hdr.migration.peer_name);
    goto fail;
  }
  if (flags & IMAGE_OPEN_NO_SOURCE)
    r = image_backing_open_past_source(img, depth);
  else if (!(flags & IMAGE_OPEN_NO_BACKING))
    r = image_backing_open(img, depth);
  if (r < 0)
    goto fail;
  if ((r = objstore_watch(io->pool, img->header_oid,
                          img->read_only ? "read-only" : "read-write",
                          !img->read_only, &img->watch)) < 0)
    goto fail;
  *out = img;
  return 0;
fail:
  lbd_error_prefix(r, "opening image %s", img->name[0] ? img->name : id);
  image_free(img);
  return r;
}

int lbd_open(lbd_ioctx_t *io, const char *name, const char *snap,
             unsigned flags, lbd_image_t **out)
{
  lbd_error_clear();
  int r = image_check_name("image name", name);
  if (r < 0)
    return r;
  return image_open(io, name, NULL, snap, OBJSTORE_SNAP_HEAD, flags, 0, out);
}

int lbd_close(lbd_image_t *img)
{
  if (!img)
    return 0;
  image_aio_drain(img); /* no async op may outlive its image */
  lbd_error_clear();
  int r = 0;
  if (!img->read_only)
    r = lbd_flush(img);
  if (img->lock_held) {
    /* Clean only after a good flush: else the next writer rebuilds. */
    if (r == 0 && (r = image_object_map_released(img)) < 0)
      lbd_error_prefix(r, "closing image %s", img->name);
    objstore_unlock(img->io->pool, img->header_oid, IMAGE_LOCK_NAME,
                    img->lock_cookie);
  }
  objstore_unwatch(img->io->pool, img->header_oid, img->watch);
  image_free(img);
  return r;
}

int image_acquire_lock(struct lbd_image *img)
{
  if (!(img->hdr.features & LBD_FEATURE_EXCLUSIVE_LOCK))
    return 0;
  pthread_mutex_lock(&img->mu);
  int r = 0;
  if (!img->lock_held) {
    r = objstore_lock(img->io->pool, img->header_oid, IMAGE_LOCK_NAME,
                      OBJSTORE_LOCK_EXCLUSIVE, img->lock_cookie, "internal",
                      "lbd exclusive lock");
    /* The previous holder may have resized the image: read it again. */
    struct image_header hdr;
    if (r == 0 && (r = image_header_read(img->io->pool, img->id, &hdr)) < 0)
      objstore_unlock(img->io->pool, img->header_oid, IMAGE_LOCK_NAME,
                      img->lock_cookie);
    if (r == 0) {
      pthread_rwlock_wrlock(&img->io_lock);
      img->hdr = hdr;
      r = image_snapc_refresh(img);
      if (r == 0)
        r = image_object_map_acquired(img);
      if (r < 0) { /* never trust a map we do not own */
        free(img->omap);
        img->omap = NULL;
      }
      pthread_rwlock_unlock(&img->io_lock);
      if (r < 0)
        objstore_unlock(img->io->pool, img->header_oid, IMAGE_LOCK_NAME,
                        img->lock_cookie);
    }
    if (r == 0)
      img->lock_held = true;
    else if (r == -EBUSY)
      r = lbd_error_prefix(r, "image %s is being written by another client",
                           img->name);
  }
  pthread_mutex_unlock(&img->mu);
  return r;
}

int image_step_lock(struct objstore_pool *pool, const char *oid,
                    const char *what, char cookie[32])
{
  snprintf(cookie, 32, "%" PRIu64, lbd_random_u64());
  int r = objstore_lock(pool, oid, IMAGE_MIGRATION_LOCK,
                        OBJSTORE_LOCK_EXCLUSIVE, cookie, "", what);
  if (r != -EBUSY)
    return r;
  struct objstore_holder *h;
  size_t n;
  char who[160] = "another migration command";
  if (objstore_list_lockers(pool, oid, IMAGE_MIGRATION_LOCK, &h, &n) == 0) {
    if (n)
      snprintf(who, sizeof who, "'%s' (pid %d)", h[0].desc ? h[0].desc : "?",
               (int)h[0].pid);
    objstore_holders_free(h, n);
  }
  return lbd_error(EBUSY, "%s is running on this image: try again when it "
                   "ends", who);
}

void image_step_unlock(struct objstore_pool *pool, const char *oid,
                       const char *cookie)
{
  char msg[LBD_ERROR_MAX]; /* the caller's message outlives the unlock */
  snprintf(msg, sizeof msg, "%s", lbd_last_error());
  objstore_unlock(pool, oid, IMAGE_MIGRATION_LOCK, cookie);
  if (*msg)
    lbd_error(EIO, "%s", msg);
  else
    lbd_error_clear();
}

uint64_t image_refresh_size(struct lbd_image *img)
{
  struct image_header hdr;
  pthread_mutex_lock(&img->mu);
  if (image_header_read(img->io->pool, img->id, &hdr) == 0)
    img->hdr.size = hdr.size; /* (the overlap only ever shrinks: keep ours) */
  uint64_t size = img->hdr.size;
  pthread_mutex_unlock(&img->mu);
  lbd_error_clear();
  return size;
}

int lbd_get_size(lbd_image_t *img, uint64_t *size)
{
  if (img->snap_id == OBJSTORE_SNAP_HEAD && !img->lock_held) {
    *size = image_refresh_size(img); /* another handle may have resized */
    return 0;
  }
  pthread_mutex_lock(&img->mu);
  *size = img->hdr.size;
  pthread_mutex_unlock(&img->mu);
  return 0;
}

int lbd_stat(lbd_image_t *img, struct lbd_image_info *info)
{
  lbd_error_clear();
  struct image_header hdr;
  int r = image_header_read(img->io->pool, img->id, &hdr);
  if (r < 0)
    return lbd_error_prefix(r, "image %s", img->name);
  pthread_mutex_lock(&img->mu);
  if (img->snap_id == OBJSTORE_SNAP_HEAD)
    img->hdr = hdr;
  else
    hdr = img->hdr; /* a snapshot's size and overlap */
  pthread_mutex_unlock(&img->mu);
  memset(info, 0, sizeof *info);
  snprintf(info->id, sizeof info->id, "%s", img->id);
  snprintf(info->name, sizeof info->name, "%s", img->name);
  info->size = hdr.size;
  info->object_size = hdr.layout.object_size;
  info->order = __builtin_ctzll(hdr.layout.object_size);
  info->stripe_unit = hdr.layout.stripe_unit;
  info->stripe_count = hdr.layout.stripe_count;
  info->features = hdr.features;
  info->num_objs = striping_object_count(&hdr.layout, hdr.size);
  info->data_pool_id = hdr.data_pool_id;
  info->create_time = hdr.create_time;
  snprintf(info->block_name_prefix, sizeof info->block_name_prefix,
           IMAGE_DATA_PREFIX "%s", img->id);
  return 0;
}

int lbd_resize(lbd_image_t *img, uint64_t size)
{
  lbd_error_clear();
  if (img->read_only)
    return lbd_error(EROFS, "image %s is open read-only", img->name);
  if (size > MAX_IMAGE_SIZE)
    return lbd_error(EINVAL, "new size %" PRIu64 " is over the limit of "
                     "64 PiB", size);
  int r = image_acquire_lock(img);
  for (int attempt = 0; r == 0 && attempt < 100; attempt++) {
    struct image_header hdr;
    if ((r = image_header_read(img->io->pool, img->id, &hdr)) < 0)
      break;
    pthread_mutex_lock(&img->mu);
    img->hdr = hdr;
    pthread_mutex_unlock(&img->mu);
    /* A clone shrunk below its overlap never reads the parent there again,
     * even when it grows back: the overlap shrinks first, for good. */
    if (image_backing_linked(&hdr) && size < hdr.parent.overlap) {
      /* Not while a migration execute copies up to the old overlap. */
      char cookie[32];
      bool target = hdr.migration.role == IMAGE_MIGRATION_TARGET;
      if (target && (r = image_step_lock(img->io->pool, img->header_oid,
                                         "lbd resize", cookie)) < 0)
        break;
      /* Read under the lock: taking it may change the header object's
       * version (a RADOS cls_lock writes the object), and a version read
       * before would never match. */
      if (target && (r = image_header_read(img->io->pool, img->id, &hdr)) < 0) {
        image_step_unlock(img->io->pool, img->header_oid, cookie);
        break;
      }
      pthread_rwlock_wrlock(&img->io_lock);
      r = size < hdr.parent.overlap
              ? image_header_set_overlap(img->io->pool, img->id, &hdr, size)
              : -ECANCELED; /* changed meanwhile: look again */
      if (target)
        image_step_unlock(img->io->pool, img->header_oid, cookie);
      if (r == 0)
        img->hdr.parent.overlap = size;
      pthread_rwlock_unlock(&img->io_lock);
      if (r == -ECANCELED)
        r = 0;
      continue; /* the header changed: read it again */
    }
    /* Shrinking drops the data first: a crash leaves the old size with
     * zeroes at its end, never the new size with stale data past it. */
    if (size < hdr.size && (r = lbd_discard(img, size, hdr.size - size)) < 0)
      break;
    struct image_header want = hdr;
    want.size = size;
    if ((r = image_object_map_check_size(&want)) < 0)
      break;
    pthread_rwlock_wrlock(&img->io_lock);
    /* A larger map first when growing; a smaller one after shrinking, and
     * after the objects past the new end are gone (a crash between leaves
     * the map dirty: the next writer rebuilds it). */
    if (size > hdr.size)
      r = image_object_map_resize(img, size);
    if (r == 0 && size < hdr.size)
      r = image_remove_objects(img->data, img->id,
                               striping_object_count(&hdr.layout, size),
                               image_snapc(img), NULL, NULL, 0);
    if (r == 0)
      r = image_header_set_size(img->io->pool, img->id, &hdr, size);
    if (r == 0 && size < hdr.size)
      r = image_object_map_resize(img, size);
    pthread_rwlock_unlock(&img->io_lock);
    if (r == -ECANCELED) {
      r = 0;
      continue;
    }
    if (r == 0) {
      pthread_mutex_lock(&img->mu);
      img->hdr.size = size;
      img->hdr.version = 0;
      pthread_mutex_unlock(&img->mu);
    }
    return r < 0 ? lbd_error_prefix(r, "resizing image %s", img->name) : 0;
  }
  return r < 0 ? lbd_error_prefix(r, "resizing image %s", img->name)
               : lbd_error(EAGAIN, "image %s header keeps changing", img->name);
}

int lbd_watchers_list(lbd_image_t *img, struct lbd_watcher **watchers,
                      size_t *count)
{
  struct objstore_holder *h;
  size_t n;
  lbd_error_clear();
  int r = objstore_list_watchers(img->io->pool, img->header_oid, &h, &n);
  if (r < 0)
    return r;
  *watchers = calloc(n ? n : 1, sizeof **watchers);
  if (!*watchers) {
    objstore_holders_free(h, n);
    return lbd_error(ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    snprintf((*watchers)[i].client, sizeof (*watchers)[i].client, "%s",
             h[i].client);
    (*watchers)[i].pid = h[i].pid;
    (*watchers)[i].rw = h[i].exclusive;
  }
  *count = n;
  objstore_holders_free(h, n);
  return 0;
}

void lbd_watchers_list_free(struct lbd_watcher *watchers, size_t count)
{
  (void)count;
  free(watchers);
}

int lbd_list(lbd_ioctx_t *io, char ***names, size_t *count)
{
  lbd_error_clear();
  return image_dir_list(io->pool, names, count);
}

int lbd_rename(lbd_ioctx_t *io, const char *name, const char *new_name)
{
  lbd_error_clear();
  int r = image_check_name("image name", name);
  if (r == 0)
    r = image_check_name("new image name", new_name);
  if (r == 0)
    r = image_dir_rename(io->pool, name, new_name);
  return r < 0 ? lbd_error_prefix(r, "renaming image %s", name) : 0;
}

int image_remove_storage(lbd_ioctx_t *io, const char *id,
                         const struct image_header *hdr,
                         lbd_progress_fn_t progress, void *arg)
{
  char oid[64];
  int r = 0;
  if (hdr) { /* data first: the header tells where it is */
    struct objstore_pool *data;
    struct lbd_snap_info *snaps = NULL;
    size_t nsnaps = 0;
    if ((r = image_open_data_pool(io, hdr, &data)) < 0)
      return lbd_error_prefix(r, "data pool");
    snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", id);
    r = image_snaps_read(io->pool, oid, &snaps, &nsnaps);
    for (size_t i = 0; r == 0 && i < nsnaps; i++) /* their clones go too */
      if ((r = objstore_snap_remove(data, snaps[i].id)) == -ENOENT)
        r = 0;
    free(snaps);
    if (r == 0)
      r = image_remove_objects(data, id, 0, NULL, progress, arg,
                               striping_object_count(&hdr->layout, hdr->size));
    objstore_pool_close(data);
  }
  image_object_map_oid(id, oid, sizeof oid);
  if (r == 0 && (r = objstore_remove(io->pool, oid, NULL)) == -ENOENT)
    r = 0;
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", id);
  if (r == 0 && (r = objstore_remove(io->pool, oid, NULL)) == -ENOENT)
    r = 0;
  if (r == 0 && hdr && hdr->parent.pool_id >= 0 &&
      !image_parent_is_source(hdr))
    r = image_child_unlink(io->cluster, hdr, io->pool_id, io->ns, id);
  if (r == 0)
    lbd_error_clear();
  return r;
}

int lbd_remove(lbd_ioctx_t *io, const char *name)
{
  return lbd_remove_with_progress(io, name, NULL, NULL);
}

int lbd_remove_with_progress(lbd_ioctx_t *io, const char *name,
                             lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  char id[IMAGE_ID_LEN + 1], oid[64];
  struct image_header hdr;
  int r = image_check_name("image name", name);
  if (r == 0)
    r = image_dir_lookup(io->pool, name, id);
  if (r < 0)
    return lbd_error_prefix(r, "removing image %s", name);
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", id);
  r = image_header_read(io->pool, id, &hdr);
  if (r == 0) {
    struct lbd_snap_info *snaps;
    size_t nsnaps;
    if ((r = image_snaps_read(io->pool, oid, &snaps, &nsnaps)) < 0)
      return lbd_error_prefix(r, "removing image %s", name);
    free(snaps);
    if (hdr.migration.role != IMAGE_MIGRATION_NONE)
      return lbd_error(EBUSY, "removing image %s: it is being migrated: "
                       "commit or abort the migration first", name);
    if (nsnaps)
      return lbd_error(ENOTEMPTY, "removing image %s: image has %zu "
                       "snapshot(s): remove them first ('lbd snap rm')",
                       name, nsnaps);
    struct objstore_holder *h;
    size_t n;
    if ((r = objstore_list_watchers(io->pool, oid, &h, &n)) < 0)
      return lbd_error_prefix(r, "removing image %s", name);
    if (n) {
      r = lbd_error(EBUSY, "removing image %s: image still has watchers (%s, "
                    "pid %d%s): close it there first", name, h[0].client,
                    (int)h[0].pid, n > 1 ? ", and others" : "");
      objstore_holders_free(h, n);
      return r;
    }
    objstore_holders_free(h, n);
    r = image_remove_storage(io, id, &hdr, progress, arg);
  } else if (r == -ENOENT) {
    r = 0; /* a removal that crashed after the header: finish it */
  }
  if (r == 0)
    r = image_dir_remove(io->pool, name, id);
  return r < 0 ? lbd_error_prefix(r, "removing image %s", name) : 0;
}
