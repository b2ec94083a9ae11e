/* The generic object store layer: the cluster's pool registry (an LMDB
 * environment in the cluster directory), argument checks shared by every
 * backend, and dispatch to the backend that holds each pool. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "objstore/backend.h"
#include "objstore/kvenv.h"
#include "util/error.h"
#include "util/random.h"

#define CLUSTER_MARKER "lbd-cluster"
#define CLUSTER_MAPSIZE ((size_t)1 << 30)

enum { DB_POOLS, DB_POOL_IDS, DB_CFG, DB_COUNT };
static const char *const cluster_dbs[DB_COUNT] = {"pools", "pool_ids", "cfg"};

struct objstore_cluster {
  char *dir;
  char uuid[40];
  char client[64];
  struct kvenv *kv;
};

struct objstore_pool {
  struct objstore_cluster *cluster;
  int64_t id;
  char *ns;
  const struct objstore_backend *be;
  struct objstore_backend_pool *bp;
};

static const struct objstore_backend *const backends[] = {
    &objstore_local_backend,
#ifdef LBD_HAVE_RADOS
    &objstore_rados_backend,
#endif
};

static const struct objstore_backend *backend_find(const char *name)
{
  for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
    if (strcmp(backends[i]->name, name) == 0)
      return backends[i];
  return NULL;
}

/* ---- small helpers ----------------------------------------------------- */

static int mkdir_p(const char *path)
{
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return lbd_error(ENAMETOOLONG, "path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
      return lbd_error(errno, "cannot create directory %s: %s", buf,
                       strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) < 0 && errno != EEXIST)
    return lbd_error(errno, "cannot create directory %s: %s", buf,
                     strerror(errno));
  return 0;
}

