/* Image IO: byte ranges of the image, split by striping into pieces of
 * objects, each read or written with one object op. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/backing.h"
#include "image/copyup.h"
#include "util/extents.h"
#include "image/image.h"
#include "util/error.h"

void image_data_oid(const struct lbd_image *img, uint64_t objectno,
                    char *buf, size_t size)
{
  snprintf(buf, size, IMAGE_DATA_PREFIX "%s.%016" PRIx64, img->id, objectno);
}

static int data_oid_of(const char *id, uint64_t objectno, char *buf,
                       size_t size)
{
  return snprintf(buf, size, IMAGE_DATA_PREFIX "%s.%016" PRIx64, id, objectno);
}

struct io_ctx {
  struct lbd_image *img;
  char *buf;
  uint64_t base; /* image offset of buf[0] */
  uint64_t snap;
};

/* The parent overlap the handle reads under (0: no backing). */
static uint64_t image_overlap(const struct lbd_image *img)
{
  return img->backing ? img->hdr.parent.overlap : 0;
}

static int read_piece(const struct object_extent *e, void *arg)
{
  struct io_ctx *c = arg;
  char oid[96];
  char *dst = c->buf + (e->image_off - c->base);
  ssize_t n = -ENOENT;
  /* The map is exact while we hold the lock: no need to ask the store
   * (but a migration copies objects in without it). */
  if (!c->img->omap || c->snap != OBJSTORE_SNAP_HEAD ||
      c->img->map_untrusted ||
      image_object_map_get(c->img, e->objectno) != OBJECT_NONEXISTENT) {
    image_data_oid(c->img, e->objectno, oid, sizeof oid);
    n = objstore_read(c->img->data, oid, c->snap, e->off, e->len, dst);
  }
  if (n == -ENOENT) { /* not here: the backing's bytes, or zeroes */
    lbd_error_clear();
    return image_backing_read(c->img, c->img->snap_id, image_overlap(c->img),
                              e->image_off, e->len, dst);
  }
  if (n < 0)
    return (int)n;
  if ((uint64_t)n < e->len)
    memset(dst + n, 0, e->len - (uint64_t)n);
  return 0;
}

static int image_check_range(struct lbd_image *img, uint64_t off, uint64_t len,
                             const char *what)
{
  if (off > img->hdr.size || len > img->hdr.size - off)
    return lbd_error(EINVAL, "%s of %" PRIu64 " bytes at %" PRIu64 " goes past "
                     "the end of image %s (%" PRIu64 " bytes)", what, len, off,
                     img->name, img->hdr.size);
  return 0;
}

static int prefetch_piece(const struct object_extent *e, void *arg)
{
  struct lbd_image *img = arg;
  char oid[96];
  image_data_oid(img, e->objectno, oid, sizeof oid);
  objstore_prefetch(img->data, oid, img->snap_id, e->off, e->len);
  return 0;
}

void image_prefetch(struct lbd_image *img, uint64_t off, uint64_t len)
{
  pthread_mutex_lock(&img->mu);
  uint64_t size = img->hdr.size;
  pthread_mutex_unlock(&img->mu);
  if (off >= size)
    return;
  striping_map(&img->hdr.layout, off, size - off < len ? size - off : len,
               prefetch_piece, img);
}

/* A sequential reader will read the object after the one this read ends
 * in: have the store start reading it before this read waits for its own
 * (the kernel's readahead stops at the end of each object's file). */
static void prefetch_next(struct lbd_image *img, uint64_t off, uint64_t len,
                          uint64_t size)
{
  const struct striping *l = &img->hdr.layout;
  uint64_t end = off + len;
  bool sequential = atomic_exchange(&img->read_next, end) == off;
  uint64_t next = (end + l->object_size - 1) / l->object_size;
  if (!sequential || l->stripe_count != 1 || len < l->object_size / 4 ||
      next * l->object_size >= size)
    return;
  image_prefetch(img, next * l->object_size, l->object_size);
}

