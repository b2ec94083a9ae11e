#!/usr/bin/env bash
# Import-only migration against qemu-img and curl, on one filesystem.
#
#   bench/import.sh [options]
#
#   --dir DIR         work directory (default ./bench-tmp); a run directory
#                     DIR/import.PID is made in it and removed at the end
#   --qcow-gib N      virtual size of the QCOW2 (default 4)
#   --every N         one 4 MiB slot of pseudo-random data in every N
#                     (default 4: 25% allocated)
#   --http-gib N      size of the raw file served by nginx (default 2; fully
#                     written)
#   --rounds N        timed rounds of each pass (default 3)
#   --threads N       lbd migration execute --concurrency (default: lbd's, 8)
#   --keep            keep the run directory
#
# Passes:
#   qcow:  a QCOW2 (made by qemu-img convert from a sparse raw file) is
#          imported: `lbd migration prepare --import-only` with a qcow
#          source over a file stream, then `lbd migration execute`, timed
#          together, into a fresh cluster; against `qemu-img convert -O raw`
#          of the same file to a new local file, and that followed by
#          `sync --data` of the copy (lbd's execute ends with its data on
#          disk; qemu-img leaves the copy in the page cache).
#   http:  a raw file behind nginx (started on 127.0.0.1 with a
#          throw-away configuration) is imported the same way over an http
#          stream; against `curl -o /dev/null` of the same URL (curl writes
#          nothing: it is the ceiling of what the link and nginx give).
#          Two more lbd lines split the cost: the same import into a
#          cluster on tmpfs (/dev/shm: no disk, but every byte still copied
#          into the store), and lbd-bench-stream, the http stream alone
#          read whole by 8 threads in 4 MiB pieces, as execute reads it
#          (what the "HTTP at 80% of curl" target is about).
# Before every timed pass the source file's pages are evicted from the
# page cache (the migration helper's `evict`), so both sides read it from
# the disk.  Even rounds run lbd first, odd rounds the other first.
# Figures: median of the rounds [min .. max]; MiB/s = bytes of the source
# (qcow: the data it holds; http: the file) / wall time.
#
# Environment: LBD (default build/lbd), LBD_BENCH_MIGRATION_HELPER
# (default build/lbd-bench-migration-helper), LBD_BENCH_STREAM (default
# build/lbd-bench-stream).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
lbd_bin=${LBD:-$top/build/lbd}
helper=${LBD_BENCH_MIGRATION_HELPER:-$top/build/lbd-bench-migration-helper}
stream_bin=${LBD_BENCH_STREAM:-$top/build/lbd-bench-stream}

dir=./bench-tmp qcow_gib=4 every=4 http_gib=2 rounds=3 threads="" keep=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
number() { [[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "import.sh: $1 takes a positive number, not '$2'" >&2; exit 2; }; }
while (($#)); do
  case $1 in
    --dir) dir=$2; shift 2 ;;
    --qcow-gib) number "$1" "$2"; qcow_gib=$2; shift 2 ;;
    --every) number "$1" "$2"; every=$2; shift 2 ;;
    --http-gib) number "$1" "$2"; http_gib=$2; shift 2 ;;
    --rounds) number "$1" "$2"; rounds=$2; shift 2 ;;
    --threads) number "$1" "$2"; threads=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "import.sh: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
for b in "$lbd_bin" "$helper" "$stream_bin"; do
  [ -x "$b" ] || { echo "import.sh: $b is missing: make build first" >&2; exit 1; }
done
for c in qemu-img curl nginx python3; do
  command -v "$c" >/dev/null || [ -x /usr/sbin/$c ] || { echo "import.sh: $c is missing: scripts/install-deps.sh" >&2; exit 1; }
done

mkdir -p "$dir"
run=$(cd "$dir" && pwd)/import.$$
mkdir -p "$run"
nginx_pid=""
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  [ "$keep" = 1 ] || rm -rf "$run"
  rm -rf "/dev/shm/lbd-bench-import.$$"
}
trap cleanup EXIT

