#!/usr/bin/env bash
# lbd migration execute against cp, on one filesystem.
#
#   bench/migration.sh [options]        (or: bench/run.sh migration [options])
#
#   --dir DIR         work directory (default ./bench-tmp; run.sh:
#                     bench/results/tmp); a run directory DIR/migration.PID
#                     is made in it and removed at the end
#   --full-gib N      size of the fully written image and file (default 4)
#   --sparse-gib N    size of the partly written image and file (default 16)
#   --percent P       how much of it is written, in 4 MiB chunks spread
#                     evenly (default 10)
#   --rounds N        timed rounds of each pass (default 3)
#   --json-file F     also write the figures as JSON to F
#   --keep            keep the run directory
#
# Passes, each on the same filesystem (a cluster with its default pool
# rbd in DIR/migration.PID/cluster and a pool p2 with --path
# DIR/migration.PID/p2):
#   full:    an image of --full-gib, every byte written (import of a file of
#            pseudo-random data), migrated between the two pools (rbd -> p2,
#            then back, ...): prepare, execute, commit, each timed; against
#            cp of the same file to a new file, and cp followed by
#            `sync --data` of the copy (lbd's execute ends with its data on
#            disk: every object it creates is synced, and the image is
#            flushed when it closes; cp leaves the copy in the page cache).
#   sparse:  the same with an image of --sparse-gib of which --percent is
#            written (the rest never written: holes), against cp of the
#            sparse file (cp keeps holes: it skips them with SEEK_DATA).
# Before every timed copy the source's pages are evicted from the page
# cache (syncfs, then POSIX_FADV_DONTNEED on each of its files: the
# helper's `evict`), so both sides read it from the disk; the rest of the
# machine's page cache is left alone.  Even rounds run lbd first, odd rounds
# cp first.  Figures: median of the rounds [min .. max]; MiB/s = bytes of
# data copied / wall time.
#
# Environment: LBD (the lbd binary, default build/lbd),
# LBD_BENCH_MIGRATION_HELPER (default build/lbd-bench-migration-helper).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
lbd_bin=${LBD:-$top/build/lbd}
helper=${LBD_BENCH_MIGRATION_HELPER:-$top/build/lbd-bench-migration-helper}

dir=./bench-tmp full_gib=4 sparse_gib=16 percent=10 rounds=3 json_file="" keep=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
number() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "migration.sh: $1 takes a positive number, not '$2'" >&2; exit 2; }; }
while (($#)); do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --full-gib) number "$1" "$2"; full_gib=$2; shift 2 ;;
    --sparse-gib) number "$1" "$2"; sparse_gib=$2; shift 2 ;;
    --percent) number "$1" "$2"; percent=$2; shift 2 ;;
    --rounds) number "$1" "$2"; rounds=$2; shift 2 ;;
    --json-file) json_file=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "migration.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
((percent <= 100)) || { echo "migration.sh: --percent is at most 100" >&2; exit 2; }
for b in "$lbd_bin" "$helper"; do
  [[ -x $b ]] || { echo "migration.sh: $b is missing; build it first with 'make build'" >&2; exit 1; }
done

mkdir -p "$dir"
run=$(cd "$dir" && pwd)/migration.$$
mkdir "$run"
cleanup() {
  if ((keep)); then
    echo "migration.sh: kept $run" >&2
  else
    rm -rf "$run"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export LBD_CLUSTER=$run/cluster
L() { "$lbd_bin" "$@"; }
say() { echo "migration.sh: $*" >&2; }

# need GIB: stop unless the filesystem has GIB GiB free (and 2 more).
need() {
  local avail
  avail=$(df -P -k "$run" | awk 'NR == 2 {print $4}')
  ((avail / 1048576 >= $1 + 2)) ||
    { say "needs $(($1 + 2)) GiB free in $run, has $((avail / 1048576))"; exit 1; }
}

# timed NAME CMD...: run CMD, append "NAME wall_s cpu_s" to $run/times.
timed() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$run/cpu" "$@"
  t1=$(date +%s%N)
  echo "$name $(((t1 - t0) / 1000)) $(awk '{printf "%.2f", $1 + $2}' "$run/cpu")" >>"$run/times"
}

# evict PATH...: the source's pages out of the page cache; say if some stay.
evict() {
  local left
  left=$("$helper" evict "$@")
  ((left < 16 * 1048576)) || say "warning: $((left / 1048576)) MiB of $* still in the page cache"
}

