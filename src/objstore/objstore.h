/* objstore: the RADOS-like object store that lbd images live on.
 *
 * This header is the whole contract between the image layer and a storage
 * backend (local files + LMDB today, librados later).  The conformance suite
 * in tests/objstore/ is written against it alone.
 *
 * Conventions
 *  - Every call returns 0 (or a non-negative count where stated) or a
 *    negative errno; lbd_last_error() then says what failed and why.
 *  - Errno vocabulary: ENOENT (no such pool/object/xattr/key/lock/snap),
 *    EEXIST (exclusive create of something that exists), ECANCELED (a
 *    compare step failed), EINVAL (malformed argument), ENAMETOOLONG (name
 *    over its limit), EBUSY (lock held by another owner), ENOTEMPTY (pool
 *    directory in use), ENOSPC (store full), EIO (store damaged).
 *  - All handles are safe to use from several threads at once, and many
 *    processes may open one cluster at once.
 *
 * Atomicity and durability
 *  - A write op is all or nothing, also across kill -9 of the process that
 *    runs it.  One exception, the cost of a fast data path: an op made of a
 *    single write, zero or truncate step (alone, or behind an assert-exists
 *    guard) whose object's snapshot state needs no change is applied in place (a write to a missing object first
 *    creates it empty, as an op of its own), and if its process dies during
 *    that step the range may be partly written at 4 KiB page granularity,
 *    as a disk leaves an interrupted write.  It was never acknowledged.
 *  - Like a disk with a volatile write cache, a returned op survives the
 *    death of its process; it survives a power loss once objstore_flush()
 *    returned after it, or at once when run with OBJSTORE_OP_FUA.  A power
 *    loss may undo unflushed ops, but an all-or-nothing op stays all or
 *    nothing, and flushed data is never lost.
 *  - An object's version grows with every op that changes its metadata or
 *    replaces its data (create, write_full, remove, truncate, xattr, omap,
 *    any other compound op); an in-place write or zero may leave it
 *    unchanged.
 */
#ifndef LBD_OBJSTORE_H
#define LBD_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits, in bytes, without the terminating NUL. */
#define OBJSTORE_MAX_POOL_NAME 128
#define OBJSTORE_MAX_NS 128
#define OBJSTORE_MAX_OBJECT_NAME 256
#define OBJSTORE_MAX_XATTR_NAME 255
#define OBJSTORE_MAX_OMAP_KEY 400
#define OBJSTORE_MAX_COOKIE 128

/* Snapshot id of the live object (RADOS' CEPH_NOSNAP). */
#define OBJSTORE_SNAP_HEAD UINT64_MAX

struct objstore_cluster;
struct objstore_pool;  /* one pool and one namespace, like a rados ioctx */
struct objstore_write_op;

/* ---- cluster ---------------------------------------------------------- */

/* Create a new, empty cluster in DIR (made if missing; must be empty). */
int objstore_cluster_create(const char *dir);
int objstore_cluster_open(const char *dir, struct objstore_cluster **out);
void objstore_cluster_close(struct objstore_cluster *cluster);
/* A name for this open handle, unique among live ones ("client.PID.N"). */
const char *objstore_cluster_client(const struct objstore_cluster *cluster);

/* ---- pools ------------------------------------------------------------ */

struct objstore_pool_info {
  int64_t id;
  char name[OBJSTORE_MAX_POOL_NAME + 1];
  char backend[16]; /* "local" or "rados" */
  char *path;       /* where its data lives (rados: its config, as given to
                       objstore_pool_create_ext); owned by the info */
};

/* DIR NULL: inside the cluster directory.  Otherwise DIR is made if missing
 * and must be empty: the pool's data and metadata live there (another disk). */
int objstore_pool_create(struct objstore_cluster *cluster, const char *name,
                         const char *dir, int64_t *id_out);
/* A pool on backend BACKEND ("local": CONFIG is DIR as above, may be NULL;
 * "rados": CONFIG is "rados://RADOS_POOL?conf=CEPH_CONF" — the RADOS pool is
 * created if missing — see objstore_rados_config()).  ENOTSUP for a backend
 * this build lacks. */
int objstore_pool_create_ext(struct objstore_cluster *cluster,
                             const char *name, const char *backend,
                             const char *config, int64_t *id_out);
/* Write the config of a rados pool into BUF: "rados://POOL?conf=CONF".
 * EINVAL if POOL holds '?' or '&' or CONF '&'; ENAMETOOLONG if BUF is short. */
int objstore_rados_config(char *buf, size_t size, const char *rados_pool,
                          const char *ceph_conf);
/* Removes the pool and every object in it (a RADOS pool: only if lbd made
 * it; one that existed before is unregistered and left as it was). */
