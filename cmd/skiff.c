/* skiff: one command for a local cluster.
 *   skiff up      a supervisor per data dir: a registry, skiff-server, and per
 *                 node containerd and skiff-agent (node 1 this machine, the others
 *                 network namespaces on a bridge)
 *   skiff status  each part (PID, uptime, restarts) and each node's readiness
 *   skiff service the URLs that reach a Service from this machine
 *   skiff down    stops what up started and removes what it made
 *   skiff image load  pushes image archives to the cluster's registry */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/skiff.h"
#include "lib/kube_client.h"
#include "lib/kube_config.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/util.h"

struct args {
	const char *data_dir, *name, *bridge, *cluster_cidr, *service_cidr, *ns;
	int nodes, port, reg_port, timeout, proxy_mode, node_routing, store;
	bool purge, help, update_kubeconfig;
	int operand; /* argv index of the first operand */
};

static const struct opt_choice proxy_modes[] = { { "bpf", 0 }, { "nftables", 1 }, { NULL, 0 } };
static const struct opt_choice routings[] = { { "native", 0 }, { "vxlan", 1 }, { NULL, 0 } };
static const struct opt_choice stores[] = { { "sqlite", 0 }, { "etcd", 1 }, { NULL, 0 } };

#define A(f) offsetof(struct args, f)
static const struct opt common_opts[] = {
	{ .name = "data-dir", .short_name = 0, .arg = "DIR", .help = "the cluster's state, logs and kubeconfig", .def = "/var/lib/skiff", .set = opt_string, .offset = A(data_dir) },
	{ .name = "help", .short_name = 'h', .arg = NULL, .help = "this text", .def = NULL, .set = opt_flag, .offset = A(help) },
};
static const struct opt up_opts[] = {
	{ .name = "data-dir", .short_name = 0, .arg = "DIR", .help = "the cluster's state, logs and kubeconfig", .def = "/var/lib/skiff", .set = opt_string, .offset = A(data_dir) },
	{ .name = "nodes", .short_name = 0, .arg = "N", .help = "nodes: node 1 is this machine, the others network namespaces on the bridge", .def = "1", .set = opt_int, .offset = A(nodes), .min = 1, .max = SKIFF_MAX_NODES },
	{ .name = "name", .short_name = 0, .arg = "NAME", .help = "prefix of the namespaces, links, cgroups and pins made", .def = "skiff", .set = opt_string, .offset = A(name), .min = 0, .max = 8 },
	{ .name = "bridge-net", .short_name = 0, .arg = "A.B.C", .help = "the nodes' bridge /24 (the server on .1, node I on .(1+I), LoadBalancer IPs from .192/26)", .def = "172.31.250", .set = opt_string, .offset = A(bridge), .min = 0, .max = 15 },
	{ .name = "port", .short_name = 0, .arg = "PORT", .help = "skiff-server's HTTPS port (on the bridge address)", .def = "6443", .set = opt_int, .offset = A(port), .min = 1, .max = 65535 },
	{ .name = "registry-port", .short_name = 0, .arg = "PORT", .help = "the image registry's HTTP port (on the bridge address)", .def = "5001", .set = opt_int, .offset = A(reg_port), .min = 1, .max = 65535 },
	{ .name = "cluster-cidr", .short_name = 0, .arg = "CIDR", .help = "the pods' range, a /24 per node", .def = "10.244.0.0/16", .set = opt_string, .offset = A(cluster_cidr) },
	{ .name = "service-cidr", .arg = "CIDR", .help = "the Services' range (IPv4), routed to the bridge on this machine", .def = "10.96.0.0/12", .set = opt_string, .offset = A(service_cidr), .min = 0, .max = 47 },
	{ .name = "timeout", .short_name = 0, .arg = "SECS", .help = "how long to wait for the nodes", .def = "120", .set = opt_int, .offset = A(timeout), .min = 1, .max = 3600 },
	{ .name = "proxy-mode", .short_name = 0, .arg = "MODE", .help = "the agents' service proxy: bpf (socket hooks on each node's pod cgroup, tc on its eth0) or nftables", .def = "bpf", .set = opt_choice, .offset = A(proxy_mode), .choices = proxy_modes },
	{ .name = "node-routing", .short_name = 0, .arg = "MODE", .help = "how pods reach the pods of other nodes: native (a route per node's pod range via its bridge address) or vxlan (an overlay on the bridge)", .def = "native", .set = opt_choice, .offset = A(node_routing), .choices = routings },
	{ .name = "store", .short_name = 0, .arg = "STORE", .help = "the server's store: sqlite (a file in DIR) or etcd (a local etcd that skiff starts, on 127.0.0.1 ports PORT+1 and PORT+2)", .def = "sqlite", .set = opt_choice, .offset = A(store), .choices = stores },
	{ .name = "update-kubeconfig", .short_name = 0, .arg = NULL, .help = "merge a context named NAME into ~/.kube/config (or $KUBECONFIG's first file) and make it current; down removes it", .def = NULL, .set = opt_flag, .offset = A(update_kubeconfig) },
	{ .name = "help", .short_name = 'h', .arg = NULL, .help = "this text", .def = NULL, .set = opt_flag, .offset = A(help) },
};
static const struct opt service_opts[] = {
	{ .name = "data-dir", .short_name = 0, .arg = "DIR", .help = "the cluster's state, logs and kubeconfig", .def = "/var/lib/skiff", .set = opt_string, .offset = A(data_dir) },
	{ .name = "namespace", .short_name = 'n', .arg = "NS", .help = "the Service's namespace", .def = "default", .set = opt_string, .offset = A(ns) },
	{ .name = "help", .short_name = 'h', .arg = NULL, .help = "this text", .def = NULL, .set = opt_flag, .offset = A(help) },
};
static const struct opt down_opts[] = {
	{ .name = "data-dir", .short_name = 0, .arg = "DIR", .help = "the cluster's state, logs and kubeconfig", .def = "/var/lib/skiff", .set = opt_string, .offset = A(data_dir) },
	{ .name = "purge", .short_name = 0, .arg = NULL, .help = "also remove the data dir", .def = NULL, .set = opt_flag, .offset = A(purge) },
	{ .name = "help", .short_name = 'h', .arg = NULL, .help = "this text", .def = NULL, .set = opt_flag, .offset = A(help) },
};

