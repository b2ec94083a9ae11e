/* liblbd: live block devices.  The public C library.
 *
 * Every call returns 0 (or a count where stated) or a negative errno, and
 * lbd_last_error() then describes what failed and why, for the user. */
#ifndef LBD_LBD_H
#define LBD_LBD_H

#ifdef __cplusplus
extern "C" {
#endif

#define LBD_VERSION_MAJOR 0
#define LBD_VERSION_MINOR 1
#define LBD_VERSION_PATCH 0

/* The message of the last failed call in this thread ("" if none). */
const char *lbd_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
