/* The NBD server: sockets, threads and the image.
 *
 * The main thread accepts connections (Unix or TCP socket) and waits for
 * SIGTERM/SIGINT.  Each connection has a thread that runs the handshake
 * (nbd_parse.c), then reads requests and queues them; a pool of worker
 * threads, shared by the connections, serves them on the image (liblbd
 * handles are thread-safe) and sends the replies, one at a time per
 * connection (its send lock).  Replies may so leave out of order, as the
 * protocol allows.  A FLUSH is lbd_flush(), which makes durable every
 * write that returned before it, so every write already acknowledged;
 * FUA is a flush after the write.
 *
 * At most --shared connections are served at once; one more waits for a
 * free slot up to SLOT_WAIT seconds, then is refused (every option gets
 * NBD_REP_ERR_POLICY with a message).  On a signal the server stops
 * accepting, stops reading requests (shutdown SHUT_RD), lets the
 * requests in flight finish and be answered, then closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nbd/nbd.h"
#include "util/error.h"

#define SLOT_WAIT 5                   /* seconds a connection waits */
#define DRAIN_WAIT 30                 /* seconds shutdown waits for clients */
#define MAX_INFLIGHT 64               /* requests queued per connection */
#define MAX_INFLIGHT_BYTES (64u << 20) /* and their payloads */
#define MAX_REQUEST (32u << 20)       /* largest read or write */
#define HOLE_BLOCK 4096u              /* zero blocks sent as holes */
#define MAX_DESCRIPTORS 2048          /* block status descriptors */
#define IBUF_SIZE (128u << 10)
#define ZERO_BUF (1u << 20)

struct server;

struct conn {
  struct server *srv;
  int fd;
  unsigned id;
  struct nbd_export exp;
  struct nbd_session sess;
  pthread_mutex_t send_lock; /* one reply at a time */
  pthread_mutex_t lock;      /* inflight, broken */
  pthread_cond_t cond;
  unsigned inflight;
  size_t inflight_bytes;
  bool broken; /* a reply could not be sent: stop */
  uint8_t *ibuf;
  size_t ipos, ilen;
  struct conn *prev, *next;
};

struct job {
  struct job *next;
  struct conn *conn;
  struct nbd_request req;
  uint8_t *data; /* the write payload */
};

struct server {
  const struct nbd_server_config *cfg;
  struct nbd_export exp;
  int listen_fd;
  pthread_mutex_t lock;
  pthread_cond_t cond;      /* slots, connection threads ending */
  pthread_cond_t work_cond; /* jobs queued, workers ending */
  unsigned active;          /* connections holding a slot */
  unsigned threads;         /* connection threads alive */
  unsigned next_id;
  bool stopping;
  struct conn *conns;
  struct job *head, *tail;
  bool workers_stop;
  pthread_t *workers;
  unsigned nworkers;
};

static uint8_t zero_buf[ZERO_BUF];
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
  char c = (char)sig;
  int saved = errno;
  if (write(sig_pipe[1], &c, 1) < 0) {
    /* the pipe is full: a stop is pending already */
  }
  errno = saved;
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "lbd: nbd serve: %s\n", buf);
}

/* ---- connection IO ------------------------------------------------------ */

static int conn_read(void *ctx, void *out, size_t len)
{
  struct conn *c = ctx;
  uint8_t *p = out;
  while (len) {
    if (c->ipos < c->ilen) {
      size_t n = c->ilen - c->ipos < len ? c->ilen - c->ipos : len;
      memcpy(p, c->ibuf + c->ipos, n);
      c->ipos += n;
      p += n;
      len -= n;
      continue;
    }
    bool direct = len >= IBUF_SIZE;
    ssize_t n = recv(c->fd, direct ? p : c->ibuf, direct ? len : IBUF_SIZE,
                     0);
    if (n == 0)
      return -ECONNRESET;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (direct) {
      p += n;
      len -= (size_t)n;
    } else {
      c->ipos = 0;
      c->ilen = (size_t)n;
    }
  }
  return 0;
}

