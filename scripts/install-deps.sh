#!/bin/sh
# Install every Debian package that lbd's build, tests and benchmarks need.
# Idempotent: does nothing when everything is present.  Run as root (or
# with sudo available) on Debian 12.
set -eu

# build: compiler, CMake, and the libraries lbd links (LMDB, jansson,
# libcurl for HTTP(S)/S3 streams with OpenSSL for signing, zlib and zstd
# for compressed QCOW2)
# tests: cmocka; qemu-img/qemu-io/qemu-nbd, libnbd's tools, nginx (HTTP)
# and Node.js with npm (s3rver for S3; Debian's npm only if the machine has
# no npm of its own) as real peers
# rados backend: librados-dev, libradospp-dev (list-snaps and sparse reads
# come from librados' C++ API), and the Ceph daemons of its one-node test
# cluster (scripts/ceph-test-cluster.sh), installed here so that tests
# running at once never race for the package manager
PACKAGES="build-essential cmake pkg-config liblmdb-dev libcmocka-dev libjansson-dev python3
libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev qemu-utils libnbd-bin libnbd-dev nginx-light curl
python3-libnbd fio librados-dev libradospp-dev ceph-mon ceph-osd ceph-mgr ceph-common"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
command -v npm >/dev/null 2>&1 || missing="$missing npm"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  elif [ -n "$missing" ]; then
    echo "install-deps: run as root to install:$missing" >&2
    exit 1
  fi
fi

if [ -z "$missing" ]; then
  echo "install-deps: all Debian packages present"
else
  echo "install-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# nginx is a test peer only: tests start their own on 127.0.0.1
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi

# s3rver (npm): the S3 server the import tests run on 127.0.0.1
S3RVER_DIR=/opt/lbd-test/s3rver
if [ ! -x "$S3RVER_DIR/node_modules/.bin/s3rver" ]; then
  echo "install-deps: installing s3rver (npm) in $S3RVER_DIR"
  $SUDO mkdir -p "$S3RVER_DIR"
  $SUDO npm install --silent --no-audit --no-fund --prefix "$S3RVER_DIR" s3rver@3
fi
