/* Copy-up (copyup.h): the object's bytes from the backing, at the head and,
 * for a history, at each snapshot; consecutive equal states share one
 * clone, and trailing snapshots equal to the head read the head. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/backing.h"
#include "image/copyup.h"
#include "util/error.h"

void image_piece_step(struct objstore_write_op *op, const struct piece_op *p)
{
  switch (p->kind) {
  case PIECE_COPYUP: break;
  case PIECE_WRITE: objstore_write_op_write(op, p->off, p->buf, p->len); break;
  case PIECE_ZERO: objstore_write_op_zero(op, p->off, p->len); break;
  case PIECE_TRUNCATE: objstore_write_op_truncate(op, p->off); break;
  case PIECE_EMPTY: objstore_write_op_truncate(op, 0); break;
  }
}

bool image_copyup_history(const struct lbd_image *img)
{
  return img->snapc.nsnaps > 0 &&
         ((img->hdr.features & LBD_FEATURE_DEEP_FLATTEN) ||
          img->hdr.migration.role == IMAGE_MIGRATION_TARGET);
}

static uint64_t image_overlap(const struct lbd_image *img)
{
  return img->backing ? img->hdr.parent.overlap : 0;
}

/* Zeroes copied up are an empty object, never a missing one, where the
 * image will read a parent for what it lacks (backing.h). */
static bool zeroes_exist(const struct lbd_image *img)
{
  return img->backing && img->backing->keeps_parent;
}

/* Head only: one op, create-exclusive + the backing's data + P. */
static int copyup_head(struct lbd_image *img, uint64_t objectno,
                       const char *oid, const struct piece_op *p)
{
  uint64_t os = img->hdr.layout.object_size;
  bool whole = p->kind == PIECE_EMPTY ||
               (p->kind == PIECE_WRITE && p->off == 0 && p->len == os);
  char *buf = NULL;
  struct objstore_extent *runs = NULL;
  size_t nruns = 0;
  int r = 0;
  if (!whole) { /* else nothing of the backing would survive P */
    if (!(buf = malloc(os)))
      return lbd_error(ENOMEM, "out of memory");
    r = image_backing_read_object(img, OBJSTORE_SNAP_HEAD, objectno,
                                  image_overlap(img), buf, &runs, &nruns);
  }
  bool empty = r == 0 && p->kind == PIECE_COPYUP && nruns == 0 &&
               !zeroes_exist(img);
  struct objstore_write_op *op = r == 0 && !empty ? objstore_write_op_new()
                                                  : NULL;
  if (r == 0 && !empty && !op)
    r = lbd_error(ENOMEM, "out of memory");
  if (r == 0 && !empty) {
    objstore_write_op_create(op, true);
    for (size_t i = 0; i < nruns; i++)
      objstore_write_op_write(op, runs[i].off, buf + runs[i].off, runs[i].len);
    image_piece_step(op, p);
    r = objstore_write_op_operate(img->data, oid, op, image_snapc(img), 0);
  }
  objstore_write_op_free(op);
  free(runs);
  free(buf);
  return r == 0 && empty ? 1 : r;
}

/* One state of the history being built; SNAPS ascending. */
struct hstate {
  char *buf;
  uint64_t size;
  struct objstore_extent *runs;
  size_t nruns;
  uint64_t *snaps;
  size_t nsnaps;
};

static void hstate_free(struct hstate *s)
{
  free(s->buf);
  free(s->runs);
  free(s->snaps);
}

static uint64_t runs_end(const struct objstore_extent *runs, size_t n)
{
  return n ? runs[n - 1].off + runs[n - 1].len : 0;
}

static bool hstate_equal(const struct hstate *a, const struct hstate *b,
                         uint64_t os)
{
  if (!a->nruns || !b->nruns) /* absent reads as zeroes: equal if both */
    return a->nruns == b->nruns;
  return a->size == b->size && memcmp(a->buf, b->buf, os) == 0;
}