ssize_t lbd_read(lbd_image_t *img, uint64_t off, size_t len, void *buf)
{
  lbd_error_clear();
  pthread_mutex_lock(&img->mu);
  uint64_t size = img->hdr.size;
  pthread_mutex_unlock(&img->mu);
  /* Past the end this handle knows: another may have grown the image. */
  if (off + len > size && img->snap_id == OBJSTORE_SNAP_HEAD &&
      !img->lock_held)
    size = image_refresh_size(img);
  if (off >= size)
    return 0;
  if (len > size - off)
    len = (size_t)(size - off);
  struct io_ctx c = {img, buf, off, img->snap_id};
  pthread_rwlock_rdlock(&img->io_lock);
  prefetch_next(img, off, len, size);
  int r = striping_map(&img->hdr.layout, off, len, read_piece, &c);
  pthread_rwlock_unlock(&img->io_lock);
  return r < 0 ? lbd_error_prefix(r, "reading image %s", img->name)
               : (ssize_t)len;
}

/* With an object map, a map update and its data op go together. */
static pthread_mutex_t *object_guard(struct lbd_image *img, uint64_t objectno)
{
  if (!img->omap)
    return NULL;
  pthread_mutex_t *m = &img->obj_mu[objectno % 64];
  pthread_mutex_lock(m);
  return m;
}

static void object_unguard(pthread_mutex_t *m)
{
  if (m)
    pthread_mutex_unlock(m);
}

/* ---- changing one object, copying it up from the backing first -------- */

/* Run P on an object that exists: ENOENT if it does not. */
static int piece_on_existing(struct lbd_image *img, const char *oid,
                             const struct piece_op *p)
{
  if (p->kind == PIECE_COPYUP) {
    struct objstore_stat st;
    return objstore_stat(img->data, oid, OBJSTORE_SNAP_HEAD, &st);
  }
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  image_piece_step(op, p);
  int r = objstore_write_op_operate(img->data, oid, op, image_snapc(img), 0);
  objstore_write_op_free(op);
  return r;
}

/* Whether object OBJECTNO, if missing, takes anything from the backing:
 * at the head, or (with history) at any snapshot. */
static bool object_needs_copyup(const struct lbd_image *img, uint64_t objectno)
{
  return image_backing_covers(img, objectno, image_overlap(img)) ||
         (image_copyup_history(img) &&
          image_backing_covers(img, objectno, image_snap_overlap_max(img)));
}

/* Apply P to object OBJECTNO of an image with a backing that covers it:
 * in place if the object is here, else by copy-up; a copy-up that loses
 * the race to another writer retries in place.  ABSENT: the caller
 * expects the object to be missing (try the copy-up first). */
static int object_modify_as(struct lbd_image *img, uint64_t objectno,
                            const struct piece_op *p, bool absent)
{
  char oid[96];
  image_data_oid(img, objectno, oid, sizeof oid);
  pthread_mutex_t *guard = object_guard(img, objectno);
  absent = absent ||
           (img->omap && !img->map_untrusted &&
            image_object_map_get(img, objectno) == OBJECT_NONEXISTENT);
  int r = image_object_map_set(img, objectno, OBJECT_EXISTS);
  if (r == 0 && !absent)
    absent = (r = piece_on_existing(img, oid, p)) == -ENOENT;
  /* With a history: if only snapshot clones of the object are left (it
   * was rolled back to a snapshot that lacked it), copy up its head. */
  for (int history = image_copyup_history(img); absent && history >= 0;
       history--) {
    lbd_error_clear();
    r = image_copyup(img, objectno, oid, p, history);
    if (r == 1) /* nothing to copy: the object stays missing */
      r = image_object_map_set(img, objectno, OBJECT_NONEXISTENT);
    if (r == -EEXIST) {
      lbd_error_clear();
      r = piece_on_existing(img, oid, p);
    }
    absent = r == -ENOENT;
  }
  object_unguard(guard);
  return r;
}

static int object_modify(struct lbd_image *img, uint64_t objectno,
                         const struct piece_op *p)
{
  return object_modify_as(img, objectno, p, false);
}

/* 1 if the backing may hold data in [OFF, OFF+LEN) at SNAP, 0 if not
 * (OWN: of its own, backing.h). */
static int backing_range_has_data(struct image_backing *b, uint64_t snap,
                                  uint64_t off, uint64_t len, bool own)
{
  if (b->ops->may_have_data)
    return b->ops->may_have_data(b, snap, off, len, own);
  struct extent_set found = {0};
  int r = b->ops->extents(b, snap, off, len, &found);
  bool any = found.n > 0;
  extent_set_free(&found);
  return r < 0 ? r : any;
}

/* Whether the backing may hold data for object OBJECTNO, at the head or
 * (with history) at a snapshot: else a copy-up would read only zeroes.
 * (An object of all zeroes counts: the copy-up finds it empty.)  OWN: of
 * its own (a parent of the backing's that the image will read itself
 * does not count). */
