/* The "file" stream: size, reads against the file's bytes, reads at and
 * past the end, many threads at once, relative names, and bad specs. */
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
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "source/stream.h"

#define DATA_SIZE (3 * 1024 * 1024 + 4567)

static char dir[PATH_MAX];
static char path[PATH_MAX + 32];
static unsigned char *data;

static void write_file(const char *p, const void *buf, size_t len)
{
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, buf, len), (ssize_t)len);
  close(fd);
}

static int setup(void **state)
{
  (void)state;
  if (test_mkdtemp(dir, "stream-file") < 0)
    return -1;
  data = malloc(DATA_SIZE);
  srandom(42);
  for (size_t i = 0; i < DATA_SIZE; i++)
    data[i] = (unsigned char)random();
  snprintf(path, sizeof path, "%s/base.raw", dir);
  write_file(path, data, DATA_SIZE);
  char p2[PATH_MAX + 32];
  snprintf(p2, sizeof p2, "%s/sibling.raw", dir);
  write_file(p2, "sibling", 7);
  snprintf(p2, sizeof p2, "%s/empty.raw", dir);
  write_file(p2, "", 0);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  test_rmtree(dir);
  free(data);
  return 0;
}

static struct stream *open_path(const char *p)
{
  json_t *spec = json_pack("{s:s, s:s}", "type", "file", "file_path", p);
  struct stream *s = NULL;
  int r = stream_open(spec, NULL, &s);
  json_decref(spec);
  if (r < 0)
    fail_msg("open %s: %s", p, lbd_last_error());
  return s;
}

static int open_json(const char *text, struct stream **s)
{
  json_t *spec = json_loads(text, 0, NULL);
  assert_non_null(spec);
  int r = stream_open(spec, NULL, s);
  json_decref(spec);
  return r;
}

static void test_size_and_reads(void **state)
{
  (void)state;
  struct stream *s = open_path(path);
  assert_int_equal(s->size, DATA_SIZE);
  assert_string_equal(s->name, path);
  unsigned char *buf = malloc(1 << 20);
  for (int i = 0; i < 500; i++) {
    uint64_t off = (uint64_t)random() % DATA_SIZE;
    size_t len = (size_t)random() % (1 << 20);
    size_t want = len < DATA_SIZE - off ? len : DATA_SIZE - off;
    assert_int_equal(stream_read(s, off, len, buf), (ssize_t)want);
    assert_memory_equal(buf, data + off, want);
  }
  /* short only at the end, nothing past it */
  assert_int_equal(stream_read(s, DATA_SIZE - 10, 100, buf), 10);
  assert_memory_equal(buf, data + DATA_SIZE - 10, 10);
  assert_int_equal(stream_read(s, DATA_SIZE, 100, buf), 0);
  assert_int_equal(stream_read(s, UINT64_MAX - 5, 100, buf), 0);
  free(buf);
  stream_close(s);
}

struct reader {
  struct stream *s;
  unsigned seed;
  int bad;
};

