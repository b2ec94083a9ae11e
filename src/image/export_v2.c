/* rbd's export format 2 (export/import --export-format 2): the image's
 * layout, features and metadata, then a v2 diff per snapshot, oldest
 * first, and one for the head (the format: export_format.h).
 *
 * Import streams (a pipe is read once): the header, then the first diff's
 * metadata give the image its layout and size; each diff is applied and
 * its end snapshot taken.  Whatever goes wrong, the new image is removed
 * with the snapshots it got, so a failed import leaves nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image/diff.h"
#include "image/export_format.h"
#include "util/error.h"

/* The features an imported image keeps of the stream's (rbd's bits). */
#define IMPORT_FEATURES                                                      \
  (LBD_FEATURE_LAYERING | LBD_FEATURE_EXCLUSIVE_LOCK |                       \
   LBD_FEATURE_OBJECT_MAP | LBD_FEATURE_DEEP_FLATTEN)

/* Progress of one diff of N, as a part of the whole. */
struct part_progress {
  lbd_progress_fn_t fn;
  void *arg;
  uint64_t index, count;
};

static int part_progress(uint64_t done, uint64_t total, void *arg)
{
  struct part_progress *p = arg;
  if (!total)
    return 0;
  double f = ((double)p->index + (double)done / (double)total) /
             (double)p->count;
  return p->fn((uint64_t)(f * 1000000.0), 1000000, p->arg);
}

/* ---- export ------------------------------------------------------------- */

static int put_u64_record(struct export_out *out, char tag, uint64_t v)
{
  unsigned char rec[17], *p = rec;
  *p++ = (unsigned char)tag;
  p = export_put_le64(p, 8);
  p = export_put_le64(p, v);
  return export_write(out, rec, (size_t)(p - rec));
}

static int put_meta(struct export_out *out, const struct lbd_metadata *kv)
{
  size_t k = strlen(kv->key), v = strlen(kv->value);
  unsigned char hdr[13], *p = hdr;
  *p++ = EXPORT_TAG_META;
  p = export_put_le64(p, 8 + (uint64_t)k + v);
  p = export_put_le32(p, (uint32_t)k);
  int r = export_write(out, hdr, (size_t)(p - hdr));
  if (r == 0)
    r = export_write(out, kv->key, k);
  export_put_le32(hdr, (uint32_t)v);
  if (r == 0)
    r = export_write(out, hdr, 4);
  return r < 0 ? r : export_write(out, kv->value, v);
}

static int put_image_header(struct lbd_image *img, struct export_out *out)
{
  struct lbd_image_info info;
  struct lbd_metadata *kv = NULL;
  size_t n = 0;
  int r = lbd_stat(img, &info);
  if (r == 0)
    r = lbd_metadata_list(img, &kv, &n);
  if (r == 0)
    r = export_write(out, EXPORT_IMAGE_BANNER_V2,
                     strlen(EXPORT_IMAGE_BANNER_V2));
  if (r == 0)
    r = put_u64_record(out, EXPORT_TAG_ORDER, (uint64_t)info.order);
  if (r == 0)
    r = put_u64_record(out, EXPORT_TAG_FEATURES, info.features);
  if (r == 0)
    r = put_u64_record(out, EXPORT_TAG_STRIPE_UNIT, info.stripe_unit);
  if (r == 0)
    r = put_u64_record(out, EXPORT_TAG_STRIPE_COUNT, info.stripe_count);
  for (size_t i = 0; r == 0 && i < n; i++)
    r = put_meta(out, &kv[i]);
  lbd_metadata_list_free(kv, n);
  unsigned char end = EXPORT_TAG_IMAGE_END;
  return r < 0 ? r : export_write(out, &end, 1);
}

static int put_diffs_header(struct export_out *out, uint64_t ndiffs)
{
  unsigned char n[8];
  int r = export_write(out, EXPORT_IMAGE_DIFFS_BANNER_V2,
                       strlen(EXPORT_IMAGE_DIFFS_BANNER_V2));
  export_put_le64(n, ndiffs);
  return r < 0 ? r : export_write(out, n, sizeof n);
}

