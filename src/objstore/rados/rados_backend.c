/* The rados backend: connections, pools, reads, write ops and snapshots
 * (see rados.h for how the contract maps onto RADOS). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore/rados/rados.h"
#include "objstore/rados/rados_snaps.h"
#include "util/error.h"

/* Namespaces lbd keeps for itself start with this byte; listings skip them. */
#define RESERVED_NS_BYTE '\x01'
#define LIST_BATCH 1024
#define ZERO_BLOCK 4096
#define LIST_STATS_AIO 128

/* ---- errors and config --------------------------------------------------- */

int rados_err(int r, const char *fmt, ...)
{
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  int e = r < 0 ? -r : r;
  switch (e) {
  case ENODATA:
    e = ENOENT;
    break;
  case ERANGE:    /* assert_version: object newer */
  case EOVERFLOW: /* assert_version: object older */
    e = ECANCELED;
    break;
  case EDQUOT:
    return lbd_error(ENOSPC, "%s: the RADOS pool is over its quota (ceph osd "
                     "pool get-quota; free space or raise it)", what);
  case ENOSPC:
    return lbd_error(ENOSPC, "%s: the Ceph cluster or pool is full (ceph "
                     "df; free space: removals still go through)", what);
  case ESHUTDOWN:
  case ENOTCONN:
  case ETIMEDOUT:
    return lbd_error(EIO, "%s: no connection to the Ceph cluster (%s)", what,
                     strerror(e));
  case EACCES:
  case EPERM:
    return lbd_error(e, "%s: permission denied by the Ceph cluster", what);
  default:
    break;
  }
  return lbd_error(e, "%s: %s", what, strerror(e));
}

int rados_config_parse(const char *config, char **pool, char **conf, char **id)
{
  *pool = *conf = *id = NULL;
  static const char prefix[] = "rados://";
  if (strncmp(config, prefix, sizeof prefix - 1) != 0)
    return lbd_error(EINVAL, "rados pool config \"%s\" does not start with "
                     "%s", config, prefix);
  const char *p = config + sizeof prefix - 1;
  size_t plen = strcspn(p, "?");
  if (plen == 0)
    return lbd_error(EINVAL, "rados pool config \"%s\" names no RADOS pool",
                     config);
  *pool = strndup(p, plen);
  p += plen;
  while (*pool && *p) {
    p++; /* '?' or '&' */
    size_t n = strcspn(p, "&");
    if (strncmp(p, "conf=", 5) == 0 && !*conf)
      *conf = strndup(p + 5, n - 5);
    else if (strncmp(p, "id=", 3) == 0 && !*id)
      *id = strndup(p + 3, n - 3);
    else {
      free(*pool);
      free(*conf);
      free(*id);
      *pool = *conf = *id = NULL;
      return lbd_error(EINVAL, "rados pool config \"%s\": unknown setting "
                       "\"%.*s\"", config, (int)n, p);
    }
    p += n;
  }
  if (!*pool)
    return lbd_error(ENOMEM, "out of memory");
  return 0;
}

/* ---- connections ----------------------------------------------------------- */

struct rados_conn {
  struct rados_conn *next;
  char *key;     /* conf \n id \n lbd client */
  pid_t pid;
  unsigned refs;
  rados_t cluster;
};

static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rados_conn *conns;

rados_t rados_conn_cluster(struct rados_conn *conn) { return conn->cluster; }

/* rados_connect() on a thread of its own.  librados draws the client's
 * address nonce from a thread-local generator seeded once per thread: in a
 * forked child it goes on from the parent's state, so a child and its
 * parent (or two children) connecting from their main threads got the same
 * address, and fencing a dead child (blocklisting its address, when its
 * lock is broken) fenced the parent too (ESHUTDOWN).  A new thread seeds
 * its own generator. */
struct connect_call {
  rados_t cl;
  int r;
};

static void *connect_main(void *arg)
{
  struct connect_call *c = arg;
  c->r = rados_connect(c->cl);
  return NULL;
}

static int connect_fresh_nonce(rados_t cl)
{
  struct connect_call c = {cl, 0};
  pthread_t t;
  if (pthread_create(&t, NULL, connect_main, &c) != 0)
    return rados_connect(cl);
  pthread_join(t, NULL);
  return c.r;
}

static int connect_new(const char *conf, const char *id, rados_t *out)
{
  rados_t cl;
  int r = rados_create(&cl, id && *id ? id : NULL);
  if (r < 0)
    return rados_err(r, "creating a RADOS client");
  if (conf && *conf) {
    if ((r = rados_conf_read_file(cl, conf)) < 0) {
      rados_shutdown(cl);
      return rados_err(r, "reading Ceph configuration %s", conf);
    }
  } else if ((r = rados_conf_read_file(cl, NULL)) < 0) {
    rados_shutdown(cl);
    return rados_err(r, "reading the default Ceph configuration "
                     "(/etc/ceph/ceph.conf, $CEPH_CONF)");
  }
  rados_conf_parse_env(cl, NULL); /* CEPH_ARGS */
  /* Fail in seconds, not minutes, when the cluster is unreachable. */
  rados_conf_set(cl, "client_mount_timeout", "30");
  if ((r = connect_fresh_nonce(cl)) < 0) {
    rados_shutdown(cl);
    return rados_err(r, "connecting to the Ceph cluster of %s",
                     conf && *conf ? conf : "the default configuration");
  }
  *out = cl;
  return 0;
}

static int conn_get(const char *conf, const char *id, const char *client,
                    struct rados_conn **out)
{
  char *key;
  if (asprintf(&key, "%s\n%s\n%s", conf ? conf : "", id ? id : "",
               client) < 0)
    return lbd_error(ENOMEM, "out of memory");
  pthread_mutex_lock(&conns_mu);
  pid_t pid = getpid();
  for (struct rados_conn *c = conns; c; c = c->next)
    if (c->pid == pid && strcmp(c->key, key) == 0) {
      c->refs++;
      pthread_mutex_unlock(&conns_mu);
      free(key);
      *out = c;
      return 0;
    }
  struct rados_conn *c = calloc(1, sizeof *c);
  int r = c ? connect_new(conf, id, &c->cluster)
            : lbd_error(ENOMEM, "out of memory");
  if (r < 0) {
    pthread_mutex_unlock(&conns_mu);
    free(c);
    free(key);
    return r;
  }
  c->key = key;
  c->pid = pid;
  c->refs = 1;
  c->next = conns;
  conns = c;
  pthread_mutex_unlock(&conns_mu);
  *out = c;
  return 0;
}