/* Send every byte of IOV (N entries; changed). */
static int send_iov(int fd, struct iovec *iov, size_t n)
{
  while (n) {
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = n > IOV_MAX ? IOV_MAX : n;
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -errno;
    size_t done = (size_t)w;
    while (n && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      n--;
    }
    if (n) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return 0;
}

static int conn_write(void *ctx, const void *buf, size_t len)
{
  struct conn *c = ctx;
  struct iovec iov = {(void *)buf, len};
  return send_iov(c->fd, &iov, 1);
}

/* Send a reply (under the connection's send lock); a failure breaks the
 * connection: its reader stops. */
static void conn_send(struct conn *c, struct iovec *iov, size_t n)
{
  pthread_mutex_lock(&c->send_lock);
  bool broken;
  pthread_mutex_lock(&c->lock);
  broken = c->broken;
  pthread_mutex_unlock(&c->lock);
  int r = broken ? -EPIPE : send_iov(c->fd, iov, n);
  pthread_mutex_unlock(&c->send_lock);
  if (r < 0 && !broken) {
    pthread_mutex_lock(&c->lock);
    c->broken = true;
    pthread_mutex_unlock(&c->lock);
    shutdown(c->fd, SHUT_RDWR);
  }
}

/* An error reply to R (ERROR: an NBD error value). */
static void reply_error(struct conn *c, const struct nbd_request *r,
                        uint32_t error, const char *msg)
{
  uint8_t buf[NBD_CHUNK_HEADER_SIZE + 6 + 512];
  struct iovec iov = {buf, 0};
  if (c->sess.structured) {
    iov.iov_len = nbd_put_error_chunk(buf, sizeof buf, r->cookie, error, msg);
  } else {
    nbd_put_simple_reply(buf, r->cookie, error);
    iov.iov_len = NBD_SIMPLE_REPLY_SIZE;
  }
  conn_send(c, &iov, 1);
}

static void reply_ok(struct conn *c, const struct nbd_request *r)
{
  uint8_t buf[NBD_CHUNK_HEADER_SIZE];
  struct iovec iov = {buf, 0};
  if (c->sess.structured) {
    nbd_put_chunk_header(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE,
                         r->cookie, 0);
    iov.iov_len = NBD_CHUNK_HEADER_SIZE;
  } else {
    nbd_put_simple_reply(buf, r->cookie, 0);
    iov.iov_len = NBD_SIMPLE_REPLY_SIZE;
  }
  conn_send(c, &iov, 1);
}

/* ---- serving requests --------------------------------------------------- */

static void put_be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void serve_read(struct conn *c, const struct nbd_request *r)
{
  lbd_image_t *img = c->srv->cfg->image;
  uint8_t *buf = r->len ? malloc(r->len) : NULL;
  if (r->len && !buf) {
    reply_error(c, r, NBD_ENOMEM, "out of memory");
    return;
  }
  ssize_t n = r->len ? lbd_read(img, r->offset, r->len, buf) : 0;
  if (n < 0) {
    reply_error(c, r, nbd_error_value((int)n), lbd_last_error());
    free(buf);
    return;
  }
  if ((size_t)n < r->len)
    memset(buf + n, 0, r->len - (size_t)n);

  if (!c->sess.structured) {
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    nbd_put_simple_reply(hdr, r->cookie, 0);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {buf, r->len}};
    conn_send(c, iov, r->len ? 2 : 1);
    free(buf);
    return;
  }
  if (r->len == 0) {
    reply_ok(c, r);
    return;
  }
  /* content chunks: data, or holes for aligned blocks of zeroes */
  uint32_t block = (r->flags & NBD_CMD_FLAG_DF) ? 0 : HOLE_BLOCK;
  size_t max = r->len / HOLE_BLOCK + 2;
  uint8_t *hdrs = malloc(max * 32);
  struct iovec *iov = malloc(max * 2 * sizeof *iov);
  if (!hdrs || !iov) {
    free(hdrs);
    free(iov);
    free(buf);
    reply_error(c, r, NBD_ENOMEM, "out of memory");
    return;
  }
  size_t niov = 0, nchunk = 0;
  uint8_t *last = NULL;
  bool hole;
  uint32_t pos = 0, len;
  while ((len = nbd_read_chunk(buf, r->offset, r->len, pos, block, &hole))) {
    uint8_t *h = hdrs + 32 * nchunk++;
    if (hole) {
      nbd_put_chunk_header(h, 0, NBD_REPLY_TYPE_OFFSET_HOLE, r->cookie, 12);
      put_be64(h + 20, r->offset + pos);
      put_be32(h + 28, len);
      iov[niov++] = (struct iovec){h, 32};
    } else {
      nbd_put_chunk_header(h, 0, NBD_REPLY_TYPE_OFFSET_DATA, r->cookie,
                           8 + len);
      put_be64(h + 20, r->offset + pos);
      iov[niov++] = (struct iovec){h, 28};
      iov[niov++] = (struct iovec){buf + pos, len};
    }
    last = h;
    pos += len;
  }
  /* the last content chunk ends the reply: the data is all read */
  last[5] |= NBD_REPLY_FLAG_DONE;
  conn_send(c, iov, niov);
  free(iov);
  free(hdrs);
  free(buf);
}

