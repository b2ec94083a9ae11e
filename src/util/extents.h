/* Sorted, disjoint, non-adjacent extent lists (interval sets), used for
 * sparse-read maps and snapshot clone overlaps. */
#ifndef LBD_UTIL_EXTENTS_H
#define LBD_UTIL_EXTENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct extent {
  uint64_t off;
  uint64_t len;
};

struct extent_set {
  struct extent *ext;
  size_t n, cap;
};

void extent_set_free(struct extent_set *s);
/* Add [OFF, OFF+LEN), merging with neighbours. */
int extent_set_add(struct extent_set *s, uint64_t off, uint64_t len);
/* Remove [OFF, OFF+LEN). */
int extent_set_subtract(struct extent_set *s, uint64_t off, uint64_t len);
bool extent_set_intersects(const struct extent_set *s, uint64_t off,
                           uint64_t len);
uint64_t extent_set_bytes(const struct extent_set *s);
/* Append the parts of S inside [OFF, OFF+LEN) to OUT. */
int extent_set_clip(const struct extent_set *s, uint64_t off, uint64_t len,
                    struct extent_set *out);

/* OUT = A ∩ B (OUT must be empty and distinct from both). */
int extent_set_intersect(const struct extent_set *a, const struct extent_set *b,
                         struct extent_set *out);

#endif
