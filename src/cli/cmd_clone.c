/* lbd clone | children | flatten */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cmd_clone(struct ctx *c)
{
  struct spec src, dst;
  struct lbd_image_options o;
  lbd_ioctx_t *io = NULL, *dst_io = NULL;
  int r = spec_image(c, SPEC_SOURCE, true, &src);
  if (r < 0)
    return r;
  if (!src.snap) {
    spec_free(&src);
    return cli_usage(c, "give the parent snapshot: <image>@<snapshot>");
  }
  /* the clone's pool and namespace default to the parent's */
  if (!opt_set(c, OPT_DEST_POOL))
    c->val[OPT_DEST_POOL] = src.pool;
  if (!opt_set(c, OPT_DEST_NAMESPACE))
    c->val[OPT_DEST_NAMESPACE] = src.ns;
  if ((r = spec_image(c, SPEC_DEST, false, &dst)) < 0) {
    spec_free(&src);
    return r;
  }
  if ((r = image_options(c, false, &o)) == 0 && (r = args_done(c)) == 0 &&
      (r = cli_ioctx(c, src.pool, src.ns, &io)) == 0 &&
      (r = cli_ioctx(c, dst.pool, dst.ns, &dst_io)) == 0 &&
      (r = lbd_clone(io, src.image, src.snap, dst_io, dst.image, &o)) < 0)
    cli_fail(c, r, NULL);
  lbd_ioctx_destroy(dst_io);
  lbd_ioctx_destroy(io);
  spec_free(&src);
  spec_free(&dst);
  return r;
}

/* {"pool", "pool_namespace", "image"} of "pool/[ns/]image". */
static json_t *child_json(const char *spec)
{
  const char *a = strchr(spec, '/'), *b = a ? strchr(a + 1, '/') : NULL;
  if (!a)
    return json_pack("{s:s}", "image", spec);
  return json_pack("{s:s%, s:s%, s:s}", "pool", spec, (size_t)(a - spec),
                   "pool_namespace", b ? a + 1 : "",
                   b ? (size_t)(b - a - 1) : 0, "image", b ? b + 1 : a + 1);
}

int cmd_children(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = spec_image(c, SPEC_SOURCE, true, &s);
  if (r < 0)
    return r;
  if (!s.snap)
    r = cli_usage(c, "give the snapshot: <image>@<snapshot>");
  if (r == 0 && (r = args_done(c)) == 0 &&
      (r = cli_open(c, &s, false, &io, &img)) == 0) {
    char **kids = NULL;
    size_t n = 0;
    if ((r = lbd_list_children(img, NULL, &kids, &n)) < 0) {
      cli_fail(c, r, NULL);
    } else if (c->json) {
      json_t *arr = json_array();
      for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, child_json(kids[i]));
      r = json_print(c, arr);
    } else {
      for (size_t i = 0; i < n; i++)
        printf("%s\n", kids[i]);
    }
    lbd_names_free(kids, n);
    cli_close(c, io, img);
  }
  spec_free(&s);
  return r;
}

static int flatten_progress(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return cli_interrupted != 0;
}

int cmd_flatten(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_open(c, &s, true, &io, &img)) == 0) {
    struct progress p;
    cli_catch_signals();
    progress_init(&p, c, "Image flatten");
    if ((r = lbd_flatten(img, flatten_progress, &p)) < 0) {
      progress_fail(&p);
      if (r == -ECANCELED && cli_interrupted)
        cli_usage(c, "interrupted: run it again to finish");
      else
        cli_fail(c, r, NULL);
    } else {
      progress_finish(&p);
    }
    int e = cli_close(c, io, img);
    if (r == 0)
      r = e;
  }
  spec_free(&s);
  return r;
}
