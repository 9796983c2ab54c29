/* hollow-nodes: the kubelet's part for the pods bound to hollow nodes. One
 * informer for every bound pod (spec.nodeName!=), indexed by node; a work
 * queue of pod keys; each key reconciled from the cache (level-triggered):
 * the status the kubelet would post (Running, Ready, addresses, container
 * statuses, or Succeeded/Failed), written through pods/status when it
 * differs; a pod being deleted removed with grace 0 after --stop-delay. */
#include <stdio.h>
#include <stdlib.h>

#include "tests/tools/hollow.h"
#include "lib/util.h"

static const struct kc_resource *res_pods(void)
{
	return kc_resource_find("pods");
}

static json_t *jget(json_t *obj, const char *a, const char *b)
{
	return json_object_get(json_object_get(obj, a), b);
}

static const char *jstr(json_t *obj, const char *a, const char *b)
{
	return json_string_value(jget(obj, a, b));
}

static struct hnode *pod_node(struct hollow *h, json_t *pod)
{
	return hollow_node_find(h, jstr(pod, "spec", "nodeName"));
}

/* ---- addresses: one bit per last octet of the node's pod /24 ---- */

static void slot_set(struct hnode *n, int slot, bool on)
{
	if (slot < 0 || slot > 255)
		return;
	if (on)
		n->used[slot / 8] |= (unsigned char)(1u << (slot % 8));
	else
		n->used[slot / 8] &= (unsigned char)~(1u << (slot % 8));
}

static bool slot_used(struct hnode *n, int slot)
{
	return n->used[slot / 8] & (1u << (slot % 8));
}

/* Which slot of n's pod CIDR ip is, or -1. */
static int slot_of(struct hollow *h, struct hnode *n, const char *ip)
{
	struct ipcidr c = hollow_node_pod_cidr(h, n);
	struct ipaddr a;

	if (!ip || ipaddr_parse(ip, &a) < 0 || !ipcidr_contains(&c, &a))
		return -1;
	if (a.bytes[0] != c.addr.bytes[0] || a.bytes[1] != c.addr.bytes[1] ||
	    a.bytes[2] != c.addr.bytes[2])
		return -1;
	return a.bytes[3];
}

/* A free address of n's pod CIDR (.2 .. .254 of its first /24). */
static int ip_alloc(struct hollow *h, struct hnode *n, char ip[IPADDR_STRLEN], int *slot)
{
	struct ipcidr c = hollow_node_pod_cidr(h, n);
	int last = c.len >= 24 ? (1 << (32 - c.len)) - 2 : 254;

	for (int s = 2; s <= last && s <= 254; s++) {
		struct ipaddr a = c.addr;

		if (slot_used(n, s))
			continue;
		a.bytes[3] = (uint8_t)(a.bytes[3] + s);
		slot_set(n, s, true);
		ipaddr_str(&a, ip, IPADDR_STRLEN);
		*slot = s;
		return 0;
	}
	return -ENOSPC;
}

/* ---- per-pod state: {"ip", "slot", "start_ns", "stop_ns"} ---- */

static json_t *state_of(struct hollow *h, const char *key)
{
	json_t *st = json_object_get(h->pod_state, key);

	if (!st) {
		st = json_object();
		json_object_set_new(h->pod_state, key, st);
	}
	return st;
}

static long long state_int(json_t *st, const char *k)
{
	return json_integer_value(json_object_get(st, k));
}

static void state_drop(struct hollow *h, const char *key, json_t *pod)
{
	json_t *st = json_object_get(h->pod_state, key);
	struct hnode *n = pod_node(h, pod);

	if (st && n && json_object_get(st, "slot"))
		slot_set(n, (int)state_int(st, "slot"), false);
	json_object_del(h->pod_state, key);
}

/* A pod that already has an address (an earlier run): keep it. */
static void state_adopt(struct hollow *h, const char *key, json_t *pod, struct hnode *n)
{
	const char *ip = jstr(pod, "status", "podIP");
	int slot = slot_of(h, n, ip);
	json_t *st;

	if (json_object_get(h->pod_state, key) || slot < 0)
		return;
	st = state_of(h, key);
	slot_set(n, slot, true);
	json_object_set_new(st, "ip", json_string(ip));
	json_object_set_new(st, "slot", json_integer(slot));
	json_object_set_new(st, "start_ns", json_integer(1)); /* long ago */
}

