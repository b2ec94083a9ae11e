/* Copying an image (rbd cp): a new image with the source's size and, unless
 * the options say otherwise, its layout and features, holding only the
 * source's allocated data.  The source's data objects that exist are
 * visited in order (never the whole address space), each read once with a
 * sparse read; its extents are mapped back to image offsets through the
 * striping and written to the copy, skipping runs of zeroes. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_scan.h"
#include "util/error.h"

#define ZERO_BLOCK 4096ULL

struct copy {
  struct lbd_image *src, *dst;
  uint64_t size, total;
  char *buf;
  lbd_progress_fn_t progress;
  void *arg;
};

static bool all_zero(const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Write [OFF, OFF+LEN) of the copy from BUF, leaving out whole 4 KiB
 * blocks (of the image) of zeroes. */
static int write_nonzero(struct lbd_image *dst, uint64_t off, const char *buf,
                         uint64_t len)
{
  uint64_t i = 0;
  while (i < len) {
    uint64_t start = i;
    bool zero = true;
    while (i < len) {
      uint64_t e = ((off + i) / ZERO_BLOCK + 1) * ZERO_BLOCK - off;
      if (e > len)
        e = len;
      bool z = all_zero(buf + i, (size_t)(e - i));
      if (i > start && z != zero)
        break;
      zero = z;
      i = e;
    }
    if (!zero) {
      ssize_t n = lbd_write(dst, off + start, (size_t)(i - start),
                            buf + start);
      if (n < 0)
        return (int)n;
    }
  }
  return 0;
}

static int copy_object(uint64_t objectno, const char *oid, void *arg)
{
  struct copy *c = arg;
  const struct striping *l = &c->src->hdr.layout;
  struct objstore_extent *ext;
  size_t n;
  if (objectno >= c->total)
    return 0; /* past the end: nothing of the image */
  ssize_t got = objstore_sparse_read(c->src->data, oid, c->src->snap_id, 0,
                                     l->object_size, c->buf, &ext, &n);
  if (got == -ENOENT) {
    lbd_error_clear();
    got = 0;
    n = 0;
    ext = NULL;
  }
  if (got < 0)
    return (int)got;
  int r = 0;
  for (size_t i = 0; r == 0 && i < n; i++) {
    uint64_t o = ext[i].off, end = ext[i].off + ext[i].len;
    if (end > (uint64_t)got)
      end = (uint64_t)got;
    while (r == 0 && o < end) {
      /* one stripe unit of the object is contiguous in the image */
      uint64_t su_end = (o / l->stripe_unit + 1) * l->stripe_unit;
      uint64_t len = (su_end < end ? su_end : end) - o;
      uint64_t img_off = striping_image_offset(l, objectno, o);
      if (img_off < c->size) {
        if (len > c->size - img_off)
          len = c->size - img_off;
        r = write_nonzero(c->dst, img_off, c->buf + o, len);
      }
      o = su_end < end ? su_end : end;
    }
  }
  free(ext);
  if (r == 0 && c->progress && c->progress(objectno + 1, c->total, c->arg))
    r = lbd_error(ECANCELED, "copy interrupted");
  return r;
}

/* A source with a backing (a clone, a migration target): its data are
 * where a diff from the beginning, the backing included, says. */
static int copy_extent(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct copy *c = arg;
  uint64_t chunk = c->src->hdr.layout.object_size;
  for (uint64_t o = 0; exists && o < len; o += chunk) {
    uint64_t n = len - o < chunk ? len - o : chunk;
    ssize_t got = lbd_read(c->src, off + o, (size_t)n, c->buf);
    int r = got < 0 ? (int)got : write_nonzero(c->dst, off + o, c->buf, n);
    if (r < 0)
      return r;
  }
  uint64_t done = (off + len) / chunk;
  if (c->progress && c->progress(done < c->total ? done : c->total, c->total,
                                 c->arg))
    return lbd_error(ECANCELED, "copy interrupted");
  return 0;
}