static int write_zeroes_allocated(lbd_image_t *img, uint64_t off,
                                  uint64_t len)
{
  while (len) {
    size_t n = len < ZERO_BUF ? (size_t)len : ZERO_BUF;
    ssize_t w = lbd_write(img, off, n, zero_buf);
    if (w < 0)
      return (int)w;
    off += n;
    len -= n;
  }
  return 0;
}

struct status_walk {
  struct nbd_status st;
};

static int status_cb(uint64_t off, uint64_t len, bool exists, void *arg)
{
  struct status_walk *w = arg;
  return nbd_status_add(&w->st, off, len,
                        exists ? 0 : NBD_STATE_HOLE | NBD_STATE_ZERO);
}

static void serve_block_status(struct conn *c, const struct nbd_request *r)
{
  size_t max = (r->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : MAX_DESCRIPTORS;
  uint8_t *buf = malloc(NBD_CHUNK_HEADER_SIZE + 4 + 8 * max);
  if (!buf) {
    reply_error(c, r, NBD_ENOMEM, "out of memory");
    return;
  }
  struct status_walk w;
  nbd_status_init(&w.st, r->offset, r->len, buf + NBD_CHUNK_HEADER_SIZE + 4,
                  max);
  int e = lbd_diff_iterate(c->srv->cfg->image, NULL, r->offset, r->len, true,
                           false, status_cb, &w);
  if (e < 0) {
    reply_error(c, r, nbd_error_value(e), lbd_last_error());
    free(buf);
    return;
  }
  size_t n = nbd_status_finish(&w.st);
  uint32_t plen = (uint32_t)(4 + 8 * n);
  nbd_put_chunk_header(buf, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS,
                       r->cookie, plen);
  put_be32(buf + NBD_CHUNK_HEADER_SIZE, NBD_META_ALLOC_ID);
  struct iovec iov = {buf, NBD_CHUNK_HEADER_SIZE + plen};
  conn_send(c, &iov, 1);
  free(buf);
}

static void serve(struct job *j)
{
  struct conn *c = j->conn;
  const struct nbd_request *r = &j->req;
  lbd_image_t *img = c->srv->cfg->image;
  bool fua = r->flags & NBD_CMD_FLAG_FUA;
  int e = 0;
  switch (r->type) {
  case NBD_CMD_READ:
    serve_read(c, r);
    return;
  case NBD_CMD_BLOCK_STATUS:
    serve_block_status(c, r);
    return;
  case NBD_CMD_WRITE:
    if (r->len) {
      ssize_t w = lbd_write(img, r->offset, r->len, j->data);
      e = w < 0 ? (int)w : 0;
    }
    break;
  case NBD_CMD_WRITE_ZEROES:
    if (r->len && (r->flags & NBD_CMD_FLAG_NO_HOLE))
      e = write_zeroes_allocated(img, r->offset, r->len);
    else if (r->len)
      e = lbd_write_zeroes(img, r->offset, r->len);
    break;
  case NBD_CMD_TRIM:
    if (r->len)
      e = lbd_discard(img, r->offset, r->len);
    break;
  case NBD_CMD_FLUSH:
    fua = true;
    break;
  }
  if (e == 0 && fua && !c->srv->cfg->read_only)
    e = lbd_flush(img);
  if (e < 0)
    reply_error(c, r, nbd_error_value(e), lbd_last_error());
  else
    reply_ok(c, r);
}

static void *worker_main(void *arg)
{
  struct server *srv = arg;
  for (;;) {
    pthread_mutex_lock(&srv->lock);
    while (!srv->head && !srv->workers_stop)
      pthread_cond_wait(&srv->work_cond, &srv->lock);
    struct job *j = srv->head;
    if (!j) {
      pthread_mutex_unlock(&srv->lock);
      return NULL;
    }
    srv->head = j->next;
    if (!srv->head)
      srv->tail = NULL;
    pthread_mutex_unlock(&srv->lock);

    serve(j);
    struct conn *c = j->conn;
    size_t bytes = nbd_request_has_payload(&j->req) ? j->req.len : 0;
    free(j->data);
    free(j);
    pthread_mutex_lock(&c->lock);
    c->inflight--;
    c->inflight_bytes -= bytes;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
  }
}

static void enqueue(struct server *srv, struct job *j)
{
  pthread_mutex_lock(&srv->lock);
  if (srv->tail)
    srv->tail->next = j;
  else
    srv->head = j;
  srv->tail = j;
  pthread_cond_signal(&srv->work_cond);
  pthread_mutex_unlock(&srv->lock);
}

/* ---- connections -------------------------------------------------------- */

/* Skip LEN bytes of input. */
static int conn_skip(struct conn *c, uint64_t len)
{
  uint8_t buf[4096];
  while (len) {
    size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
    int r = conn_read(c, buf, n);
    if (r < 0)
      return r;
    len -= n;
  }
  return 0;
}

/* Read and queue requests until the client leaves (or a signal stops the
 * reading); returns when every queued request is answered. */
static void transmission(struct conn *c)
{
  for (;;) {
    uint8_t hdr[NBD_REQUEST_SIZE];
    struct nbd_request r;
    int e = conn_read(c, hdr, sizeof hdr);
    if (e < 0)
      break; /* closed, or shut down */
    if (nbd_request_decode(hdr, &r) < 0) {
      logmsg("client %u: bad request magic; disconnecting", c->id);
      break;
    }
    if (r.type == NBD_CMD_DISC)
      break;
    const char *msg = NULL;
    uint32_t err = nbd_request_check(&r, &c->sess, &c->exp, &msg);
    if (err) {
      if (nbd_request_has_payload(&r) && conn_skip(c, r.len) < 0)
        break;
      reply_error(c, &r, err, msg);
      continue;
    }
    struct job *j = calloc(1, sizeof *j);
    if (j && nbd_request_has_payload(&r) && r.len &&
        !(j->data = malloc(r.len))) {
      free(j);
      j = NULL;
    }
    if (!j) {
      if (nbd_request_has_payload(&r) && conn_skip(c, r.len) < 0)
        break;
      reply_error(c, &r, NBD_ENOMEM, "out of memory");
      continue;
    }
    j->conn = c;
    j->req = r;
    if (j->data && conn_read(c, j->data, r.len) < 0) {
      free(j->data);
      free(j);
      break;
    }
    size_t bytes = j->data ? r.len : 0;
    pthread_mutex_lock(&c->lock);
    while (!c->broken && (c->inflight >= MAX_INFLIGHT ||
                          (c->inflight &&
                           c->inflight_bytes + bytes > MAX_INFLIGHT_BYTES)))
      pthread_cond_wait(&c->cond, &c->lock);
    c->inflight++;
    c->inflight_bytes += bytes;
    pthread_mutex_unlock(&c->lock);
    enqueue(c->srv, j);
  }
  pthread_mutex_lock(&c->lock);
  while (c->inflight)
    pthread_cond_wait(&c->cond, &c->lock);
  pthread_mutex_unlock(&c->lock);
}

/* Take a connection slot: true once held; false after SLOT_WAIT seconds or
 * when the server stops (*MSG and *CODE say why, for the client). */
static bool take_slot(struct server *srv, const char **msg, uint32_t *code)
{
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += SLOT_WAIT;
  pthread_mutex_lock(&srv->lock);
  int e = 0;
  while (!srv->stopping && srv->active >= srv->cfg->shared && e == 0)
    e = pthread_cond_timedwait(&srv->cond, &srv->lock, &until);
  bool got = !srv->stopping && srv->active < srv->cfg->shared;
  if (got)
    srv->active++;
  else if (srv->stopping) {
    *msg = "the server is shutting down";
    *code = NBD_REP_ERR_SHUTDOWN;
  } else {
    *msg = srv->cfg->shared == 1
               ? "the export is in use by another client (lbd nbd serve "
                 "--shared 1 allows one connection at a time)"
               : "too many connections (lbd nbd serve --shared N allows N "
                 "at a time)";
    *code = NBD_REP_ERR_POLICY;
  }
  pthread_mutex_unlock(&srv->lock);
  return got;
}

static void *conn_main(void *arg)
{
  struct conn *c = arg;
  struct server *srv = c->srv;
  const char *refuse = NULL;
  uint32_t code = 0;
  bool slot = take_slot(srv, &refuse, &code);
  c->exp = srv->exp;
  if (!slot) {
    c->exp.refuse = refuse;
    c->exp.refuse_code = code;
    logmsg("client %u refused: %s", c->id, refuse);
  }
  struct nbd_io io = {conn_read, conn_write, c};
  int r = nbd_handshake(&io, &c->exp, &c->sess);
  if (r == 0 && slot)
    transmission(c);
  else if (r < 0 && r != -ECONNRESET && r != -EPIPE && !srv->stopping &&
           slot)
    logmsg("client %u: %s: %s", c->id, c->sess.why, strerror(-r));

  pthread_mutex_lock(&srv->lock);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  if (slot)
    srv->active--;
  srv->threads--;
  pthread_cond_broadcast(&srv->cond);
  pthread_mutex_unlock(&srv->lock);

  close(c->fd);
  pthread_mutex_destroy(&c->send_lock);
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->cond);
  free(c->ibuf);
  free(c);
  return NULL;
}

