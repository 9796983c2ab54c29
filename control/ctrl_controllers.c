/* The controller table: one row per controller of the manager
 * (ctrl_manager.h), each a thin adapter from the shared caches to its
 * pure compute step. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/ctrl.h"
#include "control/ctrl_cronjob.h"
#include "control/ctrl_daemonset.h"
#include "control/ctrl_disruption.h"
#include "control/ctrl_gc.h"
#include "control/ctrl_job.h"
#include "control/ctrl_lbipam.h"
#include "control/ctrl_namespace.h"
#include "control/ctrl_manager.h"
#include "control/ctrl_nodeipam.h"
#include "control/ctrl_nodelifecycle.h"
#include "control/ctrl_podgc.h"
#include "control/ctrl_rootca.h"
#include "control/ctrl_serviceaccount.h"
#include "control/ctrl_statefulset.h"
#include "control/ctrl_util.h"
#include "lib/inet.h"
#include "lib/util.h"

#define CM(field) offsetof(struct ctrl_manager_config, field)

/* A whole-cache controller (IPAM) reconciles one key. */
#define ALL "all"

/* Whether an event may matter to a controller that reads only the fields
 * at paths (NULL-terminated): an add, a delete, a resync (old == obj), or
 * an update that changed one of them. */
static bool fields_changed(json_t *old, json_t *obj, const char *const *paths)
{
	if (!old || !obj || old == obj)
		return true;
	for (; *paths; paths++) {
		json_t *x = ctrl_get(old, *paths), *y = ctrl_get(obj, *paths);

		if ((x || y) && !json_equal(x, y))
			return true;
	}
	return false;
}

/* The IPAM controllers rescan their whole cache per sync, so only the
 * changes that can move an allocation enqueue one: not the status
 * heartbeats of 5,000 nodes (nodeipam: 466 syncs in 30 s at 2,000 hollow
 * nodes, now 16), nor a Service's status writes of other controllers. */
static void ipam_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	static const char *const node_paths[] = { "spec.podCIDR", "spec.podCIDRs",
						  "metadata.deletionTimestamp", NULL };
	static const char *const svc_paths[] = { "spec", "status.loadBalancer",
						 "metadata.deletionTimestamp", NULL };

	if (fields_changed(old, obj, streq(resource, "nodes") ? node_paths : svc_paths))
		ctrl_enqueue(c, ALL);
}

/* An index on an informer another row may have added already (none when
 * the API does not serve the resource). */
static int index_ensure(struct ctrl_run *c, const char *resource, const char *name, kc_index_fn fn)
{
	struct kc_informer *inf = ctrl_informer(c, resource);
	int r = inf ? kc_informer_add_index(inf, name, fn) : 0;

	return r == -EEXIST ? 0 : r;
}

/* The key ("ns/name") of obj's controller when it is of kind. */
static void enqueue_controller(struct ctrl_run *c, json_t *obj, const char *kind)
{
	json_t *ref = ctrl_controller_of(obj);
	const char *name = json_string_value(json_object_get(ref, "name"));
	char key[320];

	if (!ref || !name || !streq(json_string_value(json_object_get(ref, "kind")), kind))
		return;
	snprintf(key, sizeof(key), "%s/%s", kc_meta_str(obj, "namespace"), name);
	ctrl_enqueue(c, key);
}

/* An owner's event is its own key; an owned object's, its controller's
 * (both of an update, when it changed hands). */
static void owner_event(struct ctrl_run *c, const char *owner_res, const char *kind,
			const char *resource, json_t *old, json_t *obj)
{
	char key[320];

	if (streq(resource, owner_res)) {
		if (kc_object_key(obj ? obj : old, key, sizeof(key)) == 0)
			ctrl_enqueue(c, key);
		return;
	}
	if (old)
		enqueue_controller(c, old, kind);
	if (obj && obj != old)
		enqueue_controller(c, obj, kind);
}

/* What a workload's compute step takes: its object, and the objects of
 * resource it owns (by the "owner" index). */
static json_t **owned(struct ctrl_run *c, const char *resource, json_t *owner, size_t *n)
{
	const char *uid = kc_meta_str(owner, "uid");

	*n = 0;
	return uid ? ctrl_indexed(c, resource, "owner", uid, n) : NULL;
}

static int owner_index_init(struct ctrl_run *c)
{
	int r = index_ensure(c, "pods", "owner", kc_index_owner_uid);

	if (r == 0)
		r = index_ensure(c, "controllerrevisions.apps", "owner", kc_index_owner_uid);
	if (r == 0)
		r = index_ensure(c, "jobs.batch", "owner", kc_index_owner_uid);
	return r;
}

static void requeue(struct ctrl_run *c, const char *key, long long after)
{
	if (after > 0)
		ctrl_enqueue_after(c, key, (double)after);
}

/* ---- serviceaccount: the "default" ServiceAccount of each namespace ---- */

static int sa_init(struct ctrl_run *c)
{
	return index_ensure(c, "serviceaccounts", "namespace", kc_index_namespace);
}

static void sa_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *o = obj ? obj : old;

	ctrl_enqueue(c, streq(resource, "namespaces") ? kc_meta_str(o, "name")
						      : kc_meta_str(o, "namespace"));
}

static int sa_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *ns = ctrl_cached(c, "namespaces", key);
	_cleanup_free_ json_t **sas = NULL;
	size_t n;

	if (!ns)
		return 0;
	sas = ctrl_indexed(c, "serviceaccounts", "namespace", key, &n);
	return serviceaccount_compute(ns, sas, n, p);
}

/* ---- root-ca-cert-publisher: kube-root-ca.crt in each namespace ---- */

static void rootca_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *o = obj ? obj : old;

	if (streq(resource, "namespaces"))
		ctrl_enqueue(c, kc_meta_str(o, "name"));
	else if (streq(kc_meta_str(o, "name"), ROOTCA_CONFIGMAP))
		ctrl_enqueue(c, kc_meta_str(o, "namespace"));
}

