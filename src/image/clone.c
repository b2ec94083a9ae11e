/* Clones: images that read a protected snapshot of another image wherever
 * they have no data of their own (backing.c), the registry of who is whose
 * child, and flatten.
 *
 * lbd_children (in the parent's pool and namespace) holds one omap key per
 * link, "<parent id>.<snap id %016x>.<child pool %016x>.<child id>.<ns>",
 * added before the clone's header exists and dropped after it is gone, so
 * a parent never loses sight of a live clone.  A crash can leave a link to
 * a clone that was never made (or is gone): listing drops such links. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/backing.h"
#include "image/copyup.h"
#include "image/image.h"
#include "util/error.h"

#define CHILDREN_OID "lbd_children"
#define FLATTEN_THREADS 8

static void child_key(const char *parent_id, uint64_t snap_id,
                      int64_t child_pool, const char *child_ns,
                      const char *child_id, char *buf, size_t size)
{
  snprintf(buf, size, "%s.%016" PRIx64 ".%016" PRIx64 ".%s.%s", parent_id,
           snap_id, (uint64_t)child_pool, child_id, child_ns);
}

int image_child_link(lbd_ioctx_t *parent_io, const char *parent_id,
                     uint64_t snap_id, int64_t child_pool, const char *child_ns,
                     const char *child_id, bool add)
{
  char key[OBJSTORE_MAX_OMAP_KEY + 1];
  child_key(parent_id, snap_id, child_pool, child_ns, child_id, key,
            sizeof key);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  if (add) {
    objstore_write_op_create(op, false);
    objstore_write_op_omap_set(op, key, "", 0);
  } else {
    objstore_write_op_assert_exists(op);
    objstore_write_op_omap_rm(op, key);
  }
  int r = objstore_write_op_operate(parent_io->pool, CHILDREN_OID, op, NULL,
                                    OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  if (r == -ENOENT && !add) {
    lbd_error_clear();
    r = 0;
  }
  return r < 0 ? lbd_error_prefix(r, "%s the clone link of image %s",
                                  add ? "adding" : "removing", child_id)
               : 0;
}

int image_child_unlink(lbd_cluster_t *cluster, const struct image_header *hdr,
                       int64_t child_pool, const char *child_ns,
                       const char *child_id)
{
  lbd_ioctx_t *pio;
  int r = image_ioctx_by_id(cluster, hdr->parent.pool_id, hdr->parent.ns,
                            &pio);
  if (r == -ENOENT) { /* the parent's pool is gone: so is the link */
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  r = image_child_link(pio, hdr->parent.image_id, hdr->parent.snap_id,
                       child_pool, child_ns, child_id, false);
  lbd_ioctx_destroy(pio);
  return r;
}

/* "pool/[ns/]name" of the clone of link KEY (whose prefix is cut), or
 * -ESTALE if the link names no live clone of this parent snapshot. */
static int child_spec(struct lbd_image *img, uint64_t snap_id, int64_t pool,
                      const char *ns, const char *id, char **spec)
{
  char name[IMAGE_MAX_NAME + 1];
  lbd_ioctx_t *io;
  int r = image_ioctx_by_id(img->io->cluster, pool, ns, &io);
  if (r < 0)
    return r == -ENOENT ? -ESTALE : r;
  struct image_header hdr;
  r = image_header_read(io->pool, id, &hdr);
  if (r == 0 && (hdr.parent.pool_id != img->io->pool_id ||
                 strcmp(hdr.parent.ns, img->io->ns) != 0 ||
                 strcmp(hdr.parent.image_id, img->id) != 0 ||
                 hdr.parent.snap_id != snap_id))
    r = -ESTALE; /* flattened, or a link left by a crash */
  if (r == 0 && (r = image_dir_name(io->pool, id, name)) == -ENOENT) {
    snprintf(name, sizeof name, "%s (in the trash)", id);
    r = 0;
  }
  if (r == 0) {
    size_t n = strlen(io->pool_name) + strlen(ns) + strlen(name) + 3;
    if (!(*spec = malloc(n)))
      r = lbd_error(ENOMEM, "out of memory");
    else
      snprintf(*spec, n, "%s/%s%s%s", io->pool_name, ns, *ns ? "/" : "", name);
  }
  lbd_ioctx_destroy(io);
  return r == -ENOENT ? -ESTALE : r;
}