/* ---- the status a kubelet posts ---- */

struct pod_plan {
	const char *now;          /* RFC 3339, seconds */
	const char *started;      /* status.startTime */
	bool ready, done;
	int exit_code;
	unsigned long long recheck_ns; /* 0: nothing pending */
};

static bool pod_wants_unready(json_t *pod)
{
	return streq(jstr(json_object_get(pod, "metadata"), "labels", HOLLOW_READY_KEY), "false") ||
	       streq(jstr(json_object_get(pod, "metadata"), "annotations", HOLLOW_READY_KEY),
		     "false");
}

/* -1: the pod never exits by itself. */
static int pod_exit_code(json_t *pod)
{
	const char *policy = jstr(pod, "spec", "restartPolicy");
	const char *code = jstr(json_object_get(pod, "metadata"), "annotations", HOLLOW_EXIT_KEY);

	if (!code || !policy || streq(policy, "Always"))
		return -1;
	return atoi(code);
}

static json_t *pod_condition(json_t *old_conds, const char *type, bool ok, const char *reason,
			     const char *now)
{
	const char *status = ok ? "True" : "False", *since = now;
	json_t *c;
	size_t i;

	json_array_foreach(old_conds, i, c) {
		if (streq(json_string_value(json_object_get(c, "type")), type) &&
		    streq(json_string_value(json_object_get(c, "status")), status) &&
		    json_is_string(json_object_get(c, "lastTransitionTime")))
			since = json_string_value(json_object_get(c, "lastTransitionTime"));
	}
	c = json_pack("{s:s, s:s, s:s}", "type", type, "status", status, "lastTransitionTime", since);
	if (!ok && reason)
		json_object_set_new(c, "reason", json_string(reason));
	return c;
}

static json_t *pod_conditions(json_t *old, const struct pod_plan *p)
{
	json_t *oc = json_object_get(old, "conditions"), *conds = json_array(), *c;
	const char *why = p->done ? "PodCompleted" : "ContainersNotReady";
	bool sched = false;
	size_t i;

	json_array_append_new(conds, pod_condition(oc, "PodReadyToStartContainers", !p->done, NULL,
						   p->now));
	json_array_append_new(conds, pod_condition(oc, "Initialized", true, NULL, p->now));
	json_array_append_new(conds, pod_condition(oc, "Ready", p->ready, why, p->now));
	json_array_append_new(conds, pod_condition(oc, "ContainersReady", p->ready, why, p->now));
	/* PodScheduled is the scheduler's; set it when the pod came with nodeName. */
	json_array_foreach(oc, i, c) {
		if (streq(json_string_value(json_object_get(c, "type")), "PodScheduled")) {
			json_array_append(conds, c);
			sched = true;
		}
	}
	if (!sched)
		json_array_append_new(conds, pod_condition(oc, "PodScheduled", true, NULL, p->now));
	return conds;
}

/* The old status of container name in list, or NULL. */
static json_t *old_container(json_t *list, const char *name)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
		if (streq(json_string_value(json_object_get(c, "name")), name))
			return c;
	return NULL;
}

