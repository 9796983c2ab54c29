/* The pod sandbox: its CRI config from the pod (hostname, DNS, host
 * ports, host network, log folder, a cgroup parent by QoS class, the
 * labels adoption reads back), and its life: adopt, create, stop, remove. */
#include "dataplane/kubelet_int.h"

#include "dataplane/cri/cri_json.h"
#include "lib/kube_quantity.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KL_ANN_CGROUP "skiff.io/cgroup-parent"

/* ---- QoS class and cgroup parent ---- */

/* Whether a container's resources make it Guaranteed-eligible, and
 * whether it asks for anything at all. */
static void container_qos(json_t *c, bool *guaranteed, bool *any)
{
	static const char *const res[] = { "cpu", "memory" };
	json_t *req = json_path_get(c, "resources.requests");
	json_t *lim = json_path_get(c, "resources.limits");

	if (json_object_size(req) || json_object_size(lim))
		*any = true;
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		json_t *l = json_object_get(lim, res[i]), *r = json_object_get(req, res[i]);
		int64_t lv, rv;

		if (!l || kube_quantity_json_milli(l, &lv) < 0) {
			*guaranteed = false;
			continue;
		}
		if (r && (kube_quantity_json_milli(r, &rv) < 0 || rv != lv))
			*guaranteed = false;
	}
}

const char *kl_qos_class(json_t *pod)
{
	static const char *const lists[] = { "initContainers", "containers" };
	bool guaranteed = true, any = false;

	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		json_t *cs = json_path_get(pod, "spec"), *c;
		size_t j;

		json_array_foreach(json_object_get(cs, lists[i]), j, c)
			container_qos(c, &guaranteed, &any);
	}
	if (!any)
		return "BestEffort";
	return guaranteed ? "Guaranteed" : "Burstable";
}

/* ROOT/kubepods[/burstable|/besteffort]/podUID, as upstream's cgroupfs
 * driver names it. */
static void pod_cgroup(struct kl_sync *s, char *buf, size_t size)
{
	const char *qos = kl_qos_class(s->pod), *root = s->k->o.cgroup_root;
	const char *tier = streq(qos, "Burstable") ? "/burstable" :
			   streq(qos, "BestEffort") ? "/besteffort" : "";

	snprintf(buf, size, "%s/kubepods%s/pod%s", streq(root, "/") ? "" : root, tier, s->uid);
}

/* Removes the pod's (empty) cgroup folder from every hierarchy. */
static void pod_cgroup_remove(const char *parent)
{
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], dir[512], type[64], path[1024];

	if (!f || !parent || !*parent)
		goto out;
	while (fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!streq(type, "cgroup") && !streq(type, "cgroup2"))
			continue;
		if (snprintf(path, sizeof(path), "%s%s", dir, parent) < (int)sizeof(path))
			rmdir(path);
	}
out:
	if (f)
		fclose(f);
}

/* ---- the sandbox config ---- */

/* Appends the strings of src (an array) to dst. */
static void append_strings(json_t *dst, json_t *src)
{
	size_t i;
	json_t *v;

	json_array_foreach(src, i, v)
		if (json_is_string(v))
			json_array_append(dst, v);
}

/* dnsPolicy ClusterFirst (the default), ClusterFirstWithHostNet, Default
 * (the node's resolv.conf: no config) or None, with dnsConfig merged. */
static json_t *dns_config(struct kl_sync *s)
{
	const char *policy = json_path_str(s->pod, "spec.dnsPolicy"), *dom = s->k->o.cluster_domain;
	bool host_net = json_is_true(json_path_get(s->pod, "spec.hostNetwork"));
	json_t *extra = json_path_get(s->pod, "spec.dnsConfig"), *opt;
	json_t *servers = json_array(), *searches = json_array(), *options = json_array();
	char buf[512];
	size_t i;

	if (!policy)
		policy = "ClusterFirst";
	if (streq(policy, "ClusterFirst") && host_net)
		policy = "Default";
	if (streq(policy, "Default")) {
		json_decref(servers);
		json_decref(searches);
		json_decref(options);
		return NULL;
	}
	if (!streq(policy, "None")) {
		json_array_append_new(servers, json_string(s->k->o.cluster_dns));
		snprintf(buf, sizeof(buf), "%s.svc.%s", s->ns, dom);
		json_array_append_new(searches, json_string(buf));
		snprintf(buf, sizeof(buf), "svc.%s", dom);
		json_array_append_new(searches, json_string(buf));
		json_array_append_new(searches, json_string(dom));
		json_array_append_new(options, json_string("ndots:5"));
	}
	append_strings(servers, json_object_get(extra, "nameservers"));
	append_strings(searches, json_object_get(extra, "searches"));
	json_array_foreach(json_object_get(extra, "options"), i, opt) {
		const char *n = json_string_value(json_object_get(opt, "name"));
		const char *v = json_string_value(json_object_get(opt, "value"));

		if (!n)
			continue;
		if (streq(n, "ndots"))
			json_array_remove(options, 0); /* the pod's own ndots wins */
		snprintf(buf, sizeof(buf), "%s%s%s", n, v ? ":" : "", v ? v : "");
		json_array_append_new(options, json_string(buf));
	}
	return json_pack("{so so so}", "servers", servers, "searches", searches, "options",
			 options);
}

