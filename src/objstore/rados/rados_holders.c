/* The rados backend: watchers and locks (see rados.h).
 *
 * A watch answers every notify with its holder ("W" payload: its id,
 * client, pid, mode, description); a handle holding locks on an object also keeps one
 * watch on it ("L" payload), so a lock holder is alive while its watch
 * answers.  Listing holders is a notify: the answers are the live ones. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore/rados/rados.h"
#include "util/error.h"

#define SEP '\x1f'
#define NOTIFY_TIMEOUT_MS 3000
#define REWATCH_TRIES 60 /* a second apart */

/* Watch ids, unique in the process as librados' handles are (two pool
 * handles of one client watch the same objects). */
static _Atomic uint64_t last_watch_id;

/* ---- watches ------------------------------------------------------------- */

static void on_notify(void *arg, uint64_t notify_id, uint64_t handle,
                      uint64_t notifier_id, void *data, size_t len)
{
  struct objstore_backend_pool *bp = arg;
  (void)notifier_id;
  (void)data;
  (void)len;
  char *oid = NULL, *payload = NULL;
  size_t plen = 0;
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nwatches; i++)
    if (bp->watches[i].handle == handle) {
      const struct rados_watch_rec *w = &bp->watches[i];
      oid = strdup(w->oid);
      /* A user watch answers with its id (W, id, client, ...): the cookie
       * its owner holds, whatever librados' handle is after a rewatch. */
      int n = w->payload[0] == 'W'
                  ? asprintf(&payload, "W%c%" PRIu64 "%.*s", SEP, w->id,
                             (int)w->plen - 1, w->payload + 1)
                  : asprintf(&payload, "%.*s", (int)w->plen, w->payload);
      if (n < 0)
        payload = NULL;
      plen = n < 0 ? 0 : (size_t)n;
      break;
    }
  pthread_mutex_unlock(&bp->mu);
  if (oid)
    rados_notify_ack(bp->wio, oid, notify_id, handle, payload,
                     payload ? (int)plen : 0);
  free(oid);
  free(payload);
}

static void on_notify(void *arg, uint64_t notify_id, uint64_t handle,
                      uint64_t notifier_id, void *data, size_t len);
static void on_watch_error(void *arg, uint64_t handle, int err);

/* The first lost watch of BP (under bp->mu), or NULL. */
static struct rados_watch_rec *first_lost(struct objstore_backend_pool *bp)
{
  for (size_t i = 0; i < bp->nwatches; i++)
    if (bp->watches[i].lost)
      return &bp->watches[i];
  return NULL;
}

static struct rados_watch_rec *watch_by_id(struct objstore_backend_pool *bp,
                                           uint64_t id)
{
  for (size_t i = 0; i < bp->nwatches; i++)
    if (bp->watches[i].id == id)
      return &bp->watches[i];
  return NULL;
}

/* Register one lost watch again; false when none is left (or closing). */
static bool rewatch_one(struct objstore_backend_pool *bp, unsigned *tries)
{
  pthread_mutex_lock(&bp->mu);
  struct rados_watch_rec *w = bp->closing ? NULL : first_lost(bp);
  if (!w || *tries >= REWATCH_TRIES) {
    bp->rewatching = false;
    pthread_mutex_unlock(&bp->mu);
    return false;
  }
  uint64_t id = w->id, old = w->handle;
  char *oid = strdup(w->oid);
  w->lost = false;
  w->handle = 0; /* this thread's to unwatch now, no one else's */
  pthread_mutex_unlock(&bp->mu);
  uint64_t h = 0;
  if (old)
    rados_unwatch2(bp->wio, old); /* (librados drops its failed watch) */
  int r = oid ? rados_watch3(bp->wio, oid, &h, on_notify, on_watch_error, 0,
                             bp)
              : -ENOMEM;
  pthread_mutex_lock(&bp->mu);
  w = watch_by_id(bp, id);
  if (w && r == 0)
    w->handle = h;
  else if (w) /* again, a second later */
    w->lost = true;
  pthread_mutex_unlock(&bp->mu);
  if (!w && r == 0) /* unwatched meanwhile */
    rados_unwatch2(bp->wio, h);
  if (w && r < 0) {
    ++*tries;
    sleep(1);
  }
  free(oid);
  return true;
}

