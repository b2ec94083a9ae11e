/* The raw format (src/source/format_raw.c) over file streams: HEAD and a
 * snapshots array (oldest first), every byte read back, reads past the
 * size, extents, and every malformed spec refused with EINVAL naming the
 * field (streams left closed: the ASan build checks for leaks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lbd/lbd.h"
#include "source/format.h"
#include "util/extents.h"

static char dir[256];

struct file {
  char path[512];
  uint8_t *data;
  size_t len;
};

static struct file files[3];

static void make_file(struct file *f, const char *name, size_t len,
                      unsigned seed)
{
  snprintf(f->path, sizeof f->path, "%s/%s", dir, name);
  f->data = malloc(len ? len : 1);
  assert_non_null(f->data);
  f->len = len;
  for (size_t i = 0; i < len; i++)
    f->data[i] = (uint8_t)(i * 7 + seed + (i >> 12));
  if (len > 3 * 65536) /* a zero block */
    memset(f->data + 65536, 0, 2 * 65536);
  FILE *fp = fopen(f->path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(f->data, 1, len, fp), len);
  fclose(fp);
}

static json_t *file_stream(const char *path)
{
  return json_pack("{s:s, s:s}", "type", "file", "file_path", path);
}

static json_t *full_spec(void)
{
  return json_pack("{s:s, s:o, s:[{s:s, s:s, s:o}, {s:s, s:s, s:o}]}",
                   "type", "raw", "stream", file_stream(files[2].path),
                   "snapshots",
                   "type", "raw", "name", "monday", "stream",
                   file_stream(files[0].path),
                   "type", "raw", "name", "tuesday", "stream",
                   file_stream(files[1].path));
}

static void check_bytes(struct format *f, uint32_t snap, const struct file *w)
{
  assert_int_equal(format_size(f, snap), w->len);
  static const size_t chunks[] = {1u << 20, 4097, 100};
  for (size_t c = 0; c < 3; c++) {
    size_t cs = chunks[c];
    uint8_t *buf = malloc(cs);
    for (size_t off = 0; off < w->len + cs; off += cs) {
      memset(buf, 0xee, cs);
      assert_int_equal(format_read(f, snap, off, cs, buf), 0);
      for (size_t i = 0; i < cs; i++) {
        uint8_t want = off + i < w->len ? w->data[off + i] : 0;
        if (buf[i] != want)
          fail_msg("snap %u byte %zu: %02x, want %02x", snap, off + i,
                   buf[i], want);
      }
      if (cs == 100 && off > 300000)
        off += 77777; /* sample the rest */
    }
    free(buf);
  }
  struct extent_set e = {0};
  assert_int_equal(format_extents(f, snap, 0, UINT64_MAX / 2, &e), 0);
  if (w->len) {
    assert_int_equal(e.n, 1);
    assert_int_equal(e.ext[0].off, 0);
    assert_int_equal(e.ext[0].len, w->len);
  } else {
    assert_int_equal(e.n, 0);
  }
  extent_set_free(&e);
}

static void test_head_and_snapshots(void **state)
{
  json_t *spec = full_spec();
  struct format *f;
  int r = format_open(spec, NULL, &f);
  if (r < 0)
    fail_msg("%s", lbd_last_error());
  json_decref(spec);
  assert_int_equal(format_snap_count(f), 2);
  assert_string_equal(format_snap(f, 0)->name, "monday");
  assert_string_equal(format_snap(f, 1)->name, "tuesday");
  assert_int_equal(format_snap(f, 0)->timestamp, 0);
  assert_null(format_snap(f, 2));
  check_bytes(f, 0, &files[0]);
  check_bytes(f, 1, &files[1]);
  check_bytes(f, FORMAT_HEAD, &files[2]);
  char b[8];
  assert_int_equal(format_read(f, 2, 0, sizeof b, b), -EINVAL);
  format_close(f);
}

static void test_head_only(void **state)
{
  json_t *spec = json_pack("{s:s, s:o}", "type", "raw", "stream",
                           file_stream(files[0].path));
  struct format *f;
  assert_int_equal(format_open(spec, NULL, &f), 0);
  json_decref(spec);
  assert_int_equal(format_snap_count(f), 0);
  check_bytes(f, FORMAT_HEAD, &files[0]);
  format_close(f);
}

static void expect_einval(json_t *spec, const char *words)
{
  struct format *f = (struct format *)1;
  int r = format_open(spec, NULL, &f);
  if (r >= 0 || !strstr(lbd_last_error(), words))
    fail_msg("%d \"%s\", want \"%s\"", r, lbd_last_error(), words);
  assert_null(f);
  json_decref(spec);
}

