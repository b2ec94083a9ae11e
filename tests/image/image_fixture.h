/* Shared set-up for the image tests: a fresh cluster (with pool "rbd") in
 * a temporary directory, and a check of error results. */
#ifndef LBD_TESTS_IMAGE_FIXTURE_H
#define LBD_TESTS_IMAGE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbd/lbd.h"

struct image_env {
  char *tmp;       /* removed by teardown unless $LBD_TEST_KEEP */
  char dir[4096];  /* the cluster directory, inside tmp */
  lbd_cluster_t *c;
  lbd_ioctx_t *io; /* pool "rbd" */
};

/* cmocka set-up/tear-down: *state becomes a struct image_env.  Pool "rbd"
 * is on the backend $LBD_TEST_BACKEND names ("local", the default, or
 * "rados": a RADOS pool of its own in the cluster of $LBD_TEST_CEPH_CONF,
 * removed with every other RADOS pool of the test at teardown). */
int image_env_setup(void **state, const char *tag);
int image_env_teardown(void **state);

/* Make pool NAME of cluster C for a test, as lbd_pool_create(C, NAME, DIR)
 * does on the local backend.  Its backend: $LBD_TEST_BACKEND2 if set (so
 * that migrations between "rbd" and this pool cross backends), else
 * $LBD_TEST_BACKEND.  On rados it is a new RADOS pool with a name unique
 * to this process ("lbdt-PID-N"), DIR ignored. */
int image_env_pool_create(lbd_cluster_t *c, const char *name,
                          const char *dir);
/* True when pool "rbd" (WHICH 1) or the pools of image_env_pool_create
 * (WHICH 2) are on RADOS. */
bool image_env_rados(int which);

/* Pool NAME of the test's cluster, made (image_env_pool_create) if it is
 * not there yet. */
lbd_ioctx_t *image_env_pool(struct image_env *e, const char *name);

/* Image NAME (at SNAP, NULL: the head) of IO is SIZE bytes long and holds
 * exactly WANT; else the test fails at the first byte that differs. */
void expect_image_bytes(lbd_ioctx_t *io, const char *name, const char *snap,
                        const char *want, uint64_t size);

/* R is a negative errno (WANT, if not 0) with a non-empty lbd_last_error()
 * that contains MENTION (if not NULL); WHAT names the call for messages. */
void expect_lbd_error(long long r, int want, const char *what,
                      const char *mention);

/* Write LEN bytes of BUF to a new file PATH (the test fails if it cannot). */
void image_env_write_file(const char *path, const void *buf, size_t len);
/* The file PATH holds exactly the LEN bytes of WANT. */
void expect_file_bytes(const char *path, const void *want, size_t len);
/* getenv(NAME) as a number, DEF if unset. */
int image_env_int(const char *name, int def);
/* A kill -9 trial: close E's cluster, run CHILD(E->dir, ARG) in a forked
 * process (it opens the cluster itself and _exits), kill it at a random
 * moment within MAX_MS ms, reap it, and open E->c and E->io again. */
void image_env_kill_child(struct image_env *e,
                          void (*child)(const char *dir, bool arg), bool arg,
                          int max_ms);
#endif
