#!/usr/bin/env bash
# lbd migration prepare / execute / commit / abort and lbd status, as the
# reference walk-through (rbd-live-migration.rst) drives them: an image with
# random data, holes and three snapshots moves to a pool on another
# directory with a new object size, then to a striped layout in a namespace
# of a third pool, then namespace to namespace, then in place; every
# snapshot and the head read the same bytes after each step and the target
# stays sparse.  Also: abort after client writes to the target, refusals
# that change nothing, a size that is not a multiple of the object size, and
# an execute killed with SIGKILL half-way that a second one finishes.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
SNAPS=(s1 s2 s3)

# make_raw FILE SIZE SEED OFF:LEN...: a sparse FILE of SIZE bytes with
# random bytes (from SEED) at each OFF:LEN (K/M suffixes) and holes elsewhere.
make_raw() {
  python3 - "$@" <<'EOF'
import random, sys
def n(s):
    m = {"K": 1 << 10, "M": 1 << 20}
    return int(s[:-1]) * m[s[-1]] if s[-1] in m else int(s)
path, size, seed = sys.argv[1], n(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
with open(path, "wb") as f:
    f.truncate(size)
    for ext in sys.argv[4:]:
        off, length = map(n, ext.split(":"))
        f.seek(off)
        f.write(r.randbytes(length))
EOF
}

sha() { sha256sum | cut -d' ' -f1; }

# sums IMG [SNAP...]: "head SHA" and "@snap SHA" for each SNAP (default:
# every snapshot of SNAPS).
sums() {
  local img=$1 s
  shift
  (($#)) || set -- "${SNAPS[@]}"
  echo "head $(lbd export --no-progress "$img" - | sha)"
  for s in "$@"; do
    echo "@$s $(lbd export --no-progress "$img@$s" - | sha)"
  done
}

# used IMG[@SNAP]: bytes of data, from lbd du.
used() { lbd du "$1" --format json | json 'd["images"][0]["used_size"]'; }

# usage IMG: used bytes of the head and of every snapshot of SNAPS.
usage() {
  local s
  echo "head $(used "$1")"
  for s in "${SNAPS[@]}"; do echo "@$s $(used "$1@$s")"; done
}

snaps() { lbd snap ls "$1" --format json | json '[(s["name"], s["size"]) for s in d]'; }
image_id() { lbd info "$1" --format json | json 'd["id"]'; }
mig_state() { lbd status "$1" --format json | json 'd["migration"]["state"]'; }
layout() {
  lbd info "$1" --format json |
    json '"%d %d %d" % (d["object_size"], d.get("stripe_unit", d["object_size"]), d.get("stripe_count", 1))'
}

# late_eq WHAT EXPECTED ACTUAL: expect_eq whose failure is reported at
# once but fails the test only at the end, so that every later check runs.
LATE=()
late_eq() {
  if [[ "$2" != "$3" ]]; then
    printf 'FAIL (reported at the end): %s\n--- expected\n%s\n--- got\n%s\n---\n' "$1" "$2" "$3" >&2
    LATE+=("$1: expected '$2', got '$3'")
  fi
}

# alloc_kib DIR: KiB the data files under DIR take on disk.
alloc_kib() { find "$1" -path '*/data/*' -type f -printf '%k\n' | awk '{t += $1} END {print t + 0}'; }

# ---- the image: 16 MiB, random data across object boundaries, holes,
# ---- explicit zeroes (no data either), three snapshots, metadata.
make_raw "$TMP/vm1.raw" 16M 1 0:700K 3M:64K 5M:1028K 9M:4K 12284K:8K 14M:1M
dd if=/dev/zero of="$TMP/vm1.raw" bs=64K seek=228 count=4 conv=notrunc status=none
lbd import --no-progress "$TMP/vm1.raw" vm1
lbd snap create vm1@s1
lbd bench --io-type write --io-size 4K --io-pattern rand --io-total 64K vm1 >/dev/null
lbd snap create vm1@s2
lbd bench --io-type write --io-size 64K --io-total 1M vm1 >/dev/null
lbd snap create vm1@s3
lbd bench --io-type write --io-size 8K --io-pattern rand --io-total 128K vm1 >/dev/null
lbd image-meta set vm1 owner alice
lbd export --no-progress vm1@s1 - | cmp - "$TMP/vm1.raw" || fail "import of vm1 is not the file"
SUMS=$(sums rbd/vm1)
[[ $(cut -d' ' -f2 <<<"$SUMS" | sort -u | wc -l) -eq 4 ]] ||
  fail "test data: head and snapshots should all differ: $SUMS"
USAGE=$(usage rbd/vm1)
SNAPLIST=$(snaps rbd/vm1)
(($(used rbd/vm1) < 4 * MiB)) || fail "test data: vm1 is not sparse: $USAGE"

lbd pool create p2 --path "$TMP/dir2"
lbd pool create p3 --path "$TMP/dir3"
lbd namespace create p3/ns1
lbd namespace create p2/ns2

# check_image IMG WHAT: IMG has vm1's bytes, snapshots, usage, metadata.
check_image() {
  expect_eq "$2: checksums of head and snapshots" "$SUMS" "$(sums "$1")"
  expect_eq "$2: snapshots" "$SNAPLIST" "$(snaps "$1")"
  expect_eq "$2: du of head and snapshots (sparse)" "$USAGE" "$(usage "$1")"
  expect_eq "$2: image-meta" "alice" "$(lbd image-meta get "$1" owner)"
}

# migrate SRC DST|"" SRCDIR DSTDIR WANT-LAYOUT PREPARE-OPTIONS...: the
# reference walk-through, checked at each step.  SRC and DST are full
# specs (pool/[ns/]image); an empty DST migrates in place (same name).
migrate() {
  local src=$1 dst=$2 srcdir=$3 dstdir=$4 want=$5
  shift 5
  local name=${src##*/} sp=${src%/*} sid did
  local what="migration $src -> ${dst:-$src} (${*@Q})"
  sid=$(image_id "$src")
  if [[ -n $dst ]]; then
    lbd migration prepare "$@" "$src" "$dst"
  else
    lbd migration prepare "$@" "$src"
    dst=$src
  fi
  did=$(image_id "$dst")
  [[ $did != "$sid" ]] || fail "$what: the target has the source's id $sid"
  late_eq "$what: target layout (object size, stripe unit, count)" "$want" "$(layout "$dst")"
  local block="Migration:
	source: $src ($sid)
	destination: $dst ($did)
	state: prepared"
  expect_eq "$what: status of the target" "Watchers: none
$block" "$(lbd status "$dst")"
  expect_eq "$what: status json" "$sp/$name $sid ${dst%/*}/${dst##*/} $did prepared" \
    "$(lbd status "$dst" --format json | json '"/".join(x for x in (d["migration"]["source_pool_name"], d["migration"]["source_pool_namespace"], d["migration"]["source_image_name"]) if x) + " " + d["migration"]["source_image_id"] + " " + "/".join(x for x in (d["migration"]["dest_pool_name"], d["migration"]["dest_pool_namespace"], d["migration"]["dest_image_name"]) if x) + " " + d["migration"]["dest_image_id"] + " " + d["migration"]["state"]')"
  if [[ $dst != "$src" ]]; then
    # the source is in the trash: status finds it by name, info does not
    expect_eq "$what: status of the source name (in the trash)" "Watchers: none
$block" "$(lbd status "$src")"
    expect_fail -e 2 info "$src"
    expect_fail -e 2 export --no-progress "$src" "$TMP/never.raw"
    [[ ! -e $TMP/never.raw ]] || fail "$what: export of the trashed source wrote a file"
    [[ $(lbd ls "$sp") != *"$name"* ]] || fail "$what: lbd ls $sp still lists $name"
  fi
  expect_eq "$what: trash ls --all" "$sid $name" "$(lbd trash ls --all "$sp")"
  expect_eq "$what: trash ls (without --all hides migrations)" "" "$(lbd trash ls "$sp")"
  expect_eq "$what: the target reads the source's bytes before execute" \
    "$(head -2 <<<"$SUMS")" "$(sums "$dst" s1)"

  lbd migration execute --no-progress "$dst"
  expect_eq "$what: state after execute" executed "$(mig_state "$dst")"
  [[ $(lbd status "$src") == *"state: executed"* ]] ||
    fail "$what: status by the source's spec after execute: $(lbd status "$src")"
  lbd migration commit --no-progress "$dst"
  expect_eq "$what: status after commit" "Watchers: none" "$(lbd status "$dst")"
  expect_eq "$what: trash after commit" "" "$(lbd trash ls --all "$sp")"
  if [[ $dst != "$src" ]]; then
    expect_fail -e 2 status "$src"
  fi
  expect_eq "$what: target id after commit" "$did" "$(image_id "$dst")"
  check_image "$dst" "$what"
  # the source is gone with its data: no object file of the source's
  # pool holds a byte any more (pools hold one image at a time here)
  if [[ $srcdir != "$dstdir" ]]; then
    expect_eq "$what: non-empty data files left in the source pool" 0 \
      "$(find "$srcdir" -path '*/data/*' -type f -size +0 | wc -l)"
  fi
  # holes and zeroes are not allocated on disk: the target's object files
  # take no more than the data of its head and snapshots (+4K per file),
  # which is less than the image's size
  local files kib bound
  files=$(find "$dstdir" -path '*/data/*' -type f | wc -l)
  kib=$(alloc_kib "$dstdir")
  bound=$(($(awk '{t += $2} END {print t}' <<<"$USAGE") / 1024 + 4 * files))
  ((bound < 16 * 1024)) || fail "test data: vm1's data ($bound KiB) is too large to show holes"
  ((kib <= bound)) ||
    fail "$what: the target's data takes $kib KiB on disk, more than its data ($bound KiB with slack): holes allocated?"
  expect_fail -e 22 migration execute --no-progress "$dst"
}

# another pool on another directory, 1 MiB objects
migrate rbd/vm1 p2/vm1 "$LBD_CLUSTER/pools" "$TMP/dir2" "1048576 1048576 1" --object-size 1M
# striped, into a namespace of a third pool on a third directory
migrate p2/vm1 p3/ns1/vm1 "$TMP/dir2" "$TMP/dir3" "1048576 65536 4" --stripe-unit 64K --stripe-count 4
# namespace to namespace (another pool), 64 KiB objects: the striping stays
migrate p3/ns1/vm1 p2/ns2/vm1 "$TMP/dir3" "$TMP/dir2" "65536 65536 4" --object-size 64K
# back to the first pool's default namespace, no layout option: the layout
# stays (lbd's target namespace defaults to the source's: say it)
migrate p2/ns2/vm1 rbd/vm1 "$TMP/dir2" "$LBD_CLUSTER/pools" "65536 65536 4" --dest-namespace ""
# in place: same name, new layout
migrate rbd/vm1 "" "$LBD_CLUSTER/pools" "$LBD_CLUSTER/pools" "2097152 2097152 1" \
  --object-size 2M --stripe-unit 2M --stripe-count 1

# ---- refusals: the exit status, and nothing changed -------------------
# world: every listing, trash, migration status and the head's bytes.
world() {
  local p
  for p in rbd p2 p2/ns2 p3 p3/ns1; do
    echo "ls $p: $(lbd ls "$p" | tr '\n' ' ')"
    echo "trash $p: $(lbd trash ls --all "$p" | tr '\n' ' ')"
  done
  echo "rf: $(lbd status rbd/rf 2>&1)"
  echo "taken: $(lbd status p2/taken 2>&1) $(lbd info p2/taken --format json | json 'd["size"]')"
  echo "rf head: $(lbd export --no-progress rbd/rf - 2>/dev/null | sha)"
  echo "rf2: $(lbd export --no-progress p2/rf - 2>/dev/null | sha)"
}
make_raw "$TMP/rf.raw" 6M 2 0:1M 4M:1M
lbd import --no-progress "$TMP/rf.raw" rf
lbd create --size 1M p2/taken
before=$(world)
expect_fail -e 17 migration prepare rbd/rf p2/taken
expect_eq "world after a prepare onto an existing image" "$before" "$(world)"
expect_fail -e 22 migration execute --no-progress rbd/rf
expect_fail -e 22 migration commit --no-progress rbd/rf
expect_fail -e 22 migration abort --no-progress rbd/rf
expect_fail -e 2 migration execute --no-progress rbd/nosuch
expect_eq "world after steps on an image that is not migrating" "$before" "$(world)"
# a writer has the source open: prepare is refused
"$LBD" bench --io-type write --io-threads 1 --io-total 1T rbd/rf >/dev/null 2>&1 &
holder=$!
CLEANUP+=("kill $holder 2>/dev/null; wait $holder 2>/dev/null")
for _ in $(seq 100); do
  [[ $(lbd status rbd/rf) == "Watchers: none" ]] || break
  sleep 0.05
done
expect_fail -e 16 migration prepare rbd/rf p2/rf
kill $holder
wait $holder 2>/dev/null || true
[[ $(lbd ls p2) != *rf* ]] || fail "a refused prepare (source open) left p2/rf"
lbd export --no-progress rbd/rf "$TMP/rf-model.raw"   # the bench wrote into it
lbd migration prepare rbd/rf p2/rf
before=$(world)
expect_fail -e 16 migration prepare rbd/rf p2/rf2
expect_fail -e 16 migration prepare p2/rf p3/rf3
expect_fail -e 22 migration commit --no-progress p2/rf
expect_fail -e 22 migration execute --no-progress p2/taken
expect_eq "world after refused double prepares and an early commit" "$before" "$(world)"
expect_eq "state after refusals" prepared "$(mig_state p2/rf)"
# the target of a migration cannot go to the trash (rbd: "cannot move
# migrating image to trash"); if it went, it comes back for what follows
if "$LBD" trash mv p2/rf 2>/dev/null; then
  late_eq "trash mv p2/rf (a migration target) is refused" refused "moved to the trash"
  lbd trash restore "p2/$(lbd trash ls p2 | awk '$2 == "rf" {print $1}')"
fi
expect_eq "world after trash mv of the target" "$before" "$(world)"
# abort straight after prepare gives everything back
lbd migration abort --no-progress p2/rf
expect_eq "rf after abort" "Watchers: none" "$(lbd status rbd/rf)"
lbd export --no-progress rbd/rf - | cmp - "$TMP/rf-model.raw" || fail "abort after prepare changed rf"
[[ $(lbd ls p2) != *rf* ]] || fail "abort left the target p2/rf"

# ---- abort after client writes to the target --------------------------
make_raw "$TMP/ab.raw" 12M 3 0:2M 6M:3M 11M:1M
lbd import --no-progress "$TMP/ab.raw" ab
lbd snap create ab@s1
lbd bench --io-type write --io-size 64K --io-total 512K ab >/dev/null
lbd snap create ab@s2
ab_s1=$(lbd export --no-progress ab@s1 - | sha)
ab_s2=$(lbd export --no-progress ab@s2 - | sha)
ab_head=$(lbd export --no-progress ab - | sha)
ab_id=$(image_id ab)
nonempty() { find "$1" -path '*/data/*' -type f -size +0 | wc -l; }
p2_files=$(nonempty "$TMP/dir2")
lbd migration prepare --object-size 1M ab p2/ab
lbd bench --io-type write --io-size 4K --io-pattern rand --io-total 256K p2/ab >/dev/null
lbd migration execute --no-progress p2/ab
lbd bench --io-type write --io-size 16K --io-pattern rand --io-total 512K p2/ab >/dev/null
lbd snap create p2/ab@t1
lbd export --no-progress p2/ab "$TMP/ab-model.raw"
[[ $(sha <"$TMP/ab-model.raw") != "$ab_head" ]] || fail "the benches did not change p2/ab"
lbd migration abort --no-progress p2/ab
expect_eq "status of ab after abort" "Watchers: none" "$(lbd status ab)"
expect_eq "ab's id after abort" "$ab_id" "$(image_id ab)"
[[ $(lbd ls p2) != *ab* ]] || fail "abort left the target p2/ab: $(lbd ls p2)"
expect_eq "trash after abort" "" "$(lbd trash ls --all)"
lbd export --no-progress ab - | cmp - "$TMP/ab-model.raw" ||
  fail "after abort the source's head is not the target's head as it was"
expect_eq "ab@s1 after abort" "$ab_s1" "$(lbd export --no-progress ab@s1 - | sha)"
expect_eq "ab@s2 after abort" "$ab_s2" "$(lbd export --no-progress ab@s2 - | sha)"
expect_eq "ab's snapshots after abort (t1 was the target's)" "['s1', 's2']" \
  "$(lbd snap ls ab --format json | json '[s["name"] for s in d]')"
expect_eq "non-empty data files in p2 after the abort (the aborted target's are gone)" \
  "$p2_files" "$(nonempty "$TMP/dir2")"
lbd bench --io-type write --io-size 4K --io-total 4K ab >/dev/null ||
  fail "ab is not writable after abort"

# ---- a size that is not a multiple of the object size -----------------
make_raw "$TMP/odd.raw" 5124K 4 0:300K 4092K:8K 5M:4K
lbd import --no-progress "$TMP/odd.raw" odd
lbd snap create odd@s1
lbd bench --io-type write --io-size 4K --io-total 8K odd >/dev/null
odd_head=$(lbd export --no-progress odd - | sha)
lbd migration prepare --object-size 1M --stripe-unit 256K --stripe-count 3 odd p3/odd
expect_eq "odd size through the target before execute" "$odd_head" \
  "$(lbd export --no-progress p3/odd - | sha)"
lbd migration execute --no-progress p3/odd
lbd migration commit --no-progress p3/odd
expect_eq "odd size" 5246976 "$(lbd info p3/odd --format json | json 'd["size"]')"
expect_eq "odd size head" "$odd_head" "$(lbd export --no-progress p3/odd - | sha)"
lbd export --no-progress p3/odd@s1 - | cmp - "$TMP/odd.raw" || fail "odd size: snapshot s1 differs"

# ---- the target shrunk to zero between prepare and execute, a snapshot
# ---- of it empty, grown and written again; commit, and abort likewise
make_raw "$TMP/zero.raw" 3M 6 0:1M 2M:512K
for end in commit abort; do
  lbd import --no-progress "$TMP/zero.raw" zero-$end
  lbd snap create zero-$end@s1
  lbd migration prepare --object-size 1M zero-$end p3/zero-$end
  lbd resize --no-progress --size 0 --allow-shrink p3/zero-$end
  expect_eq "$end: size 0" 0 "$(lbd info p3/zero-$end --format json | json 'd["size"]')"
  expect_eq "$end: export of size 0" 0 "$(lbd export --no-progress p3/zero-$end - | wc -c)"
  lbd snap create p3/zero-$end@empty
  lbd resize --no-progress --size 2M p3/zero-$end
  lbd bench --io-type write --io-size 4K --io-total 8K p3/zero-$end >/dev/null
  lbd export --no-progress p3/zero-$end "$TMP/zero-$end-head.raw" >/dev/null
  [ "$(head -c 8192 "$TMP/zero-$end-head.raw" | tr -d '\0' | wc -c)" -gt 0 ] ||
    fail "$end: the write after the shrink is not there"
  cmp -s -n $((2 * 1048576 - 8192)) -i 8192 "$TMP/zero-$end-head.raw" /dev/zero ||
    fail "$end: the source's data came back after the shrink to zero"
  lbd migration execute --no-progress p3/zero-$end
  if [ $end = commit ]; then
    lbd migration commit --no-progress p3/zero-$end
    img=p3/zero-$end
  else
    lbd migration abort --no-progress p3/zero-$end
    img=zero-$end
  fi
  lbd export --no-progress $img - | cmp - "$TMP/zero-$end-head.raw" ||
    fail "$end: the head differs"
  lbd export --no-progress $img@s1 - | cmp - "$TMP/zero.raw" ||
    fail "$end: s1 differs"
  if [ $end = commit ]; then
    expect_eq "$end: the empty snapshot" 0 \
      "$(lbd export --no-progress $img@empty - | wc -c)"
  fi
done

# ---- a clone keeps its parent link through the migration (rbd's default);
# ---- with --flatten it ends independent and the parent has no child left
make_raw "$TMP/gold.raw" 8M 8 0:8M
lbd import --no-progress "$TMP/gold.raw" gold
lbd snap create gold@s
lbd snap protect gold@s
for how in keep flatten; do
  lbd clone gold@s p2/kid-$how
  lbd bench --io-type write --io-size 4K --io-total 64K p2/kid-$how >/dev/null
  lbd snap create p2/kid-$how@k1
  lbd bench --io-type write --io-size 4K --io-total 8K --io-pattern rand p2/kid-$how >/dev/null
  kid_head=$(lbd export --no-progress p2/kid-$how - | sha)
  kid_k1=$(lbd export --no-progress p2/kid-$how@k1 - | sha)
  lbd migration prepare --object-size 1M $([ $how = flatten ] && echo --flatten) \
    p2/kid-$how p3/kid-$how
  lbd migration execute --no-progress p3/kid-$how
  lbd migration commit --no-progress --verify p3/kid-$how
  expect_eq "$how: the clone's head" "$kid_head" "$(lbd export --no-progress p3/kid-$how - | sha)"
  expect_eq "$how: the clone's k1" "$kid_k1" "$(lbd export --no-progress p3/kid-$how@k1 - | sha)"
  parent=$(lbd info p3/kid-$how --format json | json 'd.get("parent", {}).get("image", "none")')
  if [ $how = keep ]; then
    expect_eq "keep: the parent link" gold "$parent"
    expect_eq "keep: the parent's children" p3/kid-keep "$(lbd children gold@s)"
    ! lbd snap unprotect gold@s 2>"$TMP/err" || fail "gold@s unprotected under a clone"
    grep -q p3/kid-keep "$TMP/err" || fail "the refusal does not name the clone: $(cat "$TMP/err")"
    lbd flatten --no-progress p3/kid-keep
  else
    expect_eq "flatten: no parent" none "$parent"
  fi
done
expect_eq "no children left" "" "$(lbd children gold@s)"
lbd snap unprotect gold@s

# ---- execute killed with SIGKILL half-way, a client writing meanwhile ---
make_raw "$TMP/big.raw" 48M 5 0:40M 44M:4M
lbd import --no-progress "$TMP/big.raw" big
lbd snap create big@s1
lbd bench --io-type write --io-size 4K --io-pattern rand --io-total 128K big >/dev/null
lbd export --no-progress big "$TMP/big-head.raw"
lbd pool create p4 --path "$TMP/dir4"
lbd migration prepare --object-size 16K big p4/big
total=$(lbd info p4/big --format json | json 'd["objects"]')
"$LBD" migration execute --no-progress --concurrency 1 p4/big &
pid=$!
CLEANUP+=("kill -9 $pid 2>/dev/null")
copied=0
for _ in $(seq 400); do
  copied=$(find "$TMP/dir4/data" -type f | wc -l)
  ((copied < total / 10)) || break
  sleep 0.01
done
kill -0 $pid 2>/dev/null || fail "execute ended before it was a tenth done ($copied of $total objects): make big bigger"
STATUS_EXECUTING=$(lbd status p4/big | grep 'state:' || true)
expect_fail -e 16 migration execute --no-progress p4/big    # one runs already
# a client writes the first MiB meanwhile (execute does not lock clients out)
lbd bench --io-type write --io-size 64K --io-total 1M p4/big >/dev/null
kill -9 $pid
wait $pid 2>/dev/null || true
copied=$(find "$TMP/dir4/data" -type f | wc -l)
expect_eq "state after kill -9 of execute (done before the kill? make big bigger)" \
  executing "$(mig_state p4/big)"
# expected: the bench's bytes over the first MiB, the source's after it
lbd export --no-progress p4/big "$TMP/big-mid.raw"
expect_fail -e 2 export --no-progress big@s1 "$TMP/never.raw"
cmp -i $MiB "$TMP/big-mid.raw" "$TMP/big-head.raw" ||
  fail "after kill -9 of execute the target's bytes past the client's first MiB are not the source's"
expect_eq "first MiB of big after the client's bench: one byte value" 1 \
  "$(head -c $MiB "$TMP/big-mid.raw" | od -An -v -tx1 -w1 | sort -u | wc -l)"
lbd migration execute --no-progress p4/big
expect_eq "state after the second execute" executed "$(mig_state p4/big)"
files=$(find "$TMP/dir4/data" -type f | wc -l)
((copied < files)) || fail "the second execute copied nothing: $copied files after the kill, $files after"
lbd export --no-progress p4/big - | cmp - "$TMP/big-mid.raw" ||
  fail "the second execute changed the target's bytes"
lbd migration commit --no-progress p4/big
lbd export --no-progress p4/big - | cmp - "$TMP/big-mid.raw" || fail "commit changed big's head"
lbd export --no-progress p4/big@s1 - | cmp - "$TMP/big.raw" || fail "big@s1 differs after kill -9, execute, commit"

# rbd status shows the progress of a running execute ("state: executing
# (32% complete)", the reference's "Execute Migration"); checked last so
# that everything above runs whatever this says.
[[ $STATUS_EXECUTING =~ ^$'\t'"state: executing ("[0-9]+"% complete)"$ ]] ||
  late_eq "status of the target during execute shows the progress" \
    $'\tstate: executing (N% complete)' "$STATUS_EXECUTING"
if ((${#LATE[@]})); then
  printf 'FAIL: %s\n' "${LATE[@]}" >&2
  exit 1
fi
echo "migration: ok"
