/* The legacy Endpoints object, as upstream's endpoints controller
 * (pkg/controller/endpoint): one address per selected pod of the
 * Service's family, ready or not ready (terminating pods only with
 * publishNotReadyAddresses), repacked as RepackSubsets does (ports that
 * share one set of addresses form one subset; not ready trumps ready), and
 * truncated at 1000 addresses with the over-capacity annotation.
 *
 * Orders differ from upstream, which sorts ports and subsets by a hash:
 * here addresses sort by IP then pod UID (as upstream), ports and subsets
 * by their text. Clients compare these as sets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl.h"
#include "lib/util.h"

#define ANN_TRIGGER "endpoints.kubernetes.io/last-change-trigger-time"
#define ANN_OVER_CAPACITY "endpoints.kubernetes.io/over-capacity"
#define LABEL_HEADLESS "service.kubernetes.io/headless"

/* One (port, address) pair before repacking. */
struct ep_pair {
	char *port_key; /* "" for the no-ports sentinel */
	json_t *port;   /* NULL: sentinel */
	char *addr_key; /* ip, pod uid */
	json_t *addr;
	bool ready;
};

struct pairs {
	struct ep_pair *v;
	size_t n, cap;
};

static void pairs_clear(struct pairs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->v[i].port_key);
		free(ps->v[i].addr_key);
		json_decref(ps->v[i].port);
		json_decref(ps->v[i].addr);
	}
	free(ps->v);
}