/* 1 if DIR holds nothing, 0 if it holds something, <0 on error. */
static int dir_is_empty(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    return lbd_error(errno, "cannot read directory %s: %s", dir,
                     strerror(errno));
  struct dirent *de;
  int empty = 1;
  while ((de = readdir(d)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      empty = 0;
  closedir(d);
  return empty;
}

static int write_file_atomic(const char *path, const char *text)
{
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return lbd_error(errno, "cannot create %s: %s", tmp, strerror(errno));
  size_t len = strlen(text);
  int r = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  if (r == 0 && rename(tmp, path) < 0)
    r = -errno;
  if (r < 0) {
    unlink(tmp);
    return lbd_error(r, "cannot write %s: %s", path, strerror(-r));
  }
  return 0;
}

static int check_name(const char *what, const char *name, size_t max,
                      bool allow_empty)
{
  if (!name || (!allow_empty && !*name))
    return lbd_error(EINVAL, "%s is empty", what);
  if (strlen(name) > max)
    return lbd_error(ENAMETOOLONG, "%s \"%.40s...\" is longer than %zu bytes",
                     what, name, max);
  return 0;
}

/* Every object call starts here: it also clears the message of an earlier
 * call, so that a message never outlives its error. */
static int check_oid(const char *oid)
{
  lbd_error_clear();
  return check_name("object name", oid, OBJSTORE_MAX_OBJECT_NAME, false);
}

static int check_snapc(const struct objstore_snapc *snapc)
{
  if (!snapc)
    return 0;
  if (snapc->nsnaps && !snapc->snaps)
    return lbd_error(EINVAL, "snap context has %zu snaps but no array",
                     snapc->nsnaps);
  for (size_t i = 0; i < snapc->nsnaps; i++) {
    if (snapc->snaps[i] > snapc->seq || snapc->snaps[i] == 0)
      return lbd_error(EINVAL,
                       "snap context: snap id %" PRIu64 " is above seq %" PRIu64
                       " or zero",
                       snapc->snaps[i], snapc->seq);
    if (i && snapc->snaps[i] >= snapc->snaps[i - 1])
      return lbd_error(EINVAL,
                       "snap context: snap ids must be sorted newest first");
  }
  return 0;
}

/* ---- cluster ------------------------------------------------------------ */

static int meta_dir(const char *dir, char *out, size_t size)
{
  if (snprintf(out, size, "%s/meta", dir) >= (int)size)
    return lbd_error(ENAMETOOLONG, "cluster path too long: %s", dir);
  return 0;
}

int objstore_cluster_create(const char *dir)
{
  char path[PATH_MAX];
  if (!dir || !*dir)
    return lbd_error(EINVAL, "no cluster directory given");
  int r = mkdir_p(dir);
  if (r < 0)
    return r;
  snprintf(path, sizeof path, "%s/" CLUSTER_MARKER, dir);
  if (access(path, F_OK) == 0)
    return lbd_error(EEXIST, "%s is already an lbd cluster", dir);
  r = dir_is_empty(dir);
  if (r < 0)
    return r;
  if (r == 0)
    return lbd_error(ENOTEMPTY,
                     "directory %s is not empty: give a new or empty directory",
                     dir);
  if ((r = meta_dir(dir, path, sizeof path)) < 0 || (r = mkdir_p(path)) < 0)
    return r;
  struct kvenv *kv;
  if ((r = kvenv_open(path, CLUSTER_MAPSIZE, cluster_dbs, DB_COUNT, &kv)) < 0)
    return r;
  char uuid[40];
  snprintf(uuid, sizeof uuid, "%016" PRIx64 "%016" PRIx64, lbd_random_u64(),
           lbd_random_u64());
  uint64_t next_id = 1;
  MDB_txn *txn;
  if ((r = kvenv_begin(kv, true, &txn)) == 0) {
    if ((r = kv_put(txn, kv->dbi[DB_CFG], "uuid", 4, uuid, strlen(uuid))) < 0 ||
        (r = kv_put(txn, kv->dbi[DB_CFG], "next_pool_id", 12, &next_id,
                    sizeof next_id)) < 0)
      mdb_txn_abort(txn);
    else
      r = kvenv_commit(txn);
  }
  kvenv_close(kv);
  if (r < 0)
    return r;
  char text[128];
  snprintf(text, sizeof text, "lbd cluster format 1\nuuid %s\n", uuid);
  snprintf(path, sizeof path, "%s/" CLUSTER_MARKER, dir);
  return write_file_atomic(path, text);
}

int objstore_cluster_open(const char *dir, struct objstore_cluster **out)
{
  static atomic_uint handles;
  char path[PATH_MAX];
  int r;
  if (!dir || !*dir)
    return lbd_error(EINVAL, "no cluster directory given");
  snprintf(path, sizeof path, "%s/" CLUSTER_MARKER, dir);
  if (access(path, F_OK) < 0)
    return lbd_error(ENOENT,
                     "%s is not an lbd cluster (no %s file): create one first",
                     dir, CLUSTER_MARKER);
  struct objstore_cluster *c = calloc(1, sizeof *c);
  if (!c)
    return lbd_error(ENOMEM, "out of memory");
  if (!(c->dir = realpath(dir, NULL))) {
    free(c);
    return lbd_error(errno, "cluster directory %s: %s", dir, strerror(errno));
  }
  if ((r = meta_dir(c->dir, path, sizeof path)) < 0 ||
      (r = kvenv_open(path, CLUSTER_MAPSIZE, cluster_dbs, DB_COUNT, &c->kv)) < 0)
    goto fail;
  MDB_txn *txn;
  if ((r = kvenv_begin(c->kv, false, &txn)) < 0)
    goto fail;
  MDB_val v;
  r = kv_get(txn, c->kv->dbi[DB_CFG], "uuid", 4, &v);
  if (r == 0)
    snprintf(c->uuid, sizeof c->uuid, "%.*s", (int)v.mv_size,
             (char *)v.mv_data);
  mdb_txn_abort(txn);
  if (r < 0) {
    r = lbd_error(EIO, "cluster %s has no uuid: its metadata is damaged", dir);
    goto fail;
  }
  snprintf(c->client, sizeof c->client, "client.%ld.%u", (long)getpid(),
           atomic_fetch_add(&handles, 1) + 1);
  *out = c;
  return 0;
fail:
  kvenv_close(c->kv);
  free(c->dir);
  free(c);
  return r;
}

void objstore_cluster_close(struct objstore_cluster *cluster)
{
  if (!cluster)
    return;
  kvenv_close(cluster->kv);
  free(cluster->dir);
  free(cluster);
}

const char *objstore_cluster_client(const struct objstore_cluster *cluster)
{
  return cluster->client;
}

/* ---- pool registry -------------------------------------------------------- */

/* A registry value: "<id>\0<backend>\0<path>". */
static int pool_decode(const MDB_val *v, const char *name,
                       struct objstore_pool_info *info)
{
  const char *p = v->mv_data, *end = p + v->mv_size;
  const char *backend = memchr(p, '\0', v->mv_size);
  const char *path = backend ? memchr(backend + 1, '\0', end - backend - 1) : NULL;
  if (!path)
    return lbd_error(EIO, "pool %s: registry entry is damaged", name);
  memset(info, 0, sizeof *info);
  info->id = strtoll(p, NULL, 10);
  snprintf(info->name, sizeof info->name, "%s", name);
  snprintf(info->backend, sizeof info->backend, "%s", backend + 1);
  info->path = strndup(path + 1, end - path - 1);
  return info->path ? 0 : lbd_error(ENOMEM, "out of memory");
}

static int pool_get_by_name(MDB_txn *txn, struct objstore_cluster *c,
                            const char *name, struct objstore_pool_info *info)
{
  MDB_val v;
  int r = kv_get(txn, c->kv->dbi[DB_POOLS], name, strlen(name), &v);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "no such pool \"%s\"", name);
  return r < 0 ? r : pool_decode(&v, name, info);
}

static int pool_get_by_id(MDB_txn *txn, struct objstore_cluster *c, int64_t id,
                          struct objstore_pool_info *info)
{
  MDB_val v;
  uint64_t key = (uint64_t)id;
  int r = kv_get(txn, c->kv->dbi[DB_POOL_IDS], &key, sizeof key, &v);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "no pool with id %" PRId64, id);
  if (r < 0)
    return r;
  char name[OBJSTORE_MAX_POOL_NAME + 1];
  snprintf(name, sizeof name, "%.*s", (int)v.mv_size, (char *)v.mv_data);
  return pool_get_by_name(txn, c, name, info);
}