int skiff_conf_write(const struct skiff *s)
{
	char p[4096];
	FILE *f;

	skiff_path(s, p, sizeof(p), "skiff.conf");
	f = fopen(p, "we");
	if (!f)
		return -errno;
	fprintf(f, "name %s\nnodes %d\nport %d\nbridge %s\nregistry_port %d\nproxy-mode %s\nstore %s\n"
		"service-cidr %s\nnode-routing %s\n", s->name, s->nodes, s->port, s->bridge, s->reg_port,
		s->proxy_mode, s->store, s->service_cidr, s->node_routing);
	return fclose(f) ? -errno : 0;
}

int skiff_conf_read(struct skiff *s)
{
	char p[4096], k[32], v[64];
	_cleanup_fclose_ FILE *f = NULL;

	skiff_path(s, p, sizeof(p), "skiff.conf");
	f = fopen(p, "re");
	if (!f)
		return -errno;
	/* what a skiff.conf without these lines ran */
	strscpy(s->proxy_mode, "nftables", sizeof(s->proxy_mode));
	strscpy(s->store, "sqlite", sizeof(s->store));
	strscpy(s->service_cidr, "10.96.0.0/12", sizeof(s->service_cidr));
	strscpy(s->node_routing, "native", sizeof(s->node_routing));
	while (fscanf(f, "%31s %63s", k, v) == 2) {
		if (streq(k, "name"))
			strscpy(s->name, v, sizeof(s->name));
		else if (streq(k, "nodes"))
			s->nodes = atoi(v);
		else if (streq(k, "port"))
			s->port = atoi(v);
		else if (streq(k, "bridge"))
			strscpy(s->bridge, v, sizeof(s->bridge));
		else if (streq(k, "registry_port"))
			s->reg_port = atoi(v);
		else if (streq(k, "proxy-mode"))
			strscpy(s->proxy_mode, v, sizeof(s->proxy_mode));
		else if (streq(k, "store"))
			strscpy(s->store, v, sizeof(s->store));
		else if (streq(k, "service-cidr"))
			strscpy(s->service_cidr, v, sizeof(s->service_cidr));
		else if (streq(k, "node-routing"))
			strscpy(s->node_routing, v, sizeof(s->node_routing));
	}
	return 0;
}

static int parse(const struct opt *t, size_t n, int argc, char **argv, struct args *a,
		 const char *usage)
{
	char err[256];
	int r = opts_parse(t, n, argc, argv, a, 0, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "skiff: %s\n", err);
		return -EINVAL;
	}
	a->operand = r;
	if (a->help) {
		printf("%s\n\n", usage);
		opts_usage(stdout, t, n);
		return 1;
	}
	return 0;
}

