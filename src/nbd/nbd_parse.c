/* The NBD protocol without sockets: the fixed newstyle handshake (option
 * haggling) over an abstract byte stream, request decoding and checks,
 * reply encoding.  Follows the NBD project's doc/proto.md; what the server
 * supports is the export's flags plus structured replies and the
 * base:allocation meta context. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/nbd.h"

/* ---- big-endian fields ------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
  put32(p, (uint32_t)(v >> 32));
  put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
  return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
  return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- the handshake ------------------------------------------------------ */

struct haggle {
  const struct nbd_io *io;
  const struct nbd_export *exp;
  struct nbd_session *s;
  /* SET_META_CONTEXT chose base:allocation for this export name */
  bool meta_set;
  char meta_export[NBD_MAX_STRING + 1];
};

static int why(struct nbd_session *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int why(struct nbd_session *s, int err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->why, sizeof s->why, fmt, ap);
  va_end(ap);
  return err;
}

/* One option reply: header and DATA (LEN bytes). */
static int reply(struct haggle *h, uint32_t opt, uint32_t type,
                 const void *data, size_t len)
{
  uint8_t hdr[20];
  put64(hdr, NBD_REP_MAGIC);
  put32(hdr + 8, opt);
  put32(hdr + 12, type);
  put32(hdr + 16, (uint32_t)len);
  int r = h->io->write(h->io->ctx, hdr, sizeof hdr);
  if (r == 0 && len)
    r = h->io->write(h->io->ctx, data, len);
  return r < 0 ? why(h->s, r, "writing an option reply") : 0;
}

static int reply_error(struct haggle *h, uint32_t opt, uint32_t type,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reply_error(struct haggle *h, uint32_t opt, uint32_t type,
                       const char *fmt, ...)
{
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof msg)
    n = sizeof msg - 1;
  return reply(h, opt, type, msg, (size_t)n);
}

/* A string of LEN bytes at DATA[*POS] (of SIZE) into OUT (NUL-ended);
 * false if it does not fit or holds a NUL. */
static bool take_string(const uint8_t *data, size_t size, size_t *pos,
                        uint32_t len, char *out, size_t out_size)
{
  if (len > size - *pos || len >= out_size)
    return false;
  if (memchr(data + *pos, 0, len))
    return false;
  memcpy(out, data + *pos, len);
  out[len] = '\0';
  *pos += len;
  return true;
}

static bool take32(const uint8_t *data, size_t size, size_t *pos,
                   uint32_t *v)
{
  if (size - *pos < 4)
    return false;
  *v = get32(data + *pos);
  *pos += 4;
  return true;
}

static int send_info_export(struct haggle *h, uint32_t opt, uint16_t flags)
{
  uint8_t b[12];
  put16(b, NBD_INFO_EXPORT);
  put64(b + 2, h->exp->size);
  put16(b + 10, flags);
  return reply(h, opt, NBD_REP_INFO, b, sizeof b);
}

static int send_info_string(struct haggle *h, uint32_t opt, uint16_t type,
                            const char *str)
{
  size_t len = strlen(str);
  if (len > NBD_MAX_STRING)
    len = NBD_MAX_STRING;
  uint8_t b[2 + NBD_MAX_STRING];
  put16(b, type);
  memcpy(b + 2, str, len);
  return reply(h, opt, NBD_REP_INFO, b, 2 + len);
}

static int send_info_block_size(struct haggle *h, uint32_t opt)
{
  uint8_t b[14];
  put16(b, NBD_INFO_BLOCK_SIZE);
  put32(b + 2, h->exp->block_min);
  put32(b + 6, h->exp->block_pref);
  put32(b + 10, h->exp->block_max);
  return reply(h, opt, NBD_REP_INFO, b, sizeof b);
}

static uint16_t session_flags(const struct haggle *h)
{
  uint16_t flags = h->exp->flags | NBD_FLAG_HAS_FLAGS;
  if (h->s->structured)
    flags |= NBD_FLAG_SEND_DF;
  return flags;
}

