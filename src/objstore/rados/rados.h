/* The rados backend: lbd's object store contract over librados (Ceph).
 *
 * Mapping
 *  - An lbd pool on this backend names a RADOS pool and a ceph.conf: its
 *    registry config is "rados://POOL?conf=FILE[&id=CLIENT_ID]" (the
 *    pool name may not hold '?' or '&').  lbd namespaces are RADOS
 *    namespaces; objects, xattrs and omap map one to one.
 *  - Connections: one rados_t per (ceph.conf, lbd cluster handle, process),
 *    shared by that handle's pools; CEPH_ARGS and the usual keyring places
 *    apply (rados_conf_parse_env).  Calls take a private ioctx from a free
 *    list, so the per-ioctx state (read snap, write snap context, last
 *    version) is never shared between threads.
 *  - Object versions are RADOS user versions (rados_get_last_version after
 *    an op on the object).  They grow with every change, in-place writes
 *    too.  cmp_version steps are checked optimistically: the op reads the
 *    version, decides the comparison, then runs with assert_version (EQ)
 *    and is retried if the object changed meanwhile; on a missing object
 *    (version 0) the op gets an exclusive create instead when it would
 *    create the object anyway.
 *  - Self-managed snaps are RADOS self-managed snaps; write ops carry the
 *    snap context (rados_ioctx_selfmanaged_snap_set_write_ctx on the
 *    call's own ioctx), reads at a snap use rados_ioctx_snap_set_read.
 *  - librados' C API (Pacific) has no sparse read, no list-snaps and no
 *    list-watchers.  Sparse reads and list-snaps come from its C++ API
 *    (rados_snaps.cc, built where libradospp-dev is installed; without it
 *    list_snaps gives ENOTSUP and sparse reads read the whole range): of
 *    the extents RADOS reports, 4 KiB blocks of zeroes count as holes too
 *    (memstore reports whole objects; the holes read as zeroes, all the
 *    contract promises).  list_snaps is RADOS' own: clones of removed snaps
 *    stay listed until the OSD has trimmed them.  Watchers are found
 *    with a notify: each live watch answers with its holder (client, pid,
 *    mode, description); a watch whose process died stops answering at
 *    once (it times out in the notify), so it is not listed.
 *  - Locks are cls_lock locks; lbd's client name, pid, tag and description
 *    ride in the cls_lock cookie ("COOKIE\x1fCLIENT\x1fPID\x1fTAG\x1fDESC").
 *    A handle that holds a lock also watches the object; a holder whose
 *    watch no longer answers is dead: it is blocklisted and its lock
 *    broken (as librbd does) before a conflicting lock is refused.
 *  - create_history is emulated, state by state, under a marker xattr that
 *    every other IO on the object waits for (rados_history.c).
 *
 * Concurrency: every entry point may be called from several threads at
 * once (the pool's mutex guards only its lists of ioctxs, watches and
 * locks). */
#ifndef LBD_OBJSTORE_RADOS_H
#define LBD_OBJSTORE_RADOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <rados/librados.h>

#include "objstore/rados/rados_wop.h"

#include "objstore/backend.h"

struct rados_conn;

struct rados_watch_rec {
  char *oid;
  uint64_t id;       /* what the caller holds (the handle changes) */
  uint64_t handle;   /* librados' watch, registered again when lost */
  bool lost;         /* a watch error: being registered again */
  char *payload;     /* what it answers to a notify */
  size_t plen;
  bool liveness;     /* taken for a lock, not a user watch */
  unsigned refs;     /* liveness: how many locks on OID use it */
};

struct rados_lock_rec {
  char *oid, *name, *cookie;
  char *rcookie;     /* the encoded cls_lock cookie */
};

struct objstore_backend_pool {
  struct rados_conn *conn;
  char *rpool;             /* RADOS pool name */
  char *ns;
  char client[64];
  pthread_mutex_t mu;
  rados_ioctx_t *free_io;  /* idle ioctxs, namespace set */
  size_t nfree, capfree;
  rados_ioctx_t wio;       /* watches, notifies, locks: lives as long as bp */
  struct rados_watch_rec *watches;
  size_t nwatches;
  bool rewatching, rewatch_joinable, closing;
  pthread_t rewatch_thread; /* registers lost watches again */
  pid_t rewatch_pid;        /* the process that started it */
  struct rados_lock_rec *locks;
  size_t nlocks;
};

/* Parse "rados://POOL?conf=FILE[&id=ID]"; strings are malloc'd. */
int rados_config_parse(const char *config, char **pool, char **conf,
                       char **id);
/* A negative RADOS errno as the contract's, with a message. */
int rados_err(int r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

rados_ioctx_t rados_io_get(struct objstore_backend_pool *bp, int *err);
void rados_io_put(struct objstore_backend_pool *bp, rados_ioctx_t io);
rados_t rados_conn_cluster(struct rados_conn *conn);

/* rados_holders.c */
int rados_be_watch(struct objstore_backend_pool *bp, const char *oid,
                   const char *desc, bool rw, uint64_t *handle);
int rados_be_unwatch(struct objstore_backend_pool *bp, const char *oid,
                     uint64_t handle);
int rados_be_list_watchers(struct objstore_backend_pool *bp, const char *oid,
                           struct objstore_holder **holders, size_t *count);
int rados_be_lock(struct objstore_backend_pool *bp, const char *oid,
                  const char *name, enum objstore_lock_type type,
                  const char *cookie, const char *tag, const char *desc);
int rados_be_unlock(struct objstore_backend_pool *bp, const char *oid,
                    const char *name, const char *cookie);
int rados_be_break_lock(struct objstore_backend_pool *bp, const char *oid,
                        const char *name, const char *client,
                        const char *cookie);
int rados_be_list_lockers(struct objstore_backend_pool *bp, const char *oid,
                          const char *name, struct objstore_holder **holders,
                          size_t *count);
/* Drop every watch and lock BP took (pool close). */
void rados_holders_release(struct objstore_backend_pool *bp);
/* A watch on OID that tells others this handle is alive (counted). */
int rados_liveness_ref(struct objstore_backend_pool *bp, const char *oid);
void rados_liveness_unref(struct objstore_backend_pool *bp, const char *oid);

/* rados_history.c */
/* The xattr an object carries while its history is being written. */
#define RADOS_BUILD_XATTR "lbd.building"
int rados_be_create_history(struct objstore_backend_pool *bp, const char *oid,
                            const struct objstore_history_state *states,
                            size_t n, uint64_t seq);
/* OID carried the marker: 1 after a short wait (go again), 0 if it is gone
 * already, <0 if its builder died or it stays too long. */
int rados_history_wait(struct objstore_backend_pool *bp, rados_ioctx_t io,
                       const char *oid, unsigned *waited_ms);

#endif
