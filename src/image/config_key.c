/* The config-key store of a cluster (as Ceph's `ceph config-key`): an LMDB
 * environment in <cluster dir>/config-key/, a directory of mode 0700 whose
 * files have mode 0600, so that only the cluster's owner reads the values
 * (they may be secrets, e.g. S3 keys).  Modes are checked and tightened at
 * every open; the store is made by the first set. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/image.h"
#include "objstore/kvenv.h"
#include "util/error.h"

#define STORE_DIR "config-key"
#define STORE_MAPSIZE (64ULL << 20)
#define MAX_KEY 256
#define MAX_VALUE (64 * 1024)

static int check_key(const char *key)
{
  if (!key || !*key)
    return lbd_error(EINVAL, "config key is empty");
  if (strlen(key) > MAX_KEY)
    return lbd_error(ENAMETOOLONG, "config key is longer than %d bytes",
                     MAX_KEY);
  for (const char *p = key; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return lbd_error(EINVAL, "config key may not contain control "
                       "characters");
  return 0;
}

/* Make PATH (a file of the store) exist with mode 0600. */
static int private_file(const char *path)
{
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return lbd_error(errno, "config-key store %s: %s", path, strerror(errno));
  struct stat st;
  int r = 0;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    r = lbd_error(EIO, "config-key store %s is not a regular file", path);
  else if ((st.st_mode & 077) && fchmod(fd, 0600) < 0)
    r = lbd_error(errno, "config-key store %s: %s", path, strerror(errno));
  close(fd);
  return r;
}

/* Open the store of CLUSTER; CREATE: make it if missing, else ENOENT
 * (without a message) when there is none. */
static int store_open(lbd_cluster_t *cluster, bool create, struct kvenv **kv)
{
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/" STORE_DIR, cluster->dir);
  struct stat st;
  if (lstat(dir, &st) < 0) {
    if (errno != ENOENT)
      return lbd_error(errno, "config-key store %s: %s", dir, strerror(errno));
    if (!create)
      return -ENOENT;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
      return lbd_error(errno, "creating config-key store %s: %s", dir,
                       strerror(errno));
    if (lstat(dir, &st) < 0)
      return lbd_error(errno, "config-key store %s: %s", dir, strerror(errno));
  }
  if (!S_ISDIR(st.st_mode))
    return lbd_error(EIO, "config-key store %s is not a directory", dir);
  if (st.st_uid != geteuid())
    return lbd_error(EACCES, "config-key store %s belongs to another user "
                     "(uid %d)", dir, (int)st.st_uid);
  if ((st.st_mode & 077) && chmod(dir, 0700) < 0)
    return lbd_error(errno, "config-key store %s: %s", dir, strerror(errno));
  static const char *const files[] = {"data.mdb", "lock.mdb"};
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    if (!create && access(path, F_OK) < 0)
      return -ENOENT; /* made but never written */
    int r = private_file(path);
    if (r < 0)
      return r;
  }
  static const char *const dbs[] = {"config-key"};
  int r = kvenv_open(dir, STORE_MAPSIZE, dbs, 1, kv);
  if (r == 0 && (r = kvenv_refresh(*kv)) < 0)
    kvenv_close(*kv);
  return r;
}

int lbd_config_key_set(lbd_cluster_t *cluster, const char *key,
                       const void *value, size_t len)
{
  lbd_error_clear();
  int r = check_key(key);
  if (r < 0)
    return r;
  if (!value && len)
    return lbd_error(EINVAL, "config key %s: no value", key);
  if (len > MAX_VALUE)
    return lbd_error(EFBIG, "config key %s: value of %zu bytes is over the "
                     "limit of %d", key, len, MAX_VALUE);
  struct kvenv *kv;
  MDB_txn *txn;
  if ((r = store_open(cluster, true, &kv)) < 0)
    return lbd_error_prefix(r, "setting config key %s", key);
  if ((r = kvenv_begin(kv, true, &txn)) == 0) {
    r = kv_put(txn, kv->dbi[0], key, strlen(key), value ? value : "", len);
    if (r == 0)
      r = kvenv_commit(txn);
    else
      mdb_txn_abort(txn);
  }
  kvenv_close(kv);
  return r < 0 ? lbd_error_prefix(r, "setting config key %s", key) : 0;
}