/* The options of the copy: the caller's, else the source's. */
static int copy_options(struct lbd_image *src, lbd_ioctx_t *dst_io,
                        const struct lbd_image_options *opts,
                        struct lbd_image_options *o, char *pool_name,
                        size_t pool_size)
{
  const struct image_header *h = &src->hdr;
  if (opts)
    *o = *opts;
  else
    memset(o, 0, sizeof *o);
  if (o->size && o->size != h->size)
    return lbd_error(EINVAL, "a copy has the size of its source (%" PRIu64
                     " bytes): leave the size option 0", h->size);
  o->size = h->size;
  if (!o->object_size && !o->stripe_unit && !o->stripe_count) {
    o->object_size = h->layout.object_size;
    o->stripe_unit = h->layout.stripe_unit;
    o->stripe_count = h->layout.stripe_count;
  }
  if (!o->features) {
    o->features = h->features & ~(uint64_t)LBD_FEATURE_DATA_POOL;
    /* striping follows the layout of the copy */
    if (o->object_size != h->layout.object_size ||
        o->stripe_unit != h->layout.stripe_unit ||
        o->stripe_count != h->layout.stripe_count)
      o->features &= ~(uint64_t)LBD_FEATURE_STRIPINGV2;
  }
  /* the data pool too, by name, when the copy is in the same cluster */
  if (!o->data_pool && h->data_pool_id >= 0 &&
      dst_io->cluster == src->io->cluster) {
    struct objstore_pool_info info;
    int r = objstore_pool_get_info(src->io->cluster->os, h->data_pool_id,
                                   &info);
    if (r < 0)
      return lbd_error_prefix(r, "the data pool of image %s", src->name);
    snprintf(pool_name, pool_size, "%s", info.name);
    free(info.path);
    o->data_pool = pool_name;
  }
  return 0;
}

int lbd_copy_with_progress(lbd_image_t *src, lbd_ioctx_t *dst_io,
                           const char *dst_name,
                           const struct lbd_image_options *opts,
                           lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  if (!src || !dst_io)
    return lbd_error(EINVAL, "copying an image: no source image or "
                     "destination IO context");
  struct image_header hdr;
  struct lbd_image_options o;
  char pool_name[OBJSTORE_MAX_POOL_NAME + 1];
  int r = image_check_name("destination image name", dst_name);
  if (r == 0)
    r = image_header_read(src->io->pool, src->id, &hdr);
  if (r == 0) {
    pthread_mutex_lock(&src->mu);
    if (src->snap_id == OBJSTORE_SNAP_HEAD)
      src->hdr = hdr;
    else
      hdr = src->hdr; /* a snapshot's size and overlap */
    pthread_mutex_unlock(&src->mu);
    r = copy_options(src, dst_io, opts, &o, pool_name, sizeof pool_name);
  }
  if (r == 0)
    r = lbd_create(dst_io, dst_name, &o);
  if (r < 0)
    return lbd_error_prefix(r, "copying image %s", src->name);
  struct copy c = {src, NULL, hdr.size,
                   striping_object_count(&hdr.layout, hdr.size), NULL,
                   progress, arg};
  if (!(c.buf = malloc(hdr.layout.object_size)))
    r = lbd_error(ENOMEM, "out of memory");
  if (r == 0)
    r = lbd_open(dst_io, dst_name, NULL, 0, &c.dst);
  if (r == 0 && src->backing)
    r = lbd_diff_iterate(src, NULL, 0, hdr.size, true, false, copy_extent,
                         &c);
  else if (r == 0)
    r = image_each_data_object(src, copy_object, &c);
  if (r == 0 && progress && progress(c.total, c.total, arg))
    r = lbd_error(ECANCELED, "copy interrupted");
  free(c.buf);
  if (c.dst) {
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    int r2 = lbd_close(c.dst);
    if (r == 0)
      r = r2;
    else
      lbd_error(r, "%s", msg);
  }
  if (r < 0) { /* leave no partial copy */
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    lbd_remove(dst_io, dst_name);
    lbd_error(r, "%s", msg);
    return lbd_error_prefix(r, "copying image %s to %s", src->name, dst_name);
  }
  return 0;
}

int lbd_copy(lbd_image_t *src, lbd_ioctx_t *dst_io, const char *dst_name,
             const struct lbd_image_options *opts)
{
  return lbd_copy_with_progress(src, dst_io, dst_name, opts, NULL, NULL);
}
