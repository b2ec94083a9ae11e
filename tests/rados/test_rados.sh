#!/bin/sh
# The rados backend against a real (one-node, throw-away) Ceph cluster:
#  1. the objstore conformance programs with LBD_TEST_BACKEND=rados;
#  2. lbd's CLI: a pool on the cluster next to local pools, an image with
#     snapshots imported into it (rbd's export format 2) and exported back,
#     and live migration local -> rados -> local with snapshots and a
#     client write between prepare and execute, checked bit for bit;
#     diff, du, export-diff chains and export v2 of RADOS images (list-snaps)
#     byte for byte the same as of local images of the same data.
# usage: test_rados.sh BUILD_DIR SOURCE_DIR
# Skips (77) where the Ceph daemons are missing and cannot be installed.
set -eu
build=$1
src=$2

requires() {
  if ! command -v ceph-mon >/dev/null 2>&1 && [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the Ceph daemons are not installed and this is not root"
    exit 77
  fi
}
requires

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lbd-rados-XXXXXX")
ceph_dir="$tmp/ceph"
cleanup() {
  "$src/scripts/ceph-test-cluster.sh" stop "$ceph_dir" || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

t0=$(date +%s)
"$src/scripts/ceph-test-cluster.sh" start "$ceph_dir"
conf="$ceph_dir/ceph.conf"
echo "cluster up in $(( $(date +%s) - t0 )) s"

# ---- 1. conformance ------------------------------------------------------
fails=0
for t in objects ops pools snaps holders history; do
  prog="$build/tests/objstore/objstore_test_conformance_$t"
  if ! LBD_TEST_BACKEND=rados LBD_TEST_CEPH_CONF="$conf" \
       CMOCKA_MESSAGE_OUTPUT=stdout "$prog"; then
    echo "FAIL: conformance $t on rados"
    fails=$((fails + 1))
  fi
done
[ $fails -eq 0 ] || { echo "FAIL: $fails conformance program(s)"; exit 1; }

# ---- 2. the CLI ---------------------------------------------------------------
lbd() { "$build/lbd" --cluster-dir "$tmp/cluster" "$@"; }
check_same() { # what file-a file-b
  if ! cmp -s "$2" "$3"; then
    echo "FAIL: $1: $2 and $3 differ"
    case $1 in *diff\ *|*du\ *) diff "$2" "$3" | head -20 ;; esac
    exit 1
  fi
}
lbd pool create ceph --backend rados --ceph-conf "$conf" --rados-pool lbd-cli
lbd pool ls -l | grep -q "rados://lbd-cli" || { echo "FAIL: pool ls"; exit 1; }

# Versions of an 8 MiB disk with holes: v0 < v1 < v2 < v3, each adding data.
mk() { head -c "$2" /dev/urandom > "$tmp/$1"; }
put() { # version-file data-file offset-in-64K-blocks
  dd if="$tmp/$2" of="$tmp/$1" bs=65536 seek="$3" conv=notrunc status=none
}
truncate -s 8M "$tmp/v0.raw"
mk a 1048576; mk b 524288; mk c 65536; mk d 131072
put v0.raw a 0
cp "$tmp/v0.raw" "$tmp/v1.raw"; put v1.raw b 40; put v1.raw c 100
cp "$tmp/v1.raw" "$tmp/v2.raw"; put v2.raw d 8; put v2.raw c 127; put v2.raw c 44
cp "$tmp/v2.raw" "$tmp/v3.raw"; put v3.raw d 20; put v3.raw b 64
# Bring IMAGE's head to version V: a full diff of V applied on top (each
# version holds the data of the one before).
to_version() { # image version
  lbd import --object-size 1M "$tmp/$2.raw" "rbd/scratch-$2"
  lbd export-diff "rbd/scratch-$2" "$tmp/$2.diff" >/dev/null
  lbd rm "rbd/scratch-$2" >/dev/null
  lbd import-diff "$tmp/$2.diff" "$1" >/dev/null
}
expect() { # image@snap version
  rm -f "$tmp/got.raw"
  lbd export "$1" "$tmp/got.raw" >/dev/null
  check_same "$1 as $2" "$tmp/got.raw" "$tmp/$2.raw"
}

lbd import --object-size 1M "$tmp/v0.raw" rbd/base >/dev/null
lbd snap create rbd/base@s1
to_version rbd/base v1
lbd snap create rbd/base@s2
to_version rbd/base v2
expect rbd/base@s1 v0; expect rbd/base@s2 v1; expect rbd/base v2

# Import with snapshots into the RADOS pool, export back.
lbd export --export-format 2 rbd/base "$tmp/base.v2" >/dev/null
lbd import --export-format 2 "$tmp/base.v2" ceph/imported >/dev/null
lbd snap ls ceph/imported | grep -q s2 || { echo "FAIL: snapshots"; exit 1; }
expect ceph/imported@s1 v0; expect ceph/imported@s2 v1; expect ceph/imported v2
echo "import/export with snapshots through rados: ok"

# What list-snaps and sparse reads of RADOS give (src/objstore/rados/
# rados_snaps.cc): diff, du, export-diff and export v2 of a RADOS image
# with snapshots, each against the same of the local image it came from
# (same layout and data), and applied or imported into local images.
# IMAGE_RADOS IMAGE_LOCAL TAG: every diff and du the same, export-diff
# chains s1 -> s2 -> head and export v2 byte for byte the same, and what
# they bring into local images reads as v0, v1, VHEAD.
diffs_same() { # rados-image local-image head-version tag
  r=$1 l=$2 vh=$3 tag=$4
  for spec in "" "--from-snap s1" "--from-snap s2" "--whole-object"; do
    for at in "" @s2; do
      [ "$spec" = "--from-snap s2" ] && [ "$at" = @s2 ] && continue
      # shellcheck disable=SC2086
      lbd diff $spec "$r$at" > "$tmp/diff.r"
      # shellcheck disable=SC2086
      lbd diff $spec "$l$at" > "$tmp/diff.l"
      [ -s "$tmp/diff.l" ] || { echo "FAIL: $tag: empty diff $spec $l$at"; exit 1; }
      check_same "$tag: diff $spec $r$at" "$tmp/diff.r" "$tmp/diff.l"
    done
  done
  for at in "" @s1 @s2; do
    lbd du "$r$at" | awk '{ $1 = ""; print }' > "$tmp/du.r"
    lbd du "$l$at" | awk '{ $1 = ""; print }' > "$tmp/du.l"
    check_same "$tag: du $r$at" "$tmp/du.r" "$tmp/du.l"
  done
  rm -f "$tmp"/ed-*
  lbd export-diff "$r@s1" "$tmp/ed-r1" >/dev/null
  lbd export-diff --from-snap s1 "$r@s2" "$tmp/ed-r2" >/dev/null
  lbd export-diff --from-snap s2 "$r" "$tmp/ed-r3" >/dev/null
  lbd export-diff "$l@s1" "$tmp/ed-l1" >/dev/null
  lbd export-diff --from-snap s1 "$l@s2" "$tmp/ed-l2" >/dev/null
  lbd export-diff --from-snap s2 "$l" "$tmp/ed-l3" >/dev/null
  for i in 1 2 3; do
    check_same "$tag: export-diff $i" "$tmp/ed-r$i" "$tmp/ed-l$i"
  done
  lbd create --size 8M --object-size 1M "rbd/applied-$tag"
  for i in 1 2 3; do
    lbd import-diff "$tmp/ed-r$i" "rbd/applied-$tag" >/dev/null
  done
  expect "rbd/applied-$tag@s1" v0; expect "rbd/applied-$tag@s2" v1
  expect "rbd/applied-$tag" "$vh"
  rm -f "$tmp/x-r.v2" "$tmp/x-l.v2"
  lbd export --export-format 2 "$r" "$tmp/x-r.v2" >/dev/null
  lbd export --export-format 2 "$l" "$tmp/x-l.v2" >/dev/null
  check_same "$tag: export v2" "$tmp/x-r.v2" "$tmp/x-l.v2"
  lbd import --export-format 2 "$tmp/x-r.v2" "rbd/v2-$tag" >/dev/null
  expect "rbd/v2-$tag@s1" v0; expect "rbd/v2-$tag@s2" v1
  expect "rbd/v2-$tag" "$vh"
  lbd rm "rbd/applied-$tag" >/dev/null 2>&1 || true
  lbd snap purge "rbd/v2-$tag" >/dev/null 2>&1 || true
  lbd rm "rbd/v2-$tag" >/dev/null 2>&1 || true
}
diffs_same ceph/imported rbd/base v2 imported
echo "diff, du, export-diff, export v2 of a rados image: ok"

# Live migration local -> rados, a client write between prepare and
# execute (copy-up of whole histories into RADOS), then rados -> local.
lbd migration prepare rbd/base ceph/moved
to_version ceph/moved v3
lbd migration execute ceph/moved >/dev/null
lbd migration commit ceph/moved >/dev/null
expect ceph/moved@s1 v0; expect ceph/moved@s2 v1; expect ceph/moved v3
echo "migration local -> rados: ok"
# Its objects' snapshot histories were written by copy-up and execute
# (create_history): the same diffs as a local image migrated the same way.
lbd import --export-format 2 "$tmp/base.v2" rbd/base-copy >/dev/null
lbd migration prepare rbd/base-copy rbd/moved-local
rm -f "$tmp/v3.diff"; to_version rbd/moved-local v3
lbd migration execute rbd/moved-local >/dev/null
lbd migration commit rbd/moved-local >/dev/null
diffs_same ceph/moved rbd/moved-local v3 moved
echo "diffs of a migrated rados image: ok"
lbd migration prepare ceph/moved rbd/back
lbd migration execute rbd/back >/dev/null
lbd migration commit rbd/back >/dev/null
expect rbd/back@s1 v0; expect rbd/back@s2 v1; expect rbd/back v3
echo "migration rados -> local: ok"

lbd pool rm ceph --force >/dev/null
# The RADOS pool lbd made goes with it; one it found is left as it was.
# ceph ARGS..., tried up to five times (a busy monitor may time a command
# out), its output shown if it fails for good.
ceph_cmd() {
  for try in 1 2 3 4 5; do
    ceph -c "$conf" --connect-timeout 30 "$@" >"$tmp/ceph.out" 2>&1 && return 0
    sleep 1
  done
  echo "FAIL: ceph $*:"; cat "$tmp/ceph.out"; exit 1
}
ceph_cmd osd pool ls
if grep -qx lbd-cli "$tmp/ceph.out"; then
  echo "FAIL: pool rm left the RADOS pool lbd made"; exit 1
fi
ceph_cmd osd pool create found 1
lbd pool create found --backend rados --ceph-conf "$conf"
lbd create --size 4M found/img
lbd pool rm found --force >/dev/null
ceph_cmd osd pool ls
grep -qx found "$tmp/ceph.out" || { echo "FAIL: pool rm deleted a RADOS pool lbd did not make"; exit 1; }
echo "pool rm: ok"

# A watch the OSD dropped (its holder stopped past the watch timeout, 5 s
# here) is registered again as soon as the holder runs: until then others
# take the image for unused (migration prepare would go ahead under it).
lbd pool create rw --backend rados --ceph-conf "$conf" --rados-pool lbd-rewatch
lbd create --size 16M rw/img
"$build/lbd" --cluster-dir "$tmp/cluster" nbd serve rw/img \
  --socket "$tmp/rw.sock" >"$tmp/rw.log" 2>&1 &
server=$!
i=0
until lbd status rw/img | grep -q "pid=$server"; do
  i=$((i + 1)); [ $i -lt 50 ] || { echo "FAIL: no watcher"; exit 1; }
  sleep 0.2
done
kill -STOP $server
sleep 12
lost=$(lbd status rw/img | grep -c "pid=$server" || true)
kill -CONT $server
i=0
until lbd status rw/img | grep -q "pid=$server"; do
  i=$((i + 1))
  [ $i -lt 60 ] || { kill $server; echo "FAIL: the lost watch never came back (lost: $lost)"; exit 1; }
  sleep 0.5
done
if lbd migration prepare rw/img rw/img2 2>/dev/null; then
  kill $server; echo "FAIL: prepare under a live client"; exit 1
fi
kill $server; wait $server 2>/dev/null || true
lbd pool rm rw --force >/dev/null
echo "watch registered again after a loss (it was lost: $([ "$lost" = 0 ] && echo yes || echo no)): ok"

# A full pool (a quota reached): writes and creates fail at once with a
# clear ENOSPC and leave nothing behind, reads go on, a removal frees space
# (librados alone would make every write, and even opening an image, wait
# for space without end).
lbd pool create quota --backend rados --ceph-conf "$conf" --rados-pool lbd-quota
fail() { echo "FAIL: $*"; exit 1; }
head -c 24M /dev/urandom >"$tmp/a.raw"
lbd import "$tmp/a.raw" quota/a >/dev/null
lbd create --size 64M quota/b
ceph_cmd osd pool set-quota lbd-quota max_bytes 8000000
i=0 # the monitor marks the pool full from the OSD's next statistics
until ceph -c "$conf" health 2>/dev/null | grep -q "pool(s) full"; do
  i=$((i + 1)); [ $i -lt 120 ] || fail "the pool was never marked full"
  sleep 0.5
done
t1=$(date +%s)
if timeout 60 "$build/lbd" --cluster-dir "$tmp/cluster" bench --io-type write \
    --io-size 4M --io-total 8M quota/b >/dev/null 2>"$tmp/full.err"; then
  fail "a write to a full pool succeeded"
fi
grep -q "over its quota" "$tmp/full.err" ||
  fail "a write to a full pool: $(cat "$tmp/full.err")"
timeout 60 "$build/lbd" --cluster-dir "$tmp/cluster" create --size 4M \
  quota/c 2>"$tmp/full.err" && fail "an image was created in a full pool"
grep -q "over its quota" "$tmp/full.err" ||
  fail "a create in a full pool: $(cat "$tmp/full.err")"
[ "$(lbd ls quota | tr '\n' ' ')" = "a b " ] || fail "ls of the full pool"
[ $(( $(date +%s) - t1 )) -lt 30 ] || fail "the full pool's errors were slow"
lbd export quota/a - 2>/dev/null | cmp -s - "$tmp/a.raw" ||
  fail "reads of a full pool"
lbd rm quota/a >/dev/null 2>&1 || fail "rm in a full pool"
lbd pool rm quota --force >/dev/null
echo "full pool: ok"
echo "PASS: rados backend ($(( $(date +%s) - t0 )) s)"