int objstore_pool_remove(struct objstore_cluster *cluster, const char *name);
int objstore_pool_lookup(struct objstore_cluster *cluster, const char *name,
                         int64_t *id_out);
int objstore_pool_get_info(struct objstore_cluster *cluster, int64_t id,
                           struct objstore_pool_info *info);
/* All pools, sorted by id; free with objstore_pool_info_free(). */
int objstore_pool_list(struct objstore_cluster *cluster,
                       struct objstore_pool_info **infos, size_t *count);
void objstore_pool_info_free(struct objstore_pool_info *infos, size_t count);

/* Open pool ID for object IO in namespace NS ("" is the default one).
 * Namespaces need no creation: they exist while they hold objects. */
int objstore_pool_open(struct objstore_cluster *cluster, int64_t id,
                       const char *ns, struct objstore_pool **out);
void objstore_pool_close(struct objstore_pool *pool);
int64_t objstore_pool_id(const struct objstore_pool *pool);
const char *objstore_pool_ns(const struct objstore_pool *pool);

/* Make every op returned so far on this pool (all namespaces) durable. */
int objstore_flush(struct objstore_pool *pool);

/* ---- self-managed snapshots ------------------------------------------- */

/* A write's snapshot context: SEQ is the newest snap id the writer knows,
 * SNAPS the existing snap ids, newest first, none above SEQ. */
struct objstore_snapc {
  uint64_t seq;
  const uint64_t *snaps;
  size_t nsnaps;
};

/* Allocate a new snap id, greater than every id allocated before in the pool. */
int objstore_snap_create(struct objstore_pool *pool, uint64_t *snapid_out);
/* Release SNAPID: reads at it fail with ENOENT, and object clones that no
 * other snap needs are freed.  Resumable: after a crash, call it again. */
int objstore_snap_remove(struct objstore_pool *pool, uint64_t snapid);

/* ---- objects: reads ---------------------------------------------------- */

struct objstore_extent {
  uint64_t off;
  uint64_t len;
};

struct objstore_stat {
  uint64_t size;
  uint64_t version;
  int64_t mtime_ns; /* time of the last change */
};

/* Read up to LEN bytes at OFF of OID as of SNAPID (OBJSTORE_SNAP_HEAD for
 * the live object).  Returns the number of bytes read: short at the end of
 * the object, 0 past it.  ENOENT if the object did not exist at SNAPID. */
ssize_t objstore_read(struct objstore_pool *pool, const char *oid,
                      uint64_t snapid, uint64_t off, size_t len, void *buf);
/* As objstore_read, and also list which extents of [OFF, OFF+LEN) hold data
 * (sorted, disjoint; the rest reads as zeroes).  BUF may be NULL to get only
 * the map.  *EXTENTS is malloc'd; free it. */
ssize_t objstore_sparse_read(struct objstore_pool *pool, const char *oid,
                             uint64_t snapid, uint64_t off, size_t len,
                             void *buf, struct objstore_extent **extents,
                             size_t *nextents);
int objstore_stat(struct objstore_pool *pool, const char *oid, uint64_t snapid,
                  struct objstore_stat *st);

/* A hint that [OFF, OFF+LEN) of OID at SNAPID (OBJSTORE_SNAP_HEAD: its
 * head) will be read soon: the backend may start reading it into memory.
 * Nothing is promised and nothing is reported (a missing object is no
 * error). */
void objstore_prefetch(struct objstore_pool *pool, const char *oid,
                       uint64_t snapid, uint64_t off, uint64_t len);

/* What snapshots hold of an object, oldest clone first. */
struct objstore_clone_info {
  uint64_t cloneid;  /* newest snap id this clone serves */
  uint64_t *snaps;   /* snap ids it serves, oldest first */
  size_t nsnaps;
  uint64_t size;
  /* Extents identical in this clone and the next newer one (or the head). */
  struct objstore_extent *overlap;
  size_t noverlap;
};
struct objstore_snap_set {
  uint64_t seq;          /* snap context seq of the object's last write */
  bool head_exists;
  uint64_t head_size;
  struct objstore_clone_info *clones;
  size_t nclones;
};
int objstore_list_snaps(struct objstore_pool *pool, const char *oid,
                        struct objstore_snap_set *set);
void objstore_snap_set_free(struct objstore_snap_set *set);

/* ---- xattrs and omap (of the live object; snapshots keep data only) ---- */

/* Copies the value (malloc'd, NUL-terminated for convenience). */
int objstore_getxattr(struct objstore_pool *pool, const char *oid,
                      const char *name, void **value, size_t *len);

struct objstore_kv {
  char *key;
  void *value; /* NUL-terminated for convenience */
  size_t len;
};
void objstore_kv_free(struct objstore_kv *kvs, size_t count);

