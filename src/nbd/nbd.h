/* The NBD server of lbd (`lbd nbd serve`).
 *
 *   nbd_proto.h   the protocol's constants
 *   nbd_parse.c   the handshake (option haggling) over an abstract byte
 *                 stream, request decoding and checks, reply encoding: no
 *                 sockets, no threads, no image, so that it can be fuzzed
 *                 (fuzz/fuzz_nbd.c)
 *   nbd_server.c  sockets, the reader thread of each connection, the pool
 *                 of worker threads, the image (liblbd), shutdown
 */
#ifndef LBD_NBD_NBD_H
#define LBD_NBD_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lbd/lbd.h"
#include "nbd/nbd_proto.h"

/* ---- nbd_parse.c ---------------------------------------------------- */

/* A byte stream.  Both calls move exactly LEN bytes and return 0, or a
 * negative errno (-ECONNRESET when the peer closed the stream). */
struct nbd_io {
  int (*read)(void *ctx, void *buf, size_t len);
  int (*write)(void *ctx, const void *buf, size_t len);
  void *ctx;
};

/* What the server offers. */
struct nbd_export {
  const char *name;        /* the export name clients ask for ("" default) */
  const char *description; /* shown by NBD_OPT_LIST and NBD_INFO_DESCRIPTION */
  uint64_t size;
  uint16_t flags;          /* NBD_FLAG_*: HAS_FLAGS, READ_ONLY, SEND_...;
                              SEND_DF is added with structured replies */
  uint32_t block_min, block_pref, block_max; /* block_max: largest request */
  /* Non-NULL: the server answers every option (but ABORT) with error
   * REFUSE_CODE (NBD_REP_ERR_POLICY, _SHUTDOWN) and this message. */
  const char *refuse;
  uint32_t refuse_code;
};

/* What the handshake agreed on. */
struct nbd_session {
  bool structured;  /* structured replies */
  bool meta_alloc;  /* base:allocation selected (NBD_CMD_BLOCK_STATUS) */
  uint16_t flags;   /* the transmission flags the client got */
  char why[256];    /* why the handshake ended without transmission */
};

/* The context id that base:allocation gets. */
#define NBD_META_ALLOC_ID 1
/* At most this many options in one handshake, of at most this size. */
#define NBD_MAX_OPTIONS 4096
#define NBD_MAX_OPTION_LEN 65536

/* Run the fixed newstyle handshake on IO: greeting, client flags, options
 * until NBD_OPT_GO or NBD_OPT_EXPORT_NAME.  0: transmission starts, S says
 * what was agreed; 1: the client left (NBD_OPT_ABORT, or it closed the
 * connection between options); a negative errno: a protocol violation or a
 * broken stream, S->why says what happened. */
int nbd_handshake(const struct nbd_io *io, const struct nbd_export *exp,
                  struct nbd_session *s);

struct nbd_request {
  uint16_t flags;
  uint16_t type;
  uint64_t cookie;
  uint64_t offset;
  uint32_t len;
};

/* Decode a request header; -EPROTO if its magic is wrong. */
int nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE],
                       struct nbd_request *r);
/* Does R carry LEN bytes of data after its header (NBD_CMD_WRITE)? */
static inline bool nbd_request_has_payload(const struct nbd_request *r)
{
  return r->type == NBD_CMD_WRITE;
}
/* The error to answer R with before doing anything (0: none): EINVAL for
 * an unknown command, flag or context, a length over the export's
 * maximum, reads, trims and block status past the end; ENOSPC for writes
 * past the end; EPERM for writes to a read-only export.  *MSG says why. */
uint32_t nbd_request_check(const struct nbd_request *r,
                           const struct nbd_session *s,
                           const struct nbd_export *exp, const char **msg);
/* A negative or positive errno as one of the NBD error values. */
uint32_t nbd_error_value(int err);

void nbd_put_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint64_t cookie,
                          uint32_t error);
void nbd_put_chunk_header(uint8_t out[NBD_CHUNK_HEADER_SIZE], uint16_t flags,
                          uint16_t type, uint64_t cookie, uint32_t len);
/* An NBD_REPLY_TYPE_ERROR chunk (DONE) with MSG (cut to fit) into OUT of
 * SIZE bytes (at least NBD_CHUNK_HEADER_SIZE + 6); returns its length. */
size_t nbd_put_error_chunk(uint8_t *out, size_t size, uint64_t cookie,
                           uint32_t error, const char *msg);

/* The content chunks of a structured read reply: the next chunk of the LEN
 * bytes of BUF (read at image offset OFF) from position POS.  Whole blocks
 * of BLOCK bytes (aligned in the image) of zeroes become holes, the rest
 * data; BLOCK 0: one data chunk.  Returns the chunk's length (0 at the
 * end); *HOLE says which kind it is. */
uint32_t nbd_read_chunk(const uint8_t *buf, uint64_t off, uint32_t len,
                        uint32_t pos, uint32_t block, bool *hole);

/* Block status descriptors of [START, END), built from extents in order. */
struct nbd_status {
  uint64_t start, end, pos; /* pos: described up to here */
  uint8_t *desc;            /* 8 bytes each: length, flags (big-endian) */
  size_t n, max;
  bool full; /* stopped before the end: the rest is unknown */
};
/* Begin with room for MAX (>= 1) descriptors in DESC. */
void nbd_status_init(struct nbd_status *st, uint64_t start, uint64_t len,
                     uint8_t *desc, size_t max);
/* [OFF, OFF+LEN) has FLAGS (NBD_STATE_*); what lies between the last
 * extent and OFF is a hole (HOLE|ZERO).  Extents are clipped to the range
 * and must come in order.  Returns 1 once the descriptors are full or the
 * range is described (stop), else 0. */
int nbd_status_add(struct nbd_status *st, uint64_t off, uint64_t len,
                   uint32_t flags);
/* The rest of the range is a hole, unless the descriptors filled up
 * before the extents ended (then the reply describes less).  Returns N. */
size_t nbd_status_finish(struct nbd_status *st);

/* ---- nbd_server.c --------------------------------------------------- */

struct nbd_server_config {
  lbd_image_t *image;       /* open; the server flushes it at the end */
  bool read_only;           /* refuse writes (a snapshot is read-only) */
  const char *export_name;  /* "" by default */
  const char *description;  /* the image spec */
  const char *socket_path;  /* a Unix socket, or: */
  const char *bind_addr;    /* TCP address (with port) */
  unsigned port;            /* 0: any free port */
  unsigned shared;          /* connections at once (>= 1) */
  unsigned workers;         /* worker threads (0: a default) */
  const char *pidfile;      /* NULL: none */
};

/* Serve until SIGTERM or SIGINT: then stop accepting, let in-flight
 * requests finish, close the connections, remove the socket and pidfile.
 * Prints where it listens (stdout) and what goes wrong with clients
 * (stderr).  0, or a negative errno with lbd_last_error() set. */
int nbd_server_run(const struct nbd_server_config *cfg);

#endif
