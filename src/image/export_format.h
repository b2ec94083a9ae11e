/* rbd's file formats: the incremental diff (v1 and v2) and the image
 * export format 2, as Ceph documents them (doc/dev/rbd-diff.rst,
 * doc/dev/rbd-export.rst) and rbd writes them.
 *
 *   diff v1:  "rbd diff v1\n", then records: a tag byte and its fields
 *             'f' le32 len, name    start snapshot
 *             't' le32 len, name    end snapshot
 *             's' le64 size         image size at the end
 *             'w' le64 off, le64 len, data
 *             'z' le64 off, le64 len
 *             'e'                   end
 *   diff v2:  "rbd diff v2\n", then each record but 'e' has an le64
 *             length of what follows the tag (so unknown tags can be
 *             skipped); also 'p' (protection of the end snapshot, one byte
 *             0 or 1, after a length of 8: what the document says and
 *             rbd 16.2.15 writes; rbd reads one byte whatever the length
 *             says, and so does lbd, 1 or 8).
 *   image v2: "rbd image v2\n", records tag | le64 length | data:
 *             'O' order, 'F' format, 'T' features, 'U' stripe unit,
 *             'C' stripe count (le64 each), 'M' image-meta (le32 key
 *             length, key, le32 value length, value); 'E' ends them.
 *             Then "rbd image diffs v2\n" (rbd's banner, which the document
 *             leaves out), le64 number of diffs, and that many diff v2
 *             streams: one per snapshot, oldest first, then the head.
 *
 * The parsers read through a small stream interface (struct export_in) so
 * that files, pipes, memory (the fuzz target) and, later, remote streams of
 * import-only migration sources share them.  Every length is checked
 * before it is used: a malformed stream gives EINVAL with what and where,
 * never a crash or an unbounded allocation. */
#ifndef LBD_IMAGE_EXPORT_FORMAT_H
#define LBD_IMAGE_EXPORT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lbd/lbd.h"

#define EXPORT_DIFF_BANNER_V1 "rbd diff v1\n"
#define EXPORT_DIFF_BANNER_V2 "rbd diff v2\n"
#define EXPORT_IMAGE_BANNER_V2 "rbd image v2\n"
#define EXPORT_IMAGE_DIFFS_BANNER_V2 "rbd image diffs v2\n"
#define EXPORT_DIFF_BANNER_LEN 12

/* Record tags. */
#define EXPORT_TAG_FROM_SNAP 'f'
#define EXPORT_TAG_TO_SNAP 't'
#define EXPORT_TAG_SIZE 's'
#define EXPORT_TAG_PROTECT 'p'
#define EXPORT_TAG_WRITE 'w'
#define EXPORT_TAG_ZERO 'z'
#define EXPORT_TAG_END 'e'
#define EXPORT_TAG_ORDER 'O'
#define EXPORT_TAG_FORMAT 'F'
#define EXPORT_TAG_FEATURES 'T'
#define EXPORT_TAG_STRIPE_UNIT 'U'
#define EXPORT_TAG_STRIPE_COUNT 'C'
#define EXPORT_TAG_META 'M'
#define EXPORT_TAG_IMAGE_END 'E'

#define EXPORT_MAX_NAME 4096          /* snapshot names, as rbd reads them */
#define EXPORT_MAX_META (1u << 20)    /* one image-meta record */
#define EXPORT_MAX_META_TOTAL (16u << 20)

/* ---- streams (export_stream.c) ----------------------------------------- */

struct export_in {
  /* Like read(2): bytes read, 0 at the end, or a negative errno. */
  ssize_t (*read)(void *ctx, void *buf, size_t len);
  /* Skip LEN bytes (NULL: read them); 0 or a negative errno. */
  int (*skip)(void *ctx, uint64_t len);
  void *ctx;
  uint64_t pos; /* bytes consumed so far */
};

struct export_out {
  int (*write)(void *ctx, const void *buf, size_t len); /* all or error */
  void *ctx;
  uint64_t pos;
};

/* A stream over file descriptor FD (skips seek in a regular file). */
void export_in_fd(struct export_in *in, int *fd);
void export_out_fd(struct export_out *out, int *fd);

struct export_mem {
  const unsigned char *data;
  size_t size, at;
};
void export_in_mem(struct export_in *in, struct export_mem *m);

/* Exactly LEN bytes; EINVAL naming WHAT if the stream ends first. */
int export_read(struct export_in *in, void *buf, size_t len, const char *what);
int export_skip(struct export_in *in, uint64_t len, const char *what);
int export_read_u8(struct export_in *in, uint8_t *v, const char *what);
int export_read_le32(struct export_in *in, uint32_t *v, const char *what);
int export_read_le64(struct export_in *in, uint64_t *v, const char *what);

