#ifndef LBD_UTIL_RANDOM_H
#define LBD_UTIL_RANDOM_H
#include <stdint.h>
/* A random 64-bit value from the kernel's generator (never 0). */
uint64_t lbd_random_u64(void);
#endif
