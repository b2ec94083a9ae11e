/* source_spec_redacted: every access_key / secret_key at any depth, and
 * URL passwords, become "***"; nothing else changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "source/spec.h"

static void check(const char *in, const char *want)
{
  char *out = source_spec_redacted(in);
  assert_non_null(out);
  assert_string_equal(out, want);
  free(out);
}

static void test_s3(void **state)
{
  (void)state;
  check("{\"type\": \"raw\", \"stream\": {\"type\": \"s3\", "
        "\"url\": \"http://s3.ceph.com/bucket/image.raw\", "
        "\"access_key\": \"NX5QOQKC6BH2IDN8HC7A\", "
        "\"secret_key\": \"LnEsqNNqZIpkzauboDcLXLcYaWwLQ3Kop0zAnKIn\"}}",
        "{\"stream\":{\"access_key\":\"***\",\"secret_key\":\"***\","
        "\"type\":\"s3\",\"url\":\"http://s3.ceph.com/bucket/image.raw\"},"
        "\"type\":\"raw\"}");
}

static void test_file_unchanged(void **state)
{
  (void)state;
  /* the reference doc's own example, printed as rbd status prints it */
  check("{\"type\":\"raw\",\"stream\":{\"type\":\"file\","
        "\"file_path\":\"/mnt/image.raw\"}}",
        "{\"stream\":{\"file_path\":\"/mnt/image.raw\",\"type\":\"file\"},"
        "\"type\":\"raw\"}");
}

static void test_any_depth_any_type(void **state)
{
  (void)state;
  char *out = source_spec_redacted(
      "{\"type\": \"raw\", \"stream\": {\"type\": \"s3\", \"url\": "
      "\"http://h/b/k\", \"access_key\": \"config://rbd/s3/ak\", "
      "\"secret_key\": \"TOPSECRET\"}, \"snapshots\": [{\"type\": \"raw\", "
      "\"name\": \"s1\", \"stream\": {\"type\": \"s3\", \"url\": "
      "\"http://h/b/s1\", \"access_key\": 12345, \"secret_key\": "
      "{\"nested\": \"TOPSECRET2\"}}}, [{\"deeper\": {\"secret_key\": "
      "[\"TOPSECRET3\"]}}]]}");
  assert_non_null(out);
  assert_null(strstr(out, "TOPSECRET"));
  assert_null(strstr(out, "12345"));
  assert_null(strstr(out, "config://"));
  assert_non_null(strstr(out, "\"name\":\"s1\""));
  assert_non_null(strstr(out, "\"url\":\"http://h/b/s1\""));
  /* four access_key/secret_key pairs minus one: 5 values */
  int n = 0;
  for (const char *p = out; (p = strstr(p, "\"***\"")); p++)
    n++;
  assert_int_equal(n, 5);
  free(out);
}

static void test_url_password(void **state)
{
  (void)state;
  char *out = source_spec_redacted(
      "{\"type\":\"qcow\",\"stream\":{\"type\":\"http\","
      "\"url\":\"https://alice:hunter2@example.com/disk.qcow2\"}}");
  assert_non_null(out);
  assert_null(strstr(out, "hunter2"));
  assert_non_null(strstr(out, "alice:***@example.com/disk.qcow2"));
  free(out);
}

static void test_not_json(void **state)
{
  (void)state;
  assert_null(source_spec_redacted("{\"secret_key\": \"abc\""));
  assert_null(source_spec_redacted(""));
  assert_null(source_spec_redacted(NULL));
  check("[]", "[]");
  check("\"plain\"", "\"plain\"");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_s3),
    cmocka_unit_test(test_file_unchanged),
    cmocka_unit_test(test_any_depth_any_type),
    cmocka_unit_test(test_url_password),
    cmocka_unit_test(test_not_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
