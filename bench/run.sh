#!/usr/bin/env bash
# Run the object store benchmark with its defaults and keep the results.
#
#   bench/run.sh [lbd-bench-objstore options...]     (or: make bench)
#
# Builds nothing: run `make build` first.  Writes the table and the JSON to
# bench/results/objstore-<UTC time>.{txt,json} (gitignored).  Works in
# bench/results/tmp (on the disk of the checkout, not tmpfs), removed after.
# Environment: LBD_BENCH_BIN (the binary), LBD_BENCH_DIR (work directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${LBD_BENCH_BIN:-$top/build/lbd-bench-objstore}
work=${LBD_BENCH_DIR:-$here/results/tmp}

if [ ! -x "$bin" ]; then
  echo "run.sh: $bin is missing; build it first with 'make build'" >&2
  exit 1
fi

mkdir -p "$here/results"
out=$here/results/objstore-$(date -u +%Y%m%dT%H%M%SZ)

if [ ! -w /proc/sys/vm/drop_caches ]; then
  echo "run.sh: /proc/sys/vm/drop_caches is not writable (not root?):" \
       "cold reads of lbd fall back to fadvise" >&2
fi

"$bin" --dir "$work" --json-file "$out.json" "$@" | tee "$out.txt"
echo "run.sh: results in $out.txt and $out.json" >&2
