#include "objstore/kvenv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

struct kvenv_entry {
  struct kvenv kv;  /* first: a struct kvenv * is an entry */
  dev_t dev;
  ino_t ino;
  int refs;
  struct kvenv_entry *next;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvenv_entry *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* The registry lock is held across fork, so that no other thread of the
 * parent holds it then (the child would never see it released).  The
 * child must not touch the parent's environments: forget them (they leak
 * in the child, which is what LMDB asks for). */
static void registry_prepare(void) { pthread_mutex_lock(&registry_lock); }
static void registry_parent(void) { pthread_mutex_unlock(&registry_lock); }
static void registry_forget(void)
{
  registry = NULL;
  pthread_mutex_unlock(&registry_lock);
}
static void registry_atfork(void)
{
  pthread_atfork(registry_prepare, registry_parent, registry_forget);
}

int kvenv_error(int rc, const char *what)
{
  switch (rc) {
  case 0:
    return 0;
  case MDB_NOTFOUND:
    return lbd_error(ENOENT, "%s: not found", what);
  case MDB_MAP_FULL:
    return lbd_error(ENOSPC, "%s: metadata store is full", what);
  case MDB_KEYEXIST:
    return lbd_error(EEXIST, "%s: key exists", what);
  case MDB_BAD_VALSIZE:
    return lbd_error(EINVAL, "%s: key too long for the metadata store", what);
  case MDB_READERS_FULL:
  case MDB_TXN_FULL:
  case MDB_CURSOR_FULL:
    return lbd_error(EBUSY, "%s: %s", what, mdb_strerror(rc));
  default:
    if (rc > 0 && rc < 4096)
      return lbd_error(rc, "%s: %s", what, strerror(rc));
    return lbd_error(EIO, "%s: metadata store damaged: %s", what,
                     mdb_strerror(rc));
  }
}

static int env_open(const char *dir, size_t mapsize,
                    const char *const *dbnames, size_t ndbs, struct kvenv *kv)
{
  int rc = mdb_env_create(&kv->env);
  if (rc)
    return kvenv_error(rc, "creating metadata environment");
  mdb_env_set_maxdbs(kv->env, KVENV_MAX_DBS);
  mdb_env_set_mapsize(kv->env, mapsize);
  mdb_env_set_maxreaders(kv->env, 1022);
  /* NOMETASYNC: one fsync per commit, never a corrupt store after a power
   * loss (the last commit may be undone: see objstore_flush). */
  rc = mdb_env_open(kv->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0644);
  if (rc) {
    mdb_env_close(kv->env);
    return kvenv_error(rc, "opening metadata store");
  }
  int dead;
  mdb_reader_check(kv->env, &dead);
  MDB_txn *txn;
  rc = mdb_txn_begin(kv->env, NULL, 0, &txn);
  for (size_t i = 0; rc == 0 && i < ndbs; i++)
    rc = mdb_dbi_open(txn, dbnames[i], MDB_CREATE, &kv->dbi[i]);
  if (rc == 0)
    rc = mdb_txn_commit(txn);
  else
    mdb_txn_abort(txn);
  if (rc) {
    mdb_env_close(kv->env);
    return kvenv_error(rc, "opening metadata tables");
  }
  return 0;
}

int kvenv_open(const char *dir, size_t mapsize, const char *const *dbnames,
               size_t ndbs, struct kvenv **out)
{
  pthread_once(&atfork_once, registry_atfork);
  struct stat st;
  if (stat(dir, &st) < 0)
    return lbd_error(errno, "metadata directory %s: %s", dir, strerror(errno));
  pthread_mutex_lock(&registry_lock);
  for (struct kvenv_entry *e = registry; e; e = e->next) {
    if (e->dev == st.st_dev && e->ino == st.st_ino) {
      e->refs++;
      pthread_mutex_unlock(&registry_lock);
      *out = &e->kv;
      return 0;
    }
  }
  struct kvenv_entry *e = calloc(1, sizeof *e);
  int r = e ? env_open(dir, mapsize, dbnames, ndbs, &e->kv) : -ENOMEM;
  if (r < 0) {
    free(e);
    pthread_mutex_unlock(&registry_lock);
    return r == -ENOMEM ? lbd_error(ENOMEM, "out of memory") : r;
  }
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->refs = 1;
  e->next = registry;
  registry = e;
  pthread_mutex_unlock(&registry_lock);
  *out = &e->kv;
  return 0;
}

void kvenv_close(struct kvenv *kv)
{
  if (!kv)
    return;
  struct kvenv_entry *e = (struct kvenv_entry *)kv;
  pthread_mutex_lock(&registry_lock);
  if (--e->refs > 0) {
    pthread_mutex_unlock(&registry_lock);
    return;
  }
  for (struct kvenv_entry **p = &registry; *p; p = &(*p)->next) {
    if (*p == e) {
      *p = e->next;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  mdb_env_close(e->kv.env);
  free(e);
}

int kvenv_begin(struct kvenv *kv, bool write, MDB_txn **txn)
{
  int rc = mdb_txn_begin(kv->env, NULL, write ? 0 : MDB_RDONLY, txn);
  if (rc == MDB_MAP_RESIZED) {
    mdb_env_set_mapsize(kv->env, 0);
    rc = mdb_txn_begin(kv->env, NULL, write ? 0 : MDB_RDONLY, txn);
  }
  return rc ? kvenv_error(rc, "starting a metadata transaction") : 0;
}

int kvenv_refresh(struct kvenv *kv)
{
  int dead;
  mdb_reader_check(kv->env, &dead); /* slots of killed readers */
  MDB_txn *txn;
  int r = kvenv_begin(kv, true, &txn);
  if (r == 0)
    mdb_txn_abort(txn);
  return r;
}

int kvenv_commit(MDB_txn *txn)
{
  int rc = mdb_txn_commit(txn);
  return rc ? kvenv_error(rc, "committing metadata") : 0;
}

int kv_get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
           MDB_val *val)
{
  MDB_val k = {klen, (void *)key};
  int rc = mdb_get(txn, dbi, &k, val);
  if (rc == MDB_NOTFOUND)
    return -ENOENT;
  return rc ? kvenv_error(rc, "reading metadata") : 0;
}

int kv_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen,
           const void *val, size_t vlen)
{
  MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
  int rc = mdb_put(txn, dbi, &k, &v, 0);
  return rc ? kvenv_error(rc, "writing metadata") : 0;
}

int kv_del(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen)
{
  MDB_val k = {klen, (void *)key};
  int rc = mdb_del(txn, dbi, &k, NULL);
  if (rc == MDB_NOTFOUND)
    return -ENOENT;
  return rc ? kvenv_error(rc, "deleting metadata") : 0;
}

int kv_del_prefix(MDB_txn *txn, MDB_dbi dbi, const void *prefix, size_t plen)
{
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, dbi, &cur);
  if (rc)
    return kvenv_error(rc, "deleting metadata");
  MDB_val k = {plen, (void *)prefix}, v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0) {
    rc = mdb_cursor_del(cur, 0);
    if (rc == 0) { /* seek again: a cursor's position after a delete varies */
      k.mv_size = plen;
      k.mv_data = (void *)prefix;
      rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
  }
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? 0 : kvenv_error(rc, "deleting metadata");
}
