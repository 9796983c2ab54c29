/* The kubelet's Node, Lease and CNI config (see kubelet_node.h). */
#include "dataplane/kubelet_node.h"
#include "dataplane/cri/cri.h"
#include "lib/kube_client.h"
#include "lib/kube_config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#define NODE_LEASE_NS "kube-node-lease"
#define STATUS_TICK_S 10
#define LEASE_RETRY_S 2
/* While a CNI config is wanted and node IPAM has not given the Node its
 * podCIDRs yet: how often, and for how long after the start, to look. */
#define CIDR_WAIT_TICK_S 1
#define CIDR_WAIT_S 60
#define CRI_TIMEOUT_MS 5000
/* Upstream's default hard eviction thresholds, which set the pressure
 * conditions and what allocatable keeps back. */
#define EVICTION_MEMORY_KIB (100ULL * 1024)
#define EVICTION_FS_PERCENT 10
#define PID_PRESSURE_PERCENT 90

struct kubelet_node {
	struct kubelet_node_options o;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct kc_config *cfg;
	struct kc_client *c;
	struct cri_client *cri;
	json_t *node;     /* the Node as last read or written */
	json_t *lease;    /* the Lease as last written */
	json_t *reported; /* the status last sent */
	time_t reported_at;
	char *conflist;   /* the CNI config last written */
	bool registered;
};

/* ---- facts ---- */

/* The value of "Key:" in /proc/meminfo, in KiB. */
static unsigned long long meminfo_kib(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static void read_line(const char *path, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	buf[0] = 0;
	if (f && fgets(buf, (int)size, f))
		buf[strcspn(buf, "\n")] = 0;
}

static void os_image(char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/etc/os-release", "re");
	char line[512];

	snprintf(buf, size, "Linux");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "PRETTY_NAME=", 12) != 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, size, "%s", line + 12 + (line[12] == '"'));
		if (*buf && buf[strlen(buf) - 1] == '"')
			buf[strlen(buf) - 1] = 0;
	}
}

/* Go's GOARCH for uname's machine. */
static const char *goarch(const char *machine)
{
	static const struct { const char *uname, *go; } map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" },
		{ "i686", "386" },     { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (streq(machine, map[i].uname))
			return map[i].go;
	return machine;
}

/* The local address the kernel would use toward the API server. */
static int addr_toward(const char *server, char *buf, size_t size)
{
	char host[256] = "", port[16] = "443";
	const char *p = strstr(server, "://"), *end;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	_cleanup_close_ int fd = -1;

	p = p ? p + 3 : server;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end)
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(end - p - 1), p + 1);
		p = end + 1;
	} else {
		end = p + strcspn(p, ":/");
		snprintf(host, sizeof(host), "%.*s", (int)(end - p), p);
		p = end;
	}
	if (*p == ':')
		snprintf(port, sizeof(port), "%.*s", (int)strcspn(p + 1, "/"), p + 1);
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		freeaddrinfo(ai);
		return -errno;
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)size);
	return 0;
}

/* The runtime's name and version, or why it did not answer. */
static void runtime_facts(struct kubelet_node *n, struct kubelet_node_facts *f)
{
	Runtime__V1__VersionResponse *v = NULL;
	int r;

	if (!n->o.cri_endpoint)
		return;
	r = n->cri ? 0 : cri_client_new(n->o.cri_endpoint, CRI_TIMEOUT_MS, &n->cri);
	if (r == 0)
		r = cri_version(n->cri, &v);
	if (r < 0) {
		snprintf(f->runtime_error, sizeof(f->runtime_error), "%.100s: %.150s", n->o.cri_endpoint,
			 n->cri ? cri_last_status(n->cri)->message : strerror(-r));
		/* A new connection next time: the runtime may come back. */
		cri_client_free(TAKE_PTR(n->cri));
		return;
	}
	snprintf(f->runtime, sizeof(f->runtime), "%s://%s", v->runtime_name ? v->runtime_name : "",
		 v->runtime_version ? v->runtime_version : "");
	cri_msg_free(v);
}

