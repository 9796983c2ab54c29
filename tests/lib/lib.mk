TESTS += test_util
test_util_SRCS := tests/lib/test_util.c