static void *rewatch_main(void *arg)
{
  unsigned tries = 0;
  while (rewatch_one(arg, &tries))
    ;
  return NULL;
}

static void on_watch_error(void *arg, uint64_t handle, int err)
{
  /* The watch was lost (an OSD restart, a disconnection longer than the
   * watch timeout): until it is registered again, its holder answers no
   * notify and others take it for gone, as librbd's rewatch avoids. */
  struct objstore_backend_pool *bp = arg;
  (void)err;
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nwatches; i++)
    if (handle && bp->watches[i].handle == handle)
      bp->watches[i].lost = true;
  if (!bp->rewatching && !bp->closing) {
    if (bp->rewatch_joinable && bp->rewatch_pid == getpid())
      pthread_join(bp->rewatch_thread, NULL); /* the last one, done */
    bp->rewatching = bp->rewatch_joinable =
        pthread_create(&bp->rewatch_thread, NULL, rewatch_main, bp) == 0;
    bp->rewatch_pid = getpid();
  }
  pthread_mutex_unlock(&bp->mu);
}

/* Register a watch on OID answering PAYLOAD; its record is added to BP. */
static int watch_add(struct objstore_backend_pool *bp, const char *oid,
                     char *payload, size_t plen, bool liveness,
                     uint64_t *handle)
{
  /* A notify that comes before the record exists gets no answer from this
   * watch (as if it were not there yet). */
  uint64_t h = 0;
  int r = rados_watch3(bp->wio, oid, &h, on_notify, on_watch_error, 0, bp);
  if (r < 0) {
    free(payload);
    if (r == -ENOENT)
      return lbd_error(ENOENT, "object %s does not exist", oid);
    return rados_err(r, "watching object %s", oid);
  }
  char *o = strdup(oid);
  pthread_mutex_lock(&bp->mu);
  struct rados_watch_rec *p =
      o ? realloc(bp->watches, (bp->nwatches + 1) * sizeof *p) : NULL;
  uint64_t id = 0;
  if (p) {
    bp->watches = p;
    id = atomic_fetch_add(&last_watch_id, 1) + 1;
    p[bp->nwatches++] = (struct rados_watch_rec){o,       id,       h,
                                                 false,   payload,  plen,
                                                 liveness, liveness ? 1 : 0};
  }
  pthread_mutex_unlock(&bp->mu);
  if (!p) {
    rados_unwatch2(bp->wio, h);
    free(o);
    free(payload);
    return lbd_error(ENOMEM, "out of memory");
  }
  *handle = id;
  return 0;
}

