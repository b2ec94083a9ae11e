#!/usr/bin/env bash
# trash mv / ls / restore / rm / purge: exact output (plain, -l, JSON),
# data kept through the trash (export + checksum), bad input refused with
# nothing changed.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

head -c 3M /dev/urandom >"$TMP/a.raw"
lbd import "$TMP/a.raw" a --no-progress
lbd create b --size 10M
lbd create c --size 10M
sum_a=$(sha256sum <"$TMP/a.raw")
id_a=$(lbd info a --format json | json 'd["id"]')
id_b=$(lbd info b --format json | json 'd["id"]')
id_c=$(lbd info c --format json | json 'd["id"]')

# an empty trash
expect_eq "empty ls" "" "$(lbd trash ls)"
expect_eq "empty ls -l" "" "$(lbd trash ls -l)"
expect_eq "empty json" "[]" "$(lbd trash ls --format json)"

lbd trash mv a
lbd trash move rbd/b --expires-at "2099-01-01 00:00"
lbd trash mv --image c --delay 3600
expect_eq "ls after mv" "" "$(lbd ls)"
expect_eq "trash ls" "$(printf '%s a\n%s b\n%s c\n' "$id_a" "$id_b" "$id_c" | sort)" \
  "$(lbd trash ls)"
expect_eq "trash list rbd" "$(lbd trash ls)" "$(lbd trash list rbd)"
expect_eq "trash ls json" "$(printf '%s a 2\n%s b 2\n%s c 2\n' "$id_a" "$id_b" "$id_c" | sort)" \
  "$(lbd trash ls --format json | json '"\n".join(i["id"] + " " + i["name"] + " " + str(len(i)) for i in d)')"

# -l: the columns and statuses, as rbd prints them
long=$(lbd trash ls -l)
expect_eq "ls -l head" "ID            NAME  SOURCE  DELETED_AT                STATUS" \
  "$(head -1 <<<"$long" | sed 's/ *$//')"
date_re='[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [0-9]{4}'
expect_match "ls -l a" "^$id_a  a     USER    $date_re  expired at $date_re *\$" \
  "$(grep "^$id_a" <<<"$long")"
b_until=$(date -d "2099-01-01 00:00" '+%a %b %e %H:%M:%S %Y')
expect_match "ls -l b" "^$id_b  b     USER    $date_re  protected until $b_until *\$" \
  "$(grep "^$id_b" <<<"$long")"
expect_match "ls -l c" "^$id_c  c     USER    $date_re  protected until $date_re *\$" \
  "$(grep "^$id_c" <<<"$long")"
expect_eq "ls -l json" "USER|protected until $b_until|$(date -d "2099-01-01 00:00" +%s)" \
  "$(lbd trash ls -l --format json | json '[i["source"] + "|" + i["status"] + "|" + str(i["deferment_end_time"]) for i in d if i["name"] == "b"][0]')"
expect_eq "deferment c" 3600 \
  "$(lbd trash ls -l --format json | json '[i["deferment_end_time"] - i["deletion_time"] for i in d if i["name"] == "c"][0]')"

# a trashed image cannot be used by name; the name is free meanwhile
expect_fail -e 2 info a
expect_fail -e 2 export a -
expect_fail -e 2 rm a
expect_fail -e 2 trash mv a
lbd create a --size 1M

# restore: not onto a taken name; under a new one; data intact
expect_fail -e 17 trash restore "$id_a"
expect_match "restore EEXIST message" "image a already exists.*--image" "$ERR"
lbd trash restore "$id_a" --image a-old
expect_eq "ls after restore" "a
a-old" "$(lbd ls)"
expect_eq "data after restore" "$sum_a" "$(lbd export a-old - | sha256sum)"
expect_fail -e 2 trash restore "$id_a"

# rm: protected ones need --force
expect_fail -e 1 trash rm "$id_b"
expect_match "rm message" "protected until $b_until.*--force" "$ERR"
lbd trash rm rbd/"$id_b" --force --no-progress
expect_eq "after rm" "$id_c c" "$(lbd trash ls)"
expect_fail -e 2 trash rm "$id_b" --force

# purge: only expired ones; --expired-before later takes c
lbd trash mv a-old
lbd trash purge
expect_eq "after purge" "$id_c c" "$(lbd trash ls)"
lbd trash purge --expired-before "@$(( $(date +%s) + 7200 ))"
expect_eq "after purge later" "" "$(lbd trash ls --all)"
expect_eq "images left" "a" "$(lbd ls)"

# an open image is not moved (lbd bench keeps it open while it runs)
lbd create busy --size 64M
"$LBD" bench busy --io-type write --io-total 1G --io-size 4K >/dev/null 2>&1 &
pid=$!
CLEANUP+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
for _ in $(seq 100); do
  [[ $(lbd status busy --format json | json 'len(d["watchers"])') == 1 ]] && break
  sleep 0.05
done
expect_fail -e 16 trash mv busy
expect_match "busy message" "open" "$ERR"
kill $pid; wait $pid 2>/dev/null || true
lbd trash mv busy
expect_eq "busy trashed" "busy" "$(lbd trash ls | cut -d' ' -f2)"

# namespaces: the trash is per namespace
lbd namespace create rbd/ns1
lbd create rbd/ns1/n --size 1M
lbd trash mv rbd/ns1/n
expect_eq "ns trash" "n" "$(lbd trash ls rbd/ns1 | cut -d' ' -f2)"
expect_eq "ns trash --namespace" "n" "$(lbd trash ls --namespace ns1 | cut -d' ' -f2)"
id_n=$(lbd trash ls rbd/ns1 | cut -d' ' -f1)
expect_fail -e 2 trash restore "$id_n"
lbd trash restore rbd/ns1/"$id_n"
expect_eq "ns restored" "n" "$(lbd ls rbd/ns1)"

# bad input: nothing changes
before="$(lbd ls; lbd trash ls)"
expect_fail -e 22 trash mv a --expires-at "2001-01-01"
expect_fail -e 22 trash mv a --expires-at "tomorrow-ish"
expect_fail -e 22 trash mv a --delay -5
expect_fail -e 22 trash mv a --delay 10 --expires-at now
expect_fail -e 22 trash mv a@snap
expect_fail -e 22 trash mv
expect_fail -e 22 trash restore
expect_fail -e 2 trash restore "$id_c"
expect_fail -e 22 trash restore "nothex"
expect_fail -e 22 trash restore a/b/c/d
expect_fail -e 22 trash restore "$(lbd trash ls | cut -d' ' -f1)" --image "x/y"
expect_fail -e 22 trash rm ""
expect_fail -e 2 trash rm 0123456789ab
expect_fail -e 2 trash ls nopool
expect_fail -e 22 trash purge --expired-before "yesterday"
expect_fail -e 22 trash ls --format xml
expect_eq "unchanged" "$before" "$(lbd ls; lbd trash ls)"

# help
lbd help trash | grep -q "trash mv" || fail "help trash lists no 'trash mv'"
lbd help trash mv | grep -q -- "--expires-at" || fail "help trash mv: no --expires-at"
lbd trash rm --help | grep -q -- "--force" || fail "trash rm --help: no --force"

# A namespace whose only image is in the trash cannot be removed.
lbd namespace create rbd/tns
lbd create rbd/tns/x --size 1M
lbd trash mv rbd/tns/x
expect_fail -e 16 namespace rm rbd/tns
tid=$(lbd trash ls rbd/tns | cut -d' ' -f1)
lbd trash rm "rbd/tns/$tid"
lbd namespace rm rbd/tns
