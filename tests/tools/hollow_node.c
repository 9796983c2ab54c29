/* hollow-nodes: the Node objects, their registration, Lease renewals spread
 * over the interval, node status heartbeats, silence and the exit cleanup. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/tools/hollow.h"
#include "lib/kube_names.h"
#include "lib/util.h"

#define LEASE_NS "kube-node-lease"
#define RETRY_NS 1000000000ULL /* a failed registration step is retried after 1 s */

static const struct kc_resource *res_nodes(void)
{
	return kc_resource_find("nodes");
}

static const struct kc_resource *res_leases(void)
{
	return kc_resource_find("leases.coordination.k8s.io");
}

/* ---- the objects ---- */

static json_t *node_taints(struct hollow *h)
{
	json_t *taints = json_array();

	for (int i = 0; i < h->o.taints.n; i++) {
		char buf[256], *eq, *colon;

		strscpy(buf, h->o.taints.v[i], sizeof(buf));
		colon = strrchr(buf, ':');
		*colon = '\0';
		eq = strchr(buf, '=');
		if (eq)
			*eq++ = '\0';
		json_array_append_new(taints, json_pack("{s:s, s:s, s:s?}", "key", buf, "effect",
							colon + 1, "value", eq));
	}
	return taints;
}

/* One condition; lastTransitionTime kept from old when the status is the same. */
static json_t *condition(json_t *old_conds, const char *type, const char *status,
			 const char *reason, const char *message, const char *now)
{
	const char *since = now;
	size_t i;
	json_t *c;

	json_array_foreach(old_conds, i, c) {
		if (streq(json_string_value(json_object_get(c, "type")), type) &&
		    streq(json_string_value(json_object_get(c, "status")), status) &&
		    json_is_string(json_object_get(c, "lastTransitionTime")))
			since = json_string_value(json_object_get(c, "lastTransitionTime"));
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status,
			 "lastHeartbeatTime", now, "lastTransitionTime", since, "reason", reason,
			 "message", message);
}

/* What the kubelet posts: capacity, conditions (heartbeat now), addresses,
 * nodeInfo. old: the status on the server (transition times), may be NULL. */
static json_t *node_status(struct hollow *h, struct hnode *n, json_t *old)
{
	json_t *oc = json_object_get(old, "conditions");
	char now[32], id[64], pods[16];
	json_t *res;

	kc_timestamp(0, now);
	snprintf(id, sizeof(id), "hollow-%s-%08d", h->o.prefix, n->index);
	snprintf(pods, sizeof(pods), "%d", h->o.max_pods);
	res = json_pack("{s:s, s:s, s:s, s:s}", "cpu", h->o.cpu, "memory", h->o.memory, "pods", pods,
			"ephemeral-storage", "100Gi");
	return json_pack(
		"{s:O, s:o, s:[oooo], s:[{s:s, s:s}, {s:s, s:s}], s:{s:{s:i}}, s:{s:s, s:s, s:s,"
		" s:s, s:s, s:s, s:s, s:s, s:s, s:s}, s:[]}",
		"capacity", res, "allocatable", res,
		"conditions",
		condition(oc, "MemoryPressure", "False", "KubeletHasSufficientMemory",
			  "kubelet has sufficient memory available", now),
		condition(oc, "DiskPressure", "False", "KubeletHasNoDiskPressure",
			  "kubelet has no disk pressure", now),
		condition(oc, "PIDPressure", "False", "KubeletHasSufficientPID",
			  "kubelet has sufficient PID available", now),
		condition(oc, "Ready", "True", "KubeletReady", "kubelet is posting ready status", now),
		"addresses", "type", "InternalIP", "address", n->ip, "type", "Hostname", "address",
		n->name, "daemonEndpoints", "kubeletEndpoint", "Port", 10250, "nodeInfo", "machineID",
		id, "systemUUID", id, "bootID", id, "kernelVersion", "hollow", "osImage",
		"hollow-nodes (skiff tests)", "containerRuntimeVersion", "hollow://1.0",
		"kubeletVersion", h->o.kubelet_version, "kubeProxyVersion", h->o.kubelet_version,
		"operatingSystem", "linux", "architecture", h->o.arch, "images");
}

