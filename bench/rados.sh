#!/usr/bin/env bash
# lbd's migrations into and inside Ceph against Ceph's own tools, on one
# throw-away one-node cluster (scripts/ceph-test-cluster.sh: memstore).
#
#   bench/rados.sh [--gib N] [--rounds N] [--dir DIR] [--pg N]
#
#   --gib N      image size, every byte written (default 2)
#   --rounds N   timed rounds of each pass (default 3), each on a fresh
#                cluster (memstore keeps everything in RAM)
#   --dir DIR    work directory (default bench/results/tmp, on the disk of
#                the checkout): the raw file, lbd's local pool, the cluster
#   --pg N       placement groups of each RADOS pool (default 8), the same
#                for lbd's pools and rbd's
#
# Passes, each round:
#   into:    `lbd migration prepare` + `execute` of a dense image from a
#            local pool (on DIR) into a RADOS pool, against `rbd import` of
#            the same raw file into another RADOS pool of the same cluster.
#   native:  migration between two RADOS pools of the same image (the
#            same raw file imported first, by each tool): `lbd migration
#            prepare` + `execute` against `rbd migration prepare` +
#            `rbd migration execute`.
# Figures: median seconds [min .. max] and MiB/s of the median (image
# bytes / wall time).  Builds nothing: LBD (default build/lbd).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
lbd_bin=${LBD:-$top/build/lbd}
gib=2
rounds=3
pg=8
work=${LBD_BENCH_DIR:-$here/results/tmp}
while [ $# -gt 0 ]; do
  case $1 in
    --gib) gib=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --dir) work=$2; shift 2 ;;
    --pg) pg=$2; shift 2 ;;
    *) echo "rados.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$lbd_bin" ] || { echo "rados.sh: $lbd_bin is missing; run 'make build'" >&2; exit 1; }

mkdir -p "$work"
run=$(mktemp -d "$work/rados.XXXXXX")
ceph_dir=$run/ceph
cleanup() {
  "$top/scripts/ceph-test-cluster.sh" stop "$ceph_dir" >/dev/null 2>&1 || true
  rm -rf "$run"
}
trap cleanup EXIT INT TERM

bytes=$((gib * 1073741824))
echo "making a ${gib} GiB file of pseudo-random data ..." >&2
{ openssl enc -aes-128-ctr -nosalt -pass pass:lbd-bench -in /dev/zero \
    2>/dev/null || true; } | head -c "$bytes" > "$run/src.raw"

# A cluster big enough for a source and a target of the image at once.
cluster_up() {
  "$top/scripts/ceph-test-cluster.sh" stop "$ceph_dir" >/dev/null 2>&1 || true
  CEPH_ARGS="--memstore_device_bytes=$(( (4 * gib + 2) * 1073741824 ))" \
    "$top/scripts/ceph-test-cluster.sh" start "$ceph_dir" >&2
  conf=$ceph_dir/ceph.conf
  rm -rf "$run/cluster"
  for p in lbd-a lbd-b rbd-a rbd-b; do
    for try in 1 2 3 4 5; do # a young monitor may answer EAGAIN
      ceph -c "$conf" osd pool create "$p" "$pg" "$pg" >/dev/null 2>"$run/err" &&
        ceph -c "$conf" osd pool application enable "$p" rbd >/dev/null 2>>"$run/err" &&
        break
      [ "$try" -lt 5 ] || { cat "$run/err" >&2; exit 1; }
      sleep 1
    done
  done
  for p in lbd-a lbd-b rbd-a rbd-b; do
    rbd -c "$conf" pool init "$p"
  done
  lbd pool create ca --backend rados --ceph-conf "$conf" --rados-pool lbd-a >/dev/null
  lbd pool create cb --backend rados --ceph-conf "$conf" --rados-pool lbd-b >/dev/null
}
lbd() { "$lbd_bin" --cluster-dir "$run/cluster" "$@"; }
rbd_() { rbd -c "$conf" "$@"; }
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", b - a }'; }
median() { sort -g | awk -v mib=$((bytes / 1048576)) '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%6.2f s [%.2f .. %.2f]  %6.0f MiB/s", m, a[1], a[NR], mib / m}'; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }

: > "$run/t.into.lbd"; : > "$run/t.into.rbd"
: > "$run/t.native.lbd"; : > "$run/t.native.rbd"
for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds ..." >&2
  cluster_up
  # into: local pool -> RADOS (lbd), raw file -> RADOS (rbd import)
  lbd import "$run/src.raw" rbd/img >/dev/null
  drop_caches
  t0=$(now)
  lbd migration prepare rbd/img ca/img
  lbd migration execute ca/img >/dev/null
  t1=$(now)
  dt "$t0" "$t1" >> "$run/t.into.lbd"
  lbd migration commit ca/img >/dev/null
  drop_caches
  t0=$(now)
  rbd_ import --no-progress "$run/src.raw" rbd-a/img
  t1=$(now)
  dt "$t0" "$t1" >> "$run/t.into.rbd"
  # native: RADOS pool -> RADOS pool, each tool its own image of the data.
  # lbd's commit frees its source's memory in the OSD (memstore), which
  # rbd's pass then reuses without faulting it in: lbd's pass gets as much
  # freed memory, from an image written and removed before it.
  rbd_ import --no-progress "$run/src.raw" rbd-a/scratch
  rbd_ rm --no-progress rbd-a/scratch
  t0=$(now)
  lbd migration prepare ca/img cb/img
  lbd migration execute cb/img >/dev/null
  t1=$(now)
  dt "$t0" "$t1" >> "$run/t.native.lbd"
  lbd migration commit cb/img >/dev/null
  t0=$(now)
  rbd_ migration prepare rbd-a/img rbd-b/img
  rbd_ migration execute --no-progress rbd-b/img
  t1=$(now)
  dt "$t0" "$t1" >> "$run/t.native.rbd"
  rbd_ migration commit --no-progress rbd-b/img >/dev/null
  echo "  into: lbd $(tail -1 "$run/t.into.lbd") s, rbd import $(tail -1 "$run/t.into.rbd") s;" \
       "native: lbd $(tail -1 "$run/t.native.lbd") s, rbd $(tail -1 "$run/t.native.rbd") s" >&2
  lbd rm cb/img >/dev/null
  lbd pool rm ca --force >/dev/null
  lbd pool rm cb --force >/dev/null
done

echo "RADOS, ${gib} GiB dense image, ${rounds} rounds, ${pg} PGs per pool (median [min .. max])"
echo "  local pool -> RADOS   lbd migration prepare+execute  $(median < "$run/t.into.lbd")"
echo "  raw file   -> RADOS   rbd import                     $(median < "$run/t.into.rbd")"
echo "  RADOS      -> RADOS   lbd migration prepare+execute  $(median < "$run/t.native.lbd")"
echo "  RADOS      -> RADOS   rbd migration prepare+execute  $(median < "$run/t.native.rbd")"
