/* The image layer: images stored as objects (DESIGN.md, "Image format").
 *
 * In each pool namespace:
 *   lbd_directory          omap name_<name> -> id, id_<id> -> name
 *   lbd_header.<id>        omap: format, size, object_size, stripe_unit,
 *                          stripe_count, features, data_pool,
 *                          create_timestamp, snap_seq (decimal text)
 *   lbd_data.<id>.<%016x>  data objects, in the data pool if there is one
 * In the pool's default namespace:
 *   lbd_namespaces         omap <name> -> "" : the registered namespaces
 *
 * Directory and header updates are compound ops guarded by the object's
 * version (read, decide, write if unchanged, else retry): no lock server. */
#ifndef LBD_IMAGE_IMAGE_H
#define LBD_IMAGE_IMAGE_H

#include <pthread.h>

#include "image/striping.h"
#include "lbd/lbd.h"
#include "objstore/objstore.h"

#define IMAGE_DIRECTORY "lbd_directory"
#define IMAGE_NAMESPACES "lbd_namespaces"
#define IMAGE_HEADER_PREFIX "lbd_header."
#define IMAGE_DATA_PREFIX "lbd_data."
#define IMAGE_OBJECT_MAP_PREFIX "lbd_object_map."
#define IMAGE_OBJECT_MAP_MAX 256000000 /* objects, as rbd */
#define IMAGE_LOCK_NAME "lbd_lock"
/* Held on a migration target's header by execute, commit and abort, and
 * by a shrink of the target: one of them at a time. */
#define IMAGE_MIGRATION_LOCK "lbd_migration_execute"
#define IMAGE_MAX_NAME 255
/* Header omap key of a clone snapshot's parent overlap (+ %016x id). */
#define IMAGE_SNAP_OVERLAP_PREFIX "snap_overlap_"
#define IMAGE_ID_LEN 12

struct lbd_cluster {
  struct objstore_cluster *os;
  char *dir;
};

struct lbd_ioctx {
  lbd_cluster_t *cluster;
  struct objstore_pool *pool;
  int64_t pool_id;
  char *pool_name;
  char *ns;
};

/* A clone's parent: a snapshot of another image, read up to OVERLAP. */
struct image_parent {
  int64_t pool_id;                    /* -1: no parent */
  char ns[OBJSTORE_MAX_NS + 1];
  char image_id[IMAGE_ID_LEN + 1];
  uint64_t snap_id;
  uint64_t overlap;                   /* bytes of the image that read it */
};

/* A live migration this image takes part in (migration/migration.h). */
enum image_migration_role {
  IMAGE_MIGRATION_NONE,
  IMAGE_MIGRATION_SOURCE,
  IMAGE_MIGRATION_TARGET,
};
struct image_migration {
  enum image_migration_role role;
  int64_t peer_pool;                  /* the other image of the pair */
  char peer_ns[OBJSTORE_MAX_NS + 1];
  char peer_id[IMAGE_ID_LEN + 1];
  char peer_name[IMAGE_MAX_NAME + 1];
  char state[16];                     /* target: preparing, prepared, ... */
  char state_desc[128];
  bool flatten;
  bool import_only;  /* target of an import: the source is a source-spec */
  /* Role "none" written with the peer's pool, namespace, id and name kept:
   * a commit's marker under the source's name is still to go (read back,
   * role "none" with a peer_name). */
  bool keep_peer;
};

/* Whether HDR reads a backing (a parent, a migration source, or an import
 * source) below its overlap. */
#define image_backing_linked(hdr)                                            \
  ((hdr)->parent.pool_id >= 0 || (hdr)->migration.import_only)

struct image_header {
  uint64_t size;
  struct striping layout;
  uint64_t features;
  int64_t data_pool_id; /* -1: none */
  int64_t create_time;
  uint64_t snap_seq;
  /* A clone's parent; of a migration target, its source (snap_id HEAD). */
  struct image_parent parent;
  struct image_migration migration;
  bool thick;           /* copy-ups allocate whole objects */
  uint64_t version;     /* of the header object, when read */
};