static void conn_put(struct rados_conn *conn)
{
  pthread_mutex_lock(&conns_mu);
  if (--conn->refs > 0) {
    pthread_mutex_unlock(&conns_mu);
    return;
  }
  for (struct rados_conn **pp = &conns; *pp; pp = &(*pp)->next)
    if (*pp == conn) {
      *pp = conn->next;
      break;
    }
  pthread_mutex_unlock(&conns_mu);
  /* A child of a fork must not shut down its parent's threads it lacks. */
  if (conn->pid == getpid())
    rados_shutdown(conn->cluster);
  free(conn->key);
  free(conn);
}

/* ---- pools ------------------------------------------------------------------ */

#define APP "lbd"

static int with_cluster(const char *config, char **rpool, rados_t *cl)
{
  char *conf, *id;
  int r = rados_config_parse(config, rpool, &conf, &id);
  if (r == 0)
    r = connect_new(conf, id, cl);
  free(conf);
  free(id);
  if (r < 0) {
    free(*rpool);
    *rpool = NULL;
  }
  return r;
}

static int rados_pool_init(const char *config, const char *uuid, int64_t id)
{
  char *rpool;
  rados_t cl;
  int r = with_cluster(config, &rpool, &cl);
  if (r < 0)
    return r;
  bool created = false;
  if (rados_pool_lookup(cl, rpool) == -ENOENT) {
    r = rados_pool_create(cl, rpool);
    if (r < 0 && r != -EEXIST)
      r = rados_err(r, "creating RADOS pool %s", rpool);
    else
      created = r == 0, r = 0;
  }
  rados_ioctx_t io = NULL;
  if (r == 0 && (r = rados_ioctx_create(cl, rpool, &io)) < 0)
    r = rados_err(r, "opening RADOS pool %s", rpool);
  if (r == 0) {
    r = rados_application_enable(io, APP, 1);
    if (r < 0 && r != -EEXIST && r != -EPERM)
      r = rados_err(r, "tagging RADOS pool %s for application lbd", rpool);
    else
      r = 0;
  }
  /* Only a pool lbd made is deleted by lbd's pool remove. */
  if (r == 0 && created) {
    char val[96];
    snprintf(val, sizeof val, "%s/%" PRId64, uuid, id);
    if ((r = rados_application_metadata_set(io, APP, "created_by", val)) < 0)
      r = rados_err(r, "recording that lbd made RADOS pool %s", rpool);
  }
  if (r < 0 && created)
    rados_pool_delete(cl, rpool); /* leave nothing half-made */
  if (io)
    rados_ioctx_destroy(io);
  rados_shutdown(cl);
  free(rpool);
  return r;
}

static int rados_pool_destroy(const char *config)
{
  char *rpool;
  rados_t cl;
  int r = with_cluster(config, &rpool, &cl);
  if (r < 0)
    return r;
  rados_ioctx_t io;
  r = rados_ioctx_create(cl, rpool, &io);
  if (r == -ENOENT) {
    r = 0; /* gone already */
  } else if (r < 0) {
    r = rados_err(r, "opening RADOS pool %s", rpool);
  } else {
    char val[128];
    size_t len = sizeof val;
    bool ours = rados_application_metadata_get(io, APP, "created_by", val,
                                               &len) == 0;
    rados_ioctx_destroy(io);
    /* A pool lbd did not make is left as it is, with its objects. */
    if (ours && (r = rados_pool_delete(cl, rpool)) < 0 && r != -ENOENT)
      r = rados_err(r, "deleting RADOS pool %s", rpool);
    else
      r = 0;
  }
  rados_shutdown(cl);
  free(rpool);
  return r;
}

static int new_io(struct objstore_backend_pool *bp, const char *ns,
                  rados_ioctx_t *io)
{
  int r = rados_ioctx_create(rados_conn_cluster(bp->conn), bp->rpool, io);
  if (r < 0)
    return rados_err(r, "opening RADOS pool %s", bp->rpool);
  rados_ioctx_set_namespace(*io, ns);
  /* On a full pool or cluster, writes fail at once with ENOSPC (EDQUOT:
   * a quota) instead of waiting for space, and removals go through, so
   * that an operator can free space with lbd itself. */
  rados_set_pool_full_try(*io);
  return 0;
}

rados_ioctx_t rados_io_get(struct objstore_backend_pool *bp, int *err)
{
  rados_ioctx_t io = NULL;
  pthread_mutex_lock(&bp->mu);
  if (bp->nfree)
    io = bp->free_io[--bp->nfree];
  pthread_mutex_unlock(&bp->mu);
  *err = 0;
  if (!io && (*err = new_io(bp, bp->ns, &io)) < 0)
    return NULL;
  return io;
}

void rados_io_put(struct objstore_backend_pool *bp, rados_ioctx_t io)
{
  rados_ioctx_snap_set_read(io, LIBRADOS_SNAP_HEAD);
  rados_ioctx_selfmanaged_snap_set_write_ctx(io, 0, NULL, 0);
  pthread_mutex_lock(&bp->mu);
  if (bp->nfree == bp->capfree) {
    size_t cap = bp->capfree ? bp->capfree * 2 : 8;
    rados_ioctx_t *p = realloc(bp->free_io, cap * sizeof *p);
    if (!p) {
      pthread_mutex_unlock(&bp->mu);
      rados_ioctx_destroy(io);
      return;
    }
    bp->free_io = p;
    bp->capfree = cap;
  }
  bp->free_io[bp->nfree++] = io;
  pthread_mutex_unlock(&bp->mu);
}

static void bp_free(struct objstore_backend_pool *bp)
{
  for (size_t i = 0; i < bp->nfree; i++)
    rados_ioctx_destroy(bp->free_io[i]);
  free(bp->free_io);
  if (bp->wio)
    rados_ioctx_destroy(bp->wio);
  if (bp->conn)
    conn_put(bp->conn);
  pthread_mutex_destroy(&bp->mu);
  free(bp->rpool);
  free(bp->ns);
  free(bp);
}

