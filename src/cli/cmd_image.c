/* Image commands: create, info, ls, rm, rename, resize, status. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

int image_options(struct ctx *c, bool want_size, struct lbd_image_options *o)
{
  memset(o, 0, sizeof *o);
  o->thick_provision = opt_set(c, OPT_THICK_PROVISION);
  if (want_size && !opt_set(c, OPT_SIZE))
    return cli_usage(c, "--size is required, e.g. --size 10G (a plain "
                     "number is MiB)");
  if (want_size && opt_size(c, OPT_SIZE, 20, &o->size) < 0)
    return -EINVAL;
  /* Most likely a slip: an empty image comes from resize or import. */
  if (want_size && o->size == 0)
    return cli_usage(c, "--size 0: give the image's size, e.g. --size 10G "
                     "(an image is shrunk to 0 with resize)");
  if (opt_set(c, OPT_ORDER) && opt_set(c, OPT_OBJECT_SIZE))
    return cli_usage(c, "give --order or --object-size, not both");
  if (opt_set(c, OPT_ORDER)) {
    uint64_t order;
    if (opt_u64(c, OPT_ORDER, &order) < 0)
      return -EINVAL;
    if (order < 12 || order > 25)
      return cli_usage(c, "--order %s is out of range: give 12 to 25 (4 KiB "
                       "to 32 MiB objects)", c->val[OPT_ORDER]);
    o->object_size = 1ULL << order;
  }
  if (opt_set(c, OPT_OBJECT_SIZE)) {
    if (opt_size(c, OPT_OBJECT_SIZE, 0, &o->object_size) < 0)
      return -EINVAL;
    if (o->object_size == 0)
      return cli_usage(c, "--object-size 0: give a power of two from 4K to "
                       "32M");
  }
  if (opt_set(c, OPT_STRIPE_UNIT)) {
    if (opt_size(c, OPT_STRIPE_UNIT, 0, &o->stripe_unit) < 0)
      return -EINVAL;
    if (o->stripe_unit == 0)
      return cli_usage(c, "--stripe-unit 0: give a divisor of the object "
                       "size, at least 512");
  }
  if (opt_set(c, OPT_STRIPE_COUNT)) {
    if (opt_u64(c, OPT_STRIPE_COUNT, &o->stripe_count) < 0)
      return -EINVAL;
    if (o->stripe_count == 0)
      return cli_usage(c, "--stripe-count 0: give 1 to 4096");
  }
  if (c->features) {
    const char *f = c->features;
    if (isdigit((unsigned char)*f))
      return cli_usage(c, "invalid --image-feature '%s': give feature "
                       "names; see 'lbd help %s'", f, c->cmd->name);
    int r = lbd_features_parse(f, &o->features);
    if (r < 0)
      return cli_fail(c, r, "--image-feature");
    if (o->features == 0)
      return cli_usage(c, "--image-feature names no feature; see 'lbd help "
                       "%s'", c->cmd->name);
  }
  if (opt_set(c, OPT_DATA_POOL)) {
    if (!*c->val[OPT_DATA_POOL])
      return cli_usage(c, "--data-pool is empty: give a pool name");
    o->data_pool = c->val[OPT_DATA_POOL];
  }
  return 0;
}

