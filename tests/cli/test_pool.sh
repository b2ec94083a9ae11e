#!/usr/bin/env bash
# pool create/ls/rm/init and namespace create/ls/rm, plain and JSON.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

expect_eq "first use makes pool rbd" rbd "$(lbd pool ls)"
lbd pool create p2
lbd pool create -p p3 --path "$TMP/disk2/p3"
expect_eq "pool ls" "rbd
p2
p3" "$(lbd pool list)"
expect_eq "pool ls json" '["rbd","p2","p3"]' "$(lbd pool ls --format json)"
w=$(( ${#LBD_CLUSTER} + 8 ))   # the longest path: $LBD_CLUSTER/pools/N
expect_eq "pool ls -l" "$(printf '%s%-*s\n' "ID  NAME  " $w PATH \
  " 1  rbd   " $w "$LBD_CLUSTER/pools/1" " 2  p2    " $w "$LBD_CLUSTER/pools/2" \
  " 3  p3    " $w "$TMP/disk2/p3")" "$(lbd pool ls -l)"
expect_eq "pool ls -l json" "[(1, 'rbd'), (2, 'p2'), (3, 'p3')]" \
  "$(lbd pool ls -l --format json | json '[(p["id"], p["name"]) for p in d]')"
expect_eq "pool p3 path" "$TMP/disk2/p3" \
  "$(lbd pool ls -l --format json | json 'd[2]["path"]')"
lbd pool init p2
lbd pool init
lbd pool init p2   # idempotent

# images in a pool kept on another directory live there
lbd create p3/img --size 8M
head -c 1M /dev/urandom >"$TMP/data"
lbd import "$TMP/data" p3/data
lbd export p3/data - | cmp - "$TMP/data"
(( $(du -sk "$TMP/disk2" | cut -f1) >= 1024 )) || fail "p3's data is not in its directory"

# namespaces
expect_eq "no namespaces" "" "$(lbd namespace ls p2)"
expect_eq "no namespaces json" "[]" "$(lbd namespace ls p2 --format json)"
lbd namespace create p2/ns2
lbd namespace create --pool p2 --namespace ns1
lbd namespace create nsd               # in the default pool
expect_eq "namespace ls" "NAME
ns1 
ns2 " "$(lbd namespace ls p2)"
expect_eq "namespace ls -p" "$(lbd namespace ls p2)" "$(lbd namespace list -p p2)"
expect_eq "namespace ls json" '[{"name":"ns1"},{"name":"ns2"}]' \
  "$(lbd namespace ls p2 --format json)"
expect_eq "default pool namespaces" "NAME
nsd " "$(lbd namespace ls)"

# images in namespaces are apart from the pool's default namespace
lbd create p2/ns1/a --size 1M
lbd create b --size 1M -p p2 --namespace ns1
lbd create p2/a --size 2M
expect_eq "ns1 images" "a
b" "$(lbd ls p2/ns1)"
expect_eq "ns1 images by options" "a
b" "$(lbd ls -p p2 --namespace ns1)"
expect_eq "p2 images" a "$(lbd ls p2)"
expect_eq "ns a size" 1048576 "$(lbd info p2/ns1/a --format json | json 'd["size"]')"
expect_eq "a size" 2097152 "$(lbd info p2/a --format json | json 'd["size"]')"

# a namespace or pool that holds images is not removed by accident
expect_fail -e 16 namespace rm p2/ns1
expect_fail -e 16 pool rm p2
[[ $ERR == *--force* ]] || fail "pool rm refusal does not mention --force: $ERR"
lbd rm p2/ns1/a
lbd rm p2/ns1/b
lbd namespace rm p2/ns1
lbd namespace remove --pool p2 --namespace ns2
expect_eq "namespaces gone" "" "$(lbd namespace ls p2)"
lbd pool rm p2 --force
lbd pool remove p3 --force
lbd namespace rm nsd
expect_eq "pools left" rbd "$(lbd pool ls)"
expect_fail -e 2 ls p2
echo OK
