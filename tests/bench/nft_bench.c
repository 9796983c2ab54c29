/* nft-bench: times skiff's nftables proxy mode (dataplane/nft_proxy.c) the
 * way skiff-agent --proxy-mode nftables drives it, for
 * tests/bench/bench_nftproxy.sh.
 *
 *   nft-bench --manifests DIR --table NAME [STAGED-FILE]...
 *
 * Loads DIR (the agent's manifest parsing), computes the desired state and
 * applies it into an empty table: the full sync. Then, for every STAGED
 * FILE in order, renames it into DIR (a service added, or one changed),
 * waits for the folder watch to report it, brings the store up to date and
 * applies again through skiff-agent's own sync (proxy_mode_sync with the
 * nftables mode): only the services that changed are recomputed and
 * applied, everything when that cannot be done. One line of
 * key=value per sync on stdout (times in ms):
 *
 *   load services=N load_ms=..
 *   full services=N frontends=F compute_ms=.. apply_ms=.. cpu_ms=.. msgs=.. bytes=.. full=1 changed=all
 *   step file=NAME services=N frontends=F compute_ms=.. apply_ms=.. cpu_ms=.. msgs=.. bytes=.. full=0|1 changed=K|all
 *
 * load_ms is reading and parsing DIR, compute_ms the desired state's
 * computation (pure), apply_ms the batch built, sent and acked, cpu_ms the
 * CPU time both took (user and system: the kernel applies the batch in
 * the sendmsg), changed the number of services recomputed. Exits 1 when a sync fails or a
 * staged file is not seen. */
#include "dataplane/manifest.h"
#include "dataplane/nft_proxy.h"
#include "dataplane/proxy.h"

#include "lib/log.h"
#include "lib/util.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <sys/resource.h>

struct bench {
	const char *dir;
	struct proxy_config cfg;
	struct model_store *store;
	struct model_source src;
	bool have_src;
	struct nftp *nftp;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nft-bench --manifests DIR [--table NAME] [--cluster-cidr CIDR] [STAGED-FILE]...\n"
		"Times skiff's nftables proxy mode: a full sync of the Services and\n"
		"EndpointSlices in DIR into an empty table, then one incremental sync per\n"
		"STAGED-FILE, each renamed into DIR in turn (\"rm:NAME\": DIR/NAME deleted,\n"
		"a service removed). One key=value line per sync.\n"
		"\n"
		"  --manifests DIR     folder of manifests (as skiff-agent reads)\n"
		"  --table NAME        the inet table (default " NFTP_DEFAULT_TABLE ")\n"
		"  --cluster-cidr CIDR pod network (IPv4); ClusterIP traffic from outside is masqueraded\n"
		"  --timeout-ms N      wait for the folder watch per staged file (default 5000)\n"
		"  -h, --help          this text\n");
}

static double ms_between(unsigned long long a, unsigned long long b)
{
	return (double)(b - a) / 1e6;
}

/* CPU time of the process, user and system (the kernel's work on the
 * batch is done in its sendmsg): unlike wall time, not stretched by other
 * work on a busy machine. */
