/* Parsing rbd's diff streams (v1, v2) and the image export format 2 (see
 * export_format.h).  Every field is checked before it is used: lengths
 * against the record and the limits, offsets against the image size,
 * names for NUL bytes; what is wrong is said with the byte it was found at. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/export_format.h"
#include "util/error.h"

static int bad(const struct export_in *in, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* EINVAL: "malformed stream at byte N: <what>". */
static int bad(const struct export_in *in, const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lbd_error(EINVAL, "malformed stream at byte %" PRIu64 ": %s",
                   in->pos, msg);
}

static const char *tag_name(int tag)
{
  switch (tag) {
  case EXPORT_TAG_FROM_SNAP: return "start snapshot ('f')";
  case EXPORT_TAG_TO_SNAP: return "end snapshot ('t')";
  case EXPORT_TAG_SIZE: return "image size ('s')";
  case EXPORT_TAG_PROTECT: return "protection ('p')";
  case EXPORT_TAG_WRITE: return "data ('w')";
  case EXPORT_TAG_ZERO: return "zero ('z')";
  default: return "record";
  }
}

static int read_banner(struct export_in *in, const char *want, size_t len,
                       const char *what)
{
  char buf[32];
  int r = export_read(in, buf, len, what);
  if (r == 0 && memcmp(buf, want, len) != 0)
    r = lbd_error(EINVAL, "not %s: the stream does not start with \"%.*s\\n\"",
                  what, (int)len - 1, want);
  return r;
}

/* ---- diff records ------------------------------------------------------ */

/* A record's tag and, in v2 (all but the end), the length after it. */
static int read_tag(struct export_in *in, int version, uint8_t *tag,
                    uint64_t *len)
{
  int r = export_read_u8(in, tag, "a record tag");
  *len = 0;
  if (r == 0 && version == 2 && *tag != EXPORT_TAG_END)
    r = export_read_le64(in, len, tag_name(*tag));
  return r;
}

/* le32 length and the name (v2: RECLEN must be 4 + its length). */
static int read_name(struct export_in *in, int version, uint64_t reclen,
                     int tag, char *name)
{
  uint32_t n;
  int r = export_read_le32(in, &n, tag_name(tag));
  if (r < 0)
    return r;
  if (n == 0 || n > EXPORT_MAX_NAME)
    return bad(in, "%s: a name of %" PRIu64 " bytes (1 to %" PRIu64 ")",
               tag_name(tag), (uint64_t)n, (uint64_t)EXPORT_MAX_NAME);
  if (version == 2 && reclen != 4 + (uint64_t)n)
    return bad(in, "%s: record length %" PRIu64 ", want %" PRIu64,
               tag_name(tag), reclen, 4 + (uint64_t)n);
  if ((r = export_read(in, name, n, tag_name(tag))) < 0)
    return r;
  name[n] = '\0';
  if (strlen(name) != n)
    return bad(in, "%s: the name holds a NUL byte", tag_name(tag));
  return 0;
}

static int want_len(struct export_in *in, int version, uint64_t reclen,
                    uint64_t want, int tag)
{
  if (version == 2 && reclen != want)
    return bad(in, "%s: record length %" PRIu64 ", want %" PRIu64,
               tag_name(tag), reclen, want);
  return 0;
}

static int read_snap(struct export_in *in, int version, uint64_t reclen,
                     int tag, bool *seen, char *name)
{
  if (*seen)
    return bad(in, "a second %s record", tag_name(tag));
  int r = read_name(in, version, reclen, tag, name);
  *seen = r == 0;
  return r;
}

static int read_meta(struct export_in *in, struct export_diff_meta *m,
                     uint8_t tag, uint64_t reclen)
{
  int r;
  switch (tag) {
  case EXPORT_TAG_FROM_SNAP:
    return read_snap(in, m->version, reclen, tag, &m->has_from, m->from);
  case EXPORT_TAG_TO_SNAP:
    return read_snap(in, m->version, reclen, tag, &m->has_to, m->to);
  case EXPORT_TAG_SIZE:
    if (m->has_size)
      return bad(in, "a second %s record", tag_name(tag));
    if ((r = want_len(in, m->version, reclen, 8, tag)) == 0 &&
        (r = export_read_le64(in, &m->size, tag_name(tag))) == 0)
      m->has_size = true;
    return r;
  default: { /* 'p': one byte, whatever the length says (1 or 8), as rbd */
    uint8_t v = 0;
    if (reclen != 1 && reclen != 8)
      return bad(in, "%s: record length %" PRIu64 ", want 1",
                 tag_name(tag), reclen);
    r = export_read_u8(in, &v, tag_name(tag));
    m->is_protected = v != 0;
    return r;
  }
  }
}

