TESTS += test_store
test_store_SRCS = tests/control/test_store.c $(STORE_SRCS)
test_store_PKGS = $(STORE_PKGS)

# The store benchmark driver (tests/bench/bench_store.sh).
TOOLS += store-bench
store-bench_SRCS = tests/bench/store_bench.c $(STORE_SRCS)
store-bench_PKGS = $(STORE_PKGS)
