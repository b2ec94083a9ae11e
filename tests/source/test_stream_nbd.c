/* The "nbd" stream against qemu-nbd: a QCOW2 and a VMDK (made by qemu-img,
 * written with qemu-io) served on a unix socket and on TCP read as what
 * `qemu-img convert -O raw` gives; their size comes from the server; block
 * status keeps holes and zero extents out of the extents (and so out of an
 * import); eight threads read at once; a missing export, a bad URI, a
 * server that is not there are clear errors. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "servers.h"
#include "source/format.h"
#include "source/stream.h"
#include "util/error.h"
#include "util/extents.h"

#define MiB (1024ULL * 1024)
#define SIZE (64 * MiB)

struct env {
  char dir[PATH_MAX];
  char raw[PATH_MAX + 16]; /* qemu-img convert -O raw of the image */
  char *want;              /* its bytes */
};

static void run(const char *cmd)
{
  if (system(cmd) != 0)
    fail_msg("command failed: %s", cmd);
}

static int setup(void **state)
{
  struct env *e = calloc(1, sizeof *e);
  if (test_mkdtemp(e->dir, "nbdstream") < 0)
    return -1;
  *state = e;
  return 0;
}

static int teardown(void **state)
{
  struct env *e = *state;
  if (!getenv("LBD_TEST_KEEP"))
    test_rmtree(e->dir);
  free(e->want);
  free(e);
  return 0;
}

/* An image of format FMT in DIR/img.FMT: data at 0, 5 MiB and 40 MiB, a
 * zeroed range at 20 MiB (written as zeroes), holes elsewhere; e->raw and
 * e->want its raw conversion. */
static void make_image(struct env *e, const char *fmt, char *path, size_t n)
{
  char cmd[4 * PATH_MAX];
  snprintf(path, n, "%s/img.%s", e->dir, fmt);
  snprintf(cmd, sizeof cmd,
           "qemu-img create -q -f %s %s %llu && "
           "qemu-io -f %s -c 'write -P 0x11 0 1M' -c 'write -P 0x22 5M 3M' "
           "-c 'write -z 20M 4M' -c 'write -P 0x33 40M 65536' "
           "-c 'write -P 0x44 63M 1M' %s >/dev/null",
           fmt, path, (unsigned long long)SIZE, fmt, path);
  run(cmd);
  snprintf(e->raw, sizeof e->raw, "%s/img.raw", e->dir);
  snprintf(cmd, sizeof cmd, "qemu-img convert -q -f %s -O raw %s %s", fmt,
           path, e->raw);
  run(cmd);
  free(e->want);
  e->want = malloc(SIZE);
  FILE *f = fopen(e->raw, "r");
  assert_non_null(f);
  assert_int_equal(fread(e->want, 1, SIZE, f), SIZE);
  fclose(f);
}

static struct stream *open_uri(const char *uri, int *err)
{
  json_t *spec = json_pack("{s:s, s:s}", "type", "nbd", "uri", uri);
  struct stream *s = NULL;
  *err = stream_open(spec, NULL, &s);
  json_decref(spec);
  return s;
}

struct reader {
  struct stream *s;
  const char *want;
  int id;
  int bad;
};

static void *reader_main(void *arg)
{
  struct reader *r = arg;
  char *buf = malloc(3 * MiB);
  unsigned seed = (unsigned)r->id * 7919u;
  for (int i = 0; i < 60 && !r->bad; i++) {
    uint64_t off = (uint64_t)rand_r(&seed) % SIZE;
    size_t len = 1 + (size_t)rand_r(&seed) % (3 * MiB);
    ssize_t n = stream_read(r->s, off, len, buf);
    size_t want = off + len > SIZE ? (size_t)(SIZE - off) : len;
    if (n != (ssize_t)want || memcmp(buf, r->want + off, want) != 0)
      r->bad = 1;
  }
  free(buf);
  return NULL;
}

/* Everything one stream on URI must do.  ZEROES: the format keeps the
 * range written with zeroes as zeroes (QCOW2; VMDK writes them). */
