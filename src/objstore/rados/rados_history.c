/* The rados backend: objects created with their whole snapshot history
 * (objstore_create_history), emulated, and the guard every other IO on the
 * object honours meanwhile.
 *
 * RADOS applies one snap context per op, and makes a clone only when a
 * write carries a snap context newer than the object's: so a history is
 * written state by state, oldest first, each state's write carrying the
 * snaps of the states before it (which clones the previous state for
 * them).  Meanwhile the object carries xattr "lbd.building" = the
 * builder's token:
 *  - the first op creates the object exclusively with the marker (EEXIST if
 *    the object exists: another writer came first); every later op of the
 *    build asserts the marker is still its own; the last one writes the
 *    head and removes the marker in the same op;
 *  - every other write op and every head read on this backend carries
 *    cmpxattr(lbd.building == "") (a missing xattr compares equal), and
 *    reads at a snap check the head before and after: who meets a marker
 *    waits until it goes, so a racing client write lands on the finished
 *    history, and no reader sees half of one;
 *  - the builder keeps a liveness watch on the object while it writes (see
 *    rados_holders.c).  If it dies, waiters give up with EIO ("run the copy
 *    again"), and the next create_history of the object (migration execute
 *    or flatten run again) takes the build over: it writes the sequence
 *    again from the start.  That converges: writes whose snap context is
 *    not newer than the object's make no clone (the OSD uses the object's
 *    newer one), so the clones already made stay and the missing ones are
 *    made.
 * Limits: an object that has only snapshot clones left (its head removed)
 * cannot be told from a missing one through librados' C API, so it is not
 * refused with EEXIST; a history with a gap (the object missing at some
 * snaps between others) recreates the object, and a client write racing
 * exactly there fails the build with EIO. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objstore/rados/rados.h"
#include "util/error.h"
#include "util/random.h"

#define WAIT_LIMIT_MS 60000
#define TAKEOVER_GRACE_MS 1000

static void sleep_ms(unsigned ms)
{
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The marker on OID's head, malloc'd (NULL: none or no object). */
static int marker_get(rados_ioctx_t io, const char *oid, char **val)
{
  char buf[256];
  *val = NULL;
  int r = rados_getxattr(io, oid, RADOS_BUILD_XATTR, buf, sizeof buf - 1);
  if (r == -ENOENT || r == -ENODATA)
    return 0;
  if (r < 0)
    return r;
  buf[r] = '\0';
  *val = strdup(buf);
  return *val ? 0 : -ENOMEM;
}

/* Is the builder named by TOKEN ("client\x1fpid\x1fnonce") alive? */
static bool builder_alive(struct objstore_backend_pool *bp, const char *oid,
                          const char *token)
{
  char *reply = NULL;
  size_t rlen = 0;
  int r = rados_notify2(bp->wio, oid, "", 0, 3000, &reply, &rlen);
  if (r < 0 && r != -ETIMEDOUT) {
    if (reply)
      rados_buffer_free(reply);
    return r != -ENOENT; /* in doubt, alive */
  }
  struct notify_ack_t *acks = NULL;
  struct notify_timeout_t *tos = NULL;
  size_t na = 0, nt = 0;
  if (reply && rados_decode_notify_response(reply, rlen, &acks, &na, &tos,
                                            &nt) < 0) {
    rados_buffer_free(reply);
    return true;
  }
  if (reply)
    rados_buffer_free(reply);
  /* token = client SEP pid SEP nonce; the liveness payload is
   * "L" SEP client SEP pid. */
  const char *end = strrchr(token, '\x1f');
  size_t idlen = end ? (size_t)(end - token) : strlen(token);
  bool alive = false;
  for (size_t i = 0; i < na && !alive; i++)
    alive = acks[i].payload && acks[i].payload_len == idlen + 2 &&
            acks[i].payload[0] == 'L' &&
            memcmp(acks[i].payload + 2, token, idlen) == 0;
  rados_free_notify_response(acks, na, tos);
  return alive;
}

int rados_history_wait(struct objstore_backend_pool *bp, rados_ioctx_t io,
                       const char *oid, unsigned *waited_ms)
{
  char *token;
  int r = marker_get(io, oid, &token);
  if (r < 0)
    return rados_err(r, "object %s", oid);
  if (!token)
    return 0; /* gone meanwhile: go again */
  unsigned step = *waited_ms < 100 ? 5 : 50;
  if ((*waited_ms / 1000) != ((*waited_ms + step) / 1000) &&
      !builder_alive(bp, oid, token)) {
    free(token);
    return lbd_error(EIO, "object %s: its history was being written by a "
                     "client that died: run the copy (migration execute, "
                     "flatten) again", oid);
  }
  free(token);
  if (*waited_ms >= WAIT_LIMIT_MS)
    return lbd_error(EIO, "object %s: its history is still being written "
                     "after %u s", oid, WAIT_LIMIT_MS / 1000);
  sleep_ms(step);
  *waited_ms += step;
  return 1;
}

