/* Changed extents of an image (rbd diff, librbd's diff_iterate2).
 *
 * The image is walked one object set (stripe period) at a time, so that
 * what is reported comes in image order: the objects of a set are examined,
 * their extents mapped back to image offsets through the striping, sorted,
 * and coalesced with their neighbours before the callback hears them.
 *
 * For each object, what it holds at the end version comes from a sparse
 * read there (or, for the head while the exclusive lock is held, from the
 * object map when the object does not exist).  With a start snapshot, the
 * object's snap set says which extents stayed the same: each clone's
 * overlap lists the extents identical in it and the next newer clone (or
 * the head), so the extents in every overlap from the start's clone up to
 * the end's are unchanged.  The rest is reported as data where the end
 * holds data, and as zero where only the start did.
 *
 * Which objects are examined: from the beginning of time at the head, the
 * data objects that exist (the object map, else a sorted listing); else
 * every object of the range, since one may exist only in a snapshot. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/backing.h"
#include "image/diff.h"
#include "image/image_scan.h"
#include "util/error.h"
#include "util/extents.h"
#include "util/vector.h"

struct diff_piece {
  uint64_t off, len;
  bool exists;
};
DEFINE_VECTOR(piece_vec, struct diff_piece);

struct diff {
  struct lbd_image *img;
  struct striping l;
  uint64_t from_id;         /* 0: from the beginning of time */
  uint64_t end_id;          /* img->snap_id */
  uint64_t off, end;        /* the image range reported */
  uint64_t first_obj, end_obj; /* the objects examined: [first, end) */
  bool whole_object;
  bool existence;           /* IMAGE_DIFF_EXISTENCE */
  struct extent_set parent; /* image extents read from the parent */
  bool source;              /* a migration target's source counts */
  uint64_t start_overlap;   /* what the start snapshot read of it */
  struct piece_vec set;     /* pieces of the object set being examined */
  uint64_t set_no;
  struct diff_piece pending; /* coalesced, not yet reported */
  bool have_pending;
  bool past_range;          /* the listing went past the range */
  lbd_diff_cb_t cb;
  void *arg;
};

/* What an object holds at one version. */
struct obj_state {
  bool exists;
  struct extent_set data; /* object offsets holding data */
};

/* ---- the parent hook --------------------------------------------------- */

/* THE ONE PLACE where a backing enters the diff: D->parent becomes the
 * image extents of [D->off, D->end) that the image, at its end version,
 * reads from its backing (a clone's parent snapshot, or a migration
 * target's source) where the backing holds data, below the overlap.  As
 * librbd, only a diff from the beginning of time with INCLUDE_PARENT looks
 * at a parent; a migration target's source counts in any diff but with
 * OWN_DATA (du: it is not the target's yet).  The
 * walk then examines every object of the range and reports those extents
 * as data in the objects the image lacks at its end version. */
static int diff_parent_extents(struct diff *d, unsigned flags)
{
  d->parent.n = 0;
  /* A migration target's source is its data, and may differ between two
   * snapshots: count it all (a superset), unless only own objects count. */
  bool source = image_migrating(d->img) && !(flags & IMAGE_DIFF_OWN_DATA);
  bool parent = (flags & IMAGE_DIFF_INCLUDE_PARENT) && !d->from_id;
  if (!d->img->backing || !(source || parent))
    return 0;
  d->source = source;
  return image_backing_extents(d->img, d->img->hdr.parent.overlap, d->off,
                               d->end - d->off, &d->parent);
}

/* ---- reporting, in image order ------------------------------------------ */

static int report(struct diff *d, const struct diff_piece *p)
{
  int r = d->cb(p->off, p->len, p->exists, d->arg);
  if (r < 0 && !*lbd_last_error())
    lbd_error(r, "stopped by its callback (%s)", strerror(-r));
  return r;
}