static int rootca_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *ns = ctrl_cached(c, "namespaces", key);
	_cleanup_free_ char *ca = ctrl_run_root_ca(c);
	char cm[300];

	if (!ns)
		return 0;
	snprintf(cm, sizeof(cm), "%s/%s", key, ROOTCA_CONFIGMAP);
	return rootca_compute(ns, ctrl_cached(c, "configmaps", cm), ca, p);
}

/* ---- nodeipam: spec.podCIDRs from --cluster-cidr ---- */

static int nodeipam_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	const struct ctrl_manager_config *cfg = ctrl_run_config(c);
	struct nodeipam_config nc = { .mask_v4 = (uint8_t)cfg->mask_v4, .mask_v6 = (uint8_t)cfg->mask_v6 };
	json_t *const *nodes;
	size_t n;
	int r;

	(void)key;
	if (!cfg->cluster_cidr || ctrl_cidrs_parse(cfg->cluster_cidr, nc.cidrs, &nc.n_cidrs) < 0 ||
	    !nc.n_cidrs)
		return 0;
	r = ctrl_objects(c, "nodes", &nodes, &n);
	return r < 0 ? r : nodeipam_compute(&nc, nodes, n, p);
}

/* ---- lb-ipam: LoadBalancer addresses from --lb-cidr ---- */

static int lbipam_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	const struct ctrl_manager_config *cfg = ctrl_run_config(c);
	struct lbipam_config lc = { 0 };
	json_t *const *svcs;
	size_t n;
	int r;

	(void)key;
	if (!cfg->lb_cidr || ctrl_cidrs_parse(cfg->lb_cidr, lc.pools, &lc.n_pools) < 0 || !lc.n_pools)
		return 0;
	r = ctrl_objects(c, "services", &svcs, &n);
	return r < 0 ? r : lbipam_compute(&lc, svcs, n, p);
}

/* ---- nodelifecycle: health, taints, eviction per node ---- */

static int nodelc_init(struct ctrl_run *c)
{
	return index_ensure(c, "pods", "node", kc_index_node_name);
}

/* A node's or its pods' change reconciles the node. A Lease renewal does
 * not (every node's, every 10 s): it only moves the node's deadline, and
 * the node is looked at again when the deadline it had passes (nodelc_compute's
 * next), with the Lease as cached then, as upstream's monitorNodeHealth
 * reads it on its period. */
static void nodelc_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *o = obj ? obj : old;
	const char *node;

	if (streq(resource, "leases"))
		return;
	if (streq(resource, "nodes"))
		node = kc_meta_str(o, "name");
	else
		node = json_string_value(json_object_get(json_object_get(o, "spec"), "nodeName"));
	if (node && *node)
		ctrl_enqueue(c, node);
}

static int nodelc_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *node = ctrl_cached(c, "nodes", key), *lease;
	_cleanup_free_ json_t **pods = NULL;
	size_t n;
	char lk[300];
	time_t now = time(NULL), next = 0;
	int r;

	if (!node)
		return 0;
	snprintf(lk, sizeof(lk), "%s/%s", NODELC_LEASE_NAMESPACE, key);
	lease = ctrl_cached(c, "leases", lk);
	pods = ctrl_indexed(c, "pods", "node", key, &n);
	r = nodelc_compute(node, lease, pods, n, ctrl_run_config(c)->node_monitor_grace_s, now, p, &next);
	if (r >= 0 && next > 0)
		ctrl_enqueue_after(c, key, next > now ? (double)(next - now) : 0);
	return r;
}

/* ---- daemonset ---- */

/* A node change concerns every DaemonSet. */
static void ds_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *o;
	const char *k;

	if (!streq(resource, "nodes")) {
		owner_event(c, DS_RESOURCE, "DaemonSet", resource, old, obj);
		return;
	}
	if (ctrl_informer(c, DS_RESOURCE))
		json_object_foreach(kc_informer_items(ctrl_informer(c, DS_RESOURCE)), k, o)
			ctrl_enqueue(c, k);
}

static int ds_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct ds_input in = { .ds = ctrl_cached(c, DS_RESOURCE, key), .now = time(NULL) };
	struct ds_result res = { 0 };
	_cleanup_free_ json_t **pods = NULL, **revs = NULL;
	json_t *const *nodes;
	int r;

	if (!in.ds)
		return 0;
	pods = owned(c, "pods", in.ds, &in.n_pods);
	revs = owned(c, "controllerrevisions.apps", in.ds, &in.n_revisions);
	in.pods = pods;
	in.revisions = revs;
	r = ctrl_objects(c, "nodes", &nodes, &in.n_nodes);
	in.nodes = (json_t **)nodes;
	if (r == 0)
		r = ds_compute(&in, p, &res);
	if (r == 0)
		requeue(c, key, res.requeue_after);
	return r;
}

/* ---- statefulset ---- */

static void sts_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	owner_event(c, STS_RESOURCE, "StatefulSet", resource, old, obj);
}

static int sts_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct sts_input in = { .sts = ctrl_cached(c, STS_RESOURCE, key), .now = time(NULL) };
	struct sts_result res = { 0 };
	_cleanup_free_ json_t **pods = NULL, **revs = NULL;
	int r;

	if (!in.sts)
		return 0;
	pods = owned(c, "pods", in.sts, &in.n_pods);
	revs = owned(c, "controllerrevisions.apps", in.sts, &in.n_revisions);
	in.pods = pods;
	in.revisions = revs;
	r = sts_compute(&in, p, &res);
	if (r == 0)
		requeue(c, key, res.requeue_after);
	return r;
}

/* ---- cronjob ---- */

static void cj_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	owner_event(c, CJ_RESOURCE, "CronJob", resource, old, obj);
}

static int cj_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct cj_input in = { .cronjob = ctrl_cached(c, CJ_RESOURCE, key), .now = time(NULL) };
	struct cj_result res = { 0 };
	_cleanup_free_ json_t **jobs = NULL;
	int r;

	if (!in.cronjob)
		return 0;
	jobs = owned(c, JOB_RESOURCE, in.cronjob, &in.n_jobs);
	in.jobs = jobs;
	r = cj_compute(&in, p, &res);
	if (r == 0)
		requeue(c, key, res.requeue_after);
	return r;
}

