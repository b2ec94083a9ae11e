#include "util/random.h"

#include <errno.h>
#include <sys/random.h>

uint64_t lbd_random_u64(void)
{
  uint64_t v = 0;
  while (v == 0) {
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v && errno != EINTR)
      v = 0;
  }
  return v;
}
