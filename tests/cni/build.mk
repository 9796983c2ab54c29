# Tests of the CNI protocol layer and the skiff-cni plugin.
TESTS += test_cni_proto
test_cni_proto_SRCS := tests/cni/test_proto.c cni/cni.c
test_cni_proto_PKGS := jansson
