/* cp and du: copying an image (only its allocated data), and the space
 * images take, as rbd's `cp` and `du`. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int copy_progress(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return cli_interrupted != 0;
}

int cmd_cp(struct ctx *c)
{
  struct spec src, dst;
  struct lbd_image_options o;
  lbd_ioctx_t *io = NULL, *dst_io = NULL;
  lbd_image_t *img = NULL;
  int r = spec_image(c, SPEC_SOURCE, true, &src);
  if (r < 0)
    return r;
  /* the destination's pool and namespace default to the source's */
  if (!opt_set(c, OPT_DEST_POOL))
    c->val[OPT_DEST_POOL] = src.pool;
  if (!opt_set(c, OPT_DEST_NAMESPACE))
    c->val[OPT_DEST_NAMESPACE] = src.ns;
  if ((r = spec_image(c, SPEC_DEST, false, &dst)) < 0) {
    spec_free(&src);
    return r;
  }
  if ((r = image_options(c, false, &o)) == 0 && (r = args_done(c)) == 0 &&
      (r = cli_open(c, &src, false, &io, &img)) == 0 &&
      (r = cli_ioctx(c, dst.pool, dst.ns, &dst_io)) == 0) {
    struct progress p;
    cli_catch_signals();
    progress_init(&p, c, "Image copy");
    r = lbd_copy_with_progress(img, dst_io, dst.image, &o, copy_progress, &p);
    if (r < 0) {
      progress_fail(&p);
      if (r == -ECANCELED && cli_interrupted)
        cli_usage(c, "interrupted: no copy was left");
      else
        cli_fail(c, r, NULL);
    } else {
      progress_finish(&p);
    }
  }
  lbd_ioctx_destroy(dst_io);
  if (img)
    cli_close(c, io, img);
  spec_free(&src);
  spec_free(&dst);
  return r;
}

struct du_totals {
  uint64_t prov, used;
  size_t count;
};

/* One image's row; -ENOENT quietly if it went away meanwhile. */
static int du_one(struct ctx *c, lbd_ioctx_t *io, const char *name,
                  const char *snap, bool quiet_enoent, struct table *t,
                  json_t *arr, struct du_totals *tot)
{
  lbd_image_t *img;
  struct lbd_image_info info;
  uint64_t prov = 0, used = 0;
  int r = lbd_open(io, name, snap, LBD_OPEN_READ_ONLY, &img);
  if (r == 0) {
    if ((r = lbd_stat(img, &info)) == 0)
      r = lbd_disk_usage(img, &prov, &used);
    lbd_close(img);
  }
  if (r == -ENOENT && quiet_enoent)
    return 0;
  if (r < 0)
    return cli_fail(c, r, NULL);
  tot->prov += prov;
  tot->used += used;
  tot->count++;
  if (arr)
    return json_array_append_new(
               arr, json_pack("{s:s, s:s, s:I, s:I}", "name", name, "id",
                              info.id, "provisioned_size", (json_int_t)prov,
                              "used_size", (json_int_t)used)) < 0
               ? cli_syserr(c, -ENOMEM, "du") : 0;
  char b1[32], b2[32];
  return table_row(t, name, fmt_bytes(prov, b1, sizeof b1),
                   fmt_bytes(used, b2, sizeof b2)) < 0
             ? cli_syserr(c, -ENOMEM, "du") : 0;
}

int cmd_du(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  bool one = opt_set(c, OPT_IMAGE) || c->next_pos < c->npos;
  int r = one ? spec_image(c, SPEC_SOURCE, true, &s) : spec_pool(c, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) < 0 || (r = cli_ioctx(c, s.pool, s.ns, &io)) < 0) {
    spec_free(&s);
    return r;
  }
  static const char *const heads[] = {"NAME", "PROVISIONED", "USED"};
  static const bool right[] = {false, true, true};
  struct table t;
  table_init(&t, 3, heads, right);
  json_t *arr = c->json ? json_array() : NULL;
  struct du_totals tot = {0, 0, 0};
  int failed = 0;
  if (one) {
    failed = du_one(c, io, s.image, s.snap, false, &t, arr, &tot);
  } else {
    char **names;
    size_t n;
    if ((r = lbd_list(io, &names, &n)) < 0) {
      failed = cli_fail(c, r, "listing images");
    } else {
      for (size_t i = 0; i < n; i++)
        if ((r = du_one(c, io, names[i], NULL, true, &t, arr, &tot)) < 0)
          failed = r; /* as rbd: report it and go on with the others */
      lbd_names_free(names, n);
    }
  }
  r = 0;
  if (arr) {
    json_t *j = json_pack("{s:o, s:I, s:I}", "images", arr,
                          "total_provisioned_size", (json_int_t)tot.prov,
                          "total_used_size", (json_int_t)tot.used);
    r = failed && !tot.count ? (json_decref(j), 0) : json_print(c, j);
  } else {
    char b1[32], b2[32];
    if (tot.count > 1)
      table_row(&t, "<TOTAL>", fmt_bytes(tot.prov, b1, sizeof b1),
                fmt_bytes(tot.used, b2, sizeof b2));
    if (t.nrows)
      table_print(&t, stdout);
  }
  table_free(&t);
  lbd_ioctx_destroy(io);
  spec_free(&s);
  return failed ? failed : r;
}