static int pairs_add(struct pairs *ps, json_t *port, json_t *addr, bool ready)
{
	struct ep_pair *e;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? 2 * ps->cap : 16;
		struct ep_pair *v = realloc(ps->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	e = &ps->v[ps->n];
	*e = (struct ep_pair){ .port = json_incref(port), .addr = json_incref(addr), .ready = ready };
	e->port_key = port ? json_dumps(port, JSON_SORT_KEYS | JSON_COMPACT) : strdup("");
	if (asprintf(&e->addr_key, "%s\x01%s", ctrl_str(addr, "ip"), ctrl_str(addr, "targetRef.uid") ?: "") < 0)
		e->addr_key = NULL;
	ps->n++;
	return e->port_key && e->addr_key ? 0 : -ENOMEM;
}

static bool is_ipv6(const char *ip)
{
	return ip && strchr(ip, ':');
}

/* podToEndpointAddressForService: the pod IP of the Service's family. */
static const char *pod_ip_for(json_t *svc, json_t *pod)
{
	const char *fam = json_string_value(json_array_get(ctrl_get(svc, "spec.ipFamilies"), 0));
	const char *cip = ctrl_str(svc, "spec.clusterIP"), *ip = ctrl_str(pod, "status.podIP");
	bool want6;
	size_t i;
	json_t *p;

	if (fam)
		want6 = streq(fam, "IPv6");
	else if (cip && *cip && !streq(cip, "None"))
		want6 = is_ipv6(cip);
	else
		want6 = is_ipv6(ip);
	json_array_foreach(ctrl_get(pod, "status.podIPs"), i, p)
		if (ctrl_str(p, "ip") && is_ipv6(ctrl_str(p, "ip")) == want6)
			return ctrl_str(p, "ip");
	return ip && *ip && is_ipv6(ip) == want6 ? ip : NULL;
}

static json_t *pod_address(json_t *svc, json_t *pod, const char *ip)
{
	const char *host = ctrl_str(pod, "spec.hostname"), *node = ctrl_str(pod, "spec.nodeName");
	json_t *a = json_pack("{s:s, s:{s:s, s:s, s:s, s:s}}", "ip", ip, "targetRef", "kind", "Pod",
			      "namespace", ctrl_str(pod, "metadata.namespace") ?: "", "name",
			      ctrl_str(pod, "metadata.name") ?: "", "uid",
			      ctrl_str(pod, "metadata.uid") ?: "");

	if (a && node && *node)
		json_object_set_new(a, "nodeName", json_string(node));
	if (a && host && *host && streq(ctrl_str(pod, "spec.subdomain"), ctrl_str(svc, "metadata.name")))
		json_object_set_new(a, "hostname", json_string(host));
	return a;
}

static json_t *endpoint_port(json_t *sp, long long num)
{
	json_t *p = json_pack("{s:I, s:s}", "port", (json_int_t)num, "protocol",
			      ctrl_str(sp, "protocol") ?: "TCP");
	const char *name = ctrl_str(sp, "name");

	if (p && name && *name)
		json_object_set_new(p, "name", json_string(name));
	if (p && ctrl_get(sp, "appProtocol"))
		json_object_set(p, "appProtocol", ctrl_get(sp, "appProtocol"));
	return p;
}

/* Every (port, address, ready) of the Service's pods. */
static int collect(json_t *svc, json_t **pods, size_t n_pods, struct pairs *ps)
{
	bool publish = json_is_true(ctrl_get(svc, "spec.publishNotReadyAddresses"));
	json_t *ports = ctrl_get(svc, "spec.ports"), *sel = ctrl_get(svc, "spec.selector");
	const char *cip = ctrl_str(svc, "spec.clusterIP");
	int r = 0;

	for (size_t i = 0; i < n_pods && r == 0; i++) {
		json_t *pod = pods[i], *addr, *sp;
		bool ready = publish || ctrl_pod_ready(pod, NULL);
		const char *ip;
		size_t j;

		/* ShouldPodBeInEndpoints(pod, publishNotReadyAddresses) */
		if (!ctrl_map_selects(sel, ctrl_get(pod, "metadata.labels")) ||
		    ctrl_pod_terminal(pod) ||
		    (!publish && ctrl_get(pod, "metadata.deletionTimestamp")))
			continue;
		ip = pod_ip_for(svc, pod);
		if (!ip)
			continue;
		addr = pod_address(svc, pod, ip);
		if (!addr)
			return -ENOMEM;
		if (!json_array_size(ports) && streq(cip, "None"))
			r = pairs_add(ps, NULL, addr, ready);
		json_array_foreach(ports, j, sp) {
			long long num = ctrl_find_port(pod, sp);
			json_t *ep;

			if (num <= 0 || r < 0)
				continue;
			ep = endpoint_port(sp, num);
			r = ep ? pairs_add(ps, ep, addr, ready) : -ENOMEM;
			json_decref(ep);
		}
		json_decref(addr);
	}
	return r;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct ep_pair *x = a, *y = b;
	int c = strcmp(x->port_key, y->port_key);

	return c ? c : strcmp(x->addr_key, y->addr_key);
}

struct port_set {
	char *sig;   /* its addresses and their readiness */
	size_t first, last; /* its pairs: ps->v[first..last) */
};

static int set_cmp(const void *a, const void *b)
{
	const struct port_set *x = a, *y = b;
	int c = strcmp(x->sig, y->sig);

	return c ? c : (x->first < y->first ? -1 : x->first > y->first);
}

/* The addresses of one port, duplicates merged (not ready trumps ready),
 * as a signature text; ready flags written back to the first of each. */
static char *port_signature(struct pairs *ps, size_t first, size_t last)
{
	size_t len = 1, i;
	char *sig;

	for (i = first; i < last; i++)
		len += strlen(ps->v[i].addr_key) + 3;
	sig = calloc(1, len);
	for (i = first; sig && i < last; i++) {
		if (i > first && streq(ps->v[i].addr_key, ps->v[i - 1].addr_key)) {
			ps->v[i - 1].ready &= ps->v[i].ready;
			continue;
		}
	}
	for (i = first; sig && i < last; i++) {
		if (i > first && streq(ps->v[i].addr_key, ps->v[i - 1].addr_key))
			continue;
		strcat(sig, ps->v[i].addr_key);
		strcat(sig, ps->v[i].ready ? "+;" : "-;");
	}
	return sig;
}

/* RepackSubsets: ports sharing one set of addresses make one subset. */
static json_t *repack(struct pairs *ps)
{
	struct port_set *sets = calloc(ps->n + 1, sizeof(*sets));
	json_t *subsets = json_array();
	size_t n_sets = 0, i = 0;

	if (!sets || !subsets)
		goto fail;
	if (ps->n)
		qsort(ps->v, ps->n, sizeof(*ps->v), pair_cmp);
	while (i < ps->n) {
		size_t j = i;

		while (j < ps->n && streq(ps->v[j].port_key, ps->v[i].port_key))
			j++;
		sets[n_sets] = (struct port_set){ .sig = port_signature(ps, i, j), .first = i, .last = j };
		if (!sets[n_sets++].sig)
			goto fail;
		i = j;
	}
	if (n_sets)
		qsort(sets, n_sets, sizeof(*sets), set_cmp);
	for (i = 0; i < n_sets;) {
		json_t *ss = json_object(), *ready = json_array(), *unready = json_array();
		json_t *ports = json_array();
		size_t j;

		json_array_append_new(subsets, ss);
		for (j = sets[i].first; j < sets[i].last; j++) {
			if (j > sets[i].first && streq(ps->v[j].addr_key, ps->v[j - 1].addr_key))
				continue;
			json_array_append(ps->v[j].ready ? ready : unready, ps->v[j].addr);
		}
		for (j = i; j < n_sets && streq(sets[j].sig, sets[i].sig); j++)
			if (ps->v[sets[j].first].port)
				json_array_append(ports, ps->v[sets[j].first].port);
		if (json_array_size(ready))
			json_object_set(ss, "addresses", ready);
		if (json_array_size(unready))
			json_object_set(ss, "notReadyAddresses", unready);
		if (json_array_size(ports))
			json_object_set(ss, "ports", ports);
		json_decref(ready);
		json_decref(unready);
		json_decref(ports);
		i = j;
	}
	for (i = 0; i < n_sets; i++)
		free(sets[i].sig);
	free(sets);
	return subsets;
fail:
	for (i = 0; sets && i < n_sets; i++)
		free(sets[i].sig);
	free(sets);
	json_decref(subsets);
	return NULL;
}

static size_t count_of(json_t *subsets, const char *field)
{
	size_t n = 0, i;
	json_t *s;

	json_array_foreach(subsets, i, s)
		n += json_array_size(json_object_get(s, field));
	return n;
}

static void keep_first(json_t *ss, const char *field, long long n)
{
	json_t *a = json_object_get(ss, field);

	while (a && (long long)json_array_size(a) > n)
		json_array_remove(a, json_array_size(a) - 1);
	if (a && !json_array_size(a))
		json_object_del(ss, field);
}

/* truncateEndpoints: at most EP_MAX_CAPACITY addresses, ready ones first,
 * each subset keeping its share (rounded up) of what is kept. */
static bool truncate_subsets(json_t *subsets)
{
	size_t ready = count_of(subsets, "addresses"), unready = count_of(subsets, "notReadyAddresses");
	bool cut_ready = ready > EP_MAX_CAPACITY;
	long long max = cut_ready ? EP_MAX_CAPACITY : EP_MAX_CAPACITY - (long long)ready;
	long long total = cut_ready ? (long long)ready : (long long)unready, left = max;
	size_t i;
	json_t *ss;

	if (ready + unready <= EP_MAX_CAPACITY)
		return false;
	json_array_foreach(subsets, i, ss) {
		const char *field = cut_ready ? "addresses" : "notReadyAddresses";
		long long in = json_array_size(json_object_get(ss, field));
		long long take = (in * max + total - 1) / total; /* ceil(in/total*max) */

		if (take > left)
			take = left;
		keep_first(ss, field, take);
		if (cut_ready)
			json_object_del(ss, "notReadyAddresses");
		left -= json_array_size(json_object_get(ss, field));
	}
	return true;
}

/* Equal, an absent array or object counting as an empty one. */
static bool same_or_both_empty(json_t *a, json_t *b)
{
	if (!a || !b)
		return json_array_size(a ?: b) == 0 && json_object_size(a ?: b) == 0;
	return json_equal(a, b);
}

static json_t *endpoints_labels(json_t *svc)
{
	json_t *l = json_deep_copy(ctrl_get(svc, "metadata.labels")) ?: json_object();
	const char *cip = ctrl_str(svc, "spec.clusterIP");

	if (!cip || !*cip || streq(cip, "None"))
		json_object_set_new(l, LABEL_HEADLESS, json_string(""));
	else
		json_object_del(l, LABEL_HEADLESS);
	return l;
}

int endpoints_compute(json_t *svc, json_t **pods, size_t n_pods, json_t *existing,
		      time_t trigger_time, struct ctrl_plan *p)
{
	const char *ns = ctrl_str(svc, "metadata.namespace") ?: "default";
	const char *name = ctrl_str(svc, "metadata.name");
	struct pairs ps = { 0 };
	json_t *subsets = NULL, *want, *meta, *ann;
	int r;

	if (!name)
		return -EINVAL;
	/* Services without a selector: the user writes their Endpoints */
	if (!json_object_size(ctrl_get(svc, "spec.selector")))
		return 0;
	r = collect(svc, pods, n_pods, &ps);
	if (r == 0) {
		subsets = repack(&ps);
		r = subsets ? 0 : -ENOMEM;
	}
	pairs_clear(&ps);
	if (r < 0)
		return r;
	want = existing ? json_deep_copy(existing)
			: json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Endpoints",
				    "metadata", "name", name, "namespace", ns);
	meta = json_object_get(want, "metadata");
	ann = json_object_get(meta, "annotations");
	if (!ann) {
		ann = json_object();
		json_object_set_new(meta, "annotations", ann);
	}
	if (truncate_subsets(subsets))
		json_object_set_new(ann, ANN_OVER_CAPACITY, json_string("truncated"));
	else
		json_object_del(ann, ANN_OVER_CAPACITY);
	json_object_set_new(want, "subsets", subsets);
	json_object_set_new(meta, "labels", endpoints_labels(svc));
	if (!json_array_size(json_object_get(want, "subsets")))
		json_object_del(want, "subsets");
	if (existing && same_or_both_empty(json_object_get(want, "subsets"),
					   json_object_get(existing, "subsets")) &&
	    same_or_both_empty(json_object_get(meta, "labels"), ctrl_get(existing, "metadata.labels")) &&
	    same_or_both_empty(ann, ctrl_get(existing, "metadata.annotations"))) {
		json_decref(want);
		return 0;
	}
	if (trigger_time) {
		char t[32];

		ctrl_time_format(trigger_time, t);
		json_object_set_new(ann, ANN_TRIGGER, json_string(t));
	} else {
		json_object_del(ann, ANN_TRIGGER);
	}
	if (!json_object_size(ann))
		json_object_del(meta, "annotations");
	if (!json_object_size(json_object_get(meta, "labels")))
		json_object_del(meta, "labels");
	return ctrl_plan_add(p, existing ? CTRL_UPDATE : CTRL_CREATE, "endpoints", ns, name, want);
}