int lbd_config_key_get(lbd_cluster_t *cluster, const char *key, char **value,
                       size_t *len)
{
  lbd_error_clear();
  *value = NULL;
  if (len)
    *len = 0;
  int r = check_key(key);
  if (r < 0)
    return r;
  struct kvenv *kv;
  MDB_txn *txn;
  if ((r = store_open(cluster, false, &kv)) < 0)
    return r == -ENOENT && !*lbd_last_error()
               ? lbd_error(ENOENT, "config key %s does not exist", key)
               : lbd_error_prefix(r, "getting config key %s", key);
  if ((r = kvenv_begin(kv, false, &txn)) == 0) {
    MDB_val v;
    r = kv_get(txn, kv->dbi[0], key, strlen(key), &v);
    if (r == 0) {
      char *copy = malloc(v.mv_size + 1);
      if (!copy) {
        r = lbd_error(ENOMEM, "out of memory");
      } else {
        memcpy(copy, v.mv_data, v.mv_size);
        copy[v.mv_size] = '\0';
        *value = copy;
        if (len)
          *len = v.mv_size;
      }
    } else if (r == -ENOENT) {
      r = lbd_error(ENOENT, "config key %s does not exist", key);
    }
    mdb_txn_abort(txn);
  }
  kvenv_close(kv);
  return r;
}

int lbd_config_key_remove(lbd_cluster_t *cluster, const char *key)
{
  lbd_error_clear();
  int r = check_key(key);
  if (r < 0)
    return r;
  struct kvenv *kv;
  MDB_txn *txn;
  if ((r = store_open(cluster, false, &kv)) < 0)
    return r == -ENOENT && !*lbd_last_error()
               ? lbd_error(ENOENT, "config key %s does not exist", key)
               : lbd_error_prefix(r, "removing config key %s", key);
  if ((r = kvenv_begin(kv, true, &txn)) == 0) {
    r = kv_del(txn, kv->dbi[0], key, strlen(key));
    if (r == 0) {
      r = kvenv_commit(txn);
    } else {
      mdb_txn_abort(txn);
      if (r == -ENOENT)
        r = lbd_error(ENOENT, "config key %s does not exist", key);
    }
  }
  kvenv_close(kv);
  return r < 0 && r != -ENOENT
             ? lbd_error_prefix(r, "removing config key %s", key) : r;
}

int lbd_config_key_list(lbd_cluster_t *cluster, char ***keys, size_t *count)
{
  lbd_error_clear();
  *keys = NULL;
  *count = 0;
  struct kvenv *kv;
  MDB_txn *txn;
  int r = store_open(cluster, false, &kv);
  if (r == -ENOENT && !*lbd_last_error())
    return 0; /* no store yet: no keys */
  if (r < 0)
    return lbd_error_prefix(r, "listing config keys");
  if ((r = kvenv_begin(kv, false, &txn)) == 0) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, kv->dbi[0], &cur);
    if (rc) {
      r = kvenv_error(rc, "listing config keys");
    } else {
      MDB_val k, v;
      size_t cap = 0;
      for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
           rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (*count + 1 > cap) {
          cap = cap ? cap * 2 : 16;
          char **p = realloc(*keys, cap * sizeof *p);
          if (!p) {
            r = lbd_error(ENOMEM, "out of memory");
            break;
          }
          *keys = p;
        }
        if (!((*keys)[*count] = strndup(k.mv_data, k.mv_size)))
          r = lbd_error(ENOMEM, "out of memory");
        else
          (*count)++;
      }
      if (r == 0 && rc != MDB_NOTFOUND)
        r = kvenv_error(rc, "listing config keys");
      mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
  }
  kvenv_close(kv);
  if (r < 0) {
    lbd_names_free(*keys, *count);
    *keys = NULL;
    *count = 0;
  }
  return r;
}
