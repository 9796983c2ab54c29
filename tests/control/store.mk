TESTS += test_store
test_store_SRCS = tests/control/test_store.c $(STORE_SRCS)
test_store_PKGS = $(STORE_PKGS)
