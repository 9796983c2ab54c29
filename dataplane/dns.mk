# Cluster DNS (dataplane/dns): the zone from the model store, answers,
# the upstream cache and the server; a module of skiff-agent (build.mk).
DNS_SRCS := dataplane/dns/dns_zone.c dataplane/dns/dns_answer.c dataplane/dns/dns_cache.c \
	dataplane/dns/dns_server.c
DNS_PKGS := ldns