int objstore_getxattrs(struct objstore_pool *pool, const char *oid,
                       struct objstore_kv **kvs, size_t *count);
/* Up to MAX keys (0: no limit) greater than START_AFTER (NULL or "" for
 * the first), sorted bytewise; *MORE tells whether keys remain after the
 * last one. */
int objstore_omap_get(struct objstore_pool *pool, const char *oid,
                      const char *start_after, size_t max,
                      struct objstore_kv **kvs, size_t *count, bool *more);
int objstore_omap_get_keys(struct objstore_pool *pool, const char *oid,
                           const char *const *keys, size_t nkeys,
                           struct objstore_kv **kvs, size_t *count);

/* ---- listing ---------------------------------------------------------- */

enum {
  OBJSTORE_LIST_ALL_NS = 1 << 0, /* every namespace, not just the pool's */
};
struct objstore_list_entry {
  char *ns;
  char *name;
};
/* Up to MAX objects (0: no limit) that exist at head, sorted by
 * (namespace, name), after the entry (AFTER_NS, AFTER_NAME) (both NULL:
 * from the start). */
int objstore_list(struct objstore_pool *pool, unsigned flags,
                  const char *after_ns, const char *after_name, size_t max,
                  struct objstore_list_entry **entries, size_t *count,
                  bool *more);
void objstore_list_free(struct objstore_list_entry *entries, size_t count);

/* ---- write ops --------------------------------------------------------- */

enum objstore_cmp {
  OBJSTORE_CMP_EQ,
  OBJSTORE_CMP_NE,
  OBJSTORE_CMP_GT,
  OBJSTORE_CMP_GTE,
  OBJSTORE_CMP_LT,
  OBJSTORE_CMP_LTE,
};

enum {
  OBJSTORE_OP_FUA = 1 << 0, /* durable before the call returns */
};

/* A write op is a list of steps run in order, all or nothing.  Buffers and
 * strings passed to a step are copied, except write data, which must stay
 * valid until the op has been run. */
struct objstore_write_op *objstore_write_op_new(void);
void objstore_write_op_free(struct objstore_write_op *op);

/* Guards: fail the whole op when false. */
void objstore_write_op_assert_exists(struct objstore_write_op *op);
/* EEXIST if the object exists and EXCLUSIVE; else create it if missing. */
void objstore_write_op_create(struct objstore_write_op *op, bool exclusive);
/* ECANCELED unless (object's version) CMP VERSION.  A missing object has
 * version 0. */
void objstore_write_op_cmp_version(struct objstore_write_op *op,
                                   enum objstore_cmp cmp, uint64_t version);
/* ECANCELED unless (xattr NAME's value) CMP VALUE, bytewise, a missing
 * xattr comparing as empty. */
void objstore_write_op_cmp_xattr(struct objstore_write_op *op,
                                 const char *name, enum objstore_cmp cmp,
                                 const void *value, size_t len);

/* Data: writes create a missing object. */
void objstore_write_op_write(struct objstore_write_op *op, uint64_t off,
                             const void *buf, size_t len);
void objstore_write_op_write_full(struct objstore_write_op *op,
                                  const void *buf, size_t len);
/* Punch a hole: the range reads as zeroes and holds no data.  It does not
 * change the object's size; a missing object is left missing. */
void objstore_write_op_zero(struct objstore_write_op *op, uint64_t off,
                            uint64_t len);
void objstore_write_op_truncate(struct objstore_write_op *op, uint64_t size);
/* Remove the object (ENOENT if missing, as in RADOS). */
void objstore_write_op_remove(struct objstore_write_op *op);

/* Metadata: create a missing object. */
void objstore_write_op_setxattr(struct objstore_write_op *op, const char *name,
                                const void *value, size_t len);
void objstore_write_op_rmxattr(struct objstore_write_op *op, const char *name);
void objstore_write_op_omap_set(struct objstore_write_op *op, const char *key,
                                const void *value, size_t len);
void objstore_write_op_omap_rm(struct objstore_write_op *op, const char *key);
void objstore_write_op_omap_clear(struct objstore_write_op *op);

/* Run OP on OID.  SNAPC may be NULL (no snapshots).  FLAGS: OBJSTORE_OP_*. */
int objstore_write_op_operate(struct objstore_pool *pool, const char *oid,
                              struct objstore_write_op *op,
                              const struct objstore_snapc *snapc,
                              unsigned flags);

/* One-step conveniences. */
int objstore_write(struct objstore_pool *pool, const char *oid,
                   const struct objstore_snapc *snapc, uint64_t off,
                   const void *buf, size_t len);
