/* Import-only migration from the sources added last: an rbd export
 * format 2 file and a chain of export-diffs (their snapshots become the
 * target's, with their data), and a VMDK served by qemu-nbd (holes kept:
 * the target uses about what the source holds).  Prepare, then execute
 * and commit; every byte of every snapshot and of the head checked. */
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

#include "../objstore/fixture.h"
#include "../source/servers.h"
#include "image_fixture.h"
#include "lbd/lbd.h"

#define MiB (1024ULL * 1024)
#define SIZE (16 * MiB)

static int setup(void **state) { return image_env_setup(state, "impmore"); }
static int teardown(void **state) { return image_env_teardown(state); }

static char *bytes_of(lbd_ioctx_t *io, const char *name, const char *snap)
{
  lbd_image_t *img;
  if (lbd_open(io, name, snap, LBD_OPEN_READ_ONLY, &img) < 0)
    fail_msg("open %s@%s: %s", name, snap ? snap : "-", lbd_last_error());
  uint64_t size;
  assert_ok(lbd_get_size(img, &size));
  assert_int_equal(size, SIZE);
  char *b = malloc(SIZE);
  assert_int_equal(lbd_read(img, 0, SIZE, b), (ssize_t)SIZE);
  assert_ok(lbd_close(img));
  return b;
}

static void same(lbd_ioctx_t *io, const char *a, const char *b,
                 const char *snap)
{
  char *x = bytes_of(io, a, snap), *y = bytes_of(io, b, snap);
  if (memcmp(x, y, SIZE) != 0)
    fail_msg("%s and %s differ at %s", a, b, snap ? snap : "the head");
  free(x);
  free(y);
}

static void fill(lbd_image_t *img, uint64_t off, uint64_t len, int c)
{
  char *b = malloc(len);
  memset(b, c, len);
  assert_int_equal(lbd_write(img, off, len, b), (ssize_t)len);
  free(b);
}

/* "src": snapshots mon and tue, the head moved on from tue. */
static void make_src(struct image_env *e)
{
  struct lbd_image_options o = {.size = SIZE, .object_size = MiB};
  lbd_image_t *img;
  assert_ok(lbd_create(e->io, "src", &o));
  assert_ok(lbd_open(e->io, "src", NULL, 0, &img));
  fill(img, 0, 2 * MiB, 'a');
  fill(img, 9 * MiB + 7, 5000, 'b');
  assert_ok(lbd_snap_create(img, "mon"));
  fill(img, MiB, 2 * MiB, 'c');
  assert_ok(lbd_discard(img, 9 * MiB, MiB));
  assert_ok(lbd_snap_create(img, "tue"));
  fill(img, 15 * MiB, MiB, 'd');
  assert_ok(lbd_close(img));
}

static void import_check(struct image_env *e, const char *spec,
                         const char *dst)
{
  struct lbd_image_options t = {.object_size = 2 * MiB};
  if (lbd_migration_prepare_import(spec, e->io, dst, &t) < 0)
    fail_msg("prepare %s: %s", spec, lbd_last_error());
  same(e->io, "src", dst, "mon");
  same(e->io, "src", dst, "tue");
  same(e->io, "src", dst, NULL);
  assert_ok(lbd_migration_execute(e->io, dst, 0, NULL, NULL));
  assert_ok(lbd_migration_commit(e->io, dst, NULL, NULL));
  same(e->io, "src", dst, "mon");
  same(e->io, "src", dst, "tue");
  same(e->io, "src", dst, NULL);
  lbd_image_t *img;
  uint64_t prov, used;
  assert_ok(lbd_open(e->io, dst, NULL, LBD_OPEN_READ_ONLY, &img));
  assert_ok(lbd_disk_usage(img, &prov, &used));
  assert_ok(lbd_close(img));
  if (used > 8 * MiB)
    fail_msg("%s uses %llu bytes for about 5 MiB of data", dst,
             (unsigned long long)used);
}