/* The diff from PREV (NULL: the beginning) to snapshot S of IMG. */
static int put_snap_diff(struct lbd_image *img, const struct lbd_snap_info *prev,
                         const struct lbd_snap_info *s, struct export_out *out,
                         struct part_progress *pp)
{
  lbd_image_t *at = img;
  int r = 0;
  if (img->snap_id != s->id &&
      (r = lbd_open(img->io, img->name, s->name, LBD_OPEN_READ_ONLY, &at)) < 0)
    return r;
  r = export_write_diff(at, prev ? prev->name : NULL, prev ? prev->id : 0,
                        prev ? prev->size : 0, s->name, s->protected_, false,
                        2, out, pp->fn ? part_progress : NULL, pp);
  if (at != img) {
    char msg[LBD_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    int r2 = lbd_close(at);
    if (r == 0)
      r = r2;
    else
      lbd_error(r, "%s", msg);
  }
  return r;
}

static int put_diffs(struct lbd_image *img, struct export_out *out,
                     lbd_progress_fn_t progress, void *arg)
{
  struct lbd_snap_info *snaps;
  size_t n;
  int r = image_snaps_read(img->io->pool, img->header_oid, &snaps, &n);
  if (r < 0)
    return r;
  bool head = img->snap_id == OBJSTORE_SNAP_HEAD;
  size_t upto = 0; /* the snapshots exported: those up to the one open */
  while (upto < n && (head || snaps[upto].id <= img->snap_id))
    upto++;
  struct part_progress pp = {progress, arg, 0, upto + head};
  r = put_diffs_header(out, upto + head);
  for (size_t i = 0; r == 0 && i < upto; i++, pp.index++)
    r = put_snap_diff(img, i ? &snaps[i - 1] : NULL, &snaps[i], out, &pp);
  if (r == 0 && head) {
    const struct lbd_snap_info *last = upto ? &snaps[upto - 1] : NULL;
    r = export_write_diff(img, last ? last->name : NULL, last ? last->id : 0,
                          last ? last->size : 0, NULL, false, false, 2, out,
                          progress ? part_progress : NULL, &pp);
  }
  free(snaps);
  return r;
}

int lbd_export_v2(lbd_image_t *image, int fd, lbd_progress_fn_t progress,
                  void *arg)
{
  lbd_error_clear();
  struct export_out out;
  export_out_fd(&out, &fd);
  int r = put_image_header(image, &out);
  if (r == 0)
    r = put_diffs(image, &out, progress, arg);
  return r < 0 ? lbd_error_prefix(r, "exporting image %s (format 2)",
                                  image->name)
               : 0;
}

/* ---- import ------------------------------------------------------------- */

struct importer {
  lbd_ioctx_t *io;
  const char *name;
  struct export_in in;
  int fd;
  uint64_t total;  /* the stream's size, if known */
  uint64_t ndiffs;
  struct export_image_header h;
  struct export_diff_meta *m, *prev;
  struct export_record rec;
  lbd_image_t *img;
  bool created;
  lbd_progress_fn_t progress;
  void *arg;
};

/* The new image's options: the caller's, else the stream's. */
static int import_options(struct importer *im,
                          const struct lbd_image_options *opts,
                          struct lbd_image_options *o)
{
  const struct export_image_header *h = &im->h;
  if (opts)
    *o = *opts;
  else
    memset(o, 0, sizeof *o);
  if (o->size)
    return lbd_error(EINVAL, "the image size comes from the stream: leave "
                     "the size option 0");
  o->size = im->m->size;
  if (!o->object_size && !o->stripe_unit && !o->stripe_count) {
    if (h->has_order && (h->order < 12 || h->order > 25))
      return lbd_error(EINVAL, "the stream's image order %" PRIu64 " is not "
                       "from 12 to 25", h->order);
    o->object_size = h->has_order ? 1ULL << h->order : 0;
    o->stripe_unit = h->has_stripe_unit ? h->stripe_unit : 0;
    o->stripe_count = h->has_stripe_count ? h->stripe_count : 0;
  }
  if (!o->features && h->has_features) {
    /* what lbd has of them (striping follows the layout); a feature-less
     * image gets lbd's defaults */
    o->features = h->features & IMPORT_FEATURES;
    if (!(o->features & LBD_FEATURE_EXCLUSIVE_LOCK))
      o->features &= ~(uint64_t)LBD_FEATURE_OBJECT_MAP;
  }
  return 0;
}

static int import_create(struct importer *im,
                         const struct lbd_image_options *opts)
{
  struct lbd_image_options o;
  int r = import_options(im, opts, &o);
  if (r == 0 && (r = lbd_create(im->io, im->name, &o)) == 0)
    im->created = true;
  if (r == 0)
    r = lbd_open(im->io, im->name, NULL, 0, &im->img);
  for (size_t i = 0; r == 0 && i < im->h.nmeta; i++)
    r = lbd_metadata_set(im->img, im->h.meta[i].key, im->h.meta[i].value);
  return r;
}

/* Diff I: it must start where the one before it ended. */
static int import_diff_begin(struct importer *im, uint64_t i)
{
  int r = export_diff_begin(&im->in, 2, im->m, &im->rec);
  if (r == 0 && (im->m->has_from != im->prev->has_to ||
                 (im->m->has_from && strcmp(im->m->from, im->prev->to))))
    r = lbd_error(EINVAL, "malformed stream at byte %" PRIu64 ": diff %"
                  PRIu64 " of %" PRIu64 " does not start where the one "
                  "before it ends", im->in.pos, i + 1, im->ndiffs);
  return r;
}

static int import_diff_apply(struct importer *im)
{
  uint64_t size;
  int r = lbd_get_size(im->img, &size);
  if (r == 0 && size != im->m->size)
    r = lbd_resize(im->img, im->m->size);
  /* progress: through the stream if its size is known, else by diffs */
  if (r == 0)
    r = export_apply_body(im->img, &im->in, im->m, &im->rec,
                          im->total ? im->progress : NULL, im->arg,
                          im->total);
  if (r == 0 && im->m->has_to)
    r = lbd_snap_create(im->img, im->m->to);
  if (r == 0 && im->m->has_to && im->m->is_protected)
    r = lbd_snap_protect(im->img, im->m->to);
  *im->prev = *im->m;
  return r;
}

static int import_run(struct importer *im,
                      const struct lbd_image_options *opts)
{
  int r = export_image_begin(&im->in, &im->h, &im->ndiffs);
  if (r == 0)
    r = import_diff_begin(im, 0);
  if (r == 0)
    r = import_create(im, opts);
  for (uint64_t i = 0; r == 0 && i < im->ndiffs; i++) {
    if (i && (r = import_diff_begin(im, i)) < 0)
      break;
    r = import_diff_apply(im);
    if (r == 0 && !im->total && im->progress &&
        im->progress(i + 1, im->ndiffs, im->arg))
      r = lbd_error(ECANCELED, "stopped");
  }
  return r;
}

/* Remove the half-imported image: its snapshots, then it. */
static void import_undo(struct importer *im, int r)
{
  char msg[LBD_ERROR_MAX];
  snprintf(msg, sizeof msg, "%s", lbd_last_error());
  struct lbd_snap_info *snaps;
  size_t n;
  if (im->img && lbd_snap_list(im->img, &snaps, &n) == 0) {
    for (size_t i = n; i-- > 0;) {
      if (snaps[i].protected_)
        lbd_snap_unprotect(im->img, snaps[i].name);
      lbd_snap_remove(im->img, snaps[i].name);
    }
    lbd_snap_list_free(snaps, n);
  }
  if (im->img)
    lbd_close(im->img);
  im->img = NULL;
  if (im->created)
    lbd_remove(im->io, im->name);
  lbd_error(r, "%s", msg); /* the first failure is what counts */
}

int lbd_import_v2(lbd_ioctx_t *io, const char *name,
                  const struct lbd_image_options *opts, int fd,
                  lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  struct importer im = {.io = io, .name = name, .fd = fd,
                        .progress = progress, .arg = arg};
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
    im.total = (uint64_t)st.st_size;
  export_in_fd(&im.in, &im.fd);
  im.m = calloc(2, sizeof *im.m);
  int r = im.m ? image_check_name("image name", name)
               : lbd_error(ENOMEM, "out of memory");
  if (r == 0) {
    im.prev = im.m + 1;
    r = import_run(&im, opts);
  }
  if (r == 0) {
    r = lbd_close(im.img); /* frees it, also on failure */
    im.img = NULL;
  }
  if (r < 0)
    import_undo(&im, r);
  export_image_header_free(&im.h);
  free(im.m);
  return r < 0 ? lbd_error_prefix(r, "importing image %s (format 2)",
                                  name ? name : "")
               : 0;
}
