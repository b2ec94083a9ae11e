#!/usr/bin/env bash
# nbdinfo and nbdcopy (libnbd) against `lbd nbd serve`: info, list, the
# allocation map with holes, copies in both directions; a snapshot is
# served read-only.
source "$(dirname "$0")/lib.sh"
requires nbdinfo nbdcopy

lbd create --size 8M --object-size 1M rbd/disk
make_pattern_file "$TMP/src.raw" $((8 << 20))
truncate -s 8M "$TMP/src.raw"

start_server S rbd/disk --socket "$TMP/s.sock" --export-name disk0
info=$(nbdinfo --json "$S_URI")
expect_eq "size" 8388608 "$(json 'd["exports"][0]["export-size"]' <<<"$info")"
expect_eq "name" disk0 "$(json 'd["exports"][0]["export-name"]' <<<"$info")"
expect_eq "description" rbd/disk "$(json 'd["exports"][0]["description"]' <<<"$info")"
expect_eq "read-only" False "$(json 'd["exports"][0]["is_read_only"]' <<<"$info")"
expect_eq "protocol" newstyle-fixed "$(json 'd["protocol"]' <<<"$info")"
expect_eq "structured" True "$(json 'd["structured"]' <<<"$info")"
expect_eq "contexts" "['base:allocation']" "$(json 'd["exports"][0]["contexts"]' <<<"$info")"
for cap in can_flush can_fua can_trim can_zero can_df; do
  expect_eq "$cap" True "$(json "d['exports'][0]['$cap']" <<<"$info")"
done
expect_eq "multi-conn with --shared 1" False "$(json 'd["exports"][0]["can_multi_conn"]' <<<"$info")"
expect_eq "block size" 4096 "$(json 'd["exports"][0]["block_size_preferred"]' <<<"$info")"
# the list of exports
list=$(nbdinfo --list --json "nbd+unix:///?socket=$TMP/s.sock")
expect_eq "list" "['disk0']" "$(json '[e["export-name"] for e in d["exports"]]' <<<"$list")"

# a fresh image is one hole
map=$(nbdinfo --map "$S_URI")
expect_match "empty map" '^ +0 +8388608 +3 +hole,zero$' "$map"

# nbdcopy in, map shows data and holes, nbdcopy out
nbdcopy "$TMP/src.raw" "$S_URI"
map=$(nbdinfo --map --json "$S_URI")
python3 - "$map" <<'PY' || fail "map after copy: $map"
import json, sys
m = json.loads(sys.argv[1])
data = [(e["offset"], e["length"]) for e in m if e["type"] == 0]
holes = [(e["offset"], e["length"]) for e in m if e["type"] == 3]
assert sum(l for _, l in data) + sum(l for _, l in holes) == 8 << 20, m
assert any(o <= 5 * 65536 < o + l for o, l in data), m   # the random block
assert any(o <= 4 << 20 < o + l for o, l in holes), m      # never written
assert all(e["type"] in (0, 3) for e in m), m
PY
nbdcopy "$S_URI" "$TMP/out.raw"
cmp "$TMP/src.raw" "$TMP/out.raw" || fail "nbdcopy out differs"
# nbdcopy between two exports of lbd: a copy of the image
lbd create --size 8M rbd/copy
start_server C rbd/copy --socket "$TMP/c.sock"
nbdcopy "$S_URI" "$C_URI"
nbdcopy "$C_URI" "$TMP/copy.raw"
cmp "$TMP/src.raw" "$TMP/copy.raw" || fail "nbdcopy between exports"
# the holes of the source stay holes in the copy
expect_match "copy map" 'hole,zero' "$(nbdinfo --map "$C_URI")"
stop_server C
stop_server S

# a snapshot: served read-only, with the bytes of its moment
lbd snap create rbd/disk@s1
start_server S rbd/disk@s1 --socket "$TMP/s.sock"
expect_match "snapshot status" "pid=$S_PID mode=read-only" "$(lbd status rbd/disk)"
info=$(nbdinfo --json "$S_URI")
expect_eq "snapshot read-only" True "$(json 'd["exports"][0]["is_read_only"]' <<<"$info")"
expect_eq "snapshot description" rbd/disk@s1 "$(json 'd["exports"][0]["description"]' <<<"$info")"
lbd bench --io-type write --io-total 64K rbd/disk >/dev/null  # the head moves on
nbdcopy "$S_URI" "$TMP/snap.raw"
cmp "$TMP/src.raw" "$TMP/snap.raw" || fail "snapshot bytes"
if nbdcopy "$TMP/src.raw" "$S_URI" 2>"$TMP/err"; then
  fail "nbdcopy into a snapshot succeeded"
fi
stop_server S
echo PASS
