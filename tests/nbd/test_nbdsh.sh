#!/usr/bin/env bash
# nbdsh (libnbd's Python shell) scripts for the protocol's odd corners:
# out-of-range and zero-length requests, FUA, flush, block status,
# write zeroes with and without NO_HOLE, trim, structured reads with
# holes, and a read-only export refusing writes.
source "$(dirname "$0")/lib.sh"
requires nbdsh

lbd create --size 4M --object-size 1M rbd/disk
start_server S rbd/disk --socket "$TMP/s.sock" --shared 2

# nbdsh_run SCRIPT: run a Python script in nbdsh with URI in the
# environment; nbdsh fails on an uncaught exception.
nbdsh_run() { URI=$S_URI nbdsh -n -c "$1" || fail "nbdsh script failed"; }

nbdsh_run '
import os, errno
def handle(strict=True):
    h = nbd.NBD()
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    if not strict:
        h.set_strict_mode(0)   # let the server answer what libnbd would refuse
    h.connect_uri(os.environ["URI"])
    return h
def expect_err(what, fn, want):
    try:
        fn()
    except nbd.Error as e:
        assert e.errno == want, "%s: %s (%s), want %s" % (what, e.errno, e.string, want)
        return
    raise AssertionError("%s succeeded" % what)
def status(h, off, length, flags=0):
    out = []
    def cb(ctx, o, entries, err):
        assert ctx == nbd.CONTEXT_BASE_ALLOCATION, ctx
        out.extend(entries)
    h.block_status(length, off, cb, flags)
    return [(out[i], out[i + 1]) for i in range(0, len(out), 2)]
M = 1 << 20
size = 4 * M

h = handle()
assert h.get_size() == size
assert h.get_structured_replies_negotiated()
assert h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
assert h.can_fua() and h.can_flush() and h.can_trim() and h.can_zero() and h.can_df()
assert not h.is_read_only() and h.can_multi_conn() and not h.can_cache()

# a new image: one hole, reads as zeroes, in hole chunks
assert status(h, 0, size) == [(size, 3)], status(h, 0, size)
chunks = []
def chunk(buf, off, st, err):
    chunks.append((off, len(buf), st))
    return 0
buf = h.pread_structured(256 * 1024, 0, chunk)
assert buf == bytes(256 * 1024)
assert all(st == nbd.READ_HOLE for _, _, st in chunks), chunks

# writes, with FUA; a flush
h.pwrite(b"A" * 4096, M, nbd.CMD_FLAG_FUA)
h.pwrite(b"B" * 100, M + 5000)
h.flush()
assert h.pread(4096, M) == b"A" * 4096
assert h.pread(100, M + 5000) == b"B" * 100
st = status(h, 0, size)
assert st[0] == (M, 3) and st[1][1] == 0, st
assert sum(l for l, _ in st) == size, st
# the data of a structured read comes as data chunks, the rest as holes
chunks = []
buf = h.pread_structured(64 * 1024, M, chunk)
kinds = [(o, l, s) for o, l, s in chunks]
assert (M, 8192, nbd.READ_DATA) in kinds, kinds  # 2 blocks hold data
assert any(s == nbd.READ_HOLE for _, _, s in kinds), kinds
assert buf[:4096] == b"A" * 4096 and buf[5000:5100] == b"B" * 100
assert buf[4096:5000] == bytes(904) and buf[8192:] == bytes(64 * 1024 - 8192)
# DF: one data chunk
chunks = []
h.pread_structured(64 * 1024, M, chunk, nbd.CMD_FLAG_DF)
assert len(chunks) == 1 and chunks[0][2] == nbd.READ_DATA, chunks
# REQ_ONE: one extent
st = status(h, 0, size, nbd.CMD_FLAG_REQ_ONE)
assert st == [(M, 3)], st
st = status(h, M, size - M, nbd.CMD_FLAG_REQ_ONE)
assert len(st) == 1 and st[0][1] == 0, st
# unaligned block status inside the data
st = status(h, M + 10, 100)
assert st == [(100, 0)], st

