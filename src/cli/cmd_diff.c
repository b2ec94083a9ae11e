/* diff, export-diff, import-diff and merge-diff, as rbd's: the changed
 * extents of an image, and rbd's incremental diff files (the library does
 * the formats; this file opens the files and pipes and reports). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static int progress_cb(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return cli_interrupted != 0;
}

/* A library call failed: say why ("interrupted" if the user stopped it). */
static int lib_fail(struct ctx *c, int r, struct progress *p)
{
  progress_fail(p);
  if (r == -ECANCELED && cli_interrupted) {
    cli_usage(c, "interrupted");
    return r;
  }
  return cli_fail(c, r, NULL);
}

/* ---- files and pipes ---------------------------------------------------- */

/* Open PATH to read, or stdin for "-". */
static int in_open(struct ctx *c, const char *path, int *fd)
{
  if (strcmp(path, "-") == 0) {
    *fd = STDIN_FILENO;
    return 0;
  }
  if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
    return cli_syserr(c, -errno, "opening %s", path);
  return 0;
}

static void in_close(int fd)
{
  if (fd > STDIN_FILENO)
    close(fd);
}

/* Create PATH (it must not exist), or stdout for "-" unless a terminal. */
static int out_open(struct ctx *c, const char *path, int *fd)
{
  if (strcmp(path, "-") == 0) {
    if (isatty(STDOUT_FILENO))
      return cli_usage(c, "stdout is a terminal: redirect it, or give a file");
    *fd = STDOUT_FILENO;
    return 0;
  }
  *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  return *fd < 0 ? cli_syserr(c, -errno, "creating %s", path) : 0;
}

/* Close the output; after a failure (R < 0) remove the partial file. */
static int out_close(struct ctx *c, const char *path, int fd, int r)
{
  if (fd <= STDOUT_FILENO)
    return r;
  if (close(fd) < 0 && r == 0)
    r = cli_syserr(c, -errno, "writing %s", path);
  if (r < 0)
    unlink(path);
  return r;
}

/* ---- diff --------------------------------------------------------------- */

struct diff_out {
  struct table t;
  json_t *arr;
};

static int diff_row(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct diff_out *d = arg;
  if (d->arr) {
    json_t *o = json_pack("{s:I, s:I, s:s}", "offset", (json_int_t)off,
                          "length", (json_int_t)len, "exists",
                          exists ? "true" : "false");
    return o && json_array_append_new(d->arr, o) == 0 ? 0 : -ENOMEM;
  }
  char a[24], b[24];
  snprintf(a, sizeof a, "%" PRIu64, off);
  snprintf(b, sizeof b, "%" PRIu64, len);
  return table_row(&d->t, a, b, exists ? "data" : "zero") < 0 ? -ENOMEM : 0;
}

int cmd_diff(struct ctx *c)
{
  static const char *const heads[] = {"Offset", "Length", "Type"};
  static const bool right[] = {false, false, false};
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = spec_image(c, SPEC_SOURCE, true, &s);
  if (r < 0)
    return r;
  if ((r = args_done(c)) < 0 || (r = cli_open(c, &s, false, &io, &img)) < 0) {
    spec_free(&s);
    return r;
  }
  struct diff_out d = {.arr = c->json ? json_array() : NULL};
  uint64_t size;
  table_init(&d.t, 3, heads, right);
  if ((r = lbd_get_size(img, &size)) == 0)
    r = lbd_diff_iterate(img, c->val[OPT_FROM_SNAP], 0, size, true,
                         opt_set(c, OPT_WHOLE_OBJECT), diff_row, &d);
  if (r < 0)
    cli_fail(c, r, NULL);
  else if (d.arr)
    r = json_print(c, json_incref(d.arr));
  else if (d.t.nrows)
    table_print(&d.t, stdout);
  json_decref(d.arr);
  table_free(&d.t);
  int r2 = cli_close(c, io, img);
  spec_free(&s);
  return r < 0 ? r : r2;
}

/* ---- export-diff -------------------------------------------------------- */

int cmd_export_diff(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  int r = spec_image(c, SPEC_SOURCE, true, &s);
  if (r < 0)
    return r;
  const char *path = c->val[OPT_PATH];
  if (!path && !(path = args_next(c)))
    r = cli_usage(c, "path was not specified: give a new file, or '-' for "
                  "stdout");
  int fd = -1;
  if (r == 0 && (r = args_done(c)) == 0 &&
      (r = cli_open(c, &s, false, &io, &img)) == 0) {
    cli_catch_signals();
    if ((r = out_open(c, path, &fd)) == 0) {
      struct progress p;
      progress_init(&p, c, "Exporting image");
      r = lbd_export_diff(img, c->val[OPT_FROM_SNAP],
                          opt_set(c, OPT_WHOLE_OBJECT), fd, progress_cb, &p);
      if (r < 0)
        lib_fail(c, r, &p);
      else
        progress_finish(&p);
      r = out_close(c, path, fd, r);
    }
    int r2 = cli_close(c, io, img);
    r = r < 0 ? r : r2;
  }
  spec_free(&s);
  return r;
}

/* ---- import-diff -------------------------------------------------------- */

int cmd_import_diff(struct ctx *c)
{
  struct spec s;
  lbd_ioctx_t *io;
  lbd_image_t *img;
  const char *path = c->val[OPT_PATH];
  if (!path && !(path = args_next(c)))
    return cli_usage(c, "path was not specified: give a diff file, or '-' "
                     "for stdin");
  int r = spec_image(c, SPEC_SOURCE, false, &s);
  if (r < 0)
    return r;
  int fd = -1;
  if ((r = args_done(c)) == 0 && (r = in_open(c, path, &fd)) == 0 &&
      (r = cli_open(c, &s, true, &io, &img)) == 0) {
    struct progress p;
    cli_catch_signals();
    progress_init(&p, c, "Importing image diff");
    r = lbd_import_diff(img, fd, progress_cb, &p);
    if (r < 0)
      lib_fail(c, r, &p);
    else
      progress_finish(&p);
    int r2 = cli_close(c, io, img);
    r = r < 0 ? r : r2;
  }
  in_close(fd);
  spec_free(&s);
  return r;
}

/* ---- merge-diff --------------------------------------------------------- */

int cmd_merge_diff(struct ctx *c)
{
  const char *first = args_next(c), *second = args_next(c);
  const char *path = c->val[OPT_PATH];
  if (!first || !second)
    return cli_usage(c, "%s diff was not specified: give two diff files "
                     "(one may be '-' for stdin)", first ? "second" : "first");
  if (!path && !(path = args_next(c)))
    return cli_usage(c, "path was not specified: give a new file for the "
                     "merged diff, or '-' for stdout");
  int r = args_done(c);
  if (r == 0 && strcmp(first, "-") == 0 && strcmp(second, "-") == 0)
    r = cli_usage(c, "only one of the diffs can come from stdin");
  int fd1 = -1, fd2 = -1, out = -1;
  if (r == 0 && (r = in_open(c, first, &fd1)) == 0 &&
      (r = in_open(c, second, &fd2)) == 0 &&
      (r = out_open(c, path, &out)) == 0) {
    struct progress p;
    cli_catch_signals();
    progress_init(&p, c, "Merging image diff");
    r = lbd_merge_diff(fd1, fd2, out, progress_cb, &p);
    if (r < 0)
      lib_fail(c, r, &p);
    else
      progress_finish(&p);
    r = out_close(c, path, out, r);
  }
  in_close(fd1);
  in_close(fd2);
  return r;
}
