/* The embedded local backend: object data in sparse files, metadata in one
 * LMDB environment per pool.
 *
 * Pool directory:
 *   lbd-pool        marker (cluster uuid, pool id)
 *   meta/           LMDB: obj, xattr, omap, snaps, snapmap, hold, cfg
 *   data/XX/ID      one file per object head or clone; ID is a random
 *                   64-bit number in hex, XX its top byte (256 directories,
 *                   made with the pool)
 *   locks           byte-range locks: one byte per object (a hash of its
 *                   key) serialises the ops that change its metadata; the
 *                   byte's content is 1 while an exclusive holder works;
 *                   then generation counters (see local_obj_gen) that let
 *                   each handle cache object heads
 *   live            byte-range locks: one byte per watch or lock held,
 *                   proving that its holder is alive
 *
 * A data file is referenced by exactly one head or clone record; clone
 * files never change.  An op that must be all or nothing writes a new file,
 * syncs it, and swaps it in with one LMDB commit; a plain overwrite goes in
 * place.  A file that a commit stops referring to is listed in the "dead"
 * table by that commit and unlinked only once LMDB has been synced: a power
 * loss may undo the commit, and the file must then still be there.  The
 * one file never synced before its commit is the empty file of an object
 * created empty (head_unsynced): a power loss may take it, and the object
 * is then empty, as it was at its last flush. */
#ifndef LBD_OBJSTORE_LOCAL_H
#define LBD_OBJSTORE_LOCAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "objstore/backend.h"
#include "objstore/kvenv.h"
#include "util/extents.h"
#include "util/vector.h"

enum {
  LDB_OBJ,     /* ns \0 name -> object record */
  LDB_XATTR,   /* iid(8) name -> value */
  LDB_OMAP,    /* iid(8) key -> value */
  LDB_SNAPS,   /* snapid(8 BE) -> state byte */
  LDB_SNAPMAP, /* snapid(8 BE) ns \0 name -> "" : objects with a clone for it */
  LDB_HOLD,    /* iid(8) kind ... -> holder record */
  LDB_CFG,     /* "snap_seq", "next_iid", "version" -> u64 */
  LDB_DEAD,    /* file id(8) -> "" : unreferenced, unlink once synced */
  LDB_COUNT
};

enum { SNAP_LIVE = 1, SNAP_REMOVING = 2 };

struct local_clone {
  uint64_t cloneid;
  uint64_t file;
  uint64_t size;
  uint64_t *snaps; /* ascending */
  size_t nsnaps;
  struct extent_set overlap; /* identical with the next newer clone or head */
};

struct local_record {
  uint64_t iid;     /* internal id: keys xattrs, omap and holds */
  uint64_t version;
  int64_t mtime_ns;
  uint64_t snap_seq;
  bool head_exists;
  /* The head's file was created empty and not synced: if a power loss
   * took it, the object is empty (nothing was flushed since), and the next
   * op that needs the file makes it again. */
  bool head_unsynced;
  uint64_t head_file;
  struct local_clone *clones; /* oldest first */
  size_t nclones;
};

DEFINE_VECTOR(fd_vec, int);

/* A change of one object's metadata, queued for a group commit
 * (local_write.c): PUT makes it in TXN, the group's transaction (a nested
 * one when others share it), and returns 0, 1 if there was nothing to
 * change, or a negative errno with a message. */
struct local_commit {
  struct local_commit *next;
  const char *key;
  size_t klen;
  int (*put)(MDB_txn *txn, struct objstore_backend_pool *bp,
             struct local_commit *c);
  void *arg;         /* PUT's */
  int result;        /* PUT's, or what failed the group's commit */
  bool done;
  char err[160];     /* the message of a failure */
};

struct local_hold_ref {
  uint64_t slot;
  char *key;
  size_t klen;
};
DEFINE_VECTOR(hold_vec, struct local_hold_ref);

/* Open data files kept for the hot paths, by file id: 4-way set
 * associative, the least recently used idle way replaced. */
#define LOCAL_FD_CACHE 1024
#define LOCAL_FD_WAYS 4
struct local_fd_slot {
  uint64_t id;
  int fd;
  unsigned refs;  /* users of fd right now */
  bool doomed;    /* close fd when the last user is done */
  uint32_t used;  /* tick of the last use, for replacement */
};

