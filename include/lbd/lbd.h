/* liblbd: live block devices.  The public C library, modelled on librbd.
 *
 * Every call returns 0 (or a count where stated) or a negative errno, and
 * lbd_last_error() then describes what failed and why, for the user.
 * Handles may be used from several threads at once. */
#ifndef LBD_LBD_H
#define LBD_LBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LBD_VERSION_MAJOR 0
#define LBD_VERSION_MINOR 1
#define LBD_VERSION_PATCH 0

/* The message of the last failed call in this thread ("" if none). */
const char *lbd_last_error(void);

typedef struct lbd_cluster lbd_cluster_t;
typedef struct lbd_ioctx lbd_ioctx_t;
typedef struct lbd_image lbd_image_t;

/* ---- clusters and pools --------------------------------------------- */

/* Open the cluster in DIR; with CREATE, make it (and its pool "rbd") if DIR
 * holds none yet. */
int lbd_cluster_open(const char *dir, bool create, lbd_cluster_t **out);
void lbd_cluster_close(lbd_cluster_t *cluster);

/* DIR NULL: inside the cluster directory; else the pool's own directory. */
int lbd_pool_create(lbd_cluster_t *cluster, const char *name, const char *dir);
/* A pool whose objects live in a Ceph cluster: RADOS pool RADOS_POOL (NULL:
 * NAME), made if missing, of the cluster CEPH_CONF describes (NULL: Ceph's
 * usual places, $CEPH_CONF).  ENOTSUP if lbd was built without librados. */
int lbd_pool_create_rados(lbd_cluster_t *cluster, const char *name,
                          const char *ceph_conf, const char *rados_pool);
/* Removes the pool with every image in it. */
int lbd_pool_remove(lbd_cluster_t *cluster, const char *name);
/* Prepare IO's pool (and namespace) to hold images: its image directory
 * and namespace registry exist afterwards.  Idempotent. */
int lbd_pool_init(lbd_ioctx_t *io);

struct lbd_pool_info {
  int64_t id;
  char *name;
  char *path;
};
int lbd_pool_list(lbd_cluster_t *cluster, struct lbd_pool_info **pools,
                  size_t *count);
void lbd_pool_list_free(struct lbd_pool_info *pools, size_t count);

/* IO context on POOL and namespace NS ("" or NULL: the default one). */
int lbd_ioctx_create(lbd_cluster_t *cluster, const char *pool, const char *ns,
                     lbd_ioctx_t **out);
void lbd_ioctx_destroy(lbd_ioctx_t *io);

int lbd_namespace_create(lbd_ioctx_t *io, const char *name);
int lbd_namespace_remove(lbd_ioctx_t *io, const char *name);
/* Names malloc'd, and the array; free with lbd_names_free(). */
int lbd_namespace_list(lbd_ioctx_t *io, char ***names, size_t *count);
void lbd_names_free(char **names, size_t count);

/* ---- images ---------------------------------------------------------- */

#define LBD_FEATURE_LAYERING (1ULL << 0)
#define LBD_FEATURE_STRIPINGV2 (1ULL << 1)
#define LBD_FEATURE_EXCLUSIVE_LOCK (1ULL << 2)
#define LBD_FEATURE_OBJECT_MAP (1ULL << 3)
#define LBD_FEATURE_FAST_DIFF (1ULL << 4)
#define LBD_FEATURE_DEEP_FLATTEN (1ULL << 5)
#define LBD_FEATURE_DATA_POOL (1ULL << 7)
/* The default set: rbd's, less fast-diff, which arrives with snapshots. */
#define LBD_FEATURES_DEFAULT                                                 \
  (LBD_FEATURE_LAYERING | LBD_FEATURE_EXCLUSIVE_LOCK |                       \
   LBD_FEATURE_OBJECT_MAP | LBD_FEATURE_DEEP_FLATTEN)

/* Parse "layering,exclusive-lock,..." (rbd's names, or a number) into a
 * feature mask; EINVAL naming the unknown feature. */
int lbd_features_parse(const char *text, uint64_t *features);
/* The comma-separated names of FEATURES into BUF. */
void lbd_features_format(uint64_t features, char *buf, size_t size);

struct lbd_image_options {
  uint64_t size;
  uint64_t object_size;  /* 0: 4 MiB */
  uint64_t stripe_unit;  /* 0: the object size */
  uint64_t stripe_count; /* 0: 1 */
  uint64_t features;     /* 0: LBD_FEATURES_DEFAULT */
  const char *data_pool; /* NULL: data in the image's own pool */
  bool thick_provision;  /* a migration target: copy-ups allocate whole
                            objects, zeroes included (default: sparse) */
};

