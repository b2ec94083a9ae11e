/* The "nbd" stream: an export of an NBD server (qemu-nbd, nbdkit, lbd's
 * own) through libnbd, {"type": "nbd", "uri": "nbd://HOST[:PORT]/EXPORT"}
 * or "nbd+unix:///EXPORT?socket=PATH".  Whatever qemu-nbd or nbdkit can
 * serve (VMDK, VHDX, VDI...) imports as raw through it.
 *
 * One connection, several requests in flight: every read or block-status
 * query is an aio command on the one handle, and the threads waiting for
 * theirs take turns at polling the socket (struct nbd_stream's `polling`),
 * with libnbd's handle lock held only inside the short nbd_aio_* calls, so
 * a thread can queue a command while another one waits for replies.  An
 * eventfd wakes the poller when a new command may need the socket to
 * become writable.
 *
 * Holes: when the server offers "base:allocation", the stream's extents op
 * answers from block status (holes and zero extents left out), so an
 * import keeps them holes without reading them. */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "source/stream_internal.h"
#include "util/error.h"
#include "util/extents.h"

#define NBD_DEFAULT_MAX_REQ (32u << 20) /* NBD's advice for a request */
#define NBD_MAX_STATUS (1u << 30)       /* one block-status query */
#define NBD_POLL_MS 1000

struct nbd_stream {
  struct stream s; /* first */
  struct nbd_handle *h;
  bool has_alloc; /* base:allocation negotiated */
  uint32_t max_req;
  uint32_t min_block; /* the server's minimum block size (1: any) */
  int wake; /* eventfd */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool polling; /* a thread is in nbd_turn's poll */
};

/* One aio command that a thread waits for. */
struct nbd_op {
  atomic_int done;
  atomic_int err;
};

static int op_done(void *arg, int *error)
{
  struct nbd_op *op = arg;
  atomic_store(&op->err, *error);
  atomic_store(&op->done, 1);
  return 1; /* retire the command */
}

/* The libnbd error of the last call, as an lbd error. */
static int nbd_fail(struct nbd_stream *ns, const char *what)
{
  int e = nbd_get_errno();
  const char *msg = nbd_get_error();
  if (e <= 0)
    e = EIO;
  return lbd_error(e, "%s: %s: %s", ns->s.name, what,
                   msg ? msg : strerror(e));
}

/* One round of polling the socket: wait for what libnbd waits for (or a
 * wake-up), then let it read or write.  0, or a negative errno when the
 * connection is gone. */
static int nbd_turn(struct nbd_stream *ns)
{
  int fd = nbd_aio_get_fd(ns->h);
  if (fd < 0)
    return nbd_fail(ns, "the connection is gone");
  unsigned dir = nbd_aio_get_direction(ns->h);
  struct pollfd p[2] = {{.fd = fd}, {.fd = ns->wake, .events = POLLIN}};
  if (dir & LIBNBD_AIO_DIRECTION_READ)
    p[0].events |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE)
    p[0].events |= POLLOUT;
  int n = poll(p, 2, NBD_POLL_MS);
  if (n < 0)
    return errno == EINTR ? 0 : lbd_error(errno, "%s: poll: %s", ns->s.name,
                                          strerror(errno));
  if (p[1].revents & POLLIN) {
    uint64_t v;
    if (read(ns->wake, &v, sizeof v) < 0) {
      /* nothing to do: another poller drained it */
    }
  }
  int r = 0;
  if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
    r = nbd_aio_notify_read(ns->h);
  else if (p[0].revents & POLLOUT)
    r = nbd_aio_notify_write(ns->h);
  return r < 0 ? nbd_fail(ns, "the connection failed") : 0;
}

/* Wait until OP is done, polling when no other thread does. */
static int nbd_wait(struct nbd_stream *ns, struct nbd_op *op)
{
  int r = 0;
  pthread_mutex_lock(&ns->mu);
  while (!atomic_load(&op->done)) {
    if (ns->polling) {
      pthread_cond_wait(&ns->cv, &ns->mu);
      continue;
    }
    ns->polling = true;
    pthread_mutex_unlock(&ns->mu);
    r = nbd_turn(ns);
    pthread_mutex_lock(&ns->mu);
    ns->polling = false;
    pthread_cond_broadcast(&ns->cv);
    if (r < 0 && !atomic_load(&op->done))
      break;
  }
  pthread_mutex_unlock(&ns->mu);
  if (atomic_load(&op->done)) {
    int e = atomic_load(&op->err);
    return e ? -e : 0;
  }
  return r;
}

