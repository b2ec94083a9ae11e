/* rbd's own files as import formats: an image with three snapshots
 * (data written, overwritten, discarded, the size grown and shrunk) is
 * exported by lbd as export format 2 and as a chain of export-diffs; the
 * "rbd-export" and "rbd-diff" formats over those files read every
 * snapshot and the head as the image does, their extents leave the holes
 * out, and broken chains, truncated files and bad specs are clear errors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"
#include "servers.h"
#include "source/format.h"
#include "util/error.h"
#include "util/extents.h"

#define MiB (1024ULL * 1024)

struct env {
  char dir[PATH_MAX];
  lbd_cluster_t *c;
  lbd_ioctx_t *io;
};

static const char *const snaps[] = {"s0", "s1", "s2"};
#define NSNAPS 3

static void put(lbd_image_t *img, uint64_t off, uint64_t len, int byte)
{
  char *b = malloc(len);
  memset(b, byte, len);
  assert_int_equal(lbd_write(img, off, len, b), (ssize_t)len);
  free(b);
}

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  if (test_mkdtemp(e->dir, "fmtrbd") < 0)
    return -1;
  char cdir[PATH_MAX + 16];
  snprintf(cdir, sizeof cdir, "%s/cluster", e->dir);
  if (lbd_cluster_open(cdir, true, &e->c) < 0 ||
      lbd_ioctx_create(e->c, "rbd", NULL, &e->io) < 0)
    return -1;
  /* the image: s0, s1 (bigger), s2 (smaller), head */
  struct lbd_image_options o = {.size = 8 * MiB, .object_size = MiB};
  lbd_image_t *img;
  if (lbd_create(e->io, "src", &o) < 0 ||
      lbd_open(e->io, "src", NULL, 0, &img) < 0)
    return -1;
  put(img, 0, MiB + 5, 0x11);
  put(img, 6 * MiB, 3000, 0x12);
  lbd_snap_create(img, "s0");
  put(img, 512 * 1024, MiB, 0x21);
  lbd_discard(img, 6 * MiB, 3000);
  lbd_resize(img, 12 * MiB);
  put(img, 11 * MiB, 4096, 0x22);
  lbd_snap_create(img, "s1");
  lbd_resize(img, 7 * MiB);
  put(img, 3 * MiB, 777, 0x31);
  lbd_snap_create(img, "s2");
  put(img, 0, 100, 0x41);
  lbd_close(img);
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  lbd_ioctx_destroy(e->io);
  lbd_cluster_close(e->c);
  if (!getenv("LBD_TEST_KEEP"))
    test_rmtree(e->dir);
  free(e);
  return 0;
}

/* The image at SNAP (NULL: head): its bytes in *BUF, its size. */
static uint64_t image_bytes(struct env *e, const char *snap, char **buf)
{
  lbd_image_t *img;
  uint64_t size;
  assert_int_equal(lbd_open(e->io, "src", snap, LBD_OPEN_READ_ONLY, &img), 0);
  assert_int_equal(lbd_get_size(img, &size), 0);
  *buf = malloc(size);
  assert_int_equal(lbd_read(img, 0, size, *buf), (ssize_t)size);
  lbd_close(img);
  return size;
}

static bool all_zero(const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* F reads as the image: each snapshot by name, then the head; its
 * extents cover every non-zero byte and leave out the big holes. */
static void check_format(struct env *e, struct format *f, bool head_is_s2)
{
  assert_int_equal(format_snap_count(f), NSNAPS);
  for (uint32_t i = 0; i <= NSNAPS; i++) {
    uint32_t at = i == NSNAPS ? FORMAT_HEAD : i;
    char *want;
    uint64_t size = image_bytes(e, i == NSNAPS ? (head_is_s2 ? "s2" : NULL)
                                               : snaps[i], &want);
    if (at != FORMAT_HEAD)
      assert_string_equal(format_snap(f, at)->name, snaps[i]);
    assert_int_equal(format_size(f, at), size);
    char *got = malloc(size);
    assert_int_equal(format_read(f, at, 0, size, got), 0);
    assert_memory_equal(got, want, size);
    /* unaligned pieces too */
    for (uint64_t off = 1; off < size; off += 999983) {
      size_t n = off + 300000 > size ? (size_t)(size - off) : 300000;
      assert_int_equal(format_read(f, at, off, n, got), 0);
      assert_memory_equal(got, want + off, n);
    }
    struct extent_set x = {0};
    assert_int_equal(format_extents(f, at, 0, size, &x), 0);
    for (uint64_t off = 0; off < size; off += 4096) {
      size_t n = size - off < 4096 ? (size_t)(size - off) : 4096;
      if (!all_zero(want + off, n) && !extent_set_intersects(&x, off, n))
        fail_msg("snap %u: data at %llu outside the extents", i,
                 (unsigned long long)off);
    }
    assert_true(extent_set_bytes(&x) < 3 * MiB);
    extent_set_free(&x);
    free(got);
    free(want);
  }
}

static void file_spec(char *out, size_t n, const char *path)
{
  snprintf(out, n, "{\"type\": \"file\", \"file_path\": \"%s\"}", path);
}

static struct format *open_text(const char *text, int *err)
{
  json_error_t je;
  json_t *spec = json_loads(text, 0, &je);
  if (!spec)
    fail_msg("bad test JSON: %s: %s", je.text, text);
  struct format *f = NULL;
  *err = format_open(spec, NULL, &f);
  json_decref(spec);
  return f;
}

static void test_export_v2(void **state)
{
  struct env *e = *state;
  char path[PATH_MAX + 16], st[PATH_MAX + 64], spec[2 * PATH_MAX];
  snprintf(path, sizeof path, "%s/src.v2", e->dir);
  lbd_image_t *img;
  assert_int_equal(lbd_open(e->io, "src", NULL, LBD_OPEN_READ_ONLY, &img), 0);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_int_equal(lbd_export_v2(img, fd, NULL, NULL), 0);
  close(fd);
  lbd_close(img);
  file_spec(st, sizeof st, path);
  snprintf(spec, sizeof spec, "{\"type\": \"rbd-export\", \"stream\": %s}",
           st);
  int err;
  struct format *f = open_text(spec, &err);
  if (!f)
    fail_msg("open: %s", lbd_last_error());
  check_format(e, f, false);
  format_close(f);
  /* the same file from nginx: an index built over HTTP, reads by Range */
  struct test_server web;
  assert_int_equal(test_nginx_start(&web, e->dir, NULL), 0);
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-export\", \"stream\": {\"type\": \"http\", "
           "\"url\": \"%s/src.v2\"}}", web.url);
  f = open_text(spec, &err);
  if (!f)
    fail_msg("open over http: %s", lbd_last_error());
  check_format(e, f, false);
  format_close(f);
  test_server_stop(&web);
  snprintf(spec, sizeof spec, "{\"type\": \"rbd-export\", \"stream\": %s}",
           st);
  /* truncated: a clear error with the byte */
  char cmd[2 * PATH_MAX];
  snprintf(cmd, sizeof cmd, "truncate -s -100 %s", path);
  assert_int_equal(system(cmd), 0);
  assert_null(open_text(spec, &err));
  assert_int_equal(err, -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "truncated"));
  assert_non_null(strstr(lbd_last_error(), "rbd-export"));
  /* not an export at all */
  snprintf(cmd, sizeof cmd, "echo hello > %s", path);
  assert_int_equal(system(cmd), 0);
  assert_null(open_text(spec, &err));
  assert_int_equal(err, -EINVAL);
}