int lbd_create(lbd_ioctx_t *io, const char *name,
               const struct lbd_image_options *opts);
int lbd_remove(lbd_ioctx_t *io, const char *name);
int lbd_rename(lbd_ioctx_t *io, const char *name, const char *new_name);
/* As lbd_remove, telling PROGRESS (objects reached, total) as it goes;
 * non-zero from it stops the removal (ECANCELED; run it again to finish). */
typedef int (*lbd_progress_fn_t)(uint64_t done, uint64_t total, void *arg);
int lbd_remove_with_progress(lbd_ioctx_t *io, const char *name,
                             lbd_progress_fn_t progress, void *arg);
/* Image names, sorted. */
int lbd_list(lbd_ioctx_t *io, char ***names, size_t *count);

enum {
  LBD_OPEN_READ_ONLY = 1 << 0,
};
/* Open image NAME, at snapshot SNAP if not NULL (then read-only). */
int lbd_open(lbd_ioctx_t *io, const char *name, const char *snap,
             unsigned flags, lbd_image_t **out);
int lbd_close(lbd_image_t *image);

ssize_t lbd_read(lbd_image_t *image, uint64_t off, size_t len, void *buf);
ssize_t lbd_write(lbd_image_t *image, uint64_t off, size_t len,
                  const void *buf);
/* Both leave the range reading as zeroes and, where whole blocks allow it,
 * unallocated. */
int lbd_discard(lbd_image_t *image, uint64_t off, uint64_t len);
int lbd_write_zeroes(lbd_image_t *image, uint64_t off, uint64_t len);
/* Every write returned before is durable. */
int lbd_flush(lbd_image_t *image);

/* Grow or shrink (shrinking drops the data past SIZE). */
int lbd_resize(lbd_image_t *image, uint64_t size);

struct lbd_image_info {
  char id[32];
  char name[256];
  uint64_t size;
  uint64_t object_size;
  int order;
  uint64_t stripe_unit;
  uint64_t stripe_count;
  uint64_t features;
  uint64_t num_objs;
  int64_t data_pool_id; /* -1: none */
  int64_t create_time;  /* seconds since the epoch */
  char block_name_prefix[64];
};
int lbd_stat(lbd_image_t *image, struct lbd_image_info *info);
int lbd_get_size(lbd_image_t *image, uint64_t *size);

/* ---- watchers ------------------------------------------------------- */

struct lbd_watcher {
  char client[64];
  pid_t pid;
  bool rw;
};
int lbd_watchers_list(lbd_image_t *image, struct lbd_watcher **watchers,
                      size_t *count);
void lbd_watchers_list_free(struct lbd_watcher *watchers, size_t count);

/* ---- snapshots --------------------------------------------------------- */

struct lbd_snap_info {
  uint64_t id;
  char name[256];
  uint64_t size;     /* of the image when the snapshot was taken */
  int64_t timestamp; /* seconds since the epoch */
  bool protected_;
};

/* Take a snapshot of the image as it is now (takes the exclusive lock);
 * open it read-only with lbd_open(io, image, name, ...). */
int lbd_snap_create(lbd_image_t *image, const char *name);
/* Remove it; its data is freed unless another snapshot still needs it. */
int lbd_snap_remove(lbd_image_t *image, const char *name);
int lbd_snap_rename(lbd_image_t *image, const char *name, const char *new_name);
/* A protected snapshot cannot be removed (and, later, can be cloned). */
int lbd_snap_protect(lbd_image_t *image, const char *name);
int lbd_snap_unprotect(lbd_image_t *image, const char *name);
/* Make the image what it was at snapshot NAME, size included (progress:
 * objects done of total; run again after a crash to finish). */
int lbd_snap_rollback(lbd_image_t *image, const char *name,
                      lbd_progress_fn_t progress, void *arg);
/* At most LIMIT snapshots (0: no limit); snap create then fails EDQUOT. */
int lbd_snap_limit_set(lbd_image_t *image, uint64_t limit);
/* Snapshots, oldest first. */
int lbd_snap_list(lbd_image_t *image, struct lbd_snap_info **snaps,
                  size_t *count);
void lbd_snap_list_free(struct lbd_snap_info *snaps, size_t count);

/* ---- clones (feature layering) ----------------------------------------- */

