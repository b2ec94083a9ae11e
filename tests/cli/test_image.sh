#!/usr/bin/env bash
# create / info / ls / rename / resize / rm round trips, plain and JSON,
# with exact output.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

lbd create img1 --size 1G
lbd create rbd/img2 -s 100 --object-size 1M
lbd create img3 --size 10M --stripe-unit 64K --stripe-count 4 \
  --image-feature layering,exclusive-lock
lbd create --image img4 --size=1537K --order 12 --image-feature layering \
  --image-feature deep-flatten

expect_eq "ls" "img1
img2
img3
img4" "$(lbd ls)"
expect_eq "ls rbd" "$(lbd ls)" "$(lbd list rbd)"
expect_eq "ls json" '["img1","img2","img3","img4"]' "$(lbd ls --format json)"
expect_eq "ls -l" "NAME  SIZE     PARENT  FMT  PROT  LOCK
img1    1 GiB            2            
img2  100 MiB            2            
img3   10 MiB            2            
img4  1.5 MiB            2            " "$(lbd ls -l)"
expect_eq "ls -l json sizes" "[('img1', 1073741824, 2), ('img2', 104857600, 2), ('img3', 10485760, 2), ('img4', 1573888, 2)]" \
  "$(lbd ls -l --format json | json '[(i["image"], i["size"], i["format"]) for i in d]')"

# info, plain: everything but the id and the time is fixed
id=$(lbd info img3 --format json | json 'd["id"]')
expect_match "id" '^[0-9a-f]{12}$' "$id"
info=$(lbd info img3)
expect_eq "info img3" "lbd image 'img3':
	size 10 MiB in 4 objects
	order 22 (4 MiB objects)
	id: $id
	block_name_prefix: lbd_data.$id
	format: 2
	features: layering, striping, exclusive-lock
	stripe unit: 64 KiB
	stripe count: 4" "$(grep -v create_timestamp <<<"$info")"
expect_match "timestamp" $'\tcreate_timestamp: [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}' \
  "$(grep create_timestamp <<<"$info")"

id=$(lbd info rbd/img2 --format json | json 'd["id"]')
expect_eq "info img2" "lbd image 'img2':
	size 100 MiB in 100 objects
	order 20 (1 MiB objects)
	id: $id
	block_name_prefix: lbd_data.$id
	format: 2
	features: layering, exclusive-lock, object-map, deep-flatten" \
  "$(lbd info img2 | grep -v create_timestamp)"

# info, JSON
expect_eq "info json" "img4 1573888 385 12 4096 2 ['layering', 'deep-flatten'] False" \
  "$(lbd info img4 --format json | json '" ".join(map(str, [d["name"], d["size"], d["objects"], d["order"], d["object_size"], d["format"], d["features"], "stripe_unit" in d]))')"
expect_eq "info json striping" "65536 4 ['layering', 'striping', 'exclusive-lock']" \
  "$(lbd info img3 --format json | json '" ".join(map(str, [d["stripe_unit"], d["stripe_count"], d["features"]]))')"
pretty=$(lbd info img4 --format json --pretty-format)
expect_eq "pretty" '{' "$(head -1 <<<"$pretty")"
expect_eq "pretty line 2" '    "name": "img4",' "$(sed -n 2p <<<"$pretty")"
expect_eq "pretty parses" img4 "$(json 'd["name"]' <<<"$pretty")"

# rename, and its alias mv
lbd rename img1 big
lbd mv rbd/big rbd/huge
expect_eq "after rename" "huge
img2
img3
img4" "$(lbd ls)"
expect_fail -e 2 info img1
expect_eq "renamed keeps size" 1073741824 "$(lbd info huge --format json | json 'd["size"]')"

