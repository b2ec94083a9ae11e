/* Image formats of an import-only source (the reference doc's "Formats":
 * raw, qcow): a read-only view of a virtual disk inside a stream, with its
 * snapshots, that says where it holds data so holes stay holes.  CLUSTER
 * (may be NULL) is passed to stream_open for config:// keys.
 *
 * Snapshot indexes go from 0 (oldest) to format_snap_count() - 1; FORMAT_HEAD
 * is the image itself.  Reads past the size return zeroes (never short).
 * Thread-safe: reads may come from several threads at once. */
#ifndef LBD_SOURCE_FORMAT_H
#define LBD_SOURCE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "source/stream.h"
#include "util/extents.h"

#define FORMAT_HEAD UINT32_MAX

struct format;

struct format_snap {
  char name[256];
  uint64_t size;
  int64_t timestamp; /* seconds since the epoch, 0 if unknown */
};

/* Open the format SPEC describes (the whole source-spec: {"type": "raw" |
 * "qcow" | "rbd-export", "stream": {...}, "snapshots": [...] (raw)}, or
 * {"type": "rbd-diff", "streams": [{...}, ...]}), opening its streams.
 * EINVAL / ENOTSUP with a message naming what is wrong or unsupported
 * (e.g. QCOW encryption, external data files). */
int format_open(const json_t *spec, lbd_cluster_t *cluster,
                struct format **out);
uint64_t format_size(const struct format *f, uint32_t snap);
uint32_t format_snap_count(const struct format *f);
const struct format_snap *format_snap(const struct format *f, uint32_t i);
/* Fill BUF with [OFF, OFF+LEN) of the disk at SNAP. */
int format_read(struct format *f, uint32_t snap, uint64_t off, size_t len,
                void *buf);
/* Add to OUT the extents of [OFF, OFF+LEN) at SNAP that may hold data
 * (holes and zero clusters left out; a superset is allowed). */
int format_extents(struct format *f, uint32_t snap, uint64_t off,
                   uint64_t len, struct extent_set *out);
void format_close(struct format *f);

/* Open a format of TYPE ("raw" or "qcow") over the open stream S, which it
 * takes over (closed on failure too).  DEPTH: how many backing files a
 * QCOW chain may have below it (0: an image with a backing file is refused
 * with EINVAL).  For backing files, tests and fuzz targets. */
#define FORMAT_MAX_BACKING_DEPTH 16
int format_open_stream(const char *type, struct stream *s, unsigned depth,
                       struct format **out);

#endif
