/* Backings: where an image reads what it does not have.  The one here is a
 * clone's parent, an image opened read-only at the parent snapshot (whose
 * own parent, if any, is opened the same way: chains read through). */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/backing.h"
#include "image/diff.h"
#include "image/image.h"
#include "util/error.h"
#include "util/extents.h"

#define MAX_CHAIN 32
#define ZERO_BLOCK 4096

struct parent_backing {
  struct image_backing base;
  lbd_ioctx_t *io;
  lbd_image_t *parent;
};

static int parent_read(struct image_backing *b, uint64_t snap, uint64_t off,
                       size_t len, void *buf)
{
  struct parent_backing *p = (struct parent_backing *)b;
  (void)snap; /* every snapshot of a clone reads the same parent snapshot */
  ssize_t n = lbd_read(p->parent, off, len, buf);
  if (n < 0)
    return (int)n;
  if ((size_t)n < len)
    memset((char *)buf + n, 0, len - (size_t)n);
  return 0;
}

static int add_extent(uint64_t off, uint64_t len, bool exists, void *arg)
{
  return exists ? extent_set_add(arg, off, len) : 0;
}

/* The data extents of IMG (a parent or source handle), its own backing's
 * included. */
static int image_extents(lbd_image_t *img, uint64_t off, uint64_t len,
                         struct extent_set *out)
{
  uint64_t size;
  lbd_get_size(img, &size);
  if (off >= size)
    return 0;
  if (len > size - off)
    len = size - off;
  return lbd_diff_iterate(img, NULL, off, len, true, false, add_extent, out);
}

static int stop_at_data(uint64_t off, uint64_t len, bool exists, void *arg)
{
  (void)off, (void)len, (void)arg;
  return exists ? 1 : 0;
}

/* 1 if IMG (a parent or source handle, its own backing included unless
 * OWN) has an object in [OFF, OFF+LEN), 0 if not: stats, no data read. */
static int image_may_have_data(lbd_image_t *img, uint64_t off, uint64_t len,
                               bool own)
{
  return image_diff_iterate(img, 0, 0, off, len,
                            (own ? 0 : IMAGE_DIFF_INCLUDE_PARENT) |
                                IMAGE_DIFF_EXISTENCE | IMAGE_DIFF_SIZE_AS_OPEN,
                            stop_at_data, NULL);
}

static int parent_may_have_data(struct image_backing *b, uint64_t snap,
                                uint64_t off, uint64_t len, bool own)
{
  (void)snap;
  return image_may_have_data(((struct parent_backing *)b)->parent, off, len,
                             own);
}

static int parent_extents(struct image_backing *b, uint64_t snap,
                          uint64_t off, uint64_t len, struct extent_set *out)
{
  (void)snap;
  return image_extents(((struct parent_backing *)b)->parent, off, len, out);
}

static void parent_close(struct image_backing *b)
{
  struct parent_backing *p = (struct parent_backing *)b;
  lbd_close(p->parent);
  lbd_ioctx_destroy(p->io);
  free(p);
}

static void parent_prefetch(struct image_backing *b, uint64_t off,
                            uint64_t len)
{
  image_prefetch(((struct parent_backing *)b)->parent, off, len);
}

static const struct image_backing_ops parent_ops = {
    .read = parent_read, .extents = parent_extents, .close = parent_close,
    .may_have_data = parent_may_have_data, .prefetch = parent_prefetch};

/* A migration target's source: the source image read at the source
 * snapshot that each target snapshot was made from (its head for the
 * target's head and for snapshots taken after prepare). */
struct source_snap {
  uint64_t dst, src;
  lbd_image_t *img; /* opened on first use */
};
struct source_backing {
  struct image_backing base;
  lbd_ioctx_t *io;
  lbd_image_t *head;
  struct lbd_image *target;  /* the owner, which outlives it */
  pthread_mutex_t mu;
  struct source_snap *snaps;
  size_t nsnaps;
  int depth;
  bool gone; /* the source was removed: the migration was committed */
  /* Only what the source reads from its own parent (verify's view of the
   * target once committed with the parent kept). */
  bool parent_only;
  /* After a commit that kept the parent: the target's parent, opened on
   * first use (NULL: none), and its overlap at the target's head. */
  bool parent_checked;
  lbd_ioctx_t *parent_io;
  lbd_image_t *parent;
  uint64_t parent_overlap;
};

