/* The directory of a namespace: image names to ids and back.  Every update
 * is guarded by the directory object's version, and retried if another
 * client changed it meanwhile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

#define RETRIES 100

int image_check_name(const char *what, const char *name)
{
  if (!name || !*name)
    return lbd_error(EINVAL, "%s is empty", what);
  if (strlen(name) > IMAGE_MAX_NAME)
    return lbd_error(ENAMETOOLONG, "%s is longer than %d bytes", what,
                     IMAGE_MAX_NAME);
  if (strpbrk(name, "/@"))
    return lbd_error(EINVAL, "%s \"%s\" may not contain '/' or '@'", what,
                     name);
  for (const char *p = name; *p; p++)
    if ((unsigned char)*p < 0x20)
      return lbd_error(EINVAL, "%s may not contain control characters", what);
  return 0;
}

/* The directory's version (0 if it does not exist yet) and the value of
 * KEY (NULL if absent; caller frees). */
static int dir_get(struct objstore_pool *pool, const char *key,
                   uint64_t *version, char **value)
{
  struct objstore_stat st;
  *value = NULL;
  int r = objstore_stat(pool, IMAGE_DIRECTORY, OBJSTORE_SNAP_HEAD, &st);
  if (r == -ENOENT) {
    *version = 0;
    lbd_error_clear();
    return 0;
  }
  if (r < 0)
    return r;
  *version = st.version;
  const char *keys[] = {key};
  struct objstore_kv *kvs;
  size_t n;
  if ((r = objstore_omap_get_keys(pool, IMAGE_DIRECTORY, keys, 1, &kvs, &n)) < 0)
    return r == -ENOENT ? 0 : r;
  if (n) {
    *value = kvs[0].value;
    kvs[0].value = NULL;
  }
  objstore_kv_free(kvs, n);
  return 0;
}

static int run_guarded(struct objstore_pool *pool, struct objstore_write_op *op)
{
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  int r = objstore_write_op_operate(pool, IMAGE_DIRECTORY, op, NULL, 0);
  objstore_write_op_free(op);
  return r;
}

int image_dir_lookup(struct objstore_pool *pool, const char *name,
                     char id[IMAGE_ID_LEN + 1])
{
  char key[IMAGE_MAX_NAME + 8];
  uint64_t version;
  char *value;
  snprintf(key, sizeof key, "name_%s", name);
  int r = dir_get(pool, key, &version, &value);
  if (r < 0)
    return r;
  if (!value)
    return lbd_error(ENOENT, "image %s does not exist", name);
  snprintf(id, IMAGE_ID_LEN + 1, "%s", value);
  free(value);
  return 0;
}

