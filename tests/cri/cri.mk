TESTS += test_cri
test_cri_SRCS := tests/cri/test_cri.c $(CRI_SRCS)
test_cri_PKGS := $(CRI_PKGS)
$(OBJ)/tests/cri/test_cri.o: $(CRI_GEN)/api.pb-c.h

FUZZERS += fuzz_cri_config
fuzz_cri_config_SRCS := tests/cri/fuzz_cri_config.c $(CRI_SRCS)
fuzz_cri_config_PKGS := $(CRI_PKGS)
$(OBJ)/tests/cri/fuzz_cri_config.o: $(CRI_GEN)/api.pb-c.h
