/* The "file" stream: a local file (or block device) read with pread; its
 * holes found with SEEK_DATA / SEEK_HOLE. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/stream_internal.h"
#include "util/error.h"
#include "util/extents.h"

struct file_stream {
  struct stream s; /* first */
  int fd;
};

static ssize_t file_read(struct stream *s, uint64_t off, size_t len,
                         void *buf)
{
  struct file_stream *f = (struct file_stream *)s;
  if (off >= s->size)
    return 0;
  if (len > s->size - off)
    len = (size_t)(s->size - off);
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(f->fd, (char *)buf + done, len - done,
                      (off_t)(off + done));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return lbd_error(errno, "%s: read at %llu: %s", s->name,
                       (unsigned long long)(off + done), strerror(errno));
    }
    if (n == 0)
      break; /* the file shrank since open */
    done += (size_t)n;
  }
  return (ssize_t)done;
}

/* Data extents from SEEK_DATA / SEEK_HOLE (the whole range where the file
 * system or device cannot tell). */
static int file_extents(struct stream *s, uint64_t off, uint64_t len,
                        struct extent_set *out)
{
  struct file_stream *f = (struct file_stream *)s;
  uint64_t end = off + len;
  while (off < end) {
    off_t d = lseek(f->fd, (off_t)off, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) /* no data after OFF */
        return 0;
      if (errno == EINVAL || errno == EOPNOTSUPP)
        return extent_set_add(out, off, end - off);
      return lbd_error(errno, "%s: SEEK_DATA at %llu: %s", s->name,
                       (unsigned long long)off, strerror(errno));
    }
    if ((uint64_t)d >= end)
      return 0;
    off_t h = lseek(f->fd, d, SEEK_HOLE);
    if (h < 0) {
      if (errno != ENXIO)
        return lbd_error(errno, "%s: SEEK_HOLE at %llu: %s", s->name,
                         (unsigned long long)d, strerror(errno));
      h = (off_t)end; /* the file shrank: count the rest as data */
    }
    uint64_t e = (uint64_t)h < end ? (uint64_t)h : end;
    if (e <= (uint64_t)d)
      e = end;
    int r = extent_set_add(out, (uint64_t)d, e - (uint64_t)d);
    if (r < 0)
      return lbd_error(r, "%s: out of memory", s->name);
    off = e;
  }
  return 0;
}

static void file_close(struct stream *s)
{
  struct file_stream *f = (struct file_stream *)s;
  if (f->fd >= 0)
    close(f->fd);
  stream_fini(s);
  free(f);
}

static int file_open_path(const char *path, lbd_cluster_t *cluster,
                          struct stream **out);

/* 0 if PATH (which exists) lies in directory DIR or below, else EACCES:
 * both resolved, symbolic links and ".." included. */
static int path_inside(const char *path, const char *dir, const char *name)
{
  char *rp = realpath(path, NULL);
  int e = errno;
  char *rd = rp ? realpath(dir, NULL) : NULL;
  if (rp && !rd)
    e = errno;
  int r = 0;
  if (!rp || !rd)
    r = lbd_error(e, "%s: %s", rp ? dir : path, strerror(e));
  size_t n = rd ? strlen(rd) : 0;
  if (r == 0 && !(strncmp(rp, rd, n) == 0 &&
                  (rp[n] == '/' || (n == 1 && rd[0] == '/'))))
    r = lbd_error(EACCES, "\"%s\" (%s) is outside %s, the directory of the "
                  "image that names it: lbd follows backing files there "
                  "only (move the chain into one directory, or name the "
                  "file relative to it: qemu-img rebase -u)", name, rp, rd);
  free(rp);
  free(rd);
  return r;
}

static int file_open_relative(const struct stream *base, const char *name,
                              struct stream **out)
{
  const char *slash = strrchr(base->name, '/');
  size_t dirlen = slash ? (size_t)(slash - base->name) + 1 : 0;
  size_t n = dirlen + strlen(name) + 2;
  char *path = malloc(n), *dir = malloc(dirlen + 2);
  int r = path && dir ? 0 : lbd_error(ENOMEM, "file stream: out of memory");
  if (r == 0) {
    if (name[0] == '/')
      snprintf(path, n, "%s", name);
    else
      snprintf(path, n, "%.*s%s", (int)dirlen, base->name, name);
    snprintf(dir, dirlen + 2, "%.*s", dirlen ? (int)dirlen : 1,
             dirlen ? base->name : ".");
    r = path_inside(path, dir, name);
  }
  if (r == 0)
    r = file_open_path(path, base->cluster, out);
  free(path);
  free(dir);
  return r;
}

static const struct stream_ops file_ops = {
  .read = file_read,
  .close = file_close,
  .open_relative = file_open_relative,
  .extents = file_extents,
};

static int file_open_path(const char *path, lbd_cluster_t *cluster,
                          struct stream **out)
{
  struct file_stream *f = calloc(1, sizeof *f);
  if (!f)
    return lbd_error(ENOMEM, "file stream: out of memory");
  f->fd = -1;
  int r = stream_init(&f->s, &file_ops, path, cluster);
  if (r < 0) {
    free(f);
    return r;
  }
  f->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) {
    r = lbd_error(errno, "%s: %s", path, strerror(errno));
    goto fail;
  }
  struct stat st;
  if (fstat(f->fd, &st) < 0) {
    r = lbd_error(errno, "%s: %s", path, strerror(errno));
    goto fail;
  }
  if (S_ISREG(st.st_mode)) {
    f->s.size = (uint64_t)st.st_size;
  } else if (S_ISBLK(st.st_mode)) {
    uint64_t size;
    if (ioctl(f->fd, BLKGETSIZE64, &size) < 0) {
      r = lbd_error(errno, "%s: size of the block device: %s", path,
                    strerror(errno));
      goto fail;
    }
    f->s.size = size;
  } else if (S_ISDIR(st.st_mode)) {
    r = lbd_error(EISDIR, "%s: is a directory", path);
    goto fail;
  } else {
    r = lbd_error(EINVAL, "%s: not a regular file or a block device", path);
    goto fail;
  }
  *out = &f->s;
  return 0;
fail:
  file_close(&f->s);
  return r;
}

int stream_file_open(const json_t *spec, lbd_cluster_t *cluster,
                     struct stream **out)
{
  const char *path;
  int r = stream_spec_string(spec, "file", "file_path", false, &path);
  if (r < 0)
    return r;
  return file_open_path(path, cluster, out);
}
