#!/bin/sh
# Byte compatibility with Ceph's own rbd (16.2, Pacific), both directions,
# on a throw-away one-node cluster (scripts/ceph-test-cluster.sh):
#  A. rbd export --export-format 2 -> lbd import --export-format 2;
#  B. rbd export-diff (full, then --from-snap chains) -> lbd import-diff in
#     order; lbd merge-diff of rbd's diffs (the same bytes as rbd
#     merge-diff) applied in a shorter chain;
#  C. the same rbd files as import-only migration sources (rbd-export,
#     rbd-diff), executed and committed;
#  D. lbd export --export-format 2 -> rbd import --export-format 2, lbd
#     export-diff chain -> rbd import-diff, checked on Ceph's side;
#     Clones likewise (the parent's data in the files), both ways;
#  E. the files themselves: lbd's and rbd's diffs of the same history, and
#     the headers of their format 2 files, byte for byte where they agree.
# The image: 1 MiB objects, an odd size (5555555 bytes: a part object at
# the end), holes, data across an object boundary, discards, four
# snapshots (one protected) with a shrink and a grow between them,
# image-meta; a striped one (64K x 4) besides.  Every snapshot and the
# head are compared with rbd's own export of them.  lbd's image is also
# built on its own from the same writes, for D and E.
# usage: test_rbd_interop.sh BUILD_DIR SOURCE_DIR
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

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lbd-rbd-interop-XXXXXX")
ceph_dir="$tmp/ceph"
cleanup() {
  "$src/scripts/ceph-test-cluster.sh" stop "$ceph_dir" || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

t0=$(date +%s)
"$src/scripts/ceph-test-cluster.sh" start "$ceph_dir"
CEPH_CONF="$ceph_dir/ceph.conf"
export CEPH_CONF
ceph osd pool create rbd 8 >"$tmp/pool.out" 2>&1 || { cat "$tmp/pool.out"; exit 1; }
rbd pool init rbd
# one OSD: the cluster's default pool size is 1
[ "$(ceph osd pool get rbd size)" = "size: 1" ] || { echo "FAIL: pool size"; exit 1; }
echo "cluster and pool up in $(( $(date +%s) - t0 )) s"

fail() { echo "FAIL: $*"; exit 1; }
lbd() { "$build/lbd" --cluster-dir "$tmp/cluster" "$@"; }
# rbd, its progress lines (stderr) shown only when it fails
rbdq() { rbd "$@" 2>"$tmp/rbd.err" || { r=$?; cat "$tmp/rbd.err"; return $r; }; }
cd "$tmp"

# A v1 diff written by hand (Ceph's doc/dev/rbd-diff.rst): the way both
# tools are given the same writes.  mkdiff OUT SIZE SEED w|z:OFF:LEN...
cat >mkdiff.py <<'EOF'
import random, struct, sys
out, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
with open(out, 'wb') as f:
    f.write(b'rbd diff v1\n' + b's' + struct.pack('<Q', size))
    for rec in sys.argv[4:]:
        t, off, n = rec.split(':')
        f.write(t.encode() + struct.pack('<QQ', int(off), int(n)))
        if t == 'w':  # no zero byte: the data is data
            f.write(bytes(rnd.randrange(1, 256) for _ in range(int(n))))
    f.write(b'e')
EOF
mkdiff() { python3 mkdiff.py "$@"; }
M=1048576
mkdiff v0.diff 5555555 1 w:0:307200 w:$((2*M+4096)):102400 \
  w:$((5555555-1000)):1000
mkdiff v1.diff 5555555 2 w:$((M-8192)):16384 z:$((2*M+8192)):8192 \
  w:$((4*M)):65536
mkdiff v3.diff 7777777 3 w:$((7*M)):50001 z:0:65536 w:$((3*M)):4096
mkdiff vh.diff 7777777 4 w:102400:4096 z:$((4*M)):$M
mkdiff st0.diff 3000000 5 w:1000:200000 w:2900000:100000
mkdiff st1.diff 3000000 6 w:60000:10000 z:100000:50000

# The history, by TOOL (rbdq or lbd) on IMAGE: s1, s2, shrink, s3, grow,
# s4 (protected), more writes at the head.
build_src() { # tool image
  $1 create --size 5555555B --object-size 1M "$2"
  $1 import-diff v0.diff "$2" >/dev/null; $1 snap create "$2@s1" >/dev/null
  $1 import-diff v1.diff "$2" >/dev/null; $1 snap create "$2@s2" >/dev/null
  $1 resize --size 3333333B --allow-shrink "$2" >/dev/null
  $1 snap create "$2@s3" >/dev/null
  $1 resize --size 7777777B "$2" >/dev/null
  $1 import-diff v3.diff "$2" >/dev/null; $1 snap create "$2@s4" >/dev/null
  $1 snap protect "$2@s4"
  $1 import-diff vh.diff "$2" >/dev/null
  $1 image-meta set "$2" owner alice >/dev/null
  $1 image-meta set "$2" "k e y" "v a l" >/dev/null
}
build_src rbdq rbd/src
rbdq create --size 3000000B --object-size 1M --stripe-unit 64K \
  --stripe-count 4 rbd/st
rbdq import-diff st0.diff rbd/st; rbdq snap create rbd/st@a >/dev/null
rbdq import-diff st1.diff rbd/st

# What Ceph reads: every snapshot and the head, the reference for all.
for s in s1 s2 s3 s4; do rbdq export "rbd/src@$s" "r-$s.raw" >/dev/null; done
rbdq export rbd/src r-h.raw >/dev/null
rbdq export rbd/st@a st-a.raw >/dev/null; rbdq export rbd/st st-h.raw >/dev/null
n=$(for s in s1 s2 s3 s4 h; do cksum <"r-$s.raw"; done | sort -u | wc -l)
[ "$n" -eq 5 ] || fail "rbd's snapshots and head are not five different disks"
# rbd's files
rbdq export --export-format 2 rbd/src r.v2 >/dev/null
rbdq export --export-format 2 rbd/st st.v2 >/dev/null
rbdq export-diff rbd/src@s1 r-0-s1.diff >/dev/null
prev=s1
for s in s2 s3 s4; do
  rbdq export-diff --from-snap $prev "rbd/src@$s" "r-$prev-$s.diff" >/dev/null
  prev=$s
done
rbdq export-diff --from-snap s4 rbd/src r-s4-h.diff >/dev/null
rbdq export-diff --whole-object rbd/src@s1 rw-0-s1.diff >/dev/null
rbdq export-diff --whole-object --from-snap s4 rbd/src rw-s4-h.diff >/dev/null
rchain="r-0-s1.diff r-s1-s2.diff r-s2-s3.diff r-s3-s4.diff r-s4-h.diff"
echo "rbd's images and files made ($(( $(date +%s) - t0 )) s)"

# ---- checks ------------------------------------------------------------------
# lbd's IMAGE@SNAP (h: the head) reads as rbd's (REF-SNAP.raw; REF: r).
lbd_same() { # what image ref snap...
  what=$1; img=$2; ref=$3; shift 3
  for s in "$@"; do
    at="$img@$s"; [ "$s" = h ] && at=$img
    rm -f got.raw
    lbd export "$at" got.raw >/dev/null
    cmp -s got.raw "$ref-$s.raw" || fail "$what: lbd's $at differs from rbd's"
  done
}
rbd_same() { # what image ref snap...
  what=$1; img=$2; ref=$3; shift 3
  for s in "$@"; do
    at="$img@$s"; [ "$s" = h ] && at=$img
    rm -f got.raw
    rbdq export "$at" got.raw >/dev/null
    cmp -s got.raw "$ref-$s.raw" || fail "$what: rbd's $at differs"
  done
}
# name size protected of each snapshot, from snap ls --format json
snapset() { python3 -c 'import json, sys
print(" ".join("%s:%s:%s" % (s["name"], s["size"], s["protected"])
               for s in json.load(sys.stdin)))'; }
want_snaps=$(rbdq snap ls rbd/src --format json | snapset)
[ "$want_snaps" = "s1:5555555:false s2:5555555:false s3:3333333:false s4:7777777:true" ] ||
  fail "rbd's snapshots: $want_snaps"
same_snaps() { # what snap-ls-json-of-the-other
  got=$(echo "$2" | snapset)
  [ "$got" = "$want_snaps" ] || fail "$1: snapshots '$got', rbd's '$want_snaps'"
}
want_meta="k e y=v a l,owner=alice"
meta() { python3 -c 'import json, sys
print(",".join("%s=%s" % kv for kv in sorted(json.load(sys.stdin).items())))'; }

# ---- A. rbd's export format 2 into lbd ------------------------------------------
rbdq export --export-format 2 rbd/src - | lbd import --export-format 2 - rbd/a
lbd_same "A: export format 2" rbd/a r s1 s2 s3 s4 h
same_snaps "A" "$(lbd snap ls rbd/a --format json)"
got=$(lbd image-meta list rbd/a --format json | meta)
[ "$got" = "$want_meta" ] || fail "A: image-meta '$got'"
lbd import --export-format 2 st.v2 rbd/st >/dev/null
lbd_same "A: striped export format 2" rbd/st st a h
layout() { python3 -c 'import json, sys; d = json.load(sys.stdin)
print(d["size"], d["order"], d["stripe_unit"], d["stripe_count"])'; }
got=$(lbd info rbd/st --format json | layout)
[ "$got" = "3000000 20 65536 4" ] || fail "A: striped layout '$got'"
echo "A. rbd export --export-format 2 -> lbd import: ok"

# ---- B. rbd's diffs into lbd, and merge-diff ------------------------------------
lbd create --size 1M rbd/b
for d in $rchain; do lbd import-diff "$d" rbd/b >/dev/null; done
lbd_same "B: import-diff chain" rbd/b r s1 s2 s3 s4 h
# protection is not in a v1 diff: lbd's s4 is not protected, as rbd's would
# not be
got=$(lbd snap ls rbd/b --format json | snapset)
[ "$got" = "${want_snaps%true}false" ] || fail "B: snapshots '$got'"
lbd merge-diff r-s1-s2.diff r-s2-s3.diff l-s1-s3.diff
rbdq merge-diff r-s1-s2.diff r-s2-s3.diff rm-s1-s3.diff
cmp -s l-s1-s3.diff rm-s1-s3.diff ||
  fail "B: merge-diff s1..s3 differs from rbd merge-diff's"
lbd merge-diff r-s3-s4.diff r-s4-h.diff l-s3-h.diff
rbdq merge-diff r-s3-s4.diff r-s4-h.diff rm-s3-h.diff
cmp -s l-s3-h.diff rm-s3-h.diff ||
  fail "B: merge-diff s3..head differs from rbd merge-diff's"
lbd merge-diff r-0-s1.diff r-s1-s2.diff l-0-s2.diff
rbdq merge-diff r-0-s1.diff r-s1-s2.diff rm-0-s2.diff
cmp -s l-0-s2.diff rm-0-s2.diff ||
  fail "B: merge-diff 0..s2 differs from rbd merge-diff's"
lbd create --size 1M rbd/b2
for d in r-0-s1.diff l-s1-s3.diff l-s3-h.diff; do
  lbd import-diff "$d" rbd/b2 >/dev/null
done
lbd_same "B: merged chain" rbd/b2 r s1 s3 h
lbd create --size 1M rbd/b3
lbd import-diff l-0-s2.diff rbd/b3 >/dev/null
lbd_same "B: merged from nothing" rbd/b3 r s2
# rbd's --whole-object diffs (from the object map: fast-diff), one through
# a pipe.  Not across the shrink: rbd 16.2.15's whole-object diff s1..s4
# leaves out the objects the shrink to s3 removed (past 3333333, with data
# at s1, none at s4), so that diff applied to s1 by rbd itself keeps s1's
# old bytes at 5554555..5555555; lbd's own gives them a 'z' record (D).
lbd create --size 1M rbd/bw
rbdq export-diff --whole-object rbd/src@s1 - | lbd import-diff - rbd/bw >/dev/null
for d in r-s1-s2.diff r-s2-s3.diff r-s3-s4.diff rw-s4-h.diff; do
  lbd import-diff "$d" rbd/bw >/dev/null
done
lbd_same "B: whole-object diffs" rbd/bw r s1 s2 s3 s4 h
echo "B. rbd export-diff chain -> lbd import-diff, merge-diff: ok"

# ---- C. rbd's files as import-only migration sources ------------------------------
file() { printf '{"type": "file", "file_path": "%s"}' "$tmp/$1"; }
migrate() { # spec image
  lbd migration prepare --import-only --source-spec "$1" "$2"
  lbd migration execute "$2" >/dev/null
  lbd migration commit "$2" >/dev/null
}
migrate "{\"type\": \"rbd-export\", \"stream\": $(file r.v2)}" rbd/c1
lbd_same "C: rbd-export source" rbd/c1 r s1 s2 s3 s4 h
streams=""
for d in $rchain; do streams="$streams${streams:+, }$(file "$d")"; done
migrate "{\"type\": \"rbd-diff\", \"streams\": [$streams]}" rbd/c2
lbd_same "C: rbd-diff source" rbd/c2 r s1 s2 s3 s4 h
# names and sizes; an import-only target's snapshots are never protected
# (as for every source format: lbd's own snapshots included) and, the files
# having no times, have timestamp 0
for c in c1 c2; do
  got=$(lbd snap ls rbd/$c --format json | python3 -c 'import json, sys
print(" ".join("%s:%s" % (s["name"], s["size"]) for s in json.load(sys.stdin)))')
  [ "$got" = "s1:5555555 s2:5555555 s3:3333333 s4:7777777" ] ||
    fail "C: rbd/$c snapshots '$got'"
done
echo "C. rbd's files as import-only migration sources: ok"

# ---- D. lbd's files into rbd ------------------------------------------------------
build_src lbd rbd/n
lbd_same "D: lbd's own image from the same writes" rbd/n r s1 s2 s3 s4 h
lbd export --export-format 2 rbd/n l.v2 >/dev/null
rbdq import --export-format 2 l.v2 rbd/from-lbd
rbd_same "D: lbd export format 2 -> rbd import" rbd/from-lbd r s1 s2 s3 s4 h
same_snaps "D" "$(rbdq snap ls rbd/from-lbd --format json)"
got=$(rbdq image-meta list rbd/from-lbd --format json | meta)
[ "$got" = "$want_meta" ] || fail "D: image-meta '$got'"
lbd export --export-format 2 rbd/st - | rbdq import --export-format 2 - rbd/st-from-lbd
rbd_same "D: striped, lbd export format 2 -> rbd" rbd/st-from-lbd st a h
got=$(rbdq info rbd/st-from-lbd --format json | layout)
[ "$got" = "3000000 20 65536 4" ] || fail "D: striped layout on rbd '$got'"
lbd export-diff rbd/n@s1 l-0-s1.diff >/dev/null
prev=s1
for s in s2 s3 s4; do
  lbd export-diff --from-snap $prev "rbd/n@$s" "l-$prev-$s.diff" >/dev/null
  prev=$s
done
lbd export-diff --from-snap s4 rbd/n l-s4-h.diff >/dev/null
rbdq create --size 1M rbd/d
for d in l-0-s1.diff l-s1-s2.diff l-s2-s3.diff l-s3-s4.diff l-s4-h.diff; do
  rbdq import-diff "$d" rbd/d
done
rbd_same "D: lbd export-diff chain -> rbd import-diff" rbd/d r s1 s2 s3 s4 h
# lbd's --whole-object diffs, across the shrink and grow too, one piped
rbdq create --size 1M rbd/dw
lbd export-diff --whole-object rbd/n@s1 - | rbdq import-diff - rbd/dw
lbd export-diff --whole-object --from-snap s1 rbd/n@s4 lw-s1-s4.diff >/dev/null
lbd export-diff --whole-object --from-snap s4 rbd/n lw-s4-h.diff >/dev/null
rbdq import-diff lw-s1-s4.diff rbd/dw; rbdq import-diff lw-s4-h.diff rbd/dw
rbd_same "D: lbd whole-object diffs -> rbd import-diff" rbd/dw r s1 s4 h
echo "D. lbd export --export-format 2 / export-diff -> rbd: ok"

# ---- clones: the parent's data goes into the files, both ways ---------------
# (a clone of s4 with a write, a snapshot, a shrink below the overlap)
clone_history() { # tool parent child
  $1 clone "$2@s4" "$3" >/dev/null
  $1 import-diff vh.diff "$3" >/dev/null; $1 snap create "$3@c1" >/dev/null
  $1 resize --size 2000000B --allow-shrink "$3" >/dev/null
}
clone_history rbdq rbd/src rbd/cl
rbdq export rbd/cl@c1 rc-c1.raw >/dev/null; rbdq export rbd/cl rc-h.raw >/dev/null
rbdq export --export-format 2 rbd/cl - | lbd import --export-format 2 - rbd/cl
lbd_same "clone: rbd export format 2 -> lbd" rbd/cl rc c1 h
lbd create --size 1M rbd/cld
rbdq export-diff rbd/cl@c1 - | lbd import-diff - rbd/cld >/dev/null
rbdq export-diff --from-snap c1 rbd/cl - | lbd import-diff - rbd/cld >/dev/null
lbd_same "clone: rbd export-diff -> lbd" rbd/cld rc c1 h
clone_history lbd rbd/n rbd/lcl
lbd_same "clone: lbd's own" rbd/lcl rc c1 h
lbd export --export-format 2 rbd/lcl - | rbdq import --export-format 2 - rbd/lcl
rbd_same "clone: lbd export format 2 -> rbd" rbd/lcl rc c1 h
rbdq create --size 1M rbd/lcld
lbd export-diff rbd/lcl@c1 - | rbdq import-diff - rbd/lcld
lbd export-diff --from-snap c1 rbd/lcl - | rbdq import-diff - rbd/lcld
rbd_same "clone: lbd export-diff -> rbd" rbd/lcld rc c1 h
echo "clones, both ways: ok"

# ---- E. the files, byte for byte ----------------------------------------------------
# Diffs of the same history.  Where the changed ranges are the data written
# (s2..s3: a shrink, nothing else; s3..s4: a grow, a discard and writes
# into new objects; s4..head) both tools write the same bytes.  The first
# two legitimately differ: RADOS reports an object's change as the range
# its size and clone overlap give (a new object from 0 to its end, an
# object that grew from its old end to its new one), and rbd writes that
# whole range, zeroes inside, as a 'w' record per object (striped: 'z'
# records for the gaps between stripe units); lbd reports the extents
# that sparse reads find, so its records hold the data alone (and may run
# across an object boundary).  Both apply to the same images (B, D).
for d in s2-s3 s3-s4 s4-h; do
  cmp -s "l-$d.diff" "r-$d.diff" ||
    fail "E: lbd's export-diff $d differs from rbd's"
done
# Format 2 headers: the same records ('O', 'T', 'U', 'C', 'M' in key
# order, 'E', the diffs banner and count) and the first diff's metadata
# ('t', 'p' with its length 8, 's'), but for one byte: the features (lbd
# has no fast-diff: 0x2d where rbd's image has 0x3d).
hdr=$(( 13 + 4 * 17 + 2 * 27 + 1 + 19 + 8 + 12 + 15 + 10 + 17 ))
head -c $hdr l.v2 >l.hdr; head -c $hdr r.v2 >r.hdr
got=$(cmp -l l.hdr r.hdr | tr -s ' ' | sed 's/^ //') || true
[ "$got" = "40 55 75" ] ||
  fail "E: the format 2 headers differ by more than the features: $got"
# The v2 diffs inside them, split by their records' lengths ('p' aside:
# its length says 8 where one byte follows, what rbd writes): those of
# s2..s3, s3..s4 and s4..head the same bytes (the first two differ as
# their v1 forms do).
cat >v2diffs.py <<'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
p = 13
while b[p:p + 1] != b'E':  # image records
    p += 9 + struct.unpack_from('<Q', b, p + 1)[0]
p += 1 + 19
n, = struct.unpack_from('<Q', b, p)
p += 8
for i in range(n):
    start, p = p, p + 12
    while b[p:p + 1] != b'e':  # 'p' says 8 and holds 1 byte, as rbd
        p += 10 if b[p:p + 1] == b'p' else \
            9 + struct.unpack_from('<Q', b, p + 1)[0]
    p += 1
    if i >= int(sys.argv[2]):
        open('%s.%d' % (sys.argv[1], i), 'wb').write(b[start:p])
if p != len(b):
    sys.exit('%s: %d bytes after the last diff' % (sys.argv[1], len(b) - p))
EOF
python3 v2diffs.py l.v2 2; python3 v2diffs.py r.v2 2
for i in 2 3 4; do
  cmp -s "l.v2.$i" "r.v2.$i" ||
    fail "E: diff $i of the format 2 files differs from rbd's"
done
# striped (feature striping: 0x2f and 0x3f), no image-meta, 't' a
lbd export --export-format 2 rbd/st lst.v2 >/dev/null
hdr=$(( 13 + 4 * 17 + 1 + 19 + 8 + 12 + 14 + 10 + 17 ))
head -c $hdr lst.v2 >l.hdr; head -c $hdr st.v2 >r.hdr
got=$(cmp -l l.hdr r.hdr | tr -s ' ' | sed 's/^ //') || true
[ "$got" = "40 57 77" ] ||
  fail "E: the striped format 2 headers differ by more than the features: $got"
echo "E. the same bytes as rbd where the formats are deterministic: ok"

echo "PASS: rbd interop ($(( $(date +%s) - t0 )) s)"
