/* Shared set-up for the objstore tests: a fresh cluster in a temporary
 * directory with one pool, on the backend named by $LBD_TEST_BACKEND. */
#ifndef LBD_TESTS_OBJSTORE_FIXTURE_H
#define LBD_TESTS_OBJSTORE_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "objstore/objstore.h"

struct fixture {
  char dir[PATH_MAX];             /* the cluster directory */
  struct objstore_cluster *cluster;
  int64_t pool_id;                /* pool "test" */
  struct objstore_pool *pool;     /* "test", default namespace */
};

/* cmocka group/test set-up and tear-down; *state is a struct fixture. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* What a backend may lack.  A conformance check that needs one runs only
 * where the backend under test has it (the local backend has them all);
 * the rados backend's reasons are in src/objstore/rados/rados.h. */
enum fixture_cap {
  FIXTURE_CAP_LIST_SNAPS,        /* objstore_list_snaps */
  FIXTURE_CAP_MTIME_NS,          /* mtimes finer than a second */
  FIXTURE_CAP_GUARDS_SEE_STEPS,  /* a compare step sees the op's earlier steps */
  FIXTURE_CAP_CHECK_COUNTS,      /* objstore_pool_check counts objects */
  FIXTURE_CAP_SNAP_REMOVE_NOW,   /* reads at a removed snap fail at once */
  FIXTURE_CAP_UNKNOWN_SNAPS,     /* snap ids never allocated are refused */
  FIXTURE_CAP_CLONES_NO_HEAD,    /* an object with only clones is not missing */
};
bool fixture_has(enum fixture_cap cap);

/* A new empty directory under $TMPDIR (or /tmp); the caller frees it. */
char *fixture_mkdtemp(const char *tag);
/* rm -rf DIR. */
void fixture_rm_rf(const char *dir);
/* Assert-style helper: an op returned R; fail the test with the message. */
#define assert_ok(expr)                                                      \
  do {                                                                       \
    long long r_ = (long long)(expr);                                        \
    if (r_ < 0)                                                              \
      fail_msg("%s = %lld: %s", #expr, r_, lbd_last_error());                \
  } while (0)

#endif
