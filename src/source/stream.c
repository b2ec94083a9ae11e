/* Streams: dispatch on "type", relative opens, and the helpers the types
 * share. */
#include "source/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "source/stream_internal.h"
#include "util/error.h"
#include "util/extents.h"

static const struct {
  const char *type;
  int (*open)(const json_t *spec, lbd_cluster_t *cluster,
              struct stream **out);
} stream_types[] = {
  {"file", stream_file_open},
  {"http", stream_http_open},
  {"s3", stream_s3_open},
  {"nbd", stream_nbd_open},
};

int stream_open(const json_t *spec, lbd_cluster_t *cluster,
                struct stream **out)
{
  *out = NULL;
  if (!json_is_object(spec))
    return lbd_error(EINVAL, "stream: must be a JSON object");
  json_t *t = json_object_get(spec, "type");
  if (!t)
    return lbd_error(EINVAL, "stream: missing field \"type\"");
  if (!json_is_string(t))
    return lbd_error(EINVAL, "stream: field \"type\" must be a string");
  const char *type = json_string_value(t);
  for (size_t i = 0; i < sizeof stream_types / sizeof stream_types[0]; i++)
    if (strcmp(type, stream_types[i].type) == 0)
      return stream_types[i].open(spec, cluster, out);
  return lbd_error(EINVAL,
                   "stream: unknown type \"%.64s\" (file, http, s3 or nbd)",
                   type);
}

int stream_open_relative(const struct stream *base, const char *name,
                         struct stream **out)
{
  *out = NULL;
  if (!name || !*name)
    return lbd_error(EINVAL, "%s: empty relative name", base->name);
  if (!base->ops->open_relative)
    return lbd_error(ENOTSUP, "%s: this stream cannot open relative names",
                     base->name);
  return base->ops->open_relative(base, name, out);
}

int stream_extents(struct stream *s, uint64_t off, uint64_t len,
                   struct extent_set *out)
{
  if (off >= s->size || len == 0)
    return 0;
  if (len > s->size - off)
    len = s->size - off;
  if (!s->ops->extents)
    return extent_set_add(out, off, len);
  return s->ops->extents(s, off, len, out);
}

void stream_close(struct stream *s)
{
  if (s)
    s->ops->close(s);
}

int stream_init(struct stream *s, const struct stream_ops *ops,
                const char *name, lbd_cluster_t *cluster)
{
  s->ops = ops;
  s->size = 0;
  s->cluster = cluster;
  s->name = strdup(name);
  if (!s->name)
    return lbd_error(ENOMEM, "stream: out of memory");
  return 0;
}

void stream_fini(struct stream *s)
{
  free(s->name);
  s->name = NULL;
}

int stream_spec_string(const json_t *spec, const char *type,
                       const char *field, bool optional, const char **out)
{
  *out = NULL;
  json_t *v = json_object_get(spec, field);
  if (!v) {
    if (optional)
      return 0;
    return lbd_error(EINVAL, "%s stream: missing field \"%s\"", type, field);
  }
  if (!json_is_string(v))
    return lbd_error(EINVAL, "%s stream: field \"%s\" must be a string",
                     type, field);
  const char *s = json_string_value(v);
  if (!*s || strlen(s) != json_string_length(v))
    return lbd_error(EINVAL, "%s stream: field \"%s\" is empty or has a NUL",
                     type, field);
  *out = s;
  return 0;
}

#define CONFIG_PREFIX "config://"

int stream_resolve_key(lbd_cluster_t *cluster, const char *type,
                       const char *field, const char *value, char **out)
{
  *out = NULL;
  if (strncmp(value, CONFIG_PREFIX, strlen(CONFIG_PREFIX)) != 0) {
    *out = strdup(value);
    return *out ? 0 : lbd_error(ENOMEM, "%s stream: out of memory", type);
  }
  const char *path = value + strlen(CONFIG_PREFIX);
  if (!*path)
    return lbd_error(EINVAL, "%s stream: %s: empty config-key path", type,
                     field);
  if (!cluster)
    return lbd_error(EINVAL,
                     "%s stream: %s: config://%.256s needs a cluster's "
                     "config-key store",
                     type, field, path);
  char *v = NULL;
  size_t len = 0;
  int r = lbd_config_key_get(cluster, path, &v, &len);
  if (r == -ENOENT)
    return lbd_error(ENOENT,
                     "%s stream: %s: config-key \"%.256s\" is not set "
                     "(lbd config-key set %.256s ...)",
                     type, field, path, path);
  if (r < 0)
    return lbd_error_prefix(r, "%s stream: %s: config-key \"%.256s\"", type,
                            field, path);
  /* a key stored from a file keeps its newline: drop it */
  while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
    v[--len] = '\0';
  if (len == 0 || strlen(v) != len) {
    stream_secret_free(v);
    return lbd_error(EINVAL,
                     "%s stream: %s: config-key \"%.256s\" is empty or "
                     "holds a NUL byte",
                     type, field, path);
  }
  *out = v;
  return 0;
}

void stream_secret_free(char *secret)
{
  if (!secret)
    return;
  /* volatile: the wipe must not be optimised away */
  volatile char *p = secret;
  while (*p)
    *p++ = '\0';
  free(secret);
}