/* NBD_OPT_INFO and NBD_OPT_GO: 1 when GO succeeded. */
static int opt_info(struct haggle *h, uint32_t opt, const uint8_t *data,
                    size_t size)
{
  size_t pos = 0;
  uint32_t nlen;
  char name[NBD_MAX_STRING + 1];
  if (!take32(data, size, &pos, &nlen))
    return reply_error(h, opt, NBD_REP_ERR_INVALID, "option too short");
  if (nlen > NBD_MAX_STRING && nlen <= size - pos)
    return reply_error(h, opt, NBD_REP_ERR_TOO_BIG, "export name too long");
  if (!take_string(data, size, &pos, nlen, name, sizeof name))
    return reply_error(h, opt, NBD_REP_ERR_INVALID, "bad export name");
  if (size - pos < 2)
    return reply_error(h, opt, NBD_REP_ERR_INVALID, "option too short");
  uint16_t nreq = get16(data + pos);
  pos += 2;
  if (size - pos != (size_t)nreq * 2)
    return reply_error(h, opt, NBD_REP_ERR_INVALID,
                       "information requests do not match the length");
  if (strcmp(name, h->exp->name) != 0)
    return reply_error(h, opt, NBD_REP_ERR_UNKNOWN,
                       "no export named '%s' (this server has '%s')", name,
                       h->exp->name);
  bool want_name = false, want_desc = false;
  for (uint16_t i = 0; i < nreq; i++) {
    uint16_t type = get16(data + pos + 2 * (size_t)i);
    want_name |= type == NBD_INFO_NAME;
    want_desc |= type == NBD_INFO_DESCRIPTION;
  }
  uint16_t flags = session_flags(h);
  int r = 0;
  if (want_name)
    r = send_info_string(h, opt, NBD_INFO_NAME, h->exp->name);
  if (r == 0 && want_desc && h->exp->description)
    r = send_info_string(h, opt, NBD_INFO_DESCRIPTION, h->exp->description);
  if (r == 0)
    r = send_info_block_size(h, opt);
  if (r == 0)
    r = send_info_export(h, opt, flags);
  if (r == 0)
    r = reply(h, opt, NBD_REP_ACK, NULL, 0);
  if (r < 0 || opt != NBD_OPT_GO)
    return r;
  h->s->flags = flags;
  h->s->meta_alloc = h->meta_set && strcmp(h->meta_export, name) == 0;
  return 1;
}

/* NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT. */
static int opt_meta(struct haggle *h, uint32_t opt, const uint8_t *data,
                    size_t size)
{
  bool set = opt == NBD_OPT_SET_META_CONTEXT;
  if (set)
    h->meta_set = false;
  if (!h->s->structured)
    return reply_error(h, opt, NBD_REP_ERR_INVALID,
                       "negotiate structured replies first");
  size_t pos = 0;
  uint32_t nlen, nq;
  char name[NBD_MAX_STRING + 1], query[NBD_MAX_STRING + 1];
  if (!take32(data, size, &pos, &nlen))
    return reply_error(h, opt, NBD_REP_ERR_INVALID, "option too short");
  if (nlen > NBD_MAX_STRING && nlen <= size - pos)
    return reply_error(h, opt, NBD_REP_ERR_TOO_BIG, "export name too long");
  if (!take_string(data, size, &pos, nlen, name, sizeof name) ||
      !take32(data, size, &pos, &nq))
    return reply_error(h, opt, NBD_REP_ERR_INVALID, "bad export name");
  /* check every query before answering any */
  bool alloc = !set && nq == 0;
  size_t qpos = pos;
  for (uint32_t i = 0; i < nq; i++) {
    uint32_t qlen;
    if (!take32(data, size, &qpos, &qlen))
      return reply_error(h, opt, NBD_REP_ERR_INVALID, "option too short");
    if (qlen > NBD_MAX_STRING && qlen <= size - qpos)
      return reply_error(h, opt, NBD_REP_ERR_TOO_BIG, "query too long");
    if (!take_string(data, size, &qpos, qlen, query, sizeof query))
      return reply_error(h, opt, NBD_REP_ERR_INVALID, "bad query");
    if (!strchr(query, ':'))
      return reply_error(h, opt, NBD_REP_ERR_INVALID,
                         "query '%s' has no namespace", query);
    if (strcmp(query, NBD_META_BASE_ALLOCATION) == 0 ||
        (!set && strcmp(query, "base:") == 0))
      alloc = true;
  }
  if (qpos != size)
    return reply_error(h, opt, NBD_REP_ERR_INVALID,
                       "queries do not match the length");
  if (strcmp(name, h->exp->name) != 0)
    return reply_error(h, opt, NBD_REP_ERR_UNKNOWN,
                       "no export named '%s' (this server has '%s')", name,
                       h->exp->name);
  if (alloc) {
    uint8_t b[4 + sizeof NBD_META_BASE_ALLOCATION - 1];
    put32(b, set ? NBD_META_ALLOC_ID : 0);
    memcpy(b + 4, NBD_META_BASE_ALLOCATION, sizeof b - 4);
    int r = reply(h, opt, NBD_REP_META_CONTEXT, b, sizeof b);
    if (r < 0)
      return r;
  }
  if (set) {
    h->meta_set = alloc;
    snprintf(h->meta_export, sizeof h->meta_export, "%s", name);
  }
  return reply(h, opt, NBD_REP_ACK, NULL, 0);
}

