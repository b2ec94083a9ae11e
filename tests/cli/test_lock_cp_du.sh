#!/usr/bin/env bash
# lock add/ls/rm (advisory locks that outlive the command that took them),
# cp (same bytes, holes kept, other layouts and pools) and du, with their
# JSON output and bad input.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

lbd create img --size 16M
expect_eq "no locks" "" "$(lbd lock ls img)"
expect_eq "no locks json" "[]" "$(lbd lock ls img --format json)"

# an exclusive lock, still there after `lock add` exited
lbd lock add img mylock
out=$(lbd lock ls img)
expect_match "lock ls" $'^There is 1 exclusive lock on this image.\nLocker +ID +Address *\nclient\\.[0-9]+\\.[0-9]+ +mylock +pid [0-9]+ *$' "$out"
locker=$(lbd lock ls img --format json | json 'd[0]["locker"]')
expect_match "locker" '^client\.[0-9]+\.[0-9]+$' "$locker"
expect_eq "lock json" "mylock" "$(lbd lock ls img --format json | json 'd[0]["id"]')"
expect_match "address" '^pid [0-9]+$' \
  "$(lbd lock ls img --format json | json 'd[0]["address"]')"
expect_fail -e 16 lock add img other
[[ $ERR == *"already held"*"$locker"* ]] || fail "refusal does not name the holder: $ERR"
expect_fail -e 16 lock add img s1 --shared tag
# advisory: IO is not stopped
head -c 4096 /dev/urandom >"$TMP/blk"
lbd import --no-progress "$TMP/blk" small
expect_fail -e 2 lock rm img mylock client.1.1
expect_fail -e 2 lock rm img nolock "$locker"
lbd lock rm img mylock "$locker"
expect_eq "removed" "" "$(lbd lock ls img)"

# shared locks with one tag
lbd lock add img s1 --shared grp
lbd lock add img s2 --shared grp
expect_fail -e 16 lock add img s3 --shared other
expect_fail -e 16 lock add img x
out=$(lbd lock ls img)
expect_eq "shared header" $'There are 2 shared locks on this image.\nLock tag: grp' \
  "$(head -2 <<<"$out")"
expect_eq "shared ids" "s1 s2" \
  "$(lbd lock ls img --format json | json '" ".join(sorted(l["id"] for l in d))')"
[[ $(lbd lock ls img --format json --pretty-format) == *$'\n    {'* ]] ||
  fail "pretty json is not indented"
while read -r id loc; do lbd lock rm img "$id" "$loc"; done < <(
  lbd lock ls img --format json | json '"\n".join(l["id"] + " " + l["locker"] for l in d)')
expect_eq "all removed" "[]" "$(lbd lock ls img --format json)"

# bad input
expect_fail -e 22 lock add img
expect_fail -e 22 lock add img ""
expect_fail -e 22 lock add img id --shared ""
expect_fail -e 22 lock rm img id
expect_fail -e 22 lock add img a b
expect_fail -e 2 lock add nosuch id
expect_fail -e 2 lock ls nosuch
expect_fail -e 22 lock ls img --format xml
expect_fail -e 36 lock add img "$(printf 'x%.0s' {1..200})"
expect_eq "still unlocked" "[]" "$(lbd lock ls img --format json)"

# cp: the same bytes, only the data stored
src=$TMP/disk.raw
truncate -s 20M "$src"
dd if=/dev/urandom of="$src" bs=64k count=20 seek=7 conv=notrunc status=none
dd if=/dev/urandom of="$src" bs=1 count=777 seek=$((20 * 1048576 - 777)) \
  conv=notrunc status=none
lbd import --no-progress "$src" orig --object-size 1M --stripe-unit 64K --stripe-count 3
lbd cp orig copy1
lbd export copy1 - | cmp - "$src"
expect_eq "layout kept" "65536 3 1048576" \
  "$(lbd info copy1 --format json | json '"%d %d %d" % (d["stripe_unit"], d["stripe_count"], d["object_size"])')"
lbd namespace create rbd/ns
lbd pool create other
lbd cp rbd/orig other/copy2 --order 12
lbd export other/copy2 - | cmp - "$src"
lbd cp --pool rbd --image orig --dest-pool rbd --dest-namespace ns --dest copy3
lbd export rbd/ns/copy3 - | cmp - "$src"
lbd copy orig copy4 --object-size 8M --no-progress
lbd export copy4 - | cmp - "$src"
# progress on a terminal, when there is one to fake
if command -v script >/dev/null; then
  out=$(script -qec "$LBD cp orig copy5" /dev/null </dev/null | tr '\r' '\n')
  [[ $out == *"Image copy: 100% complete...done."* ]] || fail "no progress: $out"
  lbd rm copy5
fi
out=$(lbd cp orig copy6 2>&1)
expect_eq "no progress off a terminal" "" "$out"
lbd rm copy6

# cp failures leave nothing behind and the destination untouched
before=$(lbd ls)
expect_fail -e 17 cp orig copy1
expect_fail -e 2 cp nosuch x
expect_fail -e 22 cp orig
expect_fail -e 22 cp orig bad@snap
expect_fail -e 22 cp orig x --object-size 3K
expect_fail -e 2 cp orig nopool/x
expect_eq "no partial copies" "$before" "$(lbd ls)"
lbd export copy1 - | cmp - "$src"

# du: provisioned and used (1.25 MiB + one 4 KiB block of data)
used=$((20 * 65536 + 4096))
expect_eq "du one" "NAME   PROVISIONED  USED   
copy1       20 MiB  1.3 MiB" "$(lbd du copy1)"
expect_eq "du json" "$((20 * 1048576)) $used" \
  "$(lbd du copy1 --format json | json '"%d %d" % (d["images"][0]["provisioned_size"], d["images"][0]["used_size"])')"
out=$(lbd du)
expect_match "du total" $'\n<TOTAL> +[0-9.]+ MiB +[0-9.]+ MiB *$' "$out"
expect_eq "du images" "copy1 copy4 img orig small" \
  "$(lbd du --format json | json '" ".join(i["name"] for i in d["images"])')"
expect_eq "du totals" "$(( 20 * 1048576 * 3 + 16 * 1048576 + 4096 )) $(( used * 3 + 4096 ))" \
  "$(lbd du --format json | json '"%d %d" % (d["total_provisioned_size"], d["total_used_size"])')"
expect_eq "du img" "0" "$(lbd du img --format json | json 'd["images"][0]["used_size"]')"
expect_eq "du ns" "copy3" \
  "$(lbd du --pool rbd --namespace ns --format json | json '" ".join(i["name"] for i in d["images"])')"
lbd pool create empty
expect_eq "du empty pool json" '{"images":[],"total_provisioned_size":0,"total_used_size":0}' \
  "$(lbd du --pool empty --format json)"
expect_eq "du empty pool" "" "$(lbd du --pool empty)"
expect_fail -e 2 du nosuch
expect_fail -e 2 du --pool nopool
echo OK
