/* Fuzz target: the NBD server's protocol code (src/nbd/nbd_parse.c).
 *
 * Each input is what a client sends: the handshake (client flags, then
 * options) is run against an export whose flags the first byte picks
 * (read-only or not, refusing connections or not); if it reaches
 * transmission, the rest is read as requests, each checked as the server
 * checks it (payloads skipped); valid reads are split into content chunks
 * (data and holes) of a buffer made from the input, valid block status
 * requests get descriptors from extents made from the input.  Nothing may
 * crash, leak or read out of bounds, and the replies must keep the
 * protocol's rules (asserted below).
 *
 * Built with -DLBD_FUZZ=ON (clang): a libFuzzer binary.  Otherwise
 * fuzz_main.c replays files and corpus directories (the test suite runs
 * fuzz/corpus/nbd). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nbd/nbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
  const uint8_t *data;
  size_t size, pos;
  size_t written;
};

static int mem_read(void *ctx, void *buf, size_t len)
{
  struct mem *m = ctx;
  if (len > m->size - m->pos)
    return -ECONNRESET;
  memcpy(buf, m->data + m->pos, len);
  m->pos += len;
  return 0;
}

static int mem_write(void *ctx, const void *buf, size_t len)
{
  struct mem *m = ctx;
  (void)buf;
  m->written += len;
  return 0;
}

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,       \
              #cond);                                                        \
      abort();                                                               \
    }                                                                        \
  } while (0)

static void fuzz_read(struct mem *m, const struct nbd_request *r)
{
  uint32_t len = r->len > 65536 ? 65536 : r->len;
  uint8_t *buf = calloc(1, len ? len : 1);
  if (!buf)
    return;
  /* data from the input, in runs, so that some blocks are zero */
  for (uint32_t i = 0; i < len && m->pos < m->size; i += 512) {
    uint8_t b = m->data[m->pos++];
    if (b & 1)
      memset(buf + i, b, len - i < 512 ? len - i : 512);
  }
  uint32_t block = (r->flags & NBD_CMD_FLAG_DF) ? 0 : 4096;
  uint32_t pos = 0, n;
  bool hole, last_hole = false;
  unsigned chunks = 0;
  while ((n = nbd_read_chunk(buf, r->offset, len, pos, block, &hole))) {
    CHECK(n <= len - pos);
    if (chunks && block)
      CHECK(hole != last_hole); /* runs are maximal */
    if (hole)
      for (uint32_t i = 0; i < n; i++)
        CHECK(buf[pos + i] == 0);
    if (hole && block) {
      CHECK((r->offset + pos) % block == 0);
      CHECK(n % block == 0);
    }
    last_hole = hole;
    pos += n;
    chunks++;
  }
  CHECK(pos == len);
  CHECK(!block || len == 0 || chunks >= 1);
  CHECK(block || chunks <= 1);
  free(buf);
}

static void fuzz_status(struct mem *m, const struct nbd_request *r)
{
  size_t max = (r->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : 64;
  uint8_t desc[64 * 8];
  struct nbd_status st;
  nbd_status_init(&st, r->offset, r->len, desc, max);
  uint64_t off = r->offset;
  while (m->size - m->pos >= 5) {
    const uint8_t *p = m->data + m->pos;
    m->pos += 5;
    off += (uint64_t)p[0] << 8;
    uint64_t len = (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
    if (nbd_status_add(&st, off, len, p[4] & 1 ? 0 : 3))
      break;
    off += len;
    if (p[4] & 2)
      break;
  }
  size_t n = nbd_status_finish(&st);
  CHECK(n >= 1 && n <= max);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *d = desc + 8 * i;
    uint32_t l = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
                 (uint32_t)d[2] << 8 | d[3];
    CHECK(l > 0);
    sum += l;
  }
  CHECK(sum <= r->len);
  CHECK(max == 1 || sum == r->len || n == max);
}

static void transmission(struct mem *m, const struct nbd_session *s,
                         const struct nbd_export *exp)
{
  uint8_t hdr[NBD_REQUEST_SIZE];
  while (mem_read(m, hdr, sizeof hdr) == 0) {
    struct nbd_request r;
    if (nbd_request_decode(hdr, &r) < 0)
      return;
    if (r.type == NBD_CMD_DISC)
      return;
    const char *msg = NULL;
    uint32_t err = nbd_request_check(&r, s, exp, &msg);
    if (nbd_request_has_payload(&r)) {
      if (r.len > m->size - m->pos)
        return;
      m->pos += r.len;
    }
    uint8_t chunk[NBD_CHUNK_HEADER_SIZE + 6 + 64];
    if (err) {
      CHECK(msg != NULL);
      size_t n = nbd_put_error_chunk(chunk, sizeof chunk, r.cookie, err, msg);
      CHECK(n <= sizeof chunk);
      continue;
    }
    CHECK(r.type == NBD_CMD_FLUSH ||
          (r.offset <= exp->size && r.len <= exp->size - r.offset));
    CHECK(!(s->flags & NBD_FLAG_READ_ONLY) ||
          (r.type != NBD_CMD_WRITE && r.type != NBD_CMD_TRIM &&
           r.type != NBD_CMD_WRITE_ZEROES));
    if (r.type == NBD_CMD_READ)
      fuzz_read(m, &r);
    else if (r.type == NBD_CMD_BLOCK_STATUS)
      fuzz_status(m, &r);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  struct mem m = {data, size, 1, 0};
  struct nbd_io io = {mem_read, mem_write, &m};
  struct nbd_export exp = {
      .name = (mode & 4) ? "disk" : "",
      .description = "rbd/fuzz",
      .size = (mode & 8) ? (UINT64_C(1) << 40) : (UINT64_C(1) << 20) + 3,
      .flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH,
      .block_min = 1,
      .block_pref = 4096,
      .block_max = 32u << 20,
  };
  if (mode & 1)
    exp.flags |= NBD_FLAG_READ_ONLY;
  else
    exp.flags |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM |
                 NBD_FLAG_SEND_WRITE_ZEROES;
  if (mode & 2) {
    exp.refuse = "too many connections";
    exp.refuse_code = NBD_REP_ERR_POLICY;
  }
  struct nbd_session s;
  int r = nbd_handshake(&io, &exp, &s);
  CHECK(r == 0 || r == 1 || r < 0);
  CHECK(r >= 0 || s.why[0] != '\0');
  if (r == 0) {
    CHECK(!exp.refuse);
    CHECK(s.flags & NBD_FLAG_HAS_FLAGS);
    CHECK(!s.meta_alloc || s.structured);
    transmission(&m, &s, &exp);
  }
  return 0;
}