static void start_conn(struct server *srv, int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* TCP only */
  struct conn *c = calloc(1, sizeof *c);
  if (c && !(c->ibuf = malloc(IBUF_SIZE))) {
    free(c);
    c = NULL;
  }
  if (!c) {
    logmsg("out of memory for a connection");
    close(fd);
    return;
  }
  c->srv = srv;
  c->fd = fd;
  pthread_mutex_init(&c->send_lock, NULL);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->cond, NULL);

  pthread_mutex_lock(&srv->lock);
  c->id = ++srv->next_id;
  c->next = srv->conns;
  if (srv->conns)
    srv->conns->prev = c;
  srv->conns = c;
  srv->threads++;
  pthread_mutex_unlock(&srv->lock);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int e = pthread_create(&t, &attr, conn_main, c);
  pthread_attr_destroy(&attr);
  if (e) {
    logmsg("cannot start a connection thread: %s", strerror(e));
    pthread_mutex_lock(&srv->lock);
    srv->conns = c->next;
    if (c->next)
      c->next->prev = NULL;
    srv->threads--;
    pthread_mutex_unlock(&srv->lock);
    close(fd);
    free(c->ibuf);
    free(c);
  }
}

/* ---- listening ---------------------------------------------------------- */

static int listen_unix(const char *path, int *out)
{
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path)
    return lbd_error(ENAMETOOLONG, "socket path %s is too long (at most %zu "
                     "bytes)", path, sizeof sa.sun_path - 1);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return lbd_error(errno, "socket: %s", strerror(errno));
  int e = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? errno : 0;
  if (e == EADDRINUSE) {
    /* a socket left by a server that died, or one in use? */
    struct stat st;
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live = probe >= 0 &&
                connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (probe >= 0)
      close(probe);
    if (live || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
      close(fd);
      return lbd_error(EADDRINUSE, "%s exists%s", path,
                       live ? " and a server listens on it"
                            : " and is not a socket");
    }
    unlink(path);
    e = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? errno : 0;
  }
  if (e) {
    close(fd);
    return lbd_error(e, "binding %s: %s", path, strerror(e));
  }
  if (listen(fd, 16) < 0) {
    e = errno;
    close(fd);
    unlink(path);
    return lbd_error(e, "listening on %s: %s", path, strerror(e));
  }
  *out = fd;
  return 0;
}