struct lbd_image {
  lbd_ioctx_t *io;               /* borrowed */
  struct objstore_pool *data;    /* where data objects live (owned) */
  char id[IMAGE_ID_LEN + 1];
  char name[IMAGE_MAX_NAME + 1];
  char header_oid[64];
  bool read_only;
  uint64_t snap_id;              /* OBJSTORE_SNAP_HEAD unless at a snap */
  uint64_t watch;
  pthread_mutex_t mu;            /* guards hdr and lock_held */
  struct image_header hdr;
  bool lock_held;
  char lock_cookie[64];
  /* IO holds io_lock shared; what swaps the object map or changes the
   * size (lock acquisition, resize, rebuild) holds it exclusive. */
  pthread_rwlock_t io_lock;
  /* With an object map: one op at a time per object (by objectno % 64),
   * so that a map update and its data op are never split by another. */
  pthread_mutex_t obj_mu[64];
  pthread_mutex_t omap_mu;       /* guards omap updates */
  /* The snap context every data write carries (changed under io_lock). */
  struct objstore_snapc snapc;
  uint64_t *snap_ids;
  uint64_t *snap_overlaps;       /* each snapshot's overlap, as snap_ids */
  uint8_t *omap;                 /* object map, while the lock is held */
  uint64_t omap_objects;
  /* Where objects the image lacks are read (a clone's parent), or NULL;
   * used only under the overlap in hdr.parent. */
  struct image_backing *backing;
  /* Opened as a migration target: execute copies objects in without the
   * lock, so this handle's object map never says an object is absent
   * (sticky: a header read after the commit does not make it exact). */
  bool map_untrusted;
  /* Where the last read ended: a read that starts there is sequential
   * (lbd_read prefetches the next object). */
  _Atomic uint64_t read_next;
};

enum {
  OBJECT_NONEXISTENT = 0,
  OBJECT_EXISTS = 1,
  OBJECT_PENDING = 2,
  OBJECT_EXISTS_CLEAN = 3,
};

/* image_name.c */
int image_check_name(const char *what, const char *name);

/* image_directory.c: name <-> id in a namespace's directory. */
int image_dir_lookup(struct objstore_pool *pool, const char *name,
                     char id[IMAGE_ID_LEN + 1]);
int image_dir_add(struct objstore_pool *pool, const char *name,
                  const char *id);
int image_dir_remove(struct objstore_pool *pool, const char *name,
                     const char *id);
int image_dir_rename(struct objstore_pool *pool, const char *name,
                     const char *new_name);
int image_dir_list(struct objstore_pool *pool, char ***names, size_t *count);
/* The name of image ID (ENOENT if it has none, e.g. in the trash). */
int image_dir_name(struct objstore_pool *pool, const char *id,
                   char name[IMAGE_MAX_NAME + 1]);

/* cluster.c: an ioctx for pool POOL_ID, namespace NS. */
int image_ioctx_by_id(lbd_cluster_t *cluster, int64_t pool_id, const char *ns,
                      lbd_ioctx_t **out);

/* image_header.c */
int image_header_read(struct objstore_pool *pool, const char *id,
                      struct image_header *hdr);
/* Create the header object (exclusively). */
int image_header_create(struct objstore_pool *pool, const char *id,
                        const struct image_header *hdr);
/* Set the size, if the header is still at HDR->version. */
int image_header_set_size(struct objstore_pool *pool, const char *id,
                          const struct image_header *hdr, uint64_t size);
/* Set the migration keys of HDR->migration (role NONE: remove them), if the
 * header is still at HDR->version. */
int image_header_set_migration(struct objstore_pool *pool, const char *id,
                               const struct image_header *hdr);
/* Point the parent link at PARENT (its overlap unchanged), if the header
 * is still at HDR->version. */
int image_header_set_parent(struct objstore_pool *pool, const char *id,
                            const struct image_header *hdr,
                            const struct image_parent *parent);
/* Set the parent overlap (0: the head reads no parent, but the link stays
 * for its snapshots), if the header is still at HDR->version. */
int image_header_set_overlap(struct objstore_pool *pool, const char *id,
                             const struct image_header *hdr, uint64_t overlap);
/* Drop the parent link, if the header is still at HDR->version. */
int image_header_drop_parent(struct objstore_pool *pool, const char *id,
                             const struct image_header *hdr);
/* A migration target keeping its source's parent: in one step, link it to
 * PARENT (with its overlap), set the overlaps of its snapshots SNAP_IDS to
 * OVERLAPS, and its migration state to committing; if the header is still
 * at HDR->version. */
