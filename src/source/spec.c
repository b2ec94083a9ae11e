/* Source-spec helpers: the redacted text for `lbd status`. */
#include "source/spec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "source/stream_internal.h"

static bool spec_is_secret_key(const char *key)
{
  return strcmp(key, "access_key") == 0 || strcmp(key, "secret_key") == 0;
}

/* 0, or -1 when out of memory. */
static int spec_redact(json_t *v)
{
  if (json_is_object(v)) {
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
      if (spec_is_secret_key(key)) {
        if (json_object_set_new(v, key, json_string("***")) < 0)
          return -1;
      } else if (strcmp(key, "url") == 0 && json_is_string(val)) {
        char *red = NULL;
        if (http_url_redact(json_string_value(val), &red) == 0) {
          int r = json_object_set_new(v, key, json_string(red));
          free(red);
          if (r < 0)
            return -1;
        }
      } else if (spec_redact(val) < 0) {
        return -1;
      }
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *val;
    json_array_foreach(v, i, val) {
      if (spec_redact(val) < 0)
        return -1;
    }
  }
  return 0;
}

char *source_spec_redacted(const char *json)
{
  if (!json)
    return NULL;
  json_error_t err;
  json_t *root = json_loads(json, JSON_DECODE_ANY, &err);
  if (!root)
    return NULL;
  char *out = NULL;
  if (spec_redact(root) == 0)
    out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  json_decref(root);
  return out;
}
