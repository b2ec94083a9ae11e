/* lbd snap create | ls | rm */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

/* The image spec with its snapshot (required or forbidden). */
static int snap_open(struct ctx *c, bool want_snap, bool rw, struct spec *s,
                     lbd_ioctx_t **io, lbd_image_t **img)
{
  int r = spec_image(c, SPEC_SOURCE, true, s);
  if (r < 0)
    return r;
  if (want_snap && !s->snap)
    r = cli_usage(c, "give the snapshot: <image>@<snapshot>");
  else if (!want_snap && s->snap)
    r = cli_usage(c, "give the image without a snapshot");
  if (r == 0)
    r = args_done(c);
  if (r == 0) {
    const char *snap = s->snap;
    s->snap = NULL; /* open the image itself */
    r = cli_open(c, s, rw, io, img);
    s->snap = snap;
  }
  if (r < 0)
    spec_free(s);
  return r;
}

/* Open IMAGE@SNAP read-write and run FN on the snapshot name. */
static int snap_simple(struct ctx *c, int (*fn)(lbd_image_t *, const char *))
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = snap_open(c, true, true, &s, &io, &img);
  if (r < 0)
    return r;
  if ((r = fn(img, s.snap)) < 0)
    cli_fail(c, r, NULL);
  int e = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : e;
}

int cmd_snap_create(struct ctx *c) { return snap_simple(c, lbd_snap_create); }
int cmd_snap_rm(struct ctx *c) { return snap_simple(c, lbd_snap_remove); }
int cmd_snap_protect(struct ctx *c) { return snap_simple(c, lbd_snap_protect); }
int cmd_snap_unprotect(struct ctx *c)
{
  return snap_simple(c, lbd_snap_unprotect);
}


static void fmt_time(int64_t t, char *buf, size_t size)
{
  time_t tt = (time_t)t;
  struct tm tm;
  if (!localtime_r(&tt, &tm) ||
      !strftime(buf, size, "%a %b %e %H:%M:%S %Y", &tm))
    snprintf(buf, size, "%" PRId64, t);
}

int cmd_snap_ls(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = snap_open(c, false, false, &s, &io, &img);
  if (r < 0)
    return r;
  struct lbd_snap_info *snaps = NULL;
  size_t n = 0;
  if ((r = lbd_snap_list(img, &snaps, &n)) < 0) {
    cli_fail(c, r, NULL);
  } else if (c->json) {
    json_t *j = json_array();
    for (size_t i = 0; j && i < n; i++) {
      char ts[64];
      fmt_time(snaps[i].timestamp, ts, sizeof ts);
      json_array_append_new(
          j, json_pack("{s:I,s:s,s:I,s:s,s:s}", "id", (json_int_t)snaps[i].id,
                       "name", snaps[i].name, "size",
                       (json_int_t)snaps[i].size, "protected",
                       snaps[i].protected_ ? "true" : "false", "timestamp",
                       ts));
    }
    r = json_print(c, j);
  } else if (n) {
    static const char *const heads[] = {"SNAPID", "NAME", "SIZE", "PROTECTED",
                                        "TIMESTAMP"};
    static const bool right[] = {true, false, true, false, false};
    struct table t;
    table_init(&t, 5, heads, right);
    for (size_t i = 0; i < n && r == 0; i++) {
      char id[24], size[32], ts[64];
      snprintf(id, sizeof id, "%" PRIu64, snaps[i].id);
      fmt_bytes(snaps[i].size, size, sizeof size);
      fmt_time(snaps[i].timestamp, ts, sizeof ts);
      if (table_row(&t, id, snaps[i].name, size,
                    snaps[i].protected_ ? "yes" : "", ts) < 0)
        r = cli_fail(c, -ENOMEM, "listing snapshots");
    }
    if (r == 0)
      table_print(&t, stdout);
    table_free(&t);
  }
  lbd_snap_list_free(snaps, n);
  cli_close(c, io, img);
  spec_free(&s);
  return r;
}

int cmd_snap_rename(struct ctx *c)
{
  struct spec s, d;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = spec_image(c, SPEC_SOURCE, true, &s);
  if (r < 0)
    return r;
  if ((r = spec_image(c, SPEC_DEST, true, &d)) < 0) {
    spec_free(&s);
    return r;
  }
  if (!s.snap || !d.snap)
    r = cli_usage(c, "give both snapshots: <image>@<snap> <image>@<new-snap>");
  else if (strcmp(s.pool, d.pool) || strcmp(s.ns, d.ns) ||
           strcmp(s.image, d.image))
    r = cli_usage(c, "a snapshot is renamed within its image");
  if (r == 0)
    r = args_done(c);
  if (r == 0) {
    const char *snap = s.snap;
    s.snap = NULL;
    if ((r = cli_open(c, &s, true, &io, &img)) == 0) {
      if ((r = lbd_snap_rename(img, snap, d.snap)) < 0)
        cli_fail(c, r, NULL);
      int e = cli_close(c, io, img);
      r = r < 0 ? r : e;
    }
    s.snap = snap;
  }
  spec_free(&d);
  spec_free(&s);
  return r;
}

int cmd_snap_purge(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = snap_open(c, false, true, &s, &io, &img);
  if (r < 0)
    return r;
  struct lbd_snap_info *snaps = NULL;
  size_t n = 0, kept = 0;
  if ((r = lbd_snap_list(img, &snaps, &n)) < 0)
    cli_fail(c, r, NULL);
  for (size_t i = 0; r == 0 && i < n; i++) {
    if (snaps[i].protected_) {
      kept++;
      continue;
    }
    if ((r = lbd_snap_remove(img, snaps[i].name)) < 0)
      cli_fail(c, r, NULL);
  }
  lbd_snap_list_free(snaps, n);
  if (r == 0 && kept)
    r = cli_fail(c, -EBUSY, "%zu protected snapshot(s) kept: unprotect them "
                 "first", kept);
  int e = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : e;
}

static int rollback_progress(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return cli_interrupted ? -1 : 0;
}

int cmd_snap_rollback(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  struct progress p;
  int r = snap_open(c, true, true, &s, &io, &img);
  if (r < 0)
    return r;
  cli_catch_signals();
  progress_init(&p, c, "Rolling back to snapshot");
  if ((r = lbd_snap_rollback(img, s.snap, rollback_progress, &p)) < 0) {
    progress_fail(&p);
    cli_fail(c, r, NULL);
  } else {
    progress_finish(&p);
  }
  int e = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : e;
}

static int snap_limit(struct ctx *c, bool set)
{
  uint64_t limit = 0;
  if (set && (!opt_set(c, OPT_LIMIT) || opt_u64(c, OPT_LIMIT, &limit) < 0 ||
              limit == 0))
    return cli_usage(c, "give the limit: --limit <number> (at least 1)");
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = snap_open(c, false, true, &s, &io, &img);
  if (r < 0)
    return r;
  if ((r = lbd_snap_limit_set(img, limit)) < 0)
    cli_fail(c, r, NULL);
  int e = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : e;
}

int cmd_snap_limit_set(struct ctx *c) { return snap_limit(c, true); }
int cmd_snap_limit_clear(struct ctx *c) { return snap_limit(c, false); }