static int opt_list(struct haggle *h, uint32_t opt, size_t size)
{
  if (size)
    return reply_error(h, opt, NBD_REP_ERR_INVALID,
                       "NBD_OPT_LIST takes no data");
  size_t nlen = strlen(h->exp->name);
  const char *desc = h->exp->description ? h->exp->description : "";
  size_t dlen = strlen(desc);
  if (nlen > NBD_MAX_STRING)
    nlen = NBD_MAX_STRING;
  if (dlen > NBD_MAX_STRING)
    dlen = NBD_MAX_STRING;
  uint8_t b[4 + 2 * NBD_MAX_STRING];
  put32(b, (uint32_t)nlen);
  memcpy(b + 4, h->exp->name, nlen);
  memcpy(b + 4 + nlen, desc, dlen);
  int r = reply(h, opt, NBD_REP_SERVER, b, 4 + nlen + dlen);
  return r < 0 ? r : reply(h, opt, NBD_REP_ACK, NULL, 0);
}

/* NBD_OPT_EXPORT_NAME: no error reply exists; an unknown name closes. */
static int opt_export_name(struct haggle *h, const uint8_t *data, size_t size,
                           bool no_zeroes)
{
  if (h->exp->refuse)
    return why(h->s, -ECONNREFUSED, "%s", h->exp->refuse);
  if (size != strlen(h->exp->name) ||
      memcmp(data, h->exp->name, size) != 0)
    return why(h->s, -ENOENT, "client asked for an unknown export "
               "(NBD_OPT_EXPORT_NAME '%.*s')", (int)(size > 64 ? 64 : size),
               (const char *)data);
  uint8_t b[8 + 2 + 124];
  memset(b, 0, sizeof b);
  /* structured replies and the meta context apply as after NBD_OPT_GO */
  h->s->meta_alloc = h->meta_set && strcmp(h->meta_export, h->exp->name) == 0;
  h->s->flags = session_flags(h);
  put64(b, h->exp->size);
  put16(b + 8, h->s->flags);
  int r = h->io->write(h->io->ctx, b, no_zeroes ? 10 : sizeof b);
  return r < 0 ? why(h->s, r, "writing the export") : 1;
}

int nbd_handshake(const struct nbd_io *io, const struct nbd_export *exp,
                  struct nbd_session *s)
{
  memset(s, 0, sizeof *s);
  struct haggle *h = calloc(1, sizeof *h);
  if (!h)
    return why(s, -ENOMEM, "out of memory");
  h->io = io;
  h->exp = exp;
  h->s = s;
  uint8_t *data = NULL;
  int r;

