/* Self-managed snapshots: snap ids, and trimming the clones of removed
 * snaps.  The snapmap (snap id, object) lists the objects that have a clone
 * serving each snap, so removal visits only those. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "objstore/local/local.h"
#include "util/error.h"

#define KEY_MAX (OBJSTORE_MAX_NS + 1 + OBJSTORE_MAX_OBJECT_NAME)
#define TRIM_BATCH 64

int local_snap_state(MDB_txn *txn, struct objstore_backend_pool *bp,
                     uint64_t snapid)
{
  unsigned char k[8];
  local_be64(snapid, k);
  MDB_val v;
  int r = kv_get(txn, bp->kv->dbi[LDB_SNAPS], k, 8, &v);
  if (r == 0)
    return v.mv_size == 1 && *(unsigned char *)v.mv_data == SNAP_LIVE;
  if (r != -ENOENT)
    return r;
  uint64_t seq;
  if ((r = local_cfg_get(txn, bp, "snap_seq", &seq)) < 0)
    return r;
  if (snapid <= seq)
    return 0;
  return lbd_error(ENOENT, "snap id %" PRIu64 " does not exist: it was never "
                   "allocated in this pool (newest is %" PRIu64 ")", snapid, seq);
}

static int set_state(MDB_txn *txn, struct objstore_backend_pool *bp,
                     uint64_t snapid, unsigned char state)
{
  unsigned char k[8];
  local_be64(snapid, k);
  return kv_put(txn, bp->kv->dbi[LDB_SNAPS], k, 8, &state, 1);
}

int local_snap_create(struct objstore_backend_pool *bp, uint64_t *snapid)
{
  MDB_txn *txn;
  uint64_t seq;
  int r = kvenv_begin(bp->kv, true, &txn);
  if (r < 0)
    return r;
  if ((r = local_cfg_get(txn, bp, "snap_seq", &seq)) < 0 ||
      (r = local_cfg_put(txn, bp, "snap_seq", seq + 1)) < 0 ||
      (r = set_state(txn, bp, seq + 1, SNAP_LIVE)) < 0) {
    mdb_txn_abort(txn);
    return r;
  }
  if ((r = kvenv_commit(txn)) == 0)
    *snapid = seq + 1;
  return r;
}

/* Drop SNAPID from clone I of REC; free the clone if no snap needs it, and
 * then set *FREED to its file. */
static int trim_clone(struct local_record *rec, size_t i, uint64_t snapid,
                      uint64_t *freed)
{
  struct local_clone *c = &rec->clones[i];
  size_t k = 0;
  for (size_t j = 0; j < c->nsnaps; j++)
    if (c->snaps[j] != snapid)
      c->snaps[k++] = c->snaps[j];
  c->nsnaps = k;
  if (k)
    return 0;
  /* The older clone matched this one where both overlaps say so. */
  if (i > 0) {
    struct extent_set both = {0};
    int r = extent_set_intersect(&rec->clones[i - 1].overlap, &c->overlap,
                                 &both);
    if (r < 0) {
      extent_set_free(&both);
      return lbd_error(ENOMEM, "out of memory");
    }
    extent_set_free(&rec->clones[i - 1].overlap);
    rec->clones[i - 1].overlap = both;
  }
  *freed = c->file;
  free(c->snaps);
  extent_set_free(&c->overlap);
  memmove(c, c + 1, (rec->nclones - i - 1) * sizeof *c);
  rec->nclones--;
  return 0;
}

