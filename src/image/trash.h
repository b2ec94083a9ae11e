/* The trash of a pool namespace (DESIGN.md, "Image format"): images taken
 * out of the directory, kept until removed or restored.
 *
 *   lbd_trash   omap id_<id> -> "1 <source> <state> <deleted> <deferred> <name>"
 *               source: user | migration
 *               state:  moving | normal | restoring | removing
 *               deleted, deferred: seconds since the epoch (the deletion
 *               time and the end of the deferment)
 *
 * Each step of a move, restore or removal is one compound op guarded by
 * the version of the object it changes (read, decide, write if unchanged,
 * else retry), and the states say which step a crash interrupted:
 *
 *   move:    add entry (moving)  -> drop directory name -> entry normal
 *   restore: entry restoring     -> add directory name  -> drop entry
 *   remove:  entry removing      -> data, header        -> drop entry
 *
 * A moving entry whose id is no longer in the directory, or a restoring
 * entry whose id is back in it, is settled (its last step done) by the next
 * trash call that looks at it. */
#ifndef LBD_IMAGE_TRASH_H
#define LBD_IMAGE_TRASH_H

#include "image/image.h"

#define IMAGE_TRASH "lbd_trash"

enum image_trash_state {
  IMAGE_TRASH_MOVING,
  IMAGE_TRASH_NORMAL,
  IMAGE_TRASH_RESTORING,
  IMAGE_TRASH_REMOVING,
};

struct image_trash_entry {
  char id[IMAGE_ID_LEN + 1];
  char name[IMAGE_MAX_NAME + 1];
  enum lbd_trash_source source;
  enum image_trash_state state;
  int64_t deletion_time;
  int64_t deferment_end;
};

/* Move image NAME of IO's namespace to the trash, as SOURCE (migration:
 * LBD_TRASH_SOURCE_MIGRATION), removable DELAY seconds from now.  Refused
 * while the image has watchers. */
int image_trash_move(lbd_ioctx_t *io, const char *name,
                     enum lbd_trash_source source, uint64_t delay);
/* Record an entry for image ID (already out of the directory, or about to
 * be) in state normal; EEXIST if ID is in the trash already. */
int image_trash_add(struct objstore_pool *pool, const char *id,
                    const char *name, enum lbd_trash_source source,
                    int64_t deletion_time, int64_t deferment_end);
/* The entry of ID (settled first); ENOENT if ID is not in the trash. */
int image_trash_get(struct objstore_pool *pool, const char *id,
                    struct image_trash_entry *entry);
/* Restore ID under NEW_NAME (NULL: its old name).  ANY_SOURCE: also an
 * entry of a migration (for migration abort). */
int image_trash_restore(lbd_ioctx_t *io, const char *id, const char *new_name,
                        bool any_source);
/* Remove ID and its data.  FORCE: before its deferment ends; ANY_SOURCE:
 * also an entry of a migration (for migration commit). */
int image_trash_remove(lbd_ioctx_t *io, const char *id, bool force,
                       bool any_source);

#endif
