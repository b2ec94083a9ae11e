/* Data not here yet (DESIGN.md, "One mechanism"): where an image reads the
 * objects it does not have.  A clone reads its parent's snapshot; a
 * migration target will read its source through the same interface.
 *
 * A backing answers reads in the image's own byte space, up to the
 * image's overlap; past it the image reads zeroes.  Copy-up (image_io.c)
 * reads a whole object's bytes from here and creates the object with them
 * exclusively, so racing writers never lose a write. */
#ifndef LBD_IMAGE_BACKING_H
#define LBD_IMAGE_BACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lbd_image;
struct image_backing;
struct extent_set;

struct image_backing_ops {
  /* Read [OFF, OFF+LEN) as image snapshot SNAP (OBJSTORE_SNAP_HEAD: the
   * head) of the child sees it.  The caller keeps the range under the
   * overlap. */
  int (*read)(struct image_backing *b, uint64_t snap, uint64_t off,
              size_t len, void *buf);
  /* Add to OUT the extents of [OFF, OFF+LEN) holding data, as snapshot
   * SNAP of the child sees them. */
  int (*extents)(struct image_backing *b, uint64_t snap, uint64_t off,
                 uint64_t len, struct extent_set *out);
  void (*close)(struct image_backing *b);
  /* Optional, a cheaper question than extents: 1 if [OFF, OFF+LEN) may
   * hold data as SNAP sees it (an object there counts, whatever it
   * holds), 0 if it holds none.  OWN: only the backing's own objects
   * count, not what it reads from a parent of its own. */
  int (*may_have_data)(struct image_backing *b, uint64_t snap, uint64_t off,
                       uint64_t len, bool own);
  /* Optional hint: [OFF, OFF+LEN), as the child's head sees it, will be
   * read soon. */
  void (*prefetch)(struct image_backing *b, uint64_t off, uint64_t len);
};

struct image_backing {
  const struct image_backing_ops *ops;
  /* A migration source whose parent the target keeps: execute copies only
   * the source's own objects (IMAGE_COPYUP_OWN), and a copy-up records
   * zeroes as an empty object (absent would read the parent once the
   * target links to it). */
  bool keeps_parent;
};

/* How an import target's backing is opened, from its header (the layer
 * above registers it: the image layer knows no source formats). */
typedef int (*image_backing_opener)(struct lbd_image *img,
                                    struct image_backing **out);
void image_backing_register_import(image_backing_opener open);

/* Open IMG's backing from its header (nothing to do without a parent).
 * DEPTH counts the clones below (a chain deeper than 32 is refused). */
int image_backing_open(struct lbd_image *img, int depth);
/* Open IMG's backing as it will be once its migration is committed: for
 * a target keeping its source's parent, that parent (as the source reads
 * it); else none. */
int image_backing_open_past_source(struct lbd_image *img, int depth);
void image_backing_close(struct lbd_image *img);
/* Whether IMG is a migration target that still reads its source. */
bool image_migrating(const struct lbd_image *img);
struct image_header;
/* Whether the parent link of HDR (a migration target) is its source: until
 * a commit that keeps the source's parent moves the link there. */
bool image_parent_is_source(const struct image_header *hdr);
/* Whether the migration of SOURCE to TARGET keeps SOURCE's parent link
 * (SOURCE is a clone, and the migration was not prepared to flatten). */
bool image_keeps_source_parent(const struct image_header *target,
                               const struct image_header *source);

/* Fill BUF with [OFF, OFF+LEN) of the backing as IMG sees it at its
 * snapshot SNAP (OBJSTORE_SNAP_HEAD: its head): the backing's bytes below
 * OVERLAP, zeroes past it. */
int image_backing_read(struct lbd_image *img, uint64_t snap, uint64_t overlap,
                       uint64_t off, size_t len, void *buf);

/* Add to OUT the extents of [OFF, OFF+LEN) below OVERLAP where IMG (at its
 * own snapshot) reads data of its backing. */
int image_backing_extents(struct lbd_image *img, uint64_t overlap,
                          uint64_t off, uint64_t len, struct extent_set *out);

/* A hint: a copy-up of object OBJECTNO will soon read what the backing
 * holds of it below OVERLAP (the head's view); its store may start. */
void image_backing_prefetch(struct lbd_image *img, uint64_t objectno,
                            uint64_t overlap);

/* The first image byte of object OBJECTNO is under OVERLAP: the object has
 * data of the backing. */
bool image_backing_covers(const struct lbd_image *img, uint64_t objectno,
                          uint64_t overlap);

/* Read every byte of object OBJECTNO that the backing holds (below
 * OVERLAP) into BUF (object-size); fills *RUNS with the extents that are
 * not all zeroes (object offsets, 4 KiB granularity, malloc'd). */
struct objstore_extent;
int image_backing_read_object(struct lbd_image *img, uint64_t snap,
                              uint64_t objectno, uint64_t overlap, void *buf,
                              struct objstore_extent **runs, size_t *nruns);
/* The runs of BUF[0, LEN) that are not whole 4 KiB blocks of zeroes. */
int image_nonzero_runs(const char *buf, uint64_t len,
                       struct objstore_extent **runs, size_t *nruns);

#endif