/* Every container port with a hostPort. */
static json_t *port_mappings(struct kl_sync *s)
{
	json_t *out = json_array(), *c, *p;
	size_t i, j;

	json_array_foreach(json_path_get(s->pod, "spec.containers"), i, c) {
		json_array_foreach(json_object_get(c, "ports"), j, p) {
			long long hp = json_path_int(p, "hostPort", 0), cp = json_path_int(p, "containerPort", 0);
			const char *proto = json_path_str(p, "protocol");
			json_t *m;

			if (hp <= 0 || cp <= 0)
				continue;
			m = json_pack("{sI sI ss}", "container_port", cp, "host_port", hp, "protocol",
				      proto ? proto : "TCP");
			if (json_path_str(p, "hostIP"))
				json_object_set_new(m, "host_ip", json_string(json_path_str(p, "hostIP")));
			json_array_append_new(out, m);
		}
	}
	return out;
}

/* The pod's labels (string values only), then the kubelet's. */
static json_t *sandbox_labels(struct kl_sync *s)
{
	json_t *l = json_object(), *v;
	const char *key;

	json_object_foreach(json_path_get(s->pod, "metadata.labels"), key, v)
		if (json_is_string(v))
			json_object_set(l, key, v);
	json_object_set_new(l, KL_LABEL_POD_NAME, json_string(s->name));
	json_object_set_new(l, KL_LABEL_POD_NS, json_string(s->ns));
	json_object_set_new(l, KL_LABEL_POD_UID, json_string(s->uid));
	return l;
}

static json_t *sandbox_annotations(struct kl_sync *s, const char *cgroup)
{
	json_t *a = json_object(), *v;
	const char *key;
	char grace[32];

	json_object_foreach(json_path_get(s->pod, "metadata.annotations"), key, v)
		if (json_is_string(v))
			json_object_set(a, key, v);
	snprintf(grace, sizeof(grace), "%lld", kl_grace_seconds(s->pod));
	json_object_set_new(a, KL_ANN_GRACE, json_string(grace));
	json_object_set_new(a, KL_ANN_CGROUP, json_string(cgroup));
	return a;
}

int kl_sandbox_config(struct kl_sync *s, char *err, size_t errlen)
{
	bool host_net = json_is_true(json_path_get(s->pod, "spec.hostNetwork"));
	const char *hostname = json_path_str(s->pod, "spec.hostname");
	char logdir[1024], cgroup[512];
	json_t *j, *dns, *sc;

	pod_cgroup(s, cgroup, sizeof(cgroup));
	snprintf(logdir, sizeof(logdir), "%s/%s_%s_%s", s->k->o.pod_log_root, s->ns, s->name, s->uid);
	sc = json_pack("{s{ss}}", "namespace_options", "network", host_net ? "NODE" : "POD");
	j = json_pack("{s{ss ss ss} ss so so so s{ss so}}", "metadata", "name", s->name,
		      "namespace", s->ns, "uid", s->uid, "log_directory", logdir, "port_mappings",
		      port_mappings(s), "labels", sandbox_labels(s), "annotations",
		      sandbox_annotations(s, cgroup), "linux", "cgroup_parent", cgroup,
		      "security_context", sc);
	if (!j)
		return -ENOMEM;
	if (!host_net)
		json_object_set_new(j, "hostname",
				    json_string(hostname && *hostname ? hostname : s->name));
	dns = dns_config(s);
	if (dns)
		json_object_set_new(j, "dns_config", dns);
	/* subdomain: in the pod's /etc/hosts (kubelet_volume.c) */
	s->sandbox_json = j;
	return cri_json_pod_config(j, &s->sb_config, err, errlen);
}

/* ---- life ---- */