/* Snap context of everything before state I: seq and snaps, newest first. */
static void snapc_before(const struct objstore_history_state *states, size_t i,
                         rados_snap_t *snaps, size_t *n, uint64_t *seq)
{
  *n = 0;
  *seq = 0;
  for (size_t k = i; k-- > 0;)
    for (size_t j = states[k].nsnaps; j-- > 0;)
      snaps[(*n)++] = states[k].snaps[j];
  if (*n)
    *seq = snaps[0];
}

static void put_state(rados_wop_t w, const struct objstore_history_state *st)
{
  rados_wop_truncate(w, 0);
  for (size_t j = 0; j < st->ndata; j++)
    rados_wop_write(w, (const char *)st->buf + st->data[j].off,
                         st->data[j].len, st->data[j].off);
  rados_wop_truncate(w, st->size);
}

/* Whether ST reads data at OFF (else a hole: zeroes). */
static bool in_data(const struct objstore_history_state *st, uint64_t off)
{
  for (size_t i = 0; i < st->ndata; i++)
    if (off >= st->data[i].off && off < st->data[i].off + st->data[i].len)
      return true;
  return false;
}

/* ST's bytes of [OFF, OFF+N) that are data, written; the rest zeroed. */
static void put_range(rados_wop_t w,
                      const struct objstore_history_state *st, uint64_t off,
                      uint64_t n)
{
  rados_wop_zero(w, off, n);
  for (size_t j = 0; j < st->ndata; j++) {
    uint64_t a = st->data[j].off, b = a + st->data[j].len;
    if (a < off)
      a = off;
    if (b > off + n)
      b = off + n;
    if (a < b)
      rados_wop_write(w, (const char *)st->buf + a, b - a, a);
  }
}

#define SAME_BLOCK 4096

/* ST over PREV, the object's state now: only the 4 KiB blocks that read
 * differently, so that RADOS' clone overlaps (list-snaps, diffs) keep what
 * the two states share, as the local backend's histories do. */
static void put_state_over(rados_wop_t w,
                           const struct objstore_history_state *prev,
                           const struct objstore_history_state *st)
{
  static const char zero[SAME_BLOCK];
  uint64_t common = prev->size < st->size ? prev->size : st->size;
  if (prev->size > st->size)
    rados_wop_truncate(w, st->size);
  for (uint64_t off = 0; off < common; off += SAME_BLOCK) {
    uint64_t n = common - off < SAME_BLOCK ? common - off : SAME_BLOCK;
    const char *pa = in_data(prev, off) ? (const char *)prev->buf + off : zero;
    const char *pb = in_data(st, off) ? (const char *)st->buf + off : zero;
    if (memcmp(pa, pb, n) != 0)
      put_range(w, st, off, n);
  }
  if (st->size > common) {
    for (size_t j = 0; j < st->ndata; j++) {
      uint64_t a = st->data[j].off, b = a + st->data[j].len;
      if (a < common)
        a = common;
      if (a < b)
        rados_wop_write(w, (const char *)st->buf + a, b - a, a);
    }
    rados_wop_truncate(w, st->size);
  }
}