/* A handle opened before the commit reads on after it: once the source's
 * header is gone, everything the target holds is its own, and what it
 * lacks reads as zeroes, or (the parent kept) as the parent the commit
 * linked the target to. */
static bool source_gone(struct source_backing *b)
{
  if (b->gone)
    return true;
  struct objstore_stat st;
  if (objstore_stat(b->io->pool, b->head->header_oid, OBJSTORE_SNAP_HEAD,
                    &st) == -ENOENT) {
    lbd_error_clear();
    b->gone = true;
  }
  return b->gone;
}

static int source_image(struct source_backing *b, uint64_t snap,
                        lbd_image_t **out)
{
  *out = b->head;
  int r = 0;
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < b->nsnaps; i++) {
    struct source_snap *s = &b->snaps[i];
    if (s->dst != snap)
      continue;
    if (!s->img)
      r = image_open(b->io, NULL, b->head->id, NULL, s->src,
                     LBD_OPEN_READ_ONLY, b->depth + 1, &s->img);
    *out = s->img;
  }
  pthread_mutex_unlock(&b->mu);
  return r;
}

/* The committed target's parent (the source is gone). */
static int committed_parent(struct source_backing *b)
{
  pthread_mutex_lock(&b->mu);
  int r = 0;
  if (!b->parent_checked) {
    struct image_header hdr;
    struct lbd_image *t = b->target;
    r = image_header_read(t->io->pool, t->id, &hdr);
    if (r == 0 && hdr.parent.pool_id >= 0 && !image_parent_is_source(&hdr)) {
      r = image_ioctx_by_id(t->io->cluster, hdr.parent.pool_id,
                            hdr.parent.ns, &b->parent_io);
      if (r == 0 && (r = image_open(b->parent_io, NULL, hdr.parent.image_id,
                                    NULL, hdr.parent.snap_id,
                                    LBD_OPEN_READ_ONLY, b->depth + 1,
                                    &b->parent)) < 0) {
        lbd_ioctx_destroy(b->parent_io); /* (the next read tries again) */
        b->parent_io = NULL;
        b->parent = NULL;
      }
      b->parent_overlap = hdr.parent.overlap;
    }
    b->parent_checked = r == 0;
  }
  pthread_mutex_unlock(&b->mu);
  return r;
}

/* The overlap of the committed target's parent at target snapshot SNAP. */
static int committed_overlap(struct source_backing *b, uint64_t snap,
                             uint64_t *overlap)
{
  int r = committed_parent(b);
  *overlap = b->parent ? b->parent_overlap : 0;
  if (r == 0 && b->parent && snap != OBJSTORE_SNAP_HEAD &&
      (r = image_snap_overlap(b->target, snap, overlap)) == -ENOENT) {
    lbd_error_clear();
    r = 0;
  }
  return r;
}

static int committed_read(struct source_backing *b, uint64_t snap,
                          uint64_t off, size_t len, void *buf)
{
  uint64_t overlap;
  int r = b->base.keeps_parent ? committed_overlap(b, snap, &overlap) : 0;
  memset(buf, 0, len);
  if (r < 0 || !b->base.keeps_parent || off >= overlap)
    return r;
  size_t n = overlap - off < len ? (size_t)(overlap - off) : len;
  ssize_t got = lbd_read(b->parent, off, n, buf);
  return got < 0 ? (int)got : 0;
}