/* ---- endpointslice and endpoints: a Service's pods ---- */

#define EPS_RESOURCE "endpointslices.discovery.k8s.io"
#define EPS_SERVICE_LABEL "kubernetes.io/service-name"

/* A slice's Service, "ns/name", from its label. */
static void index_slice_service(json_t *slice, json_t *values)
{
	const char *svc = json_string_value(
		json_object_get(json_object_get(json_object_get(slice, "metadata"), "labels"),
				EPS_SERVICE_LABEL));
	char key[320];

	if (svc && (size_t)snprintf(key, sizeof(key), "%s/%s", kc_meta_str(slice, "namespace") ?: "",
				    svc) < sizeof(key))
		json_array_append_new(values, json_string(key));
}

/* "ns/key=value" for each pair of the map at path: a pod's labels, a
 * Service's selector. A pod finds the Services that may select it, and a
 * Service the pods it may select, through one pair instead of a scan of
 * the namespace (10,000 Services by 10,000 pods: 10^8 selector matches). */
static void index_pairs(json_t *obj, const char *path, json_t *values)
{
	const char *ns = kc_meta_str(obj, "namespace") ?: "", *k;
	json_t *v;

	json_object_foreach(ctrl_get(obj, path), k, v) {
		char buf[640];

		if (json_is_string(v) && (size_t)snprintf(buf, sizeof(buf), "%s/%s=%s", ns, k,
							  json_string_value(v)) < sizeof(buf))
			json_array_append_new(values, json_string(buf));
	}
}

static void index_label_pairs(json_t *obj, json_t *values)
{
	index_pairs(obj, "metadata.labels", values);
}

static void index_selector_pairs(json_t *obj, json_t *values)
{
	index_pairs(obj, "spec.selector", values);
}

static int eps_init(struct ctrl_run *c)
{
	int r = index_ensure(c, "pods", "namespace", kc_index_namespace);

	if (r == 0)
		r = index_ensure(c, "pods", "label-pair", index_label_pairs);
	if (r == 0)
		r = index_ensure(c, "services", "selector-pair", index_selector_pairs);
	if (r == 0)
		r = index_ensure(c, EPS_RESOURCE, "service", index_slice_service);
	return r;
}

/* The pods svc may select: those with its selector's first pair (the
 * compute steps match the whole selector), else the namespace's. */
static json_t **svc_pods(struct ctrl_run *c, json_t *svc, size_t *n)
{
	_cleanup_json_ json_t *pairs = json_array();

	index_selector_pairs(svc, pairs);
	if (json_array_size(pairs))
		return ctrl_indexed(c, "pods", "label-pair", json_string_value(json_array_get(pairs, 0)), n);
	return ctrl_indexed(c, "pods", "namespace", kc_meta_str(svc, "namespace") ?: "", n);
}

/* Whether the Service's selector (a plain map) picks the pod. */
static bool svc_selects(json_t *svc, json_t *pod)
{
	return ctrl_map_selects(ctrl_get(svc, "spec.selector"), ctrl_get(pod, "metadata.labels"));
}

/* The Services selecting pod (through each of its label pairs). */
static void enqueue_services_selecting(struct ctrl_run *c, json_t *pod)
{
	_cleanup_json_ json_t *pairs = json_array();
	json_t *pair;
	char key[320];
	size_t i, n;

	index_label_pairs(pod, pairs);
	json_array_foreach(pairs, i, pair) {
		_cleanup_free_ json_t **svcs = ctrl_indexed(c, "services", "selector-pair",
							    json_string_value(pair), &n);

		for (size_t j = 0; j < n; j++)
			if (svc_selects(svcs[j], pod) && kc_object_key(svcs[j], key, sizeof(key)) == 0)
				ctrl_enqueue(c, key);
	}
}

/* The Services selecting pod (old or new version). */
static void enqueue_services_of(struct ctrl_run *c, json_t *old, json_t *pod)
{
	if (old)
		enqueue_services_selecting(c, old);
	if (pod)
		enqueue_services_selecting(c, pod);
}

static void eps_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *any = obj ? obj : old;
	char key[320];

	if (streq(resource, "pods"))
		enqueue_services_of(c, old, obj);
	else if (streq(resource, "services") || streq(resource, "endpoints")) {
		if (kc_object_key(any, key, sizeof(key)) == 0)
			ctrl_enqueue(c, key);
	} else if (streq(resource, EPS_RESOURCE)) {
		_cleanup_json_ json_t *v = json_array();

		index_slice_service(any, v);
		if (json_array_size(v))
			ctrl_enqueue(c, json_string_value(json_array_get(v, 0)));
	}
}

static json_t *node_get(void *ud, const char *name)
{
	return ctrl_cached(ud, "nodes", name);
}

static int eps_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct eps_input in = { .svc = ctrl_cached(c, "services", key), .node_get = node_get,
				.node_ud = c };
	_cleanup_free_ json_t **pods = NULL, **slices = NULL;
	int r;

	if (!in.svc)
		return 0; /* its slices follow it through their owner reference */
	pods = svc_pods(c, in.svc, &in.n_pods);
	slices = ctrl_indexed(c, EPS_RESOURCE, "service", key, &in.n_slices);
	in.pods = pods;
	in.slices = slices;
	r = eps_compute(&in, p);
	if (r > 0) /* pods on nodes not cached yet */
		ctrl_enqueue_after(c, key, 1);
	return r < 0 ? r : 0;
}

static int ep_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *svc = ctrl_cached(c, "services", key);
	_cleanup_free_ json_t **pods = NULL;
	size_t n;

	if (!svc)
		return 0;
	pods = svc_pods(c, svc, &n);
	return endpoints_compute(svc, pods, n, ctrl_cached(c, "endpoints", key), 0, p);
}

/* ---- replicaset ---- */

#define RS_RESOURCE "replicasets.apps"
#define DEP_RESOURCE "deployments.apps"

/* What the driver keeps per key of a controller that creates and deletes
 * pods (the ReplicaSet, the Job) between syncs: upstream's expectations,
 * the error of its last creates/deletes, and what the last plan asked for
 * (the sender batches it). */