static void test_rbd_export(void **state)
{
  struct image_env *e = *state;
  make_src(e);
  char path[PATH_MAX + 16], spec[2 * PATH_MAX];
  snprintf(path, sizeof path, "%s/src.v2", e->tmp);
  lbd_image_t *img;
  assert_ok(lbd_open(e->io, "src", NULL, LBD_OPEN_READ_ONLY, &img));
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_ok(lbd_export_v2(img, fd, NULL, NULL));
  close(fd);
  assert_ok(lbd_close(img));
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-export\", \"stream\": {\"type\": \"file\", "
           "\"file_path\": \"%s\"}}", path);
  import_check(e, spec, "from-v2");
}

static void test_rbd_diff_chain(void **state)
{
  struct image_env *e = *state;
  make_src(e);
  const char *to[] = {"mon", "tue", NULL};
  char paths[3][PATH_MAX + 16], spec[4 * PATH_MAX];
  for (int i = 0; i < 3; i++) {
    snprintf(paths[i], sizeof paths[i], "%s/%d.diff", e->tmp, i);
    lbd_image_t *img;
    assert_ok(lbd_open(e->io, "src", to[i], LBD_OPEN_READ_ONLY, &img));
    int fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_ok(lbd_export_diff(img, i ? to[i - 1] : NULL, false, fd, NULL,
                              NULL));
    close(fd);
    assert_ok(lbd_close(img));
  }
  snprintf(spec, sizeof spec,
           "{\"type\": \"rbd-diff\", \"streams\": ["
           "{\"type\": \"file\", \"file_path\": \"%s\"}, "
           "{\"type\": \"file\", \"file_path\": \"%s\"}, "
           "{\"type\": \"file\", \"file_path\": \"%s\"}]}",
           paths[0], paths[1], paths[2]);
  import_check(e, spec, "from-diffs");
}

static void test_vmdk_over_nbd(void **state)
{
  struct image_env *e = *state;
  char vmdk[PATH_MAX], raw[PATH_MAX], cmd[4 * PATH_MAX], spec[2 * PATH_MAX];
  snprintf(vmdk, sizeof vmdk, "%s/d.vmdk", e->tmp);
  snprintf(raw, sizeof raw, "%s/d.raw", e->tmp);
  snprintf(cmd, sizeof cmd,
           "qemu-img create -q -f vmdk %s 64M && "
           "qemu-io -f vmdk -c 'write -P 0x61 1M 2M' "
           "-c 'write -P 0x62 50M 64k' %s >/dev/null && "
           "qemu-img convert -q -f vmdk -O raw %s %s",
           vmdk, vmdk, vmdk, raw);
  if (system(cmd) != 0)
    fail_msg("%s", cmd);
  struct test_server nbd;
  assert_int_equal(test_qemu_nbd_start(&nbd, vmdk, "vmdk", "vm", false), 0);
  snprintf(spec, sizeof spec,
           "{\"type\": \"raw\", \"stream\": {\"type\": \"nbd\", \"uri\": "
           "\"%s\"}}", nbd.uri);
  struct lbd_image_options t = {0};
  if (lbd_migration_prepare_import(spec, e->io, "vm", &t) < 0)
    fail_msg("prepare: %s", lbd_last_error());
  assert_ok(lbd_migration_execute(e->io, "vm", 0, NULL, NULL));
  assert_ok(lbd_migration_commit(e->io, "vm", NULL, NULL));
  test_server_stop(&nbd);
  lbd_image_t *img;
  uint64_t prov, used;
  char *got = malloc(64 * MiB), *want = malloc(64 * MiB);
  FILE *f = fopen(raw, "r");
  assert_int_equal(fread(want, 1, 64 * MiB, f), 64 * MiB);
  fclose(f);
  assert_ok(lbd_open(e->io, "vm", NULL, LBD_OPEN_READ_ONLY, &img));
  assert_int_equal(lbd_read(img, 0, 64 * MiB, got), (ssize_t)(64 * MiB));
  assert_ok(lbd_disk_usage(img, &prov, &used));
  assert_ok(lbd_close(img));
  assert_memory_equal(got, want, 64 * MiB);
  if (used > 8 * MiB + 64 * 1024)
    fail_msg("vm uses %llu bytes for 2 MiB + 64 KiB of data",
             (unsigned long long)used);
  free(got);
  free(want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rbd_export, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rbd_diff_chain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_vmdk_over_nbd, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