static void *reader_main(void *arg)
{
  struct reader *rd = arg;
  unsigned char *buf = malloc(256 * 1024);
  for (int i = 0; i < 200; i++) {
    uint64_t off = (uint64_t)rand_r(&rd->seed) % DATA_SIZE;
    size_t len = (size_t)rand_r(&rd->seed) % (256 * 1024);
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
  struct stream *s = open_path(path);
  pthread_t t[8];
  struct reader rd[8];
  for (int i = 0; i < 8; i++) {
    rd[i] = (struct reader){s, (unsigned)i + 1, 0};
    assert_int_equal(pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(rd[i].bad, 0);
  }
  stream_close(s);
}

static void test_relative(void **state)
{
  (void)state;
  struct stream *s = open_path(path), *r = NULL;
  assert_int_equal(stream_open_relative(s, "sibling.raw", &r), 0);
  assert_int_equal(r->size, 7);
  char buf[8];
  assert_int_equal(stream_read(r, 0, 8, buf), 7);
  assert_memory_equal(buf, "sibling", 7);
  char want[PATH_MAX + 32];
  snprintf(want, sizeof want, "%s/sibling.raw", dir);
  assert_string_equal(r->name, want);
  stream_close(r);
  /* an absolute name stays as it is; a relative of a relative works */
  assert_int_equal(stream_open_relative(s, path, &r), 0);
  struct stream *r2 = NULL;
  assert_int_equal(stream_open_relative(r, "empty.raw", &r2), 0);
  assert_int_equal(r2->size, 0);
  assert_int_equal(stream_read(r2, 0, 8, buf), 0);
  stream_close(r2);
  stream_close(r);
  assert_int_equal(stream_open_relative(s, "missing.raw", &r), -ENOENT);
  assert_null(r);
  assert_non_null(strstr(lbd_last_error(), "missing.raw"));
  assert_int_equal(stream_open_relative(s, "", &r), -EINVAL);
  /* an image from outside names no file outside its own directory: not
   * by "..", nor an absolute path, nor a symbolic link leading out; a
   * subdirectory is fine */
  char sub[PATH_MAX + 32], cmd[3 * PATH_MAX + 128];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s && echo below > %s/below.raw && "
           "echo secret > %s/../lbd-outside-%d.raw && "
           "ln -sf ../lbd-outside-%d.raw %s/link.raw", sub, sub, dir,
           (int)getpid(), (int)getpid(), dir);
  assert_int_equal(system(cmd), 0);
  assert_int_equal(stream_open_relative(s, "sub/below.raw", &r), 0);
  stream_close(r);
  char out[PATH_MAX + 64];
  snprintf(out, sizeof out, "../lbd-outside-%d.raw", (int)getpid());
  assert_int_equal(stream_open_relative(s, out, &r), -EACCES);
  assert_null(r);
  assert_non_null(strstr(lbd_last_error(), "outside"));
  snprintf(out, sizeof out, "%s/../lbd-outside-%d.raw", dir, (int)getpid());
  assert_int_equal(stream_open_relative(s, out, &r), -EACCES);
  assert_int_equal(stream_open_relative(s, "/etc/passwd", &r), -EACCES);
  assert_int_equal(stream_open_relative(s, "link.raw", &r), -EACCES);
  snprintf(out, sizeof out, "%s/../lbd-outside-%d.raw", dir, (int)getpid());
  unlink(out);
  stream_close(s);
}

static void test_errors(void **state)
{
  (void)state;
  struct stream *s = NULL;
  char missing[PATH_MAX + 32];
  snprintf(missing, sizeof missing, "%s/nothing-here.raw", dir);
  json_t *spec = json_pack("{s:s, s:s}", "type", "file", "file_path",
                           missing);
  assert_int_equal(stream_open(spec, NULL, &s), -ENOENT);
  json_decref(spec);
  assert_null(s);
  assert_non_null(strstr(lbd_last_error(), "nothing-here.raw"));

  spec = json_pack("{s:s, s:s}", "type", "file", "file_path", dir);
  assert_int_equal(stream_open(spec, NULL, &s), -EISDIR);
  json_decref(spec);

  assert_int_equal(open_json("{\"type\": \"file\"}", &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "file_path"));
  assert_int_equal(open_json("{\"type\": \"file\", \"file_path\": 7}", &s),
                   -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "file_path"));
  assert_int_equal(open_json("{\"type\": \"file\", \"file_path\": \"\"}", &s),
                   -EINVAL);
  assert_int_equal(open_json("{\"type\": \"ftp\", \"url\": \"x\"}", &s),
                   -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "ftp"));
  assert_int_equal(open_json("{\"file_path\": \"/x\"}", &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "type"));
  assert_int_equal(open_json("{\"type\": 3}", &s), -EINVAL);
  assert_int_equal(open_json("[1, 2]", &s), -EINVAL);
  assert_null(s);
  stream_close(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_size_and_reads),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_relative),
    cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