conc=()
[ -n "$threads" ] && conc=(--concurrency "$threads")
now() { date +%s.%N; }
evict() { "$helper" evict "$@" >/dev/null; }
median() { sort -g | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.2f [%.2f .. %.2f]", m, a[1], a[NR]}'; }

# ---- the QCOW2 -----------------------------------------------------------
echo "making a ${qcow_gib} GiB QCOW2, one 4 MiB slot in $every written ..." >&2
data_bytes=$("$helper" fill "$run/src.raw" "${qcow_gib}G" "$every")
qemu-img convert -q -f raw -O qcow2 "$run/src.raw" "$run/src.qcow2"
rm -f "$run/src.raw"
qcow_spec="{\"type\": \"qcow\", \"stream\": {\"type\": \"file\", \"file_path\": \"$run/src.qcow2\"}}"

lbd_import() { # spec [cluster dir] -> seconds for prepare + execute
  local spec=$1 cl=${2:-$run/cluster} t0 t1
  rm -rf "$cl"
  "$lbd_bin" --cluster-dir "$cl" ls >/dev/null
  t0=$(now)
  "$lbd_bin" --cluster-dir "$cl" migration prepare --import-only --source-spec "$spec" rbd/dst
  "$lbd_bin" --cluster-dir "$cl" migration execute "${conc[@]}" rbd/dst >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}
qemu_convert() { # -> seconds; with $1 = sync, the copy synced too
  local t0 t1
  rm -f "$run/out.raw"
  t0=$(now)
  qemu-img convert -q -f qcow2 -O raw "$run/src.qcow2" "$run/out.raw"
  [ "${1:-}" = sync ] && sync --data "$run/out.raw"
  t1=$(now)
  echo "$t1 - $t0" | bc -l
}

: >"$run/t.lbd"; : >"$run/t.qemu"; : >"$run/t.qemusync"
for ((i = 0; i < rounds; i++)); do
  if ((i % 2 == 0)); then
    evict "$run/src.qcow2"; lbd_import "$qcow_spec" >>"$run/t.lbd"
    evict "$run/src.qcow2"; qemu_convert >>"$run/t.qemu"
    evict "$run/src.qcow2"; qemu_convert sync >>"$run/t.qemusync"
  else
    evict "$run/src.qcow2"; qemu_convert sync >>"$run/t.qemusync"
    evict "$run/src.qcow2"; qemu_convert >>"$run/t.qemu"
    evict "$run/src.qcow2"; lbd_import "$qcow_spec" >>"$run/t.lbd"
  fi
  rm -rf "$run/cluster" "$run/out.raw"
done

# ---- HTTP ----------------------------------------------------------------
echo "making a ${http_gib} GiB raw file for nginx ..." >&2
mkdir -p "$run/www" "$run/nginx"
"$helper" fill "$run/www/big.raw" "${http_gib}G" 1 >/dev/null
http_bytes=$((http_gib << 30))
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$run/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $run/nginx/nginx.pid; error_log $run/nginx/error.log warn;
events { worker_connections 1024; }
http { access_log off; default_type application/octet-stream;
  client_body_temp_path $run/nginx/t1; proxy_temp_path $run/nginx/t2;
  fastcgi_temp_path $run/nginx/t3; uwsgi_temp_path $run/nginx/t4;
  scgi_temp_path $run/nginx/t5; keepalive_requests 100000;
  sendfile on; tcp_nopush on;
  server { listen 127.0.0.1:$port; root $run/www; location / { } } }
EOF
/usr/sbin/nginx -e "$run/nginx/error.log" -p "$run/nginx" -c "$run/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
url=http://127.0.0.1:$port/big.raw
http_spec="{\"type\": \"raw\", \"stream\": {\"type\": \"http\", \"url\": \"$url\"}}"
curl_get() {
  local t0 t1
  t0=$(now); curl -sf -o /dev/null "$url"; t1=$(now)
  echo "$t1 - $t0" | bc -l
}
stream_get() {
  "$stream_bin" "{\"type\": \"http\", \"url\": \"$url\"}" 8 4 | awk '{print $3}'
}
shm=/dev/shm/lbd-bench-import.$$
: >"$run/h.lbd"; : >"$run/h.curl"; : >"$run/h.shm"; : >"$run/h.stream"
for ((i = 0; i < rounds; i++)); do
  if ((i % 2 == 0)); then
    evict "$run/www"; lbd_import "$http_spec" >>"$run/h.lbd"
    evict "$run/www"; lbd_import "$http_spec" "$shm" >>"$run/h.shm"
    evict "$run/www"; stream_get >>"$run/h.stream"
    evict "$run/www"; curl_get >>"$run/h.curl"
  else
    evict "$run/www"; curl_get >>"$run/h.curl"
    evict "$run/www"; stream_get >>"$run/h.stream"
    evict "$run/www"; lbd_import "$http_spec" "$shm" >>"$run/h.shm"
    evict "$run/www"; lbd_import "$http_spec" >>"$run/h.lbd"
  fi
  rm -rf "$run/cluster" "$shm"
done

# ---- the table -----------------------------------------------------------
mibs() { awk -v b="$1" '{printf "%.1f\n", b / 1048576 / $1}' "$2" | median; }
secs() { median <"$1"; }
echo
echo "import.sh: $(nproc) CPUs, $(uname -r), $(df -T "$run" | awk 'NR==2 {print $2}'), rounds $rounds"
printf "%-52s %-26s %s\n" "pass" "seconds" "MiB/s"
printf "%-52s %-26s %s\n" "qcow2 ${qcow_gib} GiB, $((data_bytes >> 20)) MiB data: lbd prepare+execute" "$(secs "$run/t.lbd")" "$(mibs "$data_bytes" "$run/t.lbd")"
printf "%-52s %-26s %s\n" "  qemu-img convert -O raw" "$(secs "$run/t.qemu")" "$(mibs "$data_bytes" "$run/t.qemu")"
printf "%-52s %-26s %s\n" "  qemu-img convert -O raw + sync" "$(secs "$run/t.qemusync")" "$(mibs "$data_bytes" "$run/t.qemusync")"
printf "%-52s %-26s %s\n" "http raw ${http_gib} GiB: lbd prepare+execute" "$(secs "$run/h.lbd")" "$(mibs "$http_bytes" "$run/h.lbd")"
printf "%-52s %-26s %s\n" "  lbd prepare+execute, cluster on tmpfs" "$(secs "$run/h.shm")" "$(mibs "$http_bytes" "$run/h.shm")"
printf "%-52s %-26s %s\n" "  lbd http stream alone (lbd-bench-stream)" "$(secs "$run/h.stream")" "$(mibs "$http_bytes" "$run/h.stream")"
printf "%-52s %-26s %s\n" "  curl -o /dev/null" "$(secs "$run/h.curl")" "$(mibs "$http_bytes" "$run/h.curl")"
