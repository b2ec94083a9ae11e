/* Import-only migration: the reference doc's error cases and a source that
 * fails half-way.
 *
 * Each bad source-spec (native without a snapshot, a snapshot that does
 * not exist, an unknown type, a missing stream, a bad URL, an NBD export
 * the server does not have, malformed JSON, wrongly typed fields) fails
 * prepare with the errno it should and a message that names the field,
 * and leaves no target (no image, nothing in the trash).  snap_id works
 * as a number and as a string.
 *
 * nginx is stopped while execute copies a raw image from it: execute
 * fails with a clear error; nginx comes back on the same port and root,
 * execute goes on and finishes, commit gives every byte.  Or, after such
 * a failure, abort leaves nothing. */
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

static int setup(void **state) { return image_env_setup(state, "imperr"); }
static int teardown(void **state) { return image_env_teardown(state); }

static void run(const char *cmd)
{
  if (system(cmd) != 0)
    fail_msg("command failed: %s", cmd);
}

/* No image but those named in KEEP (NULL-terminated), nothing in trash. */
static void expect_no_target(lbd_ioctx_t *io, const char *const *keep)
{
  char **names;
  size_t n;
  assert_ok(lbd_list(io, &names, &n));
  for (size_t i = 0; i < n; i++) {
    bool ok = false;
    for (size_t k = 0; keep && keep[k]; k++)
      ok = ok || strcmp(names[i], keep[k]) == 0;
    if (!ok)
      fail_msg("image %s was left behind", names[i]);
  }
  lbd_names_free(names, n);
  struct lbd_trash_info *t;
  assert_ok(lbd_trash_list(io, true, &t, &n));
  lbd_trash_list_free(t, n);
  assert_int_equal(n, 0);
}

/* Prepare with SPEC must fail with WANT (0: any errno) naming MENTION. */
static void bad_spec(struct image_env *e, const char *spec, int want,
                     const char *mention, const char *const *keep)
{
  struct lbd_image_options t = {0};
  int r = lbd_migration_prepare_import(spec, e->io, "dst", &t);
  if (r == 0)
    fail_msg("prepare accepted %s", spec);
  if (want && r != -want)
    fail_msg("%s: errno %d (%s), want %d: %s", spec, -r, strerror(-r), want,
             lbd_last_error());
  if (mention && !strstr(lbd_last_error(), mention))
    fail_msg("%s: the message does not name %s: %s", spec, mention,
             lbd_last_error());
  expect_no_target(e->io, keep);
}

static uint64_t make_base(struct image_env *e)
{
  struct lbd_image_options o = {.size = 4 * MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "base", &o));
  assert_ok(lbd_open(e->io, "base", NULL, 0, &img));
  assert_int_equal(lbd_write(img, 0, 5, "hello"), 5);
  assert_ok(lbd_snap_create(img, "s1"));
  assert_int_equal(lbd_write(img, 0, 5, "HELLO"), 5);
  struct lbd_snap_info *snaps;
  size_t n;
  assert_ok(lbd_snap_list(img, &snaps, &n));
  assert_int_equal(n, 1);
  uint64_t id = snaps[0].id;
  lbd_snap_list_free(snaps, n);
  assert_ok(lbd_close(img));
  return id;
}

static void expect_hello(struct image_env *e, const char *name)
{
  lbd_image_t *img;
  char b[5];
  assert_ok(lbd_open(e->io, name, NULL, LBD_OPEN_READ_ONLY, &img));
  assert_int_equal(lbd_read(img, 0, 5, b), 5);
  assert_memory_equal(b, "hello", 5);
  assert_ok(lbd_close(img));
}

