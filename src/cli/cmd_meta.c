/* Image metadata commands, as rbd's: image-meta get, set, ls, rm. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The image spec, then the key (and the value if WANT_VALUE). */
static int meta_args(struct ctx *c, bool rw, bool want_key, bool want_value,
                     struct spec *s, const char **key, const char **value,
                     lbd_ioctx_t **io, lbd_image_t **img)
{
  int r = spec_image(c, SPEC_SOURCE, !rw, s);
  if (r < 0)
    return r;
  if (want_key && !(*key = args_next(c)))
    r = cli_usage(c, "metadata key was not specified; see 'lbd help %s'",
                  c->cmd->name);
  else if (want_value && !(*value = args_next(c)))
    r = cli_usage(c, "metadata value was not specified; see 'lbd help %s'",
                  c->cmd->name);
  if (r == 0 && (r = args_done(c)) == 0)
    r = cli_open(c, s, rw, io, img);
  if (r < 0)
    spec_free(s);
  return r;
}

int cmd_meta_get(struct ctx *c)
{
  struct spec s;
  const char *key;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = meta_args(c, false, true, false, &s, &key, NULL, &io, &img);
  if (r < 0)
    return r;
  char *value;
  if ((r = lbd_metadata_get(img, key, &value)) < 0) {
    cli_fail(c, r, NULL);
  } else {
    printf("%s\n", value);
    free(value);
  }
  cli_close(c, io, img);
  spec_free(&s);
  return r;
}

int cmd_meta_set(struct ctx *c)
{
  struct spec s;
  const char *key, *value;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = meta_args(c, true, true, true, &s, &key, &value, &io, &img);
  if (r < 0)
    return r;
  if ((r = lbd_metadata_set(img, key, value)) < 0)
    cli_fail(c, r, NULL);
  int r2 = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : r2;
}

int cmd_meta_rm(struct ctx *c)
{
  struct spec s;
  const char *key;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = meta_args(c, true, true, false, &s, &key, NULL, &io, &img);
  if (r < 0)
    return r;
  if ((r = lbd_metadata_remove(img, key)) < 0)
    cli_fail(c, r, NULL);
  int r2 = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : r2;
}

int cmd_meta_ls(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = meta_args(c, false, false, false, &s, NULL, NULL, &io, &img);
  if (r < 0)
    return r;
  struct lbd_metadata *m = NULL;
  size_t n = 0;
  if ((r = lbd_metadata_list(img, &m, &n)) < 0) {
    cli_fail(c, r, NULL);
  } else if (c->json) {
    /* as rbd: one object, keys to values */
    json_t *j = json_object();
    for (size_t i = 0; j && i < n; i++)
      json_object_set_new(j, m[i].key, json_string(m[i].value));
    r = json_print(c, j);
  } else if (n) {
    static const char *const heads[] = {"Key", "Value"};
    static const bool right[] = {false, false};
    struct table t;
    table_init(&t, 2, heads, right);
    for (size_t i = 0; i < n && r == 0; i++)
      if (table_row(&t, m[i].key, m[i].value) < 0)
        r = cli_fail(c, -ENOMEM, "listing metadata");
    if (r == 0) {
      printf("There %s %zu %s on this image:\n\n", n == 1 ? "is" : "are",
             n, n == 1 ? "metadatum" : "metadata");
      table_print(&t, stdout);
    }
    table_free(&t);
  }
  lbd_metadata_list_free(m, n);
  cli_close(c, io, img);
  spec_free(&s);
  return r;
}