/* Clone snapshot SNAP of image PARENT (in PARENT_IO) as image NAME in IO.
 * The snapshot must be protected (clone format 1).  OPTS gives the clone's
 * layout; its size is ignored (the snapshot's), a zero object size means
 * the parent's.  The clone reads its parent wherever it has no data of its
 * own, up to the overlap (the snapshot's size, shrunk by any resize). */
int lbd_clone(lbd_ioctx_t *parent_io, const char *parent, const char *snap,
              lbd_ioctx_t *io, const char *name,
              const struct lbd_image_options *opts);

struct lbd_parent_info {
  char pool[129];
  char ns[129];
  char image[256];     /* its name, or its id if it has none (trash) */
  char image_id[32];
  char snap[256];
  uint64_t snap_id;
  uint64_t overlap;    /* bytes of the clone that read the parent */
};
/* The parent of the image (at the snapshot it is open at); ENOENT if it
 * has none. */
int lbd_get_parent(lbd_image_t *image, struct lbd_parent_info *info);

/* The clones of snapshot SNAP of the image (NULL: the snapshot the image is
 * open at), as "pool/[namespace/]name", sorted; free with lbd_names_free. */
int lbd_list_children(lbd_image_t *image, const char *snap, char ***children,
                      size_t *count);

/* Copy up everything the parent has that the clone lacks (objects in
 * parallel), then drop the parent link.  Resumable after a crash: run it
 * again.  A clone with snapshots needs feature deep-flatten (then its
 * snapshots stop depending on the parent too). */
int lbd_flatten(lbd_image_t *image, lbd_progress_fn_t progress, void *arg);

/* ---- live migration --------------------------------------------------- */

/* Link a new image DST (in DST_IO) to image SRC (in SRC_IO) and switch
 * clients to it: SRC goes to the trash (source "migration"), read-only;
 * DST gets SRC's snapshots and metadata and reads SRC wherever it has no
 * data yet.  O(1) in the image size.  OPTS: DST's layout (zero fields:
 * SRC's; a new object size alone carries SRC's default striping along).
 * If SRC is a clone, DST keeps its parent link (commit moves it to DST)
 * unless FLATTEN: then execute copies the parent's data into DST, which
 * will not depend on the parent.  Refused, with nothing
 * changed, if SRC is open elsewhere, locked, migrating, or has clones, or
 * if DST exists.  After a crash, run it again (or abort). */
int lbd_migration_prepare(lbd_ioctx_t *src_io, const char *src,
                          lbd_ioctx_t *dst_io, const char *dst,
                          const struct lbd_image_options *opts, bool flatten);
/* Import-only: link a new image DST (in DST_IO) to the source that SPEC
 * describes (a source-spec, JSON, as rbd's: {"type": "native", "pool_name",
 * "image_name", "snap_name", ...} or {"type": "raw" | "qcow", "stream":
 * {"type": "file" | "http" | "s3", ...}}), which is opened and checked
 * first and never changed.  DST is usable at once; its size is the
 * source's, its snapshots the source's (native: those before the one named;
 * raw: "snapshots"; qcow: its internal snapshots).  Commit leaves the
 * source alone; abort removes DST. */
int lbd_migration_prepare_import(const char *spec, lbd_ioctx_t *dst_io,
                                 const char *dst,
                                 const struct lbd_image_options *opts);
/* IMAGE, in the calls below: the target's name, or the source's (also in
 * the trash), in IO. */
/* Copy every object of the source (with every snapshot) with THREADS
 * threads (0: a default), while clients use the target.  Resumable. */
int lbd_migration_execute(lbd_ioctx_t *io, const char *image, unsigned threads,
                          lbd_progress_fn_t progress, void *arg);
/* Whether the target still needs its source: for the head and every
 * snapshot, the target with and without its source must read the same
 * (client writes are the target's own).  EILSEQ naming the first byte
 * that only the source holds.  Read in parallel; PROGRESS hears bytes. */
int lbd_migration_verify(lbd_ioctx_t *io, const char *image,
                         lbd_progress_fn_t progress, void *arg);
/* After execute: drop the link and remove the source.  EBUSY, naming
 * them, if the target's snapshots have clones, unless FLAGS has
 * LBD_MIGRATION_FORCE (none of them may be open anywhere). */
#define LBD_MIGRATION_FORCE 1u
int lbd_migration_commit_flags(lbd_ioctx_t *io, const char *image,
                               unsigned flags, lbd_progress_fn_t progress,
                               void *arg);