static int rados_pool_open(const char *config, int64_t id, const char *ns,
                           const char *client,
                           struct objstore_backend_pool **out)
{
  struct objstore_backend_pool *bp = calloc(1, sizeof *bp);
  if (!bp)
    return lbd_error(ENOMEM, "out of memory");
  pthread_mutex_init(&bp->mu, NULL);
  snprintf(bp->client, sizeof bp->client, "%s", client);
  char *conf = NULL, *cid = NULL;
  int r = rados_config_parse(config, &bp->rpool, &conf, &cid);
  if (r == 0 && !(bp->ns = strdup(ns)))
    r = lbd_error(ENOMEM, "out of memory");
  if (r == 0)
    r = conn_get(conf, cid, client, &bp->conn);
  free(conf);
  free(cid);
  if (r == 0 && (r = new_io(bp, ns, &bp->wio)) == -ENOENT)
    r = lbd_error(ENOENT, "RADOS pool %s does not exist (any more)",
                  bp->rpool);
  if (r < 0) {
    bp_free(bp);
    return r;
  }
  *out = bp;
  return 0;
}

static void rados_pool_close(struct objstore_backend_pool *bp)
{
  rados_holders_release(bp);
  bp_free(bp);
}

static int rados_flush(struct objstore_backend_pool *bp)
{
  /* Every acknowledged RADOS write is durable (journaled on the OSDs);
   * this waits for asynchronous ones, of which lbd issues none. */
  int r = rados_aio_flush(bp->wio);
  return r < 0 ? rados_err(r, "flushing RADOS pool %s", bp->rpool) : 0;
}

static int rados_snap_create(struct objstore_backend_pool *bp, uint64_t *snapid)
{
  rados_snap_t s;
  int r = rados_ioctx_selfmanaged_snap_create(bp->wio, &s);
  if (r < 0)
    return rados_err(r, "creating a snapshot id in RADOS pool %s", bp->rpool);
  *snapid = s;
  return 0;
}

static int rados_snap_remove(struct objstore_backend_pool *bp, uint64_t snapid)
{
  int r = rados_ioctx_selfmanaged_snap_remove(bp->wio, snapid);
  if (r < 0)
    return rados_err(r, "removing snapshot id %" PRIu64 " of RADOS pool %s",
                     snapid, bp->rpool);
  return 0;
}

/* ---- reads ------------------------------------------------------------------ */

/* The head's version, or ECANCELED while a history is being written. */
static int head_check(rados_ioctx_t io, const char *oid, bool *exists,
                      uint64_t *ver)
{
  rados_ioctx_snap_set_read(io, LIBRADOS_SNAP_HEAD);
  rados_read_op_t op = rados_create_read_op();
  uint64_t size;
  int sv = 0;
  rados_read_op_stat(op, &size, NULL, &sv);
  rados_read_op_cmpxattr(op, RADOS_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ, "",
                         0);
  int r = rados_read_op_operate(op, io, oid, 0);
  rados_release_read_op(op);
  if (r > 0)
    r = 0; /* a cmpxattr that holds returns 1 */
  *exists = r == 0;
  *ver = r == 0 ? rados_get_last_version(io) : 0;
  return r == -ENOENT ? 0 : r;
}

/* One read (and stat) at SNAPID.  Head reads carry the history guard;
 * reads at a snap check the head before and after instead (the guard would
 * see a clone's copy of the marker). */
static int read_once_ext(struct objstore_backend_pool *bp, rados_ioctx_t io,
                         const char *oid, uint64_t snapid, uint64_t off,
                         size_t len, void *buf, size_t *got, uint64_t *size,
                         time_t *mtime, uint64_t *ver, unsigned *waited,
                         uint64_t **ext, size_t *next);

static int read_once(struct objstore_backend_pool *bp, rados_ioctx_t io,
                     const char *oid, uint64_t snapid, uint64_t off,
                     size_t len, void *buf, size_t *got, uint64_t *size,
                     time_t *mtime, uint64_t *ver, unsigned *waited)
{
  return read_once_ext(bp, io, oid, snapid, off, len, buf, got, size, mtime,
                       ver, waited, NULL, NULL);
}

/* As read_once; with EXT, a sparse read (RADOS' extents: *EXT, *NEXT
 * (offset, length) pairs, malloc'd) where the C++ part is built. */
static int read_once_ext(struct objstore_backend_pool *bp, rados_ioctx_t io,
                         const char *oid, uint64_t snapid, uint64_t off,
                         size_t len, void *buf, size_t *got, uint64_t *size,
                         time_t *mtime, uint64_t *ver, unsigned *waited,
                         uint64_t **ext, size_t *next)
{
  bool head = snapid == OBJSTORE_SNAP_HEAD;
  for (int attempt = 0;; attempt++) {
    bool e1 = false, e2 = false;
    uint64_t v1 = 0, v2 = 0;
    int r = head ? 0 : head_check(io, oid, &e1, &v1);
    if (r == 0 && ext) {
      rados_ioctx_snap_set_read(io, head ? LIBRADOS_SNAP_HEAD : snapid);
      free(*ext);
      *ext = NULL;
      r = rados_cxx_sparse_read(io, oid, head, off, len, buf, got, size,
                                mtime, ext, next);
      if (ver)
        *ver = rados_get_last_version(io);
    } else if (r == 0) {
      rados_ioctx_snap_set_read(io, head ? LIBRADOS_SNAP_HEAD : snapid);
      rados_read_op_t op = rados_create_read_op();
      int rv = 0, sv = 0;
      rados_read_op_stat(op, size, mtime, &sv);
      if (head)
        rados_read_op_cmpxattr(op, RADOS_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ,
                               "", 0);
      if (len && buf)
        rados_read_op_read(op, off, len, buf, got, &rv);
      r = rados_read_op_operate(op, io, oid, 0);
      if (r > 0)
        r = 0; /* a cmpxattr that holds returns 1 */
      if (ver)
        *ver = rados_get_last_version(io);
      rados_release_read_op(op);
      if (r == 0 && rv < 0)
        r = rv;
      if (r == 0 && sv < 0)
        r = sv;
    }
    if (!head && (r == 0 || r == -ENOENT)) {
      int r2 = head_check(io, oid, &e2, &v2);
      if (r2 == 0 && (e1 != e2 || v1 != v2) && attempt < 3)
        continue; /* the head changed meanwhile: look again */
      if (r2 < 0)
        r = r2;
    }
    if (r == -ECANCELED) {
      int w = rados_history_wait(bp, io, oid, waited);
      if (w >= 0)
        continue;
      return w;
    }
    return r;
  }
}

