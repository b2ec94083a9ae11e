#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_msg[LBD_ERROR_MAX];

const char *lbd_last_error(void) { return error_msg; }

void lbd_error_clear(void) { error_msg[0] = '\0'; }

int lbd_error(int err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(error_msg, sizeof error_msg, fmt, ap);
  va_end(ap);
  return err > 0 ? -err : err;
}

int lbd_error_prefix(int err, const char *fmt, ...)
{
  char prefix[LBD_ERROR_MAX];
  char old[LBD_ERROR_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, error_msg, sizeof old);
  if (old[0])
    snprintf(error_msg, sizeof error_msg, "%s: %s", prefix, old);
  else
    snprintf(error_msg, sizeof error_msg, "%s: %s", prefix,
             strerror(err > 0 ? err : -err));
  return err > 0 ? -err : err;
}