/* What the hot paths (in-place writes, reads at head) need of an object's
 * record, cached per handle by object key: valid while the generation
 * counter of the object's lock byte (see local_hold.c) still has the value
 * it had before the record was read.  4-way set associative. */
#define LOCAL_HEAD_CACHE 4096
#define LOCAL_HEAD_WAYS 4
#define LOCAL_HEAD_KEY 112 /* longer keys are not cached */
struct local_head {
  uint64_t file;     /* head data file */
  uint64_t snap_seq;
  bool clones;       /* the record has clones (in-place writes look closer) */
};
struct local_head_slot {
  uint64_t hash;     /* local_obj_hash of the key; 0: empty */
  uint64_t gen;
  struct local_head head;
  uint32_t used;
  uint16_t klen;
  char key[LOCAL_HEAD_KEY];
};

#define LOCAL_SPARES 4 /* empty data files made ahead (local_files.c) */
#define LOCAL_LEASE_REGIONS 64
/* A region of lock bytes that a handle holds shared (a "lease"): in-place
 * ops on its objects need no lock call of their own while it is held. */
struct local_lease {
  int fd;          /* holds a read lock on the whole region */
  unsigned users;  /* in-place ops running under it */
  bool held;
  bool revoking;   /* asked for: no new users; the last one releases it */
  bool touched;    /* used since the reaper last looked */
  int64_t retry_ns; /* do not try to take it again before */
};

/* An in-place op's lock: a lease, or an fd of its own. */
struct local_oplock {
  int fd;
  int lease; /* region, or -1 */
};

/* A data file opened through the cache: release with local_file_put. */
struct local_fd_ref {
  int fd;
  struct local_fd_slot *slot; /* NULL: fd is the caller's to close */
};

struct objstore_backend_pool {
  struct kvenv *kv;
  char *path;
  char *ns;
  char client[64];
  int64_t id;
  int data_fd;     /* data/ directory */
  char *lock_path; /* "locks" file */
  const volatile unsigned char *marks; /* the "locks" file, mapped */
  uint64_t *gens;  /* its generation counters, after the lock bytes */
  uint32_t *lease_waiting; /* [LOCAL_LEASE_REGIONS], shared */
  uint32_t *lease_seq;     /* shared futex word */
  pthread_mutex_t lease_mu;
  pthread_cond_t lease_cv; /* the reaper waits for a first lease */
  struct local_lease leases[LOCAL_LEASE_REGIONS];
  unsigned nleases;
  bool reaper_on, reaper_stop;
  pthread_t reaper;
  struct objstore_backend_pool *lease_next; /* registry, for fork */
  pthread_mutex_t spare_mu; /* empty data files made ahead */
  pthread_cond_t spare_cv;
  /* Descriptors of data files being created (spare ones too), under
   * spare_mu: a child of fork() closes them, else their creation locks
   * would outlive their holder as long as the child lives.  A creator
   * holds create_rw shared from its open of the file until the fd is
   * listed; fork takes it exclusive. */
  struct fd_vec creating;
  pthread_rwlock_t create_rw;
  int spare_fd[LOCAL_SPARES];
  uint64_t spare_id[LOCAL_SPARES];
  unsigned nspare;
  bool spare_on, spare_stop, spare_joinable;
  pthread_t spare_thread;
  pthread_mutex_t mu;
  struct fd_vec lock_fds; /* idle fds on "locks", one per op in flight */
  int live_hold_fd;       /* holds this handle's liveness bytes */
  int live_check_fd;      /* tests other holders' bytes */
  struct hold_vec holds;  /* watches and locks this handle holds */
  unsigned dead_pending;  /* files this handle added to the dead table */
  pthread_mutex_t group_mu;  /* creations committed together */
  pthread_cond_t group_done;
  struct local_commit *group; /* waiting for a commit */
  bool group_leader;          /* a thread is committing a group */
  pthread_mutex_t fd_mu;  /* guards fd_cache, heads and tick */
  uint32_t tick;
  struct local_fd_slot fd_cache[LOCAL_FD_CACHE];
  struct local_head_slot *heads; /* [LOCAL_HEAD_CACHE] */
};