static json_t *node_object(struct hollow *h, struct hnode *n)
{
	json_t *labels = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kubernetes.io/hostname",
				   n->name, "kubernetes.io/os", "linux", "kubernetes.io/arch",
				   h->o.arch, "beta.kubernetes.io/os", "linux",
				   "beta.kubernetes.io/arch", h->o.arch, HOLLOW_LABEL, h->o.prefix);

	if (h->o.zones > 0) {
		json_object_set_new(labels, "topology.kubernetes.io/region", json_string("hollow"));
		json_object_set_new(labels, "topology.kubernetes.io/zone",
				    json_sprintf("hollow-zone-%d", n->index % h->o.zones));
	}
	return json_pack("{s:s, s:s, s:{s:s, s:o}, s:{s:o}, s:o}", "apiVersion", "v1", "kind",
			 "Node", "metadata", "name", n->name, "labels", labels, "spec", "taints",
			 node_taints(h), "status", node_status(h, n, NULL));
}

static json_t *lease_object(struct hollow *h, struct hnode *n)
{
	char now[40];
	json_t *l;

	hollow_micro_time(now);
	l = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}", "apiVersion",
		      "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", n->name,
		      "namespace", LEASE_NS, "spec", "holderIdentity", n->name,
		      "leaseDurationSeconds", h->o.lease_duration_s, "renewTime", now);
	/* As the kubelet: the Lease goes with its Node. */
	if (n->uid[0])
		json_object_set_new(json_object_get(l, "metadata"), "ownerReferences",
				    json_pack("[{s:s, s:s, s:s, s:s}]", "apiVersion", "v1", "kind",
					      "Node", "name", n->name, "uid", n->uid));
	return l;
}

static void node_path(struct hnode *n, const char *sub, char *buf, size_t size)
{
	kc_path(res_nodes(), NULL, n ? n->name : NULL, sub, NULL, buf, size);
}

static void lease_path(struct hnode *n, bool named, char *buf, size_t size)
{
	kc_path(res_leases(), LEASE_NS, named ? n->name : NULL, NULL, NULL, buf, size);
}

/* ---- lookup and silence ---- */

struct hnode *hollow_node_find(struct hollow *h, const char *name)
{
	json_t *i = name ? json_object_get(h->node_index, name) : NULL;

	return i ? &h->nodes[json_integer_value(i)] : NULL;
}

bool hollow_node_quiet(const struct hnode *n)
{
	return n->silent || n->control_silent;
}

struct ipcidr hollow_node_pod_cidr(struct hollow *h, struct hnode *n)
{
	json_t *node = h->node_inf ? kc_informer_get(h->node_inf, n->name) : NULL;
	const char *s = json_string_value(json_object_get(json_object_get(node, "spec"), "podCIDR"));
	struct ipcidr c;

	if (s && ipcidr_parse(s, &c, NULL) == 0 && c.addr.family == AF_INET && c.len <= 30)
		return c;
	return n->fallback_cidr;
}

static void mark_status_due(struct hollow *h, struct hnode *n)
{
	if (!n->status_due) {
		n->status_due = true;
		h->status_due++;
	}
}

static void lease_renew(struct hollow *h, struct hnode *n);

void hollow_nodes_set_control(struct hollow *h, json_t *silent_names)
{
	for (int i = 0; i < h->n; i++) {
		struct hnode *n = &h->nodes[i];
		bool was = hollow_node_quiet(n), listed = false;
		char num[16];
		size_t j;
		json_t *v;

		snprintf(num, sizeof(num), "%d", n->index);
		json_array_foreach(silent_names, j, v)
			listed |= streq(json_string_value(v), n->name) ||
				  streq(json_string_value(v), num);
		n->control_silent = listed;
		if (was == hollow_node_quiet(n))
			continue;
		log_info("node %s: %s", n->name, listed ? "silent" : "speaks again");
		if (!hollow_node_quiet(n) && n->registered) {
			lease_renew(h, n);
			mark_status_due(h, n);
			hollow_pods_requeue_node(h, n);
		}
	}
}

/* ---- deletes, at exit ---- */

static void on_deleted(struct hollow *h, void *ud, int err, const struct kc_status *st,
		       json_t *body)
{
	unsigned long *count = ud;

	(void)h;
	(void)st;
	(void)body;
	if (err == 0 || err == -ENOENT)
		(*count)++;
}