static char *payload_make(size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static char *payload_make(size_t *len, const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  *len = (size_t)n;
  return s;
}

int rados_be_watch(struct objstore_backend_pool *bp, const char *oid,
                   const char *desc, bool rw, uint64_t *handle)
{
  size_t plen;
  char *payload = payload_make(&plen, "W%c%s%c%ld%c%d%c%s", SEP, bp->client,
                               SEP, (long)getpid(), SEP, rw ? 1 : 0, SEP,
                               desc);
  if (!payload)
    return lbd_error(ENOMEM, "out of memory");
  return watch_add(bp, oid, payload, plen, false, handle);
}

/* Remove the record of watch ID; returns whether it was there, and its
 * librados handle in *HANDLE. */
static bool watch_forget(struct objstore_backend_pool *bp, const char *oid,
                         uint64_t id, bool liveness, uint64_t *handle)
{
  bool found = false;
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nwatches; i++) {
    struct rados_watch_rec *w = &bp->watches[i];
    if (w->id == id && w->liveness == liveness &&
        strcmp(w->oid, oid) == 0) {
      *handle = w->handle;
      free(w->oid);
      free(w->payload);
      bp->watches[i] = bp->watches[--bp->nwatches];
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&bp->mu);
  return found;
}

int rados_be_unwatch(struct objstore_backend_pool *bp, const char *oid,
                     uint64_t id)
{
  uint64_t handle;
  if (!watch_forget(bp, oid, id, false, &handle))
    return lbd_error(ENOENT, "object %s: no watch %" PRIu64 " of this handle",
                     oid, id);
  int r = handle ? rados_unwatch2(bp->wio, handle) : 0; /* 0: being rewatched */
  return r < 0 && r != -ENOENT ? rados_err(r, "unwatching object %s", oid) : 0;
}

/* The live watches of OID: the answers to a notify. */
static int notify_acks(struct objstore_backend_pool *bp, const char *oid,
                       struct notify_ack_t **acks, size_t *nacks,
                       struct notify_timeout_t **timeouts, size_t *ntimeouts)
{
  char *reply = NULL;
  size_t rlen = 0;
  *acks = NULL;
  *timeouts = NULL;
  *nacks = *ntimeouts = 0;
  int r = rados_notify2(bp->wio, oid, "", 0, NOTIFY_TIMEOUT_MS, &reply, &rlen);
  if (r < 0 && r != -ETIMEDOUT) { /* ETIMEDOUT: some watchers are dead */
    if (reply)
      rados_buffer_free(reply);
    if (r == -ENOENT)
      return lbd_error(ENOENT, "object %s does not exist", oid);
    return rados_err(r, "asking the watchers of object %s", oid);
  }
  r = reply ? rados_decode_notify_response(reply, rlen, acks, nacks, timeouts,
                                           ntimeouts)
            : 0;
  if (reply)
    rados_buffer_free(reply);
  return r < 0 ? rados_err(r, "decoding the watchers of object %s", oid) : 0;
}

/* Split P (LEN bytes) at SEP into at most MAX fields (NUL-terminated in a
 * copy that *COPY owns). */
static size_t fields(const char *p, size_t len, char **copy, char **f,
                     size_t max)
{
  *copy = malloc(len + 1);
  if (!*copy)
    return 0;
  memcpy(*copy, p, len);
  (*copy)[len] = '\0';
  size_t n = 0;
  char *s = *copy;
  while (n < max) {
    f[n++] = s;
    char *e = n < max ? strchr(s, SEP) : NULL;
    if (!e)
      break;
    *e = '\0';
    s = e + 1;
  }
  return n;
}

static int holder_push(struct objstore_holder **hs, size_t *n,
                       const char *client, const char *cookie,
                       const char *desc, const char *tag, pid_t pid,
                       bool excl)
{
  struct objstore_holder *p = realloc(*hs, (*n + 1) * sizeof *p);
  if (!p)
    return lbd_error(ENOMEM, "out of memory");
  *hs = p;
  struct objstore_holder *h = &p[*n];
  memset(h, 0, sizeof *h);
  snprintf(h->client, sizeof h->client, "%s", client);
  h->cookie = strdup(cookie);
  h->desc = strdup(desc);
  h->tag = tag ? strdup(tag) : NULL;
  h->pid = pid;
  h->exclusive = excl;
  (*n)++;
  if (!h->cookie || !h->desc || (tag && !h->tag))
    return lbd_error(ENOMEM, "out of memory");
  return 0;
}

int rados_be_list_watchers(struct objstore_backend_pool *bp, const char *oid,
                           struct objstore_holder **holders, size_t *count)
{
  struct notify_ack_t *acks;
  struct notify_timeout_t *tos;
  size_t na, nt;
  *holders = NULL;
  *count = 0;
  int r = notify_acks(bp, oid, &acks, &na, &tos, &nt);
  for (size_t i = 0; r == 0 && i < na; i++) {
    char *copy, *f[6];
    if (!acks[i].payload || acks[i].payload_len < 1 ||
        acks[i].payload[0] != 'W')
      continue; /* a lock's liveness watch, or not lbd's */
    size_t nf = fields(acks[i].payload, acks[i].payload_len, &copy, f, 6);
    if (nf == 6) /* W, id (the cookie), client, pid, mode, description */
      r = holder_push(holders, count, f[2], f[1], f[5], NULL,
                      (pid_t)atol(f[3]), atoi(f[4]) != 0);
    free(copy);
  }
  rados_free_notify_response(acks, na, tos);
  if (r < 0) {
    objstore_holders_free(*holders, *count);
    *holders = NULL;
    *count = 0;
  }
  return r;
}

/* ---- locks --------------------------------------------------------------- */

struct locker {
  char *entity; /* client.N of RADOS */
  char *rcookie;
  char *addr;
  char *cookie, *client, *tag, *desc; /* decoded; NULL if not lbd's */
  pid_t pid;
  char *copy;
};

struct lockers {
  struct locker *l;
  size_t n;
  bool exclusive;
  char tag[256];
  char *bufs[3];
};

static void lockers_free(struct lockers *ls)
{
  for (size_t i = 0; i < ls->n; i++)
    free(ls->l[i].copy);
  free(ls->l);
  for (int i = 0; i < 3; i++)
    free(ls->bufs[i]);
  memset(ls, 0, sizeof *ls);
}

static int lockers_get(struct objstore_backend_pool *bp, const char *oid,
                       const char *name, struct lockers *ls)
{
  memset(ls, 0, sizeof *ls);
  size_t cap = 4096;
  ssize_t n;
  size_t tl, cl, kl, al;
  int excl = 0;
  for (;;) {
    for (int i = 0; i < 3; i++) {
      free(ls->bufs[i]);
      ls->bufs[i] = malloc(cap);
    }
    if (!ls->bufs[0] || !ls->bufs[1] || !ls->bufs[2]) {
      lockers_free(ls);
      return lbd_error(ENOMEM, "out of memory");
    }
    tl = sizeof ls->tag;
    cl = kl = al = cap;
    n = rados_list_lockers(bp->wio, oid, name, &excl, ls->tag, &tl,
                           ls->bufs[0], &cl, ls->bufs[1], &kl, ls->bufs[2],
                           &al);
    if (n != -ERANGE || cap > (1u << 24))
      break;
    cap *= 4;
  }
  if (n == -ENOENT) { /* no such object, or no such lock */
    uint64_t size;
    time_t mt;
    int r = rados_stat(bp->wio, oid, &size, &mt);
    lockers_free(ls);
    return r == -ENOENT ? lbd_error(ENOENT, "object %s does not exist", oid)
                        : 0;
  }
  if (n < 0) {
    lockers_free(ls);
    return rados_err((int)n, "listing the lockers of %s on object %s", name,
                     oid);
  }
  ls->exclusive = excl != 0;
  ls->l = calloc(n ? (size_t)n : 1, sizeof *ls->l);
  if (!ls->l) {
    lockers_free(ls);
    return lbd_error(ENOMEM, "out of memory");
  }
  char *c = ls->bufs[0], *k = ls->bufs[1], *a = ls->bufs[2];
  for (ssize_t i = 0; i < n; i++) {
    struct locker *l = &ls->l[ls->n++];
    l->entity = c;
    l->rcookie = k;
    l->addr = a;
    c += strlen(c) + 1;
    k += strlen(k) + 1;
    a += strlen(a) + 1;
    char *f[5];
    if (fields(l->rcookie, strlen(l->rcookie), &l->copy, f, 5) == 5) {
      l->cookie = f[0];
      l->client = f[1];
      l->pid = (pid_t)atol(f[2]);
      l->tag = f[3];
      l->desc = f[4];
    }
  }
  return 0;
}

/* Is the RADOS client ENTITY ("client.N") among those that answered? */
static bool entity_live(const char *entity, const struct notify_ack_t *acks,
                        size_t na)
{
  const char *dot = strrchr(entity, '.');
  if (!dot)
    return true;
  uint64_t id = strtoull(dot + 1, NULL, 10);
  for (size_t i = 0; i < na; i++)
    if (acks[i].notifier_id == id)
      return true;
  return false;
}

/* LIVE[i]: whether locker i is alive (foreign lockers always are). */
static int lockers_liveness(struct objstore_backend_pool *bp, const char *oid,
                            const struct lockers *ls, bool *live)
{
  struct notify_ack_t *acks;
  struct notify_timeout_t *tos;
  size_t na, nt;
  if (ls->n == 0)
    return 0;
  int r = notify_acks(bp, oid, &acks, &na, &tos, &nt);
  if (r < 0)
    return r;
  for (size_t i = 0; i < ls->n; i++)
    live[i] = !ls->l[i].client || entity_live(ls->l[i].entity, acks, na);
  rados_free_notify_response(acks, na, tos);
  return 0;
}

/* Fence a dead holder (blocklist its address, as librbd does) and break
 * its lock. */
static int break_dead(struct objstore_backend_pool *bp, const char *oid,
                      const char *name, const struct locker *l)
{
  char *addr = strdup(l->addr);
  int r = addr ? rados_blocklist_add(rados_conn_cluster(bp->conn), addr, 0)
               : -ENOMEM;
  free(addr);
  if (r < 0)
    return rados_err(r, "lock %s on object %s: cannot blocklist dead holder "
                     "%s (%s)", name, oid, l->client, l->addr);
  r = rados_break_lock(bp->wio, oid, name, l->entity, l->rcookie);
  return r < 0 && r != -ENOENT
             ? rados_err(r, "lock %s on object %s: breaking dead holder %s",
                         name, oid, l->client)
             : 0;
}

int rados_liveness_ref(struct objstore_backend_pool *bp, const char *oid)
{
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nwatches; i++)
    if (bp->watches[i].liveness && strcmp(bp->watches[i].oid, oid) == 0) {
      bp->watches[i].refs++;
      pthread_mutex_unlock(&bp->mu);
      return 0;
    }
  pthread_mutex_unlock(&bp->mu);
  size_t plen;
  char *payload = payload_make(&plen, "L%c%s%c%ld", SEP, bp->client, SEP,
                               (long)getpid());
  uint64_t h;
  return payload ? watch_add(bp, oid, payload, plen, true, &h)
                 : lbd_error(ENOMEM, "out of memory");
}