static double cpu_ms(void)
{
	struct rusage u;

	if (getrusage(RUSAGE_SELF, &u) < 0)
		return 0;
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

/* Brings the table up to date with the store through skiff-agent's own
 * sync (proxy_mode_sync): the services marked dirty only, or everything
 * (the first time, or when the store or the table asks for it). Prints
 * the times it reports. label: the line's head. */
static int bench_sync(struct bench *b, const char *label)
{
	struct proxy_sync_report rep;
	struct nftp_stats st;
	char changed[32] = "all", err[512];
	int r;

	double cpu0 = cpu_ms();

	r = proxy_mode_sync(&nftp_mode_ops, b->nftp, b->store, &b->cfg, false, &rep, err,
			    sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	if (!rep.full)
		snprintf(changed, sizeof(changed), "%zu", rep.n_changed);
	nftp_last_stats(b->nftp, &st);
	printf("%s services=%zu frontends=%zu compute_ms=%.3f apply_ms=%.3f cpu_ms=%.1f msgs=%zu "
	       "bytes=%zu full=%d changed=%s\n",
	       label, model_store_count(b->store, MODEL_KIND_SERVICE), rep.n_fes,
	       (double)rep.compute_ns / 1e6, (double)rep.apply_ns / 1e6, cpu_ms() - cpu0, st.n_msgs,
	       st.n_bytes, st.full ? 1 : 0, changed);
	fflush(stdout);
	return 0;
}

/* Renames staged into the folder and waits until the watch has taken it in. */
static int bench_stage(struct bench *b, const char *staged, int timeout_ms)
{
	char copy[PATH_MAX], dst[PATH_MAX];
	unsigned long long deadline = now_ns() + (unsigned long long)timeout_ms * 1000000ULL;
	bool due = false;
	int r;

	bool rm = strncmp(staged, "rm:", 3) == 0; /* "rm:NAME": DIR/NAME deleted */

	if (strscpy(copy, rm ? staged + 3 : staged, sizeof(copy)) < 0 ||
	    snprintf(dst, sizeof(dst), "%s/%s", b->dir, basename(copy)) >= (int)sizeof(dst))
		return -ENAMETOOLONG;
	if (rm) {
		if (unlink(dst) < 0) {
			r = -errno;
			log_error("%s: cannot delete: %m", dst);
			return r;
		}
	} else if (rename(staged, dst) < 0) {
		r = -errno;
		log_error("%s: cannot move into %s: %m", staged, b->dir);
		return r;
	}
	/* The watch reports the move; a short quiet period catches the rest. */
	for (;;) {
		unsigned long long now = now_ns();
		struct pollfd pf = { .fd = b->src.fd(b->src.ctx), .events = POLLIN };
		int wait;

		if (now >= deadline)
			break;
		wait = due ? 20 : (int)((deadline - now) / 1000000ULL) + 1;
		r = poll(&pf, 1, wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 && due)
			break;
		if (r > 0) {
			r = b->src.on_readable(b->src.ctx);
			if (r < 0)
				return r;
			if (r > 0)
				due = true;
		}
	}
	if (!due) {
		log_error("%s: the folder watch did not report it within %d ms", dst, timeout_ms);
		return -ETIMEDOUT;
	}
	r = b->src.flush(b->src.ctx);
	if (r < 0)
		log_error("%s: cannot load: %s", dst, strerror(-r));
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "manifests", required_argument, NULL, 'm' },
		{ "table", required_argument, NULL, 't' },
		{ "cluster-cidr", required_argument, NULL, 'c' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bench b = { .cfg = { .default_algorithm = MODEL_ALG_RANDOM } };
	struct nftp_options no = { 0 };
	struct ipcidr cidr;
	unsigned long long t0, t1;
	long timeout_ms = 5000;
	char *end;
	int c, r;

	log_init("nft-bench", LOG_LEVEL_WARN);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			b.dir = optarg;
			break;
		case 't':
			no.table = optarg;
			break;
		case 'c':
			if (ipcidr_parse(optarg, &cidr, NULL) < 0 || cidr.addr.family != AF_INET) {
				log_error("--cluster-cidr: expected an IPv4 CIDR, got '%s'", optarg);
				return 2;
			}
			no.cluster_cidrs = &cidr;
			no.n_cluster_cidrs = 1;
			break;
		case 'T':
			errno = 0;
			timeout_ms = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || timeout_ms < 1 || timeout_ms > 600000) {
				log_error("--timeout-ms: expected 1 to 600000, got '%s'", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!b.dir) {
		log_error("--manifests is required (see --help)");
		return 2;
	}

	r = model_store_new(&b.store);
	if (r < 0)
		goto out;
	r = manifest_source_new(b.dir, b.store, log_report, NULL, &b.src);
	if (r < 0) {
		log_error("--manifests %s: %s", b.dir, strerror(-r));
		goto out;
	}
	b.have_src = true;
	t0 = now_ns();
	r = b.src.start(b.src.ctx);
	t1 = now_ns();
	if (r < 0) {
		log_error("--manifests %s: cannot load: %s", b.dir, strerror(-r));
		goto out;
	}
	printf("load services=%zu load_ms=%.3f\n", model_store_count(b.store, MODEL_KIND_SERVICE),
	       ms_between(t0, t1));
	r = nftp_open(&no, &b.nftp);
	if (r < 0) {
		log_error("cannot open the nftables netlink socket: %s", strerror(-r));
		goto out;
	}
	r = bench_sync(&b, "full");
	for (int i = optind; r == 0 && i < argc; i++) {
		char label[PATH_MAX + 16], copy[PATH_MAX];

		r = bench_stage(&b, argv[i], (int)timeout_ms);
		if (r < 0)
			break;
		if (strscpy(copy, argv[i], sizeof(copy)) < 0) {
			r = -ENAMETOOLONG;
			break;
		}
		snprintf(label, sizeof(label), "step file=%s", basename(copy));
		r = bench_sync(&b, label);
	}
out:
	nftp_free(b.nftp);
	if (b.have_src)
		model_source_free(&b.src);
	model_store_free(b.store);
	return r < 0 ? 1 : 0;
}