static int list_sandboxes(struct kl_sync *s, Runtime__V1__ListPodSandboxResponse **out)
{
	Runtime__V1__PodSandboxFilter f = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry e1 =
		RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry e2 =
		RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
	Runtime__V1__PodSandboxFilter__LabelSelectorEntry *sel[] = { &e1, &e2 };
	const char *slash = strchr(s->key, '/');
	char ns[256];

	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - s->key), s->key);
	e1.key = (char *)KL_LABEL_POD_NS;
	e1.value = ns;
	e2.key = (char *)KL_LABEL_POD_NAME;
	e2.value = (char *)(slash + 1);
	f.n_label_selector = 2;
	f.label_selector = sel;
	return cri_list_pod_sandbox(s->w->cri, &f, out);
}

/* The pod's log folder and per-pod files, once the pod is gone (its
 * names came from the API server's validation: no '/' in them). */
static void pod_files_remove(struct kubelet *k, const Runtime__V1__PodSandboxMetadata *md)
{
	char path[1024];

	if (!md || !md->uid || !*md->uid || strchr(md->uid, '/') || strchr(md->name, '/') ||
	    strchr(md->namespace_, '/') || streq(md->uid, "..") || streq(md->uid, "."))
		return;
	if (snprintf(path, sizeof(path), "%s/%s_%s_%s", k->o.pod_log_root, md->namespace_,
		     md->name, md->uid) < (int)sizeof(path))
		remove_tree(path);
	kl_volumes_teardown(k, md->uid);
	if (snprintf(path, sizeof(path), "%s/pods/%s", k->o.root_dir, md->uid) < (int)sizeof(path))
		remove_tree(path);
}

/* Stops a sandbox's containers (each with what is left of grace) and the
 * sandbox; KL_REMOVE also removes them and the pod's cgroup,
 * KL_REMOVE_POD also the pod's logs and files (the pod is gone). */
int kl_sandbox_stop(struct kl_sync *s, const char *id, long long grace, enum kl_stop how)
{
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ListContainersResponse *cl = NULL;
	Runtime__V1__PodSandboxStatusResponse *st = NULL;
	unsigned long long deadline = now_ns() + (unsigned long long)grace * 1000000000ULL;
	int r;

	f.pod_sandbox_id = (char *)id;
	r = cri_list_containers(s->w->cri, &f, &cl);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cl->n_containers; i++) {
		Runtime__V1__Container *c = cl->containers[i];
		unsigned long long now = now_ns();

		if (c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
			continue;
		kl_event(s, "Normal", "Killing", "Stopping container %s",
			 c->metadata ? c->metadata->name : c->id);
		/* whole seconds, rounded up: never less than the grace */
		r = cri_stop_container(s->w->cri, c->id,
				       now < deadline ?
				       (int64_t)((deadline - now + 999999999ULL) / 1000000000ULL) : 0);
		if (r < 0 && r != -ENOENT)
			goto out;
	}
	if (cri_pod_sandbox_status(s->w->cri, id, false, &st) < 0)
		st = NULL;
	r = cri_stop_pod_sandbox(s->w->cri, id);
	if (r < 0 && r != -ENOENT)
		goto out;
	r = 0;
	if (how == KL_STOP)
		goto out;
	for (size_t i = 0; i < cl->n_containers; i++)
		cri_remove_container(s->w->cri, cl->containers[i]->id);
	r = cri_remove_pod_sandbox(s->w->cri, id);
	if (r == -ENOENT)
		r = 0;
	if (r == 0 && st)
		pod_cgroup_remove(KL_ANNOTATION(st->status, KL_ANN_CGROUP));
	if (r == 0 && st && how == KL_REMOVE_POD)
		pod_files_remove(s->k, st->status->metadata);
out:
	if (r < 0)
		log_warn("kubelet: pod %s: stopping sandbox %s: %s", s->key, id,
			 cri_last_status(s->w->cri)->message);
	cri_msg_free(st);
	cri_msg_free(cl);
	return r;
}

/* The grace an orphan sandbox's pod had (its annotation), else 30 s. */
static long long orphan_grace(const Runtime__V1__PodSandbox *p)
{
	const char *g = KL_ANNOTATION(p, KL_ANN_GRACE);

	return g ? atoll(g) : 30;
}