# write zeroes with NO_HOLE: zeroes, allocated (data); without: a hole
h.pwrite(b"C" * (256 * 1024), 2 * M)
h.zero(64 * 1024, 2 * M, nbd.CMD_FLAG_NO_HOLE)
assert h.pread(64 * 1024, 2 * M) == bytes(64 * 1024)
st = status(h, 2 * M, 64 * 1024)
assert st == [(64 * 1024, 0)], st
h.zero(64 * 1024, 2 * M + 64 * 1024, nbd.CMD_FLAG_FUA)
assert h.pread(64 * 1024, 2 * M + 64 * 1024) == bytes(64 * 1024)
st = status(h, 2 * M + 64 * 1024, 64 * 1024)
assert st == [(64 * 1024, 3)], st
# trim: reads as zeroes, a hole
h.trim(64 * 1024, 2 * M + 128 * 1024)
assert h.pread(64 * 1024, 2 * M + 128 * 1024) == bytes(64 * 1024)
st = status(h, 2 * M + 128 * 1024, 64 * 1024)
assert st == [(64 * 1024, 3)], st
assert h.pread(64 * 1024, 2 * M + 192 * 1024) == b"C" * (64 * 1024)

# the end of the export: the last byte works, one past fails
h.pwrite(b"Z", size - 1)
assert h.pread(1, size - 1) == b"Z"
assert status(h, size - 1, 1) == [(1, 0)]

# zero-length requests succeed and change nothing
h2 = handle(strict=False)
assert h2.pread(0, 0) == b""
assert h2.pread(0, size) == b""
h2.pwrite(b"", M)
h2.zero(0, M)
h2.trim(0, M)
assert h2.pread(4096, M) == b"A" * 4096
expect_err("block status of 0 bytes", lambda: status(h2, 0, 0), "EINVAL")

# out of range: EINVAL for reads, trims and block status, ENOSPC for
# writes (as the protocol says); the connection stays usable
expect_err("read past the end", lambda: h2.pread(4096, size - 1024), "EINVAL")
expect_err("read far past the end", lambda: h2.pread(1, 1 << 62), "EINVAL")
expect_err("write past the end", lambda: h2.pwrite(b"x" * 10, size - 5), "ENOSPC")
expect_err("zero past the end", lambda: h2.zero(8192, size), "ENOSPC")
expect_err("trim past the end", lambda: h2.trim(8192, size - 4096), "EINVAL")
expect_err("status past the end", lambda: status(h2, size, 512), "EINVAL")
expect_err("read longer than the maximum", lambda: h2.pread(64 << 20, 0), "EOVERFLOW")
# a flag a command does not take
expect_err("NO_HOLE on a write", lambda: h2.pwrite(b"x", 0, nbd.CMD_FLAG_NO_HOLE), "EINVAL")
expect_err("REQ_ONE on a read", lambda: h2.pread(512, 0, nbd.CMD_FLAG_REQ_ONE), "EINVAL")
assert h2.pread(4096, M) == b"A" * 4096
assert h2.pread(1, size - 1) == b"Z"

# several requests in flight on one connection
for i in range(1, 17):
    h.aio_pwrite(bytes([i]) * 65536, i * 65536)
assert h.aio_in_flight() > 1
while h.aio_in_flight() > 0:
    h.poll(-1)
bufs = [nbd.Buffer(65536) for i in range(16)]
for i in range(16):
    h.aio_pread(bufs[i], (i + 1) * 65536)
while h.aio_in_flight() > 0:
    h.poll(-1)
for i in range(16):
    assert bufs[i].to_bytearray() == bytes([i + 1]) * 65536, i
h.flush()
h.shutdown()
h2.shutdown()
'
stop_server S

# a read-only export refuses writes, trims and zeroes with EPERM
start_server S rbd/disk --socket "$TMP/s.sock" --read-only
nbdsh_run '
import os
h = nbd.NBD()
h.set_strict_mode(0)
h.connect_uri(os.environ["URI"])
assert h.is_read_only()
assert not h.can_trim() and not h.can_zero() and not h.can_fua()
for what, fn in (("write", lambda: h.pwrite(b"x" * 512, 0)),
                 ("trim", lambda: h.trim(512, 0)),
                 ("zero", lambda: h.zero(512, 0))):
    try:
        fn()
        raise AssertionError(what + " succeeded on a read-only export")
    except nbd.Error as e:
        assert e.errno == "EPERM", (what, e.errno, e.string)
h.flush()
assert h.pread(4096, 1 << 20) == bytes([16]) * 4096  # the last aio write
h.shutdown()
'
stop_server S
echo PASS