static int source_read(struct image_backing *base, uint64_t snap,
                       uint64_t off, size_t len, void *buf)
{
  struct source_backing *b = (struct source_backing *)base;
  lbd_image_t *src;
  int r = source_image(b, snap, &src);
  ssize_t n = r;
  if (r == 0 && b->parent_only) /* below the source's own overlap there */
    n = image_backing_read(src, src->snap_id, src->hdr.parent.overlap, off,
                           len, buf);
  else if (r == 0)
    n = lbd_read(src, off, len, buf);
  if (n < 0 && source_gone(b)) { /* (a snapshot of it cannot open now) */
    lbd_error_clear();
    return committed_read(b, snap, off, len, buf);
  }
  if (n < 0)
    return (int)n;
  if (!b->parent_only && (size_t)n < len)
    memset((char *)buf + n, 0, len - (size_t)n);
  /* A source that is a clone, removed under us, reads its parent where a
   * flattened target reads zeroes (an object of zeroes hid it): checked
   * after the read, which may have raced.  Any other source reads right
   * as long as it reads at all (a round trip saved per read). */
  if (src->backing && !b->base.keeps_parent && source_gone(b))
    return committed_read(b, snap, off, len, buf);
  return 0;
}

static int source_extents(struct image_backing *base, uint64_t snap,
                          uint64_t off, uint64_t len, struct extent_set *out)
{
  struct source_backing *b = (struct source_backing *)base;
  lbd_image_t *src;
  if (source_gone(b)) {
    uint64_t overlap;
    int r = b->base.keeps_parent ? committed_overlap(b, snap, &overlap) : 0;
    if (r < 0 || !b->base.keeps_parent || off >= overlap)
      return r;
    return image_extents(b->parent, off,
                         len < overlap - off ? len : overlap - off, out);
  }
  int r = source_image(b, snap, &src);
  return r < 0 ? r : image_extents(src, off, len, out);
}

static int source_may_have_data(struct image_backing *base, uint64_t snap,
                                uint64_t off, uint64_t len, bool own)
{
  struct source_backing *b = (struct source_backing *)base;
  lbd_image_t *src;
  int r = source_image(b, snap, &src);
  return r < 0 ? r : image_may_have_data(src, off, len, own);
}

static void source_close(struct image_backing *base)
{
  struct source_backing *b = (struct source_backing *)base;
  for (size_t i = 0; i < b->nsnaps; i++)
    lbd_close(b->snaps[i].img);
  free(b->snaps);
  lbd_close(b->parent);
  lbd_ioctx_destroy(b->parent_io);
  lbd_close(b->head);
  lbd_ioctx_destroy(b->io);
  pthread_mutex_destroy(&b->mu);
  free(b);
}

static void source_prefetch(struct image_backing *base, uint64_t off,
                            uint64_t len)
{
  struct source_backing *b = (struct source_backing *)base;
  if (!b->gone && !b->parent_only)
    image_prefetch(b->head, off, len);
}

static const struct image_backing_ops source_ops = {
    .read = source_read, .extents = source_extents, .close = source_close,
    .may_have_data = source_may_have_data, .prefetch = source_prefetch};

/* Which source snapshot each target snapshot reads. */
static int source_snap_map(struct lbd_image *img, struct source_backing *b)
{
  struct image_snap_link *links;
  size_t n;
  int r = image_migration_snaps(img, &links, &n);
  if (r == 0 && n && !(b->snaps = calloc(n, sizeof *b->snaps)))
    r = lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < n; i++)
    b->snaps[b->nsnaps++] = (struct source_snap){links[i].dst, links[i].src,
                                                 NULL};
  free(links);
  return r;
}

static int source_open(struct lbd_image *img, int depth, bool parent_only)
{
  const struct image_parent *pa = &img->hdr.parent;
  struct source_backing *b = calloc(1, sizeof *b);
  if (!b)
    return lbd_error(ENOMEM, "out of memory");
  b->base.ops = &source_ops;
  b->depth = depth;
  b->target = img;
  b->parent_only = parent_only;
  pthread_mutex_init(&b->mu, NULL);
  int r = image_ioctx_by_id(img->io->cluster, pa->pool_id, pa->ns, &b->io);
  if (r == 0)
    r = image_open(b->io, NULL, pa->image_id, NULL, OBJSTORE_SNAP_HEAD,
                   LBD_OPEN_READ_ONLY, depth + 1, &b->head);
  if (r == 0)
    r = source_snap_map(img, b);
  if (r == 0)
    b->base.keeps_parent = image_keeps_source_parent(&img->hdr, &b->head->hdr);
  if (r < 0) {
    if (b->head)
      source_close(&b->base);
    else {
      lbd_ioctx_destroy(b->io);
      pthread_mutex_destroy(&b->mu);
      free(b);
    }
    return lbd_error_prefix(r, "opening the migration source of %s",
                            img->name);
  }
  img->backing = &b->base;
  return 0;
}

