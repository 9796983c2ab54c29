# Tests of skiff-agent's service proxy control side (model, YAML, desired
# state) and the fuzzers of its parsers.
TESTS += test_yaml
test_yaml_SRCS := tests/dataplane/test_yaml.c
test_yaml_PKGS := jansson yaml-0.1

FUZZERS += fuzz_yaml
fuzz_yaml_SRCS := tests/dataplane/fuzz_yaml.c
fuzz_yaml_PKGS := jansson yaml-0.1

TESTS += test_model_proxy
test_model_proxy_SRCS := tests/dataplane/test_model_proxy.c dataplane/proxy.c
test_model_proxy_PKGS := jansson yaml-0.1

TESTS += test_model_manifest
test_model_manifest_SRCS := tests/dataplane/test_model_manifest.c dataplane/manifest.c
test_model_manifest_PKGS := jansson yaml-0.1

FUZZERS += fuzz_manifest
fuzz_manifest_SRCS := tests/dataplane/fuzz_manifest.c dataplane/manifest.c dataplane/proxy.c
fuzz_manifest_PKGS := jansson yaml-0.1

TESTS += test_nft_batch
test_nft_batch_SRCS := tests/dataplane/test_nft_batch.c dataplane/nft_batch.c
test_nft_batch_PKGS := libnftnl libmnl

TESTS += test_nft_hairpin
test_nft_hairpin_SRCS := tests/dataplane/test_nft_hairpin.c dataplane/nft_proxy_sets.c \
	dataplane/nft_batch.c dataplane/proxy.c
test_nft_hairpin_PKGS := libnftnl libmnl jansson

TESTS += test_l2_announce
test_l2_announce_SRCS := tests/dataplane/test_l2_announce.c dataplane/l2_announce.c dataplane/l2_frame.c
test_l2_announce_PKGS := jansson

FUZZERS += fuzz_l2_frame
fuzz_l2_frame_SRCS := tests/dataplane/fuzz_l2_frame.c dataplane/l2_frame.c
fuzz_l2_frame_PKGS :=
