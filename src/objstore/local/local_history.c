/* Creating an object with its whole snapshot history in one commit (deep
 * copy's primitive): one new data file per distinct state, synced, then one
 * LMDB transaction adds the record with its clones and snap map entries,
 * under the object's exclusive op lock.  The transaction is a group
 * commit's: parallel copy-ups share its sync. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objstore/local/local.h"
#include "util/error.h"

#define KEY_MAX (OBJSTORE_MAX_NS + 1 + OBJSTORE_MAX_OBJECT_NAME)
#define BLOCK 4096ULL

/* A new data file holding STATE (holes kept), synced; its fd stays open
 * until the commit (an open new file is safe from pool checks). */
static int state_file(struct objstore_backend_pool *bp,
                      const struct objstore_history_state *st, uint64_t *id,
                      int *fd_out)
{
  int fd = local_file_create(bp, id);
  if (fd < 0)
    return fd;
  int r = 0;
  for (size_t i = 0; r == 0 && i < st->ndata; i++)
    r = local_pwrite_streaming(fd, (const char *)st->buf + st->data[i].off,
                               st->data[i].len, st->data[i].off);
  if (r == 0 && ftruncate(fd, (off_t)st->size) < 0)
    r = lbd_error(errno, "sizing a data file: %s", strerror(errno));
  if (r == 0 && fdatasync(fd) < 0)
    r = lbd_error(errno, "syncing a data file: %s", strerror(errno));
  if (r < 0) {
    local_file_close_new(bp, fd);
    local_file_unlink(bp, *id);
    *id = 0;
    return r;
  }
  *fd_out = fd;
  return 0;
}

static bool in_data(const struct objstore_history_state *st, uint64_t off)
{
  for (size_t i = 0; i < st->ndata; i++)
    if (off >= st->data[i].off && off < st->data[i].off + st->data[i].len)
      return true;
  return false;
}

/* Blocks of A that read the same in B (holes read as zeroes). */
static int same_blocks(const struct objstore_history_state *a,
                       const struct objstore_history_state *b,
                       struct extent_set *out)
{
  static const char zero[BLOCK];
  uint64_t size = a->size < b->size ? a->size : b->size;
  for (uint64_t off = 0; off < size; off += BLOCK) {
    uint64_t n = size - off < BLOCK ? size - off : BLOCK;
    const char *pa = in_data(a, off) ? (const char *)a->buf + off : zero;
    const char *pb = in_data(b, off) ? (const char *)b->buf + off : zero;
    if (memcmp(pa, pb, n) == 0) {
      int r = extent_set_add(out, off, n);
      if (r < 0)
        return r;
    }
  }
  return 0;
}

static int live_snaps(MDB_txn *txn, struct objstore_backend_pool *bp,
                      const struct objstore_history_state *st, uint64_t **out,
                      size_t *n)
{
  *out = malloc((st->nsnaps ? st->nsnaps : 1) * sizeof **out);
  *n = 0;
  if (!*out)
    return lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; i < st->nsnaps; i++) {
    int live = local_snap_state(txn, bp, st->snaps[i]);
    if (live < 0)
      return live;
    if (live)
      (*out)[(*n)++] = st->snaps[i];
  }
  return 0;
}

struct history {
  const struct objstore_history_state *states;
  size_t n;
  const uint64_t *files;
  uint64_t seq;
  unsigned buried; /* files of states whose snaps went meanwhile */
};

/* The record: one clone per existing snapshot state, then the head. */
static int history_record(MDB_txn *txn, struct objstore_backend_pool *bp,
                          const struct local_commit *c, struct history *h,
                          struct local_record *rec)
{
  const struct objstore_history_state *states = h->states;
  size_t n = h->n;
  int r = local_cfg_next(txn, bp, "next_iid", &rec->iid);
  if (r == 0)
    r = local_cfg_next(txn, bp, "version", &rec->version);
  if (r < 0)
    return r;
  rec->mtime_ns = local_now_ns();
  rec->snap_seq = h->seq;
  rec->head_exists = true;
  rec->head_file = h->files[n - 1];
  if (!(rec->clones = calloc(n, sizeof *rec->clones)))
    return lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i + 1 < n; i++) {
    if (!states[i].exists)
      continue;
    struct local_clone *cl = &rec->clones[rec->nclones];
    if (!h->files[i])
      continue;
    if ((r = live_snaps(txn, bp, &states[i], &cl->snaps, &cl->nsnaps)) < 0 ||
        cl->nsnaps == 0) { /* its snaps went meanwhile */
      free(cl->snaps);
      cl->snaps = NULL;
      if (r == 0 && (r = local_file_bury(txn, bp, h->files[i])) == 0)
        h->buried++;
      continue;
    }
    rec->nclones++;
    cl->cloneid = cl->snaps[cl->nsnaps - 1];
    cl->file = h->files[i];
    cl->size = states[i].size;
    size_t newer = i + 1; /* the next state that exists: overlap with it */
    while (newer + 1 < n && !states[newer].exists)
      newer++;
    r = same_blocks(&states[i], &states[newer], &cl->overlap);
    for (size_t j = 0; r == 0 && j < cl->nsnaps; j++) {
      unsigned char mk[8 + KEY_MAX];
      local_be64(cl->snaps[j], mk);
      memcpy(mk + 8, c->key, c->klen);
      r = kv_put(txn, bp->kv->dbi[LDB_SNAPMAP], mk, 8 + c->klen, "", 0);
    }
  }
  return r;
}