int rados_be_create_history(struct objstore_backend_pool *bp, const char *oid,
                            const struct objstore_history_state *states,
                            size_t n, uint64_t seq)
{
  char token[128];
  snprintf(token, sizeof token, "%s\x1f%ld\x1f%016" PRIx64, bp->client,
           (long)getpid(), lbd_random_u64());
  size_t total = 0;
  for (size_t i = 0; i < n; i++)
    total += states[i].nsnaps;
  rados_snap_t *snaps = calloc(total + 1, sizeof *snaps);
  if (!snaps)
    return lbd_error(ENOMEM, "out of memory");
  int r;
  rados_ioctx_t io = rados_io_get(bp, &r);
  if (!io) {
    free(snaps);
    return r;
  }
  /* A head alone (an object no snapshot holds apart from the head: every
   * object of an image without snapshots) is one RADOS op, all or nothing
   * by itself: exclusive create and the data, no marker, no liveness
   * watch (three round trips fewer per object copied). */
  if (n == 1 && states[0].exists) {
    rados_ioctx_selfmanaged_snap_set_write_ctx(io, seq, snaps, 0);
    rados_wop_t w1 = rados_wop_create();
    rados_wop_create_object(w1, 1);
    put_state(w1, &states[0]);
    r = rados_wop_operate(w1, io, oid);
    rados_wop_release(w1);
    if (r != -EEXIST) {
      rados_io_put(bp, io);
      free(snaps);
      return r < 0 ? rados_err(r, "writing the history of object %s", oid)
                   : 0;
    }
    /* It exists: below, as any history (a dead builder's is taken over) */
  }
  /* First existing state: the op that creates the object with the marker
   * (or takes over the build of a dead builder). */
  size_t first = 0;
  while (first < n && !states[first].exists)
    first++;
  bool takeover = false;
  size_t ns;
  uint64_t sq;
  snapc_before(states, first, snaps, &ns, &sq);
  rados_ioctx_selfmanaged_snap_set_write_ctx(io, sq, snaps, (int)ns);
  rados_wop_t w = rados_wop_create();
  rados_wop_create_object(w, 1);
  rados_wop_setxattr(w, RADOS_BUILD_XATTR, token, strlen(token));
  r = rados_wop_operate(w, io, oid);
  rados_wop_release(w);
  if (r == -EEXIST) {
    char *old = NULL;
    int e = marker_get(io, oid, &old);
    /* A builder watches the object only once its first op has made it: one
     * that has just begun looks dead for a moment.  So a builder is taken
     * over only if it still looks dead, with the same marker, a while
     * later (else a client copy-up racing execute's broke the other's
     * build, which then failed with EIO, or lost the client's write). */
    bool dead = false;
    if (e == 0 && old && !builder_alive(bp, oid, old)) {
      sleep_ms(TAKEOVER_GRACE_MS);
      char *again = NULL;
      dead = marker_get(io, oid, &again) == 0 && again &&
             strcmp(again, old) == 0 && !builder_alive(bp, oid, old);
      free(again);
    }
    if (dead) {
      w = rados_wop_create();
      rados_wop_cmpxattr(w, RADOS_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ,
                              old, strlen(old));
      rados_wop_setxattr(w, RADOS_BUILD_XATTR, token, strlen(token));
      r = rados_wop_operate(w, io, oid);
      rados_wop_release(w);
      takeover = r == 0;
      if (r == -ECANCELED)
        r = -EEXIST;
    }
    free(old);
  }
  if (r < 0) {
    rados_io_put(bp, io);
    free(snaps);
    return r == -EEXIST ? lbd_error(EEXIST, "object %s exists", oid)
                        : rados_err(r, "creating object %s", oid);
  }
  /* Alive while writing: others wait for us, not give up. */
  int lr = rados_liveness_ref(bp, oid);
  bool present = true;
  for (size_t i = first; r == 0 && i < n; i++) {
    const struct objstore_history_state *st = &states[i];
    bool last = i + 1 == n;
    snapc_before(states, i, snaps, &ns, &sq);
    if (last && seq > sq)
      sq = seq;
    rados_ioctx_selfmanaged_snap_set_write_ctx(io, sq, snaps, (int)ns);
    w = rados_wop_create();
    if (!st->exists) { /* a gap: the object was missing at these snaps */
      rados_wop_cmpxattr(w, RADOS_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ,
                              token, strlen(token));
      rados_wop_remove(w);
      present = false;
    } else {
      if (present) {
        rados_wop_cmpxattr(w, RADOS_BUILD_XATTR, LIBRADOS_CMPXATTR_OP_EQ,
                                token, strlen(token));
      } else {
        rados_wop_create_object(w, 1);
        rados_wop_setxattr(w, RADOS_BUILD_XATTR, token, strlen(token));
        present = true;
      }
      if (i > first && states[i - 1].exists) /* we wrote it */
        put_state_over(w, &states[i - 1], st);
      else
        put_state(w, st);
      if (last)
        rados_wop_rmxattr(w, RADOS_BUILD_XATTR);
    }
    r = rados_wop_operate(w, io, oid);
    rados_wop_release(w);
    if (r > 0)
      r = 0;
    if (r == -ENOENT && !st->exists && takeover)
      r = 0; /* removed already by the build we took over */
  }
  if (lr == 0)
    rados_liveness_unref(bp, oid);
  rados_io_put(bp, io);
  free(snaps);
  if (r == -ECANCELED || r == -EEXIST)
    return lbd_error(EIO, "object %s: the writing of its history was taken "
                     "over or interrupted by another client", oid);
  return r < 0 ? rados_err(r, "writing the history of object %s", oid) : 0;
}