# lbd_pass PASS ROUND SRC DST: one migration, timed step by step.
lbd_pass() {
  local pass=$1 round=$2 src=$3 dst=$4
  timed "$pass.prepare.$round" "$lbd_bin" migration prepare "$src" "$dst"
  evict "$run/cluster" "$run/p2"
  timed "$pass.execute.$round" "$lbd_bin" migration execute --no-progress "$dst"
  timed "$pass.commit.$round" "$lbd_bin" migration commit --no-progress "$dst"
}

# cp_pass PASS ROUND FILE: cp of FILE to a new file, then its fdatasync.
cp_pass() {
  local pass=$1 round=$2 file=$3
  rm -f "$run/copy.raw"
  sync -f "$run"
  evict "$file"
  timed "$pass.cp.$round" cp "$file" "$run/copy.raw"
  timed "$pass.fsync.$round" sync --data "$run/copy.raw"
  rm -f "$run/copy.raw"
}

# pass NAME FILE|--size=N: import FILE as image rbd/NAME (or create an
# empty one of N GiB, then no cp), then the rounds.
pass() {
  local name=$1 file=$2 round src=rbd/$1 dst=p2/$1
  if [[ $file == --size=* ]]; then
    timed "$name.import.0" "$lbd_bin" create --size "${file#--size=}G" "$src"
    file=""
  else
    timed "$name.import.0" "$lbd_bin" import --no-progress "$file" "$src"
  fi
  for ((round = 1; round <= rounds; round++)); do
    if [[ -z $file ]]; then
      lbd_pass "$name" "$round" "$src" "$dst"
    elif ((round % 2 == 0)); then
      lbd_pass "$name" "$round" "$src" "$dst"
      cp_pass "$name" "$round" "$file"
    else
      cp_pass "$name" "$round" "$file"
      lbd_pass "$name" "$round" "$src" "$dst"
    fi
    local t=$src
    src=$dst dst=$t
  done
  # the bytes are right, and the holes stayed holes (untimed)
  if [[ -n $file ]]; then
    L export --no-progress "$src" - | cmp - "$file" || { say "$src differs from $file"; exit 1; }
  fi
  L du "$src" --format json >"$run/$name.du"
  L rm "$src"
}

load_start=$(cut -d' ' -f1 /proc/loadavg)
: >"$run/times"
L pool create p2 --path "$run/p2" >/dev/null

need $((3 * full_gib))
say "full: writing a ${full_gib} GiB file"
full_bytes=$("$helper" fill "$run/full.raw" "${full_gib}G" 1)
pass full "$run/full.raw"
rm -f "$run/full.raw"

every=$((100 / percent))
need $((3 * sparse_gib * percent / 100 + 1))
say "sparse: writing a ${sparse_gib} GiB file, 4 MiB of every $((every * 4)) MiB"
sparse_bytes=$("$helper" fill "$run/sparse.raw" "${sparse_gib}G" "$every")
pass sparse "$run/sparse.raw"
rm -f "$run/sparse.raw"
say "empty: a ${sparse_gib} GiB image never written"
pass empty "--size=$sparse_gib"
load_end=$(cut -d' ' -f1 /proc/loadavg)

# ---- the report ---------------------------------------------------------
python3 - "$run/times" "$full_bytes" "$sparse_bytes" "$full_gib" "$sparse_gib" \
  "$percent" "$rounds" "$load_start" "$load_end" "$(findmnt -n -o FSTYPE -T "$run")" \
  "$(nproc)" "$(uname -r)" "$json_file" "$run" <<'EOF'
import json, statistics, sys
(times, full_b, sparse_b, full_gib, sparse_gib, pct, rounds, l0, l1, fs,
 ncpu, kernel, json_file, run) = sys.argv[1:]
full_b, sparse_b = int(full_b), int(sparse_b)
t = {}
for line in open(times):
    name, us, cpu = line.split()
    pass_, step, rnd = name.split(".")
    t.setdefault((pass_, step), []).append((int(us) / 1e6, float(cpu)))
def stat(pass_, *steps):
    """median, min, max wall seconds of the sum of STEPS per round; cpu"""
    per = [sum(x) for x in zip(*[[w for w, _ in t[(pass_, s)]] for s in steps])]
    cpu = [sum(x) for x in zip(*[[c for _, c in t[(pass_, s)]] for s in steps])]
    return statistics.median(per), min(per), max(per), statistics.median(cpu)
