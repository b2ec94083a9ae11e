/* The config-key store: set, get, remove, list; owner-only modes; kept
 * across reopen; bad input. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define MiB (1ULL << 20)
#define SIZE (8 * MiB)
#define OBJ (1 * MiB)

static int setup(void **state) { return image_env_setup(state, "config-key"); }
static int teardown(void **state) { return image_env_teardown(state); }
#define expect_error expect_lbd_error


static void expect_keys(struct image_env *e, const char *want)
{
  char **k, got[4096] = "";
  size_t n;
  assert_ok(lbd_config_key_list(e->c, &k, &n));
  for (size_t i = 0; i < n; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
             i ? " " : "", k[i]);
  lbd_names_free(k, n);
  assert_string_equal(got, want);
}

static unsigned mode_of(const char *path)
{
  struct stat st;
  if (stat(path, &st) < 0)
    fail_msg("stat %s: %s", path, strerror(errno));
  return st.st_mode & 07777;
}

static void test_round_trip(void **state)
{
  struct image_env *e = *state;
  char store[4200], path[4300], *v;
  size_t len;
  snprintf(store, sizeof store, "%s/config-key", e->dir);
  /* Reads of a store that was never written make nothing. */
  expect_keys(e, "");
  expect_error(lbd_config_key_get(e->c, "a", &v, &len), ENOENT, "get from "
               "no store", "a");
  expect_error(lbd_config_key_remove(e->c, "a"), ENOENT, "remove from no "
               "store", "a");
  assert_int_equal(access(store, F_OK), -1);

  assert_ok(lbd_config_key_set(e->c, "s3/secret", "s3cr3t", 6));
  assert_ok(lbd_config_key_set(e->c, "a", "1", 1));
  assert_ok(lbd_config_key_set(e->c, "empty", "", 0));
  static const char bin[] = {'x', 0, 'y', '\n', (char)0xff};
  assert_ok(lbd_config_key_set(e->c, "binary", bin, sizeof bin));
  expect_keys(e, "a binary empty s3/secret");
  assert_ok(lbd_config_key_get(e->c, "s3/secret", &v, &len));
  assert_int_equal(len, 6);
  assert_string_equal(v, "s3cr3t");
  free(v);
  assert_ok(lbd_config_key_get(e->c, "binary", &v, &len));
  assert_int_equal(len, sizeof bin);
  assert_memory_equal(v, bin, sizeof bin);
  free(v);
  assert_ok(lbd_config_key_get(e->c, "empty", &v, NULL));
  assert_string_equal(v, "");
  free(v);
  assert_ok(lbd_config_key_set(e->c, "a", "2", 1));
  assert_ok(lbd_config_key_get(e->c, "a", &v, &len));
  assert_string_equal(v, "2");
  free(v);
  assert_ok(lbd_config_key_remove(e->c, "a"));
  expect_error(lbd_config_key_remove(e->c, "a"), ENOENT, "remove twice",
               "a");
  expect_error(lbd_config_key_get(e->c, "a", &v, &len), ENOENT, "get "
               "removed", "a");
  assert_null(v);

  /* Owner only. */
  assert_int_equal(mode_of(store), 0700);
  snprintf(path, sizeof path, "%s/data.mdb", store);
  assert_int_equal(mode_of(path), 0600);
  snprintf(path, sizeof path, "%s/lock.mdb", store);
  assert_int_equal(mode_of(path), 0600);
  /* Loosened modes are tightened at the next open. */
  assert_ok(chmod(store, 0755));
  snprintf(path, sizeof path, "%s/data.mdb", store);
  assert_ok(chmod(path, 0644));
  expect_keys(e, "binary empty s3/secret");
  assert_int_equal(mode_of(store), 0700);
  assert_int_equal(mode_of(path), 0600);

  /* Kept across a reopen of the cluster. */
  lbd_ioctx_destroy(e->io);
  lbd_cluster_close(e->c);
  e->io = NULL;
  assert_ok(lbd_cluster_open(e->dir, false, &e->c));
  assert_ok(lbd_config_key_get(e->c, "s3/secret", &v, &len));
  assert_string_equal(v, "s3cr3t");
  free(v);
  expect_keys(e, "binary empty s3/secret");
}

static void test_bad_input(void **state)
{
  struct image_env *e = *state;
  char long_key[300], *v;
  memset(long_key, 'k', 257);
  long_key[257] = '\0';
  expect_error(lbd_config_key_set(e->c, "", "v", 1), EINVAL, "empty key",
               "empty");
  expect_error(lbd_config_key_set(e->c, NULL, "v", 1), EINVAL, "NULL key",
               NULL);
  expect_error(lbd_config_key_set(e->c, long_key, "v", 1), ENAMETOOLONG,
               "long key", NULL);
  expect_error(lbd_config_key_set(e->c, "a\nb", "v", 1), EINVAL,
               "control character", "control");
  expect_error(lbd_config_key_get(e->c, "", &v, NULL), EINVAL, "get empty",
               NULL);
  char *big = calloc(1, 64 * 1024 + 1);
  assert_non_null(big);
  expect_error(lbd_config_key_set(e->c, "big", big, 64 * 1024 + 1), EFBIG,
               "big value", NULL);
  assert_ok(lbd_config_key_set(e->c, "max", big, 64 * 1024));
  free(big);
  size_t len;
  assert_ok(lbd_config_key_get(e->c, "max", &v, &len));
  assert_int_equal(len, 64 * 1024);
  free(v);
  /* No message carries a value. */
  assert_ok(lbd_config_key_set(e->c, "k", "hunter2", 7));
  expect_error(lbd_config_key_set(e->c, "k", NULL, 7), EINVAL, "NULL value",
               NULL);
  assert_null(strstr(lbd_last_error(), "hunter2"));
  expect_keys(e, "k max");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