struct exp_key {
	struct ctrl_expectations exp;
	char *manage_error;
	long long to_create;
};

/* Shared by such a controller's workers and its event function: lock
 * guards the table and every expectation (a worker owns the rest of its
 * key's entry while it syncs that key). */
struct exp_state {
	pthread_mutex_t lock;
	json_t *slots; /* key -> index in v */
	struct exp_key **v; /* each allocated once: pointers stay valid */
	size_t n, cap;
};

static struct exp_key *exp_key_of(struct ctrl_run *c, const char *key)
{
	struct exp_state *st = ctrl_run_state(c);
	struct exp_key *k = NULL;
	json_t *slot;

	pthread_mutex_lock(&st->lock);
	slot = json_object_get(st->slots, key);
	if (slot) {
		k = st->v[json_integer_value(slot)];
		goto out;
	}
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 64;
		struct exp_key **v = realloc(st->v, cap * sizeof(*v));

		if (!v)
			goto out;
		st->v = v;
		st->cap = cap;
	}
	if (!(k = calloc(1, sizeof(*k))))
		goto out;
	st->v[st->n] = k;
	json_object_set_new(st->slots, key, json_integer((json_int_t)st->n++));
out:
	pthread_mutex_unlock(&st->lock);
	return k;
}

/* A create (add) or delete seen, or given up on, for k's expectations. */
static void exp_observe_one(struct ctrl_run *c, struct exp_key *k, bool add)
{
	struct exp_state *st = ctrl_run_state(c);

	pthread_mutex_lock(&st->lock);
	if (add)
		ctrl_expectations_observe_add(&k->exp);
	else
		ctrl_expectations_observe_del(&k->exp);
	pthread_mutex_unlock(&st->lock);
}

static int exp_init(struct ctrl_run *c)
{
	struct exp_state *st = calloc(1, sizeof(*st));

	if (!st || !(st->slots = json_object())) {
		free(st);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	ctrl_run_set_state(c, st);
	return 0;
}

/* The expectations of a key, read and set by a compute step under the
 * table's lock. */
static void exp_lock(struct ctrl_run *c, bool lock)
{
	struct exp_state *st = ctrl_run_state(c);

	if (lock)
		pthread_mutex_lock(&st->lock);
	else
		pthread_mutex_unlock(&st->lock);
}

static int rs_init(struct ctrl_run *c)
{
	int r = exp_init(c);

	if (r == 0)
		r = index_ensure(c, "pods", "namespace", kc_index_namespace);
	if (r == 0)
		r = index_ensure(c, RS_RESOURCE, "namespace", kc_index_namespace);
	return r;
}

static void exp_fini(struct ctrl_run *c)
{
	struct exp_state *st = ctrl_run_state(c);

	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++) {
		free(st->v[i]->manage_error);
		free(st->v[i]);
	}
	free(st->v);
	json_decref(st->slots);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* The owners of kind in obj's namespace whose selector picks obj (an
 * orphan's candidates for adoption). */
static void enqueue_selecting(struct ctrl_run *c, const char *owner_res, json_t *obj)
{
	_cleanup_free_ json_t **owners = NULL;
	char key[320];
	size_t n;

	owners = ctrl_indexed(c, owner_res, "namespace", kc_meta_str(obj, "namespace") ?: "", &n);
	for (size_t i = 0; i < n; i++) {
		bool match = false;

		if (ctrl_selector_matches(ctrl_get(owners[i], "spec.selector"), obj, &match) == 0 &&
		    match && kc_object_key(owners[i], key, sizeof(key)) == 0)
			ctrl_enqueue(c, key);
	}
}

/* The key of obj's controller of kind, in buf; NULL when it has none. */
static const char *controller_key(json_t *obj, const char *kind, char *buf, size_t size)
{
	json_t *ref = ctrl_controller_of(obj);

	if (!ref || !streq(ctrl_str(ref, "kind"), kind) || !ctrl_str(ref, "name"))
		return NULL;
	snprintf(buf, size, "%s/%s", kc_meta_str(obj, "namespace") ?: "", ctrl_str(ref, "name"));
	return buf;
}

/* Pods seen created or going tell the expectations of their controller
 * of kind (a deletionTimestamp counts as gone, as upstream's updatePod). */
static void exp_observe(struct ctrl_run *c, const char *kind, json_t *old, json_t *pod)
{
	char key[320];
	struct exp_key *k;

	if (!old && pod && controller_key(pod, kind, key, sizeof(key)) &&
	    (k = exp_key_of(c, key)))
		exp_observe_one(c, k, true);
	if (old && !ctrl_pod_terminating(old) && (!pod || ctrl_pod_terminating(pod)) &&
	    controller_key(old, kind, key, sizeof(key)) && (k = exp_key_of(c, key)))
		exp_observe_one(c, k, false);
}

static void rs_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *any = obj ? obj : old;

	if (streq(resource, "pods")) {
		exp_observe(c, "ReplicaSet", old, obj);
		if (!ctrl_controller_of(any))
			enqueue_selecting(c, RS_RESOURCE, any);
	}
	owner_event(c, RS_RESOURCE, "ReplicaSet", resource, old, obj);
}

static int rs_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct rs_input in = { .rs = ctrl_cached(c, RS_RESOURCE, key), .now = time(NULL) };
	struct rs_result res = { 0 };
	_cleanup_free_ json_t **pods = NULL;
	struct exp_key *k = exp_key_of(c, key);
	int r;

	if (!k)
		return -ENOMEM;
	if (!in.rs)
		return 0;
	pods = ctrl_indexed(c, "pods", "namespace", kc_meta_str(in.rs, "namespace"), &in.n_pods);
	in.pods = pods;
	in.exp = &k->exp;
	in.manage_error = k->manage_error;
	exp_lock(c, true); /* in.exp */
	r = rs_compute(&in, p, &res);
	exp_lock(c, false);
	k->to_create = r == 0 ? res.to_create : 0;
	if (r == 0)
		requeue(c, key, res.requeue_after);
	return r;
}

static bool is_pod_write(const struct ctrl_action *a, enum ctrl_verb verb)
{
	return a->verb == verb && streq(a->resource, "pods") && !a->subresource;
}