int export_write(struct export_out *out, const void *buf, size_t len);
/* Little-endian encoders into P; they return P advanced. */
unsigned char *export_put_le32(unsigned char *p, uint32_t v);
unsigned char *export_put_le64(unsigned char *p, uint64_t v);

/* A file descriptor the stream on FD can be read from twice: FD itself if
 * it is a regular file (*SPOOLED false), else a temporary file (unlinked)
 * holding all of FD's bytes, which the caller closes. */
int export_seekable(int fd, int *out, bool *spooled);

/* ---- diff streams (export_parse.c) --------------------------------------- */

struct export_diff_meta {
  int version; /* 1 or 2 */
  bool has_from, has_to, has_size, is_protected;
  char from[EXPORT_MAX_NAME + 1];
  char to[EXPORT_MAX_NAME + 1];
  uint64_t size;
};

/* A data record ('w' or 'z', OFF and LEN inside the size) or the end
 * ('e').  After a 'w' the caller consumes exactly LEN bytes of data. */
struct export_record {
  char tag;
  uint64_t off, len;
};

/* Read a diff's banner (VERSION 1 or 2; 0: either) and metadata records,
 * up to its first data record or its end, which lands in *FIRST.  EINVAL
 * unless there is a size, and a non-zero one. */
int export_diff_begin(struct export_in *in, int version,
                      struct export_diff_meta *meta,
                      struct export_record *first);
/* The next data record or the end. */
int export_diff_next(struct export_in *in, const struct export_diff_meta *meta,
                     struct export_record *rec);
/* Consume the rest of a diff whose record REC was just read: every record
 * up to and including the end, skipping data.  ORDERED: records must be
 * ascending and disjoint (EINVAL otherwise). */
int export_diff_skip_body(struct export_in *in,
                          const struct export_diff_meta *meta,
                          struct export_record *rec, bool ordered);

/* What a walk over a diff or an image stream reports (export_diff_walk_body,
 * export_image_walk): each diff's metadata once its records before the
 * data are read (INDEX from 0), and each data record ('w' or 'z') with the
 * stream position where a 'w' record's data starts.  Either may be NULL; a
 * negative return stops the walk with that error. */
struct export_visitor {
  int (*diff)(void *arg, uint64_t index, const struct export_diff_meta *m);
  int (*record)(void *arg, const struct export_record *rec,
                uint64_t data_pos);
  void *arg;
};
/* export_diff_skip_body that tells V (may be NULL) of every data record. */
int export_diff_walk_body(struct export_in *in,
                          const struct export_diff_meta *meta,
                          struct export_record *rec, bool ordered,
                          const struct export_visitor *v);

struct export_image_header {
  bool has_order, has_features, has_stripe_unit, has_stripe_count;
  uint64_t order, features, stripe_unit, stripe_count;
  struct lbd_metadata *meta; /* image-meta pairs, malloc'd */
  size_t nmeta;
};
/* Read "rbd image v2\n", its records and 'E', then the diffs banner and
 * *NDIFFS (at least 1). */
int export_image_begin(struct export_in *in, struct export_image_header *h,
                       uint64_t *ndiffs);
void export_image_header_free(struct export_image_header *h);

/* Walk a whole export format 2 stream after its header (export_image_begin
 * gave *NDIFFS = N): each diff must start where the one before it ends;
 * V (may be NULL) hears of each diff and data record.  What
 * export_check_image runs, and the index of an rbd-export import source. */
int export_image_walk(struct export_in *in, uint64_t ndiffs,
                      const struct export_visitor *v);

/* Check a whole stream: a diff (v1 or v2), or an export format 2 image
 * (with the snapshot chain of its diffs).  What the fuzz target runs. */
int export_check_diff(struct export_in *in);
int export_check_image(struct export_in *in);

/* ---- writing (export_diff.c) ------------------------------------------ */

/* Write IMG's diff from snapshot FROM (id FROM_ID, FROM_SIZE bytes; NULL and
 * 0: from the beginning) to its version open, named TO if at a snapshot,
 * in diff format VERSION.  PROGRESS hears image offsets. */
int export_write_diff(struct lbd_image *img, const char *from,
                      uint64_t from_id, uint64_t from_size, const char *to,
                      bool is_protected, bool whole_object, int version,
                      struct export_out *out, lbd_progress_fn_t progress,
                      void *arg);
/* Apply the data records of a diff to IMG, from its record *REC on, to its
 * end (records checked as export_diff_next does). */
int export_apply_body(struct lbd_image *img, struct export_in *in,
                      const struct export_diff_meta *meta,
                      struct export_record *rec, lbd_progress_fn_t progress,
                      void *arg, uint64_t total);

#endif