int objstore_pool_create(struct objstore_cluster *c, const char *name,
                         const char *dir, int64_t *id_out)
{
  return objstore_pool_create_ext(c, name, "local", dir, id_out);
}

int objstore_rados_config(char *buf, size_t size, const char *rados_pool,
                          const char *ceph_conf)
{
  if (!rados_pool || !*rados_pool || strpbrk(rados_pool, "?&/") ||
      (ceph_conf && strchr(ceph_conf, '&')))
    return lbd_error(EINVAL, "RADOS pool name \"%s\" (or ceph.conf path) "
                     "holds '?', '&' or '/', or is empty",
                     rados_pool ? rados_pool : "");
  if (snprintf(buf, size, "rados://%s%s%s", rados_pool,
               ceph_conf && *ceph_conf ? "?conf=" : "",
               ceph_conf ? ceph_conf : "") >= (int)size)
    return lbd_error(ENAMETOOLONG, "rados pool config is too long");
  return 0;
}

int objstore_pool_create_ext(struct objstore_cluster *c, const char *name,
                             const char *backend, const char *config,
                             int64_t *id_out)
{
  const char *dir = config;
  const struct objstore_backend *be = backend_find(backend ? backend : "");
  if (!be)
    return lbd_error(ENOTSUP, "no backend \"%s\" in this build of lbd%s",
                     backend ? backend : "",
                     backend && strcmp(backend, "rados") == 0
                         ? " (built without librados)" : "");
  bool local = be == &objstore_local_backend;
  if (!local && (!config || !*config))
    return lbd_error(EINVAL, "a %s pool needs its config", be->name);
  int r = check_name("pool name", name, OBJSTORE_MAX_POOL_NAME, false);
  if (r < 0)
    return r;
  if (strchr(name, '/') || strchr(name, '@'))
    return lbd_error(EINVAL, "pool name \"%s\" may not contain '/' or '@'",
                     name);
  MDB_txn *txn;
  if ((r = kvenv_begin(c->kv, true, &txn)) < 0)
    return r;
  MDB_val v;
  uint64_t next_id = 0;
  char path[PATH_MAX];
  char *real = NULL;
  if ((r = kv_get(txn, c->kv->dbi[DB_POOLS], name, strlen(name), &v)) == 0) {
    r = lbd_error(EEXIST, "pool \"%s\" exists", name);
    goto out;
  }
  if ((r = kv_get(txn, c->kv->dbi[DB_CFG], "next_pool_id", 12, &v)) < 0 ||
      v.mv_size != sizeof next_id) {
    r = lbd_error(EIO, "cluster %s: pool id counter is damaged", c->dir);
    goto out;
  }
  memcpy(&next_id, v.mv_data, sizeof next_id);
  if (!local) /* the backend's config, kept as the pool's path */
    snprintf(path, sizeof path, "%s", config);
  else if (dir)
    snprintf(path, sizeof path, "%s", dir);
  else
    snprintf(path, sizeof path, "%s/pools/%" PRIu64, c->dir, next_id);
  if (local && (r = mkdir_p(path)) < 0)
    goto out;
  if (!(real = local ? realpath(path, NULL) : strdup(path))) {
    r = lbd_error(errno, "pool directory %s: %s", path, strerror(errno));
    goto out;
  }
  if ((r = be->pool_init(real, c->uuid, (int64_t)next_id)) < 0)
    goto out;
  char val[PATH_MAX + 64];
  int n = snprintf(val, sizeof val, "%" PRIu64 "%c%s%c%s", next_id, '\0',
                   be->name, '\0', real);
  uint64_t id_key = next_id, bumped = next_id + 1;
  if ((r = kv_put(txn, c->kv->dbi[DB_POOLS], name, strlen(name), val, n)) < 0 ||
      (r = kv_put(txn, c->kv->dbi[DB_POOL_IDS], &id_key, sizeof id_key, name,
                  strlen(name))) < 0 ||
      (r = kv_put(txn, c->kv->dbi[DB_CFG], "next_pool_id", 12, &bumped,
                  sizeof bumped)) < 0)
    goto out;
  r = kvenv_commit(txn);
  txn = NULL;
  if (r == 0 && id_out)
    *id_out = (int64_t)next_id;
out:
  if (txn)
    mdb_txn_abort(txn);
  free(real);
  return r;
}