static void delete_lease(struct hollow *h, struct hnode *n)
{
	char path[256];

	lease_path(n, true, path, sizeof(path));
	hollow_send(h, false, "DELETE", path, NULL, on_deleted, &h->st.deleted_leases);
}

static void delete_node(struct hollow *h, struct hnode *n)
{
	char path[256];

	node_path(n, NULL, path, sizeof(path));
	hollow_send(h, false, "DELETE", path, NULL, on_deleted, &h->st.deleted_nodes);
}

/* ---- registration ---- */

static void register_node(struct hollow *h, struct hnode *n);
static void lease_create(struct hollow *h, struct hnode *n);

static void retry_register(void *ud)
{
	struct hnode *n = ud;

	if (n->h->stopping)
		return;
	if (!n->registered)
		register_node(n->h, n);
	else if (!n->lease_created)
		lease_create(n->h, n);
}

static void retry_later(struct hollow *h, struct hnode *n)
{
	kc_timer_add(h->c, now_ns() + RETRY_NS, retry_register, n, NULL);
}

static void registered_one(struct hollow *h, struct hnode *n)
{
	if (n->registered && (n->lease_created || n->no_lease))
		h->registered_pending--;
}

static void on_lease_created(struct hollow *h, void *ud, int err, const struct kc_status *st,
			     json_t *body)
{
	struct hnode *n = ud;
	char path[256];

	(void)body;
	if (err == -ECANCELED)
		return;
	if (err == -EEXIST) {
		/* From an earlier run: take it over. */
		lease_path(n, true, path, sizeof(path));
		hollow_send(h, true, "PUT", path, lease_object(h, n), on_lease_created, n);
		return;
	}
	if (err < 0) {
		lease_path(n, false, path, sizeof(path));
		hollow_request_failed(h, "lease create", "POST", path, err, st);
		retry_later(h, n);
		return;
	}
	if (n->lease_created)
		return;
	n->lease_created = true;
	h->st.leases_created++;
	registered_one(h, n);
	if (h->stopping && !h->o.keep_nodes)
		delete_lease(h, n); /* answered after the cleanup was queued */
}

static void lease_create(struct hollow *h, struct hnode *n)
{
	char path[256];

	lease_path(n, false, path, sizeof(path));
	hollow_send(h, true, "POST", path, lease_object(h, n), on_lease_created, n);
}

static void on_node_registered(struct hollow *h, void *ud, int err, const struct kc_status *st,
			       json_t *body)
{
	struct hnode *n = ud;
	char path[256];

	if (err == -ECANCELED)
		return;
	if (err == -EEXIST) {
		/* From an earlier run: post a fresh status over it (unconditional). */
		json_t *obj = node_object(h, n);

		node_path(n, "status", path, sizeof(path));
		hollow_send_parsed(h, true, "PUT", path, obj, on_node_registered, n);
		return;
	}
	if (err < 0) {
		node_path(NULL, NULL, path, sizeof(path));
		hollow_request_failed(h, "node register", "POST", path, err, st);
		retry_later(h, n);
		return;
	}
	strscpy(n->uid, kc_meta_str(body, "uid") ?: "", sizeof(n->uid));
	n->registered = true;
	h->st.registered++;
	if (h->stopping) {
		if (!h->o.keep_nodes)
			delete_node(h, n); /* answered after the cleanup was queued */
		return;
	}
	if (n->no_lease)
		registered_one(h, n);
	else
		lease_create(h, n);
}

static void register_node(struct hollow *h, struct hnode *n)
{
	char path[256];

	node_path(NULL, NULL, path, sizeof(path));
	hollow_send_parsed(h, false, "POST", path, node_object(h, n), on_node_registered, n);
}

/* ---- renewals and heartbeats ---- */