static ssize_t rados_be_read(struct objstore_backend_pool *bp, const char *oid,
                             uint64_t snapid, uint64_t off, size_t len,
                             void *buf, struct extent_set *map)
{
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  char *tmp = NULL;
  if (!buf && len && map && !(buf = tmp = malloc(len))) {
    rados_io_put(bp, io);
    return lbd_error(ENOMEM, "out of memory");
  }
  size_t got = 0;
  uint64_t size = 0;
  unsigned waited = 0;
  uint64_t *ext = NULL;
  size_t next = 0;
  bool sparse = map != NULL;
  r = read_once_ext(bp, io, oid, snapid, off, len, buf, &got, &size, NULL,
                    NULL, &waited, sparse ? &ext : NULL, &next);
  rados_io_put(bp, io);
  if (r < 0) {
    free(tmp);
    free(ext);
    if (r == -ENOENT)
      return snapid == OBJSTORE_SNAP_HEAD
                 ? lbd_error(ENOENT, "object %s does not exist", oid)
                 : lbd_error(ENOENT, "object %s did not exist at snap %" PRIu64,
                             oid, snapid);
    /* A history whose builder died: not written yet, so the image reads
     * what it would have copied (its backing), as stat says (abort after a
     * kill -9 of execute failed with EIO here). */
    if (r == -EIO && waited > 0)
      return lbd_error(ENOENT, "object %s is not written yet: its history "
                       "was cut", oid);
    if (r == -EIO)
      return r; /* rados_history_wait() said why */
    return rados_err(r, "reading object %s", oid);
  }
  /* The extents RADOS reports (the C++ sparse read; without it, the whole
   * range read), and within them whole 4 KiB blocks of zeroes count as
   * holes too (they read as zeroes, which is all a hole promises; memstore
   * and filestore report whole objects as data). */
  if (!sparse) {
    ext = malloc(2 * sizeof *ext);
    if (!ext) {
      free(tmp);
      return lbd_error(ENOMEM, "out of memory");
    }
    ext[0] = off;
    ext[1] = got;
    next = got ? 1 : 0;
  }
  for (size_t i = 0; map && i < next; i++) {
    uint64_t eoff = ext[2 * i], eend = eoff + ext[2 * i + 1];
    for (uint64_t p = eoff; p < eend;) {
      uint64_t n = ZERO_BLOCK - p % ZERO_BLOCK;
      if (n > eend - p)
        n = eend - p;
      const char *b = (const char *)buf + (p - off);
      bool zero = b[0] == 0 && memcmp(b, b + 1, n - 1) == 0;
      if (!zero && (r = extent_set_add(map, p, n)) < 0) {
        free(tmp);
        free(ext);
        return r;
      }
      p += n;
    }
  }
  free(tmp);
  free(ext);
  return (ssize_t)got;
}

static int rados_be_stat(struct objstore_backend_pool *bp, const char *oid,
                         uint64_t snapid, struct objstore_stat *st)
{
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  uint64_t size = 0, ver = 0;
  time_t mt = 0;
  size_t got = 0;
  unsigned waited = 0;
  r = read_once(bp, io, oid, snapid, 0, 0, NULL, &got, &size, &mt, &ver,
                &waited);
  rados_io_put(bp, io);
  /* A history whose builder died (or that is still not written after the
   * wait): the object is not there yet for whoever copies it, so that the
   * copy run again (create_history) takes the build over.  Failing the
   * stat instead failed every execute or flatten run again after a kill -9
   * of the one that was writing it. */
  if (r == -EIO && waited > 0 && snapid == OBJSTORE_SNAP_HEAD)
    return lbd_error(ENOENT, "object %s is not written yet: its history "
                     "was cut", oid);
  if (r == -EIO)
    return r;
  if (r < 0)
    return rados_err(r, "stat of object %s", oid);
  st->size = size;
  st->version = ver;
  st->mtime_ns = (int64_t)mt * 1000000000; /* RADOS' C stat: seconds */
  return 0;
}

/* CS (RADOS' list-snaps) as the contract's SET; CS is freed. */
static int snap_set_convert(struct rados_cxx_snap_set *cs,
                            struct objstore_snap_set *set)
{
  set->seq = cs->seq;
  set->head_exists = cs->head_exists;
  set->head_size = cs->head_exists ? cs->head_size : 0;
  if (cs->nclones &&
      !(set->clones = calloc(cs->nclones, sizeof *set->clones))) {
    rados_cxx_snap_set_free(cs);
    return lbd_error(ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < cs->nclones; i++) {
    struct rados_cxx_clone *c = &cs->clones[i];
    struct objstore_clone_info *ci = &set->clones[i];
    ci->cloneid = c->cloneid;
    ci->size = c->size;
    ci->snaps = c->snaps;
    ci->nsnaps = c->nsnaps;
    c->snaps = NULL;
    set->nclones = i + 1;
    if (c->noverlap &&
        !(ci->overlap = malloc(c->noverlap * sizeof *ci->overlap))) {
      rados_cxx_snap_set_free(cs);
      objstore_snap_set_free(set);
      return lbd_error(ENOMEM, "out of memory");
    }
    for (size_t j = 0; j < c->noverlap; j++) {
      ci->overlap[j].off = c->overlap[2 * j];
      ci->overlap[j].len = c->overlap[2 * j + 1];
    }
    ci->noverlap = c->noverlap;
  }
  rados_cxx_snap_set_free(cs);
  return 0;
}

/* RADOS' list-snaps (the C++ API), between two looks at the head as reads
 * at a snap do: a history being written is waited for. */
static int rados_be_list_snaps(struct objstore_backend_pool *bp,
                               const char *oid, struct objstore_snap_set *set)
{
  memset(set, 0, sizeof *set);
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  unsigned waited = 0;
  struct rados_cxx_snap_set cs;
  memset(&cs, 0, sizeof cs);
  for (int attempt = 0;; attempt++) {
    bool e1 = false, e2 = false;
    uint64_t v1 = 0, v2 = 0;
    r = head_check(io, oid, &e1, &v1);
    if (r == 0)
      r = rados_cxx_list_snaps(io, oid, &cs);
    if (r == 0) {
      int r2 = head_check(io, oid, &e2, &v2);
      if (r2 < 0 || ((e1 != e2 || v1 != v2) && attempt < 3)) {
        rados_cxx_snap_set_free(&cs);
        if (r2 == 0)
          continue; /* the head changed meanwhile: look again */
        r = r2;
      }
    }
    if (r == -ECANCELED) {
      r = rados_history_wait(bp, io, oid, &waited);
      if (r >= 0)
        continue;
    }
    break;
  }
  rados_io_put(bp, io);
  if (r == -EIO)
    return r; /* rados_history_wait() said why, or the C++ part failed */
  if (r == -ENOENT)
    return lbd_error(ENOENT, "object %s does not exist", oid);
  if (r < 0)
    return rados_err(r, "listing the snapshots of object %s", oid);
  return snap_set_convert(&cs, set);
}

static int kv_push(struct objstore_kv **kvs, size_t *n, size_t *cap,
                   const char *key, size_t klen, const char *val, size_t vlen)
{
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    struct objstore_kv *p = realloc(*kvs, c * sizeof *p);
    if (!p)
      return lbd_error(ENOMEM, "out of memory");
    *kvs = p;
    *cap = c;
  }
  struct objstore_kv *kv = &(*kvs)[*n];
  kv->key = strndup(key, klen);
  kv->value = malloc(vlen + 1);
  if (!kv->key || !kv->value) {
    free(kv->key);
    free(kv->value);
    return lbd_error(ENOMEM, "out of memory");
  }
  if (vlen)
    memcpy(kv->value, val, vlen);
  ((char *)kv->value)[vlen] = '\0';
  kv->len = vlen;
  (*n)++;
  return 0;
}

