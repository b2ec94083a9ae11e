#!/usr/bin/env bash
# status lists the processes that have an image open; bench reports as rbd
# bench does; an image in use cannot be removed or written by another.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

lbd create img --size 16M
expect_eq "no watchers" "Watchers: none" "$(lbd status img)"
expect_eq "no watchers json" '{"watchers":[]}' "$(lbd status img --format json)"

out=$(lbd bench --io-type write --io-size 64K --io-total 4M --io-threads 4 img)
expect_eq "bench header" \
  "bench  type write io_size 65536 io_threads 4 bytes 4194304 pattern sequential
  SEC       OPS   OPS/SEC   BYTES/SEC" "$(head -2 <<<"$out")"
expect_match "bench total" \
  '^elapsed: +[0-9]+  ops: +64  ops/sec: +[0-9.]+  bytes/sec: +[0-9.]+$' \
  "$(tail -1 <<<"$out")"
out=$(lbd bench img --io-type read --io-pattern rand --io-total 1M --io-threads 1)
expect_match "bench read" 'pattern random' "$(head -1 <<<"$out")"
expect_match "bench read total" 'ops: +256 ' "$(tail -1 <<<"$out")"
# the written data is there: 4 MiB of one non-zero byte from offset 0
lbd export img "$TMP/img.raw"
expect_eq "written bytes" 4194304 "$(head -c 4194304 "$TMP/img.raw" | tr -d '\000' | wc -c)"
expect_eq "unwritten bytes" 0 "$(tail -c +4194305 "$TMP/img.raw" | tr -d '\000' | wc -c)"

# a writer that holds the image open (and its exclusive lock) a while
"$LBD" bench --io-type write --io-threads 1 --io-total 1T img >/dev/null 2>&1 &
holder=$!
CLEANUP+=("kill $holder 2>/dev/null; wait $holder 2>/dev/null")
for _ in $(seq 100); do
  [[ $(lbd status img) == "Watchers: none" ]] || break
  sleep 0.1
done
expect_eq "watcher" "Watchers:
	watcher=client.$holder.1 pid=$holder mode=read-write" "$(lbd status img)"
expect_eq "watcher json" "[($holder, 'read-write')]" \
  "$(lbd status img --format json | json '[(w["pid"], w["mode"]) for w in d["watchers"]]')"
expect_fail -e 16 rm img
[[ $ERR == *"$holder"* ]] || fail "rm refusal does not name the holder: $ERR"
expect_fail -e 16 resize img --size 32M
expect_fail -e 16 bench img --io-type write --io-total 4K
lbd bench img --io-type read --io-total 64K --io-threads 1 >/dev/null
lbd info img >/dev/null

kill -INT $holder
rc=0
wait $holder || rc=$?
(( rc != 0 )) || fail "an interrupted bench exited 0"
expect_eq "watcher gone" "Watchers: none" "$(lbd status img)"
lbd resize img --size 32M
lbd rm img
echo OK