static void nbd_kick(struct nbd_stream *ns)
{
  uint64_t one = 1;
  if (write(ns->wake, &one, sizeof one) < 0) {
    /* the counter is full: the poller wakes anyway */
  }
}

static ssize_t nbd_read_aligned(struct nbd_stream *ns, uint64_t off,
                                size_t len, void *buf);

static ssize_t nbd_read(struct stream *s, uint64_t off, size_t len, void *buf)
{
  struct nbd_stream *ns = (struct nbd_stream *)s;
  if (off >= s->size)
    return 0;
  if (len > s->size - off)
    len = (size_t)(s->size - off);
  if (len == 0)
    return 0;
  uint64_t a = ns->min_block;
  if (a > 1 && (off % a || (len % a && off + len < s->size))) {
    /* a server that takes only whole blocks: read them, copy the part */
    uint64_t first = off / a * a;
    uint64_t last = (off + len + a - 1) / a * a;
    if (last > s->size)
      last = s->size;
    uint8_t *bounce = malloc((size_t)(last - first));
    if (!bounce)
      return lbd_error(ENOMEM, "%s: out of memory", s->name);
    ssize_t n = nbd_read_aligned(ns, first, (size_t)(last - first), bounce);
    if (n >= 0)
      memcpy(buf, bounce + (off - first), len);
    free(bounce);
    return n < 0 ? n : (ssize_t)len;
  }
  return nbd_read_aligned(ns, off, len, buf);
}

/* [OFF, OFF+LEN), inside the size and aligned as the server wants. */
static ssize_t nbd_read_aligned(struct nbd_stream *ns, uint64_t off,
                                size_t len, void *buf)
{
  struct stream *s = &ns->s;
  /* every chunk in flight at once, then wait for them all */
  size_t nops = (len + ns->max_req - 1) / ns->max_req;
  struct nbd_op one, *ops = nops == 1 ? &one : calloc(nops, sizeof *ops);
  if (!ops)
    return lbd_error(ENOMEM, "%s: out of memory", s->name);
  int r = 0;
  size_t issued = 0;
  for (; issued < nops; issued++) {
    uint64_t o = (uint64_t)issued * ns->max_req;
    size_t n = len - o < ns->max_req ? (size_t)(len - o) : ns->max_req;
    atomic_init(&ops[issued].done, 0);
    atomic_init(&ops[issued].err, 0);
    nbd_completion_callback cb = {.callback = op_done,
                                  .user_data = &ops[issued]};
    if (nbd_aio_pread(ns->h, (char *)buf + o, n, off + o, cb, 0) < 0) {
      r = nbd_fail(ns, "read");
      break;
    }
    nbd_kick(ns);
  }
  for (size_t i = 0; i < issued; i++) {
    int e = nbd_wait(ns, &ops[i]);
    if (e < 0 && r == 0)
      r = lbd_error(e, "%s: read at %" PRIu64 ": %s", s->name,
                    off + (uint64_t)i * ns->max_req, strerror(-e));
  }
  if (ops != &one)
    free(ops);
  return r < 0 ? r : (ssize_t)len;
}

struct status_arg {
  struct extent_set *out;
  uint64_t start, end; /* the range asked */
  uint64_t next;       /* where the extents heard so far end */
  int err;
};

