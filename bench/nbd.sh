#!/usr/bin/env bash
# NBD throughput: `lbd nbd serve` (an lbd image on the embedded store)
# against `qemu-nbd` (a raw file), both on the same filesystem, driven by
# the same client: fio's nbd engine (libnbd), else `qemu-img bench`.
#
#   bench/nbd.sh [--size 1G] [--runtime 10] [--iodepth 32] [--dir DIR]
#
# Lines: 4 KiB random read and write (IOPS), 1 MiB sequential read and
# write (MiB/s).  Both exports are filled with data first (a sequential
# write pass), so reads read data, not holes.  Builds nothing: run `make
# build` first (LBD_BIN: the lbd binary).  Works in DIR (default
# bench/results/tmp, on the disk of the checkout), removed after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
lbd_bin=${LBD_BIN:-$top/build/lbd}
size=1G
runtime=10
iodepth=32
work=${LBD_BENCH_DIR:-$here/results/tmp}
while [ $# -gt 0 ]; do
  case $1 in
    --size) size=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --iodepth) iodepth=$2; shift 2 ;;
    --dir) work=$2; shift 2 ;;
    *) echo "nbd.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$lbd_bin" ] || { echo "nbd.sh: $lbd_bin is missing; run 'make build'" >&2; exit 1; }
command -v qemu-nbd >/dev/null || { echo "nbd.sh: qemu-nbd is missing (qemu-utils)" >&2; exit 1; }

client=qemu-img
if command -v fio >/dev/null && fio --enghelp 2>/dev/null | grep -qw nbd; then
  client=fio
fi

mkdir -p "$work"
run=$(mktemp -d "$work/nbd.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$run"
}
trap cleanup EXIT

export LBD_CLUSTER=$run/cluster
"$lbd_bin" create --size "$size" rbd/bench
truncate -s "$size" "$run/disk.raw"
bytes=$(stat -c %s "$run/disk.raw")

"$lbd_bin" nbd serve rbd/bench --socket "$run/lbd.sock" >"$run/lbd.out" 2>"$run/lbd.err" &
pids+=($!)
qemu-nbd -f raw -t -x '' --cache=writeback --aio=threads \
  --socket "$run/qemu.sock" "$run/disk.raw" 2>"$run/qemu.err" &
pids+=($!)
for _ in $(seq 100); do
  [ -S "$run/lbd.sock" ] && [ -S "$run/qemu.sock" ] && break
  sleep 0.1
done

# one_run SOCKET RW BS: prints IOPS and MiB/s
one_run() {
  local sock=$1 rw=$2 bs=$3
  if [ "$client" = fio ]; then
    fio --name=nbd --ioengine=nbd --uri="nbd+unix:///?socket=$sock" \
      --rw="$rw" --bs="$bs" --iodepth="$iodepth" --size="$bytes" \
      --time_based --runtime="$runtime" --ramp_time=1 --direct=1 \
      --norandommap --randrepeat=0 --output-format=json 2>/dev/null |
      python3 -c '
import json, sys
t = sys.stdin.read()
j = json.loads(t[t.index("{"):])["jobs"][0]  # after "fio: connected to NBD server"
side = j["read"] if j["read"]["io_bytes"] else j["write"]
print("%.0f %.1f" % (side["iops"], side["bw_bytes"] / 1048576))'
  else
    local w="" pattern=""
    case $rw in *write) w=-w ;; esac
    local count=$(( runtime * 20000 ))
    [ "$bs" = 1M ] && count=$(( runtime * 300 ))
    local t0 t1
    t0=$(date +%s.%N)
    qemu-img bench -f raw $w -t none -c "$count" -d "$iodepth" -s "$bs" \
      -S "$([ "${rw#rand}" != "$rw" ] && echo 1048583 || echo "$bs")" \
      "nbd+unix:///?socket=$sock" >/dev/null
    t1=$(date +%s.%N)
    python3 -c "
t = $t1 - $t0; n = $count; bs = {'4k': 4096, '1M': 1 << 20}['$bs']
print('%.0f %.1f' % (n / t, n * bs / t / 1048576))"
  fi
}

# fill both, so that reads read data
for sock in lbd qemu; do
  if [ "$client" = fio ]; then
    fio --name=fill --ioengine=nbd --uri="nbd+unix:///?socket=$run/$sock.sock" \
      --rw=write --bs=1M --iodepth=8 --size="$bytes" >/dev/null 2>&1
  else
    qemu-img convert -n -f raw -O raw <(head -c "$bytes" /dev/urandom) \
      "nbd+unix:///?socket=$run/$sock.sock"
  fi
done

fs=$(df -T "$run" | awk 'NR == 2 {print $2}')
printf 'NBD: lbd nbd serve vs qemu-nbd (raw file); client %s, iodepth %s, %s s per line, size %s, %s on %s, %s CPUs\n' \
  "$client" "$iodepth" "$runtime" "$size" "$fs" "$(hostname)" "$(nproc)"
printf '%-22s %12s %12s %8s\n' line qemu-nbd lbd lbd/qemu
for line in "randread 4k" "randwrite 4k" "read 1M" "write 1M"; do
  set -- $line
  q=$(one_run "$run/qemu.sock" "$1" "$2")
  l=$(one_run "$run/lbd.sock" "$1" "$2")
  if [ "$2" = 4k ]; then unit=IOPS; qv=${q% *}; lv=${l% *}
  else unit=MiB/s; qv=${q#* }; lv=${l#* }; fi
  printf '%-22s %12s %12s %7.0f%%\n' "$1 $2 ($unit)" "$qv" "$lv" \
    "$(python3 -c "print(100 * $lv / $qv if $qv else 0)")"
done
