# Thin wrapper around CMake: `make` builds into build/, `make check` runs every
# test twice (a normal build and an ASan+UBSan build), as CI does.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

.PHONY: all build asan check check-normal check-asan demo bench clean

all: build

build/CMakeCache.txt:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: build/CMakeCache.txt
	$(CMAKE) --build build -j $(JOBS)

build-asan/CMakeCache.txt:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLBD_SANITIZE=ON

asan: build-asan/CMakeCache.txt
	$(CMAKE) --build build-asan -j $(JOBS)

check-normal: build
	cd build && ctest --output-on-failure -j $(JOBS)

check-asan: asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

check: check-normal check-asan

demo: build
	./scripts/demo.sh

bench: build
	./bench/run.sh

# The randomized exerciser, long: FSX_OPS operations (0: no limit) or
# FSX_TIME seconds, from seed FSX_SEED (tests/fsx/README.md).
FSX_OPS ?= 1000000
FSX_TIME ?= 0
FSX_SEED ?= $(shell date +%s)
.PHONY: fsx
fsx: build
	./build/lbd-fsx -S $(FSX_SEED) -N $(FSX_OPS) -T $(FSX_TIME)

# The same with the pools other than rbd on a throw-away one-node Ceph
# cluster (scripts/ceph-test-cluster.sh), started and stopped here:
# migrations move images between the local store and RADOS.
.PHONY: fsx-rados
fsx-rados: build
	@d=$$(mktemp -d); ./scripts/ceph-test-cluster.sh start "$$d/ceph" && \
	  ./build/lbd-fsx -S $(FSX_SEED) -N $(FSX_OPS) -T $(FSX_TIME) \
	    -R "$$d/ceph/ceph.conf"; rc=$$?; \
	  ./scripts/ceph-test-cluster.sh stop "$$d/ceph"; rm -rf "$$d"; exit $$rc

clean:
	rm -rf build build-asan
