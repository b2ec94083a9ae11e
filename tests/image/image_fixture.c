#include "image_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../objstore/fixture.h"

int image_env_setup(void **state, const char *tag)
{
  struct image_env *e = calloc(1, sizeof *e);
  if (!e || !(e->tmp = fixture_mkdtemp(tag))) {
    free(e);
    return -1;
  }
  snprintf(e->dir, sizeof e->dir, "%s/cluster", e->tmp);
  if (lbd_cluster_open(e->dir, true, &e->c) < 0 ||
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
  lbd_cluster_close(e->c);
  if (!getenv("LBD_TEST_KEEP"))
    fixture_rm_rf(e->tmp);
  free(e->tmp);
  free(e);
  *state = NULL;
  return 0;
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
