/* Image metadata: user key/value pairs kept as omap keys metadata_<key> on
 * the image header (image_header.c skips them when it reads the header).
 * Each change is one compound op that asserts the header exists, so a
 * removed image never gets its header back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

#define META_PREFIX "metadata_"
#define META_PREFIX_LEN (sizeof META_PREFIX - 1)
#define META_MAX_KEY (OBJSTORE_MAX_OMAP_KEY - META_PREFIX_LEN)
#define META_MAX_VALUE (64 * 1024)

static int check_key(const lbd_image_t *img, const char *key)
{
  if (!key || !*key)
    return lbd_error(EINVAL, "image %s: metadata key is empty", img->name);
  if (strlen(key) > META_MAX_KEY)
    return lbd_error(ENAMETOOLONG, "image %s: metadata key is longer than "
                     "%zu bytes", img->name, (size_t)META_MAX_KEY);
  return 0;
}

static int check_writable(const lbd_image_t *img)
{
  if (img->read_only)
    return lbd_error(EROFS, "image %s is open read-only%s", img->name,
                     img->snap_id != OBJSTORE_SNAP_HEAD ? " (at a snapshot)"
                                                        : "");
  return 0;
}

static int gone(int r, const lbd_image_t *img)
{
  if (r == -ENOENT)
    return lbd_error(ENOENT, "image %s has been removed", img->name);
  return r;
}

int lbd_metadata_get(lbd_image_t *img, const char *key, char **value)
{
  lbd_error_clear();
  *value = NULL;
  int r = check_key(img, key);
  if (r < 0)
    return r;
  char okey[OBJSTORE_MAX_OMAP_KEY + 1];
  snprintf(okey, sizeof okey, META_PREFIX "%s", key);
  const char *keys[] = {okey};
  struct objstore_kv *kvs;
  size_t n;
  if ((r = objstore_omap_get_keys(img->io->pool, img->header_oid, keys, 1,
                                  &kvs, &n)) < 0)
    return gone(r, img);
  if (n == 1) {
    *value = kvs[0].value;
    kvs[0].value = NULL;
  }
  objstore_kv_free(kvs, n);
  if (!*value)
    return lbd_error(ENOENT, "image %s has no metadata key %s", img->name,
                     key);
  return 0;
}

int lbd_metadata_set(lbd_image_t *img, const char *key, const char *value)
{
  lbd_error_clear();
  int r = check_key(img, key);
  if (r == 0)
    r = check_writable(img);
  if (r < 0)
    return r;
  if (!value)
    return lbd_error(EINVAL, "image %s: no value for metadata key %s",
                     img->name, key);
  size_t len = strlen(value);
  if (len > META_MAX_VALUE)
    return lbd_error(EFBIG, "image %s: metadata value of %zu bytes is over "
                     "the limit of %d", img->name, len, META_MAX_VALUE);
  char okey[OBJSTORE_MAX_OMAP_KEY + 1];
  snprintf(okey, sizeof okey, META_PREFIX "%s", key);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  objstore_write_op_omap_set(op, okey, value, len);
  r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return gone(r, img);
}

int lbd_metadata_remove(lbd_image_t *img, const char *key)
{
  char *old;
  int r = check_writable(img);
  if (r < 0)
    return r;
  if ((r = lbd_metadata_get(img, key, &old)) < 0)
    return r;
  free(old);
  char okey[OBJSTORE_MAX_OMAP_KEY + 1];
  snprintf(okey, sizeof okey, META_PREFIX "%s", key);
  struct objstore_write_op *op = objstore_write_op_new();
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  objstore_write_op_assert_exists(op);
  objstore_write_op_omap_rm(op, okey);
  r = objstore_write_op_operate(img->io->pool, img->header_oid, op, NULL,
                                OBJSTORE_OP_FUA);
  objstore_write_op_free(op);
  return gone(r, img);
}

int lbd_metadata_list(lbd_image_t *img, struct lbd_metadata **pairs,
                      size_t *count)
{
  lbd_error_clear();
  *pairs = NULL;
  *count = 0;
  char after[OBJSTORE_MAX_OMAP_KEY + 1] = META_PREFIX;
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    r = objstore_omap_get(img->io->pool, img->header_oid, after, 256, &kvs,
                          &n, &more);
    if (r < 0) {
      r = gone(r, img);
      break;
    }
    struct lbd_metadata *p = realloc(*pairs, (*count + n + 1) * sizeof *p);
    if (!p) {
      objstore_kv_free(kvs, n);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    *pairs = p;
    for (size_t i = 0; i < n; i++) {
      if (strncmp(kvs[i].key, META_PREFIX, META_PREFIX_LEN) != 0) {
        more = false;
        break;
      }
      char *k = strdup(kvs[i].key + META_PREFIX_LEN);
      if (!k) {
        r = lbd_error(ENOMEM, "out of memory");
        break;
      }
      p[*count].key = k;
      p[*count].value = kvs[i].value;
      kvs[i].value = NULL;
      (*count)++;
    }
    if (n)
      snprintf(after, sizeof after, "%s", kvs[n - 1].key);
    objstore_kv_free(kvs, n);
  }
  if (r < 0) {
    lbd_metadata_list_free(*pairs, *count);
    *pairs = NULL;
    *count = 0;
  }
  return r;
}

void lbd_metadata_list_free(struct lbd_metadata *pairs, size_t count)
{
  for (size_t i = 0; pairs && i < count; i++) {
    free(pairs[i].key);
    free(pairs[i].value);
  }
  free(pairs);
}
