/* Import-only migration: the target reads an outside source from the
 * moment prepare returns — a snapshot of an lbd image, a raw file with
 * snapshot files behind nginx, a QCOW2 file with internal snapshots in an
 * S3 bucket (s3rver) — keeps it sparse, takes client writes, and after
 * execute and commit holds every byte; the source never changes; a bad
 * source leaves no target; status never shows a key. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../objstore/fixture.h"
#include "../source/servers.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define MiB (1024ULL * 1024)
#define SIZE (10 * MiB)

static int setup(void **state) { return image_env_setup(state, "import"); }
static int teardown(void **state) { return image_env_teardown(state); }

static void run(const char *cmd)
{
  if (system(cmd) != 0)
    fail_msg("command failed: %s", cmd);
}

/* A file of SIZE bytes: random data in its first 3 MiB and at 7 MiB,
 * holes elsewhere; SEED varies the data. */
static char *make_file(const char *path, int seed)
{
  char *b = calloc(1, SIZE);
  srandom((unsigned)seed);
  for (uint64_t i = 0; i < 3 * MiB; i++)
    b[i] = (char)random();
  for (uint64_t i = 7 * MiB; i < 7 * MiB + 100000; i++)
    b[i] = (char)random();
  image_env_write_file(path, b, SIZE);
  return b;
}

/* A client writes to the target before execute; then execute, commit. */
static void write_execute_commit(lbd_ioctx_t *io, const char *name,
                                 char *model)
{
  lbd_image_t *img;
  assert_ok(lbd_open(io, name, NULL, 0, &img));
  char w[5000];
  memset(w, 'w', sizeof w);
  assert_int_equal(lbd_write(img, 2 * MiB - 100, sizeof w, w),
                   (ssize_t)sizeof w);
  memcpy(model + 2 * MiB - 100, w, sizeof w);
  assert_ok(lbd_close(img));
  expect_image_bytes(io, name, NULL, model, SIZE);
  assert_ok(lbd_migration_execute(io, name, 0, NULL, NULL));
  assert_ok(lbd_migration_commit(io, name, NULL, NULL));
  expect_image_bytes(io, name, NULL, model, SIZE);
  struct lbd_migration_status st;
  expect_lbd_error(lbd_migration_status(io, name, &st), EINVAL,
                   "status after commit", "not being migrated");
}

static void test_native_snapshot(void **state)
{
  struct image_env *e = *state;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/a.raw", e->tmp);
  char *v0 = make_file(path, 1);
  struct lbd_image_options o = {.size = SIZE};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "base", &o));
  assert_ok(lbd_open(e->io, "base", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, SIZE, v0), (ssize_t)SIZE);
  assert_ok(lbd_snap_create(img, "s0"));
  char *v1 = malloc(SIZE);
  memcpy(v1, v0, SIZE);
  memset(v1 + MiB, 'x', MiB);
  assert_int_equal(lbd_write(img, MiB, MiB, v1 + MiB), (ssize_t)MiB);
  assert_ok(lbd_snap_create(img, "s1"));
  assert_ok(lbd_discard(img, 0, SIZE)); /* the head moves on */
  assert_ok(lbd_close(img));
  const char *spec = "{\"type\": \"native\", \"pool_name\": \"rbd\", "
                     "\"image_name\": \"base\", \"snap_name\": \"s1\"}";
  struct lbd_image_options t = {.object_size = MiB};
  assert_ok(lbd_migration_prepare_import(spec, e->io, "copy", &t));
  expect_image_bytes(e->io, "copy", "s0", v0, SIZE); /* the older snapshot came along */
  char *model = malloc(SIZE);
  memcpy(model, v1, SIZE);
  write_execute_commit(e->io, "copy", model);
  expect_image_bytes(e->io, "copy", "s0", v0, SIZE);
  expect_image_bytes(e->io, "base", "s1", v1, SIZE); /* the source never changed */
  free(v0);
  free(v1);
  free(model);
}