static int listen_tcp(const char *addr, unsigned port, int *out,
                      unsigned *bound)
{
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  char ports[16];
  snprintf(ports, sizeof ports, "%u", port);
  int g = getaddrinfo(addr, ports, &hints, &res);
  if (g)
    return lbd_error(EINVAL, "address %s: %s", addr, gai_strerror(g));
  int e = 0, fd = -1;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
      e = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
      break;
    e = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0)
    return lbd_error(e ? e : EADDRNOTAVAIL, "listening on %s port %u: %s",
                     addr, port, strerror(e ? e : EADDRNOTAVAIL));
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  *bound = port;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET)
      *bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
      *bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  *out = fd;
  return 0;
}

static int write_pidfile(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return lbd_error(errno, "pidfile %s: %s", path, strerror(errno));
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
  int e = write(fd, buf, (size_t)n) == n ? 0 : (errno ? errno : EIO);
  if (close(fd) < 0 && !e)
    e = errno;
  if (e) {
    unlink(path);
    return lbd_error(e, "pidfile %s: %s", path, strerror(e));
  }
  return 0;
}

/* ---- the server --------------------------------------------------------- */

static int start_workers(struct server *srv)
{
  unsigned n = srv->cfg->workers;
  if (!n) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    n = cpus > 0 ? (unsigned)cpus * 4 : 8;
    if (n < 8)
      n = 8;
    if (n > 32)
      n = 32;
  }
  srv->workers = calloc(n, sizeof *srv->workers);
  if (!srv->workers)
    return lbd_error(ENOMEM, "out of memory");
  for (unsigned i = 0; i < n; i++) {
    int e = pthread_create(&srv->workers[i], NULL, worker_main, srv);
    if (e)
      return lbd_error(e, "starting worker threads: %s", strerror(e));
    srv->nworkers++;
  }
  return 0;
}

