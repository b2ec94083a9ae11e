/* The "http" stream against a real nginx on 127.0.0.1: sizes, random
 * ranges checked against the files' bytes, many threads at once, 404, 403,
 * a refused connection, a server that ignores Range, relative URLs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "source/stream.h"

#define DATA_SIZE (5 * 1024 * 1024 + 777)

static struct test_server nginx;
static char root[PATH_MAX];
static unsigned char *data;

static void put_file(const char *rel, const void *buf, size_t len)
{
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, len), (ssize_t)len);
  close(fd);
}

static void mk(const char *rel)
{
  char p[PATH_MAX + 64];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state)
{
  (void)state;
  if (test_mkdtemp(root, "http-root") < 0)
    return -1;
  chmod(root, 0755);
  data = malloc(DATA_SIZE);
  srandom(7);
  for (size_t i = 0; i < DATA_SIZE; i++)
    data[i] = (unsigned char)random();
  put_file("data.bin", data, DATA_SIZE);
  put_file("empty.bin", "", 0);
  put_file("one.bin", "x", 1);
  mk("sub");
  put_file("sub/other.bin", "other", 5);
  mk("secret");
  put_file("secret/data.bin", data, 1000);
  mk("norange");
  put_file("norange/data.bin", data, DATA_SIZE);
  if (test_nginx_start(&nginx, root,
                       "location /secret/ { deny all; }\n"
                       "    location /norange/ { max_ranges 0; }") < 0) {
    fprintf(stderr, "cannot start nginx: the test needs it\n");
    test_rmtree(root);
    return -1;
  }
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  test_server_stop(&nginx);
  test_rmtree(root);
  free(data);
  return 0;
}

static int open_url(const char *url, struct stream **s)
{
  json_t *spec = json_pack("{s:s, s:s}", "type", "http", "url", url);
  int r = stream_open(spec, NULL, s);
  json_decref(spec);
  return r;
}

static struct stream *must_open(const char *rel)
{
  char url[256];
  snprintf(url, sizeof url, "%s/%s", nginx.url, rel);
  struct stream *s = NULL;
  if (open_url(url, &s) < 0)
    fail_msg("open %s: %s", url, lbd_last_error());
  return s;
}

static void test_sizes_and_ranges(void **state)
{
  (void)state;
  struct stream *s = must_open("data.bin");
  assert_int_equal(s->size, DATA_SIZE);
  unsigned char *buf = malloc(2 << 20);
  for (int i = 0; i < 300; i++) {
    uint64_t off = (uint64_t)random() % DATA_SIZE;
    size_t len = 1 + (size_t)random() % (i % 10 == 0 ? (2 << 20) : 9000);
    size_t want = len < DATA_SIZE - off ? len : DATA_SIZE - off;
    assert_int_equal(stream_read(s, off, len, buf), (ssize_t)want);
    assert_memory_equal(buf, data + off, want);
  }
  assert_int_equal(stream_read(s, 0, 2 << 20, buf), 2 << 20);
  assert_memory_equal(buf, data, 2 << 20);
  assert_int_equal(stream_read(s, DATA_SIZE - 3, 10, buf), 3);
  assert_memory_equal(buf, data + DATA_SIZE - 3, 3);
  assert_int_equal(stream_read(s, DATA_SIZE, 10, buf), 0);
  assert_int_equal(stream_read(s, 5, 0, buf), 0);
  stream_close(s);

  s = must_open("empty.bin");
  assert_int_equal(s->size, 0);
  assert_int_equal(stream_read(s, 0, 10, buf), 0);
  stream_close(s);
  s = must_open("one.bin");
  assert_int_equal(s->size, 1);
  assert_int_equal(stream_read(s, 0, 10, buf), 1);
  assert_int_equal(buf[0], 'x');
  stream_close(s);
  free(buf);
}

struct reader {
  struct stream *s;
  unsigned seed;
  int bad;
};

static void *reader_main(void *arg)
{
  struct reader *rd = arg;
  unsigned char *buf = malloc(128 * 1024);
  for (int i = 0; i < 100; i++) {
    uint64_t off = (uint64_t)rand_r(&rd->seed) % DATA_SIZE;
    size_t len = 1 + (size_t)rand_r(&rd->seed) % (128 * 1024);
    size_t want = len < DATA_SIZE - off ? len : DATA_SIZE - off;
    if (stream_read(rd->s, off, len, buf) != (ssize_t)want ||
        memcmp(buf, data + off, want) != 0)
      rd->bad++;
  }
  free(buf);
  return NULL;
}

static void test_threads(void **state)
{
  (void)state;
  struct stream *s = must_open("data.bin");
  enum { N = 16 };
  pthread_t t[N];
  struct reader rd[N];
  for (int i = 0; i < N; i++) {
    rd[i] = (struct reader){s, (unsigned)i * 31 + 1, 0};
    assert_int_equal(pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(rd[i].bad, 0);
  }
  stream_close(s);
}

static void test_not_found_and_forbidden(void **state)
{
  (void)state;
  char url[256];
  struct stream *s = NULL;
  snprintf(url, sizeof url, "%s/no/such.bin", nginx.url);
  assert_int_equal(open_url(url, &s), -ENOENT);
  assert_null(s);
  assert_non_null(strstr(lbd_last_error(), "404"));
  assert_non_null(strstr(lbd_last_error(), "/no/such.bin"));
  snprintf(url, sizeof url, "%s/secret/data.bin", nginx.url);
  assert_int_equal(open_url(url, &s), -EACCES);
  assert_non_null(strstr(lbd_last_error(), "403"));
}

static void test_connection_refused(void **state)
{
  (void)state;
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/data.bin",
           test_free_port());
  struct stream *s = NULL;
  time_t t0 = time(NULL);
  assert_int_equal(open_url(url, &s), -ECONNREFUSED);
  assert_true(time(NULL) - t0 < 3);
  assert_non_null(strstr(lbd_last_error(), "127.0.0.1"));
  assert_null(s);
}

static void test_range_ignored(void **state)
{
  (void)state;
  char url[256];
  snprintf(url, sizeof url, "%s/norange/data.bin", nginx.url);
  struct stream *s = NULL;
  time_t t0 = time(NULL);
  assert_int_equal(open_url(url, &s), -ENOTSUP);
  assert_true(time(NULL) - t0 < 3);
  assert_non_null(strstr(lbd_last_error(), "Range"));
}

static void test_relative(void **state)
{
  (void)state;
  struct stream *base = must_open("sub/other.bin"), *r = NULL;
  assert_int_equal(base->size, 5);
  assert_int_equal(stream_open_relative(base, "../data.bin", &r), 0);
  assert_int_equal(r->size, DATA_SIZE);
  char want[256];
  snprintf(want, sizeof want, "%s/data.bin", nginx.url);
  assert_string_equal(r->name, want);
  unsigned char buf[100];
  assert_int_equal(stream_read(r, 1000, 100, buf), 100);
  assert_memory_equal(buf, data + 1000, 100);
  stream_close(r);
  assert_int_equal(stream_open_relative(base, "other.bin", &r), 0);
  assert_int_equal(r->size, 5);
  stream_close(r);
  assert_int_equal(stream_open_relative(base, "/one.bin", &r), 0);
  assert_int_equal(r->size, 1);
  stream_close(r);
  snprintf(want, sizeof want, "%s/empty.bin", nginx.url);
  assert_int_equal(stream_open_relative(base, want, &r), 0);
  assert_int_equal(r->size, 0);
  stream_close(r);
  assert_int_equal(stream_open_relative(base, "gone.bin", &r), -ENOENT);
  assert_int_equal(stream_open_relative(base, "ftp://h/x", &r), -EINVAL);
  /* an image names no backing file on another server (scheme, host or
   * port): it would make lbd fetch, or for S3 sign, what it says */
  assert_int_equal(stream_open_relative(base, "http://127.0.0.2:1/x", &r),
                   -EACCES);
  assert_non_null(strstr(lbd_last_error(), "another server"));
  const char *port = strrchr(nginx.url, ':');
  snprintf(want, sizeof want, "http://localhost%s/data.bin", port);
  assert_int_equal(stream_open_relative(base, want, &r), -EACCES);
  snprintf(want, sizeof want, "https://127.0.0.1%s/data.bin", port);
  assert_int_equal(stream_open_relative(base, want, &r), -EACCES);
  stream_close(base);
}

