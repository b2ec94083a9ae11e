#!/usr/bin/env bash
# lbd object-map check / rebuild, as a user drives them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lbd create --size 64M om
info=$(lbd info om)
[[ $info == *"features: "*object-map* ]] || fail "object-map is not a default feature"
lbd bench --io-type write --io-size 64K --io-total 8M --io-pattern rand om >/dev/null
expect_eq "check" "object map is valid" "$(lbd object-map check om)"
expect_eq "check json" '{"wrong_objects": 0}' "$(lbd object-map check om --format json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')"
lbd object-map rebuild --no-progress om
expect_eq "check after rebuild" "object map is valid" "$(lbd object-map check om)"

lbd create --size 4M --image-feature layering,exclusive-lock plain
expect_fail -e 22 object-map rebuild plain
expect_fail -e 22 object-map check plain
expect_fail -e 2 object-map check nope
expect_fail -e 22 create --size 4M --image-feature layering,object-map needs-lock
expect_eq "no partial image" "om
plain" "$(lbd ls)"
