#include "image_fixture.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../objstore/fixture.h"

static const char *backend_of(int which)
{
  const char *b = which == 2 ? getenv("LBD_TEST_BACKEND2") : NULL;
  if (!b || !*b)
    b = getenv("LBD_TEST_BACKEND");
  return b && *b ? b : "local";
}

bool image_env_rados(int which)
{
  return strcmp(backend_of(which), "rados") == 0;
}

static int pool_create_on(lbd_cluster_t *c, const char *name, const char *dir,
                          int which)
{
  const char *b = backend_of(which);
  if (strcmp(b, "local") == 0)
    return lbd_pool_create(c, name, dir);
  if (strcmp(b, "rados") != 0) {
    fprintf(stderr, "image fixture: backend %s is not supported\n", b);
    return -EINVAL;
  }
  static unsigned seq;
  char rpool[64];
  snprintf(rpool, sizeof rpool, "lbdt-%ld-%u", (long)getpid(), ++seq);
  return lbd_pool_create_rados(c, name, getenv("LBD_TEST_CEPH_CONF"), rpool);
}

int image_env_pool_create(lbd_cluster_t *c, const char *name, const char *dir)
{
  return pool_create_on(c, name, dir, 2);
}

/* Remove C's pools on RADOS (their RADOS pools go with them). */
static void remove_rados_pools(lbd_cluster_t *c)
{
  struct lbd_pool_info *p;
  size_t n;
  if (!c || (!image_env_rados(1) && !image_env_rados(2)) ||
      lbd_pool_list(c, &p, &n) < 0)
    return;
  for (size_t i = 0; i < n; i++)
    if (p[i].path && strncmp(p[i].path, "rados://", 8) == 0 &&
        lbd_pool_remove(c, p[i].name) < 0)
      fprintf(stderr, "teardown: pool %s: %s\n", p[i].name,
              lbd_last_error());
  lbd_pool_list_free(p, n);
}

int image_env_setup(void **state, const char *tag)
{
  struct image_env *e = calloc(1, sizeof *e);
  if (!e || !(e->tmp = fixture_mkdtemp(tag))) {
    free(e);
    return -1;
  }
  snprintf(e->dir, sizeof e->dir, "%s/cluster", e->tmp);
  if (lbd_cluster_open(e->dir, true, &e->c) < 0 ||
      (image_env_rados(1) && (lbd_pool_remove(e->c, "rbd") < 0 ||
                              pool_create_on(e->c, "rbd", NULL, 1) < 0)) ||
      lbd_ioctx_create(e->c, "rbd", NULL, &e->io) < 0) {
    fprintf(stderr, "setup: %s\n", lbd_last_error());
    return -1;
  }
  *state = e;
  return 0;
}

int image_env_teardown(void **state)
{
  struct image_env *e = *state;
  if (!e)
    return 0;
  lbd_ioctx_destroy(e->io);
  remove_rados_pools(e->c);
  lbd_cluster_close(e->c);
  if (!getenv("LBD_TEST_KEEP"))
    fixture_rm_rf(e->tmp);
  free(e->tmp);
  free(e);
  *state = NULL;
  return 0;
}

lbd_ioctx_t *image_env_pool(struct image_env *e, const char *name)
{
  lbd_ioctx_t *io;
  if (lbd_ioctx_create(e->c, name, NULL, &io) < 0) {
    assert_int_equal(image_env_pool_create(e->c, name, NULL), 0);
    assert_int_equal(lbd_ioctx_create(e->c, name, NULL, &io), 0);
  }
  return io;
}

void expect_image_bytes(lbd_ioctx_t *io, const char *name, const char *snap,
                        const char *want, uint64_t size)
{
  lbd_image_t *img;
  if (lbd_open(io, name, snap, LBD_OPEN_READ_ONLY, &img) < 0)
    fail_msg("open %s@%s: %s", name, snap ? snap : "-", lbd_last_error());
  uint64_t got;
  assert_int_equal(lbd_get_size(img, &got), 0);
  if (got != size)
    fail_msg("%s@%s: size %llu, want %llu", name, snap ? snap : "-",
             (unsigned long long)got, (unsigned long long)size);
  char *b = malloc(size ? size : 1);
  assert_int_equal(lbd_read(img, 0, size, b), (ssize_t)size);
  for (uint64_t i = 0; i < size; i++)
    if (b[i] != want[i])
      fail_msg("%s@%s at %llu: 0x%02x, want 0x%02x", name, snap ? snap : "-",
               (unsigned long long)i, b[i] & 0xff, want[i] & 0xff);
  free(b);
  assert_int_equal(lbd_close(img), 0);
}

void expect_lbd_error(long long r, int want, const char *what,
                      const char *mention)
{
  const char *msg = lbd_last_error();
  if (r >= 0)
    fail_msg("%s succeeded (%lld), want an error", what, r);
  if (r < -4095)
    fail_msg("%s = %lld: not a negative errno", what, r);
  if (want && r != -want)
    fail_msg("%s = %lld (%s), want -%d (%s): %s", what, r, strerror((int)-r),
             want, strerror(want), msg);
  if (!msg || !*msg)
    fail_msg("%s = %lld with an empty lbd_last_error()", what, r);
  if (mention && !strstr(msg, mention))
    fail_msg("%s: message \"%s\" does not mention \"%s\"", what, msg, mention);
}

int image_env_int(const char *name, int def)
{
  const char *v = getenv(name);
  return v ? atoi(v) : def;
}

void image_env_kill_child(struct image_env *e,
                          void (*child)(const char *dir, bool arg), bool arg,
                          int max_ms)
{
  lbd_ioctx_destroy(e->io); /* the child opens the cluster itself */
  lbd_cluster_close(e->c);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    child(e->dir, arg);
    _exit(3);
  }
  usleep((useconds_t)(rand() % ((max_ms > 0 ? max_ms : 1) * 1000)));
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  assert_int_equal(lbd_cluster_open(e->dir, false, &e->c), 0);
  assert_int_equal(lbd_ioctx_create(e->c, "rbd", NULL, &e->io), 0);
}

void image_env_write_file(const char *path, const void *buf, size_t len)
{
  FILE *f = fopen(path, "w");
  if (!f)
    fail_msg("cannot create %s", path);
  assert_int_equal(fwrite(buf, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

void expect_file_bytes(const char *path, const void *want, size_t len)
{
  char *got = malloc(len + 1);
  FILE *f = fopen(path, "r");
  assert_non_null(got);
  if (!f)
    fail_msg("cannot open %s", path);
  size_t n = fread(got, 1, len + 1, f);
  fclose(f);
  if (n != len)
    fail_msg("%s holds %zu bytes, want %zu", path, n, len);
  assert_memory_equal(got, want, len);
  free(got);
}
