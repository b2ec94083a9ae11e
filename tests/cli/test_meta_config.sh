#!/usr/bin/env bash
# image-meta get/set/ls/rm and config-key set/get/rm/ls: exact output,
# JSON, owner-only storage, values never printed but by get, bad input.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

# ---- image-meta -------------------------------------------------------------
lbd create img --size 10M
expect_eq "empty ls" "" "$(lbd image-meta ls img)"
expect_eq "empty json" "{}" "$(lbd image-meta list img --format json)"
lbd image-meta set img foo bar
expect_eq "ls one" "There is 1 metadatum on this image:

Key  Value
foo  bar  " "$(lbd image-meta ls img)"
lbd image-meta set rbd/img conf_rbd_cache false
lbd image-meta set --image img "key with spaces" "value with spaces"
expect_eq "ls three" "There are 3 metadata on this image:

Key              Value            
conf_rbd_cache   false            
foo              bar              
key with spaces  value with spaces" "$(lbd image-meta ls img)"
expect_eq "json" '{"conf_rbd_cache":"false","foo":"bar","key with spaces":"value with spaces"}' \
  "$(lbd image-meta ls img --format json)"
expect_eq "get" "bar" "$(lbd image-meta get img foo)"
lbd image-meta set img foo baz
expect_eq "get overwritten" "baz" "$(lbd image-meta get img foo)"
lbd image-meta rm img foo
lbd image-meta remove img "key with spaces"
expect_eq "after rm" '{"conf_rbd_cache":"false"}' "$(lbd image-meta ls img --format json)"
# the image itself is unchanged
expect_eq "size kept" 10485760 "$(lbd info img --format json | json 'd["size"]')"
lbd resize img --size 20M
expect_eq "meta after resize" "false" "$(lbd image-meta get img conf_rbd_cache)"
# it follows the image through rename and trash, and goes with it
lbd rename img img2
expect_eq "after rename" "false" "$(lbd image-meta get img2 conf_rbd_cache)"
lbd trash mv img2
id=$(lbd trash ls | cut -d' ' -f1)
lbd trash restore "$id"
expect_eq "after restore" "false" "$(lbd image-meta get img2 conf_rbd_cache)"
lbd rm img2 --no-progress
lbd create img2 --size 1M
expect_eq "new image has none" "{}" "$(lbd image-meta ls img2 --format json)"

before=$(lbd image-meta ls img2 --format json)
expect_fail -e 2 image-meta get img2 nope
expect_match "get message" "nope" "$ERR"
expect_fail -e 2 image-meta rm img2 nope
expect_fail -e 2 image-meta get missing foo
expect_fail -e 2 image-meta set missing foo bar
expect_fail -e 22 image-meta set img2 foo
expect_fail -e 22 image-meta set img2
expect_fail -e 22 image-meta set img2 "" v
expect_fail -e 22 image-meta get img2
expect_fail -e 22 image-meta set img2@snap foo bar
expect_fail -e 22 image-meta set img2 a b c
expect_fail -e 36 image-meta set img2 "$(printf 'k%.0s' {1..400})" v
expect_fail -e 22 image-meta ls img2 --format yaml
expect_eq "meta unchanged" "$before" "$(lbd image-meta ls img2 --format json)"

# ---- config-key ---------------------------------------------------------------
expect_eq "no keys" "" "$(lbd config-key ls)"
expect_eq "no keys json" "[]" "$(lbd config-key ls --format json)"
[[ ! -e $LBD_CLUSTER/config-key ]] || fail "config-key ls made the store"
out=$(lbd config-key set s3/access AKIAEXAMPLE 2>&1)
expect_eq "set prints nothing" "" "$out"
printf 'top secret\nline 2\n' >"$TMP/secret"
out=$(lbd config-key set s3/secret -i "$TMP/secret" 2>&1)
expect_eq "set -i prints nothing" "" "$out"
printf 'from stdin' | lbd config-key set piped -i -
expect_eq "ls" "piped
s3/access
s3/secret" "$(lbd config-key ls)"
expect_eq "ls json" '["piped","s3/access","s3/secret"]' "$(lbd config-key list --format json)"
# get: the exact bytes
lbd config-key get s3/secret | cmp - "$TMP/secret"
expect_eq "get" "AKIAEXAMPLE" "$(lbd config-key get s3/access)"
expect_eq "get bytes" 10 "$(lbd config-key get piped | wc -c)"
lbd config-key get s3/secret -o "$TMP/got"
cmp "$TMP/got" "$TMP/secret"
expect_eq "-o mode" 600 "$(stat -c %a "$TMP/got")"
# binary values round trip
head -c 1000 /dev/urandom >"$TMP/bin"
lbd config-key set bin -i "$TMP/bin"
lbd config-key get bin | cmp - "$TMP/bin"
# owner-only storage
expect_eq "store mode" 700 "$(stat -c %a "$LBD_CLUSTER/config-key")"
for f in "$LBD_CLUSTER"/config-key/*; do
  expect_eq "mode of $f" 600 "$(stat -c %a "$f")"
done
# values never appear in other output or in errors
all=$(lbd config-key ls; lbd config-key ls --format json; lbd help config-key set)
[[ $all != *AKIAEXAMPLE* && $all != *"top secret"* ]] || fail "a value was printed"
lbd config-key rm piped
lbd config-key del bin
expect_eq "after rm" "s3/access
s3/secret" "$(lbd config-key ls)"

before=$(lbd config-key ls)
expect_fail -e 2 config-key get piped
expect_fail -e 2 config-key rm piped
expect_fail -e 22 config-key get
expect_fail -e 22 config-key set onlykey
expect_fail -e 22 config-key set k v -i "$TMP/secret"
expect_fail -e 22 config-key set "" v
expect_fail -e 22 config-key set $'a\nb' v
expect_fail -e 36 config-key set "$(printf 'k%.0s' {1..300})" v
expect_fail -e 2 config-key set k -i "$TMP/nonexistent"
head -c 70000 /dev/zero >"$TMP/big"
expect_fail config-key set k -i "$TMP/big"
expect_fail -e 22 config-key get a b
expect_fail -e 22 config-key ls extra
expect_fail -e 17 config-key get s3/access -o "$TMP/got"
cmp "$TMP/got" "$TMP/secret"
expect_fail config-key set s3/access NEWVALUE --pool rbd
[[ $ERR != *NEWVALUE* && $ERR != *AKIAEXAMPLE* ]] || fail "an error shows a value: $ERR"
expect_eq "config unchanged" "$before" "$(lbd config-key ls)"
expect_eq "value unchanged" "AKIAEXAMPLE" "$(lbd config-key get s3/access)"
