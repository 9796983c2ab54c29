/* skiff-server: the Kubernetes API server of skiff. Parses options,
 * opens the store, makes TLS material on first start, serves until
 * SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/route.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "control/api.h"
#include "control/api_join.h"
#include "control/ctrl_manager.h"
#include "control/store.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/prom.h"
#include "lib/util.h"

/* What the command line gives: the server's configuration and what only
 * main uses. */
struct server_args {
	struct api_config cfg;
	struct ctrl_manager_config mgr; /* the controllers and the scheduler */
	const char *tls_san;
	int reconciler; /* --endpoint-reconciler-type: 1 lease, 0 none */
	char advertise[IPADDR_STRLEN]; /* the default advertise address */
	char sans[1024]; /* tls_san and the kubernetes Service's ClusterIP */
	enum log_level level;
	bool help;
	char store_url[4200];
};

/* --service-cluster-ip-range: one CIDR per family, checked here. */
static int opt_svc_ranges(const struct opt *o, const char *arg, void *dst, char *err,
			  size_t errlen)
{
	struct api_svc_range ranges[2];
	size_t n;

	(void)o;
	if (api_svc_ranges_parse(arg, ranges, &n) < 0)
		return set_err(err, errlen, -EINVAL,
			       "invalid \"%s\" (want an IPv4 CIDR /12../30 and/or an IPv6 CIDR "
			       "/108../126, comma-separated, one per family)", arg);
	*(const char **)dst = arg;
	return 0;
}

/* An IP address, kept as its text. */
static int opt_ip(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	struct ipaddr a;

	(void)o;
	if (ipaddr_parse(arg, &a) < 0)
		return set_err(err, errlen, -EINVAL, "\"%s\" is not an IP address", arg);
	*(const char **)dst = arg;
	return 0;
}

/* --service-node-port-range LO-HI into the configuration's two ports. */
static int opt_port_range(const struct opt *o, const char *arg, void *dst, char *err,
			  size_t errlen)
{
	struct api_config *cfg = dst;
	int lo, hi;
	char end;

	(void)o;
	if (sscanf(arg, "%d-%d%c", &lo, &hi, &end) != 2 || lo < 1 || hi > 65535 || lo > hi)
		return set_err(err, errlen, -EINVAL, "invalid range \"%s\" (want LO-HI)", arg);
	cfg->node_port_min = lo;
	cfg->node_port_max = hi;
	return 0;
}

static const struct opt_choice reconcilers[] = { { "lease", 1 }, { "none", 0 }, { NULL, 0 } };

#define CFG(field) offsetof(struct server_args, cfg.field)
#define ARG(field) offsetof(struct server_args, field)