/* The creates of one slow-start batch: up to want pod creates from
 * p->v[*i] on (each with the Event that follows it), sent at once; then,
 * in order, each one's result and its Event. *i moves past them. */
static int pods_send_batch(struct ctrl_run *c, struct exp_key *k, const struct ctrl_plan *p,
			   size_t *i, long long want, bool *failed, char *err, size_t errlen)
{
	const struct ctrl_action **v = calloc((size_t)want, sizeof(*v));
	size_t *at = calloc((size_t)want, sizeof(*at)), n = 0, j = *i;
	json_t **outs = calloc((size_t)want, sizeof(*outs));
	int *rets = calloc((size_t)want, sizeof(*rets)), first = 0, r = -ENOMEM;

	for (; v && at && outs && rets && j < p->n && (long long)n < want; j++) {
		if (p->v[j].verb == CTRL_EVENT && j > *i && p->v[j - 1].verb == CTRL_CREATE)
			continue; /* sent with its create */
		if (!is_pod_write(&p->v[j], CTRL_CREATE))
			break;
		at[n] = j;
		v[n++] = &p->v[j];
	}
	if (n && j < p->n && p->v[j].verb == CTRL_EVENT && p->v[j - 1].verb == CTRL_CREATE)
		j++; /* the last create's Event */
	if (n)
		r = ctrl_run_create_many(c, v, n, outs, rets, err, errlen);
	for (size_t m = 0; r == 0 && m < n; m++) {
		const struct ctrl_action *ev = at[m] + 1 < p->n ? &p->v[at[m] + 1] : NULL;

		if (rets[m] < 0) {
			exp_observe_one(c, k, true);
			*failed = true;
			if (!first)
				first = rets[m];
		} else if (ev && ev->verb == CTRL_EVENT) {
			ctrl_run_event(c, ev, kc_meta_str(outs[m], "name") ?: "");
		}
		json_decref(outs[m]);
	}
	if (r == 0)
		*i = j;
	free(v);
	free(at);
	free(outs);
	free(rets);
	return r < 0 ? r : first;
}

/* The plan in order, pod creates in slow-start batches (1, 2, 4, ...),
 * each batch sent at once: after a batch with a failure the remaining
 * creates are skipped, their expectations lowered, and the error kept for
 * the ReplicaSet's ReplicaFailure condition of the next sync (the Job's
 * creates go the same way, as upstream's manageJob sends them). */
static int pods_send(struct ctrl_run *c, const char *key, const struct ctrl_plan *p)
{
	struct exp_key *k = exp_key_of(c, key);
	long long sizes[64];
	size_t n_batches, batch = 0;
	bool failed = false, stop = false;
	char created[254] = "", err[512] = "";
	int first = 0, last = 0;

	if (!k)
		return -ENOMEM;
	n_batches = rs_slow_start_batches(k->to_create, RS_SLOW_START_INITIAL, sizes, ARRAY_SIZE(sizes));
	for (size_t i = 0; i < p->n;) {
		const struct ctrl_action *a = &p->v[i];
		_cleanup_json_ json_t *out = NULL;
		bool create = is_pod_write(a, CTRL_CREATE);

		if (create && !stop && batch < n_batches) {
			last = pods_send_batch(c, k, p, &i, sizes[batch++], &failed, err, sizeof(err));
			if (last == -ECANCELED || last == -ENOMEM)
				return last;
			if (last < 0 && !first)
				first = last;
			stop = failed;
			continue;
		}
		i++;
		if (a->verb == CTRL_EVENT) {
			if (last == 0)
				ctrl_run_event(c, a, i > 1 && p->v[i - 2].verb == CTRL_CREATE ? created : NULL);
			continue;
		}
		if (create && stop) { /* skipped: never coming */
			exp_observe_one(c, k, true);
			last = -ECANCELED;
			continue;
		}
		last = ctrl_run_write(c, a, create ? &out : NULL);
		if (last == -ECANCELED || last == -ESTALE)
			return last;
		snprintf(created, sizeof(created), "%s", kc_meta_str(out, "name") ?: "");
		if (last < 0 && (create || is_pod_write(a, CTRL_DELETE))) {
			exp_observe_one(c, k, create);
			failed = true;
			if (!err[0])
				snprintf(err, sizeof(err), "%s", kc_last_status(ctrl_run_client(c))->message);
		}
		if (last < 0 && !first)
			first = last;
	}
	free(k->manage_error);
	k->manage_error = failed ? strdup(err[0] ? err : "failed") : NULL;
	return first;
}

/* ---- job ---- */

static int job_init(struct ctrl_run *c)
{
	int r = exp_init(c);

	return r < 0 ? r : owner_index_init(c);
}

static void job_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	if (streq(resource, "pods"))
		exp_observe(c, "Job", old, obj);
	owner_event(c, JOB_RESOURCE, "Job", resource, old, obj);
}

static int job_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct job_input in = { .job = ctrl_cached(c, JOB_RESOURCE, key), .now = time(NULL) };
	struct job_result res = { 0 };
	_cleanup_free_ json_t **pods = NULL;
	struct exp_key *k = exp_key_of(c, key);
	int r;

	if (!k)
		return -ENOMEM;
	if (!in.job)
		return 0;
	pods = owned(c, "pods", in.job, &in.n_pods);
	in.pods = pods;
	in.exp = &k->exp;
	exp_lock(c, true); /* in.exp */
	r = job_compute(&in, p, &res);
	exp_lock(c, false);
	k->to_create = r == 0 ? res.to_create : 0;
	if (r == 0)
		requeue(c, key, res.requeue_after);
	return r;
}

/* ---- deployment ---- */

static int dep_init(struct ctrl_run *c)
{
	int r = index_ensure(c, RS_RESOURCE, "namespace", kc_index_namespace);

	if (r == 0)
		r = index_ensure(c, "pods", "owner", kc_index_owner_uid);
	return r;
}

/* A pod that goes concerns its ReplicaSet's Deployment (Recreate waits for
 * the old pods). */