/* The group commit's hook (local_commit_grouped): adds the record. */
static int history_put(MDB_txn *txn, struct objstore_backend_pool *bp,
                       struct local_commit *c)
{
  struct history *h = c->arg;
  uint64_t pool_seq;
  h->buried = 0; /* counts this try only */
  int r = kv_get(txn, bp->kv->dbi[LDB_OBJ], c->key, c->klen, &(MDB_val){0});
  if (r != -ENOENT)
    return r == 0 ? lbd_error(EEXIST, "it exists (or has snapshot clones)")
                  : r;
  if ((r = local_cfg_get(txn, bp, "snap_seq", &pool_seq)) < 0)
    return r;
  if (h->seq > pool_seq)
    return lbd_error(EINVAL, "snap context seq %" PRIu64 " is newer than "
                     "every snap id allocated in this pool", h->seq);
  struct local_record rec = {0};
  r = history_record(txn, bp, c, h, &rec);
  if (r == 0)
    r = local_record_put(txn, bp, c->key, c->klen, &rec);
  local_record_free(&rec);
  return r;
}

int local_create_history(struct objstore_backend_pool *bp, const char *oid,
                         const struct objstore_history_state *states, size_t n,
                         uint64_t seq)
{
  char key[KEY_MAX + 1];
  size_t klen = local_obj_key(bp->ns, oid, key, sizeof key);
  uint64_t *files = calloc(n, sizeof *files);
  if (!files)
    return lbd_error(ENOMEM, "out of memory");
  int lfd = local_obj_lock(bp, key, klen, true);
  if (lfd < 0) {
    free(files);
    return lfd;
  }
  MDB_txn *txn;
  MDB_val old;
  int *fds = malloc(n * sizeof *fds);
  int r = fds ? kvenv_begin(bp->kv, false, &txn)
              : lbd_error(ENOMEM, "out of memory");
  for (size_t i = 0; fds && i < n; i++)
    fds[i] = -1;
  if (r == 0) { /* refuse before writing any file; skip unused states */
    if (kv_get(txn, bp->kv->dbi[LDB_OBJ], key, klen, &old) == 0)
      r = lbd_error(EEXIST, "object %s exists (or has snapshot clones)", oid);
    for (size_t i = 0; r == 0 && i < n; i++) {
      uint64_t *live;
      size_t nlive = 0;
      if (i + 1 < n && states[i].exists)
        r = live_snaps(txn, bp, &states[i], &live, &nlive), free(live);
      if (r == 0 && states[i].exists && (nlive || i + 1 == n))
        r = state_file(bp, &states[i], &files[i], &fds[i]);
    }
    mdb_txn_abort(txn);
  }
  struct history h = {.states = states, .n = n, .files = files, .seq = seq};
  struct local_commit c = {.key = key, .klen = klen, .put = history_put,
                           .arg = &h};
  if (r == 0 && (r = local_commit_grouped(bp, &c)) < 0)
    r = r == -EEXIST ? lbd_error(EEXIST, "object %s exists (or has snapshot "
                                 "clones)", oid)
                     : lbd_error(-r, "%s", c.err);
  for (size_t i = 0; fds && i < n; i++) {
    if (fds[i] >= 0)
      local_file_close_new(bp, fds[i]); /* after the commit */
    if (r < 0 && files[i])
      local_file_unlink(bp, files[i]);
  }
  if (r < 0 && r != -EEXIST)
    lbd_error_prefix(r, "object %s", oid);
  local_obj_unlock(bp, lfd, key, klen, true);
  if (r == 0)
    local_file_buried(bp, h.buried); /* unlinked once LMDB is synced */
  free(fds);
  free(files);
  return r;
}
