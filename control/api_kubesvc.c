/* The endpoints of Service default/kubernetes, as kube-apiserver's lease
 * endpoint reconciler keeps them (pkg/controlplane/reconcilers/lease.go,
 * endpointsadapter.go): every server on a store renews a lease on its
 * advertise address every 2/3 of the lease's time to live, then writes the
 * addresses of the leases alive into the Endpoints object "kubernetes"
 * (labelled endpointslice.kubernetes.io/skip-mirror=true) and the
 * EndpointSlice "kubernetes" (labelled kubernetes.io/service-name=kubernetes
 * and no managed-by, so the EndpointSlice controller leaves it alone), port
 * "https" to the secure port. A server that stops renewing drops out once
 * its lease expires; one that stops gracefully removes its lease and
 * reconciles at once.
 *
 * The store has no TTL: a lease is a key /registry/apiserver/masterleases/IP
 * holding when it was renewed and for how long; whoever reconciles deletes
 * the expired ones (conditional on their revision, so a renewal in between
 * wins). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/api_internal.h"
#include "control/api_obj.h"
#include "control/store.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"

#define LEASE_PREFIX "/registry/apiserver/masterleases/"
#define SVC_NS "default"
#define SVC_NAME "kubernetes"
#define LABEL_SKIP_MIRROR "endpointslice.kubernetes.io/skip-mirror"
#define LABEL_SERVICE_NAME "kubernetes.io/service-name"

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- leases ---- */

/* Writes (or refreshes) the lease on ip. */
static int lease_renew(struct api_server *s, const char *ip)
{
	char key[128];
	_cleanup_free_ char *val = NULL;
	int r;

	snprintf(key, sizeof(key), LEASE_PREFIX "%s", ip);
	if (asprintf(&val, "{\"ip\":\"%s\",\"renewTime\":%.3f,\"leaseDurationSeconds\":%d}", ip,
		     wall_now(), s->cfg.endpoint_lease_ttl) < 0)
		return -ENOMEM;
	r = store_update(s->store, key, val, strlen(val), 0, NULL);
	if (r == -ENOENT)
		r = store_create(s->store, key, val, strlen(val), NULL);
	if (r == -EEXIST) /* created meanwhile by a server of the same address */
		r = store_update(s->store, key, val, strlen(val), 0, NULL);
	return r;
}

static int lease_remove(struct api_server *s, const char *ip)
{
	char key[128];
	int r;

	snprintf(key, sizeof(key), LEASE_PREFIX "%s", ip);
	r = store_delete(s->store, key, 0, NULL, NULL);
	return r == -ENOENT ? 0 : r;
}

/* Whether the lease kv holds is alive at now. */
static bool lease_alive(const struct store_kv *kv, double now, const char **ip, json_t **root)
{
	json_t *o = json_loadb(kv->value, kv->value_len, 0, NULL);
	double at = json_number_value(json_object_get(o, "renewTime"));
	json_int_t ttl = json_integer_value(json_object_get(o, "leaseDurationSeconds"));

	*root = o;
	*ip = json_string_value(json_object_get(o, "ip"));
	return *ip && ttl > 0 && at + (double)ttl >= now;
}

/* The addresses of the live leases of family (sorted, as the store lists
 * keys; IPs of the other family skipped); the expired leases deleted. */
static int leases_alive(struct api_server *s, int family, json_t **out)
{
	struct store_kv *kvs = NULL;
	size_t n = 0;
	int64_t rev;
	bool more;
	double now = wall_now();
	json_t *ips = json_array();
	int r = store_list(s->store, LEASE_PREFIX, NULL, 0, &kvs, &n, &rev, &more);

	for (size_t i = 0; r == 0 && i < n; i++) {
		const char *ip;
		json_t *o;
		struct ipaddr a;

		if (!lease_alive(&kvs[i], now, &ip, &o)) {
			int d = store_delete(s->store, kvs[i].key, kvs[i].mod_revision, NULL, NULL);

			if (d < 0 && d != -ENOENT && d != -ESTALE)
				log_warn("lease %s: cannot delete it: %s", kvs[i].key, strerror(-d));
		} else if (ipaddr_parse(ip, &a) == 0 && a.family == family) {
			json_array_append_new(ips, json_string(ip));
		}
		json_decref(o);
	}
	store_kvs_free(kvs, n);
	if (r < 0 || !ips) {
		json_decref(ips);
		return r < 0 ? r : -ENOMEM;
	}
	*out = ips;
	return 0;
}