int lbd_migration_commit(lbd_ioctx_t *io, const char *image,
                         lbd_progress_fn_t progress, void *arg);
/* Give the source back with every write clients made to the target, and
 * remove the target (with snapshots taken on it since prepare). */
int lbd_migration_abort(lbd_ioctx_t *io, const char *image,
                        lbd_progress_fn_t progress, void *arg);

struct lbd_migration_status {
  char source_pool[129], source_ns[129], source_image[256], source_id[32];
  char dest_pool[129], dest_ns[129], dest_image[256], dest_id[32];
  char state[16];        /* preparing, prepared, executing, executed,
                            committing, aborting, error */
  char state_desc[128];
  char source_spec[4096]; /* an import's source-spec, keys as "***" */
};
/* ENOENT (EINVAL for an image that exists) if IMAGE is not migrating. */
int lbd_migration_status(lbd_ioctx_t *io, const char *image,
                         struct lbd_migration_status *status);

/* ---- object map (feature object-map) ---------------------------------- */

/* Rebuild the image's object map from the data objects that exist (takes
 * the exclusive lock). */
int lbd_object_map_rebuild(lbd_image_t *image);
/* Count the objects whose state in the object map on disk is wrong. */
int lbd_object_map_check(lbd_image_t *image, uint64_t *wrong);

/* ---- trash ------------------------------------------------------------ */

/* A trashed image leaves the directory (it cannot be opened by name) and
 * keeps its data until it is removed, or restored under a name. */
enum lbd_trash_source {
  LBD_TRASH_SOURCE_USER = 0,      /* lbd_trash_move() */
  LBD_TRASH_SOURCE_MIGRATION = 1, /* the source of a migration */
};

struct lbd_trash_info {
  char id[32];
  char name[256];
  enum lbd_trash_source source;
  int64_t deletion_time;      /* seconds since the epoch */
  int64_t deferment_end_time; /* removable without force from then on */
};

/* Move image NAME to the trash; it may be removed (purged) DELAY seconds
 * from now.  EBUSY while the image is open anywhere. */
int lbd_trash_move(lbd_ioctx_t *io, const char *name, uint64_t delay);
/* The entries, sorted by id; ALL: also those of migrations. */
int lbd_trash_list(lbd_ioctx_t *io, bool all, struct lbd_trash_info **entries,
                   size_t *count);
void lbd_trash_list_free(struct lbd_trash_info *entries, size_t count);
int lbd_trash_get(lbd_ioctx_t *io, const char *id, struct lbd_trash_info *info);
/* Put image ID back under NEW_NAME (NULL: its name); EEXIST if taken. */
int lbd_trash_restore(lbd_ioctx_t *io, const char *id, const char *new_name);
/* Remove image ID and its data; EPERM before its deferment ends unless
 * FORCE. */
int lbd_trash_remove(lbd_ioctx_t *io, const char *id, bool force);
/* Remove every user entry whose deferment ended at or before EXPIRED_BEFORE
 * (seconds since the epoch; 0: now); *REMOVED (may be NULL) counts them. */
int lbd_trash_purge(lbd_ioctx_t *io, int64_t expired_before, size_t *removed);
/* "user" or "migration". */
const char *lbd_trash_source_name(enum lbd_trash_source source);

/* ---- image metadata (key/value pairs kept in the image header) -------- */

struct lbd_metadata {
  char *key;
  char *value;
};
/* *VALUE is malloc'd; ENOENT if KEY is not set. */
int lbd_metadata_get(lbd_image_t *image, const char *key, char **value);
int lbd_metadata_set(lbd_image_t *image, const char *key, const char *value);
/* ENOENT if KEY is not set. */
int lbd_metadata_remove(lbd_image_t *image, const char *key);
/* Every pair, sorted by key. */
int lbd_metadata_list(lbd_image_t *image, struct lbd_metadata **pairs,
                      size_t *count);
void lbd_metadata_list_free(struct lbd_metadata *pairs, size_t count);

/* ---- config-key store of the cluster ----------------------------------- */

/* Kept in <cluster dir>/config-key/, readable by its owner only (values
 * may be secrets).  Keys: 1 to 256 bytes without control characters;
 * values: up to 64 KiB of any bytes. */
int lbd_config_key_set(lbd_cluster_t *cluster, const char *key,
                       const void *value, size_t len);
/* *VALUE is malloc'd and NUL-terminated; *LEN (may be NULL) its length.
 * ENOENT if KEY is not set. */