int cmd_create(struct ctx *c)
{
  struct spec s;
  struct lbd_image_options o;
  lbd_ioctx_t *io;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = image_options(c, true, &o)) == 0 && (r = args_done(c)) == 0 &&
      (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    if ((r = lbd_create(io, s.image, &o)) < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

/* The name of pool ID, or "<missing data pool ID>". */
static void pool_name(struct ctx *c, int64_t id, char *buf, size_t size)
{
  struct lbd_pool_info *pools;
  size_t n;
  snprintf(buf, size, "<missing data pool %" PRId64 ">", id);
  if (lbd_pool_list(c->cluster, &pools, &n) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    if (pools[i].id == id)
      snprintf(buf, size, "%s", pools[i].name);
  lbd_pool_list_free(pools, n);
}

static json_t *features_json(uint64_t features)
{
  char names[256];
  json_t *a = json_array();
  lbd_features_format(features, names, sizeof names);
  for (char *p = names, *end; a && *p; p = end + (*end ? 2 : 0)) {
    end = strstr(p, ", ");
    if (!end)
      end = p + strlen(p);
    json_array_append_new(a, json_stringn(p, (size_t)(end - p)));
  }
  return a;
}

static json_t *parent_json(const struct lbd_parent_info *pi)
{
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "pool", pi->pool,
                   "pool_namespace", pi->ns, "image", pi->image, "id",
                   pi->image_id, "snapshot", pi->snap, "overlap",
                   (json_int_t)pi->overlap);
}

static int print_info(struct ctx *c, const struct spec *s,
                      const struct lbd_image_info *info,
                      const struct lbd_parent_info *parent)
{
  char data_pool[256] = "", features[256], ts[64] = "", b1[32], b2[32];
  if (info->data_pool_id >= 0)
    pool_name(c, info->data_pool_id, data_pool, sizeof data_pool);
  lbd_features_format(info->features, features, sizeof features);
  time_t t = (time_t)info->create_time;
  struct tm tm;
  if (t && localtime_r(&t, &tm))
    strftime(ts, sizeof ts, "%a %b %e %H:%M:%S %Y", &tm);
  bool striped = info->features & LBD_FEATURE_STRIPINGV2;
  if (c->json) {
    json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:i, s:I}", "name", s->image,
                          "id", info->id, "size", (json_int_t)info->size,
                          "objects", (json_int_t)info->num_objs, "order",
                          info->order, "object_size",
                          (json_int_t)info->object_size);
    if (j && *data_pool)
      json_object_set_new(j, "data_pool", json_string(data_pool));
    if (j) {
      json_object_set_new(j, "block_name_prefix",
                          json_string(info->block_name_prefix));
      json_object_set_new(j, "format", json_integer(2));
      json_object_set_new(j, "features", features_json(info->features));
      if (*ts)
        json_object_set_new(j, "create_timestamp", json_string(ts));
      if (parent)
        json_object_set_new(j, "parent", parent_json(parent));
      if (striped) {
        json_object_set_new(j, "stripe_unit",
                            json_integer((json_int_t)info->stripe_unit));
        json_object_set_new(j, "stripe_count",
                            json_integer((json_int_t)info->stripe_count));
      }
    }
    return json_print(c, j);
  }
  printf("lbd image '%s':\n", s->image);
  printf("\tsize %s in %" PRIu64 " objects\n",
         fmt_bytes(info->size, b1, sizeof b1), info->num_objs);
  printf("\torder %d (%s objects)\n", info->order,
         fmt_bytes(info->object_size, b2, sizeof b2));
  printf("\tid: %s\n", info->id);
  if (*data_pool)
    printf("\tdata_pool: %s\n", data_pool);
  printf("\tblock_name_prefix: %s\n", info->block_name_prefix);
  printf("\tformat: 2\n");
  printf("\tfeatures: %s\n", features);
  if (*ts)
    printf("\tcreate_timestamp: %s\n", ts);
  if (striped) {
    printf("\tstripe unit: %s\n", fmt_bytes(info->stripe_unit, b1, sizeof b1));
    printf("\tstripe count: %" PRIu64 "\n", info->stripe_count);
  }
  if (parent) {
    printf("\tparent: %s/%s%s%s@%s\n", parent->pool, parent->ns,
           *parent->ns ? "/" : "", parent->image, parent->snap);
    printf("\toverlap: %s\n", fmt_bytes(parent->overlap, b1, sizeof b1));
  }
  return 0;
}

