/* What the files of the migration layer share. */
#ifndef LBD_MIGRATION_INT_H
#define LBD_MIGRATION_INT_H

#include "image/image.h"

/* Both images of a migration, as far as they exist (an import's target
 * has no source image). */
struct pair {
  lbd_ioctx_t *src_io, *dst_io;
  char src_id[IMAGE_ID_LEN + 1], dst_id[IMAGE_ID_LEN + 1];
  char src_name[IMAGE_MAX_NAME + 1], dst_name[IMAGE_MAX_NAME + 1];
  struct image_header src, dst;
  bool have_src, have_dst;
};

/* Find the migration that NAME (target, or source in or out of the trash)
 * of IO takes part in. */
int pair_find(lbd_ioctx_t *io, const char *name, struct pair *p);
void pair_free(struct pair *p);

#endif