static void facts_read(struct kubelet_node *n, struct kubelet_node_facts *f)
{
	_cleanup_free_ char *mem = NULL;
	_cleanup_close_ int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	struct statvfs vfs;
	struct utsname u;
	char line[128];
	size_t len;

	*f = (struct kubelet_node_facts){ .cpus = sysconf(_SC_NPROCESSORS_ONLN) };
	if (fd >= 0 && read_all(fd, 1 << 16, &mem, &len) == 0) {
		f->mem_total_kib = meminfo_kib(mem, "MemTotal:");
		f->mem_available_kib = meminfo_kib(mem, "MemAvailable:");
	}
	if (statvfs(n->o.data_dir ? n->o.data_dir : "/", &vfs) == 0 || statvfs("/", &vfs) == 0) {
		f->fs_bytes = (unsigned long long)vfs.f_blocks * vfs.f_frsize;
		f->fs_available_bytes = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	}
	read_line("/proc/loadavg", line, sizeof(line));
	if (strchr(line, '/'))
		f->pids = strtoul(strchr(line, '/') + 1, NULL, 10);
	read_line("/proc/sys/kernel/pid_max", line, sizeof(line));
	f->pid_max = strtoul(line, NULL, 10);
	if (uname(&u) == 0) {
		snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
		snprintf(f->arch, sizeof(f->arch), "%.31s", goarch(u.machine));
	}
	os_image(f->os_image, sizeof(f->os_image));
	read_line("/etc/machine-id", f->machine_id, sizeof(f->machine_id));
	read_line("/proc/sys/kernel/random/boot_id", f->boot_id, sizeof(f->boot_id));
	snprintf(f->hostname, sizeof(f->hostname), "%s",
		 n->o.hostname ? n->o.hostname : n->o.node_name);
	f->kubelet_port = n->o.kubelet_port;
	for (size_t i = 0; i < n->o.n_addrs && f->n_addrs < ARRAY_SIZE(f->addrs); i++)
		ipaddr_str(&n->o.addrs[i], f->addrs[f->n_addrs++], sizeof(f->addrs[0]));
	if (!f->n_addrs && addr_toward(n->cfg->server, f->addrs[0], sizeof(f->addrs[0])) == 0)
		f->n_addrs = 1;
	runtime_facts(n, f);
}

/* ---- the status (pure) ---- */

static json_t *resources(const struct kubelet_node_facts *f, bool allocatable)
{
	unsigned long long mem = f->mem_total_kib, fs = f->fs_bytes;
	char cpu[32], memq[40], fsq[40], pods[16];

	if (allocatable) {
		mem = mem > EVICTION_MEMORY_KIB ? mem - EVICTION_MEMORY_KIB : 0;
		fs = fs / 100 * (100 - EVICTION_FS_PERCENT);
		snprintf(fsq, sizeof(fsq), "%llu", fs);
	} else {
		snprintf(fsq, sizeof(fsq), "%lluKi", fs / 1024);
	}
	snprintf(cpu, sizeof(cpu), "%ld", f->cpus);
	snprintf(pods, sizeof(pods), "%d", KUBELET_MAX_PODS);
	snprintf(memq, sizeof(memq), "%lluKi", mem);
	return json_pack("{s:s,s:s,s:s,s:s}", "cpu", cpu, "memory", memq, "pods", pods,
			 "ephemeral-storage", fsq);
}

/* One condition; its transition time is old's when the status is too. */
static json_t *condition(json_t *old, const char *type, bool on, const char *reason,
			 const char *message, const char *now)
{
	const char *status = on ? "True" : "False", *since = now;
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(old, "conditions"), i, c)
		if (streq(json_string_value(json_object_get(c, "type")), type) &&
		    streq(json_string_value(json_object_get(c, "status")), status) &&
		    json_string_value(json_object_get(c, "lastTransitionTime")))
			since = json_string_value(json_object_get(c, "lastTransitionTime"));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", status, "reason",
			 reason, "message", message, "lastHeartbeatTime", now, "lastTransitionTime",
			 since);
}

static json_t *conditions(const struct kubelet_node_facts *f, json_t *old, const char *now)
{
	bool mem = f->mem_total_kib && f->mem_available_kib < EVICTION_MEMORY_KIB;
	bool disk = f->fs_bytes && f->fs_available_bytes * 100 < f->fs_bytes * EVICTION_FS_PERCENT;
	bool pid = f->pid_max && f->pids * 100 > f->pid_max * PID_PRESSURE_PERCENT;
	bool ready = !f->runtime_error[0];
	char down[400];

	snprintf(down, sizeof(down), "container runtime is down: %s", f->runtime_error);
	return json_pack(
		"[o,o,o,o]",
		condition(old, "MemoryPressure", mem,
			  mem ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
			  mem ? "kubelet has insufficient memory available"
			      : "kubelet has sufficient memory available", now),
		condition(old, "DiskPressure", disk,
			  disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
			  disk ? "kubelet has disk pressure" : "kubelet has no disk pressure", now),
		condition(old, "PIDPressure", pid,
			  pid ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
			  pid ? "kubelet has insufficient PID available"
			      : "kubelet has sufficient PID available", now),
		condition(old, "Ready", ready, ready ? "KubeletReady" : "KubeletNotReady",
			  ready ? "kubelet is posting ready status" : down, now));
}

