# Tests of skiff-server's API layer (the kubectl and API shell tests need
# only build/bin/skiff-server).
TESTS += test_api_patch test_api_selector test_api_validate
test_api_patch_SRCS := tests/control/test_api_patch.c
test_api_patch_PKGS := jansson
test_api_selector_SRCS := tests/control/test_api_selector.c
test_api_selector_PKGS := jansson
test_api_validate_SRCS := tests/control/test_api_validate.c control/api_resources.c control/api_table.c
test_api_validate_PKGS := jansson

FUZZERS += fuzz_api_body
fuzz_api_body_SRCS := tests/control/fuzz_api_body.c control/api_resources.c control/api_decode.c \
	control/api_table.c control/api_proto.c $(GEN)/control/k8s.pb-c.c
fuzz_api_body_PKGS := jansson libprotobuf-c
