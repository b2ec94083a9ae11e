# shellcheck shell=bash
# Sourced by every tests/nbd/test_*.sh: tests/cli/lib.sh (a fresh cluster
# in a temporary directory, checks), plus NBD servers started in the
# background and stopped (or killed) on exit.
# shellcheck source=../cli/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

# requires TOOL...: fail (not skip) when a client is missing.
requires() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null ||
      fail "$t is missing: run scripts/install-deps.sh"
  done
}

# start_server NAME ARGS...: run `lbd nbd serve ARGS...` in the background
# and wait until it listens.  Sets ${NAME}_PID, ${NAME}_URI (the URI it
# printed) and ${NAME}_ERR (its stderr file).
start_server() {
  local name=$1 out err pid i
  shift
  out=$TMP/$name.out
  err=$TMP/$name.err
  rm -f "$out" "$err"
  "$LBD" nbd serve "$@" >"$out" 2>"$err" &
  pid=$!
  CLEANUP+=("kill -KILL $pid 2>/dev/null; wait $pid 2>/dev/null")
  for ((i = 0; i < 400; i++)); do
    [[ -s $out ]] && break
    kill -0 "$pid" 2>/dev/null || fail "lbd nbd serve $* exited: $(cat "$err")"
    sleep 0.05
  done
  [[ -s $out ]] || fail "lbd nbd serve $* did not start listening"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_URI" '%s' "$(head -1 "$out")"
  printf -v "${name}_ERR" '%s' "$err"
}

# stop_server NAME [SIGNAL]: signal the server (TERM by default) and check
# that it exits 0 within 30 s, with no sanitizer report.
stop_server() {
  local name=$1 sig=${2:-TERM} pidvar errvar pid rc=0 i
  pidvar=${name}_PID
  errvar=${name}_ERR
  pid=${!pidvar}
  kill "-$sig" "$pid"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && fail "server $name still runs 30 s after SIG$sig"
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || fail "server $name exited $rc after SIG$sig: $(cat "${!errvar}")"
  if grep -q Sanitizer "${!errvar}"; then
    fail "server $name: sanitizer report: $(cat "${!errvar}")"
  fi
}

# The socket's path in a nbd+unix URI.
uri_socket() { echo "${1#*socket=}"; }

# pattern FILE SIZE: a file of SIZE bytes with some data and some holes.
make_pattern_file() {
  local f=$1 size=$2
  truncate -s "$size" "$f"
  printf 'lbd nbd test %.0s' {1..300} | dd of="$f" bs=1 seek=0 conv=notrunc status=none
  head -c 65536 /dev/urandom | dd of="$f" bs=64K seek=5 conv=notrunc status=none
  head -c 4096 /dev/urandom | dd of="$f" bs=4K seek=777 conv=notrunc status=none
}

# nbdsh runs "python3" from PATH, and its module is Debian's: prefer
# /usr/bin's python3 over another one (pyenv, a venv) first in PATH.
nbdsh() { PATH=/usr/bin:$PATH command nbdsh "$@"; }