static json_t *addresses(const struct kubelet_node_facts *f)
{
	json_t *a = json_array();

	for (size_t i = 0; i < f->n_addrs; i++)
		json_array_append_new(a, json_pack("{s:s,s:s}", "type", "InternalIP", "address",
						   f->addrs[i]));
	json_array_append_new(a, json_pack("{s:s,s:s}", "type", "Hostname", "address",
					   f->hostname));
	return a;
}

json_t *kubelet_node_status(const struct kubelet_node_facts *f, json_t *old, time_t now)
{
	char ts[32];

	kc_timestamp(now, ts);
	return json_pack(
		"{s:o,s:o,s:o,s:o,s:{s:{s:i}},s:{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}}",
		"capacity", resources(f, false), "allocatable", resources(f, true), "conditions",
		conditions(f, old, ts), "addresses", addresses(f), "daemonEndpoints",
		"kubeletEndpoint", "Port", f->kubelet_port ? f->kubelet_port : KUBELET_PORT, "nodeInfo", "machineID", f->machine_id,
		"systemUUID", f->machine_id, "bootID", f->boot_id, "kernelVersion", f->kernel,
		"osImage", f->os_image, "containerRuntimeVersion", f->runtime, "kubeletVersion",
		KUBELET_VERSION, "operatingSystem", "linux", "architecture", f->arch);
}

/* A copy of status without the conditions' heartbeat times. */
static json_t *without_heartbeats(json_t *status)
{
	json_t *s = json_deep_copy(status), *c;
	size_t i;

	json_array_foreach(json_object_get(s, "conditions"), i, c)
		json_object_del(c, "lastHeartbeatTime");
	return s;
}

bool kubelet_node_status_changed(json_t *a, json_t *b)
{
	json_t *x = without_heartbeats(a), *y = without_heartbeats(b);
	bool changed = !json_equal(x, y);

	json_decref(x);
	json_decref(y);
	return changed;
}

char *kubelet_node_conflist(json_t *node, const char *ipam_dir, bool forward_interface, int mtu)
{
	json_t *cidrs = json_object_get(json_object_get(node, "spec"), "podCIDRs"), *c, *ipam;
	json_t *ranges, *doc;
	size_t i;
	char *text;

	if (!json_array_size(cidrs))
		return NULL;
	ranges = json_array();
	json_array_foreach(cidrs, i, c)
		json_array_append_new(ranges, json_pack("[{s:O}]", "subnet", c));
	ipam = json_pack("{s:s,s:o}", "type", "skiff-ipam", "ranges", ranges);
	if (ipam && ipam_dir)
		json_object_set_new(ipam, "dataDir", json_string(ipam_dir));
	doc = json_pack("{s:s,s:s,s:[{s:s,s:o},{s:s,s:{s:b}}]}", "cniVersion", "1.0.0", "name",
			"skiff", "plugins", "type", "skiff-cni", "ipam", ipam, "type", "portmap",
			"capabilities", "portMappings", 1);
	if (doc && forward_interface)
		json_object_set_new(json_array_get(json_object_get(doc, "plugins"), 0), "forwarding",
				    json_string("interface"));
	if (doc && mtu > 0)
		json_object_set_new(json_array_get(json_object_get(doc, "plugins"), 0), "mtu",
				    json_integer(mtu));
	text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	json_decref(doc);
	return text;
}

/* ---- the API ---- */

static const struct kc_resource *nodes(void)
{
	return kc_resource_find("nodes");
}

static const struct kc_resource *leases(void)
{
	return kc_resource_find("leases.coordination.k8s.io");
}

static void node_set(struct kubelet_node *n, json_t *node)
{
	json_decref(n->node);
	n->node = node;
}

static json_t *labels(struct kubelet_node *n, const char *arch)
{
	const char *host = n->o.hostname ? n->o.hostname : n->o.node_name;

	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "kubernetes.io/hostname", host,
			 "kubernetes.io/os", "linux", "kubernetes.io/arch", arch,
			 "beta.kubernetes.io/os", "linux", "beta.kubernetes.io/arch", arch);
}

/* The labels the Node lacks or has otherwise, as a merge patch, or NULL. */
static json_t *labels_patch(json_t *node, json_t *want)
{
	json_t *have = json_object_get(json_object_get(node, "metadata"), "labels"), *v;
	const char *k;
	bool differ = false;

	json_object_foreach(want, k, v)
		differ |= !json_equal(json_object_get(have, k), v);
	return differ ? json_pack("{s:{s:O}}", "metadata", "labels", want) : NULL;
}

