/* Changed extents of an image between two versions (diff.c): what
 * lbd_diff_iterate, lbd disk usage and the export formats share. */
#ifndef LBD_IMAGE_DIFF_H
#define LBD_IMAGE_DIFF_H

#include "image/image.h"

enum {
  IMAGE_DIFF_INCLUDE_PARENT = 1 << 0, /* count what a clone reads from its
                                         parent (diff from the beginning) */
  IMAGE_DIFF_WHOLE_OBJECT = 1 << 1,   /* report whole objects that changed */
  IMAGE_DIFF_OWN_DATA = 1 << 2,       /* only the image's own objects: not
                                         even a migration target's source */
  IMAGE_DIFF_EXISTENCE = 1 << 3,      /* from the beginning: an object that
                                         exists counts wholly as data (a
                                         stat, not a sparse read, which on
                                         RADOS moves the data) */
  IMAGE_DIFF_SIZE_AS_OPEN = 1 << 4,   /* the handle's size, not the head's
                                         read anew (a read-only backing's,
                                         which no one resizes) */
};

/* Report to CB, in image order and coalesced, the extents of [OFF, OFF+LEN)
 * that differ between snapshot FROM_ID (of FROM_SIZE bytes; 0 and 0: the
 * beginning of time, when the image was empty) and IMG as opened (its head,
 * or the snapshot it was opened at).  EXISTS: the extent holds data at the
 * end version; else it reads as zeroes there (discarded, or past its end).
 * A non-zero return of CB stops the walk and is returned.  EINVAL if
 * FROM_ID is newer than the snapshot IMG is open at. */
int image_diff_iterate(struct lbd_image *img, uint64_t from_id,
                       uint64_t from_size, uint64_t off, uint64_t len,
                       unsigned flags, lbd_diff_cb_t cb, void *arg);

/* The size of IMG at the version open (the head's is read anew). */
int image_diff_end_size(struct lbd_image *img, uint64_t *size);

#endif