struct kc_client *skiff_client(const struct skiff *s)
{
	char p[4096], err[256];
	struct kc_config *cfg = NULL;
	struct kc_client *c = NULL;
	struct kc_client_opts o = { .timeout_ms = 3000 };

	skiff_path(s, p, sizeof(p), "kubeconfig");
	if (kc_config_load(p, NULL, &cfg, err, sizeof(err)) < 0)
		return NULL;
	kc_client_new(cfg, &o, &c);
	kc_config_free(cfg);
	return c;
}

/* A Lease's renewTime (RFC 3339 with microseconds) in seconds since the
 * epoch; 0 when there is none. */
static double renew_time(json_t *lease)
{
	const char *t = json_string_value(json_object_get(json_object_get(lease, "spec"), "renewTime"));
	struct tm tm = { 0 };
	char *end = t ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (!end)
		return 0;
	return (double)timegm(&tm) + (*end == '.' ? strtod(end, NULL) : 0);
}

/* Whether node's Lease was renewed at or after since (0: any), so a Ready
 * condition left in the store by an earlier run is not taken for this one. */
static bool lease_fresh(struct kc_client *c, const char *node, double since)
{
	json_t *lease = NULL;
	bool fresh;

	if (since <= 0)
		return true;
	if (kc_get(c, kc_resource_find("leases"), "kube-node-lease", node, &lease) < 0)
		return false;
	fresh = renew_time(lease) >= since;
	json_decref(lease);
	return fresh;
}

/* "n1=True n2=False": each Node's Ready condition (Starting while its
 * Lease is older than since); the count of Ready. */
static int nodes_ready(struct kc_client *c, double since, char *buf, size_t size)
{
	json_t *list = NULL, *item, *cond;
	size_t i, j;
	int ready = 0, n = 0;

	buf[0] = 0;
	if (!c || kc_list(c, kc_resource_find("nodes"), NULL, NULL, &list) < 0)
		return -EAGAIN;
	json_array_foreach(json_object_get(list, "items"), i, item) {
		const char *st = "Unknown", *name = kc_meta_str(item, "name");
		json_array_foreach(json_object_get(json_object_get(item, "status"), "conditions"), j, cond)
			if (streq(json_string_value(json_object_get(cond, "type")), "Ready"))
				st = json_string_value(json_object_get(cond, "status")) ?: "Unknown";
		if (!name)
			continue;
		if (streq(st, "True") && !lease_fresh(c, name, since))
			st = "Starting";
		n += snprintf(buf + n, size - n, "%s%s=%s", n ? " " : "", name, st);
		ready += streq(st, "True");
	}
	json_decref(list);
	return ready;
}

static void step(const char *what) { printf(" ✓ %s\n", what); fflush(stdout); }

/* Asks ok every 50 ms (up returns that soon after the cluster is ready). */
static bool wait_until(int secs, bool (*ok)(const struct skiff *), const struct skiff *s)
{
	for (int i = 0; i < secs * 20; i++) {
		if (ok(s))
			return true;
		usleep(50000);
	}
	return false;
}

static bool server_ready(const struct skiff *s)
{
	struct kc_client *c = skiff_client(s);
	int r = c ? kc_request(c, "GET", "/readyz", NULL, NULL, NULL) : -1;
	kc_client_free(c);
	return r == 0;
}

static bool all_ready(const struct skiff *s)
{
	char buf[512];
	struct kc_client *c = skiff_client(s);
	int r = nodes_ready(c, s->fresh_since, buf, sizeof(buf));
	kc_client_free(c);
	return r == s->nodes;
}

static bool default_sa(const struct skiff *s)
{
	struct kc_client *c = skiff_client(s);
	int r = c ? kc_get(c, kc_resource_find("serviceaccounts"), "default", "default", NULL) : -1;
	kc_client_free(c);
	return r == 0;
}

static int fail_at(const struct skiff *s, const char *what, const char *log)
{
	fprintf(stderr, "skiff up: %s; see %s/logs/%s.log (skiff down --data-dir %s undoes it)\n",
		what, s->data_dir, log, s->data_dir);
	return 1;
}