  uint8_t greet[18];
  put64(greet, NBD_INIT_PASSWD);
  put64(greet + 8, NBD_IHAVEOPT);
  put16(greet + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
  if ((r = io->write(io->ctx, greet, sizeof greet)) < 0) {
    r = why(s, r, "writing the greeting");
    goto out;
  }
  uint8_t cf[4];
  if ((r = io->read(io->ctx, cf, sizeof cf)) < 0) {
    r = r == -ECONNRESET ? 1 : why(s, r, "reading the client flags");
    goto out;
  }
  uint32_t cflags = get32(cf);
  if (cflags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
    r = why(s, -EPROTO, "client sent unknown flags 0x%x", cflags);
    goto out;
  }
  bool no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;

  data = malloc(NBD_MAX_OPTION_LEN);
  if (!data) {
    r = why(s, -ENOMEM, "out of memory");
    goto out;
  }
  for (unsigned n = 0;; n++) {
    uint8_t hdr[16];
    if ((r = io->read(io->ctx, hdr, sizeof hdr)) < 0) {
      r = r == -ECONNRESET ? 1 : why(s, r, "reading an option");
      goto out;
    }
    uint64_t magic = get64(hdr);
    uint32_t opt = get32(hdr + 8), len = get32(hdr + 12);
    if (magic != NBD_IHAVEOPT) {
      r = why(s, -EPROTO, "bad option magic 0x%llx",
              (unsigned long long)magic);
      goto out;
    }
    if (n >= NBD_MAX_OPTIONS) {
      r = why(s, -EPROTO, "client sent over %u options", NBD_MAX_OPTIONS);
      goto out;
    }
    if (len > NBD_MAX_OPTION_LEN) {
      r = why(s, -EPROTO, "option %u of %u bytes is too long", opt, len);
      goto out;
    }
    if (len && (r = io->read(io->ctx, data, len)) < 0) {
      r = why(s, r, "reading option %u", opt);
      goto out;
    }
    if (opt == NBD_OPT_EXPORT_NAME) {
      r = opt_export_name(h, data, len, no_zeroes);
      r = r == 1 ? 0 : r;
      goto out;
    }
    if (opt == NBD_OPT_ABORT) {
      reply(h, opt, NBD_REP_ACK, NULL, 0); /* the client may be gone */
      r = 1;
      goto out;
    }
    if (exp->refuse) {
      r = reply_error(h, opt, exp->refuse_code, "%s", exp->refuse);
    } else {
      switch (opt) {
      case NBD_OPT_LIST:
        r = opt_list(h, opt, len);
        break;
      case NBD_OPT_INFO:
      case NBD_OPT_GO:
        r = opt_info(h, opt, data, len);
        break;
      case NBD_OPT_STRUCTURED_REPLY:
        if (len) {
          r = reply_error(h, opt, NBD_REP_ERR_INVALID,
                          "NBD_OPT_STRUCTURED_REPLY takes no data");
        } else {
          s->structured = true;
          r = reply(h, opt, NBD_REP_ACK, NULL, 0);
        }
        break;
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT:
        r = opt_meta(h, opt, data, len);
        break;
      case NBD_OPT_STARTTLS:
        r = reply_error(h, opt, NBD_REP_ERR_UNSUP, "TLS is not supported");
        break;
      default:
        r = reply_error(h, opt, NBD_REP_ERR_UNSUP, "option %u is not "
                        "supported", opt);
        break;
      }
    }
    if (r < 0)
      goto out;
    if (r == 1) { /* NBD_OPT_GO */
      r = 0;
      goto out;
    }
  }
out:
  free(data);
  free(h);
  return r;
}

/* ---- transmission ------------------------------------------------------ */

int nbd_request_decode(const uint8_t buf[NBD_REQUEST_SIZE],
                       struct nbd_request *r)
{
  if (get32(buf) != NBD_REQUEST_MAGIC)
    return -EPROTO;
  r->flags = get16(buf + 4);
  r->type = get16(buf + 6);
  r->cookie = get64(buf + 8);
  r->offset = get64(buf + 16);
  r->len = get32(buf + 24);
  return 0;
}

uint32_t nbd_request_check(const struct nbd_request *r,
                           const struct nbd_session *s,
                           const struct nbd_export *exp, const char **msg)
{
  uint16_t allowed = 0;
  bool writes = false, bounded = true;
  switch (r->type) {
  case NBD_CMD_READ:
    allowed = s->structured ? NBD_CMD_FLAG_DF : 0;
    break;
  case NBD_CMD_WRITE:
    writes = true;
    break;
  case NBD_CMD_WRITE_ZEROES:
    if (!(s->flags & (NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_READ_ONLY)))
      goto unknown;
    allowed = NBD_CMD_FLAG_NO_HOLE;
    writes = true;
    break;
  case NBD_CMD_TRIM:
    /* a read-only export does not offer it, yet says EPERM */
    if (!(s->flags & (NBD_FLAG_SEND_TRIM | NBD_FLAG_READ_ONLY)))
      goto unknown;
    writes = true;
    break;
  case NBD_CMD_FLUSH:
    bounded = false;
    break;
  case NBD_CMD_BLOCK_STATUS:
    if (!s->meta_alloc) {
      *msg = "no metadata context was negotiated (base:allocation)";
      return NBD_EINVAL;
    }
    allowed = NBD_CMD_FLAG_REQ_ONE;
    break;
  default:
  unknown:
    *msg = "unknown command";
    return NBD_EINVAL;
  }
  if (writes && (s->flags & NBD_FLAG_READ_ONLY)) {
    *msg = "the export is read-only";
    return NBD_EPERM;
  }
  if (s->flags & NBD_FLAG_SEND_FUA)
    allowed |= NBD_CMD_FLAG_FUA;
  if (r->flags & ~allowed) {
    *msg = "command flag not valid for this command";
    return NBD_EINVAL;
  }
  if (r->type == NBD_CMD_FLUSH && (r->offset || r->len)) {
    *msg = "flush with an offset or a length";
    return NBD_EINVAL;
  }
  if (bounded && r->type != NBD_CMD_BLOCK_STATUS &&
      r->type != NBD_CMD_TRIM && r->type != NBD_CMD_WRITE_ZEROES &&
      r->len > exp->block_max) {
    *msg = "request longer than the maximum block size";
    return r->type == NBD_CMD_READ ? NBD_EOVERFLOW : NBD_EINVAL;
  }
  if (bounded && (r->offset > exp->size || r->len > exp->size - r->offset)) {
    *msg = "request past the end of the export";
    return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES
               ? NBD_ENOSPC
               : NBD_EINVAL;
  }
  if (r->type == NBD_CMD_BLOCK_STATUS && r->len == 0) {
    *msg = "block status of no bytes";
    return NBD_EINVAL;
  }
  return 0;
}

uint32_t nbd_error_value(int err)
{
  switch (err < 0 ? -err : err) {
  case 0:
    return 0;
  case EPERM:
  case EROFS:
  case EACCES:
    return NBD_EPERM;
  case ENOMEM:
    return NBD_ENOMEM;
  case EINVAL:
  case ERANGE:
    return NBD_EINVAL;
  case ENOSPC:
  case EDQUOT:
  case EFBIG:
    return NBD_ENOSPC;
  case EOVERFLOW:
    return NBD_EOVERFLOW;
  case ENOTSUP:
    return NBD_ENOTSUP;
  case ESHUTDOWN:
    return NBD_ESHUTDOWN;
  default:
    return NBD_EIO;
  }
}

void nbd_put_simple_reply(uint8_t out[NBD_SIMPLE_REPLY_SIZE], uint64_t cookie,
                          uint32_t error)
{
  put32(out, NBD_SIMPLE_REPLY_MAGIC);
  put32(out + 4, error);
  put64(out + 8, cookie);
}

void nbd_put_chunk_header(uint8_t out[NBD_CHUNK_HEADER_SIZE], uint16_t flags,
                          uint16_t type, uint64_t cookie, uint32_t len)
{
  put32(out, NBD_STRUCTURED_REPLY_MAGIC);
  put16(out + 4, flags);
  put16(out + 6, type);
  put64(out + 8, cookie);
  put32(out + 16, len);
}

size_t nbd_put_error_chunk(uint8_t *out, size_t size, uint64_t cookie,
                           uint32_t error, const char *msg)
{
  size_t mlen = msg ? strlen(msg) : 0;
  size_t room = size - NBD_CHUNK_HEADER_SIZE - 6;
  if (mlen > room)
    mlen = room;
  if (mlen > NBD_MAX_STRING)
    mlen = NBD_MAX_STRING;
  nbd_put_chunk_header(out, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie,
                       (uint32_t)(6 + mlen));
  put32(out + NBD_CHUNK_HEADER_SIZE, error ? error : NBD_EIO);
  put16(out + NBD_CHUNK_HEADER_SIZE + 4, (uint16_t)mlen);
  if (mlen)
    memcpy(out + NBD_CHUNK_HEADER_SIZE + 6, msg, mlen);
  return NBD_CHUNK_HEADER_SIZE + 6 + mlen;
}

static bool is_zero(const uint8_t *p, size_t len)
{
  /* memcmp against itself, one byte on */
  return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

uint32_t nbd_read_chunk(const uint8_t *buf, uint64_t off, uint32_t len,
                        uint32_t pos, uint32_t block, bool *hole)
{
  if (pos >= len)
    return 0;
  *hole = false;
  if (!block)
    return len - pos;
  /* blocks are aligned in the image: [pos, first) is a partial block */
  uint32_t end = pos;
  bool zero_run = false;
  while (end < len) {
    uint64_t abs = off + end;
    uint32_t bend = (uint32_t)(block - abs % block);
    bool whole = bend == block && len - end >= block;
    bool zero = whole && is_zero(buf + end, block);
    if (end == pos)
      zero_run = zero;
    else if (zero != zero_run)
      break;
    end += bend < len - end ? bend : len - end;
  }
  *hole = zero_run;
  return end - pos;
}

void nbd_status_init(struct nbd_status *st, uint64_t start, uint64_t len,
                     uint8_t *desc, size_t max)
{
  st->start = st->pos = start;
  st->end = start + len;
  st->desc = desc;
  st->n = 0;
  st->max = max;
  st->full = false;
}

/* Describe [pos, pos+len) with FLAGS, merged into the last descriptor if
 * it has the same flags and room. */
static void status_put(struct nbd_status *st, uint64_t len, uint32_t flags)
{
  while (len && st->n <= st->max) {
    uint8_t *last = st->n ? st->desc + 8 * (st->n - 1) : NULL;
    if (last && get32(last + 4) == flags && get32(last) < UINT32_MAX) {
      uint64_t room = UINT32_MAX - get32(last);
      uint64_t take = len < room ? len : room;
      put32(last, (uint32_t)(get32(last) + take));
      st->pos += take;
      len -= take;
      continue;
    }
    if (st->n == st->max)
      return;
    uint64_t take = len < UINT32_MAX ? len : UINT32_MAX;
    uint8_t *d = st->desc + 8 * st->n++;
    put32(d, (uint32_t)take);
    put32(d + 4, flags);
    st->pos += take;
    len -= take;
  }
}

int nbd_status_add(struct nbd_status *st, uint64_t off, uint64_t len,
                   uint32_t flags)
{
  if (st->full || st->pos >= st->end)
    return 1; /* the walk may go on after a stop */
  uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
  if (off < st->pos)
    off = st->pos;
  if (end > st->end)
    end = st->end;
  if (off < end) {
    if (off > st->pos)
      status_put(st, off - st->pos, NBD_STATE_HOLE | NBD_STATE_ZERO);
    if (st->pos == off)
      status_put(st, end - off, flags);
  }
  if (st->pos >= st->end)
    return 1;
  if (st->n == st->max) {
    st->full = true;
    return 1;
  }
  return 0;
}

size_t nbd_status_finish(struct nbd_status *st)
{
  if (!st->full && st->pos < st->end)
    status_put(st, st->end - st->pos, NBD_STATE_HOLE | NBD_STATE_ZERO);
  return st->n;
}