static int rados_be_getxattrs(struct objstore_backend_pool *bp,
                              const char *oid, struct objstore_kv **kvs,
                              size_t *count)
{
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  rados_xattrs_iter_t it;
  *kvs = NULL;
  *count = 0;
  size_t cap = 0;
  r = rados_getxattrs(io, oid, &it);
  rados_io_put(bp, io);
  if (r < 0)
    return rados_err(r, "reading the xattrs of object %s", oid);
  const char *name, *val;
  size_t len;
  while (r == 0 && rados_getxattrs_next(it, &name, &val, &len) == 0 && name)
    r = kv_push(kvs, count, &cap, name, strlen(name), val, len);
  rados_getxattrs_end(it);
  if (r < 0) {
    objstore_kv_free(*kvs, *count);
    *kvs = NULL;
    *count = 0;
  }
  return r;
}

static int rados_be_getxattr(struct objstore_backend_pool *bp, const char *oid,
                             const char *name, void **value, size_t *len)
{
  struct objstore_kv *kvs;
  size_t n;
  int r = rados_be_getxattrs(bp, oid, &kvs, &n);
  if (r < 0)
    return r;
  r = lbd_error(ENOENT, "object %s has no xattr %s", oid, name);
  for (size_t i = 0; i < n; i++)
    if (strcmp(kvs[i].key, name) == 0) {
      *value = kvs[i].value;
      *len = kvs[i].len;
      kvs[i].value = NULL;
      lbd_error_clear();
      r = 0;
      break;
    }
  objstore_kv_free(kvs, n);
  return r;
}

static int omap_collect(rados_omap_iter_t it, struct objstore_kv **kvs,
                        size_t *n, size_t *cap, char **last)
{
  char *key, *val;
  size_t klen, vlen;
  int r = 0;
  while (r == 0 && rados_omap_get_next2(it, &key, &val, &klen, &vlen) == 0 &&
         key) {
    r = kv_push(kvs, n, cap, key, klen, val, vlen);
    if (last)
      *last = (*kvs)[*n - 1].key;
  }
  return r;
}

static int rados_be_omap_get(struct objstore_backend_pool *bp, const char *oid,
                             const char *start_after, size_t max,
                             struct objstore_kv **kvs, size_t *count,
                             bool *more)
{
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  *kvs = NULL;
  *count = 0;
  size_t cap = 0;
  char *after = start_after && *start_after ? strdup(start_after) : NULL;
  bool again = true;
  if (more)
    *more = false;
  while (r == 0 && again) {
    size_t want = max ? max - *count : 4096;
    rados_read_op_t op = rados_create_read_op();
    rados_omap_iter_t it = NULL;
    unsigned char pmore = 0;
    int pv = 0;
    rados_read_op_omap_get_vals2(op, after ? after : "", "", want, &it,
                                 &pmore, &pv);
    r = rados_read_op_operate(op, io, oid, 0);
    rados_release_read_op(op);
    if (r == 0)
      r = pv;
    if (r < 0) {
      r = rados_err(r, "reading the omap of object %s", oid);
      if (it)
        rados_omap_get_end(it);
      break;
    }
    char *last = NULL;
    r = omap_collect(it, kvs, count, &cap, &last);
    rados_omap_get_end(it);
    if (r == 0 && last) {
      free(after);
      if (!(after = strdup(last)))
        r = lbd_error(ENOMEM, "out of memory");
    }
    again = pmore && last && (!max || *count < max);
    if (max && *count >= max && pmore && more)
      *more = true;
  }
  free(after);
  rados_io_put(bp, io);
  if (r < 0) {
    objstore_kv_free(*kvs, *count);
    *kvs = NULL;
    *count = 0;
  }
  return r;
}

static int rados_be_omap_get_keys(struct objstore_backend_pool *bp,
                                  const char *oid, const char *const *keys,
                                  size_t nkeys, struct objstore_kv **kvs,
                                  size_t *count)
{
  *kvs = NULL;
  *count = 0;
  int r;
  size_t *lens = calloc(nkeys ? nkeys : 1, sizeof *lens);
  if (!lens)
    return lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; i < nkeys; i++)
    lens[i] = strlen(keys[i]);
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io) {
    free(lens);
    return r;
  }
  rados_read_op_t op = rados_create_read_op();
  rados_omap_iter_t it = NULL;
  int pv = 0;
  rados_read_op_omap_get_vals_by_keys2(op, (char const *const *)keys, nkeys,
                                       lens, &it, &pv);
  r = rados_read_op_operate(op, io, oid, 0);
  rados_release_read_op(op);
  rados_io_put(bp, io);
  free(lens);
  if (r == 0)
    r = pv;
  if (r < 0) {
    if (it)
      rados_omap_get_end(it);
    return rados_err(r, "reading omap keys of object %s", oid);
  }
  size_t cap = 0;
  r = omap_collect(it, kvs, count, &cap, NULL);
  rados_omap_get_end(it);
  if (r < 0) {
    objstore_kv_free(*kvs, *count);
    *kvs = NULL;
    *count = 0;
  }
  return r;
}