static void dep_pod_gone(struct ctrl_run *c, json_t *pod)
{
	char key[320], dkey[320];
	json_t *rs;

	if (!controller_key(pod, "ReplicaSet", key, sizeof(key)) ||
	    !(rs = ctrl_cached(c, RS_RESOURCE, key)) ||
	    !controller_key(rs, "Deployment", dkey, sizeof(dkey)))
		return;
	ctrl_enqueue(c, dkey);
}

static void dep_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *any = obj ? obj : old;

	if (streq(resource, "pods")) {
		if (!obj)
			dep_pod_gone(c, old);
		return;
	}
	if (streq(resource, RS_RESOURCE) && !ctrl_controller_of(any))
		enqueue_selecting(c, DEP_RESOURCE, any);
	owner_event(c, DEP_RESOURCE, "Deployment", resource, old, obj);
}

/* Pods not yet finished of the Deployment's old ReplicaSets: those whose
 * pod-template-hash is not the template's. */
static long long dep_old_pods(struct ctrl_run *c, json_t *dep, json_t **rss, size_t n)
{
	char hash[16];
	long long count = 0;

	ctrl_template_hash(ctrl_get(dep, "spec.template"),
			   ctrl_get(dep, "status.collisionCount")
				   ? ctrl_int(dep, "status.collisionCount", 0) : -1, hash);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ json_t **pods = NULL;
		size_t n_pods;

		if (!ctrl_controlled_by(rss[i], dep) ||
		    streq(ctrl_str(rss[i], "metadata.labels.pod-template-hash"), hash))
			continue;
		pods = owned(c, "pods", rss[i], &n_pods);
		for (size_t j = 0; j < n_pods; j++) {
			const char *phase = ctrl_str(pods[j], "status.phase");

			count += !streq(phase, "Succeeded") && !streq(phase, "Failed");
		}
	}
	return count;
}

static int dep_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct dep_input in = { .dep = ctrl_cached(c, DEP_RESOURCE, key), .now = time(NULL) };
	struct dep_result res = { 0 };
	_cleanup_free_ json_t **rss = NULL;
	int r;

	if (!in.dep)
		return 0;
	rss = ctrl_indexed(c, RS_RESOURCE, "namespace", kc_meta_str(in.dep, "namespace"), &in.n_rss);
	in.rss = rss;
	in.old_pods = dep_old_pods(c, in.dep, rss, in.n_rss);
	r = dep_compute(&in, p, &res);
	if (r == 0)
		requeue(c, key, res.requeue_after);
	return r;
}

/* ---- garbagecollector: dependents follow their owners ---- */

/* The kinds whose ownerReferences it follows (and their owners'). */
static const struct gc_kind gc_kinds[] = {
	{ .group = "", .kind = "Pod", .resource = "pods", .namespaced = true },
	{ .group = "", .kind = "Service", .resource = "services", .namespaced = true },
	{ .group = "", .kind = "Node", .resource = "nodes", .namespaced = false },
	{ .group = "apps", .kind = "ReplicaSet", .resource = "replicasets.apps", .namespaced = true },
	{ .group = "apps", .kind = "Deployment", .resource = "deployments.apps", .namespaced = true },
	{ .group = "apps", .kind = "DaemonSet", .resource = "daemonsets.apps", .namespaced = true },
	{ .group = "apps", .kind = "StatefulSet", .resource = "statefulsets.apps", .namespaced = true },
	{ .group = "apps", .kind = "ControllerRevision", .resource = "controllerrevisions.apps",
	  .namespaced = true },
	{ .group = "batch", .kind = "Job", .resource = "jobs.batch", .namespaced = true },
	{ .group = "batch", .kind = "CronJob", .resource = "cronjobs.batch", .namespaced = true },
	{ .group = "discovery.k8s.io", .kind = "EndpointSlice", .resource = EPS_RESOURCE,
	  .namespaced = true },
};

/* One sweep at most a second after the first change (a pending earlier
 * time wins in the queue): an add, a delete, a resync, or an update of
 * what the collector decides by (owners, deletion, finalizers); not the
 * status writes of 10,000 pods. */
static void gc_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	static const char *const paths[] = { "metadata.ownerReferences",
					     "metadata.deletionTimestamp", "metadata.finalizers",
					     "metadata.uid", NULL };

	(void)resource;
	if (!fields_changed(old, obj, paths))
		return;
	/* A new object that has no owner and is not being deleted gives the
	 * sweep nothing to do (an owner that appears only spares dependents,
	 * which the sweep confirms with a GET anyway): 10,000 bare pods made
	 * a whole-graph sweep a second, ~13% of skiff-server's CPU in
	 * bench_sched_api. */
	if (!old && obj && !json_array_size(ctrl_get(obj, "metadata.ownerReferences")) &&
	    !ctrl_get(obj, "metadata.deletionTimestamp") &&
	    !json_array_size(ctrl_get(obj, "metadata.finalizers")))
		return;
	ctrl_enqueue_after(c, ALL, 1);
}

static int gc_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct gc_kind kinds[ARRAY_SIZE(gc_kinds)];
	size_t n = 0;

	int r;

	(void)key;
	for (size_t i = 0; i < ARRAY_SIZE(gc_kinds); i++) {
		if (!ctrl_informer(c, gc_kinds[i].resource))
			continue; /* not served: its references count as solid */
		kinds[n] = gc_kinds[i];
		ctrl_objects(c, kinds[n].resource, &kinds[n].objs, &kinds[n].n);
		for (size_t j = 0; j < kinds[n].n; j++)
			json_incref(kinds[n].objs[j]);
		n++;
	}
	/* The sweep reads every cache: the informers need not wait for it. */
	ctrl_cache_release(c);
	r = gc_compute(kinds, n, p);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < kinds[i].n; j++)
			json_decref(kinds[i].objs[j]);
	return r;
}

/* ---- namespace: a deleted namespace's contents go first ---- */

