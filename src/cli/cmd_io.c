/* import and export of raw images.  Both keep holes: import writes only
 * the 4 KiB blocks that hold data (skipping a file's holes with
 * SEEK_DATA), export leaves zeroed blocks as holes in a regular file.
 * With --export-format 2, rbd's format 2 (the image with its snapshots),
 * which the library reads and writes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"

#define SPARSE_SIZE 4096ULL
#define MIN_CHUNK (4ULL << 20)
#define MAX_CHUNK (64ULL << 20)

/* IO size: whole object sets (stripe periods) of 4 to 64 MiB. */
static size_t chunk_size(const struct lbd_image_info *info)
{
  uint64_t period = info->object_size * info->stripe_count;
  if (period > MAX_CHUNK)
    return MAX_CHUNK;
  uint64_t chunk = period;
  while (chunk < MIN_CHUNK)
    chunk += period;
  return (size_t)chunk;
}

static bool all_zero(const char *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* Read LEN bytes, fewer only at the end of the input. */
static ssize_t read_full(int fd, char *buf, size_t len)
{
  size_t got = 0;
  while (got < len && !cli_interrupted) {
    ssize_t n = read(fd, buf + got, len - got);
    if (n == 0)
      break;
    if (n < 0 && errno != EINTR)
      return -errno;
    if (n > 0)
      got += (size_t)n;
  }
  return cli_interrupted ? -EINTR : (ssize_t)got;
}

static int write_full(int fd, const char *buf, size_t len)
{
  while (len && !cli_interrupted) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno != EINTR)
      return -errno;
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
    }
  }
  return cli_interrupted ? -EINTR : 0;
}

/* End (in BUF) of the SPARSE_SIZE block of the image holding BUF[I]. */
static size_t block_end(uint64_t off, size_t i, size_t len)
{
  uint64_t end = ((off + i) / SPARSE_SIZE + 1) * SPARSE_SIZE - off;
  return end < len ? (size_t)end : len;
}

/* Call FN on every run of blocks of BUF (image offset OFF) holding data. */
static int each_data_run(uint64_t off, const char *buf, size_t len,
                         int (*fn)(void *arg, uint64_t off, const char *buf,
                                   size_t len),
                         void *arg)
{
  size_t i = 0;
  while (i < len) {
    size_t e;
    while (i < len && all_zero(buf + i, (e = block_end(off, i, len)) - i))
      i = e;
    size_t start = i;
    while (i < len && !all_zero(buf + i, (e = block_end(off, i, len)) - i))
      i = e;
    int r = i > start ? fn(arg, off + start, buf + start, i - start) : 0;
    if (r < 0)
      return r;
  }
  return 0;
}

static int image_write(void *arg, uint64_t off, const char *buf, size_t len)
{
  ssize_t n = lbd_write(arg, off, len, buf);
  return n < 0 ? (int)n : 0;
}

/* --export-format: 1 (raw, the default) or 2. */
static int export_format(struct ctx *c, int *format)
{
  const char *v = c->val[OPT_EXPORT_FORMAT];
  *format = 1;
  if (!v || strcmp(v, "1") == 0)
    return 0;
  if (strcmp(v, "2") == 0) {
    *format = 2;
    return 0;
  }
  return cli_usage(c, "invalid --export-format '%s': give 1 (raw) or 2", v);
}

static int format_progress(uint64_t done, uint64_t total, void *arg)
{
  progress_update(arg, done, total);
  return cli_interrupted != 0;
}

/* Report a failure of the library: "interrupted" if the user stopped it. */
static int format_fail(struct ctx *c, int r, struct progress *p)
{
  progress_fail(p);
  if (r == -ECANCELED && cli_interrupted) {
    cli_usage(c, "interrupted");
    return r;
  }
  return cli_fail(c, r, NULL);
}

/* ---- import ---------------------------------------------------------- */

struct import {
  int fd;
  bool seekable; /* a regular file: holes are skipped with SEEK_DATA */
  uint64_t size; /* 0: unknown (a pipe) */
  const char *path;
};

/* Open PATH and learn its size. */
static int import_open(struct ctx *c, struct import *in)
{
  struct stat st;
  in->fd = strcmp(in->path, "-") == 0 ? STDIN_FILENO
                                      : open(in->path, O_RDONLY | O_CLOEXEC);
  if (in->fd < 0)
    return cli_syserr(c, -errno, "opening %s", in->path);
  if (fstat(in->fd, &st) < 0)
    return cli_syserr(c, -errno, "examining %s", in->path);
  in->seekable = S_ISREG(st.st_mode);
  if (in->seekable) {
    in->size = (uint64_t)st.st_size;
  } else if (S_ISBLK(st.st_mode)) {
    off_t end = lseek(in->fd, 0, SEEK_END);
    if (end < 0 || lseek(in->fd, 0, SEEK_SET) < 0)
      return cli_syserr(c, -errno, "examining %s", in->path);
    in->size = (uint64_t)end;
  }
  if (in->fd == STDIN_FILENO)
    in->path = "stdin";
  return 0;
}

