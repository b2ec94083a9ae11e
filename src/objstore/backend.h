/* The backend interface behind objstore.h.  The generic layer (objstore.c)
 * keeps the cluster's pool registry, validates every argument and builds
 * write ops; a backend stores objects.  A backend's pool handle serves one
 * namespace of one pool and must accept every call from several threads at
 * once (objstore.h promises that to its users).
 *
 * Fields may only be added at the end; SIZE is sizeof the struct the
 * backend was built with. */
#ifndef LBD_OBJSTORE_BACKEND_H
#define LBD_OBJSTORE_BACKEND_H

#include "objstore/objstore.h"
#include "util/extents.h"

enum objstore_step_type {
  STEP_ASSERT_EXISTS,
  STEP_CREATE,
  STEP_CMP_VERSION,
  STEP_CMP_XATTR,
  STEP_WRITE,
  STEP_WRITE_FULL,
  STEP_ZERO,
  STEP_TRUNCATE,
  STEP_REMOVE,
  STEP_SETXATTR,
  STEP_RMXATTR,
  STEP_OMAP_SET,
  STEP_OMAP_RM,
  STEP_OMAP_CLEAR,
};

struct objstore_step {
  enum objstore_step_type type;
  bool exclusive;          /* CREATE */
  enum objstore_cmp cmp;   /* CMP_* */
  uint64_t off, len;       /* WRITE, ZERO; TRUNCATE: off = size; */
  uint64_t version;        /* CMP_VERSION */
  const void *data;        /* WRITE, WRITE_FULL: the caller's buffer */
  char *name;              /* xattr name or omap key (owned) */
  void *value;             /* xattr or omap value (owned) */
  size_t vlen;
};

struct objstore_write_op {
  struct objstore_step *steps;
  size_t nsteps, cap;
  int error;               /* first error met while building, or 0 */
  char errmsg[256];
};

/* True if A CMP B, comparing bytes then lengths (a prefix is smaller). */
bool objstore_cmp_bytes(enum objstore_cmp cmp, const void *a, size_t alen,
                        const void *b, size_t blen);
bool objstore_cmp_u64(enum objstore_cmp cmp, uint64_t a, uint64_t b);
const char *objstore_cmp_name(enum objstore_cmp cmp);

struct objstore_backend_pool; /* the backend's own state */

struct objstore_backend {
  size_t size;
  const char *name;

  /* Make empty storage for pool ID at PATH (a directory the backend owns),
   * or take over what a crashed create of the same pool left there. */
  int (*pool_init)(const char *path, const char *cluster_uuid, int64_t id);
  /* Remove everything pool_init and later use put in PATH. */
  int (*pool_destroy)(const char *path);
  int (*pool_open)(const char *path, int64_t id, const char *ns,
                   const char *client, struct objstore_backend_pool **out);
  void (*pool_close)(struct objstore_backend_pool *bp);
  int (*flush)(struct objstore_backend_pool *bp);

  int (*snap_create)(struct objstore_backend_pool *bp, uint64_t *snapid);
  int (*snap_remove)(struct objstore_backend_pool *bp, uint64_t snapid);

  /* MAP, if not NULL, receives the data extents of the range read. */
  ssize_t (*read)(struct objstore_backend_pool *bp, const char *oid,
                  uint64_t snapid, uint64_t off, size_t len, void *buf,
                  struct extent_set *map);
  int (*stat)(struct objstore_backend_pool *bp, const char *oid,
              uint64_t snapid, struct objstore_stat *st);
  int (*list_snaps)(struct objstore_backend_pool *bp, const char *oid,
                    struct objstore_snap_set *set);
  int (*getxattr)(struct objstore_backend_pool *bp, const char *oid,
                  const char *name, void **value, size_t *len);
  int (*getxattrs)(struct objstore_backend_pool *bp, const char *oid,
                   struct objstore_kv **kvs, size_t *count);
  int (*omap_get)(struct objstore_backend_pool *bp, const char *oid,
                  const char *start_after, size_t max,
                  struct objstore_kv **kvs, size_t *count, bool *more);
  int (*omap_get_keys)(struct objstore_backend_pool *bp, const char *oid,
                       const char *const *keys, size_t nkeys,
                       struct objstore_kv **kvs, size_t *count);
  int (*list)(struct objstore_backend_pool *bp, unsigned flags,
              const char *after_ns, const char *after_name, size_t max,
              struct objstore_list_entry **entries, size_t *count,
              bool *more);
  int (*operate)(struct objstore_backend_pool *bp, const char *oid,
                 const struct objstore_write_op *op,
                 const struct objstore_snapc *snapc, unsigned flags);

  int (*watch)(struct objstore_backend_pool *bp, const char *oid,
               const char *desc, bool rw, uint64_t *handle);
  int (*unwatch)(struct objstore_backend_pool *bp, const char *oid,
                 uint64_t handle);
  int (*list_watchers)(struct objstore_backend_pool *bp, const char *oid,
                       struct objstore_holder **holders, size_t *count);
  int (*lock)(struct objstore_backend_pool *bp, const char *oid,
              const char *name, enum objstore_lock_type type,
              const char *cookie, const char *tag, const char *desc);
  int (*unlock)(struct objstore_backend_pool *bp, const char *oid,
                const char *name, const char *cookie);
  int (*break_lock)(struct objstore_backend_pool *bp, const char *oid,
                    const char *name, const char *client, const char *cookie);
  int (*list_lockers)(struct objstore_backend_pool *bp, const char *oid,
                      const char *name, struct objstore_holder **holders,
                      size_t *count);
  int (*check)(struct objstore_backend_pool *bp, bool repair,
               struct objstore_check_report *report);
  /* NULL if the backend cannot (objstore_create_history gives ENOTSUP). */
  int (*create_history)(struct objstore_backend_pool *bp, const char *oid,
                        const struct objstore_history_state *states, size_t n,
                        uint64_t seq);
  /* NULL if the backend has no use for the hint (objstore_prefetch). */
  void (*prefetch)(struct objstore_backend_pool *bp, const char *oid,
                   uint64_t snapid, uint64_t off, uint64_t len);
};

extern const struct objstore_backend objstore_local_backend;
#ifdef LBD_HAVE_RADOS
/* Its pool_init/destroy/open take the pool's registry config where local
 * takes a directory: "rados://POOL?conf=FILE" (src/objstore/rados/rados.h). */
extern const struct objstore_backend objstore_rados_backend;
#endif

#endif