/* Coalesce [OFF, OFF+LEN) (clipped to the range) into the pending piece. */
static int emit(struct diff *d, uint64_t off, uint64_t len, bool exists)
{
  uint64_t end = off + len;
  if (off < d->off)
    off = d->off;
  if (end > d->end)
    end = d->end;
  if (off >= end)
    return 0;
  struct diff_piece *p = &d->pending;
  if (d->have_pending && p->exists == exists && p->off + p->len == off) {
    p->len = end - p->off;
    return 0;
  }
  int r = d->have_pending ? report(d, p) : 0;
  d->have_pending = r == 0; /* a callback that said stop hears no more */
  if (r == 0)
    *p = (struct diff_piece){off, end - off, exists};
  return r;
}

static int piece_cmp(const void *a, const void *b)
{
  const struct diff_piece *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

/* Report the pieces of the object set examined last. */
static int flush_set(struct diff *d)
{
  if (d->set.len > 1)
    qsort(d->set.ptr, d->set.len, sizeof *d->set.ptr, piece_cmp);
  int r = 0;
  for (size_t i = 0; r == 0 && i < d->set.len; i++)
    r = emit(d, d->set.ptr[i].off, d->set.ptr[i].len, d->set.ptr[i].exists);
  d->set.len = 0;
  return r;
}

/* Add the image pieces of object extents S of OBJECTNO, one per stripe
 * unit (each is contiguous in the image). */
static int add_pieces(struct diff *d, uint64_t objectno,
                      const struct extent_set *s, bool exists)
{
  uint64_t su = d->l.stripe_unit;
  for (size_t i = 0; i < s->n; i++) {
    uint64_t o = s->ext[i].off, end = o + s->ext[i].len;
    while (o < end) {
      uint64_t unit_end = (o / su + 1) * su;
      uint64_t n = (unit_end < end ? unit_end : end) - o;
      struct diff_piece p = {striping_image_offset(&d->l, objectno, o), n,
                             exists};
      if (piece_vec_push(&d->set, p) < 0)
        return lbd_error(ENOMEM, "out of memory");
      o += n;
    }
  }
  return 0;
}

/* ---- one object ------------------------------------------------------- */

static void state_free(struct obj_state *s) { extent_set_free(&s->data); }

/* What OID holds at SNAP (a missing object: !exists). */
static int read_state(struct diff *d, const char *oid, uint64_t snap,
                      struct obj_state *st)
{
  struct objstore_extent *ext = NULL;
  size_t n = 0;
  ssize_t got = objstore_sparse_read(d->img->data, oid, snap, 0,
                                     d->l.object_size, NULL, &ext, &n);
  st->exists = got >= 0;
  if (got == -ENOENT) {
    lbd_error_clear();
    return 0;
  }
  if (got < 0)
    return (int)got;
  int r = 0;
  for (size_t i = 0; r == 0 && i < n; i++)
    r = extent_set_add(&st->data, ext[i].off, ext[i].len);
  free(ext);
  return r < 0 ? lbd_error(ENOMEM, "out of memory") : 0;
}

/* The clone of SET that serves SNAP (nclones: the head). */
static size_t clone_index(const struct objstore_snap_set *set, uint64_t snap)
{
  if (snap == OBJSTORE_SNAP_HEAD || snap > set->seq)
    return set->nclones;
  for (size_t i = 0; i < set->nclones; i++)
    if (set->clones[i].cloneid >= snap)
      return i;
  return set->nclones;
}

/* S = S ∩ (the extents of OVERLAP). */
static int intersect_overlap(struct extent_set *s,
                             const struct objstore_clone_info *c)
{
  struct extent_set o = {0}, out = {0};
  int r = 0;
  for (size_t i = 0; r == 0 && i < c->noverlap; i++)
    r = extent_set_add(&o, c->overlap[i].off, c->overlap[i].len);
  if (r == 0)
    r = extent_set_intersect(s, &o, &out);
  extent_set_free(&o);
  extent_set_free(s);
  *s = out;
  return r;
}

/* The extents of OID identical at the start and the end version (both of
 * which have the object). */
static int unchanged(struct diff *d, const char *oid, struct extent_set *same)
{
  struct objstore_snap_set set;
  int r = objstore_list_snaps(d->img->data, oid, &set);
  if (r == -ENOENT) { /* removed meanwhile: nothing is known the same */
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  size_t a = clone_index(&set, d->from_id), b = clone_index(&set, d->end_id);
  r = extent_set_add(same, 0, d->l.object_size);
  for (size_t k = a; r == 0 && k < b && k < set.nclones; k++)
    r = intersect_overlap(same, &set.clones[k]);
  objstore_snap_set_free(&set);
  return r < 0 ? lbd_error(ENOMEM, "out of memory") : 0;
}

/* A -= B. */
static int subtract(struct extent_set *a, const struct extent_set *b)
{
  int r = 0;
  for (size_t i = 0; r == 0 && i < b->n; i++)
    r = extent_set_subtract(a, b->ext[i].off, b->ext[i].len);
  return r < 0 ? lbd_error(ENOMEM, "out of memory") : 0;
}

/* Where the object, missing at the end version, reads its parent: the
 * parent extents inside its stripe units, as object extents. */
static int parent_part(struct diff *d, uint64_t objectno,
                       struct extent_set *out)
{
  uint64_t su = d->l.stripe_unit;
  int r = 0;
  for (uint64_t o = 0; r == 0 && d->parent.n && o < d->l.object_size;
       o += su) {
    uint64_t io = striping_image_offset(&d->l, objectno, o);
    struct extent_set clip = {0};
    r = extent_set_clip(&d->parent, io, su, &clip);
    for (size_t i = 0; r == 0 && i < clip.n; i++)
      r = extent_set_add(out, o + (clip.ext[i].off - io), clip.ext[i].len);
    extent_set_free(&clip);
  }
  return r < 0 ? lbd_error(ENOMEM, "out of memory") : 0;
}

/* What a migration target's source held at the start snapshot in the
 * stripe units of an object the target lacks at both ends: where it may
 * since have become zeroes. */
static int source_part_at_start(struct diff *d, uint64_t objectno,
                                struct extent_set *out)
{
  uint64_t su = d->l.stripe_unit;
  int r = 0;
  for (uint64_t o = 0; r == 0 && o < d->l.object_size; o += su) {
    uint64_t io = striping_image_offset(&d->l, objectno, o);
    struct extent_set found = {0};
    uint64_t ov = d->start_overlap; /* (the head's may be smaller) */
    if (io < ov)
      r = d->img->backing->ops->extents(d->img->backing, d->from_id, io,
                                        ov - io < su ? ov - io : su, &found);
    for (size_t i = 0; r == 0 && i < found.n; i++)
      r = extent_set_add(out, o + (found.ext[i].off - io), found.ext[i].len);
    extent_set_free(&found);
  }
  return r;
}

/* DATA and ZERO: the object extents of OID that changed, by what the end
 * version holds there. */
static int object_changes(struct diff *d, uint64_t objectno, const char *oid,
                          struct obj_state *end, struct extent_set *data,
                          struct extent_set *zero)
{
  struct obj_state start = {0};
  struct extent_set same = {0};
  int r = 0;
  if (d->from_id && (r = read_state(d, oid, d->from_id, &start)) == 0 &&
      start.exists && end->exists)
    r = unchanged(d, oid, &same);
  if (r == 0 && !end->exists && d->parent.n)
    r = parent_part(d, objectno, data);
  if (r == 0 && !end->exists && !start.exists && d->from_id && d->source)
    r = source_part_at_start(d, objectno, zero);
  for (size_t i = 0; r == 0 && i < end->data.n; i++)
    r = extent_set_add(data, end->data.ext[i].off, end->data.ext[i].len);
  for (size_t i = 0; r == 0 && i < start.data.n; i++)
    r = extent_set_add(zero, start.data.ext[i].off, start.data.ext[i].len);
  if (r == 0)
    r = subtract(zero, data);
  if (r == 0)
    r = subtract(data, &same);
  if (r == 0)
    r = subtract(zero, &same);
  if (r == 0 && d->whole_object && (data->n || zero->n)) {
    bool whole_data = end->exists || data->n;
    extent_set_free(data);
    extent_set_free(zero);
    r = extent_set_add(whole_data ? data : zero, 0, d->l.object_size);
  }
  state_free(&start);
  extent_set_free(&same);
  return r < 0 ? lbd_error(ENOMEM, "out of memory") : 0;
}

/* The object map's word on OBJECTNO at the head, if it has one: true if
 * the map is held and says the object exists. */
static bool map_known(const struct diff *d, bool *exists, uint64_t objectno)
{
  if (!d->img->omap || d->end_id != OBJSTORE_SNAP_HEAD)
    return false;
  *exists = image_object_map_get(d->img, objectno) != OBJECT_NONEXISTENT;
  return true;
}

/* Whether OID exists at the end version. */
static int object_exists(struct diff *d, const char *oid, bool *exists)
{
  struct objstore_stat st;
  int r = objstore_stat(d->img->data, oid, d->end_id, &st);
  *exists = r == 0;
  if (r == -ENOENT) {
    lbd_error_clear();
    r = 0;
  }
  return r;
}

/* Examine OBJECTNO (under io_lock, shared), adding its changed pieces. */
static int examine_object(struct diff *d, uint64_t objectno)
{
  char oid[96];
  struct obj_state end = {0};
  struct extent_set data = {0}, zero = {0};
  bool exists;
  int r = 0;
  image_data_oid(d->img, objectno, oid, sizeof oid);
  bool known = map_known(d, &exists, objectno);
  if (!known && d->existence && !d->from_id) {
    if ((r = object_exists(d, oid, &exists)) < 0)
      return r;
    known = true;
  }
  if (known && !exists && !d->from_id && !d->parent.n)
    return 0; /* nothing there, nothing before */
  if (known && exists && !d->from_id && (d->whole_object || d->existence)) {
    end.exists = true; /* the map says enough */
    r = extent_set_add(&data, 0, d->l.object_size);
  } else {
    if (!(known && !exists))
      r = read_state(d, oid, d->end_id, &end);
    if (r == 0)
      r = object_changes(d, objectno, oid, &end, &data, &zero);
  }
  if (r == 0)
    r = add_pieces(d, objectno, &data, true);
  if (r == 0)
    r = add_pieces(d, objectno, &zero, false);
  state_free(&end);
  extent_set_free(&data);
  extent_set_free(&zero);
  return r;
}

/* Visit OBJECTNO, reporting the previous object set first if it is done. */
static int visit(struct diff *d, uint64_t objectno)
{
  uint64_t set_no = objectno / d->l.stripe_count;
  int r = 0;
  if (set_no != d->set_no) {
    r = flush_set(d);
    d->set_no = set_no;
  }
  if (r != 0)
    return r;
  pthread_rwlock_rdlock(&d->img->io_lock);
  r = examine_object(d, objectno);
  pthread_rwlock_unlock(&d->img->io_lock);
  return r;
}

/* ---- which objects ------------------------------------------------------ */

static int visit_listed(uint64_t objectno, const char *oid, void *arg)
{
  struct diff *d = arg;
  (void)oid;
  if (objectno >= d->end_obj) {
    d->past_range = true;
    return 1; /* past the range: done */
  }
  return objectno < d->first_obj ? 0 : visit(d, objectno);
}

enum { DIFF_LIST_MIN_OBJECTS = 64 };

static int walk(struct diff *d)
{
  /* A listing costs the pool (RADOS lists it whole, in hash order): only
   * for ranges of many objects, not for one object's copy-up check. */
  bool listing = !d->from_id && d->end_id == OBJSTORE_SNAP_HEAD &&
                 !d->parent.n && !d->img->omap &&
                 d->end_obj - d->first_obj > DIFF_LIST_MIN_OBJECTS;
  int r;
  if (listing) {
    r = image_each_data_object(d->img, visit_listed, d);
    if (r == 1 && d->past_range)
      r = 0; /* (not a callback's stop: that is returned as it is) */
  } else {
    r = 0;
    for (uint64_t o = d->first_obj; r == 0 && o < d->end_obj; o++)
      r = visit(d, o);
  }
  if (r == 0)
    r = flush_set(d);
  if (r == 0 && d->have_pending)
    r = report(d, &d->pending);
  return r;
}

/* ---- entry points ------------------------------------------------------- */

int image_diff_end_size(struct lbd_image *img, uint64_t *size)
{
  if (img->snap_id == OBJSTORE_SNAP_HEAD) {
    struct image_header hdr;
    int r = image_header_read(img->io->pool, img->id, &hdr);
    if (r < 0)
      return r;
    pthread_mutex_lock(&img->mu);
    img->hdr.size = hdr.size;
    pthread_mutex_unlock(&img->mu);
  }
  pthread_mutex_lock(&img->mu);
  *size = img->hdr.size;
  pthread_mutex_unlock(&img->mu);
  return 0;
}

int image_diff_iterate(struct lbd_image *img, uint64_t from_id,
                       uint64_t from_size, uint64_t off, uint64_t len,
                       unsigned flags, lbd_diff_cb_t cb, void *arg)
{
  if (img->snap_id != OBJSTORE_SNAP_HEAD && from_id > img->snap_id)
    return lbd_error(EINVAL, "the start snapshot is newer than the snapshot "
                     "the image is open at");
  if (from_id && from_id == img->snap_id)
    return 0; /* the same version: nothing changed */
  uint64_t size;
  int r = 0;
  if (flags & IMAGE_DIFF_SIZE_AS_OPEN) {
    pthread_mutex_lock(&img->mu);
    size = img->hdr.size;
    pthread_mutex_unlock(&img->mu);
  } else if ((r = image_diff_end_size(img, &size)) < 0) {
    return r;
  }
  struct diff d = {.img = img, .from_id = from_id, .end_id = img->snap_id,
                   .whole_object = flags & IMAGE_DIFF_WHOLE_OBJECT,
                   .existence = flags & IMAGE_DIFF_EXISTENCE,
                   .set_no = UINT64_MAX, .cb = cb, .arg = arg};
  pthread_mutex_lock(&img->mu);
  d.l = img->hdr.layout;
  d.start_overlap = img->hdr.parent.overlap;
  for (size_t i = 0; i < img->snapc.nsnaps; i++)
    if (img->snap_ids[i] == from_id)
      d.start_overlap = img->snap_overlaps[i];
  pthread_mutex_unlock(&img->mu);
  uint64_t max = size > from_size ? size : from_size;
  d.off = off;
  d.end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
  if (d.end > max)
    d.end = max;
  if (d.off >= d.end)
    return 0;
  uint64_t period = d.l.object_size * d.l.stripe_count;
  uint64_t count = striping_object_count(&d.l, max);
  d.first_obj = d.off / period * d.l.stripe_count;
  d.end_obj = ((d.end - 1) / period + 1) * d.l.stripe_count;
  if (d.end_obj > count)
    d.end_obj = count;
  r = diff_parent_extents(&d, flags);
  if (r == 0)
    r = walk(&d);
  extent_set_free(&d.parent);
  free(d.set.ptr);
  return r;
}

int lbd_diff_iterate(lbd_image_t *image, const char *from_snap, uint64_t off,
                     uint64_t len, bool include_parent, bool whole_object,
                     lbd_diff_cb_t cb, void *arg)
{
  lbd_error_clear();
  if (!image || !cb)
    return lbd_error(EINVAL, "diff: no image or no callback");
  struct lbd_snap_info from = {0};
  int r = 0;
  if (from_snap &&
      (r = image_snap_lookup(image->io->pool, image->header_oid, from_snap,
                             &from)) == -ENOENT)
    r = lbd_error(ENOENT, "image %s has no snapshot %s", image->name,
                  from_snap);
  unsigned flags = (include_parent ? IMAGE_DIFF_INCLUDE_PARENT : 0) |
                   (whole_object ? IMAGE_DIFF_WHOLE_OBJECT : 0);
  if (r == 0)
    r = image_diff_iterate(image, from.id, from.size, off, len, flags, cb,
                           arg);
  return r < 0 ? lbd_error_prefix(r, "diff of image %s", image->name) : r;
}