int kl_sandboxes_remove(struct kl_sync *s, const char *keep_uid, long long grace)
{
	Runtime__V1__ListPodSandboxResponse *sl = NULL;
	bool removed = false;
	int r = list_sandboxes(s, &sl), r2;

	if (r < 0)
		return r;
	for (size_t i = 0; i < sl->n_items; i++) {
		Runtime__V1__PodSandbox *p = sl->items[i];
		const char *uid = KL_LABEL(p, KL_LABEL_POD_UID);

		if (!uid || (keep_uid && streq(uid, keep_uid)))
			continue;
		if (!keep_uid || !streq(uid, keep_uid))
			log_info("kubelet: pod %s: removing sandbox %s of pod uid %s", s->key, p->id,
				 uid);
		r2 = kl_sandbox_stop(s, p->id, grace >= 0 ? grace : orphan_grace(p), KL_REMOVE_POD);
		if (r2 < 0)
			r = r2;
		removed = true;
	}
	if (!removed && keep_uid && !s->sandboxes)
		s->sandboxes = sl; /* still what CRI holds: one call less for kl_sandbox_ensure */
	else
		cri_msg_free(sl);
	return r;
}

/* The pod's IPs from the sandbox's status; -EADDRNOTAVAIL when a sandbox
 * on the pod network has none (containerd killed while it made the
 * sandbox reports it Ready without one), which upstream's kubelet also
 * takes as a sandbox to replace. */
static int sandbox_ips(struct kl_sync *s)
{
	Runtime__V1__PodSandboxStatusResponse *st = NULL;
	Runtime__V1__PodSandboxNetworkStatus *net;
	bool host = json_is_true(json_path_get(s->pod, "spec.hostNetwork"));
	int r = cri_pod_sandbox_status(s->w->cri, s->sandbox_id, false, &st);

	if (r < 0)
		return r;
	net = st->status->network;
	if (!host && !(net && net->ip && *net->ip)) {
		cri_msg_free(st);
		return -EADDRNOTAVAIL;
	}
	s->pod_ips = json_array();
	if (net && net->ip && *net->ip) {
		strscpy(s->pod_ip, net->ip, sizeof(s->pod_ip));
		json_array_append_new(s->pod_ips, json_pack("{ss}", "ip", net->ip));
		for (size_t i = 0; i < net->n_additional_ips; i++)
			json_array_append_new(s->pod_ips,
					      json_pack("{ss}", "ip", net->additional_ips[i]->ip));
	} else if (s->k->o.host_ip) {
		strscpy(s->pod_ip, s->k->o.host_ip, sizeof(s->pod_ip)); /* hostNetwork */
		json_array_append_new(s->pod_ips, json_pack("{ss}", "ip", s->k->o.host_ip));
	}
	cri_msg_free(st);
	return 0;
}

/* Adopts the pod's ready sandbox, or removes dead ones and creates it. */
int kl_sandbox_ensure(struct kl_sync *s)
{
	Runtime__V1__ListPodSandboxResponse *sl = s->sandboxes;
	unsigned attempt = 0;
	int r = sl ? 0 : list_sandboxes(s, &sl);

	s->sandboxes = NULL;
	if (r < 0)
		return r;
	for (size_t i = 0; i < sl->n_items && !s->sandbox_id; i++) {
		Runtime__V1__PodSandbox *p = sl->items[i];

		if (!streq(KL_LABEL(p, KL_LABEL_POD_UID), s->uid))
			continue;
		if (p->metadata && p->metadata->attempt >= attempt)
			attempt = p->metadata->attempt + 1;
		if (p->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
			s->sandbox_id = strdup(p->id);
		else
			kl_sandbox_stop(s, p->id, 0, KL_REMOVE); /* dead: a new one replaces it */
	}
	cri_msg_free(sl);
	if (!s->sandbox_id) {
		s->sb_config->metadata->attempt = attempt;
		r = cri_run_pod_sandbox(s->w->cri, s->sb_config, NULL, &s->sandbox_id);
		if (r < 0) {
			kl_event(s, "Warning", "FailedCreatePodSandBox",
				 "Failed to create pod sandbox: %s", cri_last_status(s->w->cri)->message);
			return r;
		}
		log_info("kubelet: pod %s: sandbox %.12s created", s->key, s->sandbox_id);
	}
	r = sandbox_ips(s);
	if (r == -EADDRNOTAVAIL) {
		log_warn("kubelet: pod %s: sandbox %.12s has no IP address; a new one replaces it",
			 s->key, s->sandbox_id);
		kl_sandbox_stop(s, s->sandbox_id, 0, KL_REMOVE);
		free(s->sandbox_id);
		s->sandbox_id = NULL;
		kl_requeue(s, 0);
		return -EAGAIN;
	}
	if (r == 0)
		kl_volumes_sync(s); /* objects changed since: the files follow */
	return r;
}

/* The containers of the pod's sandbox (every attempt). */
int kl_list_containers(struct kl_sync *s)
{
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;

	f.pod_sandbox_id = s->sandbox_id;
	cri_msg_free(s->ctrs);
	s->ctrs = NULL;
	return cri_list_containers(s->w->cri, &f, &s->ctrs);
}
