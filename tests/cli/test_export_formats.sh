#!/usr/bin/env bash
# rbd's file formats: diff, export-diff, import-diff, merge-diff, and
# export/import --export-format 2, on files and pipes.  The source image is
# built by import-diff of diffs made here by hand (mk.py, from Ceph's
# doc/dev/rbd-diff.rst), against raw files that hold what every version
# must read; bad streams must fail clearly and change nothing; and the
# bytes lbd writes are checked against hand-built streams.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

MK=$TMP/mk.py
cat >"$MK" <<'EOF'
# mk.py STATE DIFF [--from A] [--to B] SIZE OP...: apply OP... (w:OFF:LEN:SEED
# writes LEN pseudo-random bytes, z:OFF:LEN zeroes) to the raw file STATE
# (resized to SIZE first) and write them as an "rbd diff v1" stream to DIFF.
import random, struct, sys
args = sys.argv[1:]
state, out = args[0], args[1]
args = args[2:]
names = {}
while args[0].startswith('--'):
    names[args[0][2:]] = args[1].encode()
    args = args[2:]
size, ops = int(args[0]), args[1:]
data = bytearray(open(state, 'rb').read())
data = data[:size] + bytearray(max(0, size - len(data)))
d = bytearray(b'rbd diff v1\n')
for tag, key in ((b'f', 'from'), (b't', 'to')):
    if key in names:
        d += tag + struct.pack('<I', len(names[key])) + names[key]
d += b's' + struct.pack('<Q', size)
for op in ops:
    kind, off, length, *seed = op.split(':')
    off, length = int(off), int(length)
    if kind == 'w':
        buf = random.Random(int(seed[0])).randbytes(length)
        d += b'w' + struct.pack('<QQ', off, length) + buf
    else:
        buf = bytes(length)
        d += b'z' + struct.pack('<QQ', off, length)
    data[off:off + length] = buf
d += b'e'
open(state, 'wb').write(data)
open(out, 'wb').write(d)
EOF
mk() { python3 "$MK" "$@"; }
nop=--no-progress

# check_image IMAGE: every snapshot and the head read as $TMP/exp.<name>
check_image() {
  local img=$1 s
  for s in s1 s2 s3; do
    lbd export $nop "$img@$s" - | cmp - "$TMP/exp.$s" ||
      fail "$img@$s differs from what it should hold"
  done
  lbd export $nop "$img" - | cmp - "$TMP/exp.head" ||
    fail "$img (head) differs from what it should hold"
}

# ---- the source: striped, snapshots s1 s2 s3 across a grow and a shrink ----
K=1024
lbd create --size 2M --object-size 64K --stripe-unit 16K --stripe-count 2 src
: >"$TMP/state"
mk "$TMP/state" "$TMP/in1" --to s1 $((2048 * K)) w:0:100000:1 w:700000:5000:2 \
  w:1048576:65536:3
cp "$TMP/state" "$TMP/exp.s1"
mk "$TMP/state" "$TMP/in2" --from s1 --to s2 $((3072 * K)) z:0:65536 \
  w:2500000:70000:4 z:1048576:4096
cp "$TMP/state" "$TMP/exp.s2"
mk "$TMP/state" "$TMP/in3" --from s2 --to s3 $((1536 * K)) w:1500000:20000:5 \
  w:131072:131072:6
cp "$TMP/state" "$TMP/exp.s3"
mk "$TMP/state" "$TMP/in4" --from s3 $((1536 * K)) z:131072:65536 w:10:10:7
cp "$TMP/state" "$TMP/exp.head"
for i in 1 2 3 4; do lbd import-diff $nop "$TMP/in$i" src; done
lbd snap protect src@s2
lbd image-meta set src owner alice
lbd image-meta set src note "two words"
check_image src
expect_eq "snapshots" "s1 s2 s3" \
  "$(lbd snap ls src --format json | json '" ".join(s["name"] for s in d)')"

# ---- export format 2: a file and a pipe -------------------------------------
lbd export $nop --export-format 2 src "$TMP/src.v2"
lbd import $nop --export-format 2 "$TMP/src.v2" copy
check_image copy
expect_eq "protection" "False True False" \
  "$(lbd snap ls copy --format json | json '" ".join(str(s["protected"] == "true") for s in d)')"
expect_eq "metadata" "alice/two words" \
  "$(lbd image-meta get copy owner)/$(lbd image-meta get copy note)"
expect_eq "layout" "65536 16384 2" \
  "$(lbd info copy --format json | json '"%s %s %s" % (d["object_size"], d.get("stripe_unit", d["object_size"]), d.get("stripe_count", 1))')"