int objstore_pool_remove(struct objstore_cluster *c, const char *name)
{
  int r = check_name("pool name", name, OBJSTORE_MAX_POOL_NAME, false);
  if (r < 0)
    return r;
  MDB_txn *txn;
  if ((r = kvenv_begin(c->kv, true, &txn)) < 0)
    return r;
  struct objstore_pool_info info;
  if ((r = pool_get_by_name(txn, c, name, &info)) < 0) {
    mdb_txn_abort(txn);
    return r;
  }
  uint64_t id_key = (uint64_t)info.id;
  if ((r = kv_del(txn, c->kv->dbi[DB_POOLS], name, strlen(name))) < 0 ||
      (r = kv_del(txn, c->kv->dbi[DB_POOL_IDS], &id_key, sizeof id_key)) < 0)
    mdb_txn_abort(txn);
  else
    r = kvenv_commit(txn);
  /* Unregistered, durably, first: a crash or power loss below leaves files,
   * never a registered pool without its data. */
  int rc;
  if (r == 0 && (rc = mdb_env_sync(c->kv->env, 1)))
    r = kvenv_error(rc, "syncing the pool registry");
  const struct objstore_backend *be = backend_find(info.backend);
  if (r == 0 && be)
    r = be->pool_destroy(info.path);
  free(info.path);
  return r;
}

int objstore_pool_lookup(struct objstore_cluster *c, const char *name,
                         int64_t *id_out)
{
  struct objstore_pool_info info;
  MDB_txn *txn;
  int r = check_name("pool name", name, OBJSTORE_MAX_POOL_NAME, false);
  if (r < 0 || (r = kvenv_begin(c->kv, false, &txn)) < 0)
    return r;
  r = pool_get_by_name(txn, c, name, &info);
  mdb_txn_abort(txn);
  if (r == 0) {
    *id_out = info.id;
    free(info.path);
  }
  return r;
}

int objstore_pool_get_info(struct objstore_cluster *c, int64_t id,
                           struct objstore_pool_info *info)
{
  MDB_txn *txn;
  int r = kvenv_begin(c->kv, false, &txn);
  if (r < 0)
    return r;
  r = pool_get_by_id(txn, c, id, info);
  mdb_txn_abort(txn);
  return r;
}

