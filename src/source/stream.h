/* Streams: random-access, read-only byte sources that an import reads an
 * image file from (the reference doc's "Streams": file, http, s3).
 *
 * A stream is opened from the "stream" object of a source-spec (JSON, see
 * source.h); it knows its size when open returns, and reads any range at
 * any time from any thread.  Errors: 0 or a negative errno with a message
 * for the user through lbd_error() (util/error.h) that never contains a
 * secret (S3 keys are replaced by "***"). */
#ifndef LBD_SOURCE_STREAM_H
#define LBD_SOURCE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "lbd/lbd.h"

struct extent_set;

struct stream;

struct stream_ops {
  /* Read LEN bytes at OFF into BUF: the count read (short only at the end
   * of the stream), or a negative errno. */
  ssize_t (*read)(struct stream *s, uint64_t off, size_t len, void *buf);
  void (*close)(struct stream *s);
  /* Added: a stream of the same type for NAME relative to S (see
   * stream_open_relative); NULL if the type has no such notion. */
  int (*open_relative)(const struct stream *s, const char *name,
                       struct stream **out);
  /* Added: add to OUT the extents of [OFF, OFF+LEN) that may hold data
   * (holes and known zeroes left out; a superset is allowed, clipped to
   * the size).  NULL: every byte may hold data.  File: SEEK_DATA/SEEK_HOLE;
   * nbd: base:allocation block status. */
  int (*extents)(struct stream *s, uint64_t off, uint64_t len,
                 struct extent_set *out);
};

struct stream {
  const struct stream_ops *ops;
  uint64_t size;
  char *name;   /* for messages: a path or URL, without secrets */
  lbd_cluster_t *cluster; /* borrowed: for config:// keys; may be NULL */
};

/* Open the stream SPEC describes ({"type": "file", "file_path": ...},
 * {"type": "http", "url": ...}, {"type": "s3", "url": ...,
 * "access_key": ..., "secret_key": ...}, {"type": "nbd", "uri":
 * "nbd://HOST[:PORT]/EXPORT" or "nbd+unix:///EXPORT?socket=PATH"}; a key "config://PATH" is read from
 * CLUSTER's config-key store, as the reference doc's MON config-key store).
 * CLUSTER may be NULL (then config:// keys are refused). */
int stream_open(const json_t *spec, lbd_cluster_t *cluster,
                struct stream **out);
/* A stream of the same type for NAME (a path or URL, relative to BASE's):
 * what an image names as its backing file.  It must stay beside BASE, as
 * an image from outside cannot be trusted: a file in BASE's directory or
 * below, a URL on BASE's scheme, host and port (an S3 stream signs every
 * request with the spec's keys).  EACCES otherwise, saying so. */
int stream_open_relative(const struct stream *base, const char *name,
                         struct stream **out);
static inline ssize_t stream_read(struct stream *s, uint64_t off, size_t len,
                                  void *buf)
{
  return s->ops->read(s, off, len, buf);
}
/* Add to OUT the extents of [OFF, OFF+LEN) of S that may hold data (all
 * of it for a stream type that cannot tell). */
int stream_extents(struct stream *s, uint64_t off, uint64_t len,
                   struct extent_set *out);
/* Close S and free it; S may be NULL. */
void stream_close(struct stream *s);

/* Concurrency: every stream type (file, http, s3, nbd) allows stream_read from
 * any number of threads at once on one stream; open and close are not
 * concurrent with anything else on the same stream.
 *
 * Errors (besides a type's own): EINVAL for a malformed spec (the message
 * names the field), ENOENT for a missing file or object (HTTP 404),
 * EACCES for a refused access (HTTP 401/403, a bad S3 key or signature),
 * ECONNREFUSED / EHOSTUNREACH / ETIMEDOUT for a server that cannot be
 * reached, ENOTSUP for a server that ignores Range requests, ENOENT
 * also for an NBD export the server does not have, EIO for
 * anything else a server did wrong (after retries for transient errors). */

#endif
