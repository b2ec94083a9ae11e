#!/usr/bin/env bash
# NBD clients during a live migration: prepare refuses a source that a
# read-write server holds; qemu-io writes and verifies patterns on the
# target through NBD while `lbd migration execute` runs in another
# process; after commit the image is what the clients made of it.
source "$(dirname "$0")/lib.sh"
requires qemu-img qemu-io

lbd pool create fast --path "$TMP/fast"
lbd create --size 64M --object-size 1M rbd/vm
make_pattern_file "$TMP/base.raw" $((64 << 20))
head -c $((8 << 20)) /dev/urandom | dd of="$TMP/base.raw" bs=1M seek=40 conv=notrunc status=none
# fill the source through NBD
start_server S rbd/vm --socket "$TMP/s.sock"
qemu-img convert -n -f raw -O raw "$TMP/base.raw" "$S_URI"
expect_fail -e 16 migration prepare rbd/vm fast/vm
expect_match "refusal" "watchers|open" "$ERR"
stop_server S

lbd migration prepare --object-size 256K rbd/vm fast/vm
start_server T fast/vm --socket "$TMP/t.sock"
expect_match "target watcher" "pid=$T_PID mode=read-write" "$(lbd status fast/vm)"
cp "$TMP/base.raw" "$TMP/expect.raw"
"$LBD" migration execute --no-progress --concurrency 2 fast/vm >"$TMP/exec.out" 2>&1 &
exec_pid=$!
CLEANUP+=("kill $exec_pid 2>/dev/null; wait $exec_pid 2>/dev/null")
# writes and reads through NBD while execute copies
for i in $(seq 0 15); do
  off=$(( (i * 7 % 64) << 20 ))
  pat=$(( (i * 37 + 1) % 255 + 1 ))
  out=$(qemu-io -f raw -c "write -P $pat $((off + 4096 * i)) 64k" \
        -c "read -P $pat $((off + 4096 * i)) 64k" "$T_URI" 2>&1) ||
    fail "qemu-io during execute: $out"
  [[ $out != *"verification failed"* ]] || fail "qemu-io during execute: $out"
  python3 -c "
import sys
f = open('$TMP/expect.raw', 'r+b'); f.seek($off + 4096 * $i); f.write(bytes([$pat]) * 65536)"
done
wait $exec_pid || fail "migration execute: $(cat "$TMP/exec.out")"
qemu-img compare -f raw -F raw "$TMP/expect.raw" "$T_URI" >/dev/null ||
  fail "target differs from the expected image during migration"
stop_server T
lbd migration commit --no-progress fast/vm
start_server T fast/vm --socket "$TMP/t.sock" --read-only
qemu-img compare -f raw -F raw "$TMP/expect.raw" "$T_URI" ||
  fail "target differs from the expected image after commit"
stop_server T
echo PASS
