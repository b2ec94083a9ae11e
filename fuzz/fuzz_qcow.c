/* Fuzz target: the QCOW header and table parser (src/source/format_qcow.c).
 *
 * Each input is a whole image file, read through a memory stream (which
 * cannot open relative names, so a backing file is refused with a message).
 * What opens is read: head and the first snapshots, their first MiB and
 * last bytes, and their extents over the whole disk.  Nothing may crash,
 * leak, read out of bounds or hang; errors must come with a message.
 *
 * Built with -DLBD_FUZZ=ON (clang): a libFuzzer binary.  Otherwise
 * fuzz_main.c replays files and corpus directories (the test suite runs
 * fuzz/corpus/qcow, seeded with small images qemu-img made:
 * fuzz/make_qcow_corpus.sh). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbd/lbd.h"
#include "source/format.h"
#include "util/extents.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem_stream {
  struct stream s;
  const uint8_t *data;
};

static ssize_t mem_read(struct stream *s, uint64_t off, size_t len, void *buf)
{
  struct mem_stream *m = (struct mem_stream *)s;
  if (off >= s->size)
    return 0;
  if (len > s->size - off)
    len = (size_t)(s->size - off);
  memcpy(buf, m->data + off, len);
  return (ssize_t)len;
}

static void mem_close(struct stream *s)
{
  free(s);
}

static const struct stream_ops mem_ops = {
  .read = mem_read,
  .close = mem_close,
  .open_relative = NULL,
};

static void expect_message(int r, const char *what)
{
  if (r < 0 && !*lbd_last_error()) {
    fprintf(stderr, "%s failed (%d) without a message\n", what, r);
    abort();
  }
  if (r > 0) {
    fprintf(stderr, "%s returned %d\n", what, r);
    abort();
  }
}

static void read_disk(struct format *f, uint32_t snap, uint8_t *buf)
{
  uint64_t size = format_size(f, snap);
  uint64_t n = size < (1u << 20) ? size : (1u << 20);
  for (uint64_t off = 0; off < n; off += 256 << 10)
    expect_message(format_read(f, snap, off, 256 << 10, buf), "read");
  if (size > 4096)
    expect_message(format_read(f, snap, size - 4096, 8192, buf), "read end");
  struct extent_set e = {0};
  expect_message(format_extents(f, snap, 0, size, &e), "extents");
  for (size_t i = 0; i < e.n; i++)
    if (e.ext[i].off + e.ext[i].len > size)
      abort();
  extent_set_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct mem_stream *m = calloc(1, sizeof *m);
  if (!m)
    return 0;
  m->s.ops = &mem_ops;
  m->s.size = size;
  m->s.name = "fuzz";
  m->data = data;
  struct format *f = NULL;
  int r = format_open_stream("qcow", &m->s, FORMAT_MAX_BACKING_DEPTH, &f);
  expect_message(r, "open");
  if (r < 0)
    return 0;
  uint8_t *buf = malloc(256 << 10);
  if (buf) {
    read_disk(f, FORMAT_HEAD, buf);
    for (uint32_t i = 0; i < format_snap_count(f) && i < 4; i++)
      read_disk(f, i, buf);
    free(buf);
  }
  format_close(f);
  return 0;
}