static const char *const ns_resources[] = {
	"pods", "services", "endpoints", "configmaps", "secrets", "serviceaccounts", "events",
	"persistentvolumeclaims", "deployments.apps", "replicasets.apps", "daemonsets.apps",
	"statefulsets.apps", "controllerrevisions.apps", "jobs.batch", "cronjobs.batch",
	"endpointslices.discovery.k8s.io", "leases.coordination.k8s.io",
	"poddisruptionbudgets.policy", "networkpolicies.networking.k8s.io",
	"ingresses.networking.k8s.io",
};

static void ns_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	(void)resource, (void)old;
	if (obj && ctrl_get(obj, "metadata.deletionTimestamp"))
		ctrl_enqueue(c, kc_meta_str(obj, "name"));
}

/* Lists what the namespace still holds (through the API: no informer per
 * kind), plans, and looks again in a second while it is terminating. */
static int ns_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	json_t *ns = ctrl_cached(c, "namespaces", key);
	struct ns_content content[ARRAY_SIZE(ns_resources)];
	json_t *items[ARRAY_SIZE(ns_resources)] = { 0 };
	json_t **arrs[ARRAY_SIZE(ns_resources)] = { 0 };
	size_t n = 0;
	int r;

	if (!ns || !ctrl_get(ns, "metadata.deletionTimestamp"))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(ns_resources); i++) {
		const struct kc_resource *res = kc_resource_find(ns_resources[i]);
		char *rv = NULL;

		r = res ? kc_list_all(ctrl_run_client(c), res, key, NULL, &items[i], &rv) : -ENOENT;
		free(rv);
		if (r == -ENOENT)
			continue; /* not served */
		content[n] = (struct ns_content){ .resource = ns_resources[i],
						  .error = r < 0 ? strerror(-r) : NULL };
		if (r == 0 && json_array_size(items[i])) {
			arrs[i] = malloc(json_array_size(items[i]) * sizeof(json_t *));
			for (size_t j = 0; arrs[i] && j < json_array_size(items[i]); j++)
				arrs[i][j] = json_array_get(items[i], j);
			content[n].objs = arrs[i];
			content[n].n = arrs[i] ? json_array_size(items[i]) : 0;
		}
		n++;
	}
	r = namespace_compute(ns, content, n, time(NULL), p);
	for (size_t i = 0; i < ARRAY_SIZE(ns_resources); i++) {
		free(arrs[i]);
		json_decref(items[i]);
	}
	if (r == 0)
		ctrl_enqueue_after(c, key, 1);
	return r;
}

/* ---- podgc: terminated pods over the threshold, orphans of gone nodes ---- */

#define PODGC_PERIOD 20 /* s, upstream's gcCheckPeriod */

static int podgc_init(struct ctrl_run *c)
{
	json_t *absent = json_object(); /* node -> when first seen missing */

	if (!absent)
		return -ENOMEM;
	ctrl_run_set_state(c, absent);
	ctrl_enqueue(c, ALL); /* then every PODGC_PERIOD */
	return 0;
}

static void podgc_fini(struct ctrl_run *c)
{
	json_decref(ctrl_run_state(c));
}

static void podgc_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	(void)c, (void)resource, (void)old, (void)obj; /* periodic, as upstream */
}

/* The absent nodes past the quarantine that a GET confirms gone. */
static json_t *podgc_gone(struct ctrl_run *c, json_t *absent_now, time_t now)
{
	json_t *seen = ctrl_run_state(c), *gone = json_array(), *v;
	const char *name;
	void *tmp;

	json_object_foreach_safe(seen, tmp, name, v)
		if (!json_object_get(absent_now, name))
			json_object_del(seen, name);
	json_object_foreach(absent_now, name, v) {
		json_t *t = json_object_get(seen, name);

		if (!t) {
			json_object_set_new(seen, name, json_integer(now));
			continue;
		}
		if (now - json_integer_value(t) >= PODGC_QUARANTINE &&
		    kc_get(ctrl_run_client(c), kc_resource_find("nodes"), NULL, name, NULL) == -ENOENT)
			json_array_append_new(gone, json_string(name));
	}
	return gone;
}

static int podgc_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct podgc_input in = { .threshold = ctrl_run_config(c)->terminated_pod_gc_threshold };
	_cleanup_json_ json_t *absent = NULL, *absent_set = json_object(), *gone = NULL;
	json_t *v;
	const char *gone_names[256];
	time_t now = time(NULL);
	size_t i;
	int r;

	ctrl_enqueue_after(c, key, PODGC_PERIOD);
	if ((r = ctrl_objects(c, "pods", &in.pods, &in.n_pods)) < 0 ||
	    (r = ctrl_objects(c, "nodes", &in.nodes, &in.n_nodes)) < 0)
		return r;
	absent = podgc_absent_nodes(in.pods, in.n_pods, in.nodes, in.n_nodes);
	json_array_foreach(absent, i, v)
		json_object_set(absent_set, json_string_value(v), json_true());
	gone = podgc_gone(c, absent_set, now);
	json_array_foreach(gone, i, v)
		if (in.n_gone < ARRAY_SIZE(gone_names))
			gone_names[in.n_gone++] = json_string_value(v);
	in.gone_nodes = gone_names;
	return podgc_compute(&in, now, p);
}

/* ---- disruption: PodDisruptionBudget status ---- */

#define PDB_RESOURCE "poddisruptionbudgets.policy"

static const char *const pdb_owner_res[] = { RS_RESOURCE, DEP_RESOURCE, STS_RESOURCE };

static int pdb_init(struct ctrl_run *c)
{
	int r = index_ensure(c, "pods", "namespace", kc_index_namespace);

	if (r == 0)
		r = index_ensure(c, PDB_RESOURCE, "namespace", kc_index_namespace);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(pdb_owner_res); i++)
		r = index_ensure(c, pdb_owner_res[i], "namespace", kc_index_namespace);
	return r;
}

/* A pod concerns the budgets selecting it; a controller's scale, every
 * budget of its namespace. */
