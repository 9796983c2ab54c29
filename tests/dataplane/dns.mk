# Cluster DNS: the records computed from a model store, answers and the
# cache (C), and the fuzzer of the query path.
TESTS += test_dns
test_dns_SRCS := tests/dataplane/test_dns.c dataplane/manifest.c $(DNS_SRCS)
test_dns_PKGS := jansson yaml-0.1 $(DNS_PKGS)

FUZZERS += fuzz_dns_query
fuzz_dns_query_SRCS := tests/dataplane/fuzz_dns_query.c dataplane/manifest.c $(DNS_SRCS)
fuzz_dns_query_PKGS := jansson yaml-0.1 $(DNS_PKGS)
