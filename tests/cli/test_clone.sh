#!/usr/bin/env bash
# lbd clone / children / flatten / info's parent, and a flatten killed
# with SIGKILL half-way that a second run finishes.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

head -c 12M /dev/urandom >"$TMP/base.raw"
dd if=/dev/zero of="$TMP/base.raw" bs=1M seek=4 count=2 conv=notrunc status=none
lbd import --no-progress "$TMP/base.raw" base
lbd snap create base@gold
expect_fail -e 22 clone base@gold vm1          # not protected yet
expect_fail -e 22 clone base vm1               # no snapshot named
lbd snap protect base@gold
lbd pool create other
lbd namespace create other/tenant
lbd clone base@gold vm1
lbd clone --object-size 16K base@gold other/tenant/vm2
expect_fail -e 17 clone base@gold vm1
expect_eq "children" $'other/tenant/vm2\nrbd/vm1' "$(lbd children base@gold)"
expect_eq "children json" "vm2 tenant other" \
  "$(lbd children base@gold --format json | json 'd[0]["image"] + " " + d[0]["pool_namespace"] + " " + d[0]["pool"]')"
info=$(lbd info vm1)
[[ $info == *"parent: rbd/base@gold"* && $info == *"overlap: 12 MiB"* ]] ||
  fail "info shows no parent: $info"
expect_eq "info json" "gold 12582912" \
  "$(lbd info other/tenant/vm2 --format json | json 'd["parent"]["snapshot"] + " " + str(d["parent"]["overlap"])')"

# the clone reads the parent snapshot, not the parent's later writes
lbd bench --io-type write --io-size 64K --io-total 1M base >/dev/null
lbd export --no-progress vm1 "$TMP/vm1.raw"
cmp "$TMP/base.raw" "$TMP/vm1.raw" || fail "clone does not read its parent snapshot"
lbd export --no-progress other/tenant/vm2 - | cmp - "$TMP/base.raw" ||
  fail "clone with another layout does not read its parent snapshot"
expect_fail -e 16 snap unprotect base@gold
expect_fail -e 16 snap rm base@gold

# flatten, killed half-way, then finished by a second run
"$LBD" flatten --no-progress other/tenant/vm2 &
pid=$!
sleep 0.05
kill -9 $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
lbd export --no-progress other/tenant/vm2 - | cmp - "$TMP/base.raw" ||
  fail "a killed flatten changed the clone's bytes"
# (a fast machine may have finished it before the kill: then it has no
# parent left, and a second flatten is refused, as below)
if [[ $(lbd info other/tenant/vm2) == *parent:* ]]; then
  lbd flatten --no-progress other/tenant/vm2
fi
[[ $(lbd info other/tenant/vm2) != *parent:* ]] || fail "flatten left the parent link"
expect_eq "children after flatten" "rbd/vm1" "$(lbd children base@gold)"
lbd export --no-progress other/tenant/vm2 - | cmp - "$TMP/base.raw" ||
  fail "flatten changed the clone's bytes"
expect_fail -e 22 flatten other/tenant/vm2

# the last clone removed, the snapshot can go, and the parent with it
lbd rm vm1
expect_eq "no children" "" "$(lbd children base@gold)"
lbd snap unprotect base@gold
lbd snap rm base@gold
lbd rm base
lbd export --no-progress other/tenant/vm2 - | cmp - "$TMP/base.raw" ||
  fail "the flattened clone needs its removed parent"
echo "clone: ok"