static void test_raw_over_http(void **state)
{
  struct image_env *e = *state;
  char root[PATH_MAX], p[PATH_MAX + 16];
  snprintf(root, sizeof root, "%s/www", e->tmp);
  snprintf(p, sizeof p, "mkdir -p %s", root);
  run(p);
  snprintf(p, sizeof p, "%s/s0.raw", root);
  char *s0 = make_file(p, 2);
  snprintf(p, sizeof p, "%s/head.raw", root);
  char *head = make_file(p, 3);
  struct test_server web;
  assert_int_equal(test_nginx_start(&web, root, NULL), 0);
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"http\", \"url\": "
           "\"%s/head.raw\"}, \"snapshots\": [{\"type\": \"raw\", \"name\": "
           "\"monday\", \"stream\": {\"type\": \"http\", \"url\": "
           "\"%s/s0.raw\"}}]}",
           web.url, web.url);
  struct lbd_image_options t = {0};
  int64_t before = (int64_t)time(NULL);
  assert_ok(lbd_migration_prepare_import(spec, e->io, "web", &t));
  expect_image_bytes(e->io, "web", "monday", s0, SIZE);
  /* a raw file has no time: the snapshot's is the import's, not 1970 */
  lbd_image_t *img;
  struct lbd_snap_info *snaps;
  size_t nsnaps;
  assert_ok(lbd_open(e->io, "web", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_snap_list(img, &snaps, &nsnaps));
  assert_int_equal(nsnaps, 1);
  assert_true(snaps[0].timestamp >= before);
  lbd_snap_list_free(snaps, nsnaps);
  assert_ok(lbd_close(img));
  write_execute_commit(e->io, "web", head);
  test_server_stop(&web); /* nothing needs the server any more */
  expect_image_bytes(e->io, "web", "monday", s0, SIZE);
  expect_image_bytes(e->io, "web", NULL, head, SIZE);
  /* sparse: the holes of the files take no space */
  uint64_t prov, used;
  assert_ok(lbd_open(e->io, "web", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_disk_usage(img, &prov, &used));
  assert_ok(lbd_close(img));
  if (used > 6 * MiB)
    fail_msg("import used %llu bytes for 3.1 MiB of data",
             (unsigned long long)used);
  /* a source that cannot be read leaves no target behind */
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"http\", \"url\": "
           "\"%s/missing.raw\"}}",
           web.url);
  expect_lbd_error(lbd_migration_prepare_import(spec, e->io, "bad", &t),
                   0, "import of a stopped server", NULL);
  assert_int_equal(lbd_open(e->io, "bad", NULL, 0, &img), -ENOENT);
  expect_lbd_error(lbd_migration_prepare_import("{\"type\": \"vmdk\"}", e->io,
                                                "bad", &t),
                   EINVAL, "import of an unknown format", "vmdk");
  free(s0);
  free(head);
}

static void test_qcow2_in_s3(void **state)
{
  struct image_env *e = *state;
  char p[2 * PATH_MAX], raw[PATH_MAX], qcow[PATH_MAX];
  snprintf(raw, sizeof raw, "%s/d.raw", e->tmp);
  snprintf(qcow, sizeof qcow, "%s/d.qcow2", e->tmp);
  char *before = make_file(raw, 4);
  snprintf(p, sizeof p,
           "qemu-img convert -q -f raw -O qcow2 %s %s && "
           "qemu-img snapshot -c friday %s && "
           "qemu-io -c 'write -P 0x5a 4M 1M' %s >/dev/null",
           raw, qcow, qcow, qcow);
  run(p);
  char *after = malloc(SIZE);
  memcpy(after, before, SIZE);
  memset(after + 4 * MiB, 0x5a, MiB);
  struct test_server s3;
  assert_int_equal(test_s3rver_start(&s3), 0);
  snprintf(p, sizeof p,
           "curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER "
           "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X PUT %s/vms && "
           "curl -sf --aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER "
           "-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T %s %s/vms/d.qcow2",
           s3.url, qcow, s3.url);
  run(p);
  /* the secret from the config-key store */
  assert_ok(lbd_config_key_set(e->c, "s3/secret", "S3RVER", 6));
  char spec[1024];
  snprintf(spec, sizeof spec,
           "{\"type\": \"qcow\", \"stream\": {\"type\": \"s3\", \"url\": "
           "\"%s/vms/d.qcow2\", \"access_key\": \"S3RVER\", \"secret_key\": "
           "\"config://s3/secret\"}}",
           s3.url);
  struct lbd_image_options t = {.object_size = 512 * 1024};
  assert_ok(lbd_migration_prepare_import(spec, e->io, "cloud", &t));
  struct lbd_migration_status st;
  assert_ok(lbd_migration_status(e->io, "cloud", &st));
  assert_null(strstr(st.source_spec, "S3RVER"));
  assert_null(strstr(st.source_spec, "s3/secret"));
  assert_non_null(strstr(st.source_spec, "***"));
  expect_image_bytes(e->io, "cloud", "friday", before, SIZE);
  write_execute_commit(e->io, "cloud", after);
  test_server_stop(&s3);
  expect_image_bytes(e->io, "cloud", "friday", before, SIZE);
  free(before);
  free(after);
}

/* Abort of an import drops the target; the source is as it was. */
static void test_abort(void **state)
{
  struct image_env *e = *state;
  char path[PATH_MAX], spec[PATH_MAX + 128];
  snprintf(path, sizeof path, "%s/x.raw", e->tmp);
  char *data = make_file(path, 5);
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}}", path);
  struct lbd_image_options t = {0};
  assert_ok(lbd_migration_prepare_import(spec, e->io, "x", &t));
  expect_lbd_error(lbd_migration_prepare_import(spec, e->io, "x", &t), EEXIST,
                   "a second import over the target", "exists");
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "x", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, 4, "oops"), 4);
  assert_ok(lbd_close(img));
  assert_ok(lbd_migration_abort(e->io, "x", NULL, NULL));
  assert_int_equal(lbd_open(e->io, "x", NULL, 0, &img), -ENOENT);
  expect_file_bytes(path, data, SIZE);
  free(data);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_native_snapshot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_raw_over_http, setup, teardown),
      cmocka_unit_test_setup_teardown(test_qcow2_in_s3, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