lbd export $nop --export-format 2 src - | tee "$TMP/src.v2.pipe" |
  lbd import $nop --export-format 2 - rbd/copy2
cmp "$TMP/src.v2" "$TMP/src.v2.pipe" || fail "export format 2 to a pipe differs"
check_image copy2
lbd export $nop --export-format 2 copy - | cmp - "$TMP/src.v2" ||
  fail "export of the imported copy differs from the original export"
# layout options win over the stream's
lbd import $nop --export-format 2 --object-size 1M "$TMP/src.v2" copy3
check_image copy3
expect_eq "layout of copy3" "1048576 1048576 1" \
  "$(lbd info copy3 --format json | json '"%s %s %s" % (d["object_size"], d.get("stripe_unit", d["object_size"]), d.get("stripe_count", 1))')"
# at a snapshot: the snapshots up to it, the last diff ending there
lbd export $nop --export-format 2 src@s2 "$TMP/s2.v2"
lbd import $nop --export-format 2 "$TMP/s2.v2" upto
expect_eq "snapshots up to s2" "s1 s2" \
  "$(lbd snap ls upto --format json | json '" ".join(s["name"] for s in d)')"
lbd export $nop upto - | cmp - "$TMP/exp.s2" || fail "upto's head is not s2"

# ---- export-diff chain, import-diff, on files and pipes ---------------------
lbd export-diff $nop src@s1 "$TMP/e1"
lbd export-diff $nop --from-snap s1 src@s2 "$TMP/e2"
lbd export-diff $nop --from-snap s2 src@s3 "$TMP/e3"
lbd export-diff $nop --from-snap s3 src "$TMP/e4"
lbd create --size 1M chain
for i in 1 2 3 4; do lbd import-diff $nop "$TMP/e$i" chain; done
lbd snap protect chain@s2 # (format v1 has no protection)
check_image chain
lbd create --size 1M chain2
for i in 1 2 3 4; do cat "$TMP/e$i" | lbd import-diff $nop - chain2; done
check_image chain2
lbd create --size 64K chain3
lbd export-diff $nop src@s1 - | lbd import-diff $nop - chain3
lbd export-diff $nop --from-snap s1 --whole-object src@s2 - |
  lbd import-diff $nop - chain3
lbd export $nop chain3@s2 - | cmp - "$TMP/exp.s2" ||
  fail "a whole-object diff chain differs"
# nothing changed since s3 in this diff of s3 with itself
lbd export-diff $nop --from-snap s3 src@s3 "$TMP/same"
expect_eq "empty diff" "" "$(python3 -c '
import sys; d = open(sys.argv[1], "rb").read()
print("" if d.endswith(b"s\x00\x00\x18\x00\x00\x00\x00\x00e") else repr(d))' "$TMP/same")"

# ---- merge-diff: equal to the one-step diff when applied ---------------------
lbd merge-diff $nop "$TMP/e2" "$TMP/e3" "$TMP/e23"
lbd export-diff $nop --from-snap s1 src@s3 "$TMP/e13"
lbd create --size 1M m1
lbd create --size 1M m2
lbd import-diff $nop "$TMP/e1" m1
lbd import-diff $nop "$TMP/e1" m2
lbd import-diff $nop "$TMP/e23" m1
lbd import-diff $nop "$TMP/e13" m2
lbd export $nop m1@s3 - | cmp - "$TMP/exp.s3" || fail "merged diff: m1@s3 differs"
lbd export $nop m2@s3 - | cmp - "$TMP/exp.s3" || fail "one-step diff: m2@s3 differs"
expect_eq "merged snapshots" "s1 s3" \
  "$(lbd snap ls m1 --format json | json '" ".join(s["name"] for s in d)')"
# three diffs through pipes, the output to stdout
cat "$TMP/e1" | lbd merge-diff $nop - "$TMP/e2" - >"$TMP/e12"
lbd merge-diff $nop "$TMP/e12" "$TMP/e3" - | lbd merge-diff $nop - "$TMP/e4" - \
  >"$TMP/e1234"
lbd create --size 1M m3
lbd import-diff $nop "$TMP/e1234" m3
lbd export $nop m3 - | cmp - "$TMP/exp.head" || fail "merge of four: m3 differs"
expect_fail -e 22 merge-diff "$TMP/e1" "$TMP/e3" "$TMP/bad"
[[ $ERR == *"second diff starts at snapshot 's2'"* ]] || fail "merge: $ERR"
[[ ! -e $TMP/bad ]] || fail "a failed merge-diff left its output"
expect_fail -e 17 merge-diff "$TMP/e1" "$TMP/e2" "$TMP/e23"
expect_fail -e 22 merge-diff - - "$TMP/bad"