void rados_liveness_unref(struct objstore_backend_pool *bp, const char *oid)
{
  uint64_t id = 0, h;
  bool drop = false;
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nwatches; i++)
    if (bp->watches[i].liveness && strcmp(bp->watches[i].oid, oid) == 0) {
      drop = --bp->watches[i].refs == 0;
      id = bp->watches[i].id;
      break;
    }
  pthread_mutex_unlock(&bp->mu);
  if (drop && watch_forget(bp, oid, id, true, &h) && h)
    rados_unwatch2(bp->wio, h);
}

int rados_be_lock(struct objstore_backend_pool *bp, const char *oid,
                  const char *name, enum objstore_lock_type type,
                  const char *cookie, const char *tag, const char *desc)
{
  uint64_t size;
  time_t mt;
  int r = rados_stat(bp->wio, oid, &size, &mt);
  if (r < 0)
    return r == -ENOENT ? lbd_error(ENOENT, "object %s does not exist", oid)
                        : rados_err(r, "object %s", oid);
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nlocks; i++)
    if (!strcmp(bp->locks[i].oid, oid) && !strcmp(bp->locks[i].name, name) &&
        !strcmp(bp->locks[i].cookie, cookie)) {
      pthread_mutex_unlock(&bp->mu);
      return lbd_error(EEXIST, "lock %s on object %s: held by this handle "
                       "with cookie %s already", name, oid, cookie);
    }
  pthread_mutex_unlock(&bp->mu);
  char *rcookie = NULL;
  if (asprintf(&rcookie, "%s%c%s%c%ld%c%s%c%s", cookie, SEP, bp->client, SEP,
               (long)getpid(), SEP, tag, SEP, desc) < 0)
    return lbd_error(ENOMEM, "out of memory");
  if ((r = rados_liveness_ref(bp, oid)) < 0) {
    free(rcookie);
    return r;
  }
  for (int attempt = 0; attempt < 3; attempt++) {
    r = type == OBJSTORE_LOCK_EXCLUSIVE
            ? rados_lock_exclusive(bp->wio, oid, name, rcookie, desc, NULL, 0)
            : rados_lock_shared(bp->wio, oid, name, rcookie, tag, desc, NULL,
                                0);
    if (r != -EBUSY && r != -EEXIST)
      break;
    /* Held: by the living, or by the dead (whose holds are broken). */
    struct lockers ls;
    int e = lockers_get(bp, oid, name, &ls);
    bool *live = e == 0 ? calloc(ls.n + 1, sizeof *live) : NULL;
    if (e == 0 && !live)
      e = lbd_error(ENOMEM, "out of memory");
    if (e == 0)
      e = lockers_liveness(bp, oid, &ls, live);
    bool broke = false;
    const char *who = NULL;
    for (size_t i = 0; e == 0 && i < ls.n; i++) {
      if (!live[i]) {
        e = break_dead(bp, oid, name, &ls.l[i]);
        broke = e == 0;
      } else if (!who) {
        who = ls.l[i].client ? ls.l[i].client : ls.l[i].entity;
      }
    }
    if (e == 0 && !broke)
      e = lbd_error(EBUSY, "lock %s on object %s is held by %s", name, oid,
                    who ? who : "another client");
    free(live);
    lockers_free(&ls);
    if (e < 0) {
      r = e;
      break;
    }
  }
  if (r < 0) {
    rados_liveness_unref(bp, oid);
    free(rcookie);
    if (r == -EBUSY || r == -EEXIST || r == -ENOMEM || r == -ENOENT)
      return r; /* lbd_error() said why */
    return rados_err(r, "locking %s on object %s", name, oid);
  }
  pthread_mutex_lock(&bp->mu);
  struct rados_lock_rec *p = realloc(bp->locks, (bp->nlocks + 1) * sizeof *p);
  if (p) {
    bp->locks = p;
    p[bp->nlocks++] = (struct rados_lock_rec){strdup(oid), strdup(name),
                                              strdup(cookie), rcookie};
  }
  pthread_mutex_unlock(&bp->mu);
  if (!p) {
    rados_unlock(bp->wio, oid, name, rcookie);
    free(rcookie);
    rados_liveness_unref(bp, oid);
    return lbd_error(ENOMEM, "out of memory");
  }
  return 0;
}