static int read_extent(struct export_in *in, const struct export_diff_meta *m,
                       uint8_t tag, uint64_t reclen, struct export_record *rec)
{
  if (!m->has_size)
    return bad(in, "%s record before the image size",
               tag_name(tag));
  int r = export_read_le64(in, &rec->off, tag_name(tag));
  if (r == 0)
    r = export_read_le64(in, &rec->len, tag_name(tag));
  if (r < 0)
    return r;
  rec->tag = (char)tag;
  if (rec->off > m->size || rec->len > m->size - rec->off)
    return bad(in, "%s: extent at %" PRIu64 " of %" PRIu64
               " bytes goes past the image size", tag_name(tag), rec->off,
               rec->len);
  uint64_t want = tag == EXPORT_TAG_WRITE ? 16 + rec->len : 16;
  return want_len(in, m->version, reclen, want, tag);
}

static bool is_meta_tag(uint8_t tag)
{
  return tag == EXPORT_TAG_FROM_SNAP || tag == EXPORT_TAG_TO_SNAP ||
         tag == EXPORT_TAG_SIZE || tag == EXPORT_TAG_PROTECT;
}

/* One record: metadata (if META_OK) into M, a data record or the end into
 * REC (*GOT_REC), an unknown v2 record skipped. */
static int diff_record(struct export_in *in, struct export_diff_meta *m,
                       bool meta_ok, struct export_record *rec, bool *got_rec)
{
  uint8_t tag;
  uint64_t reclen;
  uint64_t at = in->pos;
  int r = read_tag(in, m->version, &tag, &reclen);
  *got_rec = false;
  if (r < 0)
    return r;
  bool v2_meta = tag == EXPORT_TAG_PROTECT && m->version == 2;
  if (is_meta_tag(tag) && (tag != EXPORT_TAG_PROTECT || v2_meta)) {
    if (!meta_ok)
      return bad(in, "%s record after the data records",
                 tag_name(tag));
    return read_meta(in, m, tag, reclen);
  }
  if (tag == EXPORT_TAG_WRITE || tag == EXPORT_TAG_ZERO) {
    *got_rec = true;
    return read_extent(in, m, tag, reclen, rec);
  }
  if (tag == EXPORT_TAG_END) {
    *rec = (struct export_record){EXPORT_TAG_END, 0, 0};
    *got_rec = true;
    return 0;
  }
  if (m->version == 2) /* rbd skips what it does not know */
    return export_skip(in, reclen, "an unknown record");
  in->pos = at; /* point at the tag */
  return bad(in, "unknown record tag 0x%02x", tag);
}

int export_diff_begin(struct export_in *in, int version,
                      struct export_diff_meta *meta,
                      struct export_record *first)
{
  char banner[EXPORT_DIFF_BANNER_LEN];
  memset(meta, 0, sizeof *meta);
  int r = export_read(in, banner, sizeof banner, "the diff banner");
  if (r < 0)
    return r;
  if (memcmp(banner, EXPORT_DIFF_BANNER_V1, sizeof banner) == 0)
    meta->version = 1;
  else if (memcmp(banner, EXPORT_DIFF_BANNER_V2, sizeof banner) == 0)
    meta->version = 2;
  if (!meta->version || (version && meta->version != version))
    return lbd_error(EINVAL, "not an rbd diff stream: it does not start with "
                     "\"rbd diff v%d\\n\"", version ? version : 1);
  bool got = false;
  while (r == 0 && !got)
    r = diff_record(in, meta, true, first, &got);
  if (r == 0 && !meta->has_size)
    r = lbd_error(EINVAL, "malformed stream at byte %" PRIu64 ": the diff "
                  "has no image size record", in->pos);
  return r;
}

