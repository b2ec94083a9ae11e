#!/usr/bin/env bash
# lbd help, `<command> --help`: every command is listed and described, and
# every option a command's help shows is one the command accepts.
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

commands=(bench create export help import info ls "namespace create"
          "namespace ls" "namespace rm" "pool create" "pool init" "pool ls"
          "pool rm" rename resize rm status)
general=$(lbd help)
expect_eq "lbd --help" "$general" "$(lbd --help)"
for cmd in "${commands[@]}"; do
  grep -q "^  $cmd " <<<"$general" || fail "lbd help does not list '$cmd'"
  # shellcheck disable=SC2086
  text=$(lbd help $cmd)
  expect_eq "help $cmd, first line" "usage: lbd $cmd" \
    "$(head -1 <<<"$text" | cut -d' ' -f1-$((2 + $(wc -w <<<"$cmd"))))"
  # shellcheck disable=SC2086
  expect_eq "lbd $cmd --help" "$text" "$(lbd $cmd --help)"
  # shellcheck disable=SC2086
  expect_eq "lbd $cmd -h" "$text" "$(lbd $cmd -h)"
  grep -q -- "--cluster-dir" <<<"$text" || fail "help $cmd lacks --cluster-dir"
  # every option shown is accepted (with a value if it shows one)
  opts=()
  while read -r opt arg; do
    opts+=("$opt" ${arg:+1})
  done < <(sed -nE 's/^  (-[a-z], )?(--[a-z-]+)( <[a-z-]+>)?( .*)?$/\2\3/p' <<<"$text")
  (( ${#opts[@]} >= 2 )) || fail "help $cmd shows no options"
  # shellcheck disable=SC2086
  lbd $cmd "${opts[@]}" >/dev/null ||
    fail "lbd $cmd does not accept all the options its help shows"
done

# aliases
expect_eq "ls alias" "$(lbd help ls)" "$(lbd help list)"
expect_eq "rm alias" "$(lbd help rm)" "$(lbd remove --help)"
expect_eq "mv alias" "$(lbd help rename)" "$(lbd mv --help)"
expect_eq "pool list alias" "$(lbd help pool ls)" "$(lbd pool list --help)"

# groups
group=$(lbd help pool)
expect_eq "pool --help" "$group" "$(lbd pool --help)"
for sub in create init ls rm; do
  grep -q "^  pool $sub " <<<"$group" || fail "lbd help pool lacks $sub"
done

# what each command's help says about its options
create=$(lbd help create)
for opt in --pool --namespace --image --size --object-size --order \
           --image-feature --stripe-unit --stripe-count --data-pool; do
  grep -q -- "$opt " <<<"$create" || fail "help create lacks $opt"
done
grep -q "exclusive-lock" <<<"$create" || fail "help create lists no features"
for pair in "resize --allow-shrink" "ls --long" "import --dest" \
            "export --no-progress" "bench --io-pattern" "info --format" \
            "status --pretty-format" "pool create --path" "pool rm --force"; do
  # shellcheck disable=SC2086
  lbd help ${pair% *} | grep -q -- "${pair##* }" ||
    fail "help ${pair% *} lacks ${pair##* }"
done

expect_fail -e 22 help nothing
expect_fail -e 22 help pool nothing
expect_fail -e 22 ls --size 1M --help    # not an option of ls, even with --help
echo OK