/* ---- the objects ---- */

/* Replaces or creates (ns default, name kubernetes) of r from want
 * (taken): the fields named in fields are want's, everything else stays
 * as stored. */
static int sync_object(struct api_server *s, const struct api_resource *r, json_t *want,
		       const char *const *fields, size_t n_fields, const char *ips)
{
	struct api_err e = { 0 };
	json_t *cur = NULL, *out = NULL;
	bool same = true;
	int ret;

	if (!r || !want) {
		json_decref(want);
		return -ENOMEM;
	}
	ret = api_obj_get(s, r, SVC_NS, SVC_NAME, &cur, &e);
	if (ret == -ENOENT) {
		api_err_free(&e);
		ret = api_obj_create(s, r, SVC_NS, want, NULL, &out, &e);
		if (ret == -EEXIST)
			ret = 0; /* another server's; the next tick compares */
		goto done;
	}
	if (ret < 0)
		goto done;
	for (size_t i = 0; i < n_fields; i++)
		same = same && json_equal(api_jget(cur, fields[i]) ?: json_null(),
					  api_jget(want, fields[i]) ?: json_null());
	if (same)
		goto done;
	for (size_t i = 0; i < n_fields; i++) {
		const char *dot = strchr(fields[i], '.');
		json_t *dst = dot ? json_object_get(cur, "metadata") : cur;

		json_object_set(dst, dot ? dot + 1 : fields[i], api_jget(want, fields[i]));
	}
	log_info("Service %s/%s: resetting its %s to %s", SVC_NS, SVC_NAME, r->kind, ips);
	ret = api_obj_update(s, r, SVC_NS, SVC_NAME, cur, NULL, &out, &e);
	if (ret == -EBUSY)
		ret = 0; /* moved on meanwhile: the next tick compares again */
done:
	if (ret < 0)
		log_warn("Service %s/%s: cannot write its %s: %s", SVC_NS, SVC_NAME, r->kind,
			 e.message[0] ? e.message : strerror(-ret));
	api_err_free(&e);
	json_decref(want);
	json_decref(cur);
	json_decref(out);
	return ret;
}

static json_t *https_port(struct api_server *s)
{
	return json_pack("{s:s,s:i,s:s}", "name", "https", "port", s->cfg.secure_port, "protocol",
			 "TCP");
}

/* Endpoints "kubernetes": one subset, the addresses and port https. */
static int sync_endpoints(struct api_server *s, json_t *ips, const char *text)
{
	static const char *const fields[] = { "metadata.labels", "subsets" };
	const struct api_resource *r = api_resource_find("", "v1", "endpoints");
	json_t *addrs = json_array(), *ip, *want;
	size_t i;

	json_array_foreach(ips, i, ip)
		json_array_append_new(addrs, json_pack("{s:O}", "ip", ip));
	want = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:[{s:o,s:[o]}]}", "apiVersion", "v1", "kind",
			 "Endpoints", "metadata", "name", SVC_NAME, "namespace", SVC_NS, "labels",
			 LABEL_SKIP_MIRROR, "true", "subsets", "addresses", addrs, "ports",
			 https_port(s));
	return sync_object(s, r, want, fields, ARRAY_SIZE(fields), text);
}

