/* Clusters, pools, IO contexts and namespaces of the public library. */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image.h"
#include "util/error.h"

#define DEFAULT_POOL "rbd"

int lbd_cluster_open(const char *dir, bool create, lbd_cluster_t **out)
{
  lbd_error_clear();
  if (!dir || !*dir)
    return lbd_error(EINVAL, "no cluster directory given");
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/lbd-cluster", dir);
  bool fresh = create && access(marker, F_OK) < 0;
  int r;
  if (fresh && (r = objstore_cluster_create(dir)) < 0)
    return r;
  lbd_cluster_t *c = calloc(1, sizeof *c);
  if (!c || !(c->dir = strdup(dir))) {
    free(c);
    return lbd_error(ENOMEM, "out of memory");
  }
  if ((r = objstore_cluster_open(dir, &c->os)) < 0) {
    free(c->dir);
    free(c);
    return r;
  }
  if (create && !fresh) { /* a first use that died before making "rbd" */
    struct objstore_pool_info *pools;
    size_t n = 0;
    if (objstore_pool_list(c->os, &pools, &n) == 0)
      objstore_pool_info_free(pools, n);
    fresh = n == 0;
  }
  if (fresh && (r = lbd_pool_create(c, DEFAULT_POOL, NULL)) < 0) {
    lbd_cluster_close(c);
    return r;
  }
  *out = c;
  return 0;
}

void lbd_cluster_close(lbd_cluster_t *cluster)
{
  if (!cluster)
    return;
  objstore_cluster_close(cluster->os);
  free(cluster->dir);
  free(cluster);
}

int lbd_pool_create(lbd_cluster_t *cluster, const char *name, const char *dir)
{
  lbd_error_clear();
  return objstore_pool_create(cluster->os, name, dir, NULL);
}

int lbd_pool_create_rados(lbd_cluster_t *cluster, const char *name,
                          const char *ceph_conf, const char *rados_pool)
{
  char config[PATH_MAX + 256];
  lbd_error_clear();
  int r = objstore_rados_config(config, sizeof config,
                                rados_pool ? rados_pool : name, ceph_conf);
  return r < 0 ? r : objstore_pool_create_ext(cluster->os, name, "rados",
                                              config, NULL);
}

int lbd_pool_remove(lbd_cluster_t *cluster, const char *name)
{
  lbd_error_clear();
  return objstore_pool_remove(cluster->os, name);
}

