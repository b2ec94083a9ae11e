/* For test programs that interpose LMDB's transaction calls with their
 * own (a program's definitions run before liblmdb's): LMDB's own calls,
 * and, with LMDB_HOOKS_FAIL_COMMITS defined, an mdb_txn_commit that fails
 * top-level write commits on request.  Include in one file per program. */
#ifndef LBD_TESTS_LMDB_HOOKS_H
#define LBD_TESTS_LMDB_HOOKS_H
#include <dlfcn.h>
#include <errno.h>
#include <lmdb.h>

static inline int lmdb_real_txn_begin(MDB_env *env, MDB_txn *parent,
                                      unsigned flags, MDB_txn **txn)
{
  static int (*real)(MDB_env *, MDB_txn *, unsigned, MDB_txn **);
  if (!real)
    real = (int (*)(MDB_env *, MDB_txn *, unsigned, MDB_txn **))dlsym(
        RTLD_NEXT, "mdb_txn_begin");
  return real(env, parent, flags, txn);
}

static inline int lmdb_real_txn_commit(MDB_txn *txn)
{
  static int (*real)(MDB_txn *);
  if (!real)
    real = (int (*)(MDB_txn *))dlsym(RTLD_NEXT, "mdb_txn_commit");
  return real(txn);
}

static inline void lmdb_real_txn_abort(MDB_txn *txn)
{
  static void (*real)(MDB_txn *);
  if (!real)
    real = (void (*)(MDB_txn *))dlsym(RTLD_NEXT, "mdb_txn_abort");
  real(txn);
}

#ifdef LMDB_HOOKS_FAIL_COMMITS
static int fail_commits; /* top-level write commits to fail */
/* This thread's top-level write transaction: the program's mdb_txn_begin
 * sets it. */
static _Thread_local MDB_txn *top_write;

int mdb_txn_commit(MDB_txn *txn)
{
  if (txn && txn == top_write) {
    top_write = NULL;
    if (__atomic_load_n(&fail_commits, __ATOMIC_SEQ_CST) > 0 &&
        __atomic_sub_fetch(&fail_commits, 1, __ATOMIC_SEQ_CST) >= 0) {
      lmdb_real_txn_abort(txn); /* as a failed commit leaves it: gone */
      return EIO;
    }
  }
  return lmdb_real_txn_commit(txn);
}
#endif
#endif
