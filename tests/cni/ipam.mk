# Tests of skiff-ipam: unit tests of the config and the lease store, and
# the fuzz harness of the config parser (corpus: tests/fuzz/corpus/ipam_config).
TESTS += test_ipam
test_ipam_SRCS := tests/cni/test_ipam.c cni/cni.c $(IPAM_SRCS)
test_ipam_PKGS := jansson sqlite3

FUZZERS += fuzz_ipam_config
fuzz_ipam_config_SRCS := tests/cni/fuzz_ipam_config.c cni/cni.c $(IPAM_SRCS)
fuzz_ipam_config_PKGS := jansson sqlite3