static void test_native(void **state)
{
  struct image_env *e = *state;
  uint64_t id = make_base(e);
  const char *const keep[] = {"base", NULL};
  bad_spec(e, "{\"type\": \"native\", \"pool_name\": \"rbd\", "
              "\"image_name\": \"base\"}", EINVAL, "snap_name", keep);
  bad_spec(e, "{\"type\": \"native\", \"pool_name\": \"rbd\", "
              "\"image_name\": \"base\", \"snap_name\": \"nosuch\"}",
           ENOENT, "nosuch", keep);
  bad_spec(e, "{\"type\": \"native\", \"pool_name\": \"rbd\", "
              "\"image_name\": \"nosuch\", \"snap_name\": \"s1\"}",
           ENOENT, "nosuch", keep);
  bad_spec(e, "{\"type\": \"native\", \"pool_name\": \"nopool\", "
              "\"image_name\": \"base\", \"snap_name\": \"s1\"}",
           ENOENT, "nopool", keep);
  bad_spec(e, "{\"type\": \"native\", \"pool_name\": \"rbd\", "
              "\"image_name\": \"base\", \"snap_id\": 999999}",
           ENOENT, NULL, keep);
  char spec[256];
  struct lbd_image_options t = {0};
  /* snap_id as a number */
  snprintf(spec, sizeof spec,
           "{\"type\": \"native\", \"pool_name\": \"rbd\", \"image_name\": "
           "\"base\", \"snap_id\": %llu}", (unsigned long long)id);
  if (lbd_migration_prepare_import(spec, e->io, "by-number", &t) < 0)
    fail_msg("snap_id as a number: %s", lbd_last_error());
  expect_hello(e, "by-number");
  assert_ok(lbd_migration_abort(e->io, "by-number", NULL, NULL));
  /* and as a string, as the reference accepts it */
  snprintf(spec, sizeof spec,
           "{\"type\": \"native\", \"pool_name\": \"rbd\", \"image_name\": "
           "\"base\", \"snap_id\": \"%llu\"}", (unsigned long long)id);
  if (lbd_migration_prepare_import(spec, e->io, "by-string", &t) < 0)
    fail_msg("snap_id as a string: %s", lbd_last_error());
  expect_hello(e, "by-string");
  assert_ok(lbd_migration_abort(e->io, "by-string", NULL, NULL));
  /* a string that is not a number */
  bad_spec(e, "{\"type\": \"native\", \"pool_name\": \"rbd\", "
              "\"image_name\": \"base\", \"snap_id\": \"s1\"}",
           EINVAL, "snap_id", keep);
  expect_no_target(e->io, keep);
}

static void test_formats_and_streams(void **state)
{
  struct image_env *e = *state;
  char path[PATH_MAX], spec[2 * PATH_MAX];
  snprintf(path, sizeof path, "%s/disk.raw", e->tmp);
  image_env_write_file(path, "some data", 9);
  bad_spec(e, "{\"type\": \"vmdk\", \"stream\": {\"type\": \"file\", "
              "\"file_path\": \"/x\"}}", EINVAL, "vmdk", NULL);
  bad_spec(e, "{\"stream\": {}}", EINVAL, "type", NULL);
  bad_spec(e, "{\"type\": 7}", EINVAL, "type", NULL);
  bad_spec(e, "{\"type\": \"raw\"", EINVAL, NULL, NULL); /* malformed */
  bad_spec(e, "[\"raw\"]", EINVAL, "object", NULL);
  bad_spec(e, "{\"type\": \"raw\"}", EINVAL, "stream", NULL);
  bad_spec(e, "{\"type\": \"qcow\"}", EINVAL, "stream", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": \"disk.raw\"}", EINVAL,
           "stream", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"ftp\"}}", EINVAL,
           "ftp", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"file\"}}", EINVAL,
           "file_path", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"file\", "
              "\"file_path\": 3}}", EINVAL, "file_path", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"file\", "
              "\"file_path\": \"/nonexistent/disk\"}}", ENOENT,
           "/nonexistent/disk", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"http\"}}", EINVAL,
           "url", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"http\", "
              "\"url\": \"not a url\"}}", EINVAL, "URL", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"http\", "
              "\"url\": \"ftp://127.0.0.1/x\"}}", EINVAL, "URL", NULL);
  bad_spec(e, "{\"type\": \"raw\", \"stream\": {\"type\": \"nbd\", "
              "\"uri\": \"http://127.0.0.1/x\"}}", EINVAL, "uri", NULL);
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}, \"snapshots\": [{\"name\": \"a\"}]}",
           path);
  bad_spec(e, spec, EINVAL, "snapshots[0]", NULL);
  snprintf(spec, sizeof spec,
           "{\"type\": \"qcow\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}}", path);
  bad_spec(e, spec, EINVAL, NULL, NULL); /* not a QCOW */
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-export\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}}", path);
  bad_spec(e, spec, EINVAL, "rbd", NULL);
}