/* The parts of the cluster, in start order, into names; their count. */
static int part_names(const struct skiff *s, char names[][32])
{
	int n = 0;

	strscpy(names[n++], "supervisor", 32);
	if (streq(s->store, "etcd"))
		strscpy(names[n++], "etcd", 32);
	strscpy(names[n++], "registry", 32);
	strscpy(names[n++], "server", 32);
	for (int i = 1; i <= s->nodes; i++) {
		snprintf(names[n++], 32, "n%d-containerd", i);
		snprintf(names[n++], 32, "n%d-agent", i);
	}
	return n;
}

static bool part_alive(const struct skiff *s, const char *part, long *pid)
{
	long start, restarts;
	return skiff_part_read(s, part, pid, &start, &restarts) == 0 && *pid > 1 && kill(*pid, 0) == 0;
}

/* Whether any part of the cluster in s's data dir runs. */
static bool cluster_runs(const struct skiff *s)
{
	char names[4 + 2 * SKIFF_MAX_NODES][32];
	int n = part_names(s, names);
	long pid;

	for (int i = 0; i < n; i++)
		if (part_alive(s, names[i], &pid))
			return true;
	return false;
}

/* Whether every part runs (a second up: one waiting for its backoff is
 * started by then). */
static bool parts_up(const struct skiff *s)
{
	char names[4 + 2 * SKIFF_MAX_NODES][32];
	int n = part_names(s, names);
	long pid;

	for (int i = 0; i < n; i++)
		if (!part_alive(s, names[i], &pid))
			return false;
	return true;
}

/* DIR/up.lock, a POSIX lock (never inherited by the supervisor) held for
 * as long as this `skiff up` runs: a second one racing it is refused. */
static int up_lock(const struct skiff *s)
{
	char p[4096];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd;

	skiff_path(s, p, sizeof(p), "up.lock");
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "skiff up: %s: %m\n", p);
		return -1;
	}
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return fd;
	fcntl(fd, F_GETLK, &fl);
	fprintf(stderr, "skiff up: another skiff up (pid %d) is bringing up the cluster in %s; "
		"wait for it, then `skiff status --data-dir %s`\n", (int)fl.l_pid, s->data_dir,
		s->data_dir);
	close(fd);
	return -1;
}

/* The data dir as an absolute path, once it exists (the parts' paths). */
static void data_dir_resolve(struct skiff *s)
{
	char real[4096];

	if (s->data_dir[0] != '/' && realpath(s->data_dir, real))
		s->data_dir = strdup(real);
}

static int make_dirs(const struct skiff *s)
{
	static const char *const subs[] = { "", "logs", "run", "nodes" };
	char p[4096];

	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		skiff_path(s, p, sizeof(p), "%s", subs[i]);
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "skiff up: mkdir %s: %m\n", p);
			return -1;
		}
	}
	return 0;
}

/* The network, the nodes' files and a supervisor (which adopts whatever
 * part still runs, and inherits the caller's hold on DIR/skiff.lock). */