/* ---- listing ------------------------------------------------------------------ */

static int entry_cmp(const void *a, const void *b)
{
  const struct objstore_list_entry *x = a, *y = b;
  int c = strcmp(x->ns, y->ns);
  return c ? c : strcmp(x->name, y->name);
}

/* RADOS lists in hash order: every call lists the namespace (or pool)
 * whole, sorts it and returns the page after (AFTER_NS, AFTER_NAME). */
static int rados_be_list(struct objstore_backend_pool *bp, unsigned flags,
                         const char *after_ns, const char *after_name,
                         size_t max, struct objstore_list_entry **entries,
                         size_t *count, bool *more)
{
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  if (flags & OBJSTORE_LIST_ALL_NS)
    rados_ioctx_set_namespace(io, LIBRADOS_ALL_NSPACES);
  rados_list_ctx_t ctx;
  struct objstore_list_entry *all = NULL;
  size_t n = 0, cap = 0;
  if ((r = rados_nobjects_list_open(io, &ctx)) < 0) {
    rados_ioctx_set_namespace(io, bp->ns);
    rados_io_put(bp, io);
    return rados_err(r, "listing RADOS pool %s", bp->rpool);
  }
  const char *name, *key, *ns;
  size_t nl, kl, nsl;
  while ((r = rados_nobjects_list_next2(ctx, &name, &key, &ns, &nl, &kl,
                                        &nsl)) == 0) {
    if (nsl && ns[0] == RESERVED_NS_BYTE)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : LIST_BATCH;
      struct objstore_list_entry *p = realloc(all, cap * sizeof *p);
      if (!p) {
        r = lbd_error(ENOMEM, "out of memory");
        break;
      }
      all = p;
    }
    all[n].ns = strndup(ns ? ns : "", ns ? nsl : 0);
    all[n].name = strndup(name, nl);
    n++;
    if (!all[n - 1].ns || !all[n - 1].name) {
      r = lbd_error(ENOMEM, "out of memory");
      break;
    }
  }
  rados_nobjects_list_close(ctx);
  rados_ioctx_set_namespace(io, bp->ns);
  /* An object whose head was removed while snapshots keep clones is still
   * listed by RADOS (a whiteout head): keep only those with a head. */
  /* The stats go LIST_STATS_AIO at a time (one by one, a listing of a
   * pool of N objects took N round trips: execute, which lists its
   * source's objects, slowed down with the pool's size). */
  size_t kept = 0;
  for (size_t b = 0; r == 0 || r == -ENOENT ? b < n : false;
       b += LIST_STATS_AIO) {
    size_t m = n - b < LIST_STATS_AIO ? n - b : LIST_STATS_AIO;
    rados_completion_t comp[LIST_STATS_AIO];
    uint64_t size[LIST_STATS_AIO];
    time_t mt[LIST_STATS_AIO];
    int e[LIST_STATS_AIO];
    for (size_t i = 0; i < m; i++) {
      e[i] = rados_aio_create_completion2(NULL, NULL, &comp[i]);
      if (e[i] == 0) {
        rados_ioctx_set_namespace(io, all[b + i].ns);
        e[i] = rados_aio_stat(io, all[b + i].name, comp[i], &size[i], &mt[i]);
        if (e[i] < 0)
          rados_aio_release(comp[i]);
      }
    }
    for (size_t i = 0; i < m; i++) {
      if (e[i] == 0) {
        rados_aio_wait_for_complete(comp[i]);
        e[i] = rados_aio_get_return_value(comp[i]);
        rados_aio_release(comp[i]);
      }
      if (e[i] == -ENOENT) {
        free(all[b + i].ns);
        free(all[b + i].name);
      } else {
        all[kept++] = all[b + i];
      }
    }
  }
  if (r == 0 || r == -ENOENT)
    n = kept;
  rados_ioctx_set_namespace(io, bp->ns);
  rados_io_put(bp, io);
  if (r == -ENOENT)
    r = 0;
  else if (r < 0 && r != -ENOMEM)
    r = rados_err(r, "listing RADOS pool %s", bp->rpool);
  if (r < 0) {
    objstore_list_free(all, n);
    return r;
  }
  if (n)
    qsort(all, n, sizeof *all, entry_cmp);
  size_t start = 0;
  if (after_ns) {
    struct objstore_list_entry key_e = {(char *)after_ns, (char *)after_name};
    while (start < n && entry_cmp(&all[start], &key_e) <= 0)
      start++;
  }
  size_t take = n - start;
  if (max && take > max)
    take = max;
  for (size_t i = 0; i < start; i++) {
    free(all[i].ns);
    free(all[i].name);
  }
  for (size_t i = start + take; i < n; i++) {
    free(all[i].ns);
    free(all[i].name);
  }
  if (more)
    *more = start + take < n;
  if (take)
    memmove(all, all + start, take * sizeof *all);
  *entries = all;
  *count = take;
  if (!take) {
    free(all);
    *entries = NULL;
  }
  return 0;
}

/* ---- write ops ------------------------------------------------------------------ */

/* The OSD compares the other way round (the value given CMP the stored
 * one): GT and LT swap. */
static uint8_t cmp_op(enum objstore_cmp c)
{
  switch (c) {
  case OBJSTORE_CMP_EQ: return LIBRADOS_CMPXATTR_OP_EQ;
  case OBJSTORE_CMP_NE: return LIBRADOS_CMPXATTR_OP_NE;
  case OBJSTORE_CMP_GT: return LIBRADOS_CMPXATTR_OP_LT;
  case OBJSTORE_CMP_GTE: return LIBRADOS_CMPXATTR_OP_LTE;
  case OBJSTORE_CMP_LT: return LIBRADOS_CMPXATTR_OP_GT;
  case OBJSTORE_CMP_LTE: return LIBRADOS_CMPXATTR_OP_GTE;
  }
  return LIBRADOS_CMPXATTR_OP_EQ;
}