/* The head state: the backing's head bytes with P applied. */
static int head_state(struct lbd_image *img, uint64_t objectno,
                      const struct piece_op *p, struct hstate *h)
{
  uint64_t os = img->hdr.layout.object_size;
  struct objstore_extent *runs;
  size_t n;
  int r = image_backing_read_object(img, OBJSTORE_SNAP_HEAD, objectno,
                                    image_overlap(img), h->buf, &runs, &n);
  if (r < 0)
    return r;
  h->size = runs_end(runs, n);
  free(runs);
  switch (p->kind) {
  case PIECE_COPYUP: break;
  case PIECE_WRITE:
    memcpy(h->buf + p->off, p->buf, p->len);
    if (p->off + p->len > h->size)
      h->size = p->off + p->len;
    break;
  case PIECE_ZERO: memset(h->buf + p->off, 0, p->len); break;
  case PIECE_TRUNCATE:
    memset(h->buf + p->off, 0, os - p->off);
    if (h->size > p->off)
      h->size = p->off;
    break;
  case PIECE_EMPTY:
    memset(h->buf, 0, os);
    h->size = 0;
    break;
  }
  if (img->hdr.thick && p->kind != PIECE_EMPTY) { /* zeroes allocated too */
    if (!(h->runs = malloc(sizeof *h->runs)))
      return lbd_error(ENOMEM, "out of memory");
    h->size = os;
    h->runs[0] = (struct objstore_extent){0, os};
    h->nruns = 1;
    return 0;
  }
  return image_nonzero_runs(h->buf, h->size, &h->runs, &h->nruns);
}

/* Add snapshot SNAP's state (with overlap OVERLAP) to S[*N]: a new state,
 * or one more snap of the previous one when equal. */
static int add_snap_state(struct lbd_image *img, uint64_t objectno,
                          uint64_t snap, uint64_t overlap, struct hstate *s,
                          size_t *n)
{
  uint64_t os = img->hdr.layout.object_size;
  struct hstate *cur = &s[*n];
  if (!(cur->buf = malloc(os)))
    return lbd_error(ENOMEM, "out of memory");
  int r = image_backing_read_object(img, snap, objectno, overlap, cur->buf,
                                    &cur->runs, &cur->nruns);
  if (r < 0)
    return r;
  cur->size = runs_end(cur->runs, cur->nruns);
  struct hstate *prev = *n ? &s[*n - 1] : NULL;
  struct hstate *into = prev && hstate_equal(prev, cur, os) ? prev : cur;
  uint64_t *p = realloc(into->snaps, (into->nsnaps + 1) * sizeof *p);
  if (!p)
    return lbd_error(ENOMEM, "out of memory");
  into->snaps = p;
  p[into->nsnaps++] = snap;
  if (into == prev) {
    hstate_free(cur);
    memset(cur, 0, sizeof *cur);
  } else {
    (*n)++;
  }
  return 0;
}

static int copyup_history(struct lbd_image *img, uint64_t objectno,
                          const char *oid, const struct piece_op *p)
{
  size_t nsnaps = img->snapc.nsnaps, n = 0;
  uint64_t os = img->hdr.layout.object_size;
  struct hstate *s = calloc(nsnaps + 1, sizeof *s);
  struct objstore_history_state *hs = calloc(nsnaps + 1, sizeof *hs);
  int r = s && hs ? 0 : lbd_error(ENOMEM, "out of memory");
  for (size_t i = nsnaps; r == 0 && i-- > 0;) /* oldest first */
    r = add_snap_state(img, objectno, img->snap_ids[i],
                       img->snap_overlaps[i], s, &n);
  struct hstate head = {0};
  if (r == 0 && !(head.buf = malloc(os)))
    r = lbd_error(ENOMEM, "out of memory");
  if (r == 0)
    r = head_state(img, objectno, p, &head);
  /* Trailing snapshots equal to the head read the head. */
  if (r == 0 && n && hstate_equal(&s[n - 1], &head, os)) {
    hstate_free(&s[--n]);
    memset(&s[n], 0, sizeof s[n]);
  }
  bool empty = p->kind == PIECE_COPYUP && head.nruns == 0 &&
               !zeroes_exist(img);
  for (size_t i = 0; empty && i < n; i++)
    empty = s[i].nruns == 0;
  uint64_t seq = n ? s[n - 1].snaps[s[n - 1].nsnaps - 1] : 0;
  for (size_t i = 0; r == 0 && i < n; i++)
    hs[i] = (struct objstore_history_state){s[i].snaps, s[i].nsnaps,
                                            s[i].nruns > 0 ||
                                                zeroes_exist(img),
                                            s[i].buf,
                                            s[i].size, s[i].runs,
                                            s[i].nruns};
  if (r == 0 && !empty) { /* (the backing has nothing: nor will we) */
    hs[n] = (struct objstore_history_state){NULL, 0, true, head.buf,
                                            head.size, head.runs, head.nruns};
    r = objstore_create_history(img->data, oid, hs, n + 1, seq);
  }
  for (size_t i = 0; s && i <= nsnaps; i++)
    hstate_free(&s[i]);
  hstate_free(&head);
  free(s);
  free(hs);
  return r == 0 && empty ? 1 : r;
}

int image_copyup(struct lbd_image *img, uint64_t objectno, const char *oid,
                 const struct piece_op *p, bool history)
{
  return history ? copyup_history(img, objectno, oid, p)
                 : copyup_head(img, objectno, oid, p);
}
