/* skiff-agent's metrics (see agent_metrics.h). */
#include "dataplane/agent_metrics.h"

#include <stdlib.h>
#include <time.h>

#include "dataplane/dns/dns.h"
#include "lib/prom.h"
#include "lib/util.h"

/* kube-proxy's sync buckets: 1 ms doubling to 16 s. */
static const double sync_buckets[] = { 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
				       0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384 };

struct agent_metrics {
	struct prom_series *sync_seconds, *programming_seconds, *last_sync;
	struct prom_series *frontends, *services, *slices, *sockets_ended;
	struct prom_series *dns[DNS_C_COUNT];
	struct prom_series *dns_forwarded, *dns_cache_hits;
};

int agent_metrics_new(struct prom_registry *reg, const char *mode, struct agent_metrics **out)
{
	struct agent_metrics *m;
	struct prom_metric *dns;

	*out = NULL;
	if (!reg)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->sync_seconds = prom_series_of(
		prom_histogram_new(reg, "kubeproxy_sync_proxy_rules_duration_seconds",
				   "SyncProxyRules latency in seconds", NULL, sync_buckets,
				   ARRAY_SIZE(sync_buckets)),
		NULL);
	m->last_sync = prom_series_of(
		prom_gauge_new(reg, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
			       "The last time proxy rules were successfully synced", NULL),
		NULL);
	m->programming_seconds = prom_series_of(
		prom_histogram_new(reg, "skiff_agent_network_programming_duration_seconds",
				   "Seconds from the first Service, EndpointSlice or Node change the "
				   "agent saw to the proxy rules that apply it (the agent's part of "
				   "kube-proxy's network programming latency)",
				   NULL, sync_buckets, ARRAY_SIZE(sync_buckets)),
		NULL);
	m->frontends = prom_with(
		prom_gauge_new(reg, "skiff_agent_proxy_frontends",
			       "Service frontends (address, port, protocol) programmed: one entry of "
			       "the BPF service map, or one element of the nftables service map, each",
			       (const char *const[]){ "mode", NULL }),
		mode);
	m->services = prom_series_of(prom_gauge_new(reg, "skiff_agent_services",
						    "Services the agent knows", NULL),
				     NULL);
	m->slices = prom_series_of(prom_gauge_new(reg, "skiff_agent_endpoint_slices",
						  "EndpointSlices the agent knows", NULL),
				   NULL);
	m->sockets_ended = prom_series_of(
		prom_counter_new(reg, "skiff_agent_sockets_destroyed_total",
				 "Sockets of removed backends ended (BPF mode: bpf_sock_destroy)", NULL),
		NULL);
	dns = prom_counter_new(reg, "coredns_dns_responses_total",
			       "Counter of the cluster DNS responses by rcode",
			       (const char *const[]){ "rcode", NULL });
	for (size_t i = 0; i < DNS_C_COUNT; i++)
		m->dns[i] = prom_with(dns, dns_rcode_counter_name(i));
	m->dns_forwarded = prom_series_of(
		prom_counter_new(reg, "coredns_forward_requests_total",
				 "Counter of the queries forwarded upstream", NULL),
		NULL);
	m->dns_cache_hits = prom_series_of(
		prom_counter_new(reg, "coredns_cache_hits_total",
				 "Counter of the forwarded answers served from the cache", NULL),
		NULL);
	*out = m;
	return 0;
}

void agent_metrics_free(struct agent_metrics *m)
{
	free(m);
}

void agent_metrics_sync(struct agent_metrics *m, const struct agent_sync_report *rep)
{
	if (!m)
		return;
	prom_observe_since(m->sync_seconds, rep->start_ns);
	if (rep->change_ns)
		prom_observe_since(m->programming_seconds, rep->change_ns);
	prom_set(m->last_sync, (double)time(NULL));
	prom_set(m->frontends, (double)rep->n_fes);
	prom_set(m->services, (double)rep->n_services);
	prom_set(m->slices, (double)rep->n_slices);
	prom_set(m->sockets_ended, (double)rep->sockets_ended);
}

void agent_metrics_sockets(struct agent_metrics *m, uint64_t sockets_ended)
{
	if (m)
		prom_set(m->sockets_ended, (double)sockets_ended);
}

void agent_metrics_dns(struct agent_metrics *m, const struct dns_server_stats *st)
{
	if (!m)
		return;
	for (size_t i = 0; i < DNS_C_COUNT; i++)
		prom_set(m->dns[i], (double)st->responses[i]);
	prom_set(m->dns_forwarded, (double)st->forwarded);
	prom_set(m->dns_cache_hits, (double)st->cache_hits);
}