static void stop_workers(struct server *srv)
{
  pthread_mutex_lock(&srv->lock);
  srv->workers_stop = true;
  pthread_cond_broadcast(&srv->work_cond);
  pthread_mutex_unlock(&srv->lock);
  for (unsigned i = 0; i < srv->nworkers; i++)
    pthread_join(srv->workers[i], NULL);
  free(srv->workers);
}

/* Stop reading requests on every connection; after DRAIN_WAIT seconds
 * without them all ending, also stop writing (a client that does not read
 * its replies). */
static void drain(struct server *srv)
{
  pthread_mutex_lock(&srv->lock);
  srv->stopping = true;
  for (struct conn *c = srv->conns; c; c = c->next)
    shutdown(c->fd, SHUT_RD);
  pthread_cond_broadcast(&srv->cond);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += DRAIN_WAIT;
  int e = 0;
  while (srv->threads && e == 0)
    e = pthread_cond_timedwait(&srv->cond, &srv->lock, &until);
  if (srv->threads) {
    logmsg("clients still connected after %d s: closing their connections",
           DRAIN_WAIT);
    for (struct conn *c = srv->conns; c; c = c->next)
      shutdown(c->fd, SHUT_RDWR);
    while (srv->threads)
      pthread_cond_wait(&srv->cond, &srv->lock);
  }
  pthread_mutex_unlock(&srv->lock);
}

