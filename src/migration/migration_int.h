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
/* The migration whose commit was cut after it removed source NAME of IO
 * (a marker names the target); -ENOENT if none. */
int pair_find_committing(lbd_ioctx_t *io, const char *name, struct pair *p);

/* relink.c: point every clone of a snapshot of image FROM_ID at the
 * snapshot of the same name of TO_ID.  Resumable. */
int migration_relink_children(lbd_cluster_t *cluster, lbd_ioctx_t *from_io,
                              const char *from_id, lbd_ioctx_t *to_io,
                              const char *to_id);
/* The clones of the target's snapshots, as "pool/[ns/]name". */
int migration_descendants(struct pair *p, char ***specs, size_t *count);

#endif