int image_children_each(lbd_ioctx_t *parent_io, const char *parent_id,
                        uint64_t snap_id,
                        int (*fn)(int64_t pool, const char *ns,
                                  const char *id, void *arg),
                        void *arg)
{
  char prefix[64], after[OBJSTORE_MAX_OMAP_KEY + 1];
  int plen = snprintf(prefix, sizeof prefix, "%s.%016" PRIx64 ".", parent_id,
                      snap_id);
  snprintf(after, sizeof after, "%s", prefix);
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    r = objstore_omap_get(parent_io->pool, CHILDREN_OID, after, 64, &kvs, &n,
                          &more);
    if (r == -ENOENT) {
      lbd_error_clear();
      return 0;
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
      const char *rest = kvs[i].key + plen;
      char *end, id[IMAGE_ID_LEN + 1];
      if (strncmp(kvs[i].key, prefix, (size_t)plen) != 0) {
        more = false;
        break;
      }
      snprintf(after, sizeof after, "%s", kvs[i].key);
      int64_t pool = (int64_t)strtoull(rest, &end, 16);
      if (*end != '.' || strlen(end + 1) < IMAGE_ID_LEN + 1 ||
          end[1 + IMAGE_ID_LEN] != '.')
        continue; /* not a link of ours */
      memcpy(id, end + 1, IMAGE_ID_LEN);
      id[IMAGE_ID_LEN] = 0;
      r = fn(pool, end + 2 + IMAGE_ID_LEN, id, arg);
    }
    objstore_kv_free(kvs, n);
  }
  return r;
}

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

struct children {
  struct lbd_image *img;
  uint64_t snap_id;
  char **specs;
  size_t count;
};

static int add_child(int64_t pool, const char *ns, const char *id, void *arg)
{
  struct children *c = arg;
  char *spec = NULL;
  int r = child_spec(c->img, c->snap_id, pool, ns, id, &spec);
  if (r == -ESTALE) { /* best effort: the next listing tries again */
    char key[OBJSTORE_MAX_OMAP_KEY + 1];
    child_key(c->img->id, c->snap_id, pool, ns, id, key, sizeof key);
    objstore_omap_rm(c->img->io->pool, CHILDREN_OID, key);
    lbd_error_clear();
    return 0;
  }
  char **p = r == 0 ? realloc(c->specs, (c->count + 1) * sizeof *p) : NULL;
  if (r == 0 && !p)
    r = lbd_error(ENOMEM, "out of memory");
  if (r < 0) {
    free(spec);
    return r;
  }
  c->specs = p;
  p[c->count++] = spec;
  return 0;
}

int image_children_list(struct lbd_image *img, uint64_t snap_id,
                        char ***specs, size_t *count)
{
  struct children c = {img, snap_id, NULL, 0};
  int r = image_children_each(img->io, img->id, snap_id, add_child, &c);
  if (r < 0) {
    lbd_names_free(c.specs, c.count);
    *specs = NULL;
    *count = 0;
    return r;
  }
  if (c.count > 1)
    qsort(c.specs, c.count, sizeof *c.specs, name_cmp);
  *specs = c.specs;
  *count = c.count;
  return 0;
}

int lbd_list_children(lbd_image_t *img, const char *snap, char ***children,
                      size_t *count)
{
  lbd_error_clear();
  uint64_t snap_id = img->snap_id;
  int r = 0;
  if (snap) {
    struct lbd_snap_info info;
    if ((r = image_snap_lookup(img->io->pool, img->header_oid, snap,
                               &info)) == -ENOENT)
      r = lbd_error(ENOENT, "image %s has no snapshot %s", img->name, snap);
    snap_id = info.id;
  } else if (snap_id == OBJSTORE_SNAP_HEAD) {
    r = lbd_error(EINVAL, "clones are made of snapshots: name one "
                  "(image@snap)");
  }
  if (r == 0)
    r = image_children_list(img, snap_id, children, count);
  return r < 0 ? lbd_error_prefix(r, "listing the clones of %s", img->name)
               : 0;
}

/* ---- clone ------------------------------------------------------------ */