int objstore_write_full(struct objstore_pool *pool, const char *oid,
                        const struct objstore_snapc *snapc, const void *buf,
                        size_t len);
int objstore_zero(struct objstore_pool *pool, const char *oid,
                  const struct objstore_snapc *snapc, uint64_t off,
                  uint64_t len);
int objstore_truncate(struct objstore_pool *pool, const char *oid,
                      const struct objstore_snapc *snapc, uint64_t size);
int objstore_remove(struct objstore_pool *pool, const char *oid,
                    const struct objstore_snapc *snapc);
int objstore_setxattr(struct objstore_pool *pool, const char *oid,
                      const char *name, const void *value, size_t len);
int objstore_omap_set(struct objstore_pool *pool, const char *oid,
                      const char *key, const void *value, size_t len);
int objstore_omap_rm(struct objstore_pool *pool, const char *oid,
                     const char *key);

/* ---- whole histories (deep copy) ------------------------------------- */

/* One state of an object: what it held at some snapshots, or at its head. */
struct objstore_history_state {
  const uint64_t *snaps;  /* the snap ids it serves, ascending (head: none) */
  size_t nsnaps;
  bool exists;            /* false: the object did not exist at SNAPS */
  const void *buf;        /* its bytes [0, SIZE) */
  uint64_t size;
  const struct objstore_extent *data; /* extents of BUF holding data, sorted */
  size_t ndata;           /* (the rest of [0, SIZE) are holes) */
};
/* Create OID, which must have neither a head nor snapshot clones (EEXIST),
 * with its whole history at once: STATES[0..N-2] the snapshot states, oldest
 * first, STATES[N-1] the head (which must exist).  SEQ is the snap context
 * seq of the head: snap ids above it read the head.  All or nothing, like
 * a write op; writers racing on OID either come first (EEXIST here) or see
 * the whole history.  ENOTSUP where a backend cannot do it atomically. */
int objstore_create_history(struct objstore_pool *pool, const char *oid,
                            const struct objstore_history_state *states,
                            size_t n, uint64_t seq);

/* ---- watchers and locks ------------------------------------------------ */

/* Both belong to the handle (process) that took them and vanish when it
 * dies or closes the pool.  The object must exist. */

struct objstore_holder {
  char client[64];  /* objstore_cluster_client() of the holder */
  char *cookie;
  char *desc;
  char *tag;        /* locks only */
  pid_t pid;
  bool exclusive;   /* locks: exclusive or shared; watches: read-write */
};
void objstore_holders_free(struct objstore_holder *holders, size_t count);

/* Register a watch; DESC is free text shown to others (e.g. "rw").  *HANDLE
 * names it for unwatch, and is its cookie in the list. */
int objstore_watch(struct objstore_pool *pool, const char *oid,
                   const char *desc, bool rw, uint64_t *handle);
int objstore_unwatch(struct objstore_pool *pool, const char *oid,
                     uint64_t handle);
int objstore_list_watchers(struct objstore_pool *pool, const char *oid,
                           struct objstore_holder **holders, size_t *count);

enum objstore_lock_type {
  OBJSTORE_LOCK_EXCLUSIVE,
  OBJSTORE_LOCK_SHARED,
};
/* Take lock NAME on OID for COOKIE.  EBUSY if another live owner holds it
 * in a conflicting way (an exclusive lock, or a shared one with another
 * TAG); EEXIST if this handle holds it with COOKIE already.  Locks of dead
 * processes do not count. */
int objstore_lock(struct objstore_pool *pool, const char *oid,
                  const char *name, enum objstore_lock_type type,
                  const char *cookie, const char *tag, const char *desc);
/* ENOENT unless this handle holds NAME with COOKIE. */
int objstore_unlock(struct objstore_pool *pool, const char *oid,
                    const char *name, const char *cookie);
/* Remove CLIENT's hold of NAME with COOKIE, live or not. */
int objstore_break_lock(struct objstore_pool *pool, const char *oid,
                        const char *name, const char *client,
                        const char *cookie);
/* Live holders of NAME (dead ones are dropped). */
int objstore_list_lockers(struct objstore_pool *pool, const char *oid,
                          const char *name, struct objstore_holder **holders,
                          size_t *count);

/* ---- maintenance ------------------------------------------------------- */

struct objstore_check_report {
  uint64_t objects;        /* heads and clones checked */
  uint64_t orphans;        /* data files nothing refers to (removed if repair) */
  uint64_t missing;        /* records whose data file is gone */
};
/* Check that metadata and data agree; with REPAIR, remove leftovers of
 * crashed ops.  Safe while other processes use the pool. */
int objstore_pool_check(struct objstore_pool *pool, bool repair,
                        struct objstore_check_report *report);

#endif