int lbd_pool_list(lbd_cluster_t *cluster, struct lbd_pool_info **pools,
                  size_t *count)
{
  struct objstore_pool_info *infos;
  size_t n;
  lbd_error_clear();
  int r = objstore_pool_list(cluster->os, &infos, &n);
  if (r < 0)
    return r;
  *pools = calloc(n ? n : 1, sizeof **pools);
  if (!*pools) {
    objstore_pool_info_free(infos, n);
    return lbd_error(ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    (*pools)[i].id = infos[i].id;
    (*pools)[i].name = strdup(infos[i].name);
    (*pools)[i].path = infos[i].path;
    infos[i].path = NULL;
    if (!(*pools)[i].name)
      r = lbd_error(ENOMEM, "out of memory");
  }
  objstore_pool_info_free(infos, n);
  *count = n;
  if (r < 0) {
    lbd_pool_list_free(*pools, n);
    return r;
  }
  return 0;
}

void lbd_pool_list_free(struct lbd_pool_info *pools, size_t count)
{
  for (size_t i = 0; i < count; i++) {
    free(pools[i].name);
    free(pools[i].path);
  }
  free(pools);
}

void lbd_names_free(char **names, size_t count)
{
  for (size_t i = 0; i < count; i++)
    free(names[i]);
  free(names);
}

/* Is NS registered in the pool (whose default-namespace handle is POOL)? */
static int namespace_exists(struct objstore_pool *pool, const char *ns)
{
  const char *keys[] = {ns};
  struct objstore_kv *kvs;
  size_t n;
  int r = objstore_omap_get_keys(pool, IMAGE_NAMESPACES, keys, 1, &kvs, &n);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  objstore_kv_free(kvs, n);
  return n == 1;
}

int lbd_ioctx_create(lbd_cluster_t *cluster, const char *pool, const char *ns,
                     lbd_ioctx_t **out)
{
  int64_t id;
  lbd_error_clear();
  if (!ns)
    ns = "";
  int r = objstore_pool_lookup(cluster->os, pool, &id);
  if (r < 0)
    return r;
  lbd_ioctx_t *io = calloc(1, sizeof *io);
  if (!io || !(io->pool_name = strdup(pool)) || !(io->ns = strdup(ns))) {
    lbd_ioctx_destroy(io);
    return lbd_error(ENOMEM, "out of memory");
  }
  io->cluster = cluster;
  io->pool_id = id;
  if ((r = objstore_pool_open(cluster->os, id, "", &io->pool)) < 0) {
    lbd_ioctx_destroy(io);
    return r;
  }
  if (*ns) {
    r = namespace_exists(io->pool, ns);
    if (r == 0)
      r = lbd_error(ENOENT, "namespace %s does not exist in pool %s: create "
                    "it with 'lbd namespace create %s/%s'", ns, pool, pool, ns);
    objstore_pool_close(io->pool);
    io->pool = NULL;
    if (r > 0)
      r = objstore_pool_open(cluster->os, id, ns, &io->pool);
    if (r < 0) {
      lbd_ioctx_destroy(io);
      return r;
    }
  }
  *out = io;
  return 0;
}

void lbd_ioctx_destroy(lbd_ioctx_t *io)
{
  if (!io)
    return;
  objstore_pool_close(io->pool);
  free(io->pool_name);
  free(io->ns);
  free(io);
}

/* Namespaces are registered in the pool's default namespace. */
static int default_ns(lbd_ioctx_t *io, struct objstore_pool **pool)
{
  return objstore_pool_open(io->cluster->os, io->pool_id, "", pool);
}

int lbd_namespace_create(lbd_ioctx_t *io, const char *name)
{
  lbd_error_clear();
  int r = image_check_name("namespace name", name);
  struct objstore_pool *pool;
  if (r < 0 || (r = default_ns(io, &pool)) < 0)
    return r;
  r = namespace_exists(pool, name);
  if (r > 0)
    r = lbd_error(EEXIST, "namespace %s already exists in pool %s", name,
                  io->pool_name);
  if (r == 0)
    r = objstore_omap_set(pool, IMAGE_NAMESPACES, name, "", 0);
  objstore_pool_close(pool);
  return r;
}

int lbd_namespace_remove(lbd_ioctx_t *io, const char *name)
{
  lbd_error_clear();
  int r = image_check_name("namespace name", name);
  struct objstore_pool *pool, *nspool;
  if (r < 0 || (r = default_ns(io, &pool)) < 0)
    return r;
  r = namespace_exists(pool, name);
  if (r == 0)
    r = lbd_error(ENOENT, "namespace %s does not exist in pool %s", name,
                  io->pool_name);
  if (r > 0 && (r = objstore_pool_open(io->cluster->os, io->pool_id, name,
                                       &nspool)) == 0) {
    char **names;
    size_t n;
    r = image_dir_list(nspool, &names, &n);
    if (r == 0 && n)
      r = lbd_error(EBUSY, "namespace %s of pool %s still holds %zu image(s), "
                    "e.g. %s: remove them first", name, io->pool_name, n,
                    names[0]);
    lbd_names_free(names, n);
    if (r == 0) { /* images in its trash count too */
      lbd_ioctx_t nsio = *io;
      struct lbd_trash_info *t = NULL;
      size_t nt = 0;
      nsio.pool = nspool;
      nsio.ns = (char *)name;
      r = lbd_trash_list(&nsio, true, &t, &nt);
      if (r == 0) {
        lbd_trash_list_free(t, nt);
        if (nt)
          r = lbd_error(EBUSY, "namespace %s of pool %s still holds %zu "
                        "image(s) in its trash: remove or restore them first",
                        name, io->pool_name, nt);
      }
    }
    objstore_pool_close(nspool);
    if (r == 0)
      r = objstore_omap_rm(pool, IMAGE_NAMESPACES, name);
  }
  objstore_pool_close(pool);
  return r;
}

int lbd_namespace_list(lbd_ioctx_t *io, char ***names, size_t *count)
{
  struct objstore_pool *pool;
  lbd_error_clear();
  int r = default_ns(io, &pool);
  if (r < 0)
    return r;
  *names = NULL;
  *count = 0;
  const char *after = NULL;
  char *last = NULL;
  bool more = true;
  while (r == 0 && more) {
    struct objstore_kv *kvs;
    size_t n;
    r = objstore_omap_get(pool, IMAGE_NAMESPACES, after, 256, &kvs, &n, &more);
    if (r == -ENOENT) {
      r = 0;
      break;
    }
    if (r < 0)
      break;
    char **p = realloc(*names, (*count + n + 1) * sizeof *p);
    if (!p) {
      objstore_kv_free(kvs, n);
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    *names = p;
    for (size_t i = 0; i < n; i++) {
      p[(*count)++] = kvs[i].key;
      kvs[i].key = NULL;
    }
    objstore_kv_free(kvs, n);
    free(last);
    last = *count ? strdup((*names)[*count - 1]) : NULL;
    after = last;
  }
  free(last);
  objstore_pool_close(pool);
  if (r < 0) {
    lbd_names_free(*names, *count);
    *names = NULL;
    *count = 0;
  }
  return r;
}

int lbd_pool_init(lbd_ioctx_t *io)
{
  lbd_error_clear();
  static const char *const oids[] = {IMAGE_DIRECTORY, IMAGE_NAMESPACES};
  struct objstore_pool *pool = NULL;
  int r = default_ns(io, &pool);
  for (size_t i = 0; r == 0 && i < 2; i++) {
    struct objstore_write_op *op = objstore_write_op_new();
    if (!op) {
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
    objstore_write_op_create(op, false);
    r = objstore_write_op_operate(i == 0 ? io->pool : pool, oids[i], op, NULL,
                                  OBJSTORE_OP_FUA);
    objstore_write_op_free(op);
  }
  objstore_pool_close(pool);
  return r < 0 ? lbd_error_prefix(r, "initializing pool %s", io->pool_name)
               : 0;
}

int image_ioctx_by_id(lbd_cluster_t *cluster, int64_t pool_id, const char *ns,
                      lbd_ioctx_t **out)
{
  struct objstore_pool_info info;
  int r = objstore_pool_get_info(cluster->os, pool_id, &info);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "pool id %" PRId64 " does not exist", pool_id);
  if (r < 0)
    return r;
  free(info.path);
  return lbd_ioctx_create(cluster, info.name, ns, out);
}
