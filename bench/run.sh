#!/usr/bin/env bash
# Run the benchmarks with their defaults and keep the results.
#
#   bench/run.sh                          (or: make bench) both, defaults
#   bench/run.sh objstore [options...]    lbd-bench-objstore only
#   bench/run.sh image [options...]       lbd-bench-image only
#   bench/run.sh migration [options...]   bench/migration.sh: lbd migration
#                                         execute against cp (not in the
#                                         default run: ~3 min, ~14 GiB of disk)
#   bench/run.sh --count 32 ...           options alone: objstore only, as
#                                         before there were two
#
# Builds nothing: run `make build` first.  Writes each table and its JSON to
# bench/results/<objstore|image|migration>-<UTC time>.{txt,json}
# (gitignored).  Works in bench/results/tmp (on the disk of the checkout, not
# tmpfs), removed after.  Environment: LBD_BENCH_BIN (the objstore binary),
# LBD_BENCH_IMAGE_BIN (the image binary), LBD_BENCH_DIR (work directory);
# bench/migration.sh reads LBD and LBD_BENCH_MIGRATION_HELPER.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
objstore_bin=${LBD_BENCH_BIN:-$top/build/lbd-bench-objstore}
image_bin=${LBD_BENCH_IMAGE_BIN:-$top/build/lbd-bench-image}
migration_script=$here/migration.sh
work=${LBD_BENCH_DIR:-$here/results/tmp}

which=all
case "${1:-}" in
  objstore|image|migration) which=$1; shift ;;
  "") ;;
  -*) which=objstore ;;
  *) echo "run.sh: unknown benchmark '$1' (objstore, image or migration)" >&2; exit 2 ;;
esac

run_one() { # name binary options...
  local name=$1 bin=$2
  shift 2
  if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is missing; build it first with 'make build'" >&2
    exit 1
  fi
  local out
  out=$here/results/$name-$(date -u +%Y%m%dT%H%M%SZ)
  "$bin" --dir "$work" --json-file "$out.json" "$@" | tee "$out.txt"
  echo "run.sh: results in $out.txt and $out.json" >&2
}

mkdir -p "$here/results"
if [ ! -w /proc/sys/vm/drop_caches ]; then
  echo "run.sh: /proc/sys/vm/drop_caches is not writable (not root?):" \
       "cold passes of lbd fall back to fadvise" >&2
fi

case $which in
  objstore) run_one objstore "$objstore_bin" "$@" ;;
  image) run_one image "$image_bin" "$@" ;;
  migration) run_one migration "$migration_script" "$@" ;;
  all)
    run_one objstore "$objstore_bin"
    echo
    run_one image "$image_bin"
    ;;
esac
