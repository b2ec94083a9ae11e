#!/usr/bin/env bash
# Build hello_lbd.c against liblbd.so with `pkg-config --cflags --libs lbd`
# (PKG_CONFIG_PATH=$LBD_BUILD_DIR) and run it; check that only the lbd_*
# API is exported.
set -euo pipefail
: "${LBD_BUILD_DIR:?}"
src=$1
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config" >&2; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lbd-pc.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export PKG_CONFIG_PATH=$LBD_BUILD_DIR
pkg-config --exists lbd || { echo "FAIL: pkg-config does not find lbd" >&2; exit 1; }
[[ $(pkg-config --modversion lbd) =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  { echo "FAIL: bad version $(pkg-config --modversion lbd)" >&2; exit 1; }
# shellcheck disable=SC2046,SC2086
"${CC:-cc}" -std=c11 -Wall -Werror $LBD_PC_TEST_CFLAGS -o "$tmp/hello" "$src" \
  $(pkg-config --cflags --libs lbd)
# linked against the shared library, not the static one
libs=$(LD_LIBRARY_PATH=$LBD_BUILD_DIR ldd "$tmp/hello")
[[ $libs == *liblbd.so.0* ]] ||
  { echo "FAIL: hello is not linked against liblbd.so.0: $libs" >&2; exit 1; }
LD_LIBRARY_PATH=$(pkg-config --variable=libdir lbd) "$tmp/hello" "$tmp/cluster"
syms=$(nm -D --defined-only "$LBD_BUILD_DIR/liblbd.so")
bad=$(awk '$2 ~ /^[TDBRW]$/ {print $3}' <<<"$syms" | grep -v '^lbd_' || true)
[[ -z $bad ]] || { echo "FAIL: liblbd.so exports internal symbols: $bad" >&2; exit 1; }
for internal in lbd_error lbd_error_prefix lbd_random_u64; do
  if grep -qw "$internal" <<<"$syms"; then
    echo "FAIL: liblbd.so exports $internal" >&2; exit 1
  fi
done
echo OK
