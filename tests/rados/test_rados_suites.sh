#!/bin/sh
# The image and migration test programs on RADOS, and migration across
# backends, against a one-node Ceph cluster this test starts and stops:
#  1. the image programs on image_env_setup (snapshot, clone with its
#     kill -9 trials of flatten and rollback, clone_edges, trash, metadata,
#     config_key, aio_fork, diff: diffs and du against a model,
#     advisory_lock, aio, copy_du, image_bad_input, image_model: random IO
#     checked against a model for six layouts, image_two_procs: the
#     exclusive lock between processes and kill -9 of its holder,
#     object_map) with LBD_TEST_BACKEND=rados: pool "rbd" of each test is a
#     RADOS pool of its own, removed at the test's teardown
#     (tests/image/image_fixture.c);
#  2. test_migration, test_migration_edges and test_migrate_clone (a clone
#     keeping its parent, kill -9 of its commit) with both pools on RADOS;
#  3. test_migration across backends, local -> rados and rados -> local
#     (LBD_TEST_BACKEND2: the backend of the target pool "p2"): live
#     migration with snapshots and a client writing (and snapshotting)
#     during execute, abort, refusals, parent of clones, and kill -9 of
#     prepare/execute/commit/abort at random points, then recovery, every
#     byte of the head and every snapshot checked against a model;
#  3b. lbd-fsx with RADOS pools, seeds that found bugs there;
#  4. no RADOS pool of the tests is left behind.
# Left out: image_sparse (it measures the disk blocks of the local store's
# files), striping (arithmetic alone, no store) and sequential_prefetch
# (its one test is about the local backend's op locks).
# usage: test_rados_suites.sh BUILD_DIR SOURCE_DIR
# LBD_RADOS_KILL_TRIALS: kill -9 trials per test_migration run (default 8,
# three runs).  LBD_RADOS_SUITES_QUICK=1 (the sanitizer build's ctest: the
# same code runs 3-5 times slower there) leaves test_diff out (it runs on
# RADOS in the normal build, and locally in both), and test_aio_fork (see
# below), and runs 3 kill trials.  Skips (77) where the Ceph daemons are
# missing and cannot be installed.
set -eu
build=$1
src=$2

if ! command -v ceph-mon >/dev/null 2>&1 && [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: the Ceph daemons are not installed and this is not root"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lbd-rados-suites-XXXXXX")
ceph_dir="$tmp/ceph"
cleanup() {
  "$src/scripts/ceph-test-cluster.sh" stop "$ceph_dir" || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

t0=$(date +%s)
"$src/scripts/ceph-test-cluster.sh" start "$ceph_dir"
conf="$ceph_dir/ceph.conf"
echo "cluster up in $(( $(date +%s) - t0 )) s"

export LBD_TEST_CEPH_CONF="$conf" CMOCKA_MESSAGE_OUTPUT=stdout
quick=${LBD_RADOS_SUITES_QUICK:-0}
trials=${LBD_RADOS_KILL_TRIALS:-$([ "$quick" = 1 ] && echo 3 || echo 8)}
diff_program=$([ "$quick" = 1 ] || echo diff)
# test_aio_fork forks while librados' threads allocate: under ASan a child
# can inherit the sanitizer allocator's lock held (gdb: the child waits in
# SizeClassAllocator64::GetFromAllocator, 1 run in 3), which GCC 12's ASan
# does not guard across fork.  It runs on RADOS in the normal build.
fork_program=$([ "$quick" = 1 ] || echo aio_fork)
fails=0
run() { # what env... program
  what=$1
  shift
  t=$(date +%s)
  if env "$@"; then
    echo "ok: $what ($(( $(date +%s) - t )) s)"
  else
    echo "FAIL: $what"
    fails=$((fails + 1))
  fi
}

# ---- 1, 2: the programs with every pool on RADOS ---------------------------
for p in snapshot clone clone_edges trash metadata config_key $fork_program $diff_program \
  advisory_lock aio copy_du image_bad_input image_model image_two_procs \
  object_map; do
  run "image/test_$p on rados" LBD_TEST_BACKEND=rados \
    "$build/tests/image/image_test_$p"
done
run "migration/test_migration_edges on rados" LBD_TEST_BACKEND=rados \
  "$build/tests/migration/migration_test_migration_edges"
run "migration/test_migrate_clone on rados ($trials kill -9 trials)" \
  LBD_TEST_BACKEND=rados LBD_KILL_TRIALS="$trials" LBD_KILL_MAX_MS=300 \
  "$build/tests/migration/migration_test_migrate_clone"
run "migration/test_migration on rados ($trials kill -9 trials)" \
  LBD_TEST_BACKEND=rados LBD_KILL_TRIALS="$trials" LBD_KILL_MAX_MS=500 \
  "$build/tests/migration/migration_test_migration"

# ---- 3. across backends -----------------------------------------------------
run "migration/test_migration local -> rados ($trials kill -9 trials)" \
  LBD_TEST_BACKEND=local LBD_TEST_BACKEND2=rados LBD_KILL_TRIALS="$trials" \
  LBD_KILL_MAX_MS=500 "$build/tests/migration/migration_test_migration"
run "migration/test_migration rados -> local ($trials kill -9 trials)" \
  LBD_TEST_BACKEND=rados LBD_TEST_BACKEND2=local LBD_KILL_TRIALS="$trials" \
  LBD_KILL_MAX_MS=500 "$build/tests/migration/migration_test_migration"

# ---- 3b. lbd-fsx seeds that found RADOS bugs (normal build) ---------------
# seed 97, op 866: a client write met an object whose history a killed
# execute had been writing: EIO, where the write must copy it up again.
if [ "$quick" != 1 ] && [ -x "$build/lbd-fsx" ]; then
  run "lbd-fsx -S 97 -N 870 -R (a write on a cut history)" \
    "$build/lbd-fsx" -S 97 -N 870 -q -d "$tmp/fsx97" -R "$conf"
fi

# ---- 4. nothing left behind ---------------------------------------------------
left=$(ceph -c "$conf" osd pool ls 2>/dev/null | grep '^lbdt-' || true)
if [ -n "$left" ]; then
  echo "FAIL: RADOS pools left behind:" $left
  fails=$((fails + 1))
fi

[ $fails -eq 0 ] || { echo "FAIL: $fails program run(s) on rados"; exit 1; }
echo "PASS: image and migration programs on rados ($(( $(date +%s) - t0 )) s)"
