#!/usr/bin/env bash
# lbd snap create / ls / rm, and reading a snapshot back with export.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

head -c 6M /dev/urandom >"$TMP/v1.raw"
lbd import --no-progress "$TMP/v1.raw" vm
lbd snap create vm@before
lbd export --no-progress vm - >"$TMP/live.raw"
cmp "$TMP/v1.raw" "$TMP/live.raw" || fail "live image differs before any write"
# bench overwrites the first 2 MiB of the live image
lbd bench --io-type write --io-size 1M --io-total 2M --io-pattern seq vm >/dev/null
lbd export --no-progress vm@before "$TMP/snap.raw"
cmp "$TMP/v1.raw" "$TMP/snap.raw" || fail "the snapshot changed after a write"
lbd export --no-progress vm "$TMP/live2.raw"
cmp -s "$TMP/v1.raw" "$TMP/live2.raw" && fail "the live image did not change"

out=$(lbd snap ls vm)
[[ $out == "SNAPID  NAME    SIZE   PROTECTED  TIMESTAMP"* ]] || fail "snap ls header: $out"
[[ $out == *"before  6 MiB"* ]] || fail "snap ls row: $out"
expect_eq "json" "before 6291456" "$(lbd snap ls vm --format json | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]; print(s["name"], s["size"])')"

expect_fail -e 17 snap create vm@before
expect_fail -e 2 snap rm vm@nope
expect_fail -e 22 snap create vm
expect_fail -e 22 snap ls vm@before
expect_fail -e 2 export --no-progress vm@nope "$TMP/x.raw"
expect_fail -e 39 rm vm

# rollback: the live image (changed by bench above) is the snapshot again
lbd snap rollback --no-progress vm@before
lbd export --no-progress vm "$TMP/rolled.raw"
cmp "$TMP/v1.raw" "$TMP/rolled.raw" || fail "rollback did not restore the snapshot"
expect_fail -e 2 snap rollback vm@nope

# protect, rename, purge
lbd snap create vm@second
lbd snap protect vm@before
expect_fail -e 16 snap rm vm@before
expect_fail -e 17 snap rename vm@second vm@before
expect_fail -e 22 snap rename vm@second other@third
lbd snap rename vm@second vm@third
expect_fail -e 16 snap purge vm
expect_eq "purge kept the protected one" "before" "$(lbd snap ls vm --format json | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)))')"
lbd export --no-progress vm@before "$TMP/snap2.raw"
cmp "$TMP/v1.raw" "$TMP/snap2.raw" || fail "the protected snapshot changed"
lbd snap unprotect vm@before
lbd snap rm vm@before
expect_eq "no snapshots" "" "$(lbd snap ls vm)"
lbd rm --no-progress vm
expect_eq "gone" "" "$(lbd ls)"

# snapshot limit
lbd create --size 1M lim
lbd snap limit set --limit 1 lim
lbd snap create lim@one
expect_fail -e 122 snap create lim@two
expect_fail -e 22 snap limit set lim
lbd snap limit clear lim
lbd snap create lim@two
expect_eq "two snapshots" "one two" "$(lbd snap ls lim --format json | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)))')"