static void uri(const struct nbd_server_config *cfg, unsigned port, char *buf,
                size_t size)
{
  if (cfg->socket_path)
    snprintf(buf, size, "nbd+unix:///%s?socket=%s", cfg->export_name,
             cfg->socket_path);
  else if (strchr(cfg->bind_addr, ':'))
    snprintf(buf, size, "nbd://[%s]:%u/%s", cfg->bind_addr, port,
             cfg->export_name);
  else
    snprintf(buf, size, "nbd://%s:%u/%s", cfg->bind_addr, port,
             cfg->export_name);
}

int nbd_server_run(const struct nbd_server_config *cfg)
{
  struct server srv;
  memset(&srv, 0, sizeof srv);
  srv.cfg = cfg;
  srv.listen_fd = -1;
  uint64_t size;
  int r = lbd_get_size(cfg->image, &size);
  if (r < 0)
    return r;
  srv.exp.name = cfg->export_name;
  srv.exp.description = cfg->description;
  srv.exp.size = size;
  srv.exp.flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH;
  if (cfg->read_only)
    srv.exp.flags |= NBD_FLAG_READ_ONLY;
  else
    srv.exp.flags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
                     NBD_FLAG_SEND_WRITE_ZEROES;
  /* one image handle serves every connection: a flush covers them all */
  if (cfg->shared > 1)
    srv.exp.flags |= NBD_FLAG_CAN_MULTI_CONN;
  srv.exp.block_min = 1;
  srv.exp.block_pref = HOLE_BLOCK;
  srv.exp.block_max = MAX_REQUEST;

  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return lbd_error(errno, "pipe: %s", strerror(errno));
  struct sigaction sa, old_int, old_term, old_pipe;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, &old_pipe);

  pthread_mutex_init(&srv.lock, NULL);
  pthread_cond_init(&srv.cond, NULL);
  pthread_cond_init(&srv.work_cond, NULL);

  unsigned port = cfg->port;
  bool listening = false, pidfile = false;
  if (cfg->socket_path)
    r = listen_unix(cfg->socket_path, &srv.listen_fd);
  else
    r = listen_tcp(cfg->bind_addr, cfg->port, &srv.listen_fd, &port);
  listening = r == 0;
  if (r == 0 && cfg->pidfile && (r = write_pidfile(cfg->pidfile)) == 0)
    pidfile = true;
  if (r == 0)
    r = start_workers(&srv);
  if (r == 0) {
    char u[4096 + 256];
    uri(cfg, port, u, sizeof u);
    printf("%s\n", u);
    fflush(stdout);
  }

  while (r == 0) {
    struct pollfd p[2] = {{srv.listen_fd, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      r = lbd_error(errno, "poll: %s", strerror(errno));
      break;
    }
    if (p[1].revents)
      break;
    if (p[0].revents & POLLIN) {
      int fd = accept4(srv.listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0) {
        start_conn(&srv, fd);
      } else if (errno == EMFILE || errno == ENFILE) {
        logmsg("accept: %s", strerror(errno));
        usleep(100000);
      }
    }
  }

  /* stop: no new connections, requests in flight finish */
  char why[LBD_ERROR_MAX] = "";
  if (r < 0)
    snprintf(why, sizeof why, "%s", lbd_last_error());
  if (srv.listen_fd >= 0)
    close(srv.listen_fd);
  if (listening && cfg->socket_path)
    unlink(cfg->socket_path);
  drain(&srv);
  if (srv.workers)
    stop_workers(&srv);
  if (!cfg->read_only) {
    int f = lbd_flush(cfg->image);
    if (f < 0 && r == 0)
      r = f;
  }
  if (pidfile)
    unlink(cfg->pidfile);
  if (why[0])
    lbd_error(r, "%s", why); /* the flush cleared it */

  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGPIPE, &old_pipe, NULL);
  close(sig_pipe[0]);
  close(sig_pipe[1]);
  sig_pipe[0] = sig_pipe[1] = -1;
  pthread_cond_destroy(&srv.work_cond);
  pthread_cond_destroy(&srv.cond);
  pthread_mutex_destroy(&srv.lock);
  return r;
}