static json_t *container_status(json_t *spec_c, json_t *old_c, const char *uid, bool init,
				const struct pod_plan *p)
{
	const char *name = json_string_value(json_object_get(spec_c, "name")) ?: "";
	const char *image = json_string_value(json_object_get(spec_c, "image")) ?: "";
	bool ended = init || p->done;
	int code = init ? 0 : p->exit_code;
	const char *since;
	json_t *state, *cs;

	since = json_string_value(jget(jget(old_c, "state", ended ? "terminated" : "running"),
				       "startedAt", NULL));
	if (!since)
		since = json_string_value(jget(jget(old_c, "state", "running"), "startedAt", NULL));
	if (!since)
		since = p->started;
	if (ended) {
		const char *fin = json_string_value(
			jget(jget(old_c, "state", "terminated"), "finishedAt", NULL));

		state = json_pack("{s:{s:i, s:s, s:s, s:s, s:s}}", "terminated", "exitCode", code,
				  "reason", code == 0 ? "Completed" : "Error", "startedAt", since,
				  "finishedAt", fin ? fin : p->now, "containerID", "");
	} else {
		state = json_pack("{s:{s:s}}", "running", "startedAt", since);
	}
	cs = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:o, s:{}}", "name", name,
		       "image", image, "imageID", "", "containerID", "", "ready",
		       init ? true : (p->ready && !p->done), "started", !ended, "restartCount", 0,
		       "state", state, "lastState");

	json_object_set_new(cs, "imageID", json_sprintf("hollow://%s", image));
	json_object_set_new(cs, "containerID", json_sprintf("hollow://%.8s-%s", uid, name));
	if (ended)
		json_object_set(json_object_get(state, "terminated"), "containerID",
				json_object_get(cs, "containerID"));
	return cs;
}

static json_t *container_statuses(json_t *pod, json_t *old, const char *list,
				  const char *old_list, bool init, const struct pod_plan *p)
{
	const char *uid = jstr(pod, "metadata", "uid") ?: "";
	json_t *out = json_array(), *c;
	size_t i;

	json_array_foreach(jget(pod, "spec", list), i, c) {
		json_t *oc = old_container(json_object_get(old, old_list),
					   json_string_value(json_object_get(c, "name")));

		json_array_append_new(out, container_status(c, oc, uid, init, p));
	}
	return out;
}

/* The status to post for pod on n (a copy of the old one with the
 * kubelet's fields set), with p filled in: when to look again. */
static json_t *pod_status(struct hollow *h, struct hnode *n, json_t *pod, json_t *st,
			  struct pod_plan *p)
{
	json_t *old = json_object_get(pod, "status");
	json_t *s = json_is_object(old) ? json_deep_copy(old) : json_object();
	unsigned long long now = now_ns(), start = (unsigned long long)state_int(st, "start_ns");
	unsigned long long ready_at = start + hollow_ms_ns(h->o.ready_delay_ms);
	unsigned long long exit_at = start + hollow_ms_ns(h->o.exit_delay_ms);
	const char *ip = json_string_value(json_object_get(st, "ip"));

	p->started = json_string_value(json_object_get(old, "startTime")) ?: p->now;
	p->exit_code = pod_exit_code(pod);
	p->done = p->exit_code >= 0 && now >= exit_at;
	p->ready = !p->done && !pod_wants_unready(pod) && now >= ready_at;
	if (p->exit_code >= 0 && !p->done)
		p->recheck_ns = exit_at - now;
	if (!p->done && !p->ready && !pod_wants_unready(pod) && ready_at > now &&
	    (!p->recheck_ns || ready_at - now < p->recheck_ns))
		p->recheck_ns = ready_at - now;

	json_object_set_new(s, "phase", json_string(!p->done ? "Running"
						    : p->exit_code == 0 ? "Succeeded" : "Failed"));
	json_object_set_new(s, "conditions", pod_conditions(old, p));
	json_object_set_new(s, "hostIP", json_string(n->ip));
	json_object_set_new(s, "hostIPs", json_pack("[{s:s}]", "ip", n->ip));
	json_object_set_new(s, "podIP", json_string(ip));
	json_object_set_new(s, "podIPs", json_pack("[{s:s}]", "ip", ip));
	json_object_set_new(s, "startTime", json_string(p->started));
	json_object_set_new(s, "containerStatuses",
			    container_statuses(pod, old, "containers", "containerStatuses", false, p));
	if (json_array_size(jget(pod, "spec", "initContainers")))
		json_object_set_new(s, "initContainerStatuses",
				    container_statuses(pod, old, "initContainers",
						       "initContainerStatuses", true, p));
	return s;
}

/* ---- writes ---- */

struct pod_req {
	char *key;
	bool status; /* a status write, else a delete */
};

