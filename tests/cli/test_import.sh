#!/usr/bin/env bash
# lbd migration prepare --import-only, as an operator types it: the short
# form for an lbd snapshot, a source-spec inline, from a file and from
# stdin, QCOW2 with internal snapshots; execute and commit; the source file
# untouched; a bad spec refused with nothing left behind.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

head -c 3M /dev/urandom >"$TMP/a.raw"
truncate -s 8M "$TMP/a.raw"
lbd import --no-progress "$TMP/a.raw" base
lbd snap create base@v1
lbd bench --io-type write --io-size 64K --io-total 1M base >/dev/null

# the short form needs a snapshot
expect_fail -e 22 migration prepare --import-only base copy
lbd migration prepare --import-only base@v1 copy
out=$(lbd status copy)
[[ $out == *'"snap_name":"v1"'* && $out == *"state: prepared"* ]] ||
  fail "status of a native import: $out"
lbd export --no-progress copy - | cmp - "$TMP/a.raw" || fail "copy reads v1"
lbd migration execute --no-progress copy
lbd migration commit --no-progress copy
lbd export --no-progress copy - | cmp - "$TMP/a.raw" || fail "copy after commit"
lbd export --no-progress base@v1 - | cmp - "$TMP/a.raw" || fail "source changed"

# QCOW2 with an internal snapshot, spec from a file and from stdin
qemu-img convert -q -f raw -O qcow2 "$TMP/a.raw" "$TMP/a.qcow2"
qemu-img snapshot -c before "$TMP/a.qcow2"
qemu-io -c 'write -P 0x77 1M 64K' "$TMP/a.qcow2" >/dev/null
qemu-img convert -q -O raw "$TMP/a.qcow2" "$TMP/a.now.raw"
sum=$(sha256sum <"$TMP/a.qcow2")
printf '{"type": "qcow", "stream": {"type": "file", "file_path": "%s"}}' \
  "$TMP/a.qcow2" >"$TMP/spec.json"
lbd migration prepare --import-only --source-spec-path "$TMP/spec.json" \
  --object-size 1M q1
lbd migration prepare --import-only --source-spec-path - q2 <"$TMP/spec.json"
lbd migration prepare --import-only --source-spec-file "$TMP/spec.json" q3
expect_eq "snapshot imported" "before" "$(lbd snap ls q1 --format json | json 'd[0]["name"]')"
for img in q1 q2 q3; do
  lbd export --no-progress $img - | cmp - "$TMP/a.now.raw" || fail "$img head"
  lbd export --no-progress $img@before - | cmp - "$TMP/a.raw" || fail "$img snap"
done
lbd migration execute --no-progress q1
lbd migration commit --no-progress q1
lbd migration abort --no-progress q2
expect_fail -e 2 info q2
lbd export --no-progress q1 - | cmp - "$TMP/a.now.raw" || fail "q1 after commit"
lbd export --no-progress q1@before - | cmp - "$TMP/a.raw" || fail "q1@before"
expect_eq "the source file is untouched" "$sum" "$(sha256sum <"$TMP/a.qcow2")"

# sparse by default; --thick-provision allocates everything
printf '{"type": "raw", "stream": {"type": "file", "file_path": "%s"}}' \
  "$TMP/a.raw" >"$TMP/raw.json"
lbd migration prepare --import-only --source-spec-path "$TMP/raw.json" thin
lbd migration prepare --import-only --thick-provision --source-spec-path "$TMP/raw.json" thick
lbd migration execute --no-progress thin
lbd migration execute --no-progress thick
expect_eq "thin import: the data only" 3145728 "$(lbd du thin --format json | json 'd["images"][0]["used_size"]')"
expect_eq "thick import: all of it" 8388608 "$(lbd du thick --format json | json 'd["images"][0]["used_size"]')"

# refusals: nothing left behind
expect_fail -e 22 migration prepare --import-only --source-spec '{"type": "vmdk"}' bad
expect_fail -e 22 migration prepare --import-only --source-spec 'not json' bad
expect_fail -e 2 migration prepare --import-only --source-spec \
  "{\"type\": \"raw\", \"stream\": {\"type\": \"file\", \"file_path\": \"$TMP/none\"}}" bad
expect_fail -e 17 migration prepare --import-only --source-spec-path "$TMP/spec.json" q3
expect_fail -e 22 migration prepare --source-spec-path "$TMP/spec.json" q9
expect_fail -e 2 info bad
echo "import: ok"