/* local_record.c */
void local_record_free(struct local_record *rec);
int local_record_decode(const void *data, size_t len, struct local_record *rec);
/* *OUT is malloc'd. */
int local_record_encode(const struct local_record *rec, void **out,
                        size_t *len);
/* Object key: ns \0 name (no trailing NUL); returns its length. */
size_t local_obj_key(const char *ns, const char *oid, char *buf, size_t size);
int local_record_get(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const char *key, size_t klen, struct local_record *rec);
int local_record_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                     const char *key, size_t klen,
                     const struct local_record *rec);
int local_cfg_get(MDB_txn *txn, struct objstore_backend_pool *bp,
                  const char *name, uint64_t *v);
int local_cfg_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                  const char *name, uint64_t v);
/* *VALUE = ++counter NAME of the pool's config, in TXN. */
int local_cfg_next(MDB_txn *txn, struct objstore_backend_pool *bp,
                   const char *name, uint64_t *value);
void local_be64(uint64_t v, unsigned char out[8]);
uint64_t local_get_be64(const unsigned char in[8]);
int64_t local_now_ns(void);

/* local_pool.c: (re)make BP->create_rw (a child of fork makes it anew:
 * glibc ties a write lock to its holder's thread id, which the child's
 * thread does not have, so unlocking it there leaves it held). */
void local_create_rw_init(struct objstore_backend_pool *bp);

/* local_files.c */
#define LOCAL_FILE_PATH 32
void local_file_path(uint64_t id, char out[LOCAL_FILE_PATH]);
/* Create a new empty data file, locked against pool checks until closed
 * with local_file_close_new.  Returns its fd (O_RDWR) and *ID. */
int local_file_create(struct objstore_backend_pool *bp, uint64_t *id);
/* Close FD of local_file_create (releasing its creation lock). */
void local_file_close_new(struct objstore_backend_pool *bp, int fd);
/* Pool close: stop making spare files, remove those made. */
void local_spares_stop(struct objstore_backend_pool *bp);
/* Open data file ID; ENOENT (no message) if it is gone. */
int local_file_open(struct objstore_backend_pool *bp, uint64_t id, int flags);
/* As local_file_open(O_RDWR), through a small cache of open files: saves
 * the path lookup and the close on every in-place write and read.  A cached
 * file replaced by another process stays open here until its slot is
 * reused or the pool closed. */
int local_file_get(struct objstore_backend_pool *bp, uint64_t id,
                   struct local_fd_ref *ref);
void local_file_put(struct objstore_backend_pool *bp, struct local_fd_ref *ref);
void local_fd_cache_clear(struct objstore_backend_pool *bp);
/* The cached head of object KEY (HASH: local_obj_hash) if it was cached at
 * generation GEN, with its data file taken as by local_file_get; -ENOENT
 * (no message) if not cached, or the file is gone. */
int local_head_get(struct objstore_backend_pool *bp, const char *key,
                   size_t klen, uint64_t hash, uint64_t gen,
                   struct local_head *head, struct local_fd_ref *ref);
/* Remember HEAD for KEY, read from a record after GEN was read. */
void local_head_remember(struct objstore_backend_pool *bp, const char *key,
                         size_t klen, uint64_t hash, uint64_t gen,
                         const struct local_head *head);
void local_head_forget(struct objstore_backend_pool *bp, const char *key,
                       size_t klen, uint64_t hash);
void local_file_unlink(struct objstore_backend_pool *bp, uint64_t id);
/* In TXN: file ID is no longer referenced; unlink it once synced. */
int local_file_bury(MDB_txn *txn, struct objstore_backend_pool *bp,
                    uint64_t id);
/* Sync LMDB, then unlink every buried file.  Called by flush and check,
 * and every few dozen burials. */
int local_file_reap(struct objstore_backend_pool *bp);
/* After a commit that buried files: reap if enough have piled up. */
void local_file_buried(struct objstore_backend_pool *bp, unsigned n);
/* Make lost unsynced head file ID again, empty and synced (see
 * local_record.head_unsynced); returns its fd (O_RDWR). */
