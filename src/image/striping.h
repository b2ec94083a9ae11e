/* Ceph's striping: how an image's byte range maps onto its objects.
 *
 * With object size OS, stripe unit SU and stripe count SC, block
 * b = off / SU lands in object (b / SC / (OS/SU)) * SC + b % SC, at offset
 * ((b / SC) % (OS/SU)) * SU + off % SU. */
#ifndef LBD_IMAGE_STRIPING_H
#define LBD_IMAGE_STRIPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct striping {
  uint64_t object_size;
  uint64_t stripe_unit;
  uint64_t stripe_count;
};

/* One piece of an image extent, inside one object. */
struct object_extent {
  uint64_t objectno;
  uint64_t off;        /* in the object */
  uint64_t len;
  uint64_t image_off;  /* where the piece starts in the image */
};

/* EINVAL with a message unless the layout is valid: object size a power of
 * two from 4 KiB to 32 MiB, a stripe unit of at least 512 bytes that
 * divides it, a stripe count from 1 to 4096. */
int striping_check(const struct striping *s);

/* The object and offset of image byte OFF. */
void striping_locate(const struct striping *s, uint64_t off,
                     uint64_t *objectno, uint64_t *objoff);
/* The image offset of byte OBJOFF of object OBJECTNO. */
uint64_t striping_image_offset(const struct striping *s, uint64_t objectno,
                               uint64_t objoff);

/* Split [OFF, OFF+LEN) into object pieces, in image order; each piece is a
 * run inside one stripe unit, merged with the next when contiguous in the
 * same object.  Calls FN for each; stops at the first non-zero return. */
int striping_map(const struct striping *s, uint64_t off, uint64_t len,
                 int (*fn)(const struct object_extent *ext, void *arg),
                 void *arg);

/* Number of objects an image of SIZE bytes spans. */
uint64_t striping_object_count(const struct striping *s, uint64_t size);

#endif
