#!/bin/sh
# Install every Debian package that lbd's build, tests and benchmarks need.
# Idempotent: does nothing when everything is present.  Run as root (or
# with sudo available) on Debian 12.
set -eu

PACKAGES="build-essential cmake pkg-config liblmdb-dev libcmocka-dev libjansson-dev python3"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "install-deps: run as root to install:$missing" >&2
    exit 1
  fi
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
