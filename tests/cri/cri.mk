TESTS += test_cri
test_cri_SRCS := tests/cri/test_cri.c $(CRI_SRCS)
test_cri_PKGS := $(CRI_PKGS)
$(OBJ)/tests/cri/test_cri.o: $(CRI_GEN)/api.pb-c.h