static void test_bad_urls_and_passwords(void **state)
{
  (void)state;
  struct stream *s = NULL;
  assert_int_equal(open_url("ftp://127.0.0.1/x", &s), -EINVAL);
  assert_int_equal(open_url("not a url", &s), -EINVAL);
  json_t *spec = json_pack("{s:s}", "type", "http");
  assert_int_equal(stream_open(spec, NULL, &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "url"));
  json_decref(spec);
  /* a password in the URL never shows in the name or in messages */
  char url[256];
  snprintf(url, sizeof url, "http://bob:pa55word@127.0.0.1:%d/data.bin",
           nginx.port);
  assert_int_equal(open_url(url, &s), 0);
  assert_null(strstr(s->name, "pa55word"));
  assert_non_null(strstr(s->name, "bob:***@"));
  stream_close(s);
  snprintf(url, sizeof url, "http://bob:pa55word@127.0.0.1:%d/nope.bin",
           nginx.port);
  assert_int_equal(open_url(url, &s), -ENOENT);
  assert_null(strstr(lbd_last_error(), "pa55word"));
}

static void test_server_gone(void **state)
{
  (void)state;
  /* a stream whose server goes away fails its reads with a clear error
   * (after its retries), no hang */
  struct test_server tmp;
  assert_int_equal(test_nginx_start(&tmp, root, NULL), 0);
  char url[256];
  snprintf(url, sizeof url, "%s/data.bin", tmp.url);
  struct stream *s = NULL;
  assert_int_equal(open_url(url, &s), 0);
  unsigned char buf[64];
  assert_int_equal(stream_read(s, 0, 64, buf), 64);
  test_server_stop(&tmp);
  time_t t0 = time(NULL);
  assert_int_equal(stream_read(s, 64, 64, buf), -ECONNREFUSED);
  assert_true(time(NULL) - t0 < 10);
  assert_non_null(strstr(lbd_last_error(), "tries"));
  stream_close(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sizes_and_ranges),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_not_found_and_forbidden),
    cmocka_unit_test(test_connection_refused),
    cmocka_unit_test(test_range_ignored),
    cmocka_unit_test(test_relative),
    cmocka_unit_test(test_bad_urls_and_passwords),
    cmocka_unit_test(test_server_gone),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