/* EndpointSlice "kubernetes": each address a ready endpoint. */
static int sync_slice(struct api_server *s, json_t *ips, const char *text)
{
	static const char *const fields[] = { "metadata.labels", "addressType", "endpoints", "ports" };
	const struct api_resource *r = api_resource_find("discovery.k8s.io", "v1", "endpointslices");
	json_t *eps = json_array(), *ip, *want;
	size_t i;

	json_array_foreach(ips, i, ip)
		json_array_append_new(eps, json_pack("{s:[O],s:{s:b}}", "addresses", ip, "conditions",
						     "ready", 1));
	want = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:o,s:[o]}", "apiVersion",
			 "discovery.k8s.io/v1", "kind", "EndpointSlice", "metadata", "name", SVC_NAME,
			 "namespace", SVC_NS, "labels", LABEL_SERVICE_NAME, SVC_NAME, "addressType",
			 s->ranges[0].family == AF_INET6 ? "IPv6" : "IPv4", "endpoints", eps, "ports",
			 https_port(s));
	return sync_object(s, r, want, fields, ARRAY_SIZE(fields), text);
}

/* doReconcile: the objects list the live leases, never none (upstream
 * refuses to erase every endpoint: when the last server stops, its
 * address stays until the next one starts). */
static int reconcile(struct api_server *s)
{
	json_t *ips = NULL, *ip;
	char text[512] = "";
	size_t i, len = 0;
	int r = leases_alive(s, s->ranges[0].family, &ips);

	if (r < 0) {
		log_warn("Service %s/%s: cannot list the servers' leases: %s", SVC_NS, SVC_NAME,
			 strerror(-r));
		return r;
	}
	json_array_foreach(ips, i, ip)
		if (len < sizeof(text))
			len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", i ? "," : "",
						json_string_value(ip));
	if (json_array_size(ips))
		r = sync_endpoints(s, ips, text);
	if (r == 0 && json_array_size(ips))
		r = sync_slice(s, ips, text);
	json_decref(ips);
	return r;
}

static void *kubesvc_main(void *arg)
{
	struct api_server *s = arg;
	const char *ip = s->cfg.advertise_address;
	int interval_ms = s->cfg.endpoint_lease_ttl * 2000 / 3, r;

	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stopping)) {
		struct timespec ts;

		pthread_mutex_unlock(&s->lock);
		r = lease_renew(s, ip);
		if (r < 0)
			log_warn("lease of %s for Service %s/%s: cannot renew it: %s", ip, SVC_NS,
				 SVC_NAME, strerror(-r));
		else
			reconcile(s);
		pthread_mutex_lock(&s->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += interval_ms / 1000;
		ts.tv_nsec += (long)(interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!atomic_load(&s->stopping) &&
		       pthread_cond_timedwait(&s->wake, &s->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&s->lock);
	/* RemoveEndpoints: this server leaves the list now, not at expiry */
	r = lease_remove(s, ip);
	if (r == 0)
		reconcile(s);
	else
		log_warn("lease of %s for Service %s/%s: cannot remove it: %s", ip, SVC_NS, SVC_NAME,
			 strerror(-r));
	return NULL;
}

int api_kubesvc_start(struct api_server *s)
{
	struct ipaddr a;
	int r;

	if (!s->cfg.advertise_address || s->cfg.endpoint_lease_ttl <= 0 || !s->cfg.secure_port)
		return 0;
	if (ipaddr_parse(s->cfg.advertise_address, &a) < 0)
		return -EINVAL;
	if (ipaddr_is_loopback(&a) || ipaddr_is_unspecified(&a)) {
		log_warn("Service %s/%s: advertise address %s reaches no one: no endpoints from this "
			 "server", SVC_NS, SVC_NAME, s->cfg.advertise_address);
		return 0;
	}
	if (a.family != s->ranges[0].family) {
		log_warn("Service %s/%s: advertise address %s is not of the service range's family "
			 "(%s): no endpoints from this server", SVC_NS, SVC_NAME,
			 s->cfg.advertise_address, s->ranges[0].text);
		return 0;
	}
	log_info("Service %s/%s: this server's endpoint is %s:%d (lease %d s)", SVC_NS, SVC_NAME,
		 s->cfg.advertise_address, s->cfg.secure_port, s->cfg.endpoint_lease_ttl);
	r = -pthread_create(&s->kubesvc, NULL, kubesvc_main, s);
	if (r == 0)
		s->kubesvc_running = true;
	return r;
}

void api_kubesvc_stop(struct api_server *s)
{
	if (!s->kubesvc_running)
		return;
	pthread_join(s->kubesvc, NULL);
	s->kubesvc_running = false;
}
