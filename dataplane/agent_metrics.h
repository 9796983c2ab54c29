/* skiff-agent's metrics (--metrics-bind-address): kube-proxy's sync
 * duration, skiff's network programming latency (the agent's part: from
 * the first change it saw to its rules applied), frontends programmed,
 * sockets ended, and the cluster DNS answers by rcode under CoreDNS's
 * name. Updated from the agent's loop thread; rendered by lib/prom's
 * listener on its own. */
#ifndef SKIFF_AGENT_METRICS_H
#define SKIFF_AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct prom_registry;
struct dns_server_stats;
struct agent_metrics;

/* *out NULL (and 0) when reg is NULL: every call below is then a no-op. */
int agent_metrics_new(struct prom_registry *reg, const char *mode, struct agent_metrics **out);
void agent_metrics_free(struct agent_metrics *m);

struct agent_sync_report {
	unsigned long long start_ns;  /* the sync began (now_ns()) */
	unsigned long long change_ns; /* the first change it applies was seen; 0: none */
	size_t n_fes, n_services, n_slices;
	uint64_t sockets_ended; /* in all, since the start */
};
/* A successful proxy sync, ending now. */
void agent_metrics_sync(struct agent_metrics *m, const struct agent_sync_report *rep);
/* Sockets ended in all, after a socket-ending pass outside a sync. */
void agent_metrics_sockets(struct agent_metrics *m, uint64_t sockets_ended);
/* The DNS server's totals, copied. */
void agent_metrics_dns(struct agent_metrics *m, const struct dns_server_stats *st);

#endif