static void check_stream(struct env *e, const char *uri, bool zeroes)
{
  int err;
  struct stream *s = open_uri(uri, &err);
  if (!s)
    fail_msg("open %s: %s", uri, lbd_last_error());
  assert_int_equal(s->size, SIZE);
  /* the whole disk in one read (more than one NBD request) */
  char *buf = malloc(SIZE);
  assert_int_equal(stream_read(s, 0, SIZE, buf), (ssize_t)SIZE);
  assert_memory_equal(buf, e->want, SIZE);
  /* past the end: short, then nothing */
  assert_int_equal(stream_read(s, SIZE - 10, 100, buf), 10);
  assert_int_equal(stream_read(s, SIZE, 100, buf), 0);
  free(buf);
  /* eight threads at once */
  pthread_t t[8];
  struct reader r[8];
  for (int i = 0; i < 8; i++) {
    r[i] = (struct reader){s, e->want, i + 1, 0};
    pthread_create(&t[i], NULL, reader_main, &r[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(r[i].bad, 0);
  }
  /* holes and the zeroed range are no data; what was written is */
  struct extent_set x = {0};
  assert_int_equal(stream_extents(s, 0, SIZE, &x), 0);
  assert_true(extent_set_intersects(&x, 0, MiB));
  assert_true(extent_set_intersects(&x, 5 * MiB, 3 * MiB));
  assert_true(extent_set_intersects(&x, 40 * MiB, 65536));
  assert_true(extent_set_intersects(&x, 63 * MiB, MiB));
  assert_false(extent_set_intersects(&x, 2 * MiB, 2 * MiB));
  if (zeroes)
    assert_false(extent_set_intersects(&x, 20 * MiB, 4 * MiB));
  assert_false(extent_set_intersects(&x, 41 * MiB, 20 * MiB));
  if (extent_set_bytes(&x) > (zeroes ? 8 : 12) * MiB)
    fail_msg("%s: %llu bytes of extents for 5 MiB of data", uri,
             (unsigned long long)extent_set_bytes(&x));
  extent_set_free(&x);
  /* a part of the range only, clipped to it */
  assert_int_equal(stream_extents(s, 6 * MiB, 100 * MiB, &x), 0);
  assert_int_equal(x.n, zeroes ? 3 : 4);
  assert_int_equal(x.ext[0].off, 6 * MiB);
  assert_int_equal(x.ext[0].len, 2 * MiB);
  extent_set_free(&x);
  stream_close(s);

  /* raw over nbd: format_extents follows the stream's */
  json_t *spec = json_pack("{s:s, s:{s:s, s:s}}", "type", "raw", "stream",
                           "type", "nbd", "uri", uri);
  struct format *f;
  assert_int_equal(format_open(spec, NULL, &f), 0);
  json_decref(spec);
  assert_int_equal(format_extents(f, FORMAT_HEAD, 0, SIZE, &x), 0);
  assert_false(extent_set_intersects(&x, 30 * MiB, 10 * MiB));
  assert_true(extent_set_bytes(&x) <= (zeroes ? 8 : 12) * MiB);
  extent_set_free(&x);
  char b[4096];
  assert_int_equal(format_read(f, FORMAT_HEAD, 5 * MiB, sizeof b, b), 0);
  assert_memory_equal(b, e->want + 5 * MiB, sizeof b);
  format_close(f);
}

static void serve_and_check(struct env *e, const char *fmt)
{
  char img[PATH_MAX + 16];
  make_image(e, fmt, img, sizeof img);
  struct test_server unix_srv, tcp_srv;
  assert_int_equal(test_qemu_nbd_start(&unix_srv, img, fmt, "disk", false),
                   0);
  assert_int_equal(test_qemu_nbd_start(&tcp_srv, img, fmt, "disk", true), 0);
  bool zeroes = strcmp(fmt, "qcow2") == 0;
  check_stream(e, unix_srv.uri, zeroes);
  check_stream(e, tcp_srv.uri, zeroes);
  /* an export the server does not have */
  char uri[PATH_MAX + 64];
  snprintf(uri, sizeof uri, "nbd://127.0.0.1:%d/nothere", tcp_srv.port);
  int err;
  assert_null(open_uri(uri, &err));
  assert_true(err < 0);
  const char *msg = lbd_last_error();
  if (!strstr(msg, "nothere") || !strstr(msg, "export"))
    fail_msg("missing export: unclear message: %s", msg);
  test_server_stop(&unix_srv);
  test_server_stop(&tcp_srv);
  /* the server is gone: a clear error, no hang */
  assert_null(open_uri(tcp_srv.uri, &err));
  assert_int_equal(err, -ECONNREFUSED);
  assert_non_null(strstr(lbd_last_error(), "nbd://127.0.0.1"));
}

static void test_qcow2(void **state) { serve_and_check(*state, "qcow2"); }
static void test_vmdk(void **state) { serve_and_check(*state, "vmdk"); }

static void test_bad_specs(void **state)
{
  (void)state;
  int err;
  assert_null(open_uri("http://127.0.0.1/x", &err));
  assert_int_equal(err, -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "\"uri\""));
  assert_null(open_uri("nbd+unix:///x?socket=/nonexistent/sock", &err));
  assert_true(err < 0);
  assert_non_null(strstr(lbd_last_error(), "/nonexistent/sock"));
  json_t *spec = json_pack("{s:s}", "type", "nbd");
  struct stream *s;
  assert_int_equal(stream_open(spec, NULL, &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "\"uri\""));
  json_decref(spec);
  spec = json_pack("{s:s, s:i}", "type", "nbd", "uri", 7);
  assert_int_equal(stream_open(spec, NULL, &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "\"uri\""));
  json_decref(spec);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_qcow2, setup, teardown),
      cmocka_unit_test_setup_teardown(test_vmdk, setup, teardown),
      cmocka_unit_test(test_bad_specs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
