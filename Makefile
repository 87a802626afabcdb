# Thin wrapper around CMake. The README's two commands are `make run` and `make test`.
#   make                 build build/mailscope
#   make test            build and run every test (ctest)
#   make test SANITIZE=1 the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)
#   make run             build and start `mailscope serve` with its defaults
#   make install         install binary and man page under PREFIX (default /usr/local)
#   make fuzz            build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#                        (inputs up to FUZZ_MAX_LEN bytes); fails on any crash, leak or UB
#   make bench           run bench/ingest
#   make memcheck        the protocol and interop suites with every server under valgrind memcheck
#                        (MAILSCOPE_VALGRIND=1: a definite/indirect leak or a memory error fails the test)
#   make format          clang-format every source file

PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
FUZZ_MAX_LEN ?= 4096
ifeq ($(SANITIZE),1)
BUILD      ?= build-asan
CMAKE_ARGS += -DMAILSCOPE_SANITIZE=ON
else
BUILD      ?= build
endif

.PHONY: all build deps test run install fuzz bench memcheck format clean

all: build

# Install missing Debian packages only when something is absent (the script is
# quiet and fast when all is present).
deps:
	@scripts/install-deps

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

run: build
	@$(BUILD)/mailscope serve $(ARGS)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DMAILSCOPE_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@tests/fuzz/run-all build-fuzz $(FUZZ_SECONDS) $(FUZZ_MAX_LEN)

bench: build
	@bench/ingest

# Slow (valgrind runs the server 10 to 50 times slower): mstest.SLOW scales the tests' waits, and
# each test may take MEMCHECK_TIMEOUT seconds (the usual 600 is restored afterwards).
MEMCHECK_TIMEOUT ?= 3600
memcheck: build
	@cmake -S . -B $(BUILD) -DMAILSCOPE_SCRIPT_TIMEOUT=$(MEMCHECK_TIMEOUT) >/dev/null
	@cd $(BUILD) && MAILSCOPE_VALGRIND=1 ctest --output-on-failure -j $(JOBS) -L '^(protocol|interop)$$' \
		$(CTEST_ARGS); rc=$$?; cmake -S .. -B . -DMAILSCOPE_SCRIPT_TIMEOUT=600 >/dev/null; exit $$rc

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf build build-asan build-fuzz