static void on_lease_renewed(struct hollow *h, void *ud, int err, const struct kc_status *st,
			     json_t *body)
{
	struct hnode *n = ud;
	unsigned long long lat = now_ns() - n->renew_sent;
	char path[256];

	(void)body;
	n->lease_busy = false;
	if (err == -ECANCELED)
		return;
	if (err == -ENOENT && !h->stopping) {
		/* Someone deleted it: the kubelet makes a new one. */
		n->lease_created = false;
		h->st.leases_created--;
		h->registered_pending++;
		lease_create(h, n);
		return;
	}
	if (err < 0) {
		h->st.renew_errors++;
		lease_path(n, true, path, sizeof(path));
		hollow_request_failed(h, "lease renew", "PUT", path, err, st);
		return;
	}
	h->st.renewals++;
	h->st.renew_lat_sum_ns += lat;
	h->st.win_lat_sum_ns += lat;
	if (lat > h->st.renew_lat_max_ns)
		h->st.renew_lat_max_ns = lat;
	if (lat > h->st.win_lat_max_ns)
		h->st.win_lat_max_ns = lat;
}

static void lease_renew(struct hollow *h, struct hnode *n)
{
	char path[256];

	if (!n->lease_created || hollow_node_quiet(n) || h->stopping)
		return;
	if (n->lease_busy) {
		h->st.renew_late++;
		return;
	}
	n->lease_busy = true;
	n->renew_sent = now_ns();
	lease_path(n, true, path, sizeof(path));
	/* No resourceVersion: the holder overwrites its own Lease. */
	hollow_send(h, true, "PUT", path, lease_object(h, n), on_lease_renewed, n);
}

static void on_status_written(struct hollow *h, void *ud, int err, const struct kc_status *st,
			      json_t *body)
{
	struct hnode *n = ud;
	char path[256];

	(void)body;
	n->status_busy = false;
	if (err == -ECANCELED)
		return;
	if (err < 0) {
		node_path(n, "status", path, sizeof(path));
		hollow_request_failed(h, "node status", "PUT", path, err, st);
		return;
	}
	h->st.node_status_writes++;
}

static void status_write(struct hollow *h, struct hnode *n)
{
	json_t *cached = h->node_inf ? kc_informer_get(h->node_inf, n->name) : NULL;
	json_t *obj = cached ? json_deep_copy(cached) : node_object(h, n);
	char path[256];

	n->status_due = false;
	h->status_due--;
	if (hollow_node_quiet(n) || !n->registered)
		return;
	json_object_set_new(obj, "status", node_status(h, n, json_object_get(cached, "status")));
	json_object_del(json_object_get(obj, "metadata"), "resourceVersion");
	n->status_busy = true;
	node_path(n, "status", path, sizeof(path));
	hollow_send(h, false, "PUT", path, obj, on_status_written, n);
}

/* Ready is the kubelet's to say: a node that speaks puts back what the
 * node lifecycle controller wrote while it was silent. */
static void on_node_update(void *ud, json_t *old_obj, json_t *obj)
{
	struct hollow *h = ud;
	struct hnode *n = hollow_node_find(h, kc_meta_str(obj, "name"));
	json_t *c;
	size_t i;

	(void)old_obj;
	if (!n || hollow_node_quiet(n) || !n->registered)
		return;
	json_array_foreach(json_object_get(json_object_get(obj, "status"), "conditions"), i, c) {
		if (streq(json_string_value(json_object_get(c, "type")), "Ready") &&
		    !streq(json_string_value(json_object_get(c, "status")), "True"))
			mark_status_due(h, n);
	}
}

void hollow_nodes_tick(struct hollow *h, unsigned long long now)
{
	unsigned long long period = hollow_ms_ns(h->o.lease_interval_s * 1000);
	unsigned long long speriod = hollow_ms_ns(h->o.node_status_s * 1000);
	int i;

	if (h->stopping)
		return;
	for (i = 0; i < h->n && h->nodes[h->renew_cursor].renew_at <= now; i++) {
		struct hnode *n = &h->nodes[h->renew_cursor];

		lease_renew(h, n);
		n->renew_at += period;
		h->renew_cursor = (h->renew_cursor + 1) % h->n;
	}
	for (i = 0; speriod && i < h->n && h->nodes[h->status_cursor].status_at <= now; i++) {
		struct hnode *n = &h->nodes[h->status_cursor];

		if (n->registered)
			mark_status_due(h, n);
		n->status_at += speriod;
		h->status_cursor = (h->status_cursor + 1) % h->n;
	}
	for (i = 0; h->status_due && i < h->n && hollow_has_room(h); i++) {
		if (h->nodes[i].status_due && !h->nodes[i].status_busy)
			status_write(h, &h->nodes[i]);
	}
	while (h->register_next < h->n && hollow_has_room(h))
		register_node(h, &h->nodes[h->register_next++]);
}