/* An export format 2 stream into a new image (removed on failure). */
static int import_v2(struct ctx *c, struct import *in, lbd_ioctx_t *io,
                     const char *name, const struct lbd_image_options *o)
{
  struct progress p;
  progress_init(&p, c, "Importing image");
  int r = lbd_import_v2(io, name, o, in->fd, format_progress, &p);
  if (r < 0)
    return format_fail(c, r, &p);
  progress_finish(&p);
  return 0;
}

/* Copy the input into IMG, which has SIZE bytes (growing it for a pipe). */
static int import_copy(struct ctx *c, struct import *in, lbd_image_t *img,
                       uint64_t size)
{
  struct lbd_image_info info;
  int r = lbd_stat(img, &info);
  if (r < 0)
    return cli_fail(c, r, NULL);
  size_t chunk = chunk_size(&info);
  char *buf = malloc(chunk);
  if (!buf)
    return cli_syserr(c, -ENOMEM, "import buffer");
  struct progress p;
  progress_init(&p, c, "Importing image");
  p.on = p.on && in->size;
  uint64_t pos = 0;
  while (r == 0 && (!in->size || pos < in->size)) {
    if (in->seekable) { /* skip the hole at POS, if any */
      off_t data = lseek(in->fd, (off_t)pos, SEEK_DATA);
      if (data < 0 && errno == ENXIO)
        break; /* a hole up to the end */
      if (data < 0) {
        r = cli_syserr(c, -errno, "seeking in %s", in->path);
        break;
      }
      if ((pos = (uint64_t)data) >= in->size)
        break;
    }
    size_t want = chunk - (size_t)(pos % chunk);
    if (in->size && want > in->size - pos)
      want = (size_t)(in->size - pos);
    ssize_t n = read_full(in->fd, buf, want);
    if (n < 0) {
      r = cli_syserr(c, (int)n, n == -EINTR ? "interrupted while reading %s"
                                            : "reading %s", in->path);
      break;
    }
    if (n == 0 && in->size)
      r = cli_usage(c, "%s ended at byte %llu, before its size %llu",
                    in->path, (unsigned long long)pos,
                    (unsigned long long)in->size);
    if (n == 0)
      break;
    if (pos + (uint64_t)n > size) {
      size = size * 2 > pos + (uint64_t)n ? size * 2 : pos + (uint64_t)n;
      if ((r = lbd_resize(img, size)) < 0)
        r = cli_fail(c, r, NULL);
    }
    if (r == 0 && (r = each_data_run(pos, buf, (size_t)n, image_write, img)))
      r = cli_fail(c, r, NULL);
    pos += (uint64_t)n;
    progress_update(&p, pos, in->size);
    if (!in->size && (size_t)n < want)
      break;
  }
  free(buf);
  if (r == 0 && !in->size && pos != size && (r = lbd_resize(img, pos)) < 0)
    r = cli_fail(c, r, NULL);
  if (r < 0)
    progress_fail(&p);
  else
    progress_finish(&p);
  return r;
}

int cmd_import(struct ctx *c)
{
  static const enum opt_id alias[][2] = {{OPT_POOL, OPT_DEST_POOL},
                                         {OPT_NAMESPACE, OPT_DEST_NAMESPACE},
                                         {OPT_IMAGE, OPT_DEST}};
  for (size_t i = 0; i < 3; i++) {
    if (opt_set(c, alias[i][0]) && opt_set(c, alias[i][1]))
      return cli_usage(c, "give --%s or --%s, not both",
                       cli_opts[alias[i][0]].name, cli_opts[alias[i][1]].name);
    if (opt_set(c, alias[i][0]))
      c->val[alias[i][1]] = c->val[alias[i][0]];
  }
  struct import in = {.fd = -1, .path = c->val[OPT_PATH]};
  if (!in.path && !(in.path = args_next(c)))
    return cli_usage(c, "path was not specified: give a file, or '-' for "
                     "stdin");
  char *base = NULL;
  if (!opt_set(c, OPT_DEST) && c->next_pos >= c->npos) {
    if (strcmp(in.path, "-") == 0)
      return cli_usage(c, "destination image name was not specified: give "
                       "it after the path, e.g. 'lbd import - rbd/disk1'");
    if (!(base = strdup(in.path)))
      return cli_syserr(c, -ENOMEM, "import");
    c->val[OPT_DEST] = basename(base);
  }
  struct spec s;
  struct lbd_image_options o;
  lbd_ioctx_t *io = NULL;
  lbd_image_t *img = NULL;
  bool created = false;
  int r = spec_image(c, SPEC_DEST, false, &s);
  if (r < 0) {
    free(base);
    return r;
  }
  cli_catch_signals();
  int format = 1;
  if ((r = export_format(c, &format)) == 0 &&
      (r = image_options(c, false, &o)) == 0 && (r = args_done(c)) == 0 &&
      (r = import_open(c, &in)) == 0)
    r = cli_ioctx(c, s.pool, s.ns, &io);
  if (r == 0 && format == 2) {
    r = import_v2(c, &in, io, s.image, &o);
  } else if (r == 0) {
    o.size = in.size ? in.size : MAX_CHUNK;
    if ((r = lbd_create(io, s.image, &o)) < 0)
      cli_fail(c, r, NULL);
    created = r == 0;
    if (r == 0 && (r = lbd_open(io, s.image, NULL, 0, &img)) < 0)
      cli_fail(c, r, NULL);
    if (r == 0)
      r = import_copy(c, &in, img, o.size);
    if (img) {
      int r2 = lbd_close(img);
      if (r2 < 0 && r == 0)
        r = cli_fail(c, r2, "closing image");
    }
  }
  if (r < 0 && created) {
    int r2 = lbd_remove(io, s.image);
    if (r2 < 0)
      cli_fail(c, r2, "removing the partial image");
  }
  lbd_ioctx_destroy(io);
  if (in.fd > STDIN_FILENO)
    close(in.fd);
  spec_free(&s);
  free(base);
  return r;
}