/* One row per flag: its argument, help, default, handler and field. */
static const struct opt options[] = {
	{ .name = "data-dir", .arg = "DIR", .help = "state, TLS material and kubeconfig",
	  .def = "/var/lib/skiff/server", .set = opt_string, .offset = CFG(data_dir) },
	{ .name = "store", .arg = "URL",
	  .help = "sqlite:///path or etcd://host:port[,...]\n(default sqlite://<data-dir>/state.db)",
	  .set = opt_string, .offset = CFG(store_url) },
	{ .name = "bind-address", .arg = "ADDR", .help = "address of the HTTPS listener",
	  .def = "0.0.0.0", .set = opt_string, .offset = CFG(bind_address) },
	{ .name = "secure-port", .arg = "PORT", .help = "HTTPS port; 0 disables HTTPS",
	  .def = "6443", .set = opt_int, .offset = CFG(secure_port), .min = 0, .max = 65535 },
	{ .name = "insecure-port", .arg = "PORT",
	  .help = "plain HTTP on 127.0.0.1 only, no authentication; 0: off", .def = "0",
	  .set = opt_int, .offset = CFG(insecure_port), .min = 0, .max = 65535 },
	{ .name = "advertise-address", .arg = "IP",
	  .help = "this server's address for the cluster: the endpoint of Service default/kubernetes, "
	  "also the host of <data-dir>/kubeconfig (default, as kube-apiserver: --bind-address, or "
	  "when that is 0.0.0.0, :: or loopback the address of the interface with the default "
	  "route; the kubeconfig then names 127.0.0.1)",
	  .set = opt_ip, .offset = CFG(advertise_address) },
	{ .name = "endpoint-reconciler-type", .arg = "TYPE",
	  .help = "lease: every server on the store lists its advertise address in the endpoints of "
	  "default/kubernetes while it renews its lease; none: nobody writes them",
	  .def = "lease", .set = opt_choice, .offset = ARG(reconciler), .choices = reconcilers },
	{ .name = "endpoint-lease-ttl", .arg = "SECS",
	  .help = "how long a server that stopped renewing (every 2/3 of this) stays an endpoint of "
	  "default/kubernetes", .def = "15", .set = opt_int, .offset = CFG(endpoint_lease_ttl),
	  .min = 1, .max = 3600 },
	{ .name = "tls-san", .arg = "HOST[,HOST...]",
	  .help = "extra names/IPs for the serving certificate (default: none)",
	  .set = opt_string, .offset = ARG(tls_san) },
	{ .name = "token-auth-file", .arg = "FILE",
	  .help = "static bearer tokens, lines \"token,user[,uid,groups]\" (default: none)",
	  .set = opt_string, .offset = CFG(token_file) },
	{ .name = "service-cluster-ip-range", .arg = "CIDR[,CIDR]",
	  .help = "ClusterIP ranges, one per family; two make the cluster dual-stack",
	  .def = API_DEFAULT_SERVICE_CIDR, .set = opt_svc_ranges, .offset = CFG(service_cidr) },
	{ .name = "cluster-dns", .arg = "IP",
	  .help = "ClusterIP of the cluster DNS Service kube-system/kube-dns, in the first range "
	  "(default its 10th address, as kubeadm: 10.96.0.10 in 10.96.0.0/12)",
	  .set = opt_ip, .offset = CFG(cluster_dns) },
	{ .name = "service-node-port-range", .arg = "LO-HI", .help = "NodePort range",
	  .def = "30000-32767", .set = opt_port_range, .offset = ARG(cfg) },
	{ .name = "compaction-interval", .arg = "SECS",
	  .help = "drop watch history older than this; 0: never", .def = "300", .set = opt_int,
	  .offset = CFG(compact_interval), .min = 0, .max = INT_MAX },
	{ .name = "max-request-bytes", .arg = "N", .help = "request body limit", .def = "3145728",
	  .set = opt_size, .offset = CFG(max_body), .min = 1024, .max = LONG_MAX },
	{ .name = "log-level", .arg = "LEVEL", .help = "error, warn, info or debug", .def = "info",
	  .set = opt_log_level, .offset = ARG(level) },
	{ .name = "help", .short_name = 'h', .help = "this text", .set = opt_flag,
	  .offset = ARG(help) },
};

/* The server's rows, then the controller manager's (their offsets moved
 * to where its config sits in server_args). */
static size_t all_options(struct opt *all, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(options) && n < max; i++)
		all[n++] = options[i];
	for (size_t i = 0; i < ctrl_manager_n_options && n < max; i++) {
		all[n] = ctrl_manager_options[i];
		all[n++].offset += ARG(mgr);
	}
	return n;
}

#define OPTIONS_MAX 48

static void usage(FILE *f)
{
	struct opt all[OPTIONS_MAX];
	size_t n = all_options(all, ARRAY_SIZE(all));

	fprintf(f,
		"Usage: skiff-server [OPTIONS]\n"
		"       skiff-server [--data-dir DIR] [--store URL] snapshot save|restore FILE\n"
		"\n"
		"The Kubernetes API server of skiff: serves the Kubernetes REST API (discovery,\n"
		"CRUD, patch, watch, tables) over a revisioned store, for kubectl and skiff-agent,\n"
		"and runs the controllers and the scheduler in-process while it holds their Leases.\n"
		"\n"
		"Options:\n");
	opts_usage(f, all, n);
	fprintf(f,
		"\n"
		"Snapshots (of either backend, in one portable file; restore with no server running):\n"
		"  snapshot save FILE          a consistent copy of every object at one revision\n"
		"  snapshot restore FILE       replaces the store's content with the snapshot; a store\n"
		"                              that holds data is first saved to\n"
		"                              <data-dir>/pre-restore-<time>.snap. Resource versions keep\n"
		"                              growing: watches from before the restore get 410 Gone.\n"
		"\n"
		"On first start a CA, a serving certificate and an admin client certificate are made\n"
		"under <data-dir>/tls, and <data-dir>/kubeconfig is written for kubectl --kubeconfig.\n"
		"Nodes join with the token in <data-dir>/token: skiff-agent --server URL --token TOKEN.\n");
}

/* The options of argv into a; the index of the first operand (a snapshot
 * command), or -1 after logging why the command line is wrong. */