/* Take the record of (OID, NAME, COOKIE) out of BP; NULL if none. */
static bool lock_take(struct objstore_backend_pool *bp, const char *oid,
                      const char *name, const char *cookie,
                      struct rados_lock_rec *out)
{
  bool found = false;
  pthread_mutex_lock(&bp->mu);
  for (size_t i = 0; i < bp->nlocks; i++) {
    struct rados_lock_rec *l = &bp->locks[i];
    if (!strcmp(l->oid, oid) && !strcmp(l->name, name) &&
        !strcmp(l->cookie, cookie)) {
      *out = *l;
      bp->locks[i] = bp->locks[--bp->nlocks];
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&bp->mu);
  return found;
}

static void lock_rec_free(struct rados_lock_rec *l)
{
  free(l->oid);
  free(l->name);
  free(l->cookie);
  free(l->rcookie);
}

int rados_be_unlock(struct objstore_backend_pool *bp, const char *oid,
                    const char *name, const char *cookie)
{
  struct rados_lock_rec l;
  if (!lock_take(bp, oid, name, cookie, &l))
    return lbd_error(ENOENT, "lock %s on object %s: this handle holds none "
                     "with cookie %s", name, oid, cookie);
  int r = rados_unlock(bp->wio, oid, name, l.rcookie);
  lock_rec_free(&l);
  rados_liveness_unref(bp, oid);
  if (r == -ENOENT)
    return lbd_error(ENOENT, "lock %s on object %s: cookie %s was broken by "
                     "another client", name, oid, cookie);
  return r < 0 ? rados_err(r, "unlocking %s on object %s", name, oid) : 0;
}

int rados_be_break_lock(struct objstore_backend_pool *bp, const char *oid,
                        const char *name, const char *client,
                        const char *cookie)
{
  struct lockers ls;
  int r = lockers_get(bp, oid, name, &ls);
  if (r < 0)
    return r;
  r = lbd_error(ENOENT, "lock %s on object %s: %s holds none with cookie %s",
                name, oid, client, cookie);
  for (size_t i = 0; i < ls.n; i++) {
    const struct locker *l = &ls.l[i];
    if (l->client && !strcmp(l->client, client) && !strcmp(l->cookie, cookie)) {
      int e = rados_break_lock(bp->wio, oid, name, l->entity, l->rcookie);
      r = e < 0 && e != -ENOENT
              ? rados_err(e, "breaking lock %s on object %s", name, oid)
              : 0;
      if (r == 0)
        lbd_error_clear();
      break;
    }
  }
  lockers_free(&ls);
  if (r == 0 && strcmp(client, bp->client) == 0) {
    struct rados_lock_rec l;
    if (lock_take(bp, oid, name, cookie, &l)) {
      lock_rec_free(&l);
      rados_liveness_unref(bp, oid);
    }
  }
  return r;
}

int rados_be_list_lockers(struct objstore_backend_pool *bp, const char *oid,
                          const char *name, struct objstore_holder **holders,
                          size_t *count)
{
  *holders = NULL;
  *count = 0;
  struct lockers ls;
  int r = lockers_get(bp, oid, name, &ls);
  if (r < 0)
    return r;
  bool *live = calloc(ls.n + 1, sizeof *live);
  r = live ? lockers_liveness(bp, oid, &ls, live)
           : lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < ls.n; i++) {
    const struct locker *l = &ls.l[i];
    if (!live[i])
      continue; /* dead: not a holder any more */
    r = l->client ? holder_push(holders, count, l->client, l->cookie, l->desc,
                                ls.exclusive ? l->tag : ls.tag, l->pid,
                                ls.exclusive)
                  : holder_push(holders, count, l->entity, l->rcookie, "",
                                ls.tag, 0, ls.exclusive);
  }
  free(live);
  lockers_free(&ls);
  if (r < 0) {
    objstore_holders_free(*holders, *count);
    *holders = NULL;
    *count = 0;
  }
  return r;
}

