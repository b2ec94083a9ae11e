/* Visiting the data objects of an image that exist (copy.c, du.c). */
#ifndef LBD_IMAGE_IMAGE_SCAN_H
#define LBD_IMAGE_IMAGE_SCAN_H

#include "image/image.h"

/* Call FN(OBJECTNO, OID, ARG) for every data object of IMG that exists,
 * in object number order, and only those (a sorted listing of the data
 * pool's namespace from the image's prefix on: no scan of the whole
 * image); stops at the first non-zero return. */
int image_each_data_object(struct lbd_image *img,
                           int (*fn)(uint64_t objectno, const char *oid,
                                     void *arg),
                           void *arg);

#endif