int export_diff_next(struct export_in *in, const struct export_diff_meta *meta,
                     struct export_record *rec)
{
  struct export_diff_meta m = *meta;
  bool got = false;
  int r = 0;
  while (r == 0 && !got)
    r = diff_record(in, &m, false, rec, &got);
  return r;
}

int export_diff_walk_body(struct export_in *in,
                          const struct export_diff_meta *meta,
                          struct export_record *rec, bool ordered,
                          const struct export_visitor *v)
{
  uint64_t prev_end = 0;
  int r = 0;
  while (r == 0 && rec->tag != EXPORT_TAG_END) {
    if (ordered && rec->len && rec->off < prev_end)
      return bad(in, "%s: extent at %" PRIu64 " before the end of the one "
                 "before it (%" PRIu64 "): records must be in ascending order",
                 tag_name(rec->tag), rec->off, prev_end);
    if (rec->len)
      prev_end = rec->off + rec->len;
    if (v && v->record && (r = v->record(v->arg, rec, in->pos)) < 0)
      return r;
    if (rec->tag == EXPORT_TAG_WRITE)
      r = export_skip(in, rec->len, "the data of a 'w' record");
    if (r == 0)
      r = export_diff_next(in, meta, rec);
  }
  return r;
}

int export_diff_skip_body(struct export_in *in,
                          const struct export_diff_meta *meta,
                          struct export_record *rec, bool ordered)
{
  return export_diff_walk_body(in, meta, rec, ordered, NULL);
}

/* ---- the image export format 2 ------------------------------------------ */

void export_image_header_free(struct export_image_header *h)
{
  lbd_metadata_list_free(h->meta, h->nmeta);
  h->meta = NULL;
  h->nmeta = 0;
}

/* le32 length and that many bytes, within LEFT bytes of the record. */
static int read_string(struct export_in *in, uint64_t *left, char **out)
{
  uint32_t n;
  int r = *left < 4 ? bad(in, "%s: record too short",
                          "image-meta ('M')")
                    : export_read_le32(in, &n, "image-meta ('M')");
  if (r < 0)
    return r;
  *left -= 4;
  if (n > *left)
    return bad(in, "%s: a string of %" PRIu64 " bytes in a record with %"
               PRIu64 " left", "image-meta ('M')", (uint64_t)n, *left);
  char *s = malloc((size_t)n + 1);
  if (!s)
    return lbd_error(ENOMEM, "out of memory");
  if ((r = export_read(in, s, n, "image-meta ('M')")) == 0) {
    s[n] = '\0';
    if (strlen(s) != n)
      r = bad(in, "%s: a string holds a NUL byte",
              "image-meta ('M')");
  }
  if (r < 0) {
    free(s);
    return r;
  }
  *left -= n;
  *out = s;
  return 0;
}

static int read_image_meta(struct export_in *in, struct export_image_header *h,
                           uint64_t reclen, uint64_t *total)
{
  if (reclen > EXPORT_MAX_META || *total + reclen > EXPORT_MAX_META_TOTAL)
    return bad(in, "%s: %" PRIu64 " bytes, over the limit of %" PRIu64,
               "image-meta ('M')", reclen,
               (uint64_t)(reclen > EXPORT_MAX_META ? EXPORT_MAX_META
                                                   : EXPORT_MAX_META_TOTAL));
  *total += reclen;
  struct lbd_metadata *p = realloc(h->meta, (h->nmeta + 1) * sizeof *p);
  if (!p)
    return lbd_error(ENOMEM, "out of memory");
  h->meta = p;
  struct lbd_metadata kv = {NULL, NULL};
  uint64_t left = reclen;
  int r = read_string(in, &left, &kv.key);
  if (r == 0)
    r = read_string(in, &left, &kv.value);
  if (r == 0 && left)
    r = bad(in, "%s: %" PRIu64 " bytes left over in the record",
            "image-meta ('M')", left);
  if (r < 0) {
    free(kv.key);
    free(kv.value);
    return r;
  }
  h->meta[h->nmeta++] = kv;
  return 0;
}