int local_file_recreate(struct objstore_backend_pool *bp, uint64_t id);
/* Copy file SRC into the empty file DST, keeping holes. */
int local_file_copy(int src, int dst);
int local_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* As local_pwrite_all, starting writeback of each MiB as soon as it is
 * written: for new files that are synced before their commit. */
int local_pwrite_streaming(int fd, const void *buf, size_t len, uint64_t off);
/* Data extents of FD in [OFF, OFF+LEN) clipped to SIZE, added to MAP. */
int local_file_map(int fd, uint64_t off, uint64_t len, uint64_t size,
                   struct extent_set *map);

/* local_hold.c: per-object op locks */
#define LOCAL_LOCK_BYTES ((uint64_t)1 << 20) /* lock bytes of the "locks" file */
/* After the lock bytes, the "locks" file holds LOCAL_GENS 64-bit counters;
 * the one of lock byte B (B % LOCAL_GENS) grows every time an exclusive
 * holder of B is done (or is found dead), so that a cached record stays
 * valid while its counter is unchanged. */
#define LOCAL_GENS ((uint64_t)1 << 16)
/* Then the lease words (see local_obj_lock_inplace): a count of exclusive
 * takers waiting, per region of lock bytes, and a sequence number that
 * every such wait bumps (a futex word that lease holders sleep on). */
#define LOCAL_LEASE_BYTES (LOCAL_LOCK_BYTES / LOCAL_LEASE_REGIONS)
#define LOCAL_LEASE_OFF (LOCAL_LOCK_BYTES + LOCAL_GENS * 8)
#define LOCAL_LOCKS_FILE (LOCAL_LEASE_OFF + 4096)
/* A 64-bit hash of an object key; its low bits pick the lock byte. */
uint64_t local_obj_hash(const char *key, size_t klen);
uint64_t local_obj_lock_byte(const char *key, size_t klen);
/* For a reader without an op lock: true if the object of HASH may be
 * changing (an exclusive holder works, or died working), else false and
 * *GEN its generation.  For a holder of the shared op lock, *GEN is stable. */
bool local_obj_gen(struct objstore_backend_pool *bp, uint64_t hash,
                   uint64_t *gen);
/* Take the op lock of KEY shared (in-place data writes) or exclusive
 * (everything that changes metadata); returns the fd to pass to unlock.
 * A shared taker that finds an exclusive holder died holding the lock
 * first makes LMDB readers see that holder's commit, if it made one. */
int local_obj_lock(struct objstore_backend_pool *bp, const char *key,
                   size_t klen, bool exclusive);
void local_obj_unlock(struct objstore_backend_pool *bp, int fd,
                      const char *key, size_t klen, bool exclusive);
/* The same, for a key of hash HASH (local_obj_hash). */
int local_obj_lock_hash(struct objstore_backend_pool *bp, uint64_t hash,
                        bool exclusive);
void local_obj_unlock_hash(struct objstore_backend_pool *bp, int fd,
                           uint64_t hash, bool exclusive);
/* For in-place ops (the shared lock): through a lease of the object's
 * region if this handle holds one, else as local_obj_lock_hash; unlock
 * with OK true if the op ran in place, which may take a lease for the
 * next ops.  Exclusive takers that find a lease ask its holder (in any
 * process) to release it, and wait; a holder that dies loses it. */
int local_obj_lock_inplace(struct objstore_backend_pool *bp, uint64_t hash,
                           struct local_oplock *lk);
void local_obj_unlock_inplace(struct objstore_backend_pool *bp, uint64_t hash,
                              struct local_oplock *lk, bool ok);
/* Pool open and close: the lease state; local_leases_stop releases every
 * lease (no op may be running). */
void local_leases_init(struct objstore_backend_pool *bp);
void local_leases_stop(struct objstore_backend_pool *bp);
/* For readers, who take no op lock: if KEY's lock byte is marked, wait for
 * its exclusive holder or, if it died, settle its commit as above. */
int local_obj_settle(struct objstore_backend_pool *bp, const char *key,
                     size_t klen);