int lbd_config_key_get(lbd_cluster_t *cluster, const char *key, char **value,
                       size_t *len);
int lbd_config_key_remove(lbd_cluster_t *cluster, const char *key);
/* Keys, sorted; free with lbd_names_free(). */
int lbd_config_key_list(lbd_cluster_t *cluster, char ***keys, size_t *count);

/* ---- advisory locks (rbd lock add/ls/rm) ------------------------------ */

/* Advisory: IO never checks them, and they are apart from the internal
 * exclusive lock.  Like rbd's, they live in the cluster (in the image's
 * header) until unlocked or broken, also after the process that took them
 * has exited.  A locker is (client, cookie): the client is the name of
 * this cluster handle (lbd_client_name(), "client.PID.N").  All but the
 * listing need the image open read-write (EROFS).
 *
 * lock_exclusive: EBUSY if anyone else holds a lock on the image;
 * lock_shared: EBUSY if it is held exclusively or with another TAG;
 * both: EEXIST if this client holds COOKIE already. */
int lbd_lock_exclusive(lbd_image_t *image, const char *cookie);
int lbd_lock_shared(lbd_image_t *image, const char *cookie, const char *tag);
/* ENOENT unless this client holds COOKIE. */
int lbd_unlock(lbd_image_t *image, const char *cookie);
/* Remove CLIENT's lock COOKIE (any client's); ENOENT if there is none. */
int lbd_break_lock(lbd_image_t *image, const char *client,
                   const char *cookie);

struct lbd_locker {
  char *client;  /* "client.PID.N" */
  char *cookie;  /* the lock id */
  char *address; /* "pid N": the process that took it */
  int64_t time;  /* when, seconds since the epoch */
};
/* The lockers (none: *COUNT 0), whether the lock is exclusive, and its
 * tag ("" if exclusive or unlocked).  Free with lbd_lockers_free(). */
int lbd_list_lockers(lbd_image_t *image, bool *exclusive, char **tag,
                     struct lbd_locker **lockers, size_t *count);
void lbd_lockers_free(char *tag, struct lbd_locker *lockers, size_t count);
/* The client name of IMAGE's cluster handle, as lockers show it. */
const char *lbd_client_name(lbd_image_t *image);

/* ---- copy and disk usage (rbd cp, rbd du) ------------------------------ */

/* lbd_progress_fn_t (see lbd_remove_with_progress): non-zero stops the
 * copy (ECANCELED). */

/* Create image DST_NAME in DST_IO, with the size of SRC and its data.
 * OPTS (may be NULL): a zero size (the copy has the source's), and the
 * layout, features and data pool of the copy; what they leave 0 or NULL is
 * the source's (the layout as a whole: object size, stripe unit and count).
 * Only allocated data is read and written: holes stay holes.  On failure
 * no copy is left. */
int lbd_copy(lbd_image_t *src, lbd_ioctx_t *dst_io, const char *dst_name,
             const struct lbd_image_options *opts);
int lbd_copy_with_progress(lbd_image_t *src, lbd_ioctx_t *dst_io,
                           const char *dst_name,
                           const struct lbd_image_options *opts,
                           lbd_progress_fn_t progress, void *arg);

/* *PROVISIONED: the image size; *USED: the bytes its data objects hold
 * (holes and never-written objects take none). */
int lbd_disk_usage(lbd_image_t *image, uint64_t *provisioned,
                   uint64_t *used);

/* ---- asynchronous IO (librbd's rbd_aio_*) ------------------------------ */

typedef struct lbd_completion lbd_completion_t;
/* Runs exactly once per submitted op, from a worker thread, also when the
 * op fails.  It may call lbd_aio_get_return_value() and lbd_aio_release()
 * on C, not lbd_aio_wait_for_complete(). */
typedef void (*lbd_callback_t)(lbd_completion_t *c, void *arg);

/* CB may be NULL (then wait for the completion). */
int lbd_aio_create_completion(lbd_callback_t cb, void *arg,
                              lbd_completion_t **c);
/* Queue an op; 0 once queued, and its result (what the synchronous call
 * would return) is then C's return value.  A completion serves one op at a
 * time (EBUSY while one is in flight).  Buffers must stay valid until the
 * op completes.  Ops in flight together have no order between them; a
 * flush completes after every op submitted before it on the image.  Close
 * the image only once its ops are complete. */
int lbd_aio_read(lbd_image_t *image, uint64_t off, size_t len, void *buf,
                 lbd_completion_t *c);
