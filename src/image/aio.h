/* Asynchronous IO of images (aio.c). */
#ifndef LBD_IMAGE_AIO_H
#define LBD_IMAGE_AIO_H

#include "image/image.h"

/* Wait until no asynchronous op of IMG is queued or running (their
 * callbacks have returned).  Meant for lbd_close(), before it frees IMG. */
void image_aio_drain(struct lbd_image *img);

#endif
