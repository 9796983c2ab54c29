# The list body's scanner (control/api_list.c) against the jansson way,
# with the server's own resource table and object helpers.
FUZZERS += fuzz_api_list
fuzz_api_list_SRCS = tests/control/fuzz_api_list.c $(filter-out control/main.c,$(skiff-server_SRCS))
fuzz_api_list_PKGS = $(skiff-server_PKGS)