int objstore_pool_list(struct objstore_cluster *c,
                       struct objstore_pool_info **infos, size_t *count)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  int r = kvenv_begin(c->kv, false, &txn);
  if (r < 0)
    return r;
  *infos = NULL;
  *count = 0;
  size_t cap = 0;
  int rc = mdb_cursor_open(txn, c->kv->dbi[DB_POOL_IDS], &cur);
  bool cur_open = rc == 0;
  MDB_val k, v;
  for (rc = rc ? rc : mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    uint64_t id;
    memcpy(&id, k.mv_data, sizeof id);
    if (*count == cap) {
      cap = cap ? cap * 2 : 8;
      struct objstore_pool_info *p = realloc(*infos, cap * sizeof *p);
      if (!p) {
        r = lbd_error(ENOMEM, "out of memory");
        break;
      }
      *infos = p;
    }
    if ((r = pool_get_by_id(txn, c, (int64_t)id, &(*infos)[*count])) < 0)
      break;
    (*count)++;
  }
  if (r == 0 && rc != 0 && rc != MDB_NOTFOUND)
    r = kvenv_error(rc, "listing pools");
  if (cur_open)
    mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  if (r < 0) {
    objstore_pool_info_free(*infos, *count);
    *infos = NULL;
    *count = 0;
    return r;
  }
  /* Keys are native-endian ids: sort by value. */
  for (size_t i = 1; i < *count; i++)
    for (size_t j = i; j > 0 && (*infos)[j - 1].id > (*infos)[j].id; j--) {
      struct objstore_pool_info t = (*infos)[j];
      (*infos)[j] = (*infos)[j - 1];
      (*infos)[j - 1] = t;
    }
  return 0;
}

void objstore_pool_info_free(struct objstore_pool_info *infos, size_t count)
{
  for (size_t i = 0; i < count; i++)
    free(infos[i].path);
  free(infos);
}

int objstore_pool_open(struct objstore_cluster *c, int64_t id, const char *ns,
                       struct objstore_pool **out)
{
  int r = check_name("namespace", ns ? ns : "", OBJSTORE_MAX_NS, true);
  if (r < 0)
    return r;
  struct objstore_pool_info info;
  if ((r = objstore_pool_get_info(c, id, &info)) < 0)
    return r;
  const struct objstore_backend *be = backend_find(info.backend);
  struct objstore_pool *p = calloc(1, sizeof *p);
  if (!be || !p) {
    free(p);
    free(info.path);
    return be ? lbd_error(ENOMEM, "out of memory")
              : lbd_error(ENOTSUP, "pool %s uses backend \"%s\", which this "
                          "build of lbd lacks", info.name, info.backend);
  }
  p->cluster = c;
  p->id = id;
  p->be = be;
  p->ns = strdup(ns ? ns : "");
  r = p->ns ? be->pool_open(info.path, id, p->ns, c->client, &p->bp)
            : lbd_error(ENOMEM, "out of memory");
  if (r < 0) {
    lbd_error_prefix(r, "opening pool %s", info.name);
    free(p->ns);
    free(p);
  } else {
    *out = p;
  }
  free(info.path);
  return r;
}

void objstore_pool_close(struct objstore_pool *pool)
{
  if (!pool)
    return;
  pool->be->pool_close(pool->bp);
  free(pool->ns);
  free(pool);
}

int64_t objstore_pool_id(const struct objstore_pool *pool) { return pool->id; }
const char *objstore_pool_ns(const struct objstore_pool *pool)
{
  return pool->ns;
}

int objstore_flush(struct objstore_pool *pool)
{
  return pool->be->flush(pool->bp);
}

/* ---- dispatch ------------------------------------------------------------- */

int objstore_snap_create(struct objstore_pool *pool, uint64_t *snapid_out)
{
  return pool->be->snap_create(pool->bp, snapid_out);
}

int objstore_snap_remove(struct objstore_pool *pool, uint64_t snapid)
{
  if (snapid == 0 || snapid == OBJSTORE_SNAP_HEAD)
    return lbd_error(EINVAL, "%" PRIu64 " is not a snap id", snapid);
  return pool->be->snap_remove(pool->bp, snapid);
}

ssize_t objstore_read(struct objstore_pool *pool, const char *oid,
                      uint64_t snapid, uint64_t off, size_t len, void *buf)
{
  int r = check_oid(oid);
  if (r < 0)
    return r;
  if (len && !buf)
    return lbd_error(EINVAL, "read of %zu bytes into no buffer", len);
  return pool->be->read(pool->bp, oid, snapid, off, len, buf, NULL);
}

ssize_t objstore_sparse_read(struct objstore_pool *pool, const char *oid,
                             uint64_t snapid, uint64_t off, size_t len,
                             void *buf, struct objstore_extent **extents,
                             size_t *nextents)
{
  int r = check_oid(oid);
  if (r < 0)
    return r;
  struct extent_set map = {0};
  ssize_t n = pool->be->read(pool->bp, oid, snapid, off, len, buf, &map);
  if (n < 0) {
    extent_set_free(&map);
    return n;
  }
  _Static_assert(sizeof(struct extent) == sizeof(struct objstore_extent),
                 "extent layouts differ");
  *extents = (struct objstore_extent *)map.ext;
  *nextents = map.n;
  return n;
}