# ---- bad input: a clear error, the target unchanged -------------------------
lbd create --size 1M tgt
lbd import-diff $nop "$TMP/e1" tgt
lbd export $nop tgt "$TMP/tgt.before"
snaps_before=$(lbd snap ls tgt --format json | json '[s["name"] for s in d]')
unchanged() {
  lbd export $nop tgt - | cmp -s - "$TMP/tgt.before" ||
    fail "$1: the target image changed"
  expect_eq "$1: snapshots" "$snaps_before" \
    "$(lbd snap ls tgt --format json | json '[s["name"] for s in d]')"
}
size=$(stat -c %s "$TMP/e2")
head -c $((size - 1)) "$TMP/e2" >"$TMP/trunc"
expect_fail -e 22 import-diff "$TMP/trunc" tgt
[[ $ERR == *"truncated"* ]] || fail "truncated diff: $ERR"
unchanged "truncated diff"
head -c $((size / 2)) "$TMP/e2" >"$TMP/trunc2"
rc=0
lbd import-diff $nop - tgt <"$TMP/trunc2" 2>"$TMP/err" || rc=$?
[[ $rc -eq 22 && $(cat "$TMP/err") == *"truncated"* ]] ||
  fail "truncated diff from stdin: exit $rc: $(cat "$TMP/err")"
cat "$TMP/trunc2" | lbd import-diff $nop - tgt 2>/dev/null &&
  fail "a truncated diff from a pipe was applied"
unchanged "truncated diff from a pipe"
printf 'rbd diff v9\n' >"$TMP/banner"
expect_fail -e 22 import-diff "$TMP/banner" tgt
[[ $ERR == *"not an rbd diff stream"* ]] || fail "bad banner: $ERR"
python3 - "$TMP/e2" "$TMP/badtag" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[-1] = ord('Q')  # the end record becomes an unknown tag
open(sys.argv[2], 'wb').write(d)
EOF
expect_fail -e 22 import-diff "$TMP/badtag" tgt
[[ $ERR == *"unknown record tag 0x51"* ]] || fail "bad tag: $ERR"
unchanged "bad tag"
expect_fail -e 22 import-diff "$TMP/e3" tgt
[[ $ERR == *"start snapshot 's2' does not exist"* ]] || fail "from: $ERR"
expect_fail -e 17 import-diff "$TMP/e1" tgt
[[ $ERR == *"end snapshot 's1' already exists"* ]] || fail "to: $ERR"
: >"$TMP/state2"
mk "$TMP/state2" "$TMP/past" --from s1 4096 w:4000:200:1
expect_fail -e 22 import-diff "$TMP/past" tgt
[[ $ERR == *"goes past the image size"* ]] || fail "past the end: $ERR"
unchanged "bad records"
# format 2: no image is left behind, an existing one is left alone
size=$(stat -c %s "$TMP/src.v2")
for cut in 5 100 $((size / 2)) $((size - 1)); do
  head -c $cut "$TMP/src.v2" >"$TMP/trunc.v2"
  expect_fail -e 22 import --export-format 2 "$TMP/trunc.v2" broken
  [[ $ERR == *"truncated"* ]] || fail "truncated v2 at $cut: $ERR"
  rc=0
  head -c $cut "$TMP/src.v2" |
    lbd import $nop --export-format 2 - broken 2>/dev/null || rc=$?
  [[ $rc -eq 22 ]] || fail "truncated v2 from a pipe at $cut: exit $rc"
  [[ $(lbd ls) != *broken* ]] || fail "a failed import left image 'broken'"
done
expect_fail -e 22 import --export-format 2 "$TMP/e1" broken
[[ $ERR == *"not an rbd export format 2 stream"* ]] || fail "v1 as v2: $ERR"
expect_fail -e 17 import --export-format 2 "$TMP/src.v2" tgt
unchanged "import over an existing image"
expect_fail -e 22 export --export-format 3 src "$TMP/x"
[[ ! -e $TMP/x ]] || fail "a refused export left a file"

