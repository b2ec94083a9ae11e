#include "util/extents.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void extent_set_free(struct extent_set *s)
{
  free(s->ext);
  s->ext = NULL;
  s->n = s->cap = 0;
}

static int reserve(struct extent_set *s, size_t extra)
{
  if (s->n + extra <= s->cap)
    return 0;
  size_t cap = s->cap ? s->cap * 2 : 4;
  while (cap < s->n + extra)
    cap *= 2;
  struct extent *p = realloc(s->ext, cap * sizeof *p);
  if (!p)
    return -ENOMEM;
  s->ext = p;
  s->cap = cap;
  return 0;
}

int extent_set_add(struct extent_set *s, uint64_t off, uint64_t len)
{
  if (len == 0)
    return 0;
  uint64_t end = off + len;
  /* The first extent that ends at or after OFF (binary search: callers
   * mostly add in ascending order, and sets grow to many extents). */
  size_t i = 0, hi = s->n;
  while (i < hi) {
    size_t mid = i + (hi - i) / 2;
    if (s->ext[mid].off + s->ext[mid].len < off)
      i = mid + 1;
    else
      hi = mid;
  }
  size_t j = i;
  while (j < s->n && s->ext[j].off <= end) {
    if (s->ext[j].off < off)
      off = s->ext[j].off;
    if (s->ext[j].off + s->ext[j].len > end)
      end = s->ext[j].off + s->ext[j].len;
    j++;
  }
  if (j == i) {
    int r = reserve(s, 1);
    if (r < 0)
      return r;
    memmove(&s->ext[i + 1], &s->ext[i], (s->n - i) * sizeof *s->ext);
    s->n++;
  } else if (j > i + 1) {
    memmove(&s->ext[i + 1], &s->ext[j], (s->n - j) * sizeof *s->ext);
    s->n -= j - i - 1;
  }
  s->ext[i].off = off;
  s->ext[i].len = end - off;
  return 0;
}

int extent_set_subtract(struct extent_set *s, uint64_t off, uint64_t len)
{
  if (len == 0)
    return 0;
  uint64_t end = off + len;
  for (size_t i = 0; i < s->n; i++) {
    uint64_t eo = s->ext[i].off, ee = eo + s->ext[i].len;
    if (ee <= off || eo >= end)
      continue;
    if (eo < off && ee > end) { /* split in two */
      int r = reserve(s, 1);
      if (r < 0)
        return r;
      memmove(&s->ext[i + 2], &s->ext[i + 1], (s->n - i - 1) * sizeof *s->ext);
      s->n++;
      s->ext[i].len = off - eo;
      s->ext[i + 1].off = end;
      s->ext[i + 1].len = ee - end;
      return 0;
    }
    if (eo < off) {
      s->ext[i].len = off - eo;
    } else if (ee > end) {
      s->ext[i].off = end;
      s->ext[i].len = ee - end;
    } else {
      memmove(&s->ext[i], &s->ext[i + 1], (s->n - i - 1) * sizeof *s->ext);
      s->n--;
      i--;
    }
  }
  return 0;
}

bool extent_set_intersects(const struct extent_set *s, uint64_t off,
                           uint64_t len)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->ext[i].off < off + len && s->ext[i].off + s->ext[i].len > off)
      return true;
  return false;
}

uint64_t extent_set_bytes(const struct extent_set *s)
{
  uint64_t b = 0;
  for (size_t i = 0; i < s->n; i++)
    b += s->ext[i].len;
  return b;
}

int extent_set_clip(const struct extent_set *s, uint64_t off, uint64_t len,
                    struct extent_set *out)
{
  uint64_t end = off + len;
  for (size_t i = 0; i < s->n; i++) {
    uint64_t eo = s->ext[i].off, ee = eo + s->ext[i].len;
    if (ee <= off || eo >= end)
      continue;
    uint64_t o = eo > off ? eo : off, e = ee < end ? ee : end;
    int r = extent_set_add(out, o, e - o);
    if (r < 0)
      return r;
  }
  return 0;
}

int extent_set_intersect(const struct extent_set *a, const struct extent_set *b,
                         struct extent_set *out)
{
  for (size_t i = 0; i < a->n; i++) {
    int r = extent_set_clip(b, a->ext[i].off, a->ext[i].len, out);
    if (r < 0)
      return r;
  }
  return 0;
}