static int start_cluster(const struct skiff *s)
{
	char p[4096], err[512], buf[512];

	if (skiff_conf_write(s) < 0 || skiff_check_version_write(s) < 0) {
		fprintf(stderr, "skiff up: cannot write %s/skiff.conf: %m\n", s->data_dir);
		return 1;
	}
	if (skiff_net_up(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff up: %s\n", err);
		return 1;
	}
	if (s->nodes > 1)
		snprintf(buf, sizeof(buf), "network: bridge %s-br %s.1/24 (node 1, this machine), node "
			 "namespaces /run/netns/%s-n2..%d, services %s, LoadBalancer IPs " SKIFF_LB_FMT,
			 s->name, s->bridge, s->name, s->nodes, s->service_cidr, s->bridge);
	else
		snprintf(buf, sizeof(buf), "network: bridge %s-br %s.1/24 (node 1, this machine), "
			 "services %s, LoadBalancer IPs " SKIFF_LB_FMT, s->name, s->bridge,
			 s->service_cidr, s->bridge);
	step(buf);
	if (skiff_node_files(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "skiff up: %s\n", err);
		return 1;
	}
	skiff_path(s, p, sizeof(p), "kubeconfig");
	unlink(p);
	if (symlink("server/kubeconfig", p) < 0)
		return fail_at(s, "cannot link the kubeconfig", "supervisor");
	if (skiff_supervisor_start(s) < 0)
		return fail_at(s, "cannot start the supervisor", "supervisor");
	step("supervisor started (logs in DIR/logs/)");
	return 0;
}

static int wait_ready(const struct skiff *s, int timeout)
{
	char buf[512];

	if (!wait_until(30, server_ready, s))
		return fail_at(s, "skiff-server did not answer", "server");
	snprintf(buf, sizeof(buf), "skiff-server on https://%s.1:%d (store %s)", s->bridge, s->port,
		 s->store);
	step(buf);
	if (!wait_until(30, skiff_registry_seeded, s))
		return fail_at(s, "the registry did not start or take the build's images (the supervisor's "
			       "log says why)", "registry");
	snprintf(buf, sizeof(buf), "registry on http://%s.1:%d holding skiff.local/pause:3.9 and "
		 "skiff.local/busybox:1.35 (`skiff image load` adds more)", s->bridge, s->reg_port);
	step(buf);
	if (!wait_until(timeout, all_ready, s))
		return fail_at(s, "not every node turned Ready", "n1-agent");
	if (!wait_until(30, parts_up, s))
		return fail_at(s, "a part is down (`skiff status` names it)", "supervisor");
	snprintf(buf, sizeof(buf), "every node Ready (proxy mode %s)", s->proxy_mode);
	step(buf);
	if (!wait_until(30, default_sa, s))
		return fail_at(s, "no default ServiceAccount", "server");
	step("default ServiceAccount");
	return 0;
}

/* A cluster of this data dir that runs (a part or the supervisor) keeps
 * its own settings, and up starts only what is down; otherwise every
 * check passes before anything changes. */
static int cmd_up(struct skiff *s, int timeout, bool update_kc)
{
	char p[4096], err[2048];
	struct skiff cur = *s;
	bool running = skiff_conf_read(&cur) == 0 && cluster_runs(&cur);
	int ulock = -1, lock, r;
	long sup = 0;

	if (running)
		*s = cur;
	r = skiff_check_up(s, running, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "skiff up: cannot start:\n%s\n", err);
		return 1;
	}
	if (make_dirs(s) < 0 || (ulock = up_lock(s)) < 0)
		return 1;
	data_dir_resolve(s);
	skiff_path(s, p, sizeof(p), "skiff.lock");
	lock = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0) {
		fprintf(stderr, "skiff up: %s: %m\n", p);
		return 1;
	}
	if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
		/* the supervisor runs: it restarts what is down, now */
		part_alive(s, "supervisor", &sup);
		printf("skiff up: the cluster in %s runs (supervisor pid %ld, %d node(s)); "
		       "starting only what is down\n", s->data_dir, sup, s->nodes);
		if (sup > 1)
			kill(sup, SIGUSR1);
		if (skiff_net_up(s, err, sizeof(err)) < 0) {
			fprintf(stderr, "skiff up: %s\n", err);
			return 1;
		}
	} else {
		struct timespec now;
		printf("skiff up: %d node(s) in %s%s\n", s->nodes, s->data_dir,
		       running ? " (adopting the parts that run)" : "");
		clock_gettime(CLOCK_REALTIME, &now);
		if (!running)
			s->fresh_since = now.tv_sec + now.tv_nsec / 1e9;
		r = start_cluster(s);
		if (r)
			return r;
	}
	close(lock);
	r = wait_ready(s, timeout);
	if (r)
		return r;
	if (update_kc) {
		r = skiff_kubeconfig_merge(s, p, sizeof(p));
		if (r < 0) {
			fprintf(stderr, "skiff up: cannot update the kubeconfig: %s\n", strerror(-r));
			return 1;
		}
		printf(" ✓ context %s in %s, made current\n", s->name, p);
	}
	printf("\nThe cluster is up:\n  kubectl --kubeconfig %s/kubeconfig get nodes\n", s->data_dir);
	printf("  skiff service NAME [-n NS]   URLs of a NodePort or LoadBalancer Service\n");
	close(ulock);
	return 0;
}

static void uptime_str(long start, char *buf, size_t size)
{
	long d = time(NULL) - start;
	snprintf(buf, size, d >= 3600 ? "%ldh%02ldm" : "%ldm%02lds", d >= 3600 ? d / 3600 : d / 60,
		 d >= 3600 ? d / 60 % 60 : d % 60);
}