static int parse_args(int argc, char **argv, struct server_args *a)
{
	struct opt all[OPTIONS_MAX];
	size_t n = all_options(all, ARRAY_SIZE(all));
	char err[512];
	int first = opts_parse(all, n, argc, argv, a, 0, err, sizeof(err));

	if (first < 0 || (first >= 0 && ctrl_manager_config_check(&a->mgr, err, sizeof(err)) < 0)) {
		log_error("%s (see --help)", err);
		return -1;
	}
	if (a->help)
		return first;
	if (first < argc && !streq(argv[first], "snapshot")) {
		log_error("unexpected argument \"%s\"", argv[first]);
		return -1;
	}
	if (!a->cfg.secure_port && !a->cfg.insecure_port) {
		log_error("nothing to serve: both --secure-port and --insecure-port are 0");
		return -1;
	}
	return first;
}

/* The address of the interface with the IPv4 default route, as
 * kube-apiserver's ChooseHostInterface finds it; -ENOENT when none. */
static int host_default_address(char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/net/route", "re");
	struct ifaddrs *ifs = NULL;
	char line[256], dev[64] = "", name[64];
	unsigned dst, flags, mask;
	int r = -ENOENT;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %x %*x %x %*d %*d %*d %x", name, &dst, &flags, &mask) == 4 &&
		    dst == 0 && mask == 0 && (flags & RTF_UP)) {
			strscpy(dev, name, sizeof(dev));
			break;
		}
	if (!dev[0] || getifaddrs(&ifs) < 0)
		return -ENOENT;
	for (struct ifaddrs *i = ifs; i && r < 0; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && streq(i->ifa_name, dev) &&
		    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf, len))
			r = 0;
	freeifaddrs(ifs);
	return r;
}

/* The advertise address when none is given (--bind-address, or when that
 * reaches no one the default route's interface), the kubeconfig's host,
 * the reconciler's type, and the serving certificate's names (with the
 * kubernetes Service's ClusterIP, which pods dial). */
static void advertise_defaults(struct server_args *a)
{
	struct api_config *cfg = &a->cfg;
	struct api_svc_range ranges[2];
	struct ipaddr bind;
	char svc_ip[IPADDR_STRLEN];
	size_t n;
	bool specific = cfg->bind_address && ipaddr_parse(cfg->bind_address, &bind) == 0 &&
			!ipaddr_is_unspecified(&bind);

	if (cfg->advertise_address) {
		cfg->advertise_host = cfg->advertise_address;
	} else {
		cfg->advertise_host = specific ? cfg->bind_address : "127.0.0.1";
		if (specific && !ipaddr_is_loopback(&bind))
			cfg->advertise_address = cfg->bind_address;
		else if (host_default_address(a->advertise, sizeof(a->advertise)) == 0)
			cfg->advertise_address = a->advertise;
	}
	if (!a->reconciler)
		cfg->endpoint_lease_ttl = 0;
	if (api_svc_ranges_parse(cfg->service_cidr, ranges, &n) == 0) {
		api_svc_range_addr(&ranges[0], 1, svc_ip, sizeof(svc_ip));
		snprintf(a->sans, sizeof(a->sans), "%s%s%s", a->tls_san ?: "", a->tls_san ? "," : "",
			 svc_ip);
		a->tls_san = a->sans;
	}
}

