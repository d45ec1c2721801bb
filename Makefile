# Top-level wrapper around CMake. `make run` and `make test` are the whole
# set-up on a fresh Debian bookworm machine (see README.md).
BUILD_DIR ?= build
TEST_DIR  ?= build-test
JOBS      ?= $(shell nproc)
ADDR      ?= 127.0.0.1:50051
DATA_DIR  ?= var
PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: all deps build test run clean crash install

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Everything CI runs: a separate ASan+UBSan build, every test through CTest.
test: deps
	@cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=Debug -DTALLINN_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS)

run: build
	@scripts/run $(BUILD_DIR) $(ADDR) $(DATA_DIR)

# Binaries, man pages, completions, the systemd unit, docs (docs/operations.md):
#   make install PREFIX=/usr DESTDIR=/tmp/stage
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD_DIR) --prefix "$(PREFIX)"

# The long crash test: kill -9 under write load, 20 times (CRASH_ROUNDS).
CRASH_ROUNDS ?= 20
crash: build
	/usr/bin/python3 tests/crash/crash_test.py $(BUILD_DIR)/bin/tallinnd --rounds $(CRASH_ROUNDS)

# The long chaos test (issue 10): CHAOS_SECONDS of random hostile calls
# against the sanitizer build, with CHAOS_RESTARTS SIGKILL/restart cycles.
# CHAOS_SEED=N replays the run a failure message names.
CHAOS_SECONDS  ?= 1800
CHAOS_RESTARTS ?= 10
.PHONY: chaos
chaos: deps
	@cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=Debug -DTALLINN_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS) --target tallinnd tallinn-audit tallinnctl
	/usr/bin/python3 tests/integration/chaos_test.py $(TEST_DIR)/bin/tallinnd \
		$(TEST_DIR)/bin/tallinn-audit $(TEST_DIR)/bin/tallinnctl \
		--seconds $(CHAOS_SECONDS) --restarts $(CHAOS_RESTARTS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

clean:
	rm -rf $(BUILD_DIR) $(TEST_DIR) $(FUZZ_DIR)

# Benchmarks (docs/BENCHMARKS.md): the bare C-core echo server and a fresh
# tallinnd on loopback, driven by the same client, every row three times,
# medians and ratios to the echo printed and written to $(BUILD_DIR)/bench/;
# read, list and write on PostgreSQL with one and with two replicas (a
# throwaway cluster) in the same run; then deep pages: 100,000 needs listed
# page by page, first and last pages' server time.
.PHONY: bench
bench: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target tallinnd tallinn-bench tallinn-bench-echo
	@scripts/bench --build-dir $(BUILD_DIR) --engines
	@scripts/bench-pages --build-dir $(BUILD_DIR)

# Fuzzing (docs/fuzzing.md): a separate clang build (libFuzzer + ASan + UBSan)
# in $(FUZZ_DIR); every target replays tests/fuzz/regressions/, then fuzzes
# for FUZZ_SECONDS from tests/fuzz/corpus/. `make test` runs a 20 s form.
FUZZ_DIR     ?= build-fuzz
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: deps
	tests/fuzz/run.sh --build $(FUZZ_DIR) --cc clang --seconds $(FUZZ_SECONDS)
