/* Source formats: dispatch on the source-spec's "type", and the checks and
 * clipping every format shares (format.h). */
#include "source/format_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

struct format *format_new(const struct format_ops *ops, void *priv,
                          uint64_t size)
{
  struct format *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  f->ops = ops;
  f->priv = priv;
  f->size = size;
  return f;
}

int format_pread(struct stream *s, uint64_t off, size_t len, void *buf)
{
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = off < s->size ? stream_read(s, off, len, p) : 0;
    if (n < 0)
      return (int)n;
    if (n == 0) { /* the end of the stream: zeroes */
      memset(p, 0, len);
      return 0;
    }
    if ((size_t)n > len)
      return lbd_error(EIO, "%s: read at %llu returned too much", s->name,
                       (unsigned long long)off);
    p += n;
    off += (uint64_t)n;
    len -= (size_t)n;
  }
  return 0;
}

int format_open_stream(const char *type, struct stream *s, unsigned depth,
                       struct format **out)
{
  *out = NULL;
  if (strcmp(type, "raw") == 0)
    return format_raw_open_stream(s, out);
  if (strcmp(type, "qcow") == 0)
    return format_qcow_open_stream(s, depth, out);
  stream_close(s);
  return lbd_error(EINVAL, "unknown format type \"%s\" (raw or qcow)", type);
}

int format_open(const json_t *spec, lbd_cluster_t *cluster,
                struct format **out)
{
  *out = NULL;
  if (!json_is_object(spec))
    return lbd_error(EINVAL, "source-spec: not a JSON object");
  const json_t *t = json_object_get(spec, "type");
  if (!t)
    return lbd_error(EINVAL, "source-spec: missing \"type\"");
  if (!json_is_string(t))
    return lbd_error(EINVAL, "source-spec: \"type\" is not a string");
  const char *type = json_string_value(t);
  if (strcmp(type, "raw") == 0)
    return format_raw_open_spec(spec, cluster, out);
  if (strcmp(type, "rbd-export") == 0 || strcmp(type, "rbd-diff") == 0)
    return format_rbd_open_spec(spec, cluster,
                                strcmp(type, "rbd-diff") == 0, out);
  if (strcmp(type, "native") == 0)
    return lbd_error(EINVAL, "source-spec: format \"native\" has no stream "
                     "(it is opened by the migration, not as a format)");
  if (strcmp(type, "qcow") != 0)
    return lbd_error(EINVAL, "source-spec: unknown format type \"%.64s\" "
                     "(native, raw, qcow, rbd-export or rbd-diff)", type);
  const json_t *st = json_object_get(spec, "stream");
  if (!st)
    return lbd_error(EINVAL, "source-spec: missing \"stream\"");
  if (!json_is_object(st))
    return lbd_error(EINVAL, "source-spec: \"stream\" is not an object");
  struct stream *s;
  int r = stream_open(st, cluster, &s);
  if (r < 0)
    return lbd_error_prefix(r, "source-spec stream");
  return format_qcow_open_stream(s, FORMAT_MAX_BACKING_DEPTH, out);
}

uint64_t format_size(const struct format *f, uint32_t snap)
{
  if (snap == FORMAT_HEAD)
    return f->size;
  return snap < f->nsnaps ? f->snaps[snap].size : 0;
}

uint32_t format_snap_count(const struct format *f)
{
  return f->nsnaps;
}

const struct format_snap *format_snap(const struct format *f, uint32_t i)
{
  return i < f->nsnaps ? &f->snaps[i] : NULL;
}

static int check_snap(const struct format *f, uint32_t snap)
{
  if (snap != FORMAT_HEAD && snap >= f->nsnaps)
    return lbd_error(EINVAL, "snapshot index %u out of range (%u snapshots)",
                     snap, f->nsnaps);
  return 0;
}

int format_read(struct format *f, uint32_t snap, uint64_t off, size_t len,
                void *buf)
{
  int r = check_snap(f, snap);
  if (r < 0)
    return r;
  uint64_t size = format_size(f, snap);
  size_t in = 0;
  if (off < size)
    in = (size - off < len) ? (size_t)(size - off) : len;
  if (in < len)
    memset((uint8_t *)buf + in, 0, len - in);
  if (in == 0)
    return 0;
  return f->ops->read(f, snap, off, in, buf);
}

int format_extents(struct format *f, uint32_t snap, uint64_t off,
                   uint64_t len, struct extent_set *out)
{
  int r = check_snap(f, snap);
  if (r < 0)
    return r;
  uint64_t size = format_size(f, snap);
  if (off >= size || len == 0)
    return 0;
  if (len > size - off)
    len = size - off;
  return f->ops->extents(f, snap, off, len, out);
}

void format_close(struct format *f)
{
  if (!f)
    return;
  if (f->ops && f->ops->close)
    f->ops->close(f);
  free(f->snaps);
  free(f);
}