static int cmd_status(struct skiff *s)
{
	char names[4 + 2 * SKIFF_MAX_NODES][32], buf[512], up[32];
	long pid, start, restarts;
	int rc = 0, n;

	if (skiff_conf_read(s) < 0) {
		fprintf(stderr, "skiff status: no cluster in %s\n", s->data_dir);
		return 1;
	}
	printf("cluster %s: %d node(s) (n1 this machine), proxy mode %s, node routing %s, store %s, "
	       "API https://%s.1:%d, services %s\n\n", s->name, s->nodes, s->proxy_mode,
	       s->node_routing, s->store, s->bridge, s->port, s->service_cidr);
	printf("%-16s %-8s %-10s %s\n", "PART", "PID", "UPTIME", "RESTARTS");
	n = part_names(s, names);
	for (int i = 0; i < n; i++) {
		const char *part = names[i];
		if (skiff_part_read(s, part, &pid, &start, &restarts) < 0 || pid <= 0 || kill(pid, 0) < 0) {
			printf("%-16s %-8s %-10s %s\n", part, "-", "down", "-");
			rc = 1;
			continue;
		}
		uptime_str(start, up, sizeof(up));
		printf("%-16s %-8ld %-10s %ld\n", part, pid, up, restarts);
	}
	struct kc_client *c = skiff_client(s);
	int r = nodes_ready(c, 0, buf, sizeof(buf));
	kc_client_free(c);
	printf("\nNODES (Ready): %s\n", r < 0 ? "the API server does not answer" : buf);
	return rc || r != s->nodes;
}

/* ---- down ---- */

static bool is_pid_of(long pid, const char *const *names)
{
	char p[64], exe[4096] = "";
	snprintf(p, sizeof(p), "/proc/%ld/exe", pid);
	if (readlink(p, exe, sizeof(exe) - 1) < 0)
		return false;
	for (; *names; names++)
		if (strstr(exe, *names))
			return true;
	return false;
}

/* Kills a part and waits (up to 10 s) until it is gone, so a containerd
 * can start no shim after its shims were looked for. */
static void kill_part(const struct skiff *s, const char *part)
{
	static const char *const ours[] = { "skiff", "containerd", "docker-registry", "etcd", NULL };
	long pid, start, restarts;
	struct pollfd pf = { .events = POLLIN };

	if (skiff_part_read(s, part, &pid, &start, &restarts) < 0 || pid <= 1 || !is_pid_of(pid, ours))
		return;
	pf.fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
	kill(pid, SIGKILL);
	if (pf.fd >= 0) {
		poll(&pf, 1, 10000);
		close(pf.fd);
	}
}

/* The shims of node's containerd: processes with its socket as an argument
 * (-address SOCK), found even after containerd itself is gone. */
static void kill_shims_of(const struct skiff *s, int node)
{
	char sock[4096], p[64];
	DIR *d = opendir("/proc");
	struct dirent *e;

	skiff_path(s, sock, sizeof(sock), "nodes/n%d/containerd.sock", node);
	while (d && (e = readdir(d))) {
		long q = atol(e->d_name);
		_cleanup_free_ char *cmd = NULL;
		size_t len = 0;
		_cleanup_close_ int fd = -1;

		if (q <= 1 || q == getpid())
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/cmdline", q);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read_all(fd, 65536, &cmd, &len) < 0)
			continue;
		for (size_t i = 0; i < len; i += strlen(cmd + i) + 1)
			if (streq(cmd + i, sock)) {
				kill(q, SIGKILL);
				break;
			}
	}
	if (d)
		closedir(d);
}

/* A cgroup folder holds only control files: rmdir, deepest first. */
static int rmdir_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	return 0;
}

/* SIGKILL to every process in dir's cgroup subtree; how many there were. */
static int kill_cgroup_procs(const char *dir)
{
	char p[4200], line[32];
	DIR *d = opendir(dir);
	struct dirent *e;
	_cleanup_fclose_ FILE *f = NULL;
	int n = 0;

	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	f = fopen(p, "re");
	while (f && fgets(line, sizeof(line), f))
		if (atol(line) > 1 && kill(atol(line), SIGKILL) == 0)
			n++;
	while (d && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		n += kill_cgroup_procs(p);
	}
	if (d)
		closedir(d);
	return n;
}

/* The pods' cgroup tree /NAME in every hierarchy (v1 and v2): its
 * processes killed (returns how many were left), or its folders removed
 * (returns how many trees are still there). */
static int cgroups_walk(const struct skiff *s, bool remove)
{
	char line[4096], dir[4200], mnt[4096], type[64];
	_cleanup_fclose_ FILE *f = fopen("/proc/mounts", "re");
	int n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*s %4095s %63s", mnt, type) != 2 || strncmp(type, "cgroup", 6))
			continue;
		snprintf(dir, sizeof(dir), "%s/" SKIFF_CGROUP_FMT, mnt, s->name);
		if (access(dir, F_OK))
			continue;
		if (!remove)
			n += kill_cgroup_procs(dir);
		else if (nftw(dir, rmdir_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 && access(dir, F_OK) == 0)
			n++;
	}
	return n;
}

