#!/usr/bin/env bash
# The wire protocol with a raw socket (Python): what libnbd and qemu never
# send.  Option haggling (list, info, unknown options, bad lengths, an
# unknown export, NBD_OPT_EXPORT_NAME with and without zeroes, abort),
# simple replies, unknown commands, bad client flags, a bad request magic;
# --shared: a connection over the limit waits, then is refused with a
# message; SIGTERM while requests are in flight.
source "$(dirname "$0")/lib.sh"
requires nbdinfo

lbd create --size 1M rbd/disk
start_server S rbd/disk --socket "$TMP/s.sock" --export-name e1
SOCK=$TMP/s.sock python3 - <<'PY' || fail "protocol checks"
import os, socket, struct
SOCK = os.environ["SOCK"]
IHAVEOPT = 0x49484156454F5054
REP = 0x3e889045565a9
def conn(cflags=3):
    s = socket.socket(socket.AF_UNIX)
    s.connect(SOCK)
    s.settimeout(10)
    magic, opt, hflags = struct.unpack(">QQH", recv(s, 18))
    assert magic == 0x4e42444d41474943 and opt == IHAVEOPT, (magic, opt)
    assert hflags == 3, hflags   # fixed newstyle, no zeroes
    s.sendall(struct.pack(">I", cflags))
    return s
def recv(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += d
    return b
def option(s, o, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, o, len(data)) + data)
def reply(s, o):
    magic, ro, rtype, ln = struct.unpack(">QIII", recv(s, 20))
    assert magic == REP and ro == o, (hex(magic), ro, o)
    return rtype, recv(s, ln)
def closed(s):
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
ERR = lambda n: 0x80000000 | n
s32 = lambda b: struct.pack(">I", len(b)) + b

s = conn()
option(s, 3)                                   # NBD_OPT_LIST
t, d = reply(s, 3)
assert t == 2, t                               # NBD_REP_SERVER
n = struct.unpack(">I", d[:4])[0]
assert d[4:4 + n] == b"e1" and d[4 + n:] == b"rbd/disk", d
assert reply(s, 3) == (1, b"")                 # ACK
option(s, 3, b"x")                             # LIST with data
assert reply(s, 3)[0] == ERR(3)                # INVALID
option(s, 99, b"abc")                          # unknown option
t, d = reply(s, 99)
assert t == ERR(1) and d, (t, d)               # UNSUP, with a message
option(s, 5)                                   # STARTTLS
assert reply(s, 5)[0] == ERR(1)
option(s, 6, s32(b"nope") + b"\0\0")           # INFO, unknown export
t, d = reply(s, 6)
assert t == ERR(6) and b"nope" in d, (t, d)    # UNKNOWN, named
option(s, 6, s32(b"e1") + b"\0\1")             # INFO, length mismatch
assert reply(s, 6)[0] == ERR(3)
option(s, 10, s32(b"e1") + struct.pack(">I", 1) + s32(b"base:allocation"))
assert reply(s, 10)[0] == ERR(3)               # SET_META before STRUCTURED
option(s, 6, s32(b"e1") + struct.pack(">HHH", 2, 1, 2))  # INFO: name, description
infos = {}
while True:
    t, d = reply(s, 6)
    if t == 1:
        break
    assert t == 3, t
    infos[struct.unpack(">H", d[:2])[0]] = d[2:]
assert infos[1] == b"e1" and infos[2] == b"rbd/disk", infos
size, flags = struct.unpack(">QH", infos[0])
assert size == 1 << 20 and flags & 1 and not flags & 2, (size, flags)
assert struct.unpack(">III", infos[3]) == (1, 4096, 32 << 20)
option(s, 2)                                   # ABORT
assert reply(s, 2) == (1, b"")
assert closed(s)

# NBD_OPT_EXPORT_NAME, with zeroes (no NO_ZEROES) and simple replies
s = conn(cflags=1)
option(s, 1, b"e1")
size, flags = struct.unpack(">QH", recv(s, 10))
assert size == 1 << 20 and recv(s, 124) == bytes(124)
def request(s, t, off, ln, flags=0, cookie=7, data=b""):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, t, cookie, off, ln) + data)
def simple(s, cookie=7, n=0):
    magic, err, c = struct.unpack(">IIQ", recv(s, 16))
    assert magic == 0x67446698 and c == cookie, (hex(magic), c)
    return err, (recv(s, n) if not err else b"")
