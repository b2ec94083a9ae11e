#!/bin/sh
# lbd's main job on the embedded store: a live migration you can watch.
# A VM disk with data, holes and two snapshots moves from the cluster's own
# pool to a pool on another directory (think: another disk), with a new
# object size, while a client keeps writing it; then every byte of the head
# and of every snapshot is checked.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lbd="$here/build/lbd"
dir=${LBD_DEMO_DIR:-$(mktemp -d /tmp/lbd-demo-XXXXXX)}
trap 'rm -rf "$dir"' EXIT
export LBD_CLUSTER="$dir/cluster"
step() { printf '\n== %s\n' "$*"; }
show() { echo "\$ lbd $*"; "$lbd" "$@"; }
sums() { # IMAGE: BLAKE2 checksums of its head and of each snapshot
  for s in "" @monday @tuesday; do
    printf '%-9s %s\n' "${s:-HEAD}" \
      "$("$lbd" export --no-progress "$1$s" - | b2sum -l 64 | cut -c1-16)"
  done
}

step "Two pools: rbd in the cluster directory, ssd on another directory"
show pool create ssd --path "$dir/second-disk"
show pool ls

step "A 1 GiB VM disk: 192 MiB of data, the rest holes; snapshots monday and tuesday"
truncate -s 1G "$dir/vm1.raw"
dd if=/dev/urandom of="$dir/vm1.raw" bs=1M count=128 conv=notrunc status=none
dd if=/dev/urandom of="$dir/vm1.raw" bs=1M count=64 seek=700 conv=notrunc status=none
show import --no-progress "$dir/vm1.raw" rbd/vm1
show snap create rbd/vm1@monday
"$lbd" bench --io-type write --io-size 64K --io-pattern rand --io-total 32M rbd/vm1 >/dev/null
show snap create rbd/vm1@tuesday
"$lbd" bench --io-type write --io-size 4K --io-pattern rand --io-total 4M rbd/vm1 >/dev/null
show info rbd/vm1
show du rbd/vm1
echo "checksums before the migration:"
sums rbd/vm1 | tee "$dir/before"

step "prepare: the image moves to ssd with 1 MiB objects, in milliseconds"
start=$(date +%s%N)
show migration prepare --object-size 1M rbd/vm1 ssd/vm1
echo "(prepare took $(( ($(date +%s%N) - start) / 1000000 )) ms)"
show status ssd/vm1
show trash ls --all
echo "the target already reads every byte (its data still sits in rbd):"
sums ssd/vm1 | tee "$dir/prepared"
cmp -s "$dir/before" "$dir/prepared" && echo "same checksums"
echo "the source is read-only and out of sight:"
"$lbd" info rbd/vm1 2>&1 || true

step "execute, while a client writes 4 KiB blocks all over the target"
"$lbd" bench --io-type write --io-size 4K --io-pattern rand --io-total 24M \
  --io-threads 2 ssd/vm1 >"$dir/bench.out" &
writer=$!
show migration execute ssd/vm1
wait $writer
echo "the client's writes: $(tail -1 "$dir/bench.out")"
show status ssd/vm1

step "commit: the source goes, with its snapshots and data"
echo "what clients see now:"
sums ssd/vm1 | tee "$dir/executed"
show migration commit ssd/vm1
show trash ls --all
show info ssd/vm1
show du ssd/vm1

step "Every byte checked: snapshots as before the migration, the head as clients left it"
sums ssd/vm1 | tee "$dir/after"
grep -v HEAD "$dir/before" >"$dir/b.snaps"
grep -v HEAD "$dir/after" >"$dir/a.snaps"
cmp "$dir/b.snaps" "$dir/a.snaps" && echo "snapshots: identical to before the migration"
cmp "$dir/executed" "$dir/after" && echo "head: identical to what clients saw before the commit"
[ "$(grep HEAD "$dir/before")" != "$(grep HEAD "$dir/after")" ] &&
  echo "(and it differs from the source's head by the client's writes)"
echo "Done: a live migration between two directories, nothing lost."