int image_dir_add(struct objstore_pool *pool, const char *name, const char *id)
{
  char nkey[IMAGE_MAX_NAME + 8], ikey[IMAGE_ID_LEN + 8];
  snprintf(nkey, sizeof nkey, "name_%s", name);
  snprintf(ikey, sizeof ikey, "id_%s", id);
  for (int i = 0; i < RETRIES; i++) {
    uint64_t version;
    char *value;
    int r = dir_get(pool, nkey, &version, &value);
    if (r < 0)
      return r;
    if (value) {
      free(value);
      return lbd_error(EEXIST, "image %s already exists", name);
    }
    struct objstore_write_op *op = objstore_write_op_new();
    if (op) {
      objstore_write_op_create(op, false);
      objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, version);
      objstore_write_op_omap_set(op, nkey, id, strlen(id));
      objstore_write_op_omap_set(op, ikey, name, strlen(name));
    }
    r = run_guarded(pool, op);
    if (r != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the image directory keeps changing: try again");
}

int image_dir_remove(struct objstore_pool *pool, const char *name,
                     const char *id)
{
  char nkey[IMAGE_MAX_NAME + 8], ikey[IMAGE_ID_LEN + 8];
  snprintf(nkey, sizeof nkey, "name_%s", name);
  snprintf(ikey, sizeof ikey, "id_%s", id);
  for (int i = 0; i < RETRIES; i++) {
    uint64_t version;
    char *value;
    int r = dir_get(pool, nkey, &version, &value);
    if (r < 0)
      return r;
    bool match = value && strcmp(value, id) == 0;
    free(value);
    if (!match)
      return lbd_error(ENOENT, "image %s (id %s) is not in the directory",
                       name, id);
    struct objstore_write_op *op = objstore_write_op_new();
    if (op) {
      objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, version);
      objstore_write_op_omap_rm(op, nkey);
      objstore_write_op_omap_rm(op, ikey);
    }
    r = run_guarded(pool, op);
    if (r != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the image directory keeps changing: try again");
}

int image_dir_rename(struct objstore_pool *pool, const char *name,
                     const char *new_name)
{
  char okey[IMAGE_MAX_NAME + 8], nkey[IMAGE_MAX_NAME + 8];
  snprintf(okey, sizeof okey, "name_%s", name);
  snprintf(nkey, sizeof nkey, "name_%s", new_name);
  for (int i = 0; i < RETRIES; i++) {
    uint64_t version, v2;
    char *id, *taken;
    int r = dir_get(pool, okey, &version, &id);
    if (r < 0)
      return r;
    if (!id)
      return lbd_error(ENOENT, "image %s does not exist", name);
    if ((r = dir_get(pool, nkey, &v2, &taken)) < 0 || taken || v2 != version) {
      free(id);
      if (r < 0)
        return r;
      if (taken) {
        free(taken);
        return lbd_error(EEXIST, "image %s already exists", new_name);
      }
      continue;
    }
    char ikey[IMAGE_ID_LEN + 8];
    snprintf(ikey, sizeof ikey, "id_%s", id);
    struct objstore_write_op *op = objstore_write_op_new();
    if (op) {
      objstore_write_op_cmp_version(op, OBJSTORE_CMP_EQ, version);
      objstore_write_op_omap_rm(op, okey);
      objstore_write_op_omap_set(op, nkey, id, strlen(id));
      objstore_write_op_omap_set(op, ikey, new_name, strlen(new_name));
    }
    free(id);
    r = run_guarded(pool, op);
    if (r != -ECANCELED)
      return r;
  }
  return lbd_error(EAGAIN, "the image directory keeps changing: try again");
}

int image_dir_list(struct objstore_pool *pool, char ***names, size_t *count)
{
  *names = NULL;
  *count = 0;
  char after[IMAGE_MAX_NAME + 8] = "name_";
  bool more = true;
  int r = 0;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    r = objstore_omap_get(pool, IMAGE_DIRECTORY, after, 512, &kvs, &n, &more);
    if (r == -ENOENT) { /* no directory yet: no images */
      lbd_error_clear();
      return 0;
    }
    if (r < 0)
      break;
    char **p = realloc(*names, (*count + n + 1) * sizeof *p);
    if (!p) {
      objstore_kv_free(kvs, n);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    *names = p;
    for (size_t i = 0; i < n && r == 0; i++) {
      if (strncmp(kvs[i].key, "name_", 5) != 0) {
        more = false;
        break;
      }
      if (!(p[*count] = strdup(kvs[i].key + 5)))
        r = lbd_error(ENOMEM, "out of memory");
      else
        (*count)++;
      snprintf(after, sizeof after, "%s", kvs[i].key);
    }
    objstore_kv_free(kvs, n);
  }
  if (r < 0) {
    lbd_names_free(*names, *count);
    *names = NULL;
    *count = 0;
  }
  return r;
}

int image_dir_name(struct objstore_pool *pool, const char *id,
                   char name[IMAGE_MAX_NAME + 1])
{
  char ikey[IMAGE_ID_LEN + 8];
  uint64_t version;
  char *value;
  snprintf(ikey, sizeof ikey, "id_%s", id);
  int r = dir_get(pool, ikey, &version, &value);
  if (r < 0)
    return r;
  if (!value)
    return -ENOENT;
  snprintf(name, IMAGE_MAX_NAME + 1, "%s", value);
  free(value);
  return 0;
}