int objstore_stat(struct objstore_pool *pool, const char *oid, uint64_t snapid,
                  struct objstore_stat *st)
{
  int r = check_oid(oid);
  return r < 0 ? r : pool->be->stat(pool->bp, oid, snapid, st);
}

int objstore_list_snaps(struct objstore_pool *pool, const char *oid,
                        struct objstore_snap_set *set)
{
  int r = check_oid(oid);
  return r < 0 ? r : pool->be->list_snaps(pool->bp, oid, set);
}

void objstore_snap_set_free(struct objstore_snap_set *set)
{
  for (size_t i = 0; i < set->nclones; i++) {
    free(set->clones[i].snaps);
    free(set->clones[i].overlap);
  }
  free(set->clones);
  memset(set, 0, sizeof *set);
}

int objstore_getxattr(struct objstore_pool *pool, const char *oid,
                      const char *name, void **value, size_t *len)
{
  int r = check_oid(oid);
  if (r == 0)
    r = check_name("xattr name", name, OBJSTORE_MAX_XATTR_NAME, false);
  return r < 0 ? r : pool->be->getxattr(pool->bp, oid, name, value, len);
}

void objstore_kv_free(struct objstore_kv *kvs, size_t count)
{
  for (size_t i = 0; i < count; i++) {
    free(kvs[i].key);
    free(kvs[i].value);
  }
  free(kvs);
}

int objstore_getxattrs(struct objstore_pool *pool, const char *oid,
                       struct objstore_kv **kvs, size_t *count)
{
  int r = check_oid(oid);
  return r < 0 ? r : pool->be->getxattrs(pool->bp, oid, kvs, count);
}

int objstore_omap_get(struct objstore_pool *pool, const char *oid,
                      const char *start_after, size_t max,
                      struct objstore_kv **kvs, size_t *count, bool *more)
{
  int r = check_oid(oid);
  if (r == 0 && start_after)
    r = check_name("omap key", start_after, OBJSTORE_MAX_OMAP_KEY, true);
  return r < 0 ? r
               : pool->be->omap_get(pool->bp, oid, start_after, max, kvs,
                                    count, more);
}

int objstore_omap_get_keys(struct objstore_pool *pool, const char *oid,
                           const char *const *keys, size_t nkeys,
                           struct objstore_kv **kvs, size_t *count)
{
  int r = check_oid(oid);
  for (size_t i = 0; r == 0 && i < nkeys; i++)
    r = check_name("omap key", keys[i], OBJSTORE_MAX_OMAP_KEY, false);
  return r < 0 ? r
               : pool->be->omap_get_keys(pool->bp, oid, keys, nkeys, kvs,
                                         count);
}

int objstore_list(struct objstore_pool *pool, unsigned flags,
                  const char *after_ns, const char *after_name, size_t max,
                  struct objstore_list_entry **entries, size_t *count,
                  bool *more)
{
  if ((after_ns == NULL) != (after_name == NULL))
    return lbd_error(EINVAL, "list: give both the namespace and the name to "
                     "start after, or neither");
  return pool->be->list(pool->bp, flags, after_ns, after_name, max, entries,
                        count, more);
}

void objstore_list_free(struct objstore_list_entry *entries, size_t count)
{
  for (size_t i = 0; i < count; i++) {
    free(entries[i].ns);
    free(entries[i].name);
  }
  free(entries);
}

int objstore_write_op_operate(struct objstore_pool *pool, const char *oid,
                              struct objstore_write_op *op,
                              const struct objstore_snapc *snapc,
                              unsigned flags)
{
  int r = check_oid(oid);
  if (r < 0)
    return r;
  if (!op)
    return lbd_error(EINVAL, "no write op given");
  if (op->error)
    return lbd_error(op->error, "object %s: %s", oid, op->errmsg);
  if ((r = check_snapc(snapc)) < 0)
    return r;
  for (size_t i = 0; i < op->nsteps; i++) {
    const struct objstore_step *s = &op->steps[i];
    if ((s->type == STEP_WRITE || s->type == STEP_WRITE_FULL) && s->len &&
        !s->data)
      return lbd_error(EINVAL, "object %s: write of %" PRIu64
                       " bytes from no buffer", oid, s->len);
    if ((s->type == STEP_WRITE || s->type == STEP_ZERO) &&
        s->off + s->len < s->off)
      return lbd_error(EINVAL, "object %s: range overflows", oid);
    if ((uint64_t)s->off + s->len > (uint64_t)INT64_MAX)
      return lbd_error(EINVAL, "object %s: offset %" PRIu64 " is too large",
                       oid, s->off);
  }
  return pool->be->operate(pool->bp, oid, op, snapc, flags);
}

