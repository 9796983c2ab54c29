# Cluster DNS (dataplane/dns): the zone from the model store, answers,
# the upstream cache and the server; dns_agent.c makes it a consumer of
# skiff-agent's store (build.mk), dns_local.c serves the cluster DNS
# Service node-locally (links libnl, in skiff-agent's packages).
DNS_SRCS := dataplane/dns/dns_zone.c dataplane/dns/dns_answer.c dataplane/dns/dns_cache.c \
	dataplane/dns/dns_memo.c dataplane/dns/dns_server.c
DNS_AGENT_SRCS := $(DNS_SRCS) dataplane/dns/dns_agent.c dataplane/dns/dns_local.c
DNS_PKGS := ldns