int cmd_info(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  struct lbd_image_info info;
  int r = spec_image(c, SPEC_SOURCE, true, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_open(c, &s, false, &io, &img)) == 0) {
    struct lbd_parent_info parent;
    int pr = -ENOENT;
    if ((r = lbd_stat(img, &info)) < 0 ||
        ((pr = lbd_get_parent(img, &parent)) < 0 && pr != -ENOENT))
      cli_fail(c, r < 0 ? r : (r = pr), NULL);
    else
      r = print_info(c, &s, &info, pr == 0 ? &parent : NULL);
    cli_close(c, io, img);
  }
  spec_free(&s);
  return r;
}

/* One row of `ls -l`; -ENOENT if the image went away meanwhile. */
static int ls_long_one(struct ctx *c, lbd_ioctx_t *io, const char *name,
                       struct table *t, json_t *arr)
{
  lbd_image_t *img;
  struct lbd_image_info info;
  int r = lbd_open(io, name, NULL, LBD_OPEN_READ_ONLY, &img);
  if (r == 0) {
    r = lbd_stat(img, &info);
    lbd_close(img);
  }
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return cli_fail(c, r, "image %s", name);
  char size[32];
  if (arr)
    return json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:i}",
                                                 "image", name, "id", info.id,
                                                 "size", (json_int_t)info.size,
                                                 "format", 2)) < 0
               ? -ENOMEM : 0;
  return table_row(t, name, fmt_bytes(info.size, size, sizeof size), "", "2",
                   "", "");
}

int cmd_ls(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  char **names;
  size_t n;
  int r = spec_pool(c, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) < 0 || (r = cli_ioctx(c, s.pool, s.ns, &io)) < 0) {
    spec_free(&s);
    return r;
  }
  spec_free(&s);
  if ((r = lbd_list(io, &names, &n)) < 0) {
    lbd_ioctx_destroy(io);
    return cli_fail(c, r, "listing images");
  }
  static const char *const heads[] = {"NAME", "SIZE", "PARENT", "FMT", "PROT",
                                      "LOCK"};
  static const bool right[] = {false, true, false, true, false, false};
  struct table t;
  table_init(&t, 6, heads, right);
  json_t *arr = c->json ? json_array() : NULL;
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (!opt_set(c, OPT_LONG)) {
      if (arr)
        json_array_append_new(arr, json_string(names[i]));
      else
        printf("%s\n", names[i]);
    } else if ((r = ls_long_one(c, io, names[i], &t, arr)) < 0) {
      failed = r; /* as rbd: report it and go on with the others */
    }
  }
  if (arr)
    r = json_print(c, arr);
  else if (t.nrows)
    table_print(&t, stdout);
  table_free(&t);
  lbd_names_free(names, n);
  lbd_ioctx_destroy(io);
  return failed ? failed : r < 0 ? r : 0;
}

static int rm_progress(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return 0;
}

int cmd_rm(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  struct progress p;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    progress_init(&p, c, "Removing image");
    if ((r = lbd_remove_with_progress(io, s.image, rm_progress, &p)) < 0) {
      progress_fail(&p);
      cli_fail(c, r, NULL);
    } else {
      progress_finish(&p);
    }
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}

int cmd_rename(struct ctx *c)
{
  struct spec src, dst;
  lbd_ioctx_t *io;
  char b1[600], b2[600];
  int r = spec_image(c, SPEC_SOURCE, false, &src);
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
  if ((r = args_done(c)) == 0 &&
      (strcmp(src.pool, dst.pool) || strcmp(src.ns, dst.ns)))
    r = cli_usage(c, "cannot rename across pools or namespaces (%s to %s): "
                  "give the destination as a name in the same pool",
                  spec_str(&src, b1, sizeof b1), spec_str(&dst, b2, sizeof b2));
  if (r == 0 && (r = cli_ioctx(c, src.pool, src.ns, &io)) == 0) {
    if ((r = lbd_rename(io, src.image, dst.image)) < 0)
      cli_fail(c, r, NULL);
    lbd_ioctx_destroy(io);
  }
  spec_free(&src);
  spec_free(&dst);
  return r;
}