int lbd_clone(lbd_ioctx_t *parent_io, const char *parent, const char *snap,
              lbd_ioctx_t *io, const char *name,
              const struct lbd_image_options *opts)
{
  lbd_error_clear();
  lbd_image_t *p;
  int r = image_check_name("snapshot name", snap ? snap : "");
  if (r == 0)
    r = lbd_open(parent_io, parent, snap, LBD_OPEN_READ_ONLY, &p);
  if (r < 0)
    return lbd_error_prefix(r, "cloning %s@%s", parent, snap ? snap : "");
  struct lbd_snap_info info;
  struct image_parent link = {.pool_id = parent_io->pool_id,
                              .snap_id = p->snap_id,
                              .overlap = p->hdr.size};
  snprintf(link.ns, sizeof link.ns, "%s", parent_io->ns);
  snprintf(link.image_id, sizeof link.image_id, "%s", p->id);
  r = image_snap_lookup(parent_io->pool, p->header_oid, snap, &info);
  if (r == 0 && !info.protected_)
    r = lbd_error(EINVAL, "snapshot %s@%s is not protected: protect it first "
                  "('lbd snap protect %s@%s')", parent, snap, parent, snap);
  if (r == 0 && !(p->hdr.features & LBD_FEATURE_LAYERING))
    r = lbd_error(EINVAL, "image %s lacks feature layering: it cannot be "
                  "cloned", parent);
  struct lbd_image_options o = *opts;
  o.size = p->hdr.size;
  if (!o.object_size)
    o.object_size = p->hdr.layout.object_size;
  if (r == 0)
    r = image_create(io, name, &o, &link, parent_io);
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", r < 0 ? lbd_last_error() : "");
  lbd_close(p); /* clears the message */
  return r < 0 ? lbd_error(r, "cloning %s@%s to %s: %s", parent, snap, name,
                           msg)
               : 0;
}

int lbd_get_parent(lbd_image_t *img, struct lbd_parent_info *info)
{
  lbd_error_clear();
  memset(info, 0, sizeof *info);
  if (!img->backing || image_migrating(img) ||
      image_parent_is_source(&img->hdr))
    return lbd_error(ENOENT, "image %s has no parent", img->name);
  const struct image_parent *pa = &img->hdr.parent;
  lbd_ioctx_t *io;
  int r = image_ioctx_by_id(img->io->cluster, pa->pool_id, pa->ns, &io);
  if (r < 0)
    return lbd_error_prefix(r, "the parent of %s", img->name);
  snprintf(info->pool, sizeof info->pool, "%s", io->pool_name);
  snprintf(info->ns, sizeof info->ns, "%s", pa->ns);
  snprintf(info->image_id, sizeof info->image_id, "%s", pa->image_id);
  if (image_dir_name(io->pool, pa->image_id, info->image) < 0)
    snprintf(info->image, sizeof info->image, "%s", pa->image_id);
  info->snap_id = pa->snap_id;
  info->overlap = pa->overlap;
  struct lbd_snap_info *snaps;
  size_t n;
  char oid[64];
  snprintf(oid, sizeof oid, IMAGE_HEADER_PREFIX "%s", pa->image_id);
  if ((r = image_snaps_read(io->pool, oid, &snaps, &n)) == 0) {
    for (size_t i = 0; i < n; i++)
      if (snaps[i].id == pa->snap_id)
        snprintf(info->snap, sizeof info->snap, "%s", snaps[i].name);
    free(snaps);
  }
  lbd_ioctx_destroy(io);
  return r < 0 ? lbd_error_prefix(r, "the parent of %s", img->name) : 0;
}

/* ---- flatten ---------------------------------------------------------- */

#define PREFETCH_WINDOW(threads) (2 * (uint64_t)(threads))

struct flatten {
  struct lbd_image *img;
  unsigned flags, threads;
  uint64_t overlap;
  pthread_mutex_t mu;
  uint64_t next, done, count;
  int error;
  char message[LBD_ERROR_MAX];
  lbd_progress_fn_t progress;
  void *arg;
};

static void *flatten_worker(void *arg)
{
  struct flatten *f = arg;
  for (;;) {
    pthread_mutex_lock(&f->mu);
    uint64_t objectno = f->next++;
    bool stop = f->error || objectno >= f->count;
    pthread_mutex_unlock(&f->mu);
    if (stop)
      return NULL;
    /* The backing's store reads ahead of the copy-ups, a window of twice
     * the objects in flight (the first window: image_copyup_all). */
    image_backing_prefetch(f->img, objectno + PREFETCH_WINDOW(f->threads),
                           f->overlap);
    int r = image_copyup_object(f->img, objectno, f->flags);
    pthread_mutex_lock(&f->mu);
    f->done++;
    if (r == 0 && f->progress && f->progress(f->done, f->count, f->arg))
      r = lbd_error(ECANCELED, "stopped");
    if (r < 0 && !f->error) {
      f->error = r;
      snprintf(f->message, sizeof f->message, "%s", lbd_last_error());
    }
    pthread_mutex_unlock(&f->mu);
  }
}