/* ---- export ---------------------------------------------------------- */

struct export {
  int fd;
  bool sparse; /* a regular file: zeroes become holes */
};

static int file_write(void *arg, uint64_t off, const char *buf, size_t len)
{
  struct export *out = arg;
  while (len) {
    ssize_t n = pwrite(out->fd, buf, len, (off_t)off);
    if (n < 0 && errno != EINTR)
      return -errno;
    if (n > 0) {
      buf += n;
      off += (uint64_t)n;
      len -= (size_t)n;
    }
  }
  return 0;
}

static int export_copy(struct ctx *c, lbd_image_t *img, struct export *out,
                       const char *path)
{
  struct lbd_image_info info;
  int r = lbd_stat(img, &info);
  if (r < 0)
    return cli_fail(c, r, NULL);
  size_t chunk = chunk_size(&info);
  char *buf = malloc(chunk);
  if (!buf)
    return cli_syserr(c, -ENOMEM, "export buffer");
  struct progress p;
  progress_init(&p, c, "Exporting image");
  for (uint64_t off = 0; r == 0 && off < info.size; off += chunk) {
    size_t len = info.size - off < chunk ? (size_t)(info.size - off) : chunk;
    ssize_t n = lbd_read(img, off, len, buf);
    if (n < 0) {
      r = cli_fail(c, (int)n, NULL);
    } else if ((size_t)n != len) {
      r = cli_usage(c, "short read of image at %llu", (unsigned long long)off);
    } else {
      r = out->sparse ? each_data_run(off, buf, len, file_write, out)
                      : write_full(out->fd, buf, len);
      if (r < 0)
        r = cli_syserr(c, r, r == -EINTR ? "interrupted while writing %s"
                                         : "writing %s", path);
    }
    progress_update(&p, off + len, info.size);
  }
  if (r == 0 && out->sparse && ftruncate(out->fd, (off_t)info.size) < 0)
    r = cli_syserr(c, -errno, "writing %s", path);
  free(buf);
  if (r < 0)
    progress_fail(&p);
  else
    progress_finish(&p);
  return r;
}

/* rbd's export format 2: written in order, never sparse. */
static int export_v2(struct ctx *c, lbd_image_t *img, struct export *out)
{
  struct progress p;
  progress_init(&p, c, "Exporting image");
  int r = lbd_export_v2(img, out->fd, format_progress, &p);
  if (r < 0)
    return format_fail(c, r, &p);
  progress_finish(&p);
  return 0;
}

int cmd_export(struct ctx *c)
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
  int format = 1;
  if (r == 0)
    r = export_format(c, &format);
  bool to_stdout = path && strcmp(path, "-") == 0;
  if (r == 0 && to_stdout && isatty(STDOUT_FILENO))
    r = cli_usage(c, "stdout is a terminal: redirect it, or give a file");
  if (r == 0 && (r = args_done(c)) == 0 &&
      (r = cli_open(c, &s, false, &io, &img)) == 0) {
    struct export out = {.fd = STDOUT_FILENO};
    struct stat st;
    cli_catch_signals();
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    if (!to_stdout && (out.fd = open(path, flags, 0644)) < 0)
      r = cli_syserr(c, -errno, "creating %s", path);
    out.sparse = r == 0 && !to_stdout && fstat(out.fd, &st) == 0 &&
                 S_ISREG(st.st_mode);
    if (r == 0 && format == 2)
      r = export_v2(c, img, &out);
    else if (r == 0)
      r = export_copy(c, img, &out, path);
    if (!to_stdout && out.fd >= 0) {
      if (close(out.fd) < 0 && r == 0)
        r = cli_syserr(c, -errno, "writing %s", path);
      if (r < 0)
        unlink(path); /* no partial file left behind */
    }
    cli_close(c, io, img);
  }
  spec_free(&s);
  return r;
}
