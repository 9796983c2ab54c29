/* Cluster DNS as a consumer of skiff-agent's model store: the server set
 * up from the agent's flags, its zone kept up to date with the store (only
 * the changed Services' records), a log line per change with the counters
 * per response code. */
#include "dataplane/dns/dns.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dns_agent {
	struct dns_server *server;
	struct dns_zone_config cfg;
	struct dns_agent_options o;
	struct sockaddr_storage listen;
};

int dns_agent_new(const struct dns_agent_options *o, struct dns_agent **out)
{
	struct dns_server_options so = { 0 };
	struct dns_agent *a;
	char ups[256];
	int r;

	if (dns_sockaddr_parse(o->listen, 53, &so.listen, &so.listen_len) < 0) {
		log_error("--dns-listen: \"%s\" is not ADDR:PORT", o->listen);
		return -EINVAL;
	}
	if (o->n_upstreams > DNS_MAX_UPSTREAMS) {
		log_error("--dns-upstream: at most %d", DNS_MAX_UPSTREAMS);
		return -EINVAL;
	}
	for (size_t i = 0; i < o->n_upstreams; i++) {
		socklen_t len;

		if (dns_sockaddr_parse(o->upstreams[i], 53, &so.upstreams[i], &len) < 0) {
			log_error("--dns-upstream: \"%s\" is not ADDR[:PORT]", o->upstreams[i]);
			return -EINVAL;
		}
		so.n_upstreams++;
	}
	if (o->device) {
		r = dns_local_device(o->device, &so.listen);
		if (r < 0) {
			log_error("cluster DNS: device %s: cannot hold the address of %s: %s",
				  o->device, o->listen, strerror(-r));
			return r;
		}
		log_info("cluster DNS: device %s up with the address of %s", o->device, o->listen);
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = (struct dns_zone_config){ .zone = o->zone, .ttl = o->ttl };
	a->o = *o;
	a->listen = so.listen;
	r = dns_server_new(&so, &a->server);
	if (r < 0) {
		log_error("cluster DNS: cannot serve on %s: %s", o->listen, strerror(-r));
		dns_agent_free(a);
		return r;
	}
	dns_server_upstreams(a->server, ups, sizeof(ups));
	log_info("cluster DNS: serving zone %s on %s (UDP and TCP), upstreams %s",
		 o->zone ? o->zone : DNS_DEFAULT_ZONE, o->listen, ups);
	*out = a;
	return 0;
}

/* "NOERROR 5, NXDOMAIN 1, ..., forwarded 2, ..." */
static void counters(const struct dns_agent *a, char *buf, size_t size)
{
	struct dns_server_stats st;
	size_t off = 0;

	dns_server_stats(a->server, &st);
	for (size_t i = 0; i < DNS_C_COUNT && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s %llu, ", dns_rcode_counter_name(i),
					(unsigned long long)st.responses[i]);
	if (off < size)
		snprintf(buf + off, size - off, "forwarded %llu, cache hits %llu, upstream timeouts "
			 "%llu, %zu cached", (unsigned long long)st.forwarded,
			 (unsigned long long)st.cache_hits, (unsigned long long)st.upstream_timeouts,
			 st.cache_entries);
}

void dns_agent_stats(const struct dns_agent *a, struct dns_server_stats *out)
{
	dns_server_stats(a->server, out);
}

static void keys_free(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

int dns_agent_sync(struct dns_agent *a, struct model_store *st)
{
	struct dns_zone *z = dns_server_zone(a->server);
	unsigned long long t0 = now_ns();
	struct dns_zone_stats zs;
	char text[400], what[64] = "full";
	char **keys = NULL;
	size_t n = 0;
	bool all = true;
	int r;

	r = model_store_take_dirty_of(st, MODEL_READER_DNS, &keys, &n, &all);
	if (r == 0 && !all && z) {
		r = dns_zone_update(z, st, keys, n);
		snprintf(what, sizeof(what), "%zu changed service%s", n, n == 1 ? "" : "s");
	}
	keys_free(keys, n);
	if (r < 0 || all || !z) {
		if (r < 0)
			log_warn("cluster DNS: zone update failed (%s): computing it whole", strerror(-r));
		r = dns_zone_compute(st, &a->cfg, &z);
		if (r < 0) {
			log_error("cluster DNS: cannot compute zone %s: %s",
				  a->cfg.zone ? a->cfg.zone : DNS_DEFAULT_ZONE, strerror(-r));
			return r;
		}
		dns_server_set_zone(a->server, z);
		snprintf(what, sizeof(what), "full");
	}
	dns_zone_stats(z, &zs);
	counters(a, text, sizeof(text));
	log_info("cluster DNS: zone %s: %zu services, %zu names, %zu records in %.1f ms (%s; "
		 "answered so far: %s)", dns_zone_name(z), zs.n_services, zs.n_names, zs.n_records,
		 (double)(now_ns() - t0) / 1e6, what, text);
	return 0;
}

int dns_agent_serve_service(struct dns_agent *a, struct model_store *st)
{
	const char *svc = a->o.service ? a->o.service : DNS_DEFAULT_SERVICE;
	struct model_slice *s;
	int r;

	if (!dns_local_reachable(&a->listen)) {
		log_info("cluster DNS: %s is a loopback address: Service %s is not served by this "
			 "node (pods cannot reach it; see --dns-device)", a->o.listen, svc);
		return 0;
	}
	r = dns_local_slice(svc, a->o.node_name, &a->listen, &s);
	if (r == 0)
		r = model_store_put(st, DNS_LOCAL_ORIGIN, MODEL_KIND_ENDPOINT_SLICE, s);
	if (r < 0) {
		log_error("cluster DNS: cannot serve Service %s node-locally: %s", svc, strerror(-r));
		return r;
	}
	log_info("cluster DNS: Service %s (ports dns/UDP, dns-tcp/TCP) balanced to this node's "
		 "server on %s alone", svc, a->o.listen);
	return 0;
}

int dns_agent_fd(const struct dns_agent *a)
{
	return dns_server_fd(a->server);
}

void dns_agent_dispatch(struct dns_agent *a)
{
	int r = dns_server_dispatch(a->server);

	if (r < 0)
		log_warn("cluster DNS: %s", strerror(-r));
}

void dns_agent_free(struct dns_agent *a)
{
	char text[400];

	if (!a)
		return;
	if (a->server) {
		counters(a, text, sizeof(text));
		log_info("cluster DNS: stopped (answered: %s)", text);
		dns_server_free(a->server);
	}
	if (a->o.device && a->o.remove_device) {
		int r = dns_local_device_remove(a->o.device);

		if (r < 0 && r != -ENODEV)
			log_error("cluster DNS: cannot remove device %s: %s", a->o.device, strerror(-r));
		else
			log_info("cluster DNS: device %s removed", a->o.device);
	}
	free(a);
}