static int status_cb(void *arg, const char *ctx, uint64_t off,
                     uint32_t *entries, size_t n, int *error)
{
  struct status_arg *a = arg;
  (void)error;
  if (strcmp(ctx, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  for (size_t i = 0; i + 1 < n && off < a->end; i += 2) {
    uint64_t len = entries[i];
    if (len > a->end - off)
      len = a->end - off;
    if (!(entries[i + 1] & LIBNBD_STATE_ZERO) && len && a->err == 0) {
      int r = extent_set_add(a->out, off, len);
      if (r < 0)
        a->err = r;
    }
    off += len;
  }
  if (off > a->next)
    a->next = off;
  return 0;
}

static int nbd_extents(struct stream *s, uint64_t off, uint64_t len,
                       struct extent_set *out)
{
  struct nbd_stream *ns = (struct nbd_stream *)s;
  if (off >= s->size)
    return 0;
  if (len > s->size - off)
    len = s->size - off;
  if (!ns->has_alloc)
    return extent_set_add(out, off, len);
  uint64_t end = off + len;
  while (off < end) {
    uint64_t n = end - off < NBD_MAX_STATUS ? end - off : NBD_MAX_STATUS;
    struct status_arg a = {out, off, off + n, off, 0};
    struct nbd_op op;
    atomic_init(&op.done, 0);
    atomic_init(&op.err, 0);
    nbd_extent_callback ecb = {.callback = status_cb, .user_data = &a};
    nbd_completion_callback ccb = {.callback = op_done, .user_data = &op};
    if (nbd_aio_block_status(ns->h, n, off, ecb, ccb, 0) < 0)
      return nbd_fail(ns, "block status");
    nbd_kick(ns);
    int r = nbd_wait(ns, &op);
    if (r < 0)
      return lbd_error(r, "%s: block status at %" PRIu64 ": %s", s->name,
                       off, strerror(-r));
    if (a.err < 0)
      return lbd_error(a.err, "%s: out of memory", s->name);
    if (a.next <= off) /* no progress: count the rest as data */
      return extent_set_add(out, off, end - off);
    off = a.next;
  }
  return 0;
}

static void nbd_stream_close(struct stream *s)
{
  struct nbd_stream *ns = (struct nbd_stream *)s;
  if (ns->h) {
    nbd_shutdown(ns->h, 0);
    nbd_close(ns->h);
  }
  if (ns->wake >= 0) {
    close(ns->wake);
    pthread_cond_destroy(&ns->cv);
    pthread_mutex_destroy(&ns->mu);
  }
  stream_fini(s);
  free(ns);
}

static const struct stream_ops nbd_ops = {
  .read = nbd_read,
  .close = nbd_stream_close,
  .open_relative = NULL,
  .extents = nbd_extents,
};

/* Only URIs that name an NBD server (not e.g. a local file for TLS keys). */
static bool nbd_scheme_ok(const char *uri)
{
  static const char *const schemes[] = {"nbd://", "nbds://", "nbd+unix://",
                                        "nbds+unix://"};
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
    if (strncmp(uri, schemes[i], strlen(schemes[i])) == 0)
      return true;
  return false;
}

int stream_nbd_open(const json_t *spec, lbd_cluster_t *cluster,
                    struct stream **out)
{
  *out = NULL;
  const char *uri;
  int r = stream_spec_string(spec, "nbd", "uri", false, &uri);
  if (r < 0)
    return r;
  if (!nbd_scheme_ok(uri))
    return lbd_error(EINVAL, "nbd stream: field \"uri\": \"%.256s\" is not "
                     "an NBD URI (nbd://HOST[:PORT]/EXPORT or "
                     "nbd+unix:///EXPORT?socket=PATH)", uri);
  struct nbd_stream *ns = calloc(1, sizeof *ns);
  if (!ns)
    return lbd_error(ENOMEM, "nbd stream: out of memory");
  ns->wake = -1;
  if ((r = stream_init(&ns->s, &nbd_ops, uri, cluster)) < 0) {
    free(ns);
    return r;
  }
  ns->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (ns->wake < 0) {
    r = lbd_error(errno, "nbd stream: eventfd: %s", strerror(errno));
    goto fail;
  }
  pthread_mutex_init(&ns->mu, NULL);
  pthread_cond_init(&ns->cv, NULL);
  ns->h = nbd_create();
  if (!ns->h) {
    r = lbd_error(ENOMEM, "nbd stream: %s", nbd_get_error());
    goto fail;
  }
  nbd_set_uri_allow_local_file(ns->h, false);
  nbd_add_meta_context(ns->h, LIBNBD_CONTEXT_BASE_ALLOCATION);
  if (nbd_connect_uri(ns->h, uri) < 0) {
    /* libnbd says which: "server has no export named 'X'" (ENOENT),
     * "Connection refused"... */
    r = nbd_fail(ns, "cannot open the export");
    goto fail;
  }
  int64_t size = nbd_get_size(ns->h);
  if (size < 0) {
    r = nbd_fail(ns, "size");
    goto fail;
  }
  ns->s.size = (uint64_t)size;
  ns->has_alloc =
      nbd_can_meta_context(ns->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  int64_t max = nbd_get_block_size(ns->h, LIBNBD_SIZE_MAXIMUM);
  ns->max_req = max > 0 && max < NBD_DEFAULT_MAX_REQ ? (uint32_t)max
                                                     : NBD_DEFAULT_MAX_REQ;
  int64_t min = nbd_get_block_size(ns->h, LIBNBD_SIZE_MINIMUM);
  ns->min_block = min > 1 && min <= 65536 && !(min & (min - 1))
                      ? (uint32_t)min
                      : 1;
  ns->max_req = ns->max_req / ns->min_block * ns->min_block;
  *out = &ns->s;
  return 0;
fail:
  nbd_stream_close(&ns->s);
  return r;
}
