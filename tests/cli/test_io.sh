#!/usr/bin/env bash
# import and export: data round trips through files and pipes, holes kept
# both ways, several layouts, failures that leave nothing behind.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

# 20 MiB + 1000 bytes: random data at a few places, holes elsewhere, and a
# tail that does not fill a block
src=$TMP/disk.raw
size=$((20 * 1048576 + 1000))
truncate -s $size "$src"
dd if=/dev/urandom of="$src" bs=1M count=2 seek=3 conv=notrunc status=none
dd if=/dev/urandom of="$src" bs=4k count=3 seek=5000 conv=notrunc status=none
dd if=/dev/urandom of="$src" bs=1 count=1500 seek=$((size - 1500)) \
  conv=notrunc status=none
data_blocks=$(blocks "$src")

# file -> image -> file; the name defaults to the file's
lbd import "$src"
expect_eq "imported" "disk.raw" "$(lbd ls)"
expect_eq "size" $size "$(lbd info disk.raw --format json | json 'd["size"]')"
lbd export disk.raw "$TMP/out.raw"
cmp "$src" "$TMP/out.raw"
expect_eq "export size" $size "$(stat -c %s "$TMP/out.raw")"
# the holes stay holes: the copy takes no more room than the source
(( $(blocks "$TMP/out.raw") <= data_blocks + 16 )) ||
  fail "export is not sparse: $(blocks "$TMP/out.raw") blocks vs $data_blocks"
# and the image itself stores about the data only
(( $(du -sk "$LBD_CLUSTER" | cut -f1) < 8192 )) ||
  fail "cluster takes $(du -sk "$LBD_CLUSTER") for 2 MiB of data"

# export never overwrites
echo keep >"$TMP/exists"
expect_fail -e 17 export disk.raw "$TMP/exists"
expect_eq "untouched" keep "$(cat "$TMP/exists")"

# pipes both ways
dd if="$src" bs=64k status=none | lbd import - rbd/piped
lbd export piped - | cmp - "$src"
lbd export --path - piped | cmp - "$src"
lbd import - redirected <"$src"   # stdin is a regular file: holes skipped
lbd export redirected - | cmp - "$src"
lbd rm redirected

# a pipe longer than the first guess of the image size (64 MiB) grows it
{ head -c $((70 * 1048576)) /dev/zero; head -c 3000 "$src"; } |
  lbd import - long
expect_eq "grown to the input" $((70 * 1048576 + 3000)) \
  "$(lbd info long --format json | json 'd["size"]')"
lbd export long - | tail -c 3000 | cmp - <(head -c 3000 "$src")

# other layouts, and a namespace
lbd namespace create rbd/ns1
for layout in "--object-size 64K --stripe-unit 16K --stripe-count 3" \
              "--order 12" "--stripe-unit 4K --stripe-count 7" \
              "--object-size 32M"; do
  # shellcheck disable=SC2086
  lbd import $layout --no-progress "$src" rbd/ns1/layout
  lbd export rbd/ns1/layout - | cmp - "$src" || fail "layout $layout"
  lbd rm rbd/ns1/layout
done

# import into an existing image fails and leaves it alone
head -c 5000 /dev/urandom >"$TMP/small"
expect_fail -e 17 import "$TMP/small" piped
lbd export piped - | cmp - "$src"

# shrinking drops the data past the new end; growing back reads zeroes
lbd resize piped --size 4M --allow-shrink
lbd resize piped --size 20M
lbd export piped "$TMP/regrown"
cmp -n $((4 * 1048576)) "$src" "$TMP/regrown"
cmp <(tail -c +$((4 * 1048576 + 1)) "$TMP/regrown") \
    <(head -c $((16 * 1048576)) /dev/zero)

# an empty file or stream is an image of size 0 (as rbd import makes)
: >"$TMP/empty"
lbd import "$TMP/empty" empty-file
lbd import - empty-stream </dev/null
expect_eq "empty stream" 0 "$(lbd info empty-stream --format json | json 'd["size"]')"
lbd rm empty-file >/dev/null 2>&1; lbd rm empty-stream >/dev/null 2>&1

# failures leave no image behind
before=$(lbd ls)
expect_fail -e 2 import "$TMP/missing"
expect_fail import "$TMP" dirimage            # read fails after the create
expect_fail -e 22 import "$src" badlayout --object-size 3K
expect_fail -e 22 import -
expect_eq "no partial images" "$before" "$(lbd ls)"
expect_fail -e 2 export nope "$TMP/nope"
[[ ! -e $TMP/nope ]] || fail "export of a missing image made a file"
echo OK
