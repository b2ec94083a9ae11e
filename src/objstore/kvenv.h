/* LMDB environments shared by every handle of one process.  LMDB forbids
 * opening one environment twice in a process (closing either breaks the
 * other's locks), so handles share one refcounted instance per directory;
 * a forked child opens its own. */
#ifndef LBD_OBJSTORE_KVENV_H
#define LBD_OBJSTORE_KVENV_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>

#define KVENV_MAX_DBS 8

struct kvenv {
  MDB_env *env;
  MDB_dbi dbi[KVENV_MAX_DBS];
};

/* Open (creating if needed) the environment in directory DIR with the named
 * databases, in order; kv->dbi[i] is DBNAMES[i]. */
int kvenv_open(const char *dir, size_t mapsize, const char *const *dbnames,
               size_t ndbs, struct kvenv **out);
void kvenv_close(struct kvenv *kv);

int kvenv_begin(struct kvenv *kv, bool write, MDB_txn **txn);
/* Make read transactions see every commit on disk.  A writer killed inside
 * mdb_txn_commit, after its meta page but before the lock file's txn id,
 * leaves readers on the older snapshot until the next writer takes the
 * (robust) writer mutex; beginning a write transaction does that now. */
int kvenv_refresh(struct kvenv *kv);
/* Commit; on failure the txn is gone and an error is set. */
int kvenv_commit(MDB_txn *txn);

/* Map an LMDB return code to a negative errno with a message about WHAT. */
int kvenv_error(int rc, const char *what);

/* Get, put and delete with errno results; get gives -ENOENT when missing
 * (without setting a message: callers decide if missing is an error). */
int kv_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
           MDB_val *val);
int kv_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
           const void *val, size_t vlen);
int kv_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen);
/* Delete every key that starts with PREFIX. */
int kv_del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen);

#endif
