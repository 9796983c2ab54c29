TESTS += test_util
test_util_SRCS := tests/lib/test_util.c
TESTS += test_inet
test_inet_SRCS := tests/lib/test_inet.c