int image_header_commit_parent(struct objstore_pool *pool, const char *id,
                               const struct image_header *hdr,
                               const struct image_parent *parent,
                               const uint64_t *snap_ids,
                               const uint64_t *overlaps, size_t nsnaps);

/* image.c: remove an image's data objects, object map and header (what
 * exists of them; HDR NULL if the header is gone already).  Resumable. */
int image_remove_storage(lbd_ioctx_t *io, const char *id,
                         const struct image_header *hdr,
                         lbd_progress_fn_t progress, void *arg);

/* image.c: the header an image made with OPTS in IO would get. */
int image_header_from_options(lbd_ioctx_t *io,
                              const struct lbd_image_options *opts,
                              struct image_header *hdr);
/* image.c: the data pool of an image with HDR, opened in IO's namespace. */
int image_open_data_pool(lbd_ioctx_t *io, const struct image_header *hdr,
                         struct objstore_pool **data);

/* image.c: create image NAME; a clone of PARENT (in PARENT_IO) if not
 * NULL. */
int image_create(lbd_ioctx_t *io, const char *name,
                 const struct lbd_image_options *opts,
                 const struct image_parent *parent, lbd_ioctx_t *parent_io);

/* image.c: open an image by NAME, or by ID when NAME is NULL; at snapshot
 * SNAP (a name) or SNAP_ID (unless OBJSTORE_SNAP_HEAD), then read-only.
 * DEPTH: how many clones below this one are opening it as their parent. */
#define IMAGE_OPEN_MIGRATION (1u << 30) /* a migration source, read-write */
#define IMAGE_OPEN_NO_BACKING (1u << 29) /* read only the image's own data */
/* A migration target as its commit will leave it: its own data, else the
 * parent it keeps of its source (migration verify). */
#define IMAGE_OPEN_NO_SOURCE (1u << 28)
int image_open(lbd_ioctx_t *io, const char *name, const char *id,
               const char *snap, uint64_t snap_id, unsigned flags, int depth,
               lbd_image_t **out);

/* image.c: take IMAGE_MIGRATION_LOCK on header OID of POOL for WHAT (a
 * command name, for the message of those that find it taken: EBUSY);
 * COOKIE receives what image_step_unlock needs. */
int image_step_lock(struct objstore_pool *pool, const char *oid,
                    const char *what, char cookie[32]);
void image_step_unlock(struct objstore_pool *pool, const char *oid,
                       const char *cookie);

/* image.c: the head's size as the header says now (for handles that do
 * not hold the lock: another may have resized the image). */
uint64_t image_refresh_size(struct lbd_image *img);

/* image.c: take the image's exclusive lock before the first write (if the
 * image has the exclusive-lock feature); EBUSY naming a live holder. */
int image_acquire_lock(struct lbd_image *img);

/* snapshot.c */
int image_snaps_read(struct objstore_pool *pool, const char *header_oid,
                     struct lbd_snap_info **snaps, size_t *count);
int image_snap_lookup(struct objstore_pool *pool, const char *header_oid,
                      const char *name, struct lbd_snap_info *info);
/* The parent overlap recorded with snapshot SNAP_ID of a clone (ENOENT if
 * none was). */
int image_snap_overlap(struct lbd_image *img, uint64_t snap_id,
                       uint64_t *overlap);
/* Which snapshot of a migration's source (or an import's snapshot index)
 * each snapshot of a target was made from: migration_snap_<id> keys. */
#define MIGRATION_SNAP_PREFIX "migration_snap_"
struct image_snap_link {
  uint64_t dst; /* the target's snap id */
  uint64_t src;
};
int image_migration_snaps(struct lbd_image *img, struct image_snap_link **links,
                          size_t *count);
/* Give image ID (header in POOL, data in DATA) a snapshot as SNAP of its
 * migration source: name, size (its overlap too), protection, time, and a
 * migration_snap_<id> key naming SNAP->id.  Nothing if it has one of that
 * name already. */
int image_snap_import(struct objstore_pool *pool, const char *id,
                      struct objstore_pool *data,
                      const struct lbd_snap_info *snap);
/* Rebuild img->snapc from the header's snapshots and img->hdr.snap_seq. */
int image_snapc_refresh(struct lbd_image *img);
/* The largest overlap of the image's snapshots (0 if none). */
uint64_t image_snap_overlap_max(const struct lbd_image *img);
/* The snap context for data writes (NULL before any snapshot). */
const struct objstore_snapc *image_snapc(const struct lbd_image *img);

