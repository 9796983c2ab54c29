TESTS += test_opts
test_opts_SRCS := tests/lib/test_opts.c
