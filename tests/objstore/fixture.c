#include "fixture.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbd/lbd.h"

char *fixture_mkdtemp(const char *tag)
{
  const char *tmp = getenv("TMPDIR");
  char *path;
  if (asprintf(&path, "%s/lbd-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag) < 0)
    return NULL;
  if (!mkdtemp(path)) {
    free(path);
    return NULL;
  }
  return path;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
  (void)st; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

void fixture_rm_rf(const char *dir)
{
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int fixture_setup(void **state)
{
  const char *backend = getenv("LBD_TEST_BACKEND");
  if (backend && *backend && strcmp(backend, "local") != 0) {
    fprintf(stderr, "fixture: backend %s is not supported yet\n", backend);
    return -1;
  }
  struct fixture *f = calloc(1, sizeof *f);
  char *dir = fixture_mkdtemp("objstore");
  if (!f || !dir)
    return -1;
  snprintf(f->dir, sizeof f->dir, "%s/cluster", dir);
  free(dir);
  if (objstore_cluster_create(f->dir) < 0 ||
      objstore_cluster_open(f->dir, &f->cluster) < 0 ||
      objstore_pool_create(f->cluster, "test", NULL, &f->pool_id) < 0 ||
      objstore_pool_open(f->cluster, f->pool_id, "", &f->pool) < 0) {
    fprintf(stderr, "fixture: %s\n", lbd_last_error());
    return -1;
  }
  *state = f;
  return 0;
}

int fixture_teardown(void **state)
{
  struct fixture *f = *state;
  if (!f)
    return 0;
  if (f->pool)
    objstore_pool_close(f->pool);
  if (f->cluster)
    objstore_cluster_close(f->cluster);
  char *slash = strrchr(f->dir, '/');
  if (slash)
    *slash = '\0';
  if (!getenv("LBD_TEST_KEEP"))
    fixture_rm_rf(f->dir);
  free(f);
  *state = NULL;
  return 0;
}