/* Creates the Node, or brings an existing one's labels back. */
static int node_register(struct kubelet_node *n, const struct kubelet_node_facts *f)
{
	const char *name = n->o.node_name;
	json_t *want = labels(n, f->arch), *obj, *out = NULL, *patch;
	int r = kc_get(n->c, nodes(), NULL, name, &out);

	if (r == -ENOENT) {
		obj = json_pack("{s:s,s:s,s:{s:s,s:O},s:{}}", "apiVersion", "v1", "kind", "Node",
				"metadata", "name", name, "labels", want, "spec");
		r = kc_create(n->c, nodes(), NULL, obj, &out);
		json_decref(obj);
		if (r == 0)
			log_info("node %s: registered", name);
	} else if (r == 0 && (patch = labels_patch(out, want))) {
		json_decref(out);
		out = NULL;
		r = kc_patch(n->c, nodes(), NULL, name, NULL, KC_PATCH_MERGE, patch, &out);
		json_decref(patch);
	}
	json_decref(want);
	if (r < 0) {
		log_warn("node %s: cannot register: %s", name, kc_last_status(n->c)->message);
		return r;
	}
	node_set(n, out);
	n->registered = true;
	return 0;
}

/* The Lease's renewTime: RFC 3339 with microseconds (a MicroTime). */
static void micro_time(char buf[64])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

static json_t *lease_new(struct kubelet_node *n)
{
	json_t *l = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i}}", "apiVersion",
			      "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
			      n->o.node_name, "namespace", NODE_LEASE_NS, "spec", "holderIdentity",
			      n->o.node_name, "leaseDurationSeconds", KUBELET_LEASE_DURATION_S);
	const char *uid = kc_meta_str(n->node, "uid");

	if (l && uid)
		json_object_set_new(json_object_get(l, "metadata"), "ownerReferences",
				    json_pack("[{s:s,s:s,s:s,s:s}]", "apiVersion", "v1", "kind",
					      "Node", "name", n->o.node_name, "uid", uid));
	return l;
}

/* Writes lease with renewTime now: an update of the one last written,
 * else of the one stored, else a create. */
static int lease_renew(struct kubelet_node *n)
{
	json_t *l = n->lease ? json_incref(n->lease) : NULL, *out = NULL;
	char now[64];
	int r = -ENOENT;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!l) {
			r = kc_get(n->c, leases(), NODE_LEASE_NS, n->o.node_name, &l);
			if (r == -ENOENT)
				l = lease_new(n);
			else if (r < 0)
				break;
		}
		micro_time(now);
		json_object_set_new(json_object_get(l, "spec"), "renewTime", json_string(now));
		json_object_set_new(json_object_get(l, "spec"), "holderIdentity",
				    json_string(n->o.node_name));
		r = kc_meta_str(l, "resourceVersion") ? kc_update(n->c, leases(), NODE_LEASE_NS, l, &out)
						      : kc_create(n->c, leases(), NODE_LEASE_NS, l, &out);
		json_decref(l);
		l = NULL;
		if (r != -ESTALE && r != -ENOENT && r != -EEXIST)
			break;
	}
	json_decref(l);
	json_decref(n->lease);
	n->lease = r == 0 ? out : NULL;
	if (r < 0)
		log_warn("node %s: cannot renew lease %s/%s: %s", n->o.node_name, NODE_LEASE_NS,
			 n->o.node_name, kc_last_status(n->c)->message);
	return r;
}

/* The CNI config for the Node's podCIDRs, written when it changed. */
static void cni_sync(struct kubelet_node *n)
{
	_cleanup_free_ char *text = NULL;
	char path[4200], tmp[4300];
	_cleanup_close_ int fd = -1;
	int r;

	if (!n->o.cni_conf_dir || !(text = kubelet_node_conflist(n->node, n->o.cni_ipam_dir,
								       n->o.cni_forward_interface,
								       n->o.cni_mtu)) ||
	    (n->conflist && streq(n->conflist, text)))
		return;
	snprintf(path, sizeof(path), "%s/%s", n->o.cni_conf_dir, KUBELET_CNI_CONFLIST);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (mkdir(n->o.cni_conf_dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
	} else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		r = -errno;
	} else {
		r = write_all(fd, text, strlen(text));
		if (r == 0 && (close(TAKE_FD(fd)) < 0 || rename(tmp, path) < 0))
			r = -errno;
	}
	if (r < 0) {
		log_error("node %s: cannot write the CNI config %s: %s", n->o.node_name, path,
			  strerror(-r));
		return;
	}
	log_info("node %s: CNI config %s for pod CIDRs %s", n->o.node_name, path,
		 json_string_value(json_object_get(json_object_get(n->node, "spec"), "podCIDR")) ?: "");
	free(n->conflist);
	n->conflist = TAKE_PTR(text);
}

