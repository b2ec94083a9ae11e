/* Error convention: return 0 or a negative errno, and leave a message for
 * the user in a thread-local buffer that lbd_last_error() returns. */
#ifndef LBD_UTIL_ERROR_H
#define LBD_UTIL_ERROR_H

#include "lbd/lbd.h"

#define LBD_ERROR_MAX 1024

/* Set the message from FMT and return -ERR (ERR is a positive errno or a
 * negative one; both work).  FMT may use the current message via "%s" of
 * lbd_last_error() only through lbd_error_prefix(). */
int lbd_error(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message with "WHAT: " and return -ERR. */
int lbd_error_prefix(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lbd_error_clear(void);

#endif
