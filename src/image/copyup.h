/* Copy-up: an object an image lacks is created from its backing's bytes
 * (DESIGN.md, "One mechanism"), together with the change that needed it,
 * atomically: create-exclusive, so a racing writer or copier never loses a
 * write (EEXIST: someone else was first; apply the change in place).
 *
 * When the image's snapshots must not depend on the backing (deep-flatten,
 * and a migration target), the object is created with its whole history:
 * for each snapshot, the backing's bytes as that snapshot saw them. */
#ifndef LBD_IMAGE_COPYUP_H
#define LBD_IMAGE_COPYUP_H

#include "image/image.h"

enum piece_kind {
  PIECE_COPYUP,   /* nothing but the copy-up */
  PIECE_WRITE,
  PIECE_ZERO,     /* punch a hole */
  PIECE_TRUNCATE, /* drop the tail from OFF */
  PIECE_EMPTY,    /* the whole object reads as zeroes */
};

/* A change to one object. */
struct piece_op {
  enum piece_kind kind;
  uint64_t off, len;
  const char *buf;
};

/* Append P's step to OP. */
void image_piece_step(struct objstore_write_op *op, const struct piece_op *p);

/* Create object OBJECTNO (named OID) from the backing with P applied: its
 * whole history when HISTORY.  EEXIST if it exists already (with HISTORY:
 * also if only snapshot clones of it exist); 1 if P is PIECE_COPYUP and the
 * backing has nothing for it (then nothing is created). */
int image_copyup(struct lbd_image *img, uint64_t objectno, const char *oid,
                 const struct piece_op *p, bool history);

/* Whether copy-ups of IMG carry snapshot history. */
bool image_copyup_history(const struct lbd_image *img);

#endif