int lbd_aio_write(lbd_image_t *image, uint64_t off, size_t len,
                  const void *buf, lbd_completion_t *c);
int lbd_aio_discard(lbd_image_t *image, uint64_t off, uint64_t len,
                    lbd_completion_t *c);
int lbd_aio_write_zeroes(lbd_image_t *image, uint64_t off, uint64_t len,
                         lbd_completion_t *c);
int lbd_aio_flush(lbd_image_t *image, lbd_completion_t *c);
/* Wait until the op is complete and its callback has returned. */
int lbd_aio_wait_for_complete(lbd_completion_t *c);
bool lbd_aio_is_complete(lbd_completion_t *c);
/* The op's result: bytes read or written, 0, or a negative errno. */
ssize_t lbd_aio_get_return_value(lbd_completion_t *c);
/* lbd_last_error() of the op, "" if it succeeded. */
const char *lbd_aio_get_error(lbd_completion_t *c);
/* Drop the caller's reference (an op in flight keeps its own). */
void lbd_aio_release(lbd_completion_t *c);

/* ---- diffs and rbd's export formats (rbd diff, export-diff, ...) ------ */

/* One changed extent, in image order: EXISTS says it holds data at the end
 * version, else it reads as zeroes there (discarded, or past the end).
 * Non-zero from it stops the walk, which returns that value. */
typedef int (*lbd_diff_cb_t)(uint64_t off, uint64_t len, bool exists,
                             void *arg);
/* As librbd's rbd_diff_iterate2: the extents of [OFF, OFF+LEN) that differ
 * between snapshot FROM_SNAP (NULL: the beginning, when the image was
 * empty) and IMAGE as opened (its head, or the snapshot it was opened at),
 * coalesced.  WHOLE_OBJECT: whole objects that changed (coarser; with an
 * object map, a diff of the head from the beginning reads no data object).
 * INCLUDE_PARENT: what a clone reads from its parent counts (diffs from
 * the beginning only).  EINVAL if FROM_SNAP is newer than the snapshot
 * IMAGE is open at. */
int lbd_diff_iterate(lbd_image_t *image, const char *from_snap, uint64_t off,
                     uint64_t len, bool include_parent, bool whole_object,
                     lbd_diff_cb_t cb, void *arg);

/* rbd's file formats (Ceph's doc/dev/rbd-diff.rst and rbd-export.rst),
 * byte-compatible with rbd; FD may be a pipe.  PROGRESS (may be NULL):
 * non-zero from it stops the work (ECANCELED). */

/* export-diff: IMAGE's changes since FROM_SNAP (NULL: all its data) as an
 * "rbd diff v1" stream: start and end snapshot names, the size, then data
 * ('w') and zero ('z') records in image order. */
int lbd_export_diff(lbd_image_t *image, const char *from_snap,
                    bool whole_object, int fd, lbd_progress_fn_t progress,
                    void *arg);
/* import-diff: apply a diff stream (v1 or v2) to IMAGE (open read-write),
 * then take its end snapshot, as rbd does.  The whole stream is checked
 * first (a pipe is spooled to a temporary file): a malformed or truncated
 * stream (EINVAL), a start snapshot IMAGE lacks (EINVAL) or an end
 * snapshot it has (EEXIST) leave IMAGE unchanged. */
int lbd_import_diff(lbd_image_t *image, int fd, lbd_progress_fn_t progress,
                    void *arg);
/* merge-diff: one v1 diff from FIRST's start to SECOND's end; SECOND must
 * start where FIRST ends (EINVAL otherwise), and both must list their
 * records in ascending order, as export-diff writes them. */
int lbd_merge_diff(int first_fd, int second_fd, int out_fd,
                   lbd_progress_fn_t progress, void *arg);
/* export --export-format 2: the image's layout, features and metadata,
 * then one diff per snapshot (oldest first) and one for the head.  IMAGE
 * open at a snapshot: the snapshots up to that one, the last diff ending
 * there. */
int lbd_export_v2(lbd_image_t *image, int fd, lbd_progress_fn_t progress,
                  void *arg);
/* import --export-format 2: a new image NAME with every snapshot of the
 * stream.  OPTS (may be NULL): a layout (as a whole), features or a data
 * pool that win over the stream's; its size must be 0.  On failure no
 * image is left. */
int lbd_import_v2(lbd_ioctx_t *io, const char *name,
                  const struct lbd_image_options *opts, int fd,
                  lbd_progress_fn_t progress, void *arg);

#ifdef __cplusplus
}
#endif
#endif
