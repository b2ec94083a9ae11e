#include "image/striping.h"

#include <errno.h>
#include <inttypes.h>

#include "util/error.h"

#define MIN_OBJECT_SIZE 4096ULL
#define MAX_OBJECT_SIZE (32ULL << 20)

int striping_check(const struct striping *s)
{
  uint64_t os = s->object_size, su = s->stripe_unit;
  if (os < MIN_OBJECT_SIZE || os > MAX_OBJECT_SIZE || (os & (os - 1)))
    return lbd_error(EINVAL, "object size %" PRIu64 " is not a power of two "
                     "from 4 KiB to 32 MiB (order 12 to 25)", os);
  if (su < 512 || os % su)
    return lbd_error(EINVAL, "stripe unit %" PRIu64 " must be at least 512 "
                     "bytes and divide the object size %" PRIu64, su, os);
  if (s->stripe_count < 1 || s->stripe_count > 4096)
    return lbd_error(EINVAL, "stripe count %" PRIu64 " is not from 1 to 4096",
                     s->stripe_count);
  return 0;
}

void striping_locate(const struct striping *s, uint64_t off,
                     uint64_t *objectno, uint64_t *objoff)
{
  uint64_t su = s->stripe_unit, sc = s->stripe_count;
  uint64_t units_per_object = s->object_size / su;
  uint64_t block = off / su;
  uint64_t stripe = block / sc;
  *objectno = (stripe / units_per_object) * sc + block % sc;
  *objoff = (stripe % units_per_object) * su + off % su;
}

uint64_t striping_image_offset(const struct striping *s, uint64_t objectno,
                               uint64_t objoff)
{
  uint64_t su = s->stripe_unit, sc = s->stripe_count;
  uint64_t units_per_object = s->object_size / su;
  uint64_t objectset = objectno / sc, pos = objectno % sc;
  uint64_t stripe = objectset * units_per_object + objoff / su;
  return (stripe * sc + pos) * su + objoff % su;
}

int striping_map(const struct striping *s, uint64_t off, uint64_t len,
                 int (*fn)(const struct object_extent *ext, void *arg),
                 void *arg)
{
  struct object_extent cur = {0};
  bool have = false;
  while (len) {
    uint64_t objectno, objoff;
    striping_locate(s, off, &objectno, &objoff);
    uint64_t n = s->stripe_unit - off % s->stripe_unit;
    if (n > len)
      n = len;
    if (have && cur.objectno == objectno && cur.off + cur.len == objoff) {
      cur.len += n;
    } else {
      if (have) {
        int r = fn(&cur, arg);
        if (r)
          return r;
      }
      cur = (struct object_extent){objectno, objoff, n, off};
      have = true;
    }
    off += n;
    len -= n;
  }
  return have ? fn(&cur, arg) : 0;
}

uint64_t striping_object_count(const struct striping *s, uint64_t size)
{
  if (size == 0)
    return 0;
  uint64_t period = s->object_size * s->stripe_count; /* bytes per object set */
  uint64_t sets = size / period;
  uint64_t count = sets * s->stripe_count;
  uint64_t rest = size % period;
  if (rest) {
    uint64_t units = (rest + s->stripe_unit - 1) / s->stripe_unit;
    count += units < s->stripe_count ? units : s->stripe_count;
  }
  return count;
}