static void test_nbd_export_missing(void **state)
{
  struct image_env *e = *state;
  char img[PATH_MAX], cmd[2 * PATH_MAX], spec[2 * PATH_MAX];
  snprintf(img, sizeof img, "%s/d.qcow2", e->tmp);
  snprintf(cmd, sizeof cmd, "qemu-img create -q -f qcow2 %s 4M", img);
  run(cmd);
  struct test_server nbd;
  assert_int_equal(test_qemu_nbd_start(&nbd, img, "qcow2", "disk", true), 0);
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"nbd\", \"uri\": "
           "\"nbd://127.0.0.1:%d/nosuchexport\"}}", nbd.port);
  bad_spec(e, spec, ENOENT, "nosuchexport", NULL);
  /* the right name works */
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"nbd\", \"uri\": "
           "\"%s\"}}", nbd.uri);
  struct lbd_image_options t = {0};
  if (lbd_migration_prepare_import(spec, e->io, "dst", &t) < 0)
    fail_msg("%s: %s", spec, lbd_last_error());
  assert_ok(lbd_migration_abort(e->io, "dst", NULL, NULL));
  test_server_stop(&nbd);
  /* the server is gone */
  bad_spec(e, spec, ECONNREFUSED, "127.0.0.1", NULL);
}

/* ---- a source that fails during execute ------------------------------- */

#define BIG (48 * MiB)

struct stopper {
  struct test_server *web;
  int calls;
  bool stopped;
};

/* Slow (so execute is still running), and the server stops at the 4th
 * object. */
static int stop_web(uint64_t done, uint64_t total, void *arg)
{
  struct stopper *s = arg;
  (void)done;
  (void)total;
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  if (++s->calls == 4 && !s->stopped) {
    test_server_stop(s->web);
    s->stopped = true;
  }
  return 0;
}

static char *make_big(const char *path)
{
  char *b = malloc(BIG);
  srandom(42);
  for (uint64_t i = 0; i < BIG; i++)
    b[i] = (char)random();
  image_env_write_file(path, b, BIG);
  return b;
}

static void execute_fails(struct image_env *e, const char *name,
                          struct test_server *web)
{
  struct stopper st = {web, 0, false};
  int r = lbd_migration_execute(e->io, name, 2, stop_web, &st);
  assert_true(st.stopped);
  if (r == 0)
    fail_msg("execute succeeded with the server stopped");
  const char *msg = lbd_last_error();
  if (r != -ECONNREFUSED || !strstr(msg, web->url[0] ? web->url : "127.0.0.1")
      || !strstr(msg, "big.raw"))
    fail_msg("execute with the server gone: errno %d: %s", -r, msg);
  struct lbd_migration_status s;
  assert_ok(lbd_migration_status(e->io, name, &s));
}

static void test_server_gone(void **state)
{
  struct image_env *e = *state;
  char root[PATH_MAX], p[PATH_MAX + 32], spec[1024];
  snprintf(root, sizeof root, "%s/www", e->tmp);
  snprintf(p, sizeof p, "mkdir -p %s", root);
  run(p);
  snprintf(p, sizeof p, "%s/big.raw", root);
  char *want = make_big(p);
  struct test_server web;
  assert_int_equal(test_nginx_start(&web, root, NULL), 0);
  char url[64];
  snprintf(url, sizeof url, "%s", web.url);
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"http\", \"url\": "
           "\"%s/big.raw\"}}", url);
  struct lbd_image_options t = {.object_size = MiB};
  assert_ok(lbd_migration_prepare_import(spec, e->io, "web", &t));
  execute_fails(e, "web", &web);
  /* back on the same port: execute goes on and finishes */
  assert_int_equal(test_nginx_restart(&web, root, NULL), 0);
  assert_string_equal(web.url, url);
  if (lbd_migration_execute(e->io, "web", 2, NULL, NULL) < 0)
    fail_msg("execute after the restart: %s", lbd_last_error());
  assert_ok(lbd_migration_commit(e->io, "web", NULL, NULL));
  test_server_stop(&web); /* the target needs no source any more */
  lbd_image_t *img;
  char *got = malloc(BIG);
  assert_ok(lbd_open(e->io, "web", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_int_equal(lbd_read(img, 0, BIG, got), (ssize_t)BIG);
  assert_ok(lbd_close(img));
  assert_memory_equal(got, want, BIG);
  free(got);

  /* again, then abort: nothing left but the first import */
  assert_int_equal(test_nginx_restart(&web, root, NULL), 0);
  assert_ok(lbd_migration_prepare_import(spec, e->io, "web2", &t));
  execute_fails(e, "web2", &web);
  if (lbd_migration_abort(e->io, "web2", NULL, NULL) < 0)
    fail_msg("abort with the server gone: %s", lbd_last_error());
  const char *const keep[] = {"web", NULL};
  expect_no_target(e->io, keep);
  free(want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_native, setup, teardown),
      cmocka_unit_test_setup_teardown(test_formats_and_streams, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_nbd_export_missing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_server_gone, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