static void test_bad_specs(void **state)
{
  expect_einval(json_pack("{s:s}", "type", "raw"), "stream");
  expect_einval(json_pack("{s:s, s:s}", "type", "raw", "stream", "x"),
                "stream");
  expect_einval(json_pack("{s:s, s:o, s:i}", "type", "raw", "stream",
                          file_stream(files[0].path), "snapshots", 1),
                "snapshots");
  expect_einval(json_pack("{s:s, s:o, s:[i]}", "type", "raw", "stream",
                          file_stream(files[0].path), "snapshots", 1),
                "snapshots[0]");
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:o}]}", "type", "raw",
                          "stream", file_stream(files[0].path), "snapshots",
                          "type", "raw", "stream",
                          file_stream(files[1].path)),
                "name");
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:i, s:o}]}", "type", "raw",
                          "stream", file_stream(files[0].path), "snapshots",
                          "type", "raw", "name", 5, "stream",
                          file_stream(files[1].path)),
                "name");
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:s, s:o}]}", "type", "raw",
                          "stream", file_stream(files[0].path), "snapshots",
                          "type", "qcow", "name", "a", "stream",
                          file_stream(files[1].path)),
                "type");
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:s}]}", "type", "raw",
                          "stream", file_stream(files[0].path), "snapshots",
                          "type", "raw", "name", "a"),
                "stream");
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:o}, {s:s, s:o}]}", "type",
                          "raw", "stream", file_stream(files[0].path),
                          "snapshots", "name", "a", "stream",
                          file_stream(files[1].path), "name", "a", "stream",
                          file_stream(files[1].path)),
                "twice");
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:o}]}", "type", "raw",
                          "stream", file_stream(files[0].path), "snapshots",
                          "name", "", "stream", file_stream(files[1].path)),
                "name");
  char longname[300];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  expect_einval(json_pack("{s:s, s:o, s:[{s:s, s:o}]}", "type", "raw",
                          "stream", file_stream(files[0].path), "snapshots",
                          "name", longname, "stream",
                          file_stream(files[1].path)),
                "name");
  expect_einval(json_pack("{s:s, s:o}", "type", "raw", "stream",
                          json_pack("{s:s}", "type", "ftp")),
                "ftp");
  expect_einval(json_pack("[]"), "object");
}

static void test_missing_files(void **state)
{
  char gone[600];
  snprintf(gone, sizeof gone, "%s/gone.raw", dir);
  /* a snapshot's stream fails after HEAD's opened: all closed again */
  json_t *spec = json_pack("{s:s, s:o, s:[{s:s, s:o}, {s:s, s:o}]}", "type",
                           "raw", "stream", file_stream(files[0].path),
                           "snapshots", "name", "a", "stream",
                           file_stream(files[1].path), "name", "b", "stream",
                           file_stream(gone));
  struct format *f = NULL;
  assert_true(format_open(spec, NULL, &f) < 0);
  assert_null(f);
  assert_non_null(strstr(lbd_last_error(), "\"b\""));
  json_decref(spec);
  spec = json_pack("{s:s, s:o}", "type", "raw", "stream", file_stream(gone));
  assert_true(format_open(spec, NULL, &f) < 0);
  assert_non_null(strstr(lbd_last_error(), "HEAD"));
  json_decref(spec);
}

static void test_empty(void **state)
{
  struct file e;
  make_file(&e, "empty.raw", 0, 0);
  json_t *spec = json_pack("{s:s, s:o}", "type", "raw", "stream",
                           file_stream(e.path));
  struct format *f;
  assert_int_equal(format_open(spec, NULL, &f), 0);
  json_decref(spec);
  check_bytes(f, FORMAT_HEAD, &e);
  format_close(f);
  free(e.data);
}

static int setup(void **state)
{
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/lbd-raw-XXXXXX", tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    return -1;
  make_file(&files[0], "mon.raw", 3 * 1000 * 1000 + 17, 1);
  make_file(&files[1], "tue.raw", 1000 * 1000, 2);
  make_file(&files[2], "head.raw", 5 * 1000 * 1000 + 3, 3);
  return 0;
}

static int teardown(void **state)
{
  for (int i = 0; i < 3; i++)
    free(files[i].data);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_head_and_snapshots),
    cmocka_unit_test(test_head_only),
    cmocka_unit_test(test_bad_specs),
    cmocka_unit_test(test_missing_files),
    cmocka_unit_test(test_empty),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