/* Would OP create a missing object (in RADOS, as in the contract)? */
static bool op_creates(const struct objstore_write_op *op)
{
  for (size_t i = 0; i < op->nsteps; i++)
    switch (op->steps[i].type) {
    case STEP_CREATE: case STEP_WRITE: case STEP_WRITE_FULL:
    case STEP_TRUNCATE: case STEP_SETXATTR: case STEP_OMAP_SET:
      return true;
    default:
      break;
    }
  return false;
}

/* The object's version and xattrs, for client-side guard checks. */
static int guard_state(rados_ioctx_t io, const char *oid, bool *exists,
                       uint64_t *ver, uint64_t *size)
{
  rados_read_op_t op = rados_create_read_op();
  int sv = 0;
  *size = 0;
  rados_read_op_stat(op, size, NULL, &sv);
  int r = rados_read_op_operate(op, io, oid, 0);
  rados_release_read_op(op);
  if (r == 0)
    r = sv;
  *exists = r == 0;
  *ver = r == 0 ? rados_get_last_version(io) : 0;
  return r == -ENOENT ? 0 : r;
}

static bool op_creates_exclusive(const struct objstore_write_op *op)
{
  for (size_t i = 0; i < op->nsteps; i++)
    if (op->steps[i].type == STEP_CREATE && op->steps[i].exclusive)
      return true;
  return false;
}

/* Add the steps of OP to W, tracking the object's size so that a zero that
 * reaches the end keeps it (a RADOS zero there shrinks the object). */
static void add_steps(rados_wop_t w, const struct objstore_write_op *op,
                      bool live, uint64_t size, bool skip_xcmp)
{
  for (size_t i = 0; i < op->nsteps; i++) {
    const struct objstore_step *s = &op->steps[i];
    size_t kl;
    switch (s->type) {
    case STEP_ASSERT_EXISTS:
      rados_wop_assert_exists(w);
      break;
    case STEP_CREATE:
      rados_wop_create_object(w, s->exclusive);
      live = true;
      break;
    case STEP_CMP_VERSION:
      break;
    case STEP_CMP_XATTR:
      if (!skip_xcmp)
        rados_wop_cmpxattr(w, s->name, cmp_op(s->cmp), s->value,
                                s->vlen);
      break;
    case STEP_WRITE:
      rados_wop_write(w, s->data, s->len, s->off);
      if (!live)
        size = 0;
      if (s->off + s->len > size)
        size = s->off + s->len;
      live = true;
      break;
    case STEP_WRITE_FULL:
      rados_wop_write_full(w, s->data, s->len);
      size = s->len;
      live = true;
      break;
    case STEP_ZERO:
      if (!live || s->off >= size || s->len == 0)
        break; /* nothing to punch */
      if (s->off + s->len >= size) {
        rados_wop_truncate(w, s->off);
        rados_wop_truncate(w, size);
      } else {
        rados_wop_zero(w, s->off, s->len);
      }
      break;
    case STEP_TRUNCATE:
      rados_wop_truncate(w, s->off);
      size = s->off;
      live = true;
      break;
    case STEP_REMOVE:
      rados_wop_remove(w);
      live = false;
      size = 0;
      break;
    case STEP_SETXATTR:
      rados_wop_setxattr(w, s->name, s->value, s->vlen);
      live = true;
      break;
    case STEP_RMXATTR:
      rados_wop_rmxattr(w, s->name);
      break;
    case STEP_OMAP_SET:
      kl = strlen(s->name);
      rados_wop_omap_set(w, s->name, kl, s->value, s->vlen);
      live = true;
      break;
    case STEP_OMAP_RM:
      kl = strlen(s->name);
      rados_wop_omap_rm(w, s->name, kl);
      break;
    case STEP_OMAP_CLEAR:
      rados_wop_omap_clear(w);
      break;
    }
  }
}