int image_copyup_all(struct lbd_image *img, uint64_t overlap,
                     unsigned threads, unsigned flags,
                     lbd_progress_fn_t progress, void *arg)
{
  struct flatten f = {.img = img, .flags = flags, .progress = progress,
                      .arg = arg,
                      .count = striping_object_count(&img->hdr.layout,
                                                     overlap)};
  pthread_mutex_init(&f.mu, NULL);
  if (threads < 1)
    threads = 1;
  if (threads > 64)
    threads = 64;
  f.threads = threads;
  f.overlap = overlap;
  for (uint64_t o = 0; o < f.count && o < PREFETCH_WINDOW(threads); o++)
    image_backing_prefetch(img, o, overlap);
  pthread_t tids[64];
  size_t started = 0;
  for (; started < threads && started < f.count; started++)
    if (pthread_create(&tids[started], NULL, flatten_worker, &f) != 0)
      break;
  if (started == 0 && f.count)
    flatten_worker(&f);
  for (size_t i = 0; i < started; i++)
    pthread_join(tids[i], NULL);
  pthread_mutex_destroy(&f.mu);
  if (f.error)
    return lbd_error(f.error, "%s", f.message);
  return 0;
}

/* Drop the parent link: the header first (guarded), then the registry. */
static int flatten_unlink(struct lbd_image *img)
{
  for (int i = 0; i < 100; i++) {
    struct image_header hdr;
    int r = image_header_read(img->io->pool, img->id, &hdr);
    if (r < 0)
      return r;
    if (hdr.parent.pool_id < 0)
      return 0;
    r = image_header_drop_parent(img->io->pool, img->id, &hdr);
    if (r == -ECANCELED)
      continue;
    if (r == 0)
      r = image_child_unlink(img->io->cluster, &hdr, img->io->pool_id,
                             img->io->ns, img->id);
    return r;
  }
  return lbd_error(EAGAIN, "the header of image %s keeps changing", img->name);
}

int lbd_flatten(lbd_image_t *img, lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  int r = 0;
  if (img->read_only)
    r = lbd_error(EROFS, "image %s is open read-only", img->name);
  if (r == 0)
    r = image_acquire_lock(img);
  if (r == 0 && img->hdr.migration.role == IMAGE_MIGRATION_TARGET)
    r = lbd_error(EBUSY, "image %s is being migrated: 'lbd migration "
                  "execute' copies its data", img->name);
  if (r == 0 && (img->hdr.parent.pool_id < 0 || !img->backing))
    r = lbd_error(EINVAL, "image %s is not a clone: nothing to flatten",
                  img->name);
  if (r == 0 && img->snapc.nsnaps &&
      !(img->hdr.features & LBD_FEATURE_DEEP_FLATTEN))
    r = lbd_error(EINVAL, "image %s has snapshots and lacks feature "
                  "deep-flatten: its snapshots would still need the parent; "
                  "remove them first", img->name);
  if (r < 0)
    return lbd_error_prefix(r, "flattening %s", img->name);
  pthread_rwlock_rdlock(&img->io_lock);
  uint64_t overlap = img->hdr.parent.overlap; /* snapshots may read more */
  if (image_copyup_history(img) && image_snap_overlap_max(img) > overlap)
    overlap = image_snap_overlap_max(img);
  r = image_copyup_all(img, overlap, FLATTEN_THREADS, 0, progress, arg);
  pthread_rwlock_unlock(&img->io_lock);
  if (r == 0)
    r = flatten_unlink(img);
  if (r == 0) {
    struct image_header hdr;
    r = image_header_read(img->io->pool, img->id, &hdr);
    pthread_rwlock_wrlock(&img->io_lock);
    if (r == 0) {
      pthread_mutex_lock(&img->mu);
      img->hdr = hdr;
      pthread_mutex_unlock(&img->mu);
      image_backing_close(img);
    }
    pthread_rwlock_unlock(&img->io_lock);
  }
  return r < 0 ? lbd_error_prefix(r, "flattening %s", img->name) : 0;
}
