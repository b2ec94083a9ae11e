#!/bin/sh
# lbd's main job on the embedded store.  Until live migration lands this is
# a tour of the object store that images will live on.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${LBD_DEMO_DIR:-$(mktemp -d /tmp/lbd-demo-XXXXXX)}
trap 'rm -rf "$dir"' EXIT
"$here/build/lbd-objstore-demo" "$dir/cluster" "$dir/second-disk"