/* Kills what runs in the pods' cgroups until none is left, then removes
 * the folders; a loaded machine takes a while to end a killed process,
 * and a cgroup is busy until it has (up to 15 s in all). */
static void cgroups_remove(const struct skiff *s)
{
	int i;

	for (i = 0; i < 100 && cgroups_walk(s, false) > 0; i++)
		usleep(100000);
	for (i = 0; i < 50 && cgroups_walk(s, true) > 0; i++)
		usleep(100000);
	if (i == 50)
		fprintf(stderr, "skiff down: cannot remove the cgroup folders " SKIFF_CGROUP_FMT
			" in every hierarchy: processes are still in them\n", s->name);
}

/* Unmounts every mount under the data dir, deepest first. */
static void mounts_remove(const struct skiff *s)
{
	char line[4096], mnt[4096], real[4096];
	for (int again = 1; again;) {
		_cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
		again = 0;
		if (!realpath(s->data_dir, real))
			return;
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%*s %4095s", mnt) == 1 && !strncmp(mnt, real, strlen(real)) &&
			    umount2(mnt, MNT_DETACH) == 0)
				again = 1;
	}
}

static int cmd_down(struct skiff *s, bool purge)
{
	char p[4096], part[32];
	long pid, start, restarts;

	if (skiff_conf_read(s) < 0) {
		if (purge && access(s->data_dir, F_OK) == 0)
			remove_tree(s->data_dir);
		printf("skiff down: no cluster in %s\n", s->data_dir);
		return 0;
	}
	if (skiff_part_read(s, "supervisor", &pid, &start, &restarts) == 0 && pid > 1 && kill(pid, SIGTERM) == 0) {
		for (int i = 0; i < 150 && kill(pid, 0) == 0; i++)
			usleep(100000);
		kill(pid, SIGKILL);
	}
	/* containerd before its shims: a live one starts more (a killed shim's
	 * cleanup runs `containerd-shim-runc-v2 ... delete`) */
	for (int i = 1; i <= s->nodes; i++) {
		snprintf(part, sizeof(part), "n%d-agent", i);
		kill_part(s, part);
		snprintf(part, sizeof(part), "n%d-containerd", i);
		kill_part(s, part);
		kill_shims_of(s, i);
	}
	kill_part(s, "server");
	kill_part(s, "registry");
	kill_part(s, "etcd");
	cgroups_remove(s);
	mounts_remove(s);
	skiff_net_down(s);
	snprintf(p, sizeof(p), SKIFF_BPFFS_FMT, s->name);
	remove_tree(p);
	skiff_path(s, p, sizeof(p), "run");
	remove_tree(p);
	if (skiff_kubeconfig_unmerge(s) < 0)
		fprintf(stderr, "skiff down: cannot remove context %s from the kubeconfig up "
			"updated: %m\n", s->name);
	if (purge)
		remove_tree(s->data_dir);
	printf("skiff down: stopped%s\n", purge ? ", data dir removed" : "");
	return 0;
}

static const char usage[] =
	"Usage: skiff COMMAND [OPTION]...\n"
	"A local skiff cluster: an image registry, skiff-server, and per node containerd and skiff-agent.\n\n"
	"  up      start the cluster (a supervisor per data dir) and wait until it is ready\n"
	"  status  each part's PID, uptime and restarts; each node's readiness\n"
	"  service the URLs that reach a Service from this machine (NodePort, LoadBalancer)\n"
	"  down    stop everything up started and remove what it made (--purge: the data dir)\n"
	"  image   load FILE...: push image archives (OCI layout, docker-archive) to the registry\n\n"
	"`skiff COMMAND --help` describes a command's options.";