/* One status tick: facts, register if needed, the status when it changed
 * or is due, the CNI config. */
static void status_tick(struct kubelet_node *n, time_t now)
{
	struct kubelet_node_facts f;
	json_t *status, *out = NULL, *patch;
	int r;

	facts_read(n, &f);
	if (!n->registered && node_register(n, &f) < 0)
		return;
	r = kc_get(n->c, nodes(), NULL, n->o.node_name, &out);
	if (r == -ENOENT) {
		n->registered = false;
		return;
	}
	if (r == 0)
		node_set(n, out);
	status = kubelet_node_status(&f, json_object_get(n->node, "status"), now);
	if (!n->reported || kubelet_node_status_changed(status, n->reported) ||
	    now - n->reported_at >= (n->o.status_report_s ?: KUBELET_STATUS_REPORT_S)) {
		patch = json_pack("{s:O}", "status", status);
		out = NULL;
		r = kc_patch(n->c, nodes(), NULL, n->o.node_name, "status", KC_PATCH_MERGE, patch,
			     &out);
		json_decref(patch);
		if (r == 0) {
			node_set(n, out);
			json_decref(n->reported);
			n->reported = json_incref(status);
			n->reported_at = now;
		} else {
			log_warn("node %s: cannot update status: %s", n->o.node_name,
				 kc_last_status(n->c)->message);
		}
	}
	json_decref(status);
	cni_sync(n);
}

/* ---- the thread ---- */

/* Sleeps until at (monotonic seconds) or stop; false on stop. */
static bool sleep_until(struct kubelet_node *n, time_t at)
{
	struct timespec ts = { .tv_sec = at };
	bool stop;

	pthread_mutex_lock(&n->lock);
	while (!n->stop && pthread_cond_timedwait(&n->wake, &n->lock, &ts) != ETIMEDOUT)
		;
	stop = n->stop;
	pthread_mutex_unlock(&n->lock);
	return !stop;
}

static time_t mono_s(void)
{
	return (time_t)(now_ns() / 1000000000ULL);
}

static void *node_main(void *arg)
{
	struct kubelet_node *n = arg;
	int lease_s = n->o.lease_s ?: KUBELET_LEASE_S;
	time_t lease_due = 0, status_due = 0, next, started = mono_s();

	do {
		if (mono_s() >= status_due) {
			bool waiting_cidrs;

			status_tick(n, time(NULL));
			waiting_cidrs = n->o.cni_conf_dir && !n->conflist &&
					mono_s() - started < CIDR_WAIT_S;
			status_due = mono_s() + (!n->registered ? LEASE_RETRY_S
						 : waiting_cidrs ? CIDR_WAIT_TICK_S
								 : STATUS_TICK_S);
		}
		if (n->registered && mono_s() >= lease_due)
			lease_due = mono_s() + (lease_renew(n) == 0 ? lease_s : LEASE_RETRY_S);
		next = n->registered && lease_due < status_due ? lease_due : status_due;
	} while (sleep_until(n, next));
	return NULL;
}

static void node_free(struct kubelet_node *n)
{
	kc_client_free(n->c);
	kc_config_free(n->cfg);
	cri_client_free(n->cri);
	json_decref(n->node);
	json_decref(n->lease);
	json_decref(n->reported);
	free(n->conflist);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

int kubelet_node_start(const struct kubelet_node_options *o, struct kubelet_node **out)
{
	struct kc_client_opts co = { .user_agent = "skiff-agent/node", .timeout_ms = 10000 };
	struct kubelet_node *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	sigset_t all, old;
	char err[256];
	int r;

	if (!n)
		return -ENOMEM;
	n->o = *o;
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->wake, &ca);
	pthread_condattr_destroy(&ca);
	r = kc_config_load(o->kubeconfig, NULL, &n->cfg, err, sizeof(err));
	if (r < 0)
		log_error("node %s: kubeconfig %s: %s", o->node_name, o->kubeconfig, err);
	if (r == 0)
		r = kc_client_new(n->cfg, &co, &n->c);
	if (r == 0) {
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = -pthread_create(&n->thread, NULL, node_main, n);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (r < 0) {
		node_free(n);
		return r;
	}
	*out = n;
	return 0;
}

void kubelet_node_stop(struct kubelet_node *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_signal(&n->wake);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	node_free(n);
}