static int read_image_record(struct export_in *in,
                             struct export_image_header *h, uint8_t tag,
                             uint64_t reclen, uint64_t *meta_total)
{
  uint64_t *v = NULL;
  bool *has = NULL;
  switch (tag) {
  case EXPORT_TAG_ORDER: v = &h->order; has = &h->has_order; break;
  case EXPORT_TAG_FEATURES: v = &h->features; has = &h->has_features; break;
  case EXPORT_TAG_STRIPE_UNIT:
    v = &h->stripe_unit; has = &h->has_stripe_unit; break;
  case EXPORT_TAG_STRIPE_COUNT:
    v = &h->stripe_count; has = &h->has_stripe_count; break;
  case EXPORT_TAG_META: return read_image_meta(in, h, reclen, meta_total);
  default: /* 'F' (always 2) and what rbd may add later: skipped */
    return export_skip(in, reclen, "an image record");
  }
  if (reclen != 8)
    return bad(in, "image record '%c': length %" PRIu64 ", want 8", tag,
               reclen);
  *has = true;
  return export_read_le64(in, v, "an image record");
}

int export_image_begin(struct export_in *in, struct export_image_header *h,
                       uint64_t *ndiffs)
{
  memset(h, 0, sizeof *h);
  uint64_t meta_total = 0;
  int r = read_banner(in, EXPORT_IMAGE_BANNER_V2,
                      strlen(EXPORT_IMAGE_BANNER_V2),
                      "an rbd export format 2 stream");
  for (;;) {
    uint8_t tag;
    uint64_t reclen;
    if (r == 0)
      r = export_read_u8(in, &tag, "an image record tag");
    if (r < 0 || tag == EXPORT_TAG_IMAGE_END)
      break;
    if ((r = export_read_le64(in, &reclen, "an image record")) == 0)
      r = read_image_record(in, h, tag, reclen, &meta_total);
  }
  if (r == 0)
    r = read_banner(in, EXPORT_IMAGE_DIFFS_BANNER_V2,
                    strlen(EXPORT_IMAGE_DIFFS_BANNER_V2),
                    "the diffs of an rbd export format 2 stream");
  if (r == 0)
    r = export_read_le64(in, ndiffs, "the number of diffs");
  if (r == 0 && *ndiffs == 0)
    r = lbd_error(EINVAL, "malformed stream at byte %" PRIu64 ": it holds no "
                  "diff", in->pos);
  if (r < 0)
    export_image_header_free(h);
  return r;
}

/* ---- whole streams ------------------------------------------------------ */

int export_check_diff(struct export_in *in)
{
  struct export_diff_meta *m = malloc(sizeof *m);
  struct export_record rec;
  if (!m)
    return lbd_error(ENOMEM, "out of memory");
  int r = export_diff_begin(in, 0, m, &rec);
  if (r == 0)
    r = export_diff_skip_body(in, m, &rec, false);
  free(m);
  return r;
}

int export_image_walk(struct export_in *in, uint64_t n,
                      const struct export_visitor *v)
{
  struct export_diff_meta *m = malloc(2 * sizeof *m), *prev = m + 1;
  if (!m)
    return lbd_error(ENOMEM, "out of memory");
  memset(prev, 0, sizeof *prev);
  int r = 0;
  for (uint64_t i = 0; r == 0 && i < n; i++) {
    struct export_record rec;
    if ((r = export_diff_begin(in, 2, m, &rec)) == 0 &&
        (m->has_from != prev->has_to ||
         (m->has_from && strcmp(m->from, prev->to) != 0)))
      r = lbd_error(EINVAL, "malformed stream at byte %" PRIu64 ": diff %"
                    PRIu64 " does not start where the one before it ends",
                    in->pos, i + 1);
    if (r == 0 && v && v->diff)
      r = v->diff(v->arg, i, m);
    if (r == 0)
      r = export_diff_walk_body(in, m, &rec, false, v);
    *prev = *m;
  }
  free(m);
  return r;
}

int export_check_image(struct export_in *in)
{
  struct export_image_header h;
  uint64_t n;
  int r = export_image_begin(in, &h, &n);
  if (r < 0)
    return r;
  export_image_header_free(&h);
  return export_image_walk(in, n, NULL);
}
