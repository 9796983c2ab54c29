# The CNI benchmark driver (tests/bench/bench_cni.sh runs it; make bench).
TOOLS += cni-bench
cni-bench_SRCS := tests/bench/cni_bench.c
cni-bench_PKGS := jansson