int cmd_resize(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  uint64_t size, old;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if (!opt_set(c, OPT_SIZE))
    r = cli_usage(c, "--size is required, e.g. --size 20G (a plain number "
                  "is MiB)");
  if (r == 0 && (r = opt_size(c, OPT_SIZE, 20, &size)) == 0 &&
      (r = args_done(c)) == 0 && (r = cli_open(c, &s, true, &io, &img)) == 0) {
    struct progress p;
    char b1[32], b2[32];
    lbd_get_size(img, &old);
    if (size == old) {
      r = cli_usage(c, "new size is equal to original size (%s)",
                    fmt_bytes(old, b1, sizeof b1));
    } else if (size < old && !opt_set(c, OPT_ALLOW_SHRINK)) {
      r = cli_usage(c, "shrinking %s from %s to %s drops its data past the "
                    "new size: this is only allowed with the --allow-shrink "
                    "flag", s.image, fmt_bytes(old, b1, sizeof b1),
                    fmt_bytes(size, b2, sizeof b2));
    } else {
      progress_init(&p, c, "Resizing image");
      if ((r = lbd_resize(img, size)) < 0) {
        progress_fail(&p);
        cli_fail(c, r, NULL);
      } else {
        progress_finish(&p);
      }
    }
    int r2 = cli_close(c, io, img);
    r = r < 0 ? r : r2;
  }
  spec_free(&s);
  return r;
}

/* Watchers (all but our own open), then the Migration block if any. */
static int print_status(struct ctx *c, lbd_ioctx_t *io, const char *image,
                        const struct lbd_watcher *w, size_t n)
{
  pid_t self = getpid();
  size_t shown = 0;
  for (size_t i = 0; i < n; i++)
    shown += w[i].pid != self;
  if (c->json) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
      if (w[i].pid != self)
        json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "client",
                                             w[i].client, "pid", (int)w[i].pid,
                                             "mode", w[i].rw ? "read-write"
                                                             : "read-only"));
    json_t *j = json_pack("{s:o}", "watchers", arr);
    int r = migration_status_print(c, io, image, j);
    if (r < 0 && r != -EINVAL && r != -ENOENT) {
      json_decref(j);
      return r;
    }
    return json_print(c, j);
  }
  if (!shown)
    printf("Watchers: none\n");
  else
    printf("Watchers:\n");
  for (size_t i = 0; i < n; i++)
    if (w[i].pid != self)
      printf("\twatcher=%s pid=%d mode=%s\n", w[i].client, (int)w[i].pid,
             w[i].rw ? "read-write" : "read-only");
  int r = migration_status_print(c, io, image, NULL);
  return r == -EINVAL || r == -ENOENT ? 0 : r;
}

int cmd_status(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  struct lbd_watcher *w;
  size_t n;
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) == 0 && (r = cli_ioctx(c, s.pool, s.ns, &io)) == 0) {
    r = lbd_open(io, s.image, NULL, LBD_OPEN_READ_ONLY, &img);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lbd_last_error());
    struct lbd_migration_status st;
    if (r == -ENOENT && lbd_migration_status(io, s.image, &st) == 0) {
      r = print_status(c, io, s.image, NULL, 0); /* a source, in the trash */
    } else if (r < 0) {
      cli_usage(c, "%s", msg); /* (its own errno, not EINVAL) */
    } else {
      if ((r = lbd_watchers_list(img, &w, &n)) < 0) {
        cli_fail(c, r, "listing watchers");
      } else {
        r = print_status(c, io, s.image, w, n);
        lbd_watchers_list_free(w, n);
      }
      lbd_close(img);
    }
    lbd_ioctx_destroy(io);
  }
  spec_free(&s);
  return r;
}