/* export-diff files: s0 from nothing, s0..s1, s1..s2, s2..head. */
static void write_diffs(struct env *e, char paths[4][PATH_MAX + 16])
{
  for (int i = 0; i < 4; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/d%d.diff", e->dir, i);
    lbd_image_t *img;
    assert_int_equal(lbd_open(e->io, "src", i < 3 ? snaps[i] : NULL,
                              LBD_OPEN_READ_ONLY, &img), 0);
    int fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(
        lbd_export_diff(img, i ? snaps[i - 1] : NULL, false, fd, NULL, NULL),
        0);
    close(fd);
    lbd_close(img);
  }
}

static void test_diff_chain(void **state)
{
  struct env *e = *state;
  char paths[4][PATH_MAX + 16], st[4][PATH_MAX + 64], spec[8 * PATH_MAX];
  write_diffs(e, paths);
  for (int i = 0; i < 4; i++)
    file_spec(st[i], sizeof st[i], paths[i]);
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-diff\", \"streams\": [%s, %s, %s, %s]}", st[0],
           st[1], st[2], st[3]);
  int err;
  struct format *f = open_text(spec, &err);
  if (!f)
    fail_msg("open: %s", lbd_last_error());
  check_format(e, f, false);
  format_close(f);
  /* up to s2 only: the head is s2 */
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-diff\", \"streams\": [%s, %s, %s]}", st[0],
           st[1], st[2]);
  f = open_text(spec, &err);
  assert_non_null(f);
  check_format(e, f, true);
  format_close(f);
  /* a gap in the chain */
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-diff\", \"streams\": [%s, %s]}", st[0], st[2]);
  assert_null(open_text(spec, &err));
  assert_int_equal(err, -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "streams[1]"));
  assert_non_null(strstr(lbd_last_error(), "s0"));
  /* a chain that does not start from nothing */
  snprintf(spec, sizeof spec, "{\"type\": \"rbd-diff\", \"stream\": %s}",
           st[1]);
  assert_null(open_text(spec, &err));
  assert_int_equal(err, -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "streams[0]"));
  /* one diff given as "stream" */
  snprintf(spec, sizeof spec, "{\"type\": \"rbd-diff\", \"stream\": %s}",
           st[0]);
  f = open_text(spec, &err);
  assert_non_null(f);
  assert_int_equal(format_snap_count(f), 1);
  format_close(f);
}

static void test_bad_specs(void **state)
{
  (void)state;
  static const struct {
    const char *spec, *mention;
  } cases[] = {
      {"{\"type\": \"rbd-export\"}", "\"stream\""},
      {"{\"type\": \"rbd-export\", \"stream\": 3}", "\"stream\""},
      {"{\"type\": \"rbd-diff\"}", "\"streams\""},
      {"{\"type\": \"rbd-diff\", \"streams\": []}", "\"streams\""},
      {"{\"type\": \"rbd-diff\", \"streams\": [{\"type\": \"file\", "
       "\"file_path\": \"/nonexistent\"}]}", "streams[0]"},
      {"{\"type\": \"rbd-diff\", \"streams\": [7]}", "streams[0]"},
      {"{\"type\": \"rbd-diff\", \"streams\": [{\"type\": \"file\"}]}",
       "file_path"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int err;
    assert_null(open_text(cases[i].spec, &err));
    assert_true(err < 0);
    if (!strstr(lbd_last_error(), cases[i].mention))
      fail_msg("%s: the message does not name %s: %s", cases[i].spec,
               cases[i].mention, lbd_last_error());
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_export_v2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_diff_chain, setup, teardown),
      cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
