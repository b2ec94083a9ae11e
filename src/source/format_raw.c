/* The raw format: a disk as a plain byte stream, HEAD from "stream" and
 * optional snapshots, oldest first, each from a stream of its own (the
 * reference doc's raw source-spec).  Holes are what the stream says of
 * them (stream_extents: SEEK_HOLE of a file, NBD block status); a stream
 * that cannot tell (http, s3) reports every byte, and the importer leaves
 * out the all-zero blocks it reads. */
#include "source/format_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

struct raw {
  struct stream *head;
  uint32_t nsnaps;
  struct stream **snaps;
};

static struct stream *raw_stream(struct format *f, uint32_t snap)
{
  struct raw *r = f->priv;
  return snap == FORMAT_HEAD ? r->head : r->snaps[snap];
}

static int raw_read(struct format *f, uint32_t snap, uint64_t off,
                    size_t len, void *buf)
{
  struct stream *s = raw_stream(f, snap);
  int r = format_pread(s, off, len, buf);
  if (r < 0)
    return lbd_error_prefix(r, "raw %s", s->name);
  return 0;
}

static int raw_extents(struct format *f, uint32_t snap, uint64_t off,
                       uint64_t len, struct extent_set *out)
{
  struct stream *s = raw_stream(f, snap);
  /* past the end of a snapshot's stream: zeroes */
  int r = stream_extents(s, off, len, out);
  if (r < 0)
    return lbd_error_prefix(r, "raw %s", s->name);
  return 0;
}

static void raw_close(struct format *f)
{
  struct raw *r = f->priv;
  if (!r)
    return;
  if (r->head)
    stream_close(r->head);
  for (uint32_t i = 0; i < r->nsnaps; i++)
    if (r->snaps[i])
      stream_close(r->snaps[i]);
  free(r->snaps);
  free(r);
}

static const struct format_ops raw_ops = {
  .struct_size = sizeof(struct format_ops),
  .name = "raw",
  .read = raw_read,
  .extents = raw_extents,
  .close = raw_close,
};

int format_raw_open_stream(struct stream *s, struct format **out)
{
  struct raw *r = calloc(1, sizeof *r);
  struct format *f = r ? format_new(&raw_ops, r, s->size) : NULL;
  if (!f) {
    free(r);
    stream_close(s);
    return lbd_error(ENOMEM, "raw %s: out of memory", s->name);
  }
  r->head = s;
  *out = f;
  return 0;
}

static int open_stream_field(const json_t *obj, const char *what,
                             lbd_cluster_t *cluster, struct stream **out)
{
  const json_t *st = json_object_get(obj, "stream");
  if (!st)
    return lbd_error(EINVAL, "source-spec: %s: missing \"stream\"", what);
  if (!json_is_object(st))
    return lbd_error(EINVAL, "source-spec: %s: \"stream\" is not an object",
                     what);
  int r = stream_open(st, cluster, out);
  if (r < 0)
    return lbd_error_prefix(r, "source-spec: %s stream", what);
  return 0;
}

int format_raw_open_spec(const json_t *spec, lbd_cluster_t *cluster,
                         struct format **out)
{
  *out = NULL;
  const json_t *snaps = json_object_get(spec, "snapshots");
  if (snaps && !json_is_array(snaps))
    return lbd_error(EINVAL, "source-spec: \"snapshots\" is not an array");
  size_t n = snaps ? json_array_size(snaps) : 0;
  if (n >= FORMAT_HEAD)
    return lbd_error(EINVAL, "source-spec: too many snapshots");
  /* check every snapshot entry before opening any stream */
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(snaps, i);
    if (!json_is_object(e))
      return lbd_error(EINVAL, "source-spec: snapshots[%zu] is not an object",
                       i);
    const json_t *t = json_object_get(e, "type");
    if (t && (!json_is_string(t) || strcmp(json_string_value(t), "raw")))
      return lbd_error(EINVAL, "source-spec: snapshots[%zu]: \"type\" must "
                       "be \"raw\"", i);
    const json_t *nm = json_object_get(e, "name");
    if (!nm)
      return lbd_error(EINVAL, "source-spec: snapshots[%zu]: missing "
                       "\"name\"", i);
    if (!json_is_string(nm))
      return lbd_error(EINVAL, "source-spec: snapshots[%zu]: \"name\" is not "
                       "a string", i);
    size_t nl = json_string_length(nm);
    const char *name = json_string_value(nm);
    if (nl == 0 || nl >= sizeof(((struct format_snap *)0)->name) ||
        strlen(name) != nl)
      return lbd_error(EINVAL, "source-spec: snapshots[%zu]: \"name\" must "
                       "be 1 to %zu bytes", i,
                       sizeof(((struct format_snap *)0)->name) - 1);
    for (size_t j = 0; j < i; j++) {
      const json_t *o = json_object_get(json_array_get(snaps, j), "name");
      if (strcmp(json_string_value(o), name) == 0)
        return lbd_error(EINVAL, "source-spec: snapshot name \"%s\" given "
                         "twice", name);
    }
    if (!json_is_object(json_object_get(e, "stream")))
      return lbd_error(EINVAL, "source-spec: snapshots[%zu]: \"stream\" "
                       "missing or not an object", i);
  }

  struct stream *head;
  int r = open_stream_field(spec, "HEAD", cluster, &head);
  if (r < 0)
    return r;
  struct format *f;
  r = format_raw_open_stream(head, &f);
  if (r < 0)
    return r;
  struct raw *raw = f->priv;
  if (n) {
    raw->snaps = calloc(n, sizeof *raw->snaps);
    f->snaps = calloc(n, sizeof *f->snaps);
    if (!raw->snaps || !f->snaps) {
      format_close(f);
      return lbd_error(ENOMEM, "source-spec: out of memory");
    }
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(snaps, i);
    const char *name = json_string_value(json_object_get(e, "name"));
    char what[300];
    snprintf(what, sizeof what, "snapshot \"%s\"", name);
    r = open_stream_field(e, what, cluster, &raw->snaps[i]);
    if (r < 0) {
      format_close(f);
      return r;
    }
    raw->nsnaps = (uint32_t)i + 1;
    f->nsnaps = raw->nsnaps;
    snprintf(f->snaps[i].name, sizeof f->snaps[i].name, "%s", name);
    f->snaps[i].size = raw->snaps[i]->size;
    f->snaps[i].timestamp = 0;
  }
  *out = f;
  return 0;
}