MiB = 1 << 20
out = {"host": {"fs": fs, "cpus": int(ncpu), "kernel": kernel,
                "load_start": float(l0), "load_end": float(l1)},
       "rounds": int(rounds), "passes": {}}
print(f"lbd migration execute vs cp: one {fs} filesystem, {ncpu} CPUs, "
      f"kernel {kernel}, load {l0} -> {l1}")
print(f"source evicted from the page cache before each copy; "
      f"median of {rounds} rounds [min .. max]; MiB/s of data copied; "
      f"lbd/cp = cp's time / lbd's")
if float(l0) > 1.0:
    print(f"WARNING: the machine was busy at the start (load {l0})")
print()
hdr = f"{'':<28}{'wall s':>8} {'[min .. max]':<17}{'MiB/s':>8}{'cpu s':>8}  {'lbd/cp':>7}{'lbd/(cp+sync)':>14}"
for pass_, data, size, what in (
        ("full", full_b, int(full_gib) << 30, f"{full_gib} GiB, all written"),
        ("sparse", sparse_b, int(sparse_gib) << 30,
         f"{sparse_gib} GiB, {pct}% written ({sparse_b / MiB:.0f} MiB)")):
    print(f"{pass_}: {what}")
    print(hdr)
    ex = stat(pass_, "execute")
    cp = stat(pass_, "cp")
    cps = stat(pass_, "cp", "fsync")
    rows = {}
    for label, s in (("lbd migration execute", ex), ("cp", cp),
                     ("cp + sync --data", cps)):
        rate = data / MiB / s[0]
        rows[label] = {"wall_s": s[0], "min_s": s[1], "max_s": s[2],
                       "mib_s": rate, "cpu_s": s[3]}
        rel = (f"{cp[0] / s[0] * 100:6.0f}%{cps[0] / s[0] * 100:13.0f}%"
               if label.startswith("lbd") else "")
        print(f"  {label:<26}{s[0]:8.2f} [{s[1]:.2f} .. {s[2]:.2f}]".ljust(53)
              + f"{rate:8.0f}{s[3]:8.2f}  {rel}")
    for step in ("prepare", "commit", "import"):
        s = stat(pass_, step)
        rows[step] = {"wall_s": s[0], "min_s": s[1], "max_s": s[2], "cpu_s": s[3]}
        print(f"  {'lbd migration ' + step if step != 'import' else 'lbd import (setup)':<26}"
              f"{s[0] * 1000:8.0f} ms [{s[1] * 1000:.0f} .. {s[2] * 1000:.0f}]")
    du = json.load(open(f"{run}/{pass_}.du"))
    used = du["images"][0]["used_size"]
    print(f"  image after the last round: {used / MiB:.0f} MiB used of "
          f"{size / MiB:.0f} MiB (lbd du)")
    out["passes"][pass_] = {"size": size, "data_bytes": data, "used": used,
                            "execute_vs_cp": cp[0] / ex[0],
                            "execute_vs_cp_fsync": cps[0] / ex[0], "lines": rows}
    print()
em = stat("empty", "execute")
print(f"empty: {sparse_gib} GiB, never written")
for step, s in (("execute", em), ("prepare", stat("empty", "prepare")),
                ("commit", stat("empty", "commit"))):
    print(f"  {'lbd migration ' + step:<26}{s[0] * 1000:8.0f} ms [{s[1] * 1000:.0f} .. {s[2] * 1000:.0f}]")
    out["passes"].setdefault("empty", {"size": int(sparse_gib) << 30, "lines": {}})["lines"][step] = \
        {"wall_s": s[0], "min_s": s[1], "max_s": s[2], "cpu_s": s[3]}
print()
full_rate = out["passes"]["full"]["lines"]["lbd migration execute"]["mib_s"]
sp = out["passes"]["sparse"]["lines"]["lbd migration execute"]
pred = sparse_b / MiB / full_rate
print(f"time follows the written data: the sparse execute took {sp['wall_s']:.2f} s, "
      f"{sparse_b / MiB:.0f} MiB at the full pass's {full_rate:.0f} MiB/s would take "
      f"{pred:.2f} s ({sp['wall_s'] / pred * 100:.0f}%); the same image never written: "
      f"{em[0]:.2f} s")
out["sparse_vs_predicted"] = sp["wall_s"] / pred
if json_file:
    with open(json_file, "w") as f:
        json.dump(out, f, indent=1)
EOF