static int backing_has_data(struct lbd_image *img, uint64_t objectno,
                            bool own)
{
  const struct striping *l = &img->hdr.layout;
  uint64_t span = l->stripe_count == 1 ? l->object_size : l->stripe_unit;
  size_t nsnaps = image_copyup_history(img) ? img->snapc.nsnaps : 0;
  int r = 0;
  for (size_t i = 0; r == 0 && i <= nsnaps; i++) {
    uint64_t snap = i < nsnaps ? img->snap_ids[i] : OBJSTORE_SNAP_HEAD;
    uint64_t overlap = i < nsnaps ? img->snap_overlaps[i] : image_overlap(img);
    for (uint64_t o = 0; r == 0 && o < l->object_size; o += span) {
      uint64_t off = striping_image_offset(l, objectno, o);
      if (off < overlap)
        r = backing_range_has_data(img->backing, snap, off,
                                   overlap - off < span ? overlap - off
                                                        : span,
                                   own);
    }
  }
  return r;
}

int image_copyup_object(struct lbd_image *img, uint64_t objectno,
                        unsigned flags)
{
  if (!object_needs_copyup(img, objectno))
    return 0;
  bool own = (flags & IMAGE_COPYUP_OWN) && img->backing->keeps_parent;
  int any = img->hdr.thick ? 1 : backing_has_data(img, objectno, own);
  if (any <= 0) /* nothing to copy (or an error) */
    return any;
  struct piece_op p = {PIECE_COPYUP, 0, 0, NULL};
  return object_modify_as(img, objectno, &p, flags & IMAGE_COPYUP_FRESH);
}

/* ---- writes, discards --------------------------------------------------- */

static int write_piece(const struct object_extent *e, void *arg)
{
  struct io_ctx *c = arg;
  const char *src = c->buf + (e->image_off - c->base);
  if (object_needs_copyup(c->img, e->objectno)) {
    struct piece_op p = {PIECE_WRITE, e->off, e->len, src};
    return object_modify(c->img, e->objectno, &p);
  }
  char oid[96];
  pthread_mutex_t *guard = object_guard(c->img, e->objectno);
  int r = image_object_map_set(c->img, e->objectno, OBJECT_EXISTS);
  image_data_oid(c->img, e->objectno, oid, sizeof oid);
  if (r == 0)
    r = objstore_write(c->img->data, oid, image_snapc(c->img), e->off, src,
                       e->len);
  object_unguard(guard);
  return r;
}

static int begin_write(struct lbd_image *img, uint64_t off, uint64_t len,
                       const char *what)
{
  if (img->read_only)
    return lbd_error(EROFS, "image %s is open read-only", img->name);
  int r = image_acquire_lock(img);
  if (r < 0)
    return r;
  pthread_mutex_lock(&img->mu);
  r = image_check_range(img, off, len, what);
  pthread_mutex_unlock(&img->mu);
  return r;
}

ssize_t lbd_write(lbd_image_t *img, uint64_t off, size_t len, const void *buf)
{
  lbd_error_clear();
  int r = begin_write(img, off, len, "write");
  if (r < 0)
    return r;
  struct io_ctx c = {img, (char *)buf, off, OBJSTORE_SNAP_HEAD};
  pthread_rwlock_rdlock(&img->io_lock);
  r = striping_map(&img->hdr.layout, off, len, write_piece, &c);
  pthread_rwlock_unlock(&img->io_lock);
  return r < 0 ? lbd_error_prefix(r, "writing image %s", img->name)
               : (ssize_t)len;
}

/* Remove data object OBJECTNO, keeping the object map exact. */
static int remove_object_plain(struct lbd_image *img, uint64_t objectno)
{
  pthread_mutex_t *guard = object_guard(img, objectno);
  int r = 0;
  if (!img->omap || image_object_map_get(img, objectno) != OBJECT_NONEXISTENT) {
    char oid[96];
    image_data_oid(img, objectno, oid, sizeof oid);
    r = image_object_map_set(img, objectno, OBJECT_PENDING);
    if (r == 0 &&
        (r = objstore_remove(img->data, oid, image_snapc(img))) == -ENOENT)
      r = 0;
    if (r == 0)
      r = image_object_map_set(img, objectno, OBJECT_NONEXISTENT);
  }
  object_unguard(guard);
  return r;
}

/* Make object OBJECTNO read as zeroes: removed, or, where a missing object
 * would read the backing, empty. */