static void on_pod_written(struct hollow *h, void *ud, int err, const struct kc_status *st,
			   json_t *body)
{
	struct pod_req *r = ud;
	char path[512];

	(void)body;
	if (err == 0 || err == -ENOENT) {
		if (err == 0)
			r->status ? h->st.pod_status_writes++ : h->st.pod_deletes++;
		if (h->pod_q)
			kc_wq_forget(h->pod_q, r->key);
	} else if (err == -ESTALE && h->pod_q) {
		/* The cache is behind (a status write) or the pod was replaced
		 * (a delete's uid precondition): look again. */
		h->st.conflicts++;
		kc_wq_add_rate_limited(h->pod_q, r->key);
	} else if (err != -ECANCELED) {
		snprintf(path, sizeof(path), "pod %s", r->key);
		hollow_request_failed(h, r->status ? "pod status" : "pod delete",
				      r->status ? "PUT" : "DELETE", path, err, st);
		if (h->pod_q)
			kc_wq_add_rate_limited(h->pod_q, r->key);
	}
	if (h->pod_q)
		kc_wq_done(h->pod_q, r->key);
	free(r->key);
	free(r);
}

static int pod_send(struct hollow *h, json_t *pod, const char *key, bool status, json_t *body)
{
	struct pod_req *r = calloc(1, sizeof(*r));
	char path[512];

	if (!r || !(r->key = strdup(key))) {
		free(r);
		json_decref(body);
		return -ENOMEM;
	}
	r->status = status;
	kc_path(res_pods(), kc_meta_str(pod, "namespace"), kc_meta_str(pod, "name"),
		status ? "status" : NULL, NULL, path, sizeof(path));
	return hollow_send(h, false, status ? "PUT" : "DELETE", path, body, on_pod_written, r);
}

/* A pod being deleted: its containers "stop" for --stop-delay, then the
 * kubelet removes it with grace 0 (its uid as the precondition). */
static int pod_stop(struct hollow *h, json_t *pod, const char *key, json_t *st)
{
	unsigned long long now = now_ns(), since;

	if (!json_object_get(st, "stop_ns"))
		json_object_set_new(st, "stop_ns", json_integer((json_int_t)now));
	since = (unsigned long long)state_int(st, "stop_ns");
	if (now < since + hollow_ms_ns(h->o.stop_delay_ms)) {
		kc_wq_add_after(h->pod_q, key, since + hollow_ms_ns(h->o.stop_delay_ms) - now);
		return 0;
	}
	return pod_send(h, pod, key, false,
			json_pack("{s:s, s:s, s:i, s:{s:s}}", "apiVersion", "v1", "kind",
				  "DeleteOptions", "gracePeriodSeconds", 0, "preconditions", "uid",
				  kc_meta_str(pod, "uid") ?: "")) < 0 ? 0 : 1;
}

/* Reconciles one pod from the cache: 1 when a request now owns the key
 * (kc_wq_done comes with its answer), 0 when nothing is in flight. */
static int pod_reconcile(struct hollow *h, const char *key)
{
	json_t *pod = kc_informer_get(h->pod_inf, key), *st, *status, *obj;
	struct pod_plan p = { 0 };
	const char *phase;
	struct hnode *n;
	char now[32];
	int slot;

	n = pod ? pod_node(h, pod) : NULL;
	if (!n || hollow_node_quiet(n))
		return 0;
	st = state_of(h, key);
	if (kc_meta_str(pod, "deletionTimestamp"))
		return pod_stop(h, pod, key, st);
	phase = jstr(pod, "status", "phase");
	if (streq(phase, "Succeeded") || streq(phase, "Failed"))
		return 0;
	if (!json_object_get(st, "ip")) {
		char ip[IPADDR_STRLEN];

		if (ip_alloc(h, n, ip, &slot) < 0) {
			log_warn("pod %s on %s: no address left in its pod CIDR", key, n->name);
			return 0;
		}
		json_object_set_new(st, "ip", json_string(ip));
		json_object_set_new(st, "slot", json_integer(slot));
		json_object_set_new(st, "start_ns", json_integer((json_int_t)now_ns()));
	}
	kc_timestamp(0, now);
	p.now = now;
	status = pod_status(h, n, pod, st, &p);
	if (p.recheck_ns)
		kc_wq_add_after(h->pod_q, key, p.recheck_ns);
	if (json_equal(status, json_object_get(pod, "status"))) {
		json_decref(status);
		return 0;
	}
	obj = json_deep_copy(pod);
	json_object_set_new(obj, "status", status);
	return pod_send(h, pod, key, true, obj) < 0 ? 0 : 1;
}