void rados_holders_release(struct objstore_backend_pool *bp)
{
  pthread_mutex_lock(&bp->mu);
  bp->closing = true; /* no rewatch from now on */
  /* (a child of a fork has none of its parent's threads) */
  bool join = bp->rewatch_joinable && bp->rewatch_pid == getpid();
  bp->rewatch_joinable = false;
  pthread_mutex_unlock(&bp->mu);
  if (join)
    pthread_join(bp->rewatch_thread, NULL);
  for (size_t i = 0; i < bp->nlocks; i++) {
    rados_unlock(bp->wio, bp->locks[i].oid, bp->locks[i].name,
                 bp->locks[i].rcookie);
    lock_rec_free(&bp->locks[i]);
  }
  free(bp->locks);
  bp->locks = NULL;
  bp->nlocks = 0;
  for (size_t i = 0; i < bp->nwatches; i++)
    if (bp->watches[i].handle)
      rados_unwatch2(bp->wio, bp->watches[i].handle);
  /* No callback runs on BP once this returns. */
  rados_watch_flush(rados_conn_cluster(bp->conn));
  for (size_t i = 0; i < bp->nwatches; i++) {
    free(bp->watches[i].oid);
    free(bp->watches[i].payload);
  }
  free(bp->watches);
  bp->watches = NULL;
  bp->nwatches = 0;
}