/* clone.c: the children registry (lbd_children in the parent's pool and
 * namespace): which images are clones of which snapshot. */
int image_child_link(lbd_ioctx_t *parent_io, const char *parent_id,
                     uint64_t snap_id, int64_t child_pool, const char *child_ns,
                     const char *child_id, bool add);
/* Drop IMG-less child link of image ID whose header HDR names a parent. */
int image_child_unlink(lbd_cluster_t *cluster, const struct image_header *hdr,
                       int64_t child_pool, const char *child_ns,
                       const char *child_id);
/* Every link of the registry of snapshot SNAP_ID of image PARENT_ID (in
 * PARENT_IO), stale or not, through FN (non-zero stops). */
int image_children_each(lbd_ioctx_t *parent_io, const char *parent_id,
                        uint64_t snap_id,
                        int (*fn)(int64_t pool, const char *ns,
                                  const char *id, void *arg),
                        void *arg);
/* The clones of snapshot SNAP_ID of IMG as "pool/[ns/]name" (free with
 * lbd_names_free); links of clones that no longer exist are dropped. */
int image_children_list(struct lbd_image *img, uint64_t snap_id,
                        char ***specs, size_t *count);

/* object_map.c */
void image_object_map_oid(const char *id, char *buf, size_t size);
int image_object_map_check_size(const struct image_header *hdr);
int image_object_map_create(struct objstore_pool *pool, const char *id,
                            uint64_t nobjects);
int image_object_map_load(struct lbd_image *img);
int image_object_map_rebuild(struct lbd_image *img);
/* The state of OBJECTNO; meaningful only while img->omap is set. */
uint8_t image_object_map_get(const struct lbd_image *img, uint64_t objectno);
/* Record STATE for OBJECTNO, durably, if it changes (no-op without map). */
int image_object_map_set(struct lbd_image *img, uint64_t objectno,
                         uint8_t state);
int image_object_map_resize(struct lbd_image *img, uint64_t size);
/* After taking / before releasing the exclusive lock. */
int image_object_map_acquired(struct lbd_image *img);
int image_object_map_released(struct lbd_image *img);

/* image_io.c */
void image_data_oid(const struct lbd_image *img, uint64_t objectno,
                    char *buf, size_t size);
/* A hint: [OFF, OFF+LEN) of IMG (at its snapshot, if opened at one) will
 * be read soon; the store may start reading its objects
 * (objstore_prefetch).  Never waits. */
void image_prefetch(struct lbd_image *img, uint64_t off, uint64_t len);

/* The image has (next to) none of the objects yet: a copy-up reads the
 * backing and creates the object without asking first whether it is
 * there (it fails EEXIST if so, and is done): one round trip less per
 * object on RADOS, a read of the backing more per object already here. */
#define IMAGE_COPYUP_FRESH 1u
/* Migration execute: of a source whose parent the target keeps, only the
 * objects the source has of its own are copied (backing.h).  Every other
 * copy-up (client writes, rollback) takes all the source reads. */
#define IMAGE_COPYUP_OWN 2u
/* clone.c: copy up every object under OVERLAP that the image lacks (and
 * the backing has), with THREADS threads; PROGRESS hears (done, total).
 * FLAGS: IMAGE_COPYUP_*. */
int image_copyup_all(struct lbd_image *img, uint64_t overlap,
                     unsigned threads, unsigned flags,
                     lbd_progress_fn_t progress, void *arg);
/* Copy object OBJECTNO up from the backing unless it is here already. */
int image_copyup_object(struct lbd_image *img, uint64_t objectno,
                        unsigned flags);
/* Make object OBJECTNO what it was at SNAPID (BUF: object-size scratch). */
int image_rollback_object(struct lbd_image *img, uint64_t objectno,
                          uint64_t snapid, void *buf);
/* Remove every data object numbered FIRST or more (remove and shrink);
 * PROGRESS (may be NULL) hears (object number reached, TOTAL). */
int image_remove_objects(struct objstore_pool *data, const char *id,
                         uint64_t first, const struct objstore_snapc *snapc,
                         lbd_progress_fn_t progress, void *arg,
                         uint64_t total);

#endif
