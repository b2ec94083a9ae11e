# shellcheck shell=bash
# Sourced by every tests/cli/test_*.sh: a fresh cluster in a temporary
# directory (removed on exit), and checks that say what went wrong.
set -euo pipefail

: "${LBD:?set LBD to the path of the lbd binary}"
command -v python3 >/dev/null || { echo "SKIP: python3 is needed" >&2; exit 77; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lbd-cli.XXXXXX")
CLEANUP=()
cleanup() {
  local cmd
  for cmd in "${CLEANUP[@]}"; do eval "$cmd" || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
export LBD_CLUSTER=$TMP/cluster
unset TMOUT

lbd() { "$LBD" "$@"; }

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
  if [[ "$2" != "$3" ]]; then
    printf 'FAIL: %s\n--- expected\n%s\n--- got\n%s\n---\n' "$1" "$2" "$3" >&2
    exit 1
  fi
}

# expect_match WHAT REGEX ACTUAL
expect_match() {
  [[ "$3" =~ $2 ]] || fail "$1: '$3' does not match '$2'"
}

# expect_fail [-e ERRNO] ARGS...: lbd ARGS must fail (with exit status
# ERRNO if given) and say why on stderr as "lbd: ...".  Sets ERR.
expect_fail() {
  local want="" rc=0
  if [[ $1 == -e ]]; then want=$2; shift 2; fi
  "$LBD" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
  ERR=$(cat "$TMP/err")
  [[ $rc -ne 0 ]] || fail "lbd $* succeeded; it should fail"
  [[ -z $want || $rc -eq $want ]] || fail "lbd $*: exit $rc, want $want ($ERR)"
  [[ $ERR == "lbd: "* ]] || fail "lbd $*: stderr has no 'lbd: ' message: $ERR"
  [[ $ERR != *Sanitizer* ]] || fail "lbd $*: sanitizer report: $ERR"
  [[ $(wc -l <"$TMP/err") -le 2 ]] || fail "lbd $*: long stderr: $ERR"
}

# json EXPR: evaluate the Python expression EXPR on the JSON on stdin (d).
json() {
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# blocks FILE: 512-byte blocks FILE takes on disk.
blocks() { stat -c %b "$1"; }