static int remove_object(struct lbd_image *img, uint64_t objectno)
{
  if (!object_needs_copyup(img, objectno))
    return remove_object_plain(img, objectno);
  struct piece_op p = {PIECE_EMPTY, 0, 0, NULL};
  return object_modify(img, objectno, &p);
}

/* Make a piece read as zeroes: remove a whole object, truncate a tail,
 * punch a hole elsewhere.  A missing object stays missing (unless the
 * backing has data there: then it is copied up first). */
static int discard_piece(const struct object_extent *e, void *arg)
{
  struct io_ctx *c = arg;
  uint64_t os = c->img->hdr.layout.object_size;
  if (e->off == 0 && e->len == os)
    return remove_object(c->img, e->objectno);
  struct piece_op p = {e->off + e->len == os ? PIECE_TRUNCATE : PIECE_ZERO,
                       e->off, e->len, NULL};
  if (object_needs_copyup(c->img, e->objectno))
    return object_modify(c->img, e->objectno, &p);
  char oid[96];
  image_data_oid(c->img, e->objectno, oid, sizeof oid);
  int r = 0;
  pthread_mutex_t *guard = object_guard(c->img, e->objectno);
  if (!c->img->omap ||
      image_object_map_get(c->img, e->objectno) != OBJECT_NONEXISTENT)
    r = piece_on_existing(c->img, oid, &p);
  object_unguard(guard);
  if (r == -ENOENT) {
    lbd_error_clear();
    r = 0;
  }
  return r;
}

/* Remove the objects of every object set wholly inside [OFF, OFF+LEN);
 * narrow the range to what is left at both ends. */
static int discard_whole_sets(struct lbd_image *img, uint64_t *off,
                              uint64_t *len)
{
  const struct striping *l = &img->hdr.layout;
  uint64_t set = l->object_size * l->stripe_count;
  uint64_t first = (*off + set - 1) / set, end = (*off + *len) / set;
  if (first >= end || l->stripe_count == 1)
    return 0; /* unstriped: discard_piece sees whole objects itself */
  for (uint64_t s = first; s < end; s++) {
    for (uint64_t i = 0; i < l->stripe_count; i++) {
      int r = remove_object(img, s * l->stripe_count + i);
      if (r < 0)
        return r;
    }
  }
  lbd_error_clear();
  /* Pieces before the first whole set are done by the caller; the tail
   * after the last one too: discard them as two ranges. */
  uint64_t head_end = first * set, tail = end * set;
  struct io_ctx c = {img, NULL, tail, OBJSTORE_SNAP_HEAD};
  int r = striping_map(l, tail, *off + *len - tail, discard_piece, &c);
  if (r < 0)
    return r;
  *len = head_end - *off;
  return 0;
}

int lbd_discard(lbd_image_t *img, uint64_t off, uint64_t len)
{
  lbd_error_clear();
  int r = begin_write(img, off, len, "discard");
  if (r < 0)
    return r;
  pthread_rwlock_rdlock(&img->io_lock);
  if ((r = discard_whole_sets(img, &off, &len)) == 0) {
    struct io_ctx c = {img, NULL, off, OBJSTORE_SNAP_HEAD};
    r = striping_map(&img->hdr.layout, off, len, discard_piece, &c);
  }
  pthread_rwlock_unlock(&img->io_lock);
  return r < 0 ? lbd_error_prefix(r, "discarding in image %s", img->name) : 0;
}

int lbd_write_zeroes(lbd_image_t *img, uint64_t off, uint64_t len)
{
  /* Holes read as zeroes on every backend: zeroing is discarding. */
  return lbd_discard(img, off, len);
}

int lbd_flush(lbd_image_t *img)
{
  lbd_error_clear();
  int r = objstore_flush(img->data);
  if (r == 0)
    r = objstore_flush(img->io->pool);
  return r < 0 ? lbd_error_prefix(r, "flushing image %s", img->name) : 0;
}

