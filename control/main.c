/* skiff-server: the Kubernetes API server of skiff. Parses options,
 * opens the store, makes TLS material on first start, serves until
 * SIGINT/SIGTERM. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "control/api.h"
#include "control/store.h"
#include "log.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: skiff-server [OPTIONS]\n"
		"       skiff-server [--data-dir DIR] [--store URL] snapshot save|restore FILE\n"
		"\n"
		"The Kubernetes API server of skiff: serves the Kubernetes REST API (discovery,\n"
		"CRUD, patch, watch, tables) over a revisioned store, for kubectl and skiff-agent.\n"
		"\n"
		"Options:\n"
		"  --data-dir DIR              state, TLS material and kubeconfig (default /var/lib/skiff/server)\n"
		"  --store URL                 sqlite:///path or etcd://host:port[,...] (default sqlite under --data-dir)\n"
		"  --bind-address ADDR         address of the HTTPS listener (default 0.0.0.0)\n"
		"  --secure-port PORT          HTTPS port (default 6443; 0 disables HTTPS)\n"
		"  --insecure-port PORT        plain HTTP on 127.0.0.1 only, no authentication (default 0: off)\n"
		"  --advertise-address HOST    host written into <data-dir>/kubeconfig (default 127.0.0.1)\n"
		"  --tls-san HOST[,HOST...]    extra names/IPs for the serving certificate\n"
		"  --token-auth-file FILE      static bearer tokens, lines \"token,user[,uid,groups]\"\n"
		"  --service-cluster-ip-range CIDR[,CIDR]  ClusterIP ranges, one per family; two make\n"
		"                              the cluster dual-stack (default 10.43.0.0/16)\n"
		"  --service-node-port-range LO-HI   NodePort range (default 30000-32767)\n"
		"  --compaction-interval SECS  drop watch history older than this (default 300; 0: never)\n"
		"  --max-request-bytes N       request body limit (default 3145728)\n"
		"  --log-level LEVEL           error, warn, info or debug (default info)\n"
		"  -h, --help                  this text\n"
		"\n"
		"Snapshots (of either backend, in one portable file; restore with no server running):\n"
		"  snapshot save FILE          a consistent copy of every object at one revision\n"
		"  snapshot restore FILE       replaces the store's content with the snapshot; a store\n"
		"                              that holds data is first saved to\n"
		"                              <data-dir>/pre-restore-<time>.snap. Resource versions keep\n"
		"                              growing: watches from before the restore get 410 Gone.\n"
		"\n"
		"On first start a CA, a serving certificate and an admin client certificate are made\n"
		"under <data-dir>/tls, and <data-dir>/kubeconfig is written for kubectl --kubeconfig.\n");
}

enum {
	OPT_DATA_DIR = 256,
	OPT_STORE,
	OPT_BIND,
	OPT_SECURE_PORT,
	OPT_INSECURE_PORT,
	OPT_ADVERTISE,
	OPT_TLS_SAN,
	OPT_TOKEN_FILE,
	OPT_SVC_RANGE,
	OPT_NODEPORT_RANGE,
	OPT_MAX_BODY,
	OPT_LOG_LEVEL,
	OPT_COMPACT,
};

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

static int parse_port(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v < 0 || v > 65535)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, OPT_DATA_DIR },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "bind-address", required_argument, NULL, OPT_BIND },
		{ "secure-port", required_argument, NULL, OPT_SECURE_PORT },
		{ "insecure-port", required_argument, NULL, OPT_INSECURE_PORT },
		{ "advertise-address", required_argument, NULL, OPT_ADVERTISE },
		{ "tls-san", required_argument, NULL, OPT_TLS_SAN },
		{ "token-auth-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "service-cluster-ip-range", required_argument, NULL, OPT_SVC_RANGE },
		{ "service-node-port-range", required_argument, NULL, OPT_NODEPORT_RANGE },
		{ "max-request-bytes", required_argument, NULL, OPT_MAX_BODY },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "compaction-interval", required_argument, NULL, OPT_COMPACT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct api_config cfg = {
		.data_dir = "/var/lib/skiff/server",
		.bind_address = "0.0.0.0",
		.secure_port = 6443,
		.service_cidr = "10.43.0.0/16",
		.node_port_min = 30000,
		.node_port_max = 32767,
		.advertise_host = "127.0.0.1",
		.compact_interval = 300,
	};
	const char *tls_san = NULL;
	char store_url[4200], url[300];
	struct store *store = NULL;
	struct api_server *srv = NULL;
	enum log_level level = LOG_LEVEL_INFO;
	_cleanup_close_ int in_use = -1;
	sigset_t sigs;
	int c, r, sig;

	log_init("skiff-server", LOG_LEVEL_INFO);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_DATA_DIR:
			cfg.data_dir = optarg;
			break;
		case OPT_STORE:
			cfg.store_url = optarg;
			break;
		case OPT_BIND:
			cfg.bind_address = optarg;
			break;
		case OPT_SECURE_PORT:
			if (parse_port(optarg, &cfg.secure_port) < 0) {
				log_error("--secure-port: invalid port \"%s\"", optarg);
				return 2;
			}
			break;
		case OPT_INSECURE_PORT:
			if (parse_port(optarg, &cfg.insecure_port) < 0) {
				log_error("--insecure-port: invalid port \"%s\"", optarg);
				return 2;
			}
			break;
		case OPT_ADVERTISE:
			cfg.advertise_host = optarg;
			break;
		case OPT_TLS_SAN:
			tls_san = optarg;
			break;
		case OPT_TOKEN_FILE:
			cfg.token_file = optarg;
			break;
		case OPT_SVC_RANGE:
			cfg.service_cidr = optarg;
			break;
		case OPT_NODEPORT_RANGE:
			if (sscanf(optarg, "%d-%d", &cfg.node_port_min, &cfg.node_port_max) != 2 ||
			    cfg.node_port_min < 1 || cfg.node_port_max > 65535 ||
			    cfg.node_port_min > cfg.node_port_max) {
				log_error("--service-node-port-range: invalid range \"%s\" (want LO-HI)", optarg);
				return 2;
			}
			break;
		case OPT_MAX_BODY:
			cfg.max_body = strtoul(optarg, NULL, 10);
			if (cfg.max_body < 1024) {
				log_error("--max-request-bytes: must be at least 1024");
				return 2;
			}
			break;
		case OPT_COMPACT: {
			char *end;

			cfg.compact_interval = (int)strtol(optarg, &end, 10);
			if (*end || cfg.compact_interval < 0) {
				log_error("--compaction-interval: want seconds, got \"%s\"", optarg);
				return 2;
			}
			break;
		}
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) < 0) {
				log_error("--log-level: unknown level \"%s\"", optarg);
				return 2;
			}
			log_set_level(level);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc && !streq(argv[optind], "snapshot")) {
		log_error("unexpected argument \"%s\"", argv[optind]);
		return 2;
	}
	{
		struct api_svc_range ranges[2];
		size_t n;

		if (api_svc_ranges_parse(cfg.service_cidr, ranges, &n) < 0) {
			log_error("--service-cluster-ip-range: invalid \"%s\" (want an IPv4 CIDR /12../30 "
				  "and/or an IPv6 CIDR /108../126, comma-separated, one per family)",
				  cfg.service_cidr);
			return 2;
		}
	}
	if (!cfg.secure_port && !cfg.insecure_port) {
		log_error("nothing to serve: both --secure-port and --insecure-port are 0");
		return 2;
	}
	if (mkdir(cfg.data_dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create data dir %s: %m", cfg.data_dir);
		return 1;
	}
	if (!cfg.store_url) {
		snprintf(store_url, sizeof(store_url), "sqlite://%s/state.db", cfg.data_dir);
		cfg.store_url = store_url;
	}
	if (optind < argc)
		return run_snapshot(&cfg, argc - optind, argv + optind);
	if (cfg.secure_port) {
		snprintf(url, sizeof(url), strchr(cfg.advertise_host, ':') ? "https://[%s]:%d" : "https://%s:%d",
			 cfg.advertise_host, cfg.secure_port);
		r = api_tls_ensure(cfg.data_dir, tls_san, url, NULL);
		if (r < 0) {
			log_error("cannot make TLS material under %s/tls: %s", cfg.data_dir, strerror(-r));
			return 1;
		}
	}
	r = store_open(cfg.store_url, &store);
	if (r < 0) {
		log_error("cannot open store %s: %s", cfg.store_url, strerror(-r));
		return 1;
	}
	r = store_mark_in_use(cfg.store_url, &in_use);
	if (r < 0) {
		log_error("cannot lock store %s: %s", cfg.store_url, strerror(-r));
		store_close(store);
		return 1;
	}
	r = api_server_new(&cfg, store, &srv);
	if (r < 0) {
		log_error("cannot set up the API server: %s", strerror(-r));
		store_close(store);
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
			  cfg.bind_address, cfg.secure_port, cfg.insecure_port, strerror(-r));
		api_server_free(srv);
		store_close(store);
		return 1;
	}
	if (cfg.secure_port)
		log_info("serving HTTPS on %s:%d; kubeconfig %s/kubeconfig", cfg.bind_address,
			 cfg.secure_port, cfg.data_dir);
	if (cfg.insecure_port)
		log_info("serving plain HTTP on 127.0.0.1:%d", cfg.insecure_port);
	sigwait(&sigs, &sig);
	log_info("signal %d: stopping", sig);
	api_server_free(srv);
	store_close(store);
	return 0;
}