/* Whether the image reads a migration source: a target, before commit. */
bool image_migrating(const struct lbd_image *img)
{
  const struct image_migration *m = &img->hdr.migration;
  return m->role == IMAGE_MIGRATION_TARGET && strcmp(m->state, "committing");
}

bool image_parent_is_source(const struct image_header *hdr)
{
  const struct image_migration *m = &hdr->migration;
  const struct image_parent *pa = &hdr->parent;
  return m->role == IMAGE_MIGRATION_TARGET && !m->import_only &&
         pa->pool_id == m->peer_pool && strcmp(pa->ns, m->peer_ns) == 0 &&
         strcmp(pa->image_id, m->peer_id) == 0;
}

bool image_keeps_source_parent(const struct image_header *target,
                               const struct image_header *source)
{
  return target->migration.role == IMAGE_MIGRATION_TARGET &&
         !target->migration.flatten && !target->migration.import_only &&
         source->parent.pool_id >= 0;
}

/* Import sources live above the image layer (migration/import.c), which
 * registers how to open them. */
static image_backing_opener import_opener;

void image_backing_register_import(image_backing_opener open)
{
  import_opener = open;
}

int image_backing_open(struct lbd_image *img, int depth)
{
  const struct image_parent *pa = &img->hdr.parent;
  if (img->hdr.migration.import_only) {
    if (!image_migrating(img))
      return 0; /* committing: every byte is here */
    if (!import_opener)
      return lbd_error(ENOTSUP, "image %s is an import target, and this "
                       "program cannot read import sources", img->name);
    int r = import_opener(img, &img->backing);
    return r < 0 ? lbd_error_prefix(r, "opening the import source of %s",
                                    img->name)
                 : 0;
  }
  if (pa->pool_id < 0)
    return 0;
  if (image_migrating(img)) {
    if (depth >= MAX_CHAIN)
      return lbd_error(ELOOP, "image %s: too many levels of backing",
                       img->name);
    return source_open(img, depth, false);
  }
  if (image_parent_is_source(&img->hdr))
    return 0; /* committing, flattened: every byte is here */
  /* Else a clone (also a target committing with its source's parent). */
  if (depth >= MAX_CHAIN)
    return lbd_error(ELOOP, "image %s is a clone more than %d levels deep",
                     img->name, MAX_CHAIN);
  struct parent_backing *p = calloc(1, sizeof *p);
  if (!p)
    return lbd_error(ENOMEM, "out of memory");
  p->base.ops = &parent_ops;
  int r = image_ioctx_by_id(img->io->cluster, pa->pool_id, pa->ns, &p->io);
  if (r == 0)
    r = image_open(p->io, NULL, pa->image_id, NULL, pa->snap_id,
                   LBD_OPEN_READ_ONLY, depth + 1, &p->parent);
  if (r < 0) {
    lbd_ioctx_destroy(p->io);
    free(p);
    return lbd_error_prefix(r, "opening the parent of %s", img->name);
  }
  img->backing = &p->base;
  return 0;
}

int image_backing_open_past_source(struct lbd_image *img, int depth)
{
  if (!image_migrating(img) || img->hdr.migration.import_only ||
      img->hdr.parent.pool_id < 0)
    return 0;
  int r = source_open(img, depth, true);
  if (r == 0 && !img->backing->keeps_parent)
    image_backing_close(img); /* flattened: nothing but its own */
  return r;
}

void image_backing_close(struct lbd_image *img)
{
  if (img->backing)
    img->backing->ops->close(img->backing);
  img->backing = NULL;
}

