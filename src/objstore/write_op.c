/* Building write ops (the backend runs them) and the comparisons that
 * guard steps use. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/backend.h"

struct objstore_write_op *objstore_write_op_new(void)
{
  return calloc(1, sizeof(struct objstore_write_op));
}

void objstore_write_op_free(struct objstore_write_op *op)
{
  if (!op)
    return;
  for (size_t i = 0; i < op->nsteps; i++) {
    free(op->steps[i].name);
    free(op->steps[i].value);
  }
  free(op->steps);
  free(op);
}

static void op_fail(struct objstore_write_op *op, int err, const char *fmt,
                    const char *arg)
{
  if (op->error)
    return;
  op->error = -err;
  snprintf(op->errmsg, sizeof op->errmsg, fmt, arg);
}

static struct objstore_step *op_add(struct objstore_write_op *op,
                                    enum objstore_step_type type)
{
  if (op->error)
    return NULL;
  if (op->nsteps == op->cap) {
    size_t cap = op->cap ? op->cap * 2 : 4;
    struct objstore_step *s = realloc(op->steps, cap * sizeof *s);
    if (!s) {
      op_fail(op, ENOMEM, "%s", "out of memory building a write op");
      return NULL;
    }
    op->steps = s;
    op->cap = cap;
  }
  struct objstore_step *s = &op->steps[op->nsteps++];
  memset(s, 0, sizeof *s);
  s->type = type;
  return s;
}

/* Copy NAME (bounded by MAX) and VALUE into step S. */
static void step_set_kv(struct objstore_write_op *op, struct objstore_step *s,
                        const char *what, size_t max, const char *name,
                        const void *value, size_t len)
{
  if (!s)
    return;
  if (!name || !*name || strlen(name) > max) {
    op->nsteps--;
    op_fail(op, name && *name ? ENAMETOOLONG : EINVAL,
            name && *name ? "%s is too long" : "%s is empty", what);
    return;
  }
  s->name = strdup(name);
  s->value = malloc(len + 1);
  if (!s->name || !s->value) {
    free(s->name);
    free(s->value);
    op->nsteps--;
    op_fail(op, ENOMEM, "%s", "out of memory building a write op");
    return;
  }
  if (len)
    memcpy(s->value, value, len);
  ((char *)s->value)[len] = '\0';
  s->vlen = len;
}

void objstore_write_op_assert_exists(struct objstore_write_op *op)
{
  op_add(op, STEP_ASSERT_EXISTS);
}

void objstore_write_op_create(struct objstore_write_op *op, bool exclusive)
{
  struct objstore_step *s = op_add(op, STEP_CREATE);
  if (s)
    s->exclusive = exclusive;
}

void objstore_write_op_cmp_version(struct objstore_write_op *op,
                                   enum objstore_cmp cmp, uint64_t version)
{
  struct objstore_step *s = op_add(op, STEP_CMP_VERSION);
  if (s) {
    s->cmp = cmp;
    s->version = version;
  }
}

void objstore_write_op_cmp_xattr(struct objstore_write_op *op,
                                 const char *name, enum objstore_cmp cmp,
                                 const void *value, size_t len)
{
  struct objstore_step *s = op_add(op, STEP_CMP_XATTR);
  if (s)
    s->cmp = cmp;
  step_set_kv(op, s, "xattr name", OBJSTORE_MAX_XATTR_NAME, name, value, len);
}

void objstore_write_op_write(struct objstore_write_op *op, uint64_t off,
                             const void *buf, size_t len)
{
  struct objstore_step *s = op_add(op, STEP_WRITE);
  if (s) {
    s->off = off;
    s->len = len;
    s->data = buf;
  }
}

void objstore_write_op_write_full(struct objstore_write_op *op,
                                  const void *buf, size_t len)
{
  struct objstore_step *s = op_add(op, STEP_WRITE_FULL);
  if (s) {
    s->len = len;
    s->data = buf;
  }
}

void objstore_write_op_zero(struct objstore_write_op *op, uint64_t off,
                            uint64_t len)
{
  struct objstore_step *s = op_add(op, STEP_ZERO);
  if (s) {
    s->off = off;
    s->len = len;
  }
}

void objstore_write_op_truncate(struct objstore_write_op *op, uint64_t size)
{
  struct objstore_step *s = op_add(op, STEP_TRUNCATE);
  if (s)
    s->off = size;
}

void objstore_write_op_remove(struct objstore_write_op *op)
{
  op_add(op, STEP_REMOVE);
}

void objstore_write_op_setxattr(struct objstore_write_op *op, const char *name,
                                const void *value, size_t len)
{
  step_set_kv(op, op_add(op, STEP_SETXATTR), "xattr name",
              OBJSTORE_MAX_XATTR_NAME, name, value, len);
}

void objstore_write_op_rmxattr(struct objstore_write_op *op, const char *name)
{
  step_set_kv(op, op_add(op, STEP_RMXATTR), "xattr name",
              OBJSTORE_MAX_XATTR_NAME, name, NULL, 0);
}

void objstore_write_op_omap_set(struct objstore_write_op *op, const char *key,
                                const void *value, size_t len)
{
  step_set_kv(op, op_add(op, STEP_OMAP_SET), "omap key", OBJSTORE_MAX_OMAP_KEY,
              key, value, len);
}

void objstore_write_op_omap_rm(struct objstore_write_op *op, const char *key)
{
  step_set_kv(op, op_add(op, STEP_OMAP_RM), "omap key", OBJSTORE_MAX_OMAP_KEY,
              key, NULL, 0);
}

void objstore_write_op_omap_clear(struct objstore_write_op *op)
{
  op_add(op, STEP_OMAP_CLEAR);
}

bool objstore_cmp_u64(enum objstore_cmp cmp, uint64_t a, uint64_t b)
{
  switch (cmp) {
  case OBJSTORE_CMP_EQ: return a == b;
  case OBJSTORE_CMP_NE: return a != b;
  case OBJSTORE_CMP_GT: return a > b;
  case OBJSTORE_CMP_GTE: return a >= b;
  case OBJSTORE_CMP_LT: return a < b;
  case OBJSTORE_CMP_LTE: return a <= b;
  }
  return false;
}

bool objstore_cmp_bytes(enum objstore_cmp cmp, const void *a, size_t alen,
                        const void *b, size_t blen)
{
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c == 0)
    c = alen < blen ? -1 : alen > blen ? 1 : 0;
  c = c < 0 ? -1 : c > 0;
  /* Map the ordering onto u64 comparison of (c+1) against 1. */
  return objstore_cmp_u64(cmp, (uint64_t)(c + 1), 1);
}

const char *objstore_cmp_name(enum objstore_cmp cmp)
{
  static const char *const names[] = {"==", "!=", ">", ">=", "<", "<="};
  return (unsigned)cmp < 6 ? names[cmp] : "?";
}
