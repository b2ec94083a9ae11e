/* Fuzz target: rbd's diff (v1, v2) and export format 2 stream parsers.
 *
 * Each input is read as a whole diff stream and as a whole export format 2
 * stream (export_check_diff, export_check_image: every record parsed, data
 * skipped), and, split in two at the position its first byte gives, as
 * the two diffs of a merge-diff written to /dev/null.  Nothing may crash,
 * leak or read out of bounds; errors must come with a message.
 *
 * Built with -DLBD_FUZZ=ON (clang): a libFuzzer binary.  Otherwise
 * fuzz_main.c replays files and corpus directories (the test suite runs
 * fuzz/corpus/export_stream). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image/export_format.h"
#include "lbd/lbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* A memory file holding LEN bytes of DATA, at its start. */
static int mem_file(const uint8_t *data, size_t len)
{
  int fd = memfd_create("lbd-fuzz", MFD_CLOEXEC);
  if (fd < 0)
    return -1;
  if (len && write(fd, data, len) != (ssize_t)len) {
    close(fd);
    return -1;
  }
  lseek(fd, 0, SEEK_SET);
  return fd;
}

static void merge(const uint8_t *data, size_t size)
{
  size_t cut = size ? data[0] % (size + 1) : 0;
  int a = mem_file(data, cut), b = mem_file(data + cut, size - cut);
  int out = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (a >= 0 && b >= 0 && out >= 0)
    expect_message(lbd_merge_diff(a, b, out, NULL, NULL), "merge-diff");
  if (a >= 0)
    close(a);
  if (b >= 0)
    close(b);
  if (out >= 0)
    close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct export_mem m = {data, size, 0};
  struct export_in in;
  export_in_mem(&in, &m);
  expect_message(export_check_diff(&in), "a diff stream");
  m.at = 0;
  export_in_mem(&in, &m);
  expect_message(export_check_image(&in), "an export format 2 stream");
  merge(data, size);
  return 0;
}
