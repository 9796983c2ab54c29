# hollow-nodes: N nodes that exist only on the API, their kubelets' part
# played on it (Leases, pod status), like kubemark (issue 10; tests and
# benches at scale: tests/tools/test_hollow_nodes.sh, tests/bench/bench_hollow.sh).
TOOLS += hollow-nodes
hollow-nodes_SRCS := tests/tools/hollow_nodes.c tests/tools/hollow_node.c tests/tools/hollow_pod.c
hollow-nodes_PKGS := libcurl jansson yaml-0.1
# jemalloc, as skiff-server (control/build.mk): glibc's malloc was ~10% of
# its CPU in bench_sched_api, on the cores the server shares.
hollow-nodes_PKGS += $(if $(SANITIZE),,jemalloc)
