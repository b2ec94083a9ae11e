/* rbd's incremental diffs: export-diff, import-diff and merge-diff (the
 * format: export_format.h).
 *
 * export-diff writes the extents lbd_diff_iterate reports: data read from
 * the image ('w', or 'z' for a chunk that reads as zeroes, as rbd does)
 * and zeroed extents ('z').  import-diff checks the whole stream before it
 * changes anything, then applies it: writes of the data blocks, discards of
 * the zero ones.  merge-diff walks both diffs at once, in image order. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/diff.h"
#include "image/export_format.h"
#include "util/error.h"

#define CHUNK (4ULL << 20) /* data per 'w' record at most, and per read */
#define SPARSE 4096ULL     /* zero blocks of a 'w' record are discarded */

static bool all_zero(const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

static int call_progress(lbd_progress_fn_t progress, void *arg, uint64_t done,
                         uint64_t total)
{
  if (progress && progress(done, total, arg))
    return lbd_error(ECANCELED, "stopped");
  return 0;
}

/* ---- writing records ---------------------------------------------------- */

static int put_name(struct export_out *out, int version, char tag,
                    const char *name)
{
  size_t n = strlen(name);
  unsigned char hdr[13], *p = hdr;
  *p++ = (unsigned char)tag;
  if (version == 2)
    p = export_put_le64(p, 4 + (uint64_t)n);
  p = export_put_le32(p, (uint32_t)n);
  int r = export_write(out, hdr, (size_t)(p - hdr));
  return r < 0 ? r : export_write(out, name, n);
}

static int put_size(struct export_out *out, int version, uint64_t size)
{
  unsigned char rec[17], *p = rec;
  *p++ = EXPORT_TAG_SIZE;
  if (version == 2)
    p = export_put_le64(p, 8);
  p = export_put_le64(p, size);
  return export_write(out, rec, (size_t)(p - rec));
}

/* 'p', length 8, then the flag in one byte: what rbd (16.2.15) writes, its
 * length saying 8 where one byte follows (tests/rados/test_rbd_interop.sh
 * compares with rbd's own files). */
static int put_protect(struct export_out *out, bool is_protected)
{
  unsigned char rec[10], *p = rec;
  *p++ = EXPORT_TAG_PROTECT;
  p = export_put_le64(p, 8);
  *p++ = is_protected ? 1 : 0;
  return export_write(out, rec, (size_t)(p - rec));
}

static int put_extent(struct export_out *out, int version, char tag,
                      uint64_t off, uint64_t len)
{
  unsigned char rec[25], *p = rec;
  *p++ = (unsigned char)tag;
  if (version == 2)
    p = export_put_le64(p, tag == EXPORT_TAG_WRITE ? 16 + len : 16);
  p = export_put_le64(p, off);
  p = export_put_le64(p, len);
  return export_write(out, rec, (size_t)(p - rec));
}

static int put_end(struct export_out *out)
{
  unsigned char e = EXPORT_TAG_END;
  return export_write(out, &e, 1);
}

static int put_header(struct export_out *out, int version, const char *from,
                      const char *to, bool is_protected, uint64_t size)
{
  int r = export_write(out, version == 2 ? EXPORT_DIFF_BANNER_V2
                                         : EXPORT_DIFF_BANNER_V1,
                       EXPORT_DIFF_BANNER_LEN);
  if (r == 0 && from)
    r = put_name(out, version, EXPORT_TAG_FROM_SNAP, from);
  if (r == 0 && to)
    r = put_name(out, version, EXPORT_TAG_TO_SNAP, to);
  if (r == 0 && to && version == 2)
    r = put_protect(out, is_protected);
  return r < 0 ? r : put_size(out, version, size);
}

/* ---- export-diff -------------------------------------------------------- */

struct diff_writer {
  struct lbd_image *img;
  struct export_out *out;
  int version;
  char *buf;
  uint64_t total;
  lbd_progress_fn_t progress;
  void *arg;
};

/* One chunk of data: 'w' with it, or 'z' if it reads as zeroes. */
static int write_chunk(struct diff_writer *w, uint64_t off, uint64_t len)
{
  ssize_t n = lbd_read(w->img, off, (size_t)len, w->buf);
  if (n >= 0 && (uint64_t)n != len)
    n = lbd_error(EIO, "short read of %" PRIu64 " bytes at %" PRIu64, len,
                  off);
  if (n < 0)
    return (int)n;
  bool zero = all_zero(w->buf, (size_t)len);
  int r = put_extent(w->out, w->version,
                     zero ? EXPORT_TAG_ZERO : EXPORT_TAG_WRITE, off, len);
  if (r == 0 && !zero)
    r = export_write(w->out, w->buf, (size_t)len);
  return r;
}

static int write_extent(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct diff_writer *w = arg;
  int r = 0;
  if (!exists)
    r = put_extent(w->out, w->version, EXPORT_TAG_ZERO, off, len);
  while (r == 0 && exists && len) {
    uint64_t n = len < CHUNK ? len : CHUNK;
    r = write_chunk(w, off, n);
    off += n;
    len -= n;
    if (r == 0)
      r = call_progress(w->progress, w->arg, off, w->total);
  }
  if (r == 0 && !exists)
    r = call_progress(w->progress, w->arg, off + len, w->total);
  return r;
}

int export_write_diff(struct lbd_image *img, const char *from,
                      uint64_t from_id, uint64_t from_size, const char *to,
                      bool is_protected, bool whole_object, int version,
                      struct export_out *out, lbd_progress_fn_t progress,
                      void *arg)
{
  uint64_t size;
  int r = image_diff_end_size(img, &size);
  if (r == 0)
    r = put_header(out, version, from, to, is_protected, size);
  if (r < 0)
    return r;
  struct diff_writer w = {img, out, version, malloc(CHUNK), size, progress,
                          arg};
  if (!w.buf)
    return lbd_error(ENOMEM, "out of memory");
  unsigned flags = IMAGE_DIFF_INCLUDE_PARENT |
                   (whole_object ? IMAGE_DIFF_WHOLE_OBJECT : 0);
  r = image_diff_iterate(img, from_id, from_size, 0, size, flags,
                         write_extent, &w);
  free(w.buf);
  if (r == 0)
    r = put_end(out);
  return r == 0 ? call_progress(progress, arg, size, size) : r;
}

/* The name of the snapshot IMG is open at (NULL at the head). */
static int open_snap_name(struct lbd_image *img, struct lbd_snap_info *info,
                          const char **name)
{
  *name = NULL;
  if (img->snap_id == OBJSTORE_SNAP_HEAD)
    return 0;
  struct lbd_snap_info *snaps;
  size_t n;
  int r = image_snaps_read(img->io->pool, img->header_oid, &snaps, &n);
  if (r < 0)
    return r;
  r = lbd_error(ENOENT, "the snapshot the image is open at is gone");
  for (size_t i = 0; i < n; i++)
    if (snaps[i].id == img->snap_id) {
      *info = snaps[i];
      *name = info->name;
      lbd_error_clear();
      r = 0;
    }
  free(snaps);
  return r;
}

int lbd_export_diff(lbd_image_t *image, const char *from_snap,
                    bool whole_object, int fd, lbd_progress_fn_t progress,
                    void *arg)
{
  lbd_error_clear();
  struct lbd_snap_info from = {0}, end;
  const char *to;
  int r = open_snap_name(image, &end, &to);
  if (r == 0 && from_snap &&
      (r = image_snap_lookup(image->io->pool, image->header_oid, from_snap,
                             &from)) == -ENOENT)
    r = lbd_error(ENOENT, "image %s has no snapshot %s", image->name,
                  from_snap);
  struct export_out out;
  export_out_fd(&out, &fd);
  if (r == 0)
    r = export_write_diff(image, from_snap, from.id, from.size, to, false,
                          whole_object, 1, &out, progress, arg);
  return r < 0 ? lbd_error_prefix(r, "exporting a diff of image %s",
                                  image->name)
               : 0;
}

/* ---- applying a diff ---------------------------------------------------- */

static int apply_run(struct lbd_image *img, uint64_t off, const char *buf,
                     uint64_t len, bool zero)
{
  if (zero)
    return lbd_discard(img, off, len);
  ssize_t n = lbd_write(img, off, (size_t)len, buf);
  return n < 0 ? (int)n : 0;
}

/* Write BUF at OFF: its data blocks written, its zero blocks discarded. */
static int apply_data(struct lbd_image *img, uint64_t off, const char *buf,
                      uint64_t len)
{
  uint64_t i = 0;
  while (i < len) {
    uint64_t start = i;
    bool zero = true;
    while (i < len) {
      uint64_t e = ((off + i) / SPARSE + 1) * SPARSE - off;
      if (e > len)
        e = len;
      bool z = all_zero(buf + i, (size_t)(e - i));
      if (i > start && z != zero)
        break;
      zero = z;
      i = e;
    }
    int r = apply_run(img, off + start, buf + start, i - start, zero);
    if (r < 0)
      return r;
  }
  return 0;
}

static int apply_write(struct lbd_image *img, struct export_in *in,
                       const struct export_record *rec, char *buf)
{
  uint64_t off = rec->off, left = rec->len;
  int r = 0;
  while (r == 0 && left) {
    uint64_t n = left < CHUNK ? left : CHUNK;
    if ((r = export_read(in, buf, (size_t)n, "the data of a 'w' record")) == 0)
      r = apply_data(img, off, buf, n);
    off += n;
    left -= n;
  }
  return r;
}

int export_apply_body(struct lbd_image *img, struct export_in *in,
                      const struct export_diff_meta *meta,
                      struct export_record *rec, lbd_progress_fn_t progress,
                      void *arg, uint64_t total)
{
  char *buf = malloc(CHUNK);
  if (!buf)
    return lbd_error(ENOMEM, "out of memory");
  int r = 0;
  while (r == 0 && rec->tag != EXPORT_TAG_END) {
    if (rec->tag == EXPORT_TAG_WRITE)
      r = apply_write(img, in, rec, buf);
    else if (rec->len)
      r = lbd_discard(img, rec->off, rec->len);
    if (r == 0)
      r = call_progress(progress, arg, total ? in->pos : rec->off + rec->len,
                        total ? total : meta->size);
    if (r == 0)
      r = export_diff_next(in, meta, rec);
  }
  free(buf);
  return r;
}

/* ---- import-diff -------------------------------------------------------- */

/* The start snapshot must exist in IMG, the end one must not. */
static int check_target(struct lbd_image *img,
                        const struct export_diff_meta *m)
{
  struct lbd_snap_info info;
  int r = 0;
  if (m->has_from &&
      (r = image_snap_lookup(img->io->pool, img->header_oid, m->from,
                             &info)) == -ENOENT)
    return lbd_error(EINVAL, "start snapshot '%s' does not exist in the "
                     "image", m->from);
  if (r == 0 && m->has_to)
    r = image_check_name("end snapshot name", m->to);
  if (r == 0 && m->has_to &&
      (r = image_snap_lookup(img->io->pool, img->header_oid, m->to,
                             &info)) == 0)
    return lbd_error(EEXIST, "end snapshot '%s' already exists", m->to);
  if (r == -ENOENT) {
    lbd_error_clear();
    r = 0;
  }
  return r;
}

/* Read the diff from the start of IN's file: check it all, or apply it. */
static int import_pass(struct lbd_image *img, int fd, off_t start,
                       struct export_diff_meta *m, bool apply,
                       uint64_t *total, lbd_progress_fn_t progress, void *arg)
{
  struct export_in in;
  struct export_record rec;
  if (lseek(fd, start, SEEK_SET) < 0)
    return lbd_error(errno, "rewinding the stream: %s", strerror(errno));
  export_in_fd(&in, &fd);
  int r = export_diff_begin(&in, 0, m, &rec);
  if (r == 0 && !apply && (r = check_target(img, m)) == 0 &&
      (r = export_diff_skip_body(&in, m, &rec, false)) == 0)
    *total = in.pos;
  uint64_t size;
  if (r == 0 && apply && (r = lbd_get_size(img, &size)) == 0 &&
      size != m->size)
    r = lbd_resize(img, m->size);
  if (r == 0 && apply)
    r = export_apply_body(img, &in, m, &rec, progress, arg, *total);
  if (r == 0 && apply && m->has_to) {
    r = lbd_snap_create(img, m->to);
    if (r == 0 && m->is_protected)
      r = lbd_snap_protect(img, m->to);
  }
  return r;
}

int lbd_import_diff(lbd_image_t *image, int fd, lbd_progress_fn_t progress,
                    void *arg)
{
  lbd_error_clear();
  if (image->read_only)
    return lbd_error(EROFS, "importing a diff: image %s is open read-only",
                     image->name);
  int sfd;
  bool spooled;
  uint64_t total = 0;
  struct export_diff_meta *m = malloc(sizeof *m);
  int r = m ? export_seekable(fd, &sfd, &spooled)
            : lbd_error(ENOMEM, "out of memory");
  if (r < 0) {
    free(m);
    return lbd_error_prefix(r, "importing a diff into image %s", image->name);
  }
  off_t start = lseek(sfd, 0, SEEK_CUR);
  if (start < 0)
    r = lbd_error(errno, "examining the stream: %s", strerror(errno));
  if (r == 0) /* all of it first: a bad stream changes nothing */
    r = import_pass(image, sfd, start, m, false, &total, NULL, NULL);
  if (r == 0)
    r = import_pass(image, sfd, start, m, true, &total, progress, arg);
  if (spooled)
    close(sfd);
  free(m);
  return r < 0 ? lbd_error_prefix(r, "importing a diff into image %s",
                                  image->name)
               : 0;
}

/* ---- merge-diff --------------------------------------------------------- */

/* One input of the merge: its current record, trimmed as it is used. */
struct merge_src {
  struct export_in in;
  int fd;
  struct export_diff_meta *m;
  struct export_record rec;
  uint64_t prev_end;
  bool at_end;       /* its 'e' was read */
  bool done;         /* and its last record used */
  uint64_t tail_end; /* first: a zero record [size, tail_end) at its end */
  const char *name;
};

/* Make S's current record one to use: skip empty ones, turn the end into
 * the zero tail (if any) or done, and check the order. */
static int src_settle(struct merge_src *s)
{
  while (s->rec.tag != EXPORT_TAG_END && s->rec.len == 0) {
    int r = export_diff_next(&s->in, s->m, &s->rec);
    if (r < 0)
      return lbd_error_prefix(r, "the %s diff", s->name);
  }
  if (s->rec.tag == EXPORT_TAG_END) {
    s->at_end = true;
    s->done = s->tail_end <= s->m->size;
    if (!s->done)
      s->rec = (struct export_record){EXPORT_TAG_ZERO, s->m->size,
                                      s->tail_end - s->m->size};
    return 0;
  }
  if (s->rec.off < s->prev_end)
    return lbd_error(EINVAL, "the %s diff lists its records out of order "
                     "(an extent at %" PRIu64 " after one ending at %" PRIu64
                     "): merge-diff needs them ascending, as export-diff "
                     "writes them", s->name, s->rec.off, s->prev_end);
  s->prev_end = s->rec.off + s->rec.len;
  return 0;
}

static int src_next(struct merge_src *s)
{
  if (s->at_end) { /* the tail is used up */
    s->done = true;
    return 0;
  }
  int r = export_diff_next(&s->in, s->m, &s->rec);
  if (r < 0)
    return lbd_error_prefix(r, "the %s diff", s->name);
  return src_settle(s);
}

/* Use the first N bytes of S's record: copied to OUT if OUT, else dropped. */
static int src_take(struct merge_src *s, uint64_t n, struct export_out *out,
                    char *buf)
{
  int r = out ? put_extent(out, 1, s->rec.tag, s->rec.off, n) : 0;
  for (uint64_t left = n; r == 0 && s->rec.tag == EXPORT_TAG_WRITE && left;) {
    uint64_t k = left < CHUNK ? left : CHUNK;
    if (!out)
      r = export_skip(&s->in, k, "the data of a 'w' record");
    else if ((r = export_read(&s->in, buf, (size_t)k,
                              "the data of a 'w' record")) == 0)
      r = export_write(out, buf, (size_t)k);
    left -= k;
  }
  if (r < 0)
    return lbd_error_prefix(r, "the %s diff", s->name);
  s->rec.off += n;
  s->rec.len -= n;
  return s->rec.len ? 0 : src_next(s);
}

static int src_begin(struct merge_src *s, int fd, const char *name)
{
  s->fd = fd;
  s->name = name;
  export_in_fd(&s->in, &s->fd);
  if (!(s->m = malloc(sizeof *s->m)))
    return lbd_error(ENOMEM, "out of memory");
  int r = export_diff_begin(&s->in, 0, s->m, &s->rec);
  return r < 0 ? lbd_error_prefix(r, "the %s diff", name) : 0;
}

/* One step: the second diff's record wins where they overlap; the first's
 * is cut at the second's size. */
static int merge_step(struct merge_src *a, struct merge_src *b,
                      struct export_out *out, char *buf)
{
  uint64_t size = b->m->size;
  if (!b->done && (a->done || b->rec.off <= a->rec.off)) {
    uint64_t end = b->rec.off + b->rec.len;
    int r = src_take(b, b->rec.len, out, buf);
    while (r == 0 && !a->done && a->rec.off < end) {
      uint64_t n = end - a->rec.off;
      r = src_take(a, n < a->rec.len ? n : a->rec.len, NULL, buf);
    }
    return r;
  }
  if (a->rec.off >= size)
    return src_take(a, a->rec.len, NULL, buf);
  uint64_t limit = b->done ? size : (b->rec.off < size ? b->rec.off : size);
  uint64_t n = limit - a->rec.off;
  return src_take(a, n < a->rec.len ? n : a->rec.len, out, buf);
}

static uint64_t file_size(int fd)
{
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size
                                                    : 0;
}

static int merge(struct merge_src *a, struct merge_src *b,
                 struct export_out *out, lbd_progress_fn_t progress, void *arg)
{
  const struct export_diff_meta *fa = a->m, *fb = b->m;
  if (fa->has_to != fb->has_from || (fa->has_to && strcmp(fa->to, fb->from)))
    return lbd_error(EINVAL, "the second diff starts at %s%s%s, not where the "
                     "first ends (%s%s%s)", fb->has_from ? "snapshot '" : "",
                     fb->has_from ? fb->from : "the beginning",
                     fb->has_from ? "'" : "", fa->has_to ? "snapshot '" : "",
                     fa->has_to ? fa->to : "the head", fa->has_to ? "'" : "");
  char *buf = malloc(CHUNK);
  if (!buf)
    return lbd_error(ENOMEM, "out of memory");
  uint64_t total = file_size(a->fd) + file_size(b->fd);
  int r = put_header(out, 1, fa->has_from ? fa->from : NULL,
                     fb->has_to ? fb->to : NULL, false, fb->size);
  while (r == 0 && (!a->done || !b->done)) {
    r = merge_step(a, b, out, buf);
    if (r == 0 && total)
      r = call_progress(progress, arg, a->in.pos + b->in.pos, total);
  }
  free(buf);
  return r == 0 ? put_end(out) : r;
}

int lbd_merge_diff(int first_fd, int second_fd, int out_fd,
                   lbd_progress_fn_t progress, void *arg)
{
  lbd_error_clear();
  struct merge_src a = {0}, b = {0};
  struct export_out out;
  export_out_fd(&out, &out_fd);
  int r = src_begin(&a, first_fd, "first");
  if (r == 0)
    r = src_begin(&b, second_fd, "second");
  if (r == 0) {
    /* what the first diff leaves past its size reads as zeroes, as rbd */
    a.tail_end = b.m->size;
    if ((r = src_settle(&a)) == 0)
      r = src_settle(&b);
  }
  if (r == 0)
    r = merge(&a, &b, &out, progress, arg);
  free(a.m);
  free(b.m);
  return r < 0 ? lbd_error_prefix(r, "merging diffs") : 0;
}
