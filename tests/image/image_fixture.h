/* Shared set-up for the image tests: a fresh cluster (with pool "rbd") in
 * a temporary directory, and a check of error results. */
#ifndef LBD_TESTS_IMAGE_FIXTURE_H
#define LBD_TESTS_IMAGE_FIXTURE_H

#include "lbd/lbd.h"

struct image_env {
  char *tmp;       /* removed by teardown unless $LBD_TEST_KEEP */
  char dir[4096];  /* the cluster directory, inside tmp */
  lbd_cluster_t *c;
  lbd_ioctx_t *io; /* pool "rbd" */
};

/* cmocka set-up/tear-down: *state becomes a struct image_env. */
int image_env_setup(void **state, const char *tag);
int image_env_teardown(void **state);

/* R is a negative errno (WANT, if not 0) with a non-empty lbd_last_error()
 * that contains MENTION (if not NULL); WHAT names the call for messages. */
void expect_lbd_error(long long r, int want, const char *what,
                      const char *mention);

#endif
