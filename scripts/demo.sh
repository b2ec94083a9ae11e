#!/bin/sh
# lbd's main job on the embedded store.  Until live migration lands, this is
# a tour: the object store underneath, then the lbd command on top of it:
# a sparse VM disk imported, inspected, written while open, and exported
# back bit for bit.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lbd="$here/build/lbd"
dir=${LBD_DEMO_DIR:-$(mktemp -d /tmp/lbd-demo-XXXXXX)}
trap 'rm -rf "$dir"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "The object store (src/objstore): pools on two directories, snapshots, locks"
"$here/build/lbd-objstore-demo" "$dir/objstore" "$dir/second-disk"

export LBD_CLUSTER="$dir/cluster"
step "A 1 GiB VM disk image with 8 MiB of data and holes"
truncate -s 1G "$dir/vm1.raw"
dd if=/dev/urandom of="$dir/vm1.raw" bs=1M count=4 conv=notrunc status=none
dd if=/dev/urandom of="$dir/vm1.raw" bs=1M count=4 seek=512 conv=notrunc status=none
echo "\$ du -h vm1.raw; ls -l vm1.raw"
du -h "$dir/vm1.raw" | sed "s|$dir/||"
ls -l "$dir/vm1.raw" | sed "s|$dir/||"

step "lbd import (the cluster $LBD_CLUSTER is made on first use, with pool rbd)"
"$lbd" import --no-progress "$dir/vm1.raw" rbd/vm1
"$lbd" pool create fast --path "$dir/fast-disk"
"$lbd" create --size 256M --object-size 1M --stripe-unit 64K --stripe-count 4 fast/scratch
"$lbd" ls -l
"$lbd" ls -l fast
"$lbd" info rbd/vm1

step "lbd status: who has the image open"
"$lbd" status rbd/vm1

step "lbd export, and the bytes compared with the original"
"$lbd" export --no-progress rbd/vm1 "$dir/vm1.export"
cmp "$dir/vm1.raw" "$dir/vm1.export" && echo "identical: $(du -h "$dir/vm1.export" | cut -f1) on disk, holes kept"

step "lbd bench: 4 KiB random writes"
"$lbd" bench --io-type write --io-size 4K --io-pattern rand --io-total 16M rbd/vm1 | tail -3

step "Clean up"
"$lbd" rm --no-progress rbd/vm1
"$lbd" rm --no-progress fast/scratch
"$lbd" ls -l
"$lbd" ls -l fast
echo "Done."