/* Trim SNAPID from the object at KEY; *FREED gets a file to unlink (or 0). */
static int trim_object(struct objstore_backend_pool *bp, uint64_t snapid,
                       const char *key, size_t klen, uint64_t *freed)
{
  MDB_txn *txn;
  struct local_record rec = {0};
  unsigned char mk[8 + KEY_MAX];
  local_be64(snapid, mk);
  memcpy(mk + 8, key, klen);
  *freed = 0;
  int r = kvenv_begin(bp->kv, true, &txn);
  if (r < 0)
    return r;
  r = local_record_get(txn, bp, key, klen, &rec);
  if (r == 0) {
    for (size_t i = 0; r == 0 && i < rec.nclones; i++) {
      if (rec.clones[i].cloneid < snapid)
        continue;
      r = trim_clone(&rec, i, snapid, freed);
      break; /* only the first clone at or above SNAPID can serve it */
    }
    if (r == 0 && !rec.head_exists && rec.nclones == 0)
      r = kv_del(txn, bp->kv->dbi[LDB_OBJ], key, klen);
    else if (r == 0)
      r = local_record_put(txn, bp, key, klen, &rec);
  } else if (r == -ENOENT) {
    r = 0;
  }
  if (r == 0) {
    r = kv_del(txn, bp->kv->dbi[LDB_SNAPMAP], mk, 8 + klen);
    r = r == -ENOENT ? 0 : r;
  }
  if (r == 0 && *freed)
    r = local_file_bury(txn, bp, *freed);
  if (r == 0)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  local_record_free(&rec);
  if (r < 0)
    *freed = 0;
  return r;
}

/* Up to TRIM_BATCH object keys that have a clone for SNAPID. */
static int next_batch(struct objstore_backend_pool *bp, uint64_t snapid,
                      char keys[][KEY_MAX + 1], size_t *lens, size_t *n)
{
  MDB_txn *txn;
  MDB_cursor *cur;
  unsigned char prefix[8];
  local_be64(snapid, prefix);
  *n = 0;
  int r = kvenv_begin(bp->kv, false, &txn);
  if (r < 0)
    return r;
  int rc = mdb_cursor_open(txn, bp->kv->dbi[LDB_SNAPMAP], &cur);
  if (rc) {
    mdb_txn_abort(txn);
    return kvenv_error(rc, "reading the snap map");
  }
  MDB_val k = {8, prefix}, v;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
       rc == 0 && *n < TRIM_BATCH; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size < 8 || memcmp(k.mv_data, prefix, 8) != 0 ||
        k.mv_size - 8 > KEY_MAX)
      break;
    lens[*n] = k.mv_size - 8;
    memcpy(keys[*n], (char *)k.mv_data + 8, lens[*n]);
    (*n)++;
  }
  mdb_cursor_close(cur);
  mdb_txn_abort(txn);
  return 0;
}

int local_snap_remove(struct objstore_backend_pool *bp, uint64_t snapid)
{
  MDB_txn *txn;
  int r = kvenv_begin(bp->kv, true, &txn);
  if (r < 0)
    return r;
  r = local_snap_state(txn, bp, snapid);
  if (r == 0) {
    unsigned char k[8];
    MDB_val v;
    local_be64(snapid, k);
    if (kv_get(txn, bp->kv->dbi[LDB_SNAPS], k, 8, &v) < 0)
      r = lbd_error(ENOENT, "snap id %" PRIu64 " was removed already", snapid);
  }
  if (r >= 0)
    r = set_state(txn, bp, snapid, SNAP_REMOVING);
  if (r == 0)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  if (r < 0)
    return r;

  static _Thread_local char keys[TRIM_BATCH][KEY_MAX + 1];
  size_t lens[TRIM_BATCH], n;
  do {
    if ((r = next_batch(bp, snapid, keys, lens, &n)) < 0)
      return r;
    for (size_t i = 0; i < n; i++) {
      uint64_t freed;
      int lfd = local_obj_lock(bp, keys[i], lens[i], true);
      if (lfd < 0)
        return lfd;
      r = trim_object(bp, snapid, keys[i], lens[i], &freed);
      local_obj_unlock(bp, lfd, keys[i], lens[i], true);
      if (r < 0)
        return lbd_error_prefix(r, "removing snap %" PRIu64, snapid);
      local_file_buried(bp, freed != 0);
    }
  } while (n);

  if ((r = kvenv_begin(bp->kv, true, &txn)) < 0)
    return r;
  unsigned char k[8];
  local_be64(snapid, k);
  r = kv_del(txn, bp->kv->dbi[LDB_SNAPS], k, 8);
  if (r == 0 || r == -ENOENT)
    r = kvenv_commit(txn);
  else
    mdb_txn_abort(txn);
  /* The freed clones' space is back when this returns. */
  return r < 0 ? r : local_file_reap(bp);
}