/* Drop every watch and lock record of object IID (it is being removed). */
int local_holds_drop_object(MDB_txn *txn, struct objstore_backend_pool *bp,
                            uint64_t iid);
void local_holds_release_all(struct objstore_backend_pool *bp);

/* local_snap.c */
/* 1 if SNAPID is live, 0 if removed or being removed, -ENOENT (with a
 * message) if it was never allocated. */
int local_snap_state(MDB_txn *txn, struct objstore_backend_pool *bp,
                     uint64_t snapid);

/* Backend entry points, by file. */
int local_pool_init(const char *path, const char *uuid, int64_t id);
int local_pool_destroy(const char *path);
int local_pool_open(const char *path, int64_t id, const char *ns,
                    const char *client, struct objstore_backend_pool **out);
void local_pool_close(struct objstore_backend_pool *bp);
int local_flush(struct objstore_backend_pool *bp);
int local_snap_create(struct objstore_backend_pool *bp, uint64_t *snapid);
int local_snap_remove(struct objstore_backend_pool *bp, uint64_t snapid);
ssize_t local_read(struct objstore_backend_pool *bp, const char *oid,
                   uint64_t snapid, uint64_t off, size_t len, void *buf,
                   struct extent_set *map);
void local_prefetch(struct objstore_backend_pool *bp, const char *oid,
                    uint64_t snapid, uint64_t off, uint64_t len);
int local_stat(struct objstore_backend_pool *bp, const char *oid,
               uint64_t snapid, struct objstore_stat *st);
int local_list_snaps(struct objstore_backend_pool *bp, const char *oid,
                     struct objstore_snap_set *set);
int local_getxattr(struct objstore_backend_pool *bp, const char *oid,
                   const char *name, void **value, size_t *len);
int local_getxattrs(struct objstore_backend_pool *bp, const char *oid,
                    struct objstore_kv **kvs, size_t *count);
int local_omap_get(struct objstore_backend_pool *bp, const char *oid,
                   const char *start_after, size_t max,
                   struct objstore_kv **kvs, size_t *count, bool *more);
int local_omap_get_keys(struct objstore_backend_pool *bp, const char *oid,
                        const char *const *keys, size_t nkeys,
                        struct objstore_kv **kvs, size_t *count);
int local_list(struct objstore_backend_pool *bp, unsigned flags,
               const char *after_ns, const char *after_name, size_t max,
               struct objstore_list_entry **entries, size_t *count,
               bool *more);
/* Queue C (its object's exclusive op lock held) and return once it is
 * committed, in one transaction with the changes queued meanwhile (one
 * metadata sync for all); returns C->result, with C->err as the message
 * of a failure.  An error in one change fails no other. */
int local_commit_grouped(struct objstore_backend_pool *bp,
                         struct local_commit *c);
int local_operate(struct objstore_backend_pool *bp, const char *oid,
                  const struct objstore_write_op *op,
                  const struct objstore_snapc *snapc, unsigned flags);
int local_watch(struct objstore_backend_pool *bp, const char *oid,
                const char *desc, bool rw, uint64_t *handle);
int local_unwatch(struct objstore_backend_pool *bp, const char *oid,
                  uint64_t handle);
int local_list_watchers(struct objstore_backend_pool *bp, const char *oid,
                        struct objstore_holder **holders, size_t *count);
int local_lock(struct objstore_backend_pool *bp, const char *oid,
               const char *name, enum objstore_lock_type type,
               const char *cookie, const char *tag, const char *desc);
int local_unlock(struct objstore_backend_pool *bp, const char *oid,
                 const char *name, const char *cookie);
int local_break_lock(struct objstore_backend_pool *bp, const char *oid,
                     const char *name, const char *client, const char *cookie);
int local_list_lockers(struct objstore_backend_pool *bp, const char *oid,
                       const char *name, struct objstore_holder **holders,
                       size_t *count);
/* local_history.c */
int local_create_history(struct objstore_backend_pool *bp, const char *oid,
                         const struct objstore_history_state *states, size_t n,
                         uint64_t seq);

int local_check(struct objstore_backend_pool *bp, bool repair,
                struct objstore_check_report *report);

#endif