# ---- the bytes, against streams built by hand from the documents -----------
le64() { python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<Q", int(sys.argv[1])))' "$1"; }
le32() { python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<I", int(sys.argv[1])))' "$1"; }
A4K() { head -c 4096 /dev/zero | tr '\0' A; }
{ printf 'rbd diff v1\n'; printf t; le32 2; printf b1; printf s; le64 65536
  printf w; le64 8192; le64 4096; A4K; printf e; } >"$TMP/hand1"
{ printf 'rbd diff v1\n'; printf f; le32 2; printf b1; printf t; le32 2
  printf b2; printf s; le64 65536; printf z; le64 8192; le64 4096
  printf e; } >"$TMP/hand2"
lbd create --size 64K --object-size 4K --image-feature layering,exclusive-lock \
  hand
lbd import-diff $nop "$TMP/hand1" hand
lbd import-diff $nop "$TMP/hand2" hand
lbd image-meta set hand k v
lbd export-diff $nop hand@b1 - | cmp - "$TMP/hand1" ||
  fail "export-diff of b1 differs from the hand-built v1 diff"
lbd export-diff $nop --from-snap b1 hand@b2 - | cmp - "$TMP/hand2" ||
  fail "export-diff b1..b2 differs from the hand-built v1 diff"
{ printf 'rbd image v2\n'
  printf O; le64 8; le64 12          # order: 4 KiB objects
  printf T; le64 8; le64 5           # features: layering, exclusive-lock
  printf U; le64 8; le64 4096        # stripe unit
  printf C; le64 8; le64 1           # stripe count
  printf M; le64 10; le32 1; printf k; le32 1; printf v
  printf E
  printf 'rbd image diffs v2\n'; le64 3
  printf 'rbd diff v2\n'
  printf t; le64 6; le32 2; printf b1
  printf p; le64 8; printf '\0'      # length 8, one byte: as rbd writes
  printf s; le64 8; le64 65536
  printf w; le64 $((16 + 4096)); le64 8192; le64 4096; A4K
  printf e
  printf 'rbd diff v2\n'
  printf f; le64 6; le32 2; printf b1
  printf t; le64 6; le32 2; printf b2
  printf p; le64 8; printf '\0'
  printf s; le64 8; le64 65536
  printf z; le64 16; le64 8192; le64 4096
  printf e
  printf 'rbd diff v2\n'
  printf f; le64 6; le32 2; printf b2
  printf s; le64 8; le64 65536
  printf e; } >"$TMP/hand.v2"
lbd export $nop --export-format 2 hand - | cmp - "$TMP/hand.v2" ||
  fail "export format 2 differs from the hand-built stream"
# what rbd reads besides: 'p' of length 1 (what lbd wrote before 2026-11,
# one byte all the same), an 'F' record, an unknown record (skipped), a
# protected snapshot
{ printf 'rbd image v2\n'
  printf O; le64 8; le64 13; printf F; le64 8; le64 2
  printf X; le64 3; printf xyz
  printf E
  printf 'rbd image diffs v2\n'; le64 2
  printf 'rbd diff v2\n'
  printf t; le64 6; le32 2; printf p1
  printf p; le64 1; printf '\1'
  printf s; le64 8; le64 16384
  printf Y; le64 2; printf yy
  printf w; le64 $((16 + 4096)); le64 4096; le64 4096; A4K
  printf e
  printf 'rbd diff v2\n'
  printf f; le64 6; le32 2; printf p1
  printf s; le64 8; le64 32768
  printf e; } >"$TMP/doc.v2"
lbd import $nop --export-format 2 "$TMP/doc.v2" doc
expect_eq "doc snapshot" "p1 true 16384" \
  "$(lbd snap ls doc --format json | json '" ".join("%s %s %s" % (s["name"], s["protected"], s["size"]) for s in d)')"
expect_eq "doc layout" "8192 32768" \
  "$(lbd info doc --format json | json '"%s %s" % (d["object_size"], d["size"])')"
{ head -c 4096 /dev/zero; A4K; head -c 8192 /dev/zero; } >"$TMP/doc.p1"
lbd export $nop doc@p1 - | cmp - "$TMP/doc.p1" || fail "doc@p1 differs"

# ---- lbd diff ----------------------------------------------------------------
expect_eq "diff b1" "Offset  Length  Type
8192    4096    data" "$(lbd diff hand@b1)"
expect_eq "diff b1..b2" "Offset  Length  Type
8192    4096    zero" "$(lbd diff --from-snap b1 hand@b2)"
expect_eq "diff json" '[{"offset": 8192, "length": 4096, "exists": "false"}]' \
  "$(lbd diff --from-snap b1 hand --format json | json 'json.dumps(d)')"
expect_eq "diff of the head" "" "$(lbd diff hand)"
# s1's first data, [0, 100000), is in the objects of the first object set
expect_match "whole objects" '^0 +131072 +data *$' \
  "$(lbd diff --whole-object src@s1 | sed -n 2p)"
expect_match "not whole" '^0 +100000 +data *$' "$(lbd diff src@s1 | sed -n 2p)"
expect_fail -e 2 diff --from-snap nosuch hand
expect_fail -e 22 diff --from-snap b2 hand@b1
echo "ok"
