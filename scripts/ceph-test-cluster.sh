#!/bin/sh
# A throw-away one-node Ceph cluster for lbd's rados tests.
#
#   scripts/ceph-test-cluster.sh start DIR   # writes DIR/ceph.conf, DIR/pids
#   scripts/ceph-test-cluster.sh stop DIR    # ends exactly those daemons, rm -rf DIR
#
# One monitor, one manager, one OSD on memstore (RAM: keep data small and
# stop the cluster after each run), pool size 1, no cephx, bound to
# 127.0.0.1 on ports picked at random.  Clients use CEPH_CONF=DIR/ceph.conf.
#
# The Ceph daemons (ceph-mon, ceph-osd, ceph-mgr, ceph-common) are installed
# by scripts/install-deps.sh; here too, on first use, where that did not run.
set -eu

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

install_ceph() {
  missing=""
  for p in ceph-mon ceph-osd ceph-mgr ceph-common librados-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
      missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "ceph-test-cluster: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q $missing >&2
}

# End the daemons this script started (their PIDs are in DIR/pids).
kill_daemons() {
  if [ -f "$dir/pids" ]; then
    for pid in $(cat "$dir/pids"); do
      kill "$pid" 2>/dev/null || true
    done
    for pid in $(cat "$dir/pids"); do
      i=0
      while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1; i=$((i + 1))
      done
      kill -9 "$pid" 2>/dev/null || true
    done
    rm -f "$dir/pids"
  fi
}

stop() {
  kill_daemons
  rm -rf "$dir"
}

# A failed start keeps DIR and its logs for a look.
fail() {
  echo "ceph-test-cluster: $1 (logs in $dir)" >&2
  kill_daemons
  exit 1
}

start() {
  install_ceph
  if [ -e "$dir/pids" ]; then
    echo "ceph-test-cluster: $dir holds a cluster already: stop it first" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  t0=$(date +%s)
  # A port nothing listens on (a monitor of another cluster there would
  # take our OSD: checked again below by the fsid).
  port=$((20000 + $$ % 12000)) # below the ephemeral ports (32768-)
  while ss -ltnH 2>/dev/null | awk '{print $4}' | grep -q ":$port\$"; do
    port=$((port + 1))
  done
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 4294967296
osd client watch timeout = 5
# lbd's xattr names go up to 255 bytes (RADOS' default limit is 100)
osd max attr name len = 256
run dir = $dir/run
crash dir = $dir/crash

[mon]
mon data = $dir/mon
paxos propose interval = 0.01
paxos min wait = 0.001
mon osd min down reporters = 1
admin socket = $dir/run/mon.asok
log file = $dir/mon.log
pid file = $dir/run/mon.pid

[mgr]
mgr data = $dir/mgr
admin socket = $dir/run/mgr.asok
log file = $dir/mgr.log
pid file = $dir/run/mgr.pid

[osd]
osd data = $dir/osd
admin socket = $dir/run/osd.asok
log file = $dir/osd.log
pid file = $dir/run/osd.pid
CONF
  mkdir -p "$dir/run" "$dir/crash" "$dir/mon" "$dir/mgr" "$dir/osd"
  conf="$dir/ceph.conf"
  : > "$dir/pids"
  # ceph-mon --mkfs wants a keyring with a mon. key, even without cephx
  ceph-authtool --create-keyring "$dir/mon.keyring" --gen-key -n mon. \
    --cap mon 'allow *' >/dev/null
  monmaptool --create --clobber --fsid "$fsid" \
    --addv a "[v1:127.0.0.1:$port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" \
    --keyring "$dir/mon.keyring"
  setsid ceph-mon -c "$conf" -f -i a >"$dir/mon.out" 2>&1 &
  echo $! >> "$dir/pids"
  i=0
  until ceph -c "$conf" --connect-timeout 20 osd crush rule ls >/dev/null 2>&1
  do # (a monitor just started may answer EPERM for a moment)
    i=$((i + 1))
    [ $i -lt 40 ] || fail "the monitor did not come up"
    sleep 0.25
  done
  # (another cluster's answers with its fsid; ours may fail for a moment)
  i=0
  until got=$(ceph -c "$conf" --connect-timeout 20 fsid 2>"$dir/fsid.err") &&
    [ -n "$got" ]; do
    i=$((i + 1))
    [ $i -lt 40 ] || fail "ceph fsid failed: $(cat "$dir/fsid.err")"
    sleep 0.25
  done
  [ "$got" = "$fsid" ] ||
    fail "another cluster's monitor (fsid $got) answers on port $port"
  setsid ceph-mgr -c "$conf" -f -i x >"$dir/mgr.out" 2>&1 &
  echo $! >> "$dir/pids"
  uuid=$(cat /proc/sys/kernel/random/uuid)
  # The monitor may still answer EPERM ("problem getting command
  # descriptions") for a moment; osd new of the same uuid is idempotent.
  i=0
  until id=$(ceph -c "$conf" --connect-timeout 20 osd new "$uuid" 2>"$dir/osd-new.err")
  do
    i=$((i + 1))
    [ $i -lt 40 ] || fail "osd new failed: $(cat "$dir/osd-new.err")"
    sleep 0.25
  done
  ceph-osd -c "$conf" -i "$id" --mkfs --osd-uuid "$uuid" >/dev/null 2>&1
  # Now and then a fresh OSD never reports to the monitor (it stays at
  # "log_to_monitors"): started again, it boots.
  tries=0
  while :; do
    setsid ceph-osd -c "$conf" -f -i "$id" >>"$dir/osd.out" 2>&1 &
    osd_pid=$!
    echo $osd_pid >> "$dir/pids"
    i=0
    while ! ceph -c "$conf" osd stat 2>/dev/null | grep -q "1 up" && [ $i -lt 60 ]; do
      i=$((i + 1))
      sleep 0.5
    done
    ceph -c "$conf" osd stat 2>/dev/null | grep -q "1 up" && break
    tries=$((tries + 1))
    [ $tries -lt 4 ] || fail "the OSD did not come up"
    echo "ceph-test-cluster: the OSD is slow to boot: starting it again" >&2
    kill "$osd_pid" 2>/dev/null || true
    wait "$osd_pid" 2>/dev/null || true
  done
  # A manager going active changes the monitor's command set, and a command
  # sent meanwhile may get EPERM ("problem getting command descriptions
  # from mon"): wait for it, then for two answers in a row.
  i=0
  until ceph -c "$conf" mgr stat 2>/dev/null | grep -q '"available": *true'; do
    i=$((i + 1))
    [ $i -lt 120 ] || fail "the manager did not become available"
    sleep 0.5
  done
  i=0
  ok=0
  while [ $ok -lt 2 ]; do
    if ceph -c "$conf" osd pool ls >/dev/null 2>&1; then ok=$((ok + 1)); else ok=0; fi
    i=$((i + 1))
    [ $i -lt 120 ] || fail "the monitor keeps refusing commands"
    sleep 0.5
  done
  echo "ceph-test-cluster: up in $(( $(date +%s) - t0 )) s: CEPH_CONF=$conf" >&2
}

case $cmd in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