void hollow_pods_tick(struct hollow *h)
{
	char *key;

	while (h->pod_q && hollow_has_room(h) && kc_wq_get(h->pod_q, 0, &key) == 0) {
		if (pod_reconcile(h, key) == 0)
			kc_wq_done(h->pod_q, key);
		free(key);
	}
}

/* ---- the informer ---- */

static void pod_enqueue(struct hollow *h, json_t *pod)
{
	char key[512];

	if (pod_node(h, pod) && kc_object_key(pod, key, sizeof(key)) == 0)
		kc_wq_add(h->pod_q, key);
}

static void on_pod_add(void *ud, json_t *pod)
{
	struct hollow *h = ud;
	struct hnode *n = pod_node(h, pod);
	char key[512];

	if (!n || kc_object_key(pod, key, sizeof(key)) < 0)
		return;
	state_adopt(h, key, pod, n);
	kc_wq_add(h->pod_q, key);
}

static void on_pod_update(void *ud, json_t *old_obj, json_t *pod)
{
	(void)old_obj;
	pod_enqueue(ud, pod);
}

static void on_pod_delete(void *ud, json_t *pod)
{
	struct hollow *h = ud;
	char key[512];

	if (kc_object_key(pod, key, sizeof(key)) == 0)
		state_drop(h, key, pod);
}

void hollow_pods_requeue_node(struct hollow *h, struct hnode *n)
{
	json_t *keys, *k;
	size_t i;

	if (!h->pod_inf || kc_informer_keys_by_index(h->pod_inf, "node", n->name, &keys) < 0)
		return;
	json_array_foreach(keys, i, k)
		kc_wq_add(h->pod_q, json_string_value(k));
	json_decref(keys);
}

int hollow_pods_start(struct hollow *h)
{
	int r;

	h->pod_state = json_object();
	r = kc_wq_new(&(struct kc_wq_opts){ .base_delay_ns = 50000000ULL,
					     .max_delay_ns = 10000000000ULL, .no_bucket = true },
		      &h->pod_q);
	if (r < 0)
		return r;
	r = kc_informer_new(h->c, res_pods(),
			    &(struct kc_informer_opts){ .field_selector = "spec.nodeName!=" },
			    &h->pod_inf);
	if (r < 0)
		return r;
	kc_informer_add_index(h->pod_inf, "node", kc_index_node_name);
	kc_informer_add_handlers(h->pod_inf, &(struct kc_informer_handlers){
		.add = on_pod_add, .update = on_pod_update, .del = on_pod_delete, .ud = h });
	return kc_informer_start(h->pod_inf);
}

void hollow_pods_count(struct hollow *h, unsigned long *pods, unsigned long *running,
		       unsigned long *ready)
{
	const char *key;
	json_t *pod, *c;
	size_t i;

	*pods = *running = *ready = 0;
	if (!h->pod_inf)
		return;
	json_object_foreach(kc_informer_items(h->pod_inf), key, pod) {
		if (!pod_node(h, pod))
			continue;
		(*pods)++;
		*running += streq(jstr(pod, "status", "phase"), "Running");
		json_array_foreach(jget(pod, "status", "conditions"), i, c)
			*ready += streq(json_string_value(json_object_get(c, "type")), "Ready") &&
				  streq(json_string_value(json_object_get(c, "status")), "True");
	}
}

void hollow_pods_free(struct hollow *h)
{
	kc_informer_free(h->pod_inf);
	h->pod_inf = NULL;
	kc_wq_free(h->pod_q);
	h->pod_q = NULL;
	json_decref(h->pod_state);
	h->pod_state = NULL;
}