void objstore_prefetch(struct objstore_pool *pool, const char *oid,
                       uint64_t snapid, uint64_t off, uint64_t len)
{
  if (pool->be->size >= offsetof(struct objstore_backend, prefetch) +
                            sizeof pool->be->prefetch &&
      pool->be->prefetch && len && check_oid(oid) == 0)
    pool->be->prefetch(pool->bp, oid, snapid, off, len);
  lbd_error_clear();
}

int objstore_create_history(struct objstore_pool *pool, const char *oid,
                            const struct objstore_history_state *states,
                            size_t n, uint64_t seq)
{
  int r = check_oid(oid);
  if (r < 0)
    return r;
  if (n == 0 || !states[n - 1].exists)
    return lbd_error(EINVAL, "object %s: a history needs a head", oid);
  uint64_t last = 0;
  for (size_t i = 0; i < n; i++) {
    const struct objstore_history_state *st = &states[i];
    if ((i + 1 < n) != (st->nsnaps > 0))
      return lbd_error(EINVAL, "object %s: history state %zu serves %s", oid,
                       i, st->nsnaps ? "snaps, as the head" : "no snap");
    for (size_t j = 0; j < st->nsnaps; j++) {
      if (st->snaps[j] <= last || st->snaps[j] == OBJSTORE_SNAP_HEAD ||
          st->snaps[j] > seq)
        return lbd_error(EINVAL, "object %s: history snap ids must ascend "
                         "up to seq %" PRIu64, oid, seq);
      last = st->snaps[j];
    }
    uint64_t end = 0;
    for (size_t j = 0; j < st->ndata; j++) {
      const struct objstore_extent *e = &st->data[j];
      if (e->off < end || e->off + e->len < e->off ||
          e->off + e->len > st->size || !st->buf)
        return lbd_error(EINVAL, "object %s: history state %zu has bad "
                         "extents", oid, i);
      end = e->off + e->len;
    }
  }
  if (!pool->be->create_history ||
      pool->be->size < offsetof(struct objstore_backend, create_history) +
                           sizeof pool->be->create_history)
    return lbd_error(ENOTSUP, "object %s: backend %s cannot create a "
                     "history atomically", oid, pool->be->name);
  return pool->be->create_history(pool->bp, oid, states, n, seq);
}

/* One-step conveniences. */
static int run_one(struct objstore_pool *pool, const char *oid,
                   struct objstore_write_op *op,
                   const struct objstore_snapc *snapc)
{
  if (!op)
    return lbd_error(ENOMEM, "out of memory");
  int r = objstore_write_op_operate(pool, oid, op, snapc, 0);
  objstore_write_op_free(op);
  return r;
}

int objstore_write(struct objstore_pool *pool, const char *oid,
                   const struct objstore_snapc *snapc, uint64_t off,
                   const void *buf, size_t len)
{
  /* The hot path of every image write: a one-step op on the stack. */
  struct objstore_step step = {.type = STEP_WRITE, .off = off, .len = len,
                               .data = buf};
  struct objstore_write_op op = {.steps = &step, .nsteps = 1, .cap = 1};
  return objstore_write_op_operate(pool, oid, &op, snapc, 0);
}

int objstore_write_full(struct objstore_pool *pool, const char *oid,
                        const struct objstore_snapc *snapc, const void *buf,
                        size_t len)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_write_full(op, buf, len);
  return run_one(pool, oid, op, snapc);
}

int objstore_zero(struct objstore_pool *pool, const char *oid,
                  const struct objstore_snapc *snapc, uint64_t off,
                  uint64_t len)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_zero(op, off, len);
  return run_one(pool, oid, op, snapc);
}

int objstore_truncate(struct objstore_pool *pool, const char *oid,
                      const struct objstore_snapc *snapc, uint64_t size)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_truncate(op, size);
  return run_one(pool, oid, op, snapc);
}