static void pdb_event(struct ctrl_run *c, const char *resource, json_t *old, json_t *obj)
{
	json_t *any = obj ? obj : old;
	_cleanup_free_ json_t **pdbs = NULL;
	char key[320];
	size_t n;

	if (streq(resource, PDB_RESOURCE)) {
		if (kc_object_key(any, key, sizeof(key)) == 0)
			ctrl_enqueue(c, key);
		return;
	}
	pdbs = ctrl_indexed(c, PDB_RESOURCE, "namespace", kc_meta_str(any, "namespace") ?: "", &n);
	for (size_t i = 0; i < n; i++) {
		bool match = !streq(resource, "pods"), m2 = false;

		if (!match && old)
			ctrl_selector_matches(ctrl_get(pdbs[i], "spec.selector"), old, &match);
		if (!match && obj)
			ctrl_selector_matches(ctrl_get(pdbs[i], "spec.selector"), obj, &m2);
		if ((match || m2) && kc_object_key(pdbs[i], key, sizeof(key)) == 0)
			ctrl_enqueue(c, key);
	}
}

static int pdb_reconcile(struct ctrl_run *c, const char *key, struct ctrl_plan *p)
{
	struct ctrl_disruption_in in = { .pdb = ctrl_cached(c, PDB_RESOURCE, key), .now = time(NULL) };
	_cleanup_free_ json_t **pods = NULL, **owners = NULL;
	time_t recheck = 0;
	size_t cap = 0;
	int r;

	if (!in.pdb)
		return 0;
	pods = ctrl_indexed(c, "pods", "namespace", kc_meta_str(in.pdb, "namespace"), &in.n_pods);
	in.pods = pods;
	for (size_t i = 0; i < ARRAY_SIZE(pdb_owner_res); i++) {
		_cleanup_free_ json_t **some = NULL;
		size_t n;
		json_t **grown;

		some = ctrl_indexed(c, pdb_owner_res[i], "namespace", kc_meta_str(in.pdb, "namespace"), &n);
		if (!n)
			continue;
		grown = realloc(owners, (cap + n) * sizeof(*owners));
		if (!grown)
			return -ENOMEM;
		owners = grown;
		memcpy(owners + cap, some, n * sizeof(*owners));
		cap += n;
	}
	in.owners = owners;
	in.n_owners = cap;
	r = ctrl_disruption_compute(&in, p, &recheck);
	if (r == 0 && recheck > in.now)
		ctrl_enqueue_after(c, key, (double)(recheck - in.now));
	return r;
}

/* ---- the table ---- */

const struct ctrl_def ctrl_defs[] = {
	{ .name = "replicaset", .informers = { RS_RESOURCE, "pods" }, .init = rs_init,
	  .fini = exp_fini, .event = rs_event, .reconcile = rs_reconcile, .send = pods_send,
	  .syncs = CM(replicaset_syncs) },
	{ .name = "deployment", .informers = { DEP_RESOURCE, RS_RESOURCE, "pods" }, .init = dep_init,
	  .event = dep_event, .reconcile = dep_reconcile, .syncs = CM(deployment_syncs) },
	{ .name = "endpointslice", .informers = { "services", "pods", EPS_RESOURCE, "nodes" },
	  .init = eps_init, .event = eps_event, .reconcile = eps_reconcile,
	  .syncs = CM(endpointslice_syncs) },
	{ .name = "endpoints", .informers = { "services", "pods", "endpoints" }, .init = eps_init,
	  .event = eps_event, .reconcile = ep_reconcile, .syncs = CM(endpoints_syncs) },
	{ .name = "serviceaccount", .informers = { "namespaces", "serviceaccounts" },
	  .init = sa_init, .event = sa_event, .reconcile = sa_reconcile },
	{ .name = "root-ca-cert-publisher", .informers = { "namespaces", "configmaps" },
	  .event = rootca_event, .reconcile = rootca_reconcile },
	{ .name = "nodeipam", .informers = { "nodes" }, .event = ipam_event,
	  .reconcile = nodeipam_reconcile },
	{ .name = "disruption",
	  .informers = { PDB_RESOURCE, "pods", RS_RESOURCE, DEP_RESOURCE, STS_RESOURCE },
	  .init = pdb_init, .event = pdb_event, .reconcile = pdb_reconcile },
	{ .name = "garbagecollector",
	  /* every kind of gc_kinds: an owner not cached would be taken for gone */
	  .informers = { "pods", "services", "nodes", RS_RESOURCE, DEP_RESOURCE, DS_RESOURCE,
			 STS_RESOURCE, "controllerrevisions.apps", JOB_RESOURCE, CJ_RESOURCE,
			 EPS_RESOURCE },
	  .event = gc_event, .reconcile = gc_reconcile },
	{ .name = "namespace", .informers = { "namespaces" }, .event = ns_event,
	  .reconcile = ns_reconcile },
	{ .name = "podgc", .informers = { "pods", "nodes" }, .init = podgc_init, .fini = podgc_fini,
	  .event = podgc_event, .reconcile = podgc_reconcile },
	{ .name = "lb-ipam", .informers = { "services" }, .event = ipam_event,
	  .reconcile = lbipam_reconcile },
	{ .name = "nodelifecycle", .informers = { "nodes", "leases", "pods" }, .init = nodelc_init,
	  .event = nodelc_event, .reconcile = nodelc_reconcile },
	{ .name = "daemonset",
	  .informers = { DS_RESOURCE, "pods", "nodes", "controllerrevisions.apps" },
	  .init = owner_index_init, .event = ds_event, .reconcile = ds_reconcile,
	  .syncs = CM(daemonset_syncs) },
	{ .name = "statefulset", .informers = { STS_RESOURCE, "pods", "controllerrevisions.apps" },
	  .init = owner_index_init, .event = sts_event, .reconcile = sts_reconcile,
	  .syncs = CM(statefulset_syncs) },
	{ .name = "job", .informers = { JOB_RESOURCE, "pods" }, .init = job_init, .fini = exp_fini,
	  .event = job_event, .reconcile = job_reconcile, .send = pods_send,
	  .syncs = CM(job_syncs) },
	{ .name = "cronjob", .informers = { CJ_RESOURCE, JOB_RESOURCE }, .init = owner_index_init,
	  .event = cj_event, .reconcile = cj_reconcile, .syncs = CM(cronjob_syncs) },
};
const size_t ctrl_n_defs = ARRAY_SIZE(ctrl_defs);
