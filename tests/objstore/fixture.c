#include "fixture.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <limits.h>
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

bool fixture_has(enum fixture_cap cap)
{
  const char *backend = getenv("LBD_TEST_BACKEND");
  if (!backend || strcmp(backend, "rados") != 0)
    return true;
  if (cap == FIXTURE_CAP_LIST_SNAPS)
    return true; /* librados' C++ API: src/objstore/rados/rados_snaps.cc */
  (void)cap; /* librados' C API lacks every other one */
  return false;
}

int fixture_setup(void **state)
{
  const char *backend = getenv("LBD_TEST_BACKEND");
  bool rados = backend && strcmp(backend, "rados") == 0;
  if (backend && *backend && strcmp(backend, "local") != 0 && !rados) {
    fprintf(stderr, "fixture: backend %s is not supported yet\n", backend);
    return -1;
  }
  /* rados: pool "test" is a new RADOS pool in the cluster of
   * $LBD_TEST_CEPH_CONF (scripts/ceph-test-cluster.sh), removed at
   * teardown; pools the tests make themselves stay local. */
  static unsigned seq;
  char config[PATH_MAX + 128], rpool[64];
  snprintf(rpool, sizeof rpool, "lbdtest-%ld-%u", (long)getpid(), ++seq);
  if (rados && objstore_rados_config(config, sizeof config, rpool,
                                     getenv("LBD_TEST_CEPH_CONF")) < 0) {
    fprintf(stderr, "fixture: %s\n", lbd_last_error());
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
      objstore_pool_create_ext(f->cluster, "test", rados ? "rados" : "local",
                               rados ? config : NULL, &f->pool_id) < 0 ||
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
  const char *backend = getenv("LBD_TEST_BACKEND");
  if (f->cluster && backend && strcmp(backend, "rados") == 0)
    objstore_pool_remove(f->cluster, "test"); /* frees the RADOS pool */
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