static int rados_be_operate(struct objstore_backend_pool *bp, const char *oid,
                            const struct objstore_write_op *op,
                            const struct objstore_snapc *snapc,
                            unsigned flags)
{
  (void)flags; /* RADOS acknowledges a write once it is durable: FUA always */
  if (op->nsteps == 0)
    return 0;
  bool has_ver = false, has_xcmp = false, has_zero = false;
  for (size_t i = 0; i < op->nsteps; i++) {
    has_ver |= op->steps[i].type == STEP_CMP_VERSION;
    has_xcmp |= op->steps[i].type == STEP_CMP_XATTR;
    has_zero |= op->steps[i].type == STEP_ZERO;
  }
  bool need_state = has_ver || has_xcmp || has_zero;
  bool creates = op_creates(op), user_excl = op_creates_exclusive(op);
  bool asserts = false;
  for (size_t i = 0; i < op->nsteps; i++)
    asserts |= op->steps[i].type == STEP_ASSERT_EXISTS;
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io)
    return r;
  if (snapc)
    rados_ioctx_selfmanaged_snap_set_write_ctx(
        io, snapc->seq, (rados_snap_t *)snapc->snaps, (int)snapc->nsnaps);
  bool ours = false;           /* R is an lbd_error() of the guard checks */
  bool known_missing = false;  /* the guard met no object: go unguarded */
  bool met_exists = false;     /* our create met the object: ENOENT is final */
  bool gone_once = false;      /* went again on a marker gone meanwhile */
  bool unguarded = false;      /* a remove that goes past a cut history */
  bool remove_only = op->nsteps == 1 && op->steps[0].type == STEP_REMOVE;
  unsigned waited = 0;
  for (int attempt = 0;; attempt++) {
    bool exists = !known_missing, skip_xcmp = false;
    uint64_t ver = 0, size = 0;
    r = 0;
    if (need_state) {
      if ((r = guard_state(io, oid, &exists, &ver, &size)) < 0) {
        r = rados_err(r, "object %s", oid);
        ours = true;
        break;
      }
    }
    /* Version guards: decided here, enforced by assert_version. */
    for (size_t i = 0; r == 0 && i < op->nsteps; i++) {
      const struct objstore_step *s = &op->steps[i];
      if (s->type == STEP_CMP_VERSION && !objstore_cmp_u64(s->cmp, ver,
                                                           s->version))
        r = lbd_error(ECANCELED, "object %s: version %" PRIu64 " is not %s %"
                      PRIu64, oid, ver, objstore_cmp_name(s->cmp), s->version);
    }
    /* cmpxattr fails on a missing object: there every xattr is empty. */
    if (r == 0 && has_xcmp && !exists) {
      for (size_t i = 0; r == 0 && i < op->nsteps; i++) {
        const struct objstore_step *s = &op->steps[i];
        if (s->type == STEP_CMP_XATTR &&
            !objstore_cmp_bytes(s->cmp, "", 0, s->value, s->vlen))
          r = lbd_error(ECANCELED, "object %s: xattr %s (missing) is not %s "
                        "the value given", oid, s->name,
                        objstore_cmp_name(s->cmp));
      }
      skip_xcmp = true;
    }
    if (r < 0) {
      ours = true;
      break;
    }
    /* An op that asserts the object exists, on one found missing: ENOENT
     * now.  Run unguarded it could meet a history that a builder has just
     * begun (its object made, still empty) and write into it, the OSD
     * cloning that empty head for the op's snaps (the history's snapshot
     * data lost), or (a zero) do nothing and succeed. */
    if (!exists && asserts) {
      r = -ENOENT;
      break;
    }
    /* On an object that exists, wait for no history being written
     * (rados_history.c); on a missing one, create it ourselves, so that a
     * history written meanwhile makes us go again. */
    /* (An exclusive create of the caller's needs no guard: on an object
     * that exists, marker or not, it fails EEXIST by itself.  Guarded, it
     * failed on the missing object and went again: every copy-up sent its
     * data twice.) */
    bool guard = exists && !unguarded && !user_excl;
    bool our_create = !exists && creates && !user_excl && !asserts;
    rados_wop_t w = rados_wop_create();
    if (guard)
      rados_wop_cmpxattr(w, RADOS_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ,
                              "", 0);
    if (exists && (has_ver || has_zero) && need_state)
      rados_wop_assert_version(w, ver);
    if (our_create)
      rados_wop_create_object(w, 1);
    add_steps(w, op, exists, size, skip_xcmp);
    r = rados_wop_operate(w, io, oid);
    rados_wop_release(w);
    if (attempt >= 1000)
      break;
    if ((r == -ERANGE || r == -EOVERFLOW) && need_state)
      continue; /* changed since we looked: decide again */
    if (r == -EEXIST && our_create) {
      known_missing = false; /* appeared meanwhile */
      met_exists = true;
      continue;
    }
    /* ENOENT through the guard: most likely no object (cmpxattr needs one),
     * so go again without it (creating the object ourselves if the op
     * would); if the object was there after all, the op says so again. */
    if (r == -ENOENT && guard && !met_exists && !need_state) {
      known_missing = true;
      met_exists = true; /* once only */
      continue;
    }
    if (r == -ENOENT && guard && need_state && attempt < 2)
      continue; /* removed since we looked: look again */
    if (r == -ECANCELED && guard) {
      /* A history was being written (wait for it), or was a moment ago
       * (its marker gone now: go again).  An op with xattr comparisons of
       * its own goes again once only on a marker it no longer finds: its
       * ECANCELED may be its own comparison's. */
      int w8 = rados_history_wait(bp, io, oid, &waited);
      if (w8 > 0 || (w8 == 0 && (!has_xcmp || !gone_once))) {
        gone_once |= w8 == 0;
        continue;
      }
      /* A history whose builder died goes with a remove (an aborted
       * target, an image removed after a kill -9 of its copy). */
      if (w8 < 0 && remove_only) {
        lbd_error_clear();
        unguarded = true;
        continue;
      }
      /* An op on the object as it is, on a history whose builder died:
       * not written yet, as a stat says, so that the image copies it up
       * and takes the build over (a client write failed with EIO). */
      if (w8 < 0 && asserts && waited > 0) {
        r = lbd_error(ENOENT, "object %s is not written yet: its history "
                      "was cut", oid);
        ours = true;
        break;
      }
      if (w8 < 0) {
        r = w8;
        ours = true;
      }
      break;
    }
    break;
  }
  rados_io_put(bp, io);
  if (r >= 0)
    return 0;
  if (ours)
    return r;
  if (r == -ECANCELED && has_xcmp)
    return lbd_error(ECANCELED, "object %s: an xattr comparison failed", oid);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "object %s does not exist (or lacks the xattr)",
                     oid);
  if (r == -EEXIST)
    return lbd_error(EEXIST, "object %s exists", oid);
  if (r == -ENODATA)
    return lbd_error(ENOENT, "object %s has no such xattr", oid);
  return rados_err(r, "writing object %s", oid);
}

static int rados_be_check(struct objstore_backend_pool *bp, bool repair,
                          struct objstore_check_report *report)
{
  /* RADOS keeps its own consistency (scrub); there is nothing of lbd's to
   * check: report zero. */
  (void)bp;
  (void)repair;
  memset(report, 0, sizeof *report);
  return 0;
}

const struct objstore_backend objstore_rados_backend = {
    .size = sizeof(struct objstore_backend),
    .name = "rados",
    .pool_init = rados_pool_init,
    .pool_destroy = rados_pool_destroy,
    .pool_open = rados_pool_open,
    .pool_close = rados_pool_close,
    .flush = rados_flush,
    .snap_create = rados_snap_create,
    .snap_remove = rados_snap_remove,
    .read = rados_be_read,
    .stat = rados_be_stat,
    .list_snaps = rados_be_list_snaps,
    .getxattr = rados_be_getxattr,
    .getxattrs = rados_be_getxattrs,
    .omap_get = rados_be_omap_get,
    .omap_get_keys = rados_be_omap_get_keys,
    .list = rados_be_list,
    .operate = rados_be_operate,
    .watch = rados_be_watch,
    .unwatch = rados_be_unwatch,
    .list_watchers = rados_be_list_watchers,
    .lock = rados_be_lock,
    .unlock = rados_be_unlock,
    .break_lock = rados_be_break_lock,
    .list_lockers = rados_be_list_lockers,
    .check = rados_be_check,
    /* emulated: rados_history.c */
    .create_history = rados_be_create_history,
};
