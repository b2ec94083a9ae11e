/* The "s3" stream against a real s3rver on 127.0.0.1: the bucket and
 * objects are made with signed requests, then read through the stream
 * (Signature V4 and V2), with wrong keys refused (and never shown),
 * config:// keys from a cluster's config-key store, relative names.
 *
 * s3rver 3.7 checks V2 signatures but not V4 ones (it checks only that the
 * access key exists), so a wrong secret is tested with V2, and the V4
 * signature is checked here independently: a one-shot server records one
 * request and the test recomputes its signature with OpenSSL. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "servers.h"
#include "source/stream.h"

#define DATA_SIZE (2 * 1024 * 1024 + 333)
#define KEY "S3RVER"

static struct test_server s3;
static unsigned char *data;

/* PUT PATH (BODY may be NULL) to s3rver, signed V4. */
static long s3_put(const char *path, const void *body, size_t len)
{
  CURL *h = curl_easy_init();
  char url[512];
  snprintf(url, sizeof url, "%s%s", s3.url, path);
  struct curl_slist *hdrs = NULL;
  hdrs = curl_slist_append(hdrs, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
  curl_easy_setopt(h, CURLOPT_USERNAME, KEY);
  curl_easy_setopt(h, CURLOPT_PASSWORD, KEY);
  FILE *devnull = fopen("/dev/null", "w");
  curl_easy_setopt(h, CURLOPT_WRITEDATA, devnull);
  long status = 0;
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  fclose(devnull);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(h);
  return status;
}

static int setup(void **state)
{
  (void)state;
  curl_global_init(CURL_GLOBAL_ALL);
  if (test_s3rver_start(&s3) < 0) {
    fprintf(stderr, "cannot start s3rver: the test needs it\n");
    return -1;
  }
  data = malloc(DATA_SIZE);
  srandom(3);
  for (size_t i = 0; i < DATA_SIZE; i++)
    data[i] = (unsigned char)random();
  if (s3_put("/lbd", NULL, 0) != 200 ||
      s3_put("/lbd/disk.raw", data, DATA_SIZE) != 200 ||
      s3_put("/lbd/dir/sib.raw", "sibling", 7) != 200 ||
      s3_put("/lbd/empty.raw", NULL, 0) != 200) {
    fprintf(stderr, "cannot fill s3rver\n");
    test_server_stop(&s3);
    return -1;
  }
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  test_server_stop(&s3);
  free(data);
  curl_global_cleanup();
  return 0;
}

static int open_s3(const char *url, const char *ak, const char *sk, int sigv,
                   lbd_cluster_t *cluster, struct stream **s)
{
  json_t *spec = json_pack("{s:s, s:s, s:s, s:s}", "type", "s3", "url", url,
                           "access_key", ak, "secret_key", sk);
  if (sigv)
    json_object_set_new(spec, "signature_version", json_integer(sigv));
  int r = stream_open(spec, cluster, s);
  json_decref(spec);
  return r;
}

static void url_of(char *url, size_t n, const char *path)
{
  snprintf(url, n, "%s%s", s3.url, path);
}

static void check_reads(struct stream *s)
{
  assert_int_equal(s->size, DATA_SIZE);
  unsigned char *buf = malloc(1 << 20);
  for (int i = 0; i < 100; i++) {
    uint64_t off = (uint64_t)random() % DATA_SIZE;
    size_t len = 1 + (size_t)random() % (i % 10 ? 5000 : (1 << 20));
    size_t want = len < DATA_SIZE - off ? len : DATA_SIZE - off;
    assert_int_equal(stream_read(s, off, len, buf), (ssize_t)want);
    assert_memory_equal(buf, data + off, want);
  }
  assert_int_equal(stream_read(s, DATA_SIZE - 2, 10, buf), 2);
  assert_int_equal(stream_read(s, DATA_SIZE, 10, buf), 0);
  free(buf);
}

static void test_read_v4(void **state)
{
  (void)state;
  char url[256];
  url_of(url, sizeof url, "/lbd/disk.raw");
  struct stream *s = NULL;
  if (open_s3(url, KEY, KEY, 0, NULL, &s) < 0)
    fail_msg("open: %s", lbd_last_error());
  assert_string_equal(s->name, url);
  check_reads(s);
  stream_close(s);
}

static void test_read_v2(void **state)
{
  (void)state;
  char url[256];
  url_of(url, sizeof url, "/lbd/disk.raw");
  struct stream *s = NULL;
  if (open_s3(url, KEY, KEY, 2, NULL, &s) < 0)
    fail_msg("open: %s", lbd_last_error());
  check_reads(s);
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
  unsigned char *buf = malloc(64 * 1024);
  for (int i = 0; i < 40; i++) {
    uint64_t off = (uint64_t)rand_r(&rd->seed) % DATA_SIZE;
    size_t len = 1 + (size_t)rand_r(&rd->seed) % (64 * 1024);
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
  char url[256];
  url_of(url, sizeof url, "/lbd/disk.raw");
  struct stream *s = NULL;
  assert_int_equal(open_s3(url, KEY, KEY, 0, NULL, &s), 0);
  enum { N = 8 };
  pthread_t t[N];
  struct reader rd[N];
  for (int i = 0; i < N; i++) {
    rd[i] = (struct reader){s, (unsigned)i + 100, 0};
    assert_int_equal(pthread_create(&t[i], NULL, reader_main, &rd[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(rd[i].bad, 0);
  }
  stream_close(s);
}

static void test_wrong_keys(void **state)
{
  (void)state;
  char url[256];
  url_of(url, sizeof url, "/lbd/disk.raw");
  struct stream *s = NULL;
  /* V2: s3rver checks the signature */
  assert_int_equal(open_s3(url, KEY, "WrongSecretXYZ", 2, NULL, &s),
                   -EACCES);
  assert_null(s);
  assert_non_null(strstr(lbd_last_error(), "SignatureDoesNotMatch"));
  assert_null(strstr(lbd_last_error(), "WrongSecretXYZ"));
  /* V4: s3rver checks the access key */
  assert_int_equal(open_s3(url, "NOSUCHKEY", "WrongSecretXYZ", 0, NULL, &s),
                   -EACCES);
  assert_non_null(strstr(lbd_last_error(), "InvalidAccessKeyId"));
  assert_null(strstr(lbd_last_error(), "WrongSecretXYZ"));
  /* a missing object, a missing bucket */
  url_of(url, sizeof url, "/lbd/nothing.raw");
  assert_int_equal(open_s3(url, KEY, KEY, 0, NULL, &s), -ENOENT);
  assert_non_null(strstr(lbd_last_error(), "NoSuchKey"));
  url_of(url, sizeof url, "/nobucket/disk.raw");
  assert_int_equal(open_s3(url, KEY, KEY, 0, NULL, &s), -ENOENT);
  /* spec errors name the field, never a value */
  json_t *spec = json_pack("{s:s, s:s, s:s}", "type", "s3", "url", url,
                           "access_key", "AK");
  assert_int_equal(stream_open(spec, NULL, &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "secret_key"));
  json_object_set_new(spec, "secret_key", json_integer(5));
  assert_int_equal(stream_open(spec, NULL, &s), -EINVAL);
  assert_non_null(strstr(lbd_last_error(), "secret_key"));
  json_object_set_new(spec, "secret_key", json_string("SK"));
  json_object_set_new(spec, "signature_version", json_integer(3));
  assert_int_equal(stream_open(spec, NULL, &s), -EINVAL);
  json_decref(spec);
}

static void test_config_keys(void **state)
{
  (void)state;
  char dir[PATH_MAX];
  assert_int_equal(test_mkdtemp(dir, "s3-cluster"), 0);
  lbd_cluster_t *cluster = NULL;
  assert_int_equal(lbd_cluster_open(dir, true, &cluster), 0);
  assert_int_equal(lbd_config_key_set(cluster, "rbd/s3/access_key", KEY,
                                      strlen(KEY)),
                   0);
  /* as `lbd config-key set -i file` stores a file: with its newline */
  assert_int_equal(
      lbd_config_key_set(cluster, "rbd/s3/secret_key", KEY "\n", 7), 0);
  assert_int_equal(lbd_config_key_set(cluster, "rbd/s3/bad_secret",
                                      "WrongSecretXYZ", 14),
                   0);
  char url[256];
  url_of(url, sizeof url, "/lbd/disk.raw");
  struct stream *s = NULL;
  int r = open_s3(url, "config://rbd/s3/access_key",
                  "config://rbd/s3/secret_key", 2, cluster, &s);
  if (r < 0)
    fail_msg("open: %s", lbd_last_error());
  check_reads(s);
  stream_close(s);
  assert_int_equal(open_s3(url, "config://rbd/s3/access_key",
                           "config://rbd/s3/secret_key", 0, cluster, &s),
                   0);
  stream_close(s);
  assert_int_equal(open_s3(url, "config://rbd/s3/access_key",
                           "config://rbd/s3/bad_secret", 2, cluster, &s),
                   -EACCES);
  assert_null(strstr(lbd_last_error(), "WrongSecretXYZ"));
  assert_int_equal(open_s3(url, "config://rbd/s3/access_key",
                           "config://rbd/s3/unset", 0, cluster, &s),
                   -ENOENT);
  assert_non_null(strstr(lbd_last_error(), "rbd/s3/unset"));
  assert_non_null(strstr(lbd_last_error(), "secret_key"));
  assert_null(strstr(lbd_last_error(), KEY));
  assert_int_equal(open_s3(url, "config://rbd/s3/access_key",
                           "config://rbd/s3/secret_key", 0, NULL, &s),
                   -EINVAL);
  lbd_cluster_close(cluster);
  test_rmtree(dir);
}

static void test_relative(void **state)
{
  (void)state;
  char url[256];
  url_of(url, sizeof url, "/lbd/dir/sib.raw");
  struct stream *base = NULL, *r = NULL;
  assert_int_equal(open_s3(url, KEY, KEY, 0, NULL, &base), 0);
  assert_int_equal(base->size, 7);
  assert_int_equal(stream_open_relative(base, "../disk.raw", &r), 0);
  check_reads(r);
  stream_close(r);
  if (stream_open_relative(base, "/lbd/empty.raw", &r) < 0)
    fail_msg("open empty: %s", lbd_last_error());
  assert_int_equal(r->size, 0);
  stream_close(r);
  stream_close(base);
}

/* ---- V4 signature, checked independently ----------------------------- */

struct capture {
  int lfd;
  char req[8192];
};

static void *capture_main(void *arg)
{
  struct capture *c = arg;
  int fd = accept(c->lfd, NULL, NULL);
  if (fd < 0)
    return NULL;
  size_t n = 0;
  while (n < sizeof c->req - 1 && !strstr(c->req, "\r\n\r\n")) {
    ssize_t k = read(fd, c->req + n, sizeof c->req - 1 - n);
    if (k <= 0)
      break;
    n += (size_t)k;
    c->req[n] = '\0';
  }
  const char *resp = "HTTP/1.1 206 Partial Content\r\n"
                     "Content-Range: bytes 0-0/1\r\nContent-Length: 1\r\n"
                     "Connection: close\r\n\r\nz";
  ssize_t w = write(fd, resp, strlen(resp));
  (void)w;
  close(fd);
  return NULL;
}

/* Header NAME's value in the captured request (copied into OUT). */
static bool header(const char *req, const char *name, char *out, size_t n)
{
  const char *p = strstr(req, "\r\n");
  size_t nl = strlen(name);
  while (p && p[2] != '\r') {
    p += 2;
    const char *e = strstr(p, "\r\n");
    if (!e)
      return false;
    if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 &&
        p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      size_t len = (size_t)(e - v);
      if (len >= n)
        return false;
      memcpy(out, v, len);
      out[len] = '\0';
      return true;
    }
    p = e;
  }
  return false;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", b[i]);
}

static void hmac(const void *key, size_t klen, const char *msg,
                 unsigned char out[32])
{
  unsigned int len = 32;
  HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg),
       out, &len);
}

static void test_v4_signature(void **state)
{
  (void)state;
  struct capture c = {0};
  c.lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(c.lfd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t alen = sizeof a;
  getsockname(c.lfd, (struct sockaddr *)&a, &alen);
  assert_int_equal(listen(c.lfd, 1), 0);
  pthread_t t;
  pthread_create(&t, NULL, capture_main, &c);
  char url[128], host[64];
  snprintf(host, sizeof host, "127.0.0.1:%d", ntohs(a.sin_port));
  snprintf(url, sizeof url, "http://%s/bkt/obj.raw", host);
  struct stream *s = NULL;
  int r = open_s3(url, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", 0, NULL, &s);
  pthread_join(t, NULL);
  close(c.lfd);
  if (r < 0)
    fail_msg("open: %s", lbd_last_error());
  assert_int_equal(s->size, 1);
  stream_close(s);

  /* what radosgw insists on: x-amz-content-sha256, signed */
  char auth[1024], date[64], sha[128], range[64];
  assert_true(header(c.req, "Authorization", auth, sizeof auth));
  assert_true(header(c.req, "x-amz-date", date, sizeof date));
  assert_true(header(c.req, "x-amz-content-sha256", sha, sizeof sha));
  assert_true(header(c.req, "Range", range, sizeof range));
  assert_string_equal(range, "bytes=0-1");
  char want_prefix[256];
  snprintf(want_prefix, sizeof want_prefix,
           "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/%.8s/us-east-1/s3/"
           "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;"
           "x-amz-date, Signature=",
           date);
  assert_true(strncmp(auth, want_prefix, strlen(want_prefix)) == 0);
  const char *sig = auth + strlen(want_prefix);
  assert_true(strncmp(c.req, "GET /bkt/obj.raw HTTP/1.1\r\n", 27) == 0);

  char creq[2048];
  snprintf(creq, sizeof creq,
           "GET\n/bkt/obj.raw\n\nhost:%s\nrange:%s\nx-amz-content-sha256:%s\n"
           "x-amz-date:%s\n\nhost;range;x-amz-content-sha256;x-amz-date\n%s",
           host, range, sha, date, sha);
  unsigned char d[32];
  char dh[65], sts[512];
  SHA256((const unsigned char *)creq, strlen(creq), d);
  hex(d, 32, dh);
  snprintf(sts, sizeof sts,
           "AWS4-HMAC-SHA256\n%s\n%.8s/us-east-1/s3/aws4_request\n%s", date,
           date, dh);
  unsigned char k1[32], k2[32], k3[32], k4[32], k5[32];
  char day[9];
  snprintf(day, sizeof day, "%.8s", date);
  hmac("AWS4wJalrXUtnFEMI/K7MDENG", 25, day, k1);
  hmac(k1, 32, "us-east-1", k2);
  hmac(k2, 32, "s3", k3);
  hmac(k3, 32, "aws4_request", k4);
  hmac(k4, 32, sts, k5);
  char want[65];
  hex(k5, 32, want);
  assert_string_equal(sig, want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_read_v4),
    cmocka_unit_test(test_read_v2),
    cmocka_unit_test(test_threads),
    cmocka_unit_test(test_wrong_keys),
    cmocka_unit_test(test_config_keys),
    cmocka_unit_test(test_relative),
    cmocka_unit_test(test_v4_signature),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