# resize: grow; shrink only with --allow-shrink
lbd resize huge --size 2G
expect_eq "grown" "	size 2 GiB in 512 objects" "$(lbd info huge | sed -n 2p)"
expect_fail -e 22 resize huge --size 1G
[[ $ERR == *--allow-shrink* ]] || fail "shrink refusal does not name --allow-shrink: $ERR"
expect_eq "not shrunk" 2147483648 "$(lbd info huge --format json | json 'd["size"]')"
lbd resize huge --size 512 --allow-shrink
expect_eq "shrunk" "	size 512 MiB in 128 objects" "$(lbd info huge | sed -n 2p)"
lbd resize huge -s 3000K --allow-shrink
expect_eq "odd size" "	size 2.9 MiB in 1 objects" "$(lbd info huge | sed -n 2p)"

# an image of size 0, as rbd allows: made, shown, exported and imported
# (raw, format 2, a diff), grown and shrunk back
lbd resize huge --size 0 --allow-shrink
expect_eq "size 0" "	size 0 B in 0 objects" "$(lbd info huge | sed -n 2p)"
lbd create --size 4K empty0
lbd resize --size 0 --allow-shrink empty0
lbd snap create empty0@s
expect_eq "export of size 0" 0 "$(lbd export --no-progress empty0 - | wc -c)"
: >"$TMP/empty.raw"
lbd import --no-progress "$TMP/empty.raw" empty1
expect_eq "import of an empty file" 0 "$(lbd info empty1 --format json | json 'd["size"]')"
lbd export --no-progress --export-format 2 empty0 "$TMP/empty0.v2" >/dev/null
lbd import --no-progress --export-format 2 "$TMP/empty0.v2" empty2
expect_eq "format 2 of size 0" "s" "$(lbd snap ls empty2 --format json | json 'd[0]["name"]')"
lbd export-diff --no-progress empty0 "$TMP/empty0.diff" >/dev/null
lbd create --size 1M empty3
lbd import-diff --no-progress "$TMP/empty0.diff" empty3
expect_eq "a diff to size 0" 0 "$(lbd info empty3 --format json | json 'd["size"]')"
lbd resize empty0 --size 1M
lbd bench --io-type write --io-size 4K --io-total 4K empty0 >/dev/null
lbd resize empty0 --size 0 --allow-shrink
lbd resize empty0 --size 8K
expect_eq "grown from 0 reads zeroes" 0 "$(lbd export --no-progress empty0 - | tr -d '\0' | wc -c)"
lbd snap purge empty0 >/dev/null 2>&1; lbd snap purge empty2 >/dev/null 2>&1
for i in 0 1 2 3; do lbd rm empty$i >/dev/null 2>&1; done

# rm
lbd rm huge
lbd remove img4
expect_eq "after rm" "img2
img3" "$(lbd ls)"
expect_fail -e 2 rm huge
lbd rm img2
lbd rm rbd/img3
expect_eq "empty ls" "" "$(lbd ls)"
expect_eq "empty ls -l" "" "$(lbd ls -l)"
expect_eq "empty ls json" "[]" "$(lbd ls --format json)"

# --cluster-dir wins over $LBD_CLUSTER; the cluster is made on first use
lbd --cluster-dir "$TMP/other" create elsewhere --size 1
expect_eq "other cluster" elsewhere "$(lbd ls --cluster-dir "$TMP/other")"
expect_eq "this cluster" "" "$(lbd ls)"
expect_eq "default pool" rbd "$(LBD_CLUSTER=$TMP/third lbd pool ls)"
echo OK

# rm shows progress on a terminal (script(1) gives it one).
if command -v script >/dev/null; then
  lbd create --size 64M prog
  lbd bench --io-type write --io-size 4M --io-total 64M --io-pattern seq prog >/dev/null
  out=$(script -qec "$LBD rm prog" /dev/null </dev/null | tr '\r' '\n')
  [[ $out == *"Removing image: 50% complete"* ]] || fail "rm showed no progress: $out"
  [[ $out == *"100% complete...done."* ]] || fail "rm did not finish its progress line: $out"
fi
