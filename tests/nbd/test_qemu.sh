#!/usr/bin/env bash
# qemu-img and qemu-io against `lbd nbd serve`, over a Unix socket and TCP:
# info, convert in and out, compare, write/read patterns; `lbd status`
# shows the server; SIGTERM ends it cleanly and releases the image's lock.
source "$(dirname "$0")/lib.sh"
requires qemu-img qemu-io

lbd create --size 16M rbd/disk
make_pattern_file "$TMP/src.raw" $((16 << 20))

# Unix socket, with a pidfile
start_server U rbd/disk --socket "$TMP/nbd.sock" --pidfile "$TMP/nbd.pid"
expect_eq "URI" "nbd+unix:///?socket=$TMP/nbd.sock" "$U_URI"
expect_eq "pidfile" "$U_PID" "$(cat "$TMP/nbd.pid")"
[[ -S $TMP/nbd.sock ]] || fail "no socket"

info=$(qemu-img info --output json "$U_URI")
expect_eq "virtual size" 16777216 "$(json 'd["virtual-size"]' <<<"$info")"

# the server is a read-write watcher of the image
status=$(lbd status rbd/disk)
expect_match "status" "pid=$U_PID mode=read-write" "$status"
expect_eq "watchers" 1 "$(lbd status --format json rbd/disk | json 'len(d["watchers"])')"

# qemu-img convert into the export, compare, and back out of it
qemu-img convert -n -f raw -O raw "$TMP/src.raw" "$U_URI"
qemu-img compare -f raw -F raw "$TMP/src.raw" "$U_URI" >/dev/null ||
  fail "qemu-img compare after convert"
qemu-img convert -f raw -O raw "$U_URI" "$TMP/back.raw"
cmp "$TMP/src.raw" "$TMP/back.raw" || fail "converted back differs"

# qio ARGS...: qemu-io on the export; fails on any error or pattern
# mismatch.  Sets OUT.
qio() {
  OUT=$(qemu-io -f raw "$@" "$U_URI" 2>&1) || fail "qemu-io $*: $OUT"
  [[ $OUT != *"Pattern verification failed"* ]] || fail "qemu-io $*: $OUT"
  [[ $OUT != *"error"* ]] || fail "qemu-io $*: $OUT"
}

# qemu-io patterns, verified on read; unaligned ones too
qio -c 'write -P 0x5a 1M 1M' -c 'write -P 0xa5 3M 4k' \
  -c 'write -P 0x11 5000 3000' -c 'flush'
qio -c 'read -P 0x5a 1M 1M' -c 'read -P 0xa5 3M 4k' \
  -c 'read -P 0x11 5000 3000' -c 'read -P 0 15M 1M'
expect_eq "qemu-io reads" 4 "$(grep -c '^read ' <<<"$OUT")"
# write zeroes (allocated, and with unmap) and discard through qemu-io
qio -c 'write -z 1M 64k' -c 'write -z -u 1088k 64k' -c 'discard 1152k 64k'
qio -c 'read -P 0 1M 192k' -c 'read -P 0x5a 1216k 832k'

# aio: many requests in flight at once
qio -c 'aio_write -P 0x31 0 64k' -c 'aio_write -P 0x32 64k 64k' \
  -c 'aio_write -P 0x33 128k 64k' -c 'aio_write -P 0x34 192k 64k' \
  -c 'aio_write -P 0x35 5M 4k' -c 'aio_write -P 0x36 9M 1M' -c 'aio_flush'
qio -c 'aio_read -P 0x31 0 64k' -c 'aio_read -P 0x32 64k 64k' \
  -c 'aio_read -P 0x33 128k 64k' -c 'aio_read -P 0x34 192k 64k' \
  -c 'aio_read -P 0x35 5M 4k' -c 'aio_read -P 0x36 9M 1M' -c 'aio_flush'

# the same bytes through qemu-img as through lbd
qemu-img convert -f raw -O raw "$U_URI" "$TMP/now.raw"

# the server holds the image's exclusive lock: another writer is refused
expect_fail -e 16 bench --io-type write --io-total 4K rbd/disk

stop_server U
[[ ! -e $TMP/nbd.sock ]] || fail "socket left after SIGTERM"
[[ ! -e $TMP/nbd.pid ]] || fail "pidfile left after SIGTERM"
expect_eq "watchers after stop" 0 "$(lbd status --format json rbd/disk | json 'len(d["watchers"])')"
# every write reached the image, and the lock is free for another writer
lbd export rbd/disk "$TMP/export.raw" >/dev/null
cmp "$TMP/now.raw" "$TMP/export.raw" || fail "image differs from what NBD read"
lbd bench --io-type write --io-total 4K rbd/disk >/dev/null

# TCP on a free port of 127.0.0.1, read-only, with an export name
start_server T rbd/disk --port 0 --bind 127.0.0.1 --read-only --export-name vm
expect_match "TCP URI" '^nbd://127\.0\.0\.1:[0-9]+/vm$' "$T_URI"
expect_match "status ro" "pid=$T_PID mode=read-only" "$(lbd status rbd/disk)"
qemu-img convert -f raw -O raw "$T_URI" "$TMP/tcp.raw"
lbd export rbd/disk "$TMP/export2.raw" >/dev/null
cmp "$TMP/tcp.raw" "$TMP/export2.raw" || fail "TCP read differs"
qemu-img compare -f raw -F raw "$TMP/export2.raw" "$T_URI" >/dev/null ||
  fail "qemu-img compare over TCP"
if qemu-io -f raw -c 'write -P 1 0 4k' "$T_URI" >"$TMP/out" 2>&1 &&
   ! grep -qi "denied\|read-only\|not permitted" "$TMP/out"; then
  fail "write to a read-only export: $(cat "$TMP/out")"
fi
# a wrong export name is refused with the server's message
port=${T_URI##*:}
port=${port%%/*}
if qemu-img info "nbd://127.0.0.1:$port/other" >"$TMP/out" 2>&1; then
  fail "unknown export name accepted"
fi
grep -q "no export named 'other'" "$TMP/out" || fail "message: $(cat "$TMP/out")"
stop_server T INT
echo PASS