request(s, 1, 4096, 5, data=b"hello")          # WRITE
assert simple(s) == (0, b"")
request(s, 0, 4096, 5)                         # READ, simple reply
assert simple(s, n=5) == (0, b"hello")
request(s, 0, 0, 4, flags=4)                   # DF without structured replies
assert simple(s)[0] == 22
request(s, 42, 0, 0)                           # unknown command
assert simple(s)[0] == 22
request(s, 5, 0, 512)                          # CACHE: not offered
assert simple(s)[0] == 22
request(s, 7, 0, 512)                          # BLOCK_STATUS without a context
assert simple(s)[0] == 22
request(s, 3, 0, 0, flags=1)                   # FLUSH with FUA
assert simple(s)[0] == 0
request(s, 3, 1, 0)                            # FLUSH with an offset
assert simple(s)[0] == 22
request(s, 1, 1 << 20, 3, data=b"abc")         # WRITE past the end: payload skipped
assert simple(s)[0] == 28
for i in range(32):                            # pipelined: every cookie answered
    request(s, 0, i * 512, 512, cookie=100 + i)
got = set()
for i in range(32):
    magic, err, c = struct.unpack(">IIQ", recv(s, 16))
    assert err == 0 and 100 <= c < 132, (err, c)
    recv(s, 512)
    got.add(c)
assert len(got) == 32
request(s, 2, 0, 0)                            # DISC
assert closed(s)

# EXPORT_NAME of an unknown export: the server closes
s = conn()
option(s, 1, b"other")
assert closed(s)
# unknown client flags: the server closes
s = conn(cflags=0x10)
assert closed(s)
# a bad option magic: closed
s = conn()
s.sendall(struct.pack(">QII", 1234, 7, 0))
assert closed(s)
# a bad request magic: closed
s = conn()
option(s, 8)
assert reply(s, 8) == (1, b"")
option(s, 7, s32(b"e1") + b"\0\0")
while reply(s, 7)[0] != 1:
    pass
s.sendall(struct.pack(">IHHQQI", 0x12345678, 0, 0, 1, 0, 512))
assert closed(s)
PY
# the server said why it closed the bad connections, and goes on
grep -q "unknown export" "$S_ERR" || fail "no message: $(cat "$S_ERR")"
grep -q "bad request magic" "$S_ERR" || fail "no message: $(cat "$S_ERR")"
nbdinfo --size "nbd+unix:///e1?socket=$TMP/s.sock" >/dev/null

# --shared 1: a second client waits for the first, then is refused
SOCK=$TMP/s.sock python3 - <<'PY' &
import os, socket, struct, time
s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["SOCK"])
s.recv(18)
time.sleep(7)
PY
holder=$!
sleep 0.5
start=$SECONDS
if nbdinfo --size "nbd+unix:///e1?socket=$TMP/s.sock" >"$TMP/out" 2>&1; then
  fail "a second connection was served with --shared 1"
fi
(( SECONDS - start >= 4 )) || fail "the second connection did not wait"
grep -q "in use by another client" "$S_ERR" || fail "no refusal message: $(cat "$S_ERR")"
wait $holder
# once the first leaves, the next one is served
nbdinfo --size "nbd+unix:///e1?socket=$TMP/s.sock" >/dev/null
# a client waiting for a slot is served as soon as one is free
SOCK=$TMP/s.sock python3 -c '
import os, socket, time
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["SOCK"]); s.recv(18); time.sleep(2)' &
holder=$!
sleep 0.3
nbdinfo --size "nbd+unix:///e1?socket=$TMP/s.sock" >/dev/null || fail "waiting client refused"
wait $holder
stop_server S

# --shared 3: three clients at once, multi-conn offered
start_server S rbd/disk --socket "$TMP/s.sock" --shared 3
expect_eq "multi-conn" True "$(nbdinfo --json "$S_URI" | json 'd["exports"][0]["can_multi_conn"]')"
pids=()
for i in 1 2 3; do
  nbdsh -u "$S_URI" -c "import time; h.pwrite(bytes([$i]) * 4096, $i * 4096); time.sleep(1); h.flush()" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "concurrent client failed"; done
grep -q refused "$S_ERR" && fail "a client was refused with --shared 3"

# SIGTERM while a client has requests in flight: they are answered (or
# the connection ends), the server exits 0 and the data written is kept
nbdsh -u "$S_URI" -c '
import time
for i in range(200):
    h.aio_pwrite(b"\x77" * 4096, (i % 256) * 4096)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()
open("'"$TMP"'/flushed", "w").close()
time.sleep(30)' &
client=$!
for ((i = 0; i < 200; i++)); do [[ -e $TMP/flushed ]] && break; sleep 0.05; done
[[ -e $TMP/flushed ]] || fail "client did not flush"
stop_server S
wait $client || true
lbd export rbd/disk "$TMP/after.raw" >/dev/null
python3 -c "
import sys
d = open('$TMP/after.raw', 'rb').read()
assert d[:200 * 4096] == b'\x77' * (200 * 4096), 'writes lost'" || fail "data after SIGTERM"
echo PASS