int image_backing_read(struct lbd_image *img, uint64_t snap, uint64_t overlap,
                       uint64_t off, size_t len, void *buf)
{
  size_t under = 0;
  if (img->backing && off < overlap)
    under = overlap - off < len ? (size_t)(overlap - off) : len;
  if (under) {
    int r = img->backing->ops->read(img->backing, snap, off, under, buf);
    if (r < 0)
      return r;
  }
  memset((char *)buf + under, 0, len - under);
  return 0;
}

int image_backing_extents(struct lbd_image *img, uint64_t overlap,
                          uint64_t off, uint64_t len, struct extent_set *out)
{
  if (!img->backing || off >= overlap)
    return 0;
  if (len > overlap - off)
    len = overlap - off;
  return img->backing->ops->extents(img->backing, img->snap_id, off, len, out);
}

void image_backing_prefetch(struct lbd_image *img, uint64_t objectno,
                            uint64_t overlap)
{
  const struct striping *l = &img->hdr.layout;
  if (!img->backing || !img->backing->ops->prefetch ||
      objectno >= striping_object_count(l, overlap))
    return;
  if (l->stripe_count == 1) { /* the object is one run of the image */
    uint64_t off = striping_image_offset(l, objectno, 0);
    img->backing->ops->prefetch(img->backing, off, l->object_size);
    return;
  }
  for (uint64_t o = 0; o < l->object_size; o += l->stripe_unit)
    img->backing->ops->prefetch(img->backing,
                                striping_image_offset(l, objectno, o),
                                l->stripe_unit);
}

bool image_backing_covers(const struct lbd_image *img, uint64_t objectno,
                          uint64_t overlap)
{
  return img->backing && overlap &&
         striping_image_offset(&img->hdr.layout, objectno, 0) < overlap;
}

static bool all_zero(const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

int image_nonzero_runs(const char *buf, uint64_t len,
                        struct objstore_extent **runs, size_t *nruns)
{
  *runs = NULL;
  *nruns = 0;
  size_t cap = 0;
  for (uint64_t off = 0; off < len; off += ZERO_BLOCK) {
    uint64_t n = len - off < ZERO_BLOCK ? len - off : ZERO_BLOCK;
    if (all_zero(buf + off, (size_t)n))
      continue;
    if (*nruns && (*runs)[*nruns - 1].off + (*runs)[*nruns - 1].len == off) {
      (*runs)[*nruns - 1].len += n;
      continue;
    }
    if (*nruns == cap) {
      cap = cap ? 2 * cap : 8;
      struct objstore_extent *p = realloc(*runs, cap * sizeof *p);
      if (!p) {
        free(*runs);
        *runs = NULL;
        *nruns = 0;
        return lbd_error(ENOMEM, "out of memory");
      }
      *runs = p;
    }
    (*runs)[(*nruns)++] = (struct objstore_extent){off, n};
  }
  return 0;
}

int image_backing_read_object(struct lbd_image *img, uint64_t snap,
                              uint64_t objectno, uint64_t overlap, void *buf,
                              struct objstore_extent **runs, size_t *nruns)
{
  const struct striping *l = &img->hdr.layout;
  char *p = buf;
  int r = 0;
  if (l->stripe_count == 1) { /* the object is one run of the image */
    uint64_t off = striping_image_offset(l, objectno, 0);
    r = image_backing_read(img, snap, overlap, off, l->object_size, p);
  } else {
    for (uint64_t o = 0; r == 0 && o < l->object_size; o += l->stripe_unit)
      r = image_backing_read(img, snap, overlap,
                             striping_image_offset(l, objectno, o),
                             l->stripe_unit, p + o);
  }
  if (r < 0)
    return r;
  if (img->hdr.thick) { /* the whole object, zeroes included */
    if (!(*runs = malloc(sizeof **runs)))
      return lbd_error(ENOMEM, "out of memory");
    (*runs)[0] = (struct objstore_extent){0, l->object_size};
    *nruns = 1;
    return 0;
  }
  return image_nonzero_runs(p, l->object_size, runs, nruns);
}
