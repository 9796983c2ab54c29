# Tests of the CNI protocol layer and the skiff-cni plugin.
TESTS += test_cni_proto
test_cni_proto_SRCS := tests/cni/test_proto.c cni/cni.c
test_cni_proto_PKGS := jansson

FUZZERS += fuzz_cni_config
fuzz_cni_config_SRCS := tests/cni/fuzz_cni_config.c cni/netconf.c cni/cni.c
fuzz_cni_config_PKGS := jansson

TESTS += test_cni_netconf
test_cni_netconf_SRCS := tests/cni/test_netconf.c cni/netconf.c cni/link.c cni/cni.c
test_cni_netconf_PKGS := jansson libnl-3.0 libnl-route-3.0