int objstore_remove(struct objstore_pool *pool, const char *oid,
                    const struct objstore_snapc *snapc)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_remove(op);
  return run_one(pool, oid, op, snapc);
}

int objstore_setxattr(struct objstore_pool *pool, const char *oid,
                      const char *name, const void *value, size_t len)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_setxattr(op, name, value, len);
  return run_one(pool, oid, op, NULL);
}

int objstore_omap_set(struct objstore_pool *pool, const char *oid,
                      const char *key, const void *value, size_t len)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_omap_set(op, key, value, len);
  return run_one(pool, oid, op, NULL);
}

int objstore_omap_rm(struct objstore_pool *pool, const char *oid,
                     const char *key)
{
  struct objstore_write_op *op = objstore_write_op_new();
  if (op)
    objstore_write_op_omap_rm(op, key);
  return run_one(pool, oid, op, NULL);
}

/* ---- holders ------------------------------------------------------------- */

void objstore_holders_free(struct objstore_holder *holders, size_t count)
{
  for (size_t i = 0; i < count; i++) {
    free(holders[i].cookie);
    free(holders[i].desc);
    free(holders[i].tag);
  }
  free(holders);
}

int objstore_watch(struct objstore_pool *pool, const char *oid,
                   const char *desc, bool rw, uint64_t *handle)
{
  int r = check_oid(oid);
  if (r == 0)
    r = check_name("watch description", desc ? desc : "", 255, true);
  return r < 0 ? r
               : pool->be->watch(pool->bp, oid, desc ? desc : "", rw, handle);
}

int objstore_unwatch(struct objstore_pool *pool, const char *oid,
                     uint64_t handle)
{
  int r = check_oid(oid);
  return r < 0 ? r : pool->be->unwatch(pool->bp, oid, handle);
}

int objstore_list_watchers(struct objstore_pool *pool, const char *oid,
                           struct objstore_holder **holders, size_t *count)
{
  int r = check_oid(oid);
  return r < 0 ? r : pool->be->list_watchers(pool->bp, oid, holders, count);
}

static int check_lock_args(const char *oid, const char *name,
                           const char *cookie)
{
  int r = check_oid(oid);
  if (r == 0)
    r = check_name("lock name", name, 128, false);
  if (r == 0)
    r = check_name("lock cookie", cookie, OBJSTORE_MAX_COOKIE, false);
  return r;
}

int objstore_lock(struct objstore_pool *pool, const char *oid,
                  const char *name, enum objstore_lock_type type,
                  const char *cookie, const char *tag, const char *desc)
{
  int r = check_lock_args(oid, name, cookie);
  if (r == 0)
    r = check_name("lock tag", tag ? tag : "", 128, true);
  if (r == 0)
    r = check_name("lock description", desc ? desc : "", 255, true);
  if (r == 0 && type != OBJSTORE_LOCK_EXCLUSIVE && type != OBJSTORE_LOCK_SHARED)
    r = lbd_error(EINVAL, "unknown lock type %d", (int)type);
  return r < 0 ? r
               : pool->be->lock(pool->bp, oid, name, type, cookie,
                                tag ? tag : "", desc ? desc : "");
}

int objstore_unlock(struct objstore_pool *pool, const char *oid,
                    const char *name, const char *cookie)
{
  int r = check_lock_args(oid, name, cookie);
  return r < 0 ? r : pool->be->unlock(pool->bp, oid, name, cookie);
}

int objstore_break_lock(struct objstore_pool *pool, const char *oid,
                        const char *name, const char *client,
                        const char *cookie)
{
  int r = check_lock_args(oid, name, cookie);
  if (r == 0)
    r = check_name("lock client", client, 63, false);
  return r < 0 ? r : pool->be->break_lock(pool->bp, oid, name, client, cookie);
}

int objstore_list_lockers(struct objstore_pool *pool, const char *oid,
                          const char *name, struct objstore_holder **holders,
                          size_t *count)
{
  int r = check_oid(oid);
  if (r == 0)
    r = check_name("lock name", name, 128, false);
  return r < 0 ? r
               : pool->be->list_lockers(pool->bp, oid, name, holders, count);
}

int objstore_pool_check(struct objstore_pool *pool, bool repair,
                        struct objstore_check_report *report)
{
  memset(report, 0, sizeof *report);
  return pool->be->check(pool->bp, repair, report);
}