/* ---- life cycle ---- */

static bool picked(const struct hollow_picks *p, int index)
{
	for (int i = 0; i < p->n; i++)
		if (p->v[i] == index)
			return true;
	return false;
}

static int check_picks(struct hollow *h, const struct hollow_picks *p, const char *flag)
{
	for (int i = 0; i < p->n; i++) {
		if (p->v[i] < h->o.first_index || p->v[i] >= h->o.first_index + h->n) {
			log_error("--%s %d: no such node (nodes are %d..%d)", flag, p->v[i],
				  h->o.first_index, h->o.first_index + h->n - 1);
			return -EINVAL;
		}
	}
	return 0;
}

int hollow_nodes_init(struct hollow *h)
{
	unsigned long long t0 = now_ns();

	h->n = h->o.nodes;
	/* 10.255.0.0/16 for nodes, 10.128.0.0/9 for their pod /24s. */
	if (h->o.first_index + h->n > 32000) {
		log_error("--first-index + --nodes: at most 32000 (addresses run out)");
		return -EINVAL;
	}
	if (check_picks(h, &h->o.no_lease, "no-lease") < 0 ||
	    check_picks(h, &h->o.silent, "silent") < 0)
		return -EINVAL;
	h->nodes = calloc((size_t)h->n, sizeof(*h->nodes));
	h->node_index = json_object();
	if (!h->nodes || !h->node_index)
		return -ENOMEM;
	for (int i = 0; i < h->n; i++) {
		struct hnode *n = &h->nodes[i];
		int g = h->o.first_index + i;
		char cidr[40];

		n->h = h;
		n->index = g;
		snprintf(n->name, sizeof(n->name), "hollow-%s-%d", h->o.prefix, g);
		if (kube_dns1123_subdomain_error(n->name)) {
			log_error("--prefix %s: node name %s is not a DNS subdomain", h->o.prefix,
				  n->name);
			return -EINVAL;
		}
		snprintf(n->ip, sizeof(n->ip), "10.255.%u.%u", ((unsigned)g + 1) >> 8 & 255,
			 ((unsigned)g + 1) & 255);
		snprintf(cidr, sizeof(cidr), "10.%d.%d.0/24", 128 + (g >> 8), g & 255);
		ipcidr_parse(cidr, &n->fallback_cidr, NULL);
		n->no_lease = picked(&h->o.no_lease, g);
		n->silent = picked(&h->o.silent, g);
		/* Renewals spread evenly over the interval, the first one an
		 * interval after the start. */
		n->renew_at = t0 + hollow_ms_ns(h->o.lease_interval_s * 1000) / (unsigned)h->n *
					   (unsigned)(h->n + i);
		n->status_at = t0 + hollow_ms_ns(h->o.node_status_s * 1000) / (unsigned)h->n *
					    (unsigned)(h->n + i);
		json_object_set_new(h->node_index, n->name, json_integer(i));
	}
	h->registered_pending = h->n;
	return 0;
}

/* The node informer: spec.podCIDR from node IPAM, and Ready put back. */
int hollow_nodes_start(struct hollow *h)
{
	char sel[256];
	int r;

	snprintf(sel, sizeof(sel), HOLLOW_LABEL "=%s", h->o.prefix);
	r = kc_informer_new(h->c, res_nodes(), &(struct kc_informer_opts){ .label_selector = sel },
			    &h->node_inf);
	if (r < 0)
		return r;
	kc_informer_add_handlers(h->node_inf, &(struct kc_informer_handlers){
		.update = on_node_update, .ud = h });
	return kc_informer_start(h->node_inf);
}

void hollow_nodes_cleanup(struct hollow *h)
{
	for (int i = 0; i < h->n; i++) {
		if (h->nodes[i].lease_created)
			delete_lease(h, &h->nodes[i]);
		if (h->nodes[i].registered)
			delete_node(h, &h->nodes[i]);
	}
}

void hollow_nodes_free(struct hollow *h)
{
	kc_informer_free(h->node_inf);
	h->node_inf = NULL;
	free(h->nodes);
	json_decref(h->node_index);
}
