#!/usr/bin/env bash
# Bad input: each is refused with an "lbd: ..." message and a non-zero exit
# status, and leaves the images and pools as they were.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

lbd create keep --size 10M
lbd namespace create rbd/ns1
lbd pool create p2
images() { lbd ls; lbd ls rbd/ns1; lbd ls p2; lbd pool ls; lbd namespace ls; }
before=$(images)

# malformed specs and names with '/' or '@' (22: EINVAL)
for spec in a/b/c/d rbd/ /x rbd//x x@ @s a@b@c "" rbd/ns1/x@s "x@y/z" \
            $'tab\tname' "$(printf 'x%.0s' {1..300})"; do
  expect_fail create "$spec" --size 1M
done
expect_fail -e 22 create --image a/b/c/d --size 1M
expect_fail -e 22 create x --size 1M --pool "a/b"
expect_fail -e 22 create x --size 1M --namespace "n@s"
expect_fail -e 22 rename keep "x@y"
expect_fail -e 22 rename keep a/b/c/d
expect_fail -e 22 rename keep p2/keep       # across pools
expect_fail -e 22 rename keep ""
expect_fail -e 17 rename keep keep
expect_fail -e 22 rm keep@snap
expect_fail -e 22 resize keep@snap --size 20M

# sizes: zero, huge, malformed, missing
for size in 0 100P 65P 99999999999999999999 1X -1 1.5G "" 10MB5 0x10; do
  expect_fail -e 22 create x --size "$size"
done
expect_fail -e 22 create x
expect_fail -e 22 create x --size
expect_fail -e 22 create x --size 1M --size 2M

# object sizes, orders and striping
for opts in "--object-size 3K" "--object-size 2K" "--object-size 64M" \
            "--object-size 0" "--order 11" "--order 26" "--order abc" \
            "--order 64" "--order 22 --object-size 4M" "--stripe-unit 100" \
            "--stripe-unit 3000" "--stripe-unit 0" "--stripe-count 0" \
            "--stripe-count 5000" "--stripe-unit 8M"; do
  # shellcheck disable=SC2086
  expect_fail -e 22 create x --size 1M $opts
done

# features: unknown, unsupported, malformed, inconsistent
expect_fail -e 22 create x --size 1M --image-feature foo
[[ $ERR == *foo* ]] || fail "unknown feature not named: $ERR"
expect_fail -e 22 create x --size 1M --image-feature layering,bogus
expect_fail -e 22 create x --size 1M --image-feature ""
expect_fail -e 22 create x --size 1M --image-feature 5
expect_fail -e 22 create x --size 1M --image-feature data-pool
expect_fail create x --size 1M --image-feature object-map
expect_fail create x --size 1M --image-feature fast-diff

# missing pools and namespaces (2: ENOENT)
expect_fail -e 2 create nopool/x --size 1M
expect_fail -e 2 create x --size 1M --pool nopool
expect_fail -e 2 create rbd/nons/x --size 1M
expect_fail -e 2 create x --size 1M --data-pool nopool
expect_fail -e 2 ls nopool
expect_fail -e 2 info nopool/keep
expect_fail -e 2 info keep@snap            # no snapshots yet
expect_fail -e 2 import "$TMP/nofile" x
expect_fail -e 2 pool rm nopool
expect_fail -e 2 pool init nopool
expect_fail -e 2 namespace rm rbd/nons
expect_fail -e 2 namespace create nopool/ns

# pools and namespaces with bad names, or that exist
expect_fail pool create "a/b"
expect_fail pool create "a@b"
expect_fail pool create ""
expect_fail -e 17 pool create p2
expect_fail -e 17 namespace create rbd/ns1
expect_fail namespace create "rbd/a@b"
expect_fail -e 22 namespace create rbd/

# resize: no size, shrinking without --allow-shrink, too large
expect_fail -e 22 resize keep
expect_fail -e 22 resize keep --size 5M
expect_fail -e 22 resize keep --size 10M
expect_fail -e 22 resize keep --size 100P
expect_eq "size kept" 10485760 "$(lbd info keep --format json | json 'd["size"]')"

# the command line itself
expect_fail -e 22
expect_fail -e 22 frobnicate
expect_fail -e 22 pool
expect_fail -e 22 pool frob
expect_fail -e 22 ls --frob
expect_fail -e 22 ls --size 1M
expect_fail -e 22 ls rbd extra
expect_fail -e 22 info keep --format xml
expect_fail -e 22 info keep --pretty-format
expect_fail -e 22 help nothing
expect_fail -e 22 bench keep
expect_fail -e 22 bench keep --io-type sideways
expect_fail -e 22 bench keep --io-type read --io-size 0
expect_fail -e 22 bench keep --io-type read --io-size 1G
expect_fail -e 22 bench keep --io-type read --io-pattern zigzag
expect_fail -e 22 bench keep --io-type write --io-threads 0
expect_fail -e 22 export keep
expect_fail -e 22 --cluster-dir "" ls

[[ $(images) == "$before" ]] || fail "bad input changed the cluster:
$(images)
--- was
$before"
echo OK