int image_remove_objects(struct objstore_pool *data, const char *id,
                         uint64_t first, const struct objstore_snapc *snapc,
                         lbd_progress_fn_t progress, void *arg,
                         uint64_t total)
{
  /* Data object names sort by object number (fixed-width hex), so the
   * objects at or past FIRST are one range of the sorted listing: only
   * objects that exist are visited. */
  char prefix[64], after[96];
  int plen = snprintf(prefix, sizeof prefix, IMAGE_DATA_PREFIX "%s.", id);
  if (first == 0)
    snprintf(after, sizeof after, "%s", prefix);
  else
    data_oid_of(id, first - 1, after, sizeof after);
  const char *ns = objstore_pool_ns(data);
  bool more = true;
  while (more) {
    struct objstore_list_entry *e;
    size_t n;
    int r = objstore_list(data, 0, ns, after, 256, &e, &n, &more);
    if (r < 0)
      return r;
    size_t i;
    for (i = 0; i < n && r == 0; i++) {
      if (strncmp(e[i].name, prefix, (size_t)plen) != 0) {
        more = false;
        break;
      }
      r = objstore_remove(data, e[i].name, snapc);
      if (r == -ENOENT)
        r = 0;
      snprintf(after, sizeof after, "%s", e[i].name);
      uint64_t objectno = strtoull(e[i].name + plen, NULL, 16);
      if (r == 0 && progress && progress(objectno + 1 < total ? objectno + 1
                                                              : total,
                                         total, arg))
        r = lbd_error(ECANCELED, "stopped");
    }
    objstore_list_free(e, n);
    if (r < 0)
      return r;
  }
  lbd_error_clear();
  return 0;
}

/* The parent overlap snapshot SNAPID of IMG reads under. */
static uint64_t snap_overlap_of(const struct lbd_image *img, uint64_t snapid)
{
  for (size_t i = 0; i < img->snapc.nsnaps; i++)
    if (img->snap_ids[i] == snapid)
      return img->snap_overlaps[i];
  return image_overlap(img);
}

/* Whether object OBJECTNO, absent at snapshot SNAPID, read there bytes of
 * the backing that a missing object at the head would not read: those of
 * another source snapshot (a migration target's), or under an overlap
 * that has shrunk since. */
static bool rollback_reads_backing(const struct lbd_image *img,
                                   uint64_t objectno, uint64_t snapid)
{
  const struct striping *l = &img->hdr.layout;
  uint64_t so = snap_overlap_of(img, snapid);
  if (!image_backing_covers(img, objectno, so))
    return false;
  if (img->hdr.migration.role == IMAGE_MIGRATION_TARGET)
    return true;
  uint64_t last = striping_image_offset(l, objectno, l->object_size - 1);
  return so > image_overlap(img) && last >= image_overlap(img);
}

int image_rollback_object(struct lbd_image *img, uint64_t objectno,
                          uint64_t snapid, void *buf)
{
  char oid[96];
  uint64_t os = img->hdr.layout.object_size;
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  image_data_oid(img, objectno, oid, sizeof oid);
  ssize_t got = objstore_sparse_read(img->data, oid, snapid, 0, os, buf, &ext,
                                     &n);
  if (got == -ENOENT) { /* absent at the snapshot (a clone: its parent's) */
    lbd_error_clear();
    if (!rollback_reads_backing(img, objectno, snapid))
      return remove_object_plain(img, objectno);
    /* The head would not read what the snapshot read: the backing's bytes
     * as the snapshot saw them become the object.  With a history, the
     * object is copied up first: its snapshots keep their bytes without
     * the backing (after flatten or commit). */
    int e = image_copyup_history(img) ? image_copyup_object(img, objectno, 0)
                                      : 0;
    if (e == 0)
      e = image_backing_read_object(img, snapid, objectno,
                                    snap_overlap_of(img, snapid), buf, &ext,
                                    &n);
    if (e < 0)
      return e;
    got = (ssize_t)os;
  }
  if (got < 0)
    return (int)got;
  /* One all-or-nothing op: the object as it was, holes kept. */
  struct objstore_write_op *op = objstore_write_op_new();
  int r = op ? 0 : lbd_error(ENOMEM, "out of memory");
  if (op) {
    objstore_write_op_create(op, false);
    objstore_write_op_truncate(op, 0);
    for (size_t i = 0; i < n; i++)
      objstore_write_op_write(op, ext[i].off, (char *)buf + ext[i].off,
                              ext[i].len);
    objstore_write_op_truncate(op, (uint64_t)got);
  }
  pthread_mutex_t *guard = object_guard(img, objectno);
  if (r == 0)
    r = image_object_map_set(img, objectno, OBJECT_EXISTS);
  if (r == 0)
    r = objstore_write_op_operate(img->data, oid, op, image_snapc(img), 0);
  object_unguard(guard);
  objstore_write_op_free(op);
  free(ext);
  return r;
}