/* The data dir exists, and the store is in it unless --store says otherwise. */
static int data_dir_prepare(struct server_args *a)
{
	if (mkdir(a->cfg.data_dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create data dir %s: %m", a->cfg.data_dir);
		return -1;
	}
	if (!a->cfg.store_url) {
		snprintf(a->store_url, sizeof(a->store_url), "sqlite://%s/state.db", a->cfg.data_dir);
		a->cfg.store_url = a->store_url;
	}
	return 0;
}

/* skiff-server snapshot save|restore FILE, on the store of --data-dir or
 * --store. */
static int run_snapshot(const struct api_config *cfg, int argc, char **argv)
{
	struct store *store = NULL;
	char backup[4200];
	int64_t rev = 0;
	bool saved = false;
	int r;

	if (argc != 3 || (!streq(argv[1], "save") && !streq(argv[1], "restore"))) {
		log_error("usage: skiff-server [--data-dir DIR] [--store URL] snapshot save|restore FILE");
		return 2;
	}
	if (streq(argv[1], "save")) {
		r = store_open(cfg->store_url, &store);
		if (r < 0) {
			log_error("cannot open store %s: %s", cfg->store_url, strerror(-r));
			return 1;
		}
		r = store_snapshot_save(store, argv[2]);
		rev = store_revision(store);
		store_close(store);
		if (r < 0) {
			log_error("cannot save a snapshot of %s to %s: %s", cfg->store_url, argv[2],
				  strerror(-r));
			return 1;
		}
		log_info("saved %s at revision %lld to %s", cfg->store_url, (long long)rev, argv[2]);
		return 0;
	}
	snprintf(backup, sizeof(backup), "%s/pre-restore-%lld.snap", cfg->data_dir,
		 (long long)time(NULL));
	r = store_snapshot_replace(cfg->store_url, argv[2], backup, &rev, &saved);
	if (r < 0) {
		log_error("cannot restore %s from %s: %s", cfg->store_url, argv[2],
			  r == -EINVAL  ? "not a skiff snapshot"
			  : r == -EBUSY ? "a server is using the store; stop it first"
					: strerror(-r));
		return 1;
	}
	if (saved)
		log_info("the previous content of %s is saved in %s", cfg->store_url, backup);
	log_info("restored %s from %s; revision now %lld", cfg->store_url, argv[2], (long long)rev);
	return 0;
}

/* The CA, certificates and kubeconfig for the HTTPS listener. */
static int tls_prepare(const struct server_args *a)
{
	const struct api_config *cfg = &a->cfg;
	char url[300], token[512];
	int r;

	snprintf(url, sizeof(url), strchr(cfg->advertise_host, ':') ? "https://[%s]:%d" : "https://%s:%d",
		 cfg->advertise_host, cfg->secure_port);
	r = api_tls_ensure(cfg->data_dir, a->tls_san, url, NULL);
	if (r < 0) {
		log_error("cannot make TLS material under %s/tls: %s", cfg->data_dir, strerror(-r));
		return r;
	}
	r = api_join_token_ensure(cfg->data_dir, token, sizeof(token));
	if (r < 0)
		log_error("cannot write the node token %s/token: %s", cfg->data_dir, strerror(-r));
	return r;
}

/* Opens and locks the store, serves (with the controllers and the
 * scheduler) until SIGINT/SIGTERM; the exit code. */
static int serve(const struct api_config *args_cfg, const struct ctrl_manager_config *mgr_cfg)
{
	struct api_config with_metrics = *args_cfg, *cfg = &with_metrics;
	struct prom_registry *reg = NULL;
	struct store *store = NULL;
	struct api_server *srv = NULL;
	struct ctrl_manager *mgr = NULL;
	_cleanup_close_ int in_use = -1;
	sigset_t sigs;
	int r, sig;

	r = prom_registry_new(&reg);
	if (r < 0) {
		log_error("cannot set up the metrics: %s", strerror(-r));
		return 1;
	}
	cfg->metrics = reg;
	r = store_open(cfg->store_url, &store);
	if (r < 0) {
		log_error("cannot open store %s: %s", cfg->store_url, strerror(-r));
		prom_registry_free(reg);
		return 1;
	}
	store_set_metrics(store, reg);
	r = store_mark_in_use(cfg->store_url, &in_use);
	if (r < 0) {
		log_error("cannot lock store %s: %s", cfg->store_url, strerror(-r));
		store_close(store);
		prom_registry_free(reg);
		return 1;
	}
	r = api_server_new(cfg, store, &srv);
	if (r < 0) {
		log_error("cannot set up the API server: %s", strerror(-r));
		store_close(store);
		prom_registry_free(reg);
		return 1;
	}
	/* Signals are taken by sigwait below, never by the server threads. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = api_server_start(srv);
	if (r < 0) {
		log_error("cannot start listeners (secure %s:%d, insecure 127.0.0.1:%d): %s",
			  cfg->bind_address, cfg->secure_port, cfg->insecure_port, strerror(-r));
		api_server_free(srv);
		store_close(store);
		prom_registry_free(reg);
		return 1;
	}
	if (cfg->secure_port)
		log_info("serving HTTPS on %s:%d; kubeconfig %s/kubeconfig", cfg->bind_address,
			 cfg->secure_port, cfg->data_dir);
	if (cfg->insecure_port)
		log_info("serving plain HTTP on 127.0.0.1:%d", cfg->insecure_port);
	r = ctrl_manager_start(mgr_cfg, cfg, &mgr);
	if (r < 0)
		log_error("cannot start the controllers and the scheduler: %s", strerror(-r));
	sigwait(&sigs, &sig);
	log_info("signal %d: stopping", sig);
	ctrl_manager_free(mgr);
	api_server_free(srv);
	store_close(store);
	prom_registry_free(reg);
	return 0;
}

int main(int argc, char **argv)
{
	struct server_args a = { 0 };
	int first;

	log_init("skiff-server", LOG_LEVEL_INFO);
	first = parse_args(argc, argv, &a);
	if (first < 0)
		return 2;
	if (a.help) {
		usage(stdout);
		return 0;
	}
	if (data_dir_prepare(&a) < 0)
		return 1;
	advertise_defaults(&a);
	if (first < argc)
		return run_snapshot(&a.cfg, argc - first, argv + first);
	if (a.cfg.secure_port && tls_prepare(&a) < 0)
		return 1;
	return serve(&a.cfg, &a.mgr);
}