int main(int argc, char **argv)
{
	struct args a = {0};
	struct skiff s = {0};
	const char *cmd = argc > 1 ? argv[1] : "";
	ssize_t n;
	int r;

	log_init("skiff", LOG_LEVEL_INFO);
	if (streq(cmd, "image"))
		return skiff_image_cmd(&s, argc - 2, argv + 2);
	if (streq(cmd, "up"))
		r = parse(up_opts, ARRAY_SIZE(up_opts), argc - 1, argv + 1, &a,
			  "Usage: skiff up [--data-dir DIR] [--nodes N] [--proxy-mode bpf|nftables]\n"
			  "                [--node-routing native|vxlan] [--store sqlite|etcd]\n"
			  "Starts the cluster and returns when every node is Ready. On a cluster that runs,\n"
			  "starts only what is down and keeps the cluster's settings.");
	else if (streq(cmd, "down"))
		r = parse(down_opts, ARRAY_SIZE(down_opts), argc - 1, argv + 1, &a,
			  "Usage: skiff down [--data-dir DIR] [--purge]\nStops the cluster and removes what up made.");
	else if (streq(cmd, "status"))
		r = parse(common_opts, ARRAY_SIZE(common_opts), argc - 1, argv + 1, &a,
			  "Usage: skiff status [--data-dir DIR]\nEach part and each node.");
	else if (streq(cmd, "service"))
		r = parse(service_opts, ARRAY_SIZE(service_opts), argc - 1, argv + 1, &a,
			  "Usage: skiff service NAME [-n NS] [--data-dir DIR]\n"
			  "The URLs that reach Service NAME from this machine, one a line.");
	else {
		bool help = streq(cmd, "--help") || streq(cmd, "-h") || streq(cmd, "help");
		fprintf(help ? stdout : stderr, "%s\n", usage);
		return help ? 0 : 2;
	}
	if (r)
		return r > 0 ? 0 : 2;
	s.data_dir = a.data_dir;
	s.nodes = a.nodes ? a.nodes : 1;
	s.port = a.port;
	s.reg_port = a.reg_port;
	s.cluster_cidr = a.cluster_cidr;
	strscpy(s.name, a.name ? a.name : "skiff", sizeof(s.name));
	strscpy(s.bridge, a.bridge ? a.bridge : "172.31.250", sizeof(s.bridge));
	strscpy(s.service_cidr, a.service_cidr ? a.service_cidr : "10.96.0.0/12", sizeof(s.service_cidr));
	strscpy(s.proxy_mode, proxy_modes[a.proxy_mode].name, sizeof(s.proxy_mode));
	strscpy(s.node_routing, routings[a.node_routing].name, sizeof(s.node_routing));
	strscpy(s.store, stores[a.store].name, sizeof(s.store));
	n = readlink("/proc/self/exe", s.bin, sizeof(s.bin) - 1);
	if (n > 0)
		*strrchr(s.bin, '/') = 0;
	if (streq(cmd, "up")) {
		unsigned b1, b2, b3;
		int end = 0;
		if (sscanf(s.bridge, "%u.%u.%u%n", &b1, &b2, &b3, &end) != 3 || s.bridge[end] ||
		    b1 > 255 || b2 > 255 || b3 > 255) {
			fprintf(stderr, "skiff up: --bridge-net: \"%s\" is not A.B.C (the first three "
				"numbers of a /24)\n", s.bridge);
			return 2;
		}
		unsigned c1, c2, c3, c4, len;
		end = 0;
		if (sscanf(s.service_cidr, "%u.%u.%u.%u/%u%n", &c1, &c2, &c3, &c4, &len, &end) != 5 ||
		    s.service_cidr[end] || c1 > 255 || c2 > 255 || c3 > 255 || c4 > 255 || len < 8 ||
		    len > 28) {
			fprintf(stderr, "skiff up: --service-cidr: \"%s\" is not an IPv4 CIDR of /8 to "
				"/28\n", s.service_cidr);
			return 2;
		}
		if (s.port > 65535 - SKIFF_KUBELET_PORT_OFFSET) {
			fprintf(stderr, "skiff up: node 1's kubelet API takes port --port+%d (and --store "
				"etcd +1 and +2): give a --port below %d\n", SKIFF_KUBELET_PORT_OFFSET,
				65536 - SKIFF_KUBELET_PORT_OFFSET);
			return 2;
		}
	}
	if (streq(cmd, "service") && argc - 1 - a.operand != 1) {
		fprintf(stderr, "skiff service: give one Service NAME\n");
		return 2;
	}
	data_dir_resolve(&s);
	if (streq(cmd, "up"))
		return cmd_up(&s, a.timeout, a.update_kubeconfig);
	if (streq(cmd, "service"))
		return skiff_service(&s, argv[1 + a.operand], a.ns);
	return streq(cmd, "down") ? cmd_down(&s, a.purge) : cmd_status(&s);
}
