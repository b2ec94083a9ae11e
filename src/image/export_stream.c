/* Byte streams for rbd's export formats: exact reads and skips with
 * messages that say where a stream ended, little-endian fields, and the
 * spooling of a pipe into a temporary file so a stream can be checked
 * before it is applied. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/export_format.h"
#include "util/error.h"

#define SCRATCH 65536

/* ---- over a file descriptor ------------------------------------------- */

static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
  for (;;) {
    ssize_t n = read(*(int *)ctx, buf, len);
    if (n >= 0 || errno != EINTR)
      return n < 0 ? -errno : n;
  }
}

static int fd_skip(void *ctx, uint64_t len)
{
  if (len > (uint64_t)INT64_MAX)
    return -EINVAL;
  return lseek(*(int *)ctx, (off_t)len, SEEK_CUR) < 0 ? -errno : 0;
}

static int fd_write(void *ctx, const void *buf, size_t len)
{
  const char *p = buf;
  while (len) {
    ssize_t n = write(*(int *)ctx, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

void export_in_fd(struct export_in *in, int *fd)
{
  struct stat st;
  bool regular = fstat(*fd, &st) == 0 && S_ISREG(st.st_mode);
  *in = (struct export_in){fd_read, regular ? fd_skip : NULL, fd, 0};
}

void export_out_fd(struct export_out *out, int *fd)
{
  *out = (struct export_out){fd_write, fd, 0};
}

/* ---- over memory ------------------------------------------------------ */

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
  struct export_mem *m = ctx;
  size_t n = m->size - m->at < len ? m->size - m->at : len;
  memcpy(buf, m->data + m->at, n);
  m->at += n;
  return (ssize_t)n;
}

static int mem_skip(void *ctx, uint64_t len)
{
  struct export_mem *m = ctx;
  m->at = len > m->size - m->at ? m->size : m->at + (size_t)len;
  return 0;
}

void export_in_mem(struct export_in *in, struct export_mem *m)
{
  *in = (struct export_in){mem_read, mem_skip, m, 0};
}

/* ---- reading ---------------------------------------------------------- */

static int truncated(const struct export_in *in, const char *what)
{
  return lbd_error(EINVAL, "the stream is truncated: it ends at byte %" PRIu64
                   " inside %s", in->pos, what);
}

int export_read(struct export_in *in, void *buf, size_t len, const char *what)
{
  char *p = buf;
  while (len) {
    ssize_t n = in->read(in->ctx, p, len);
    if (n < 0)
      return lbd_error((int)n, "reading the stream at byte %" PRIu64 ": %s",
                       in->pos, strerror((int)-n));
    if (n == 0)
      return truncated(in, what);
    p += n;
    len -= (size_t)n;
    in->pos += (uint64_t)n;
  }
  return 0;
}

/* Skip by reading (pipes), checking that the bytes are there. */
static int skip_reading(struct export_in *in, uint64_t len, const char *what)
{
  char buf[4096];
  while (len) {
    size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
    int r = export_read(in, buf, n, what);
    if (r < 0)
      return r;
    len -= n;
  }
  return 0;
}

int export_skip(struct export_in *in, uint64_t len, const char *what)
{
  if (!in->skip || len <= 4096)
    return skip_reading(in, len, what);
  /* Seek to one byte short and read it: a skip past the end shows. */
  int r = in->skip(in->ctx, len - 1);
  if (r < 0)
    return lbd_error(r, "skipping in the stream at byte %" PRIu64 ": %s",
                     in->pos, strerror(-r));
  in->pos += len - 1;
  unsigned char last;
  return export_read(in, &last, 1, what);
}

int export_read_u8(struct export_in *in, uint8_t *v, const char *what)
{
  return export_read(in, v, 1, what);
}

int export_read_le32(struct export_in *in, uint32_t *v, const char *what)
{
  unsigned char b[4];
  int r = export_read(in, b, sizeof b, what);
  *v = 0;
  for (int i = 3; r == 0 && i >= 0; i--)
    *v = *v << 8 | b[i];
  return r;
}

int export_read_le64(struct export_in *in, uint64_t *v, const char *what)
{
  unsigned char b[8];
  int r = export_read(in, b, sizeof b, what);
  *v = 0;
  for (int i = 7; r == 0 && i >= 0; i--)
    *v = *v << 8 | b[i];
  return r;
}

/* ---- writing ---------------------------------------------------------- */

int export_write(struct export_out *out, const void *buf, size_t len)
{
  int r = out->write(out->ctx, buf, len);
  if (r < 0)
    return lbd_error(r, "writing the stream at byte %" PRIu64 ": %s",
                     out->pos, strerror(-r));
  out->pos += len;
  return 0;
}

unsigned char *export_put_le32(unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    *p++ = (unsigned char)(v >> (8 * i));
  return p;
}

unsigned char *export_put_le64(unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    *p++ = (unsigned char)(v >> (8 * i));
  return p;
}

/* ---- spooling --------------------------------------------------------- */

/* An unlinked temporary file in $TMPDIR (else /tmp). */
static int temp_file(void)
{
  const char *dir = getenv("TMPDIR");
  char path[4096];
  if (!dir || !*dir)
    dir = "/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  snprintf(path, sizeof path, "%s/lbd-spool.XXXXXX", dir);
  if ((fd = mkstemp(path)) < 0)
    return lbd_error(errno, "making a temporary file in %s to hold the "
                     "stream: %s", dir, strerror(errno));
  unlink(path);
  return fd;
}

static int spool(int fd, int tmp)
{
  char *buf = malloc(SCRATCH);
  if (!buf)
    return lbd_error(ENOMEM, "out of memory");
  int r = 0;
  for (;;) {
    ssize_t n = fd_read(&fd, buf, SCRATCH);
    if (n <= 0) {
      if (n < 0)
        r = lbd_error((int)n, "reading the stream: %s", strerror((int)-n));
      break;
    }
    if ((r = fd_write(&tmp, buf, (size_t)n)) < 0) {
      r = lbd_error(r, "spooling the stream to a temporary file: %s",
                    strerror(-r));
      break;
    }
  }
  free(buf);
  if (r == 0 && lseek(tmp, 0, SEEK_SET) < 0)
    r = lbd_error(errno, "rewinding the spooled stream: %s", strerror(errno));
  return r;
}

int export_seekable(int fd, int *out, bool *spooled)
{
  struct stat st;
  *spooled = false;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      lseek(fd, 0, SEEK_CUR) >= 0) {
    *out = fd;
    return 0;
  }
  int tmp = temp_file();
  if (tmp < 0)
    return tmp;
  int r = spool(fd, tmp);
  if (r < 0) {
    close(tmp);
    return r;
  }
  *out = tmp;
  *spooled = true;
  return 0;
}
