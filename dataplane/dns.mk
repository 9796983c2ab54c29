# Cluster DNS (dataplane/dns): the zone from the model store, answers,
# the upstream cache and the server; dns_agent.c makes it a consumer of
# skiff-agent's store (build.mk).
DNS_SRCS := dataplane/dns/dns_zone.c dataplane/dns/dns_answer.c dataplane/dns/dns_cache.c \
	dataplane/dns/dns_server.c
DNS_AGENT_SRCS := $(DNS_SRCS) dataplane/dns/dns_agent.c
DNS_PKGS := ldns
