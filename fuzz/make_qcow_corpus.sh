#!/bin/sh
# Seeds for fuzz_qcow: small QCOW images made by qemu-img and qemu-io (each
# a few KiB), into fuzz/corpus/qcow.  Run from the repository's root.
set -eu
out=fuzz/corpus/qcow
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

mk() { # name, qemu-img create options, then qemu-io commands
  name=$1 opts=$2; shift 2
  qemu-img create -q -f qcow2 -o "$opts" "$tmp/$name" 1M
  for c in "$@"; do qemu-io -f qcow2 -c "$c" "$tmp/$name" >/dev/null; done
  cp "$tmp/$name" "$out/$name"
}

mk v2_512 compat=0.10,cluster_size=512 'write -P 1 0 2k' 'write -P 2 600k 1k'
mk v3_512 cluster_size=512 'write -P 1 0 2k' 'write -z 1k 512' 'discard 1536 512'
mk v3_4k cluster_size=4096 'write -P 3 4k 8k' 'write -z 0 4k'
mk v3_extl2 cluster_size=16384,extended_l2=on 'write -P 4 1k 1k' 'write -z 4k 2k'
mk v3_snap cluster_size=512 'write -P 5 0 1k'
qemu-img snapshot -c one "$tmp/v3_snap"
qemu-io -f qcow2 -c 'write -P 6 512 1k' "$tmp/v3_snap" >/dev/null
qemu-img snapshot -c two "$tmp/v3_snap"
cp "$tmp/v3_snap" "$out/v3_snap"

qemu-img create -q -f raw "$tmp/src.raw" 64k
qemu-io -f raw -c 'write -P 7 0 8k' -c 'write -P 8 20k 3k' "$tmp/src.raw" >/dev/null
qemu-img convert -c -O qcow2 -o cluster_size=512 "$tmp/src.raw" "$out/v3_zlib"
qemu-img convert -c -O qcow2 -o cluster_size=512,compression_type=zstd \
  "$tmp/src.raw" "$out/v3_zstd"
qemu-img convert -O qcow "$tmp/src.raw" "$tmp/v1"
cp "$tmp/v1" "$out/v1"
qemu-img create -q -f qcow "$tmp/v1c" 64k
qemu-io -f qcow -c 'write -c -P 9 0 4k' -c 'write -P 10 8k 4k' "$tmp/v1c" >/dev/null
cp "$tmp/v1c" "$out/v1_compressed"
qemu-img create -q -f qcow2 -o cluster_size=512 -b base.qcow2 -F qcow2 -u \
  "$out/v3_backing" 1M
