/* skiff-cni: a CNI plugin giving each pod a routed veth (no bridge).
 * Runtimes call it with CNI_COMMAND and the network configuration on
 * stdin; humans get --help and --version. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/opts.h"
#include "cni/plugin.h"
#include "lib/util.h"

#define SKIFF_CNI_VERSION "0.1.0"

struct cli_args {
	bool help, version;
};

static const struct opt options[] = {
	{ .name = "help", .short_name = 'h', .help = "show this text", .set = opt_flag,
	  .offset = offsetof(struct cli_args, help) },
	{ .name = "version", .short_name = 'V',
	  .help = "show the version and the CNI versions supported", .set = opt_flag,
	  .offset = offsetof(struct cli_args, version) },
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [--help | --version]\n"
		"\n"
		"skiff-cni is a CNI plugin (spec 0.3.0 to 1.1.0): a routed veth per pod,\n"
		"no bridge. The pod's interface gets its addresses as /32 and /128 with a\n"
		"default route through a gateway held by the host-side veth (named skf<hash>\n"
		"of container ID and ifname); the node routes each pod address to its veth.\n"
		"\n"
		"A container runtime runs it with CNI_COMMAND (ADD, DEL, CHECK, VERSION,\n"
		"STATUS, GC), CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH\n"
		"set and the network configuration on stdin, for example:\n"
		"\n"
		"  {\"cniVersion\": \"1.0.0\", \"name\": \"skiff\", \"type\": \"skiff-cni\", \"mtu\": 1500,\n"
		"   \"ipam\": {\"type\": \"skiff-ipam\", \"ranges\": [[{\"subnet\": \"10.244.0.0/24\"}]]}}\n"
		"\n"
		"ipam.type \"skiff-ipam\" runs in-process; any other IPAM plugin (host-local)\n"
		"is run from CNI_PATH. The result goes to stdout in the config's cniVersion;\n"
		"errors as the spec's error JSON on stdout with a non-zero exit status.\n"
		"\n"
		"Environment: SKIFF_CNI_LOG_LEVEL=error|warn|info|debug (stderr; debug times\n"
		"each step of ADD and DEL).\n"
		"\n"
		"Options:\n",
		prog);
	opts_usage(f, options, ARRAY_SIZE(options));
}

/* The human interface, used when CNI_COMMAND is unset. */
static int cli_main(int argc, char **argv)
{
	struct cli_args a = { 0 };
	char err[256];

	if (opts_parse(options, ARRAY_SIZE(options), argc, argv, &a, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], err);
		usage(stderr, argv[0]);
		return 2;
	}
	if (a.help) {
		usage(stdout, argv[0]);
		return 0;
	}
	if (a.version) {
		printf("skiff-cni %s\nCNI versions:", SKIFF_CNI_VERSION);
		for (const char *const *v = cni_supported_versions; *v; v++)
			printf(" %s", *v);
		printf("\n");
		return 0;
	}
	fprintf(stderr, "%s: CNI_COMMAND is not set; this is a CNI plugin run by a container runtime (see --help)\n",
		argv[0]);
	return 2;
}

/* Keys skiff-cni understands in CNI_ARGS (what Kubernetes runtimes send,
 * and IP for requested addresses). */
static const char *const known_args[] = {
	"K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID", "IP",
	NULL,
};

/* cniVersion of a config we could not fully parse, for the error answer. */
static const char *guess_version(const char *raw, size_t len, char *buf, size_t size)
{
	json_t *j = json_loadb(raw, len, 0, NULL);
	const char *v = json_string_value(json_object_get(j, "cniVersion"));

	if (v && cni_version_supported(v))
		strscpy(buf, v, size);
	else
		strscpy(buf, "1.1.0", size);
	json_decref(j);
	return buf;
}

static int run_version(const char *raw, size_t len)
{
	char buf[16];
	json_t *j = cni_version_info(guess_version(raw, len, buf, sizeof(buf)));
	int r = cni_print_json(j);

	json_decref(j);
	return r;
}

static int run(struct cni_plugin *p, struct cni_error *err)
{
	json_t *result = NULL;
	int r;

	switch (p->env.cmd) {
	case CNI_CMD_ADD:
		r = cni_plugin_add(p, &result, err);
		if (r == 0) {
			r = cni_print_json(result);
			json_decref(result);
		}
		return r;
	case CNI_CMD_DEL:
		return cni_plugin_del(p, err);
	case CNI_CMD_CHECK:
		return cni_plugin_check(p, err);
	case CNI_CMD_GC:
		return cni_plugin_gc(p, err);
	case CNI_CMD_STATUS:
		return cni_plugin_status(p, err);
	case CNI_CMD_VERSION:
		break;
	}
	return 0;
}

static void log_setup(const char *prog)
{
	const char *env = getenv("SKIFF_CNI_LOG_LEVEL");
	enum log_level level = LOG_LEVEL_INFO;

	if (env && log_level_parse(env, &level) < 0)
		level = LOG_LEVEL_INFO;
	log_init(prog, level);
}

/* Environment, CNI_ARGS and configuration, checked in the spec's order. */
static int plugin_init(struct cni_plugin *p, const char *raw, size_t len, struct cni_error *err)
{
	int r = cni_env_parse(&p->env, err);

	if (r < 0 || p->env.cmd == CNI_CMD_VERSION)
		return r;
	r = cni_args_validate(p->env.args, known_args, err);
	if (r < 0)
		return r;
	r = cni_netconf_parse(raw, len, p->env.cmd, &p->conf, err);
	if (r < 0)
		return r;
	p->out_version = p->conf.version;
	return 0;
}

/* DEL is best effort (CNI spec): a configuration broken after ADD must not
 * leave the runtime unable to remove the pod forever. The link is derived
 * from the container ID alone, so it still goes; the addresses cannot be
 * found without the IPAM config and stay until GC (or a DEL with a fixed
 * config) releases them. */
static int del_despite_config(struct cni_plugin *p, const struct cni_error *cfg_err)
{
	struct cni_error err = { 0 };
	int r = cni_plugin_del_link(&p->env, &err);

	log_warn("DEL container %s: config invalid (%s); removed the host veth, "
		 "addresses (if any) stay until GC", p->env.container_id, cfg_err->msg);
	if (r < 0) {
		log_error("DEL container %s: %s", p->env.container_id, err.msg);
		cni_print_error("1.1.0", &err);
		return 1;
	}
	return 0;
}

/* jansson seeds its hash function on the first object from /dev/urandom
 * (open, read, close); one getrandom() does the same. */
static void json_seed(void)
{
	uint32_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed) && seed != 0)
		json_object_seed(seed);
}

int main(int argc, char **argv)
{
	struct cni_plugin p = { 0 };
	struct cni_error err = { 0 };
	_cleanup_free_ char *raw = NULL;
	char version[16] = "1.1.0";
	size_t len = 0;
	int r;

	log_setup(argv[0]);
	if (argc > 1 || !getenv("CNI_COMMAND"))
		return cli_main(argc, argv);
	json_seed();

	r = read_all(STDIN_FILENO, CNI_MAX_CONFIG, &raw, &len);
	if (r < 0) {
		cni_fail(&err, -r, CNI_ERR_IO, "reading the config from stdin: %s", strerror(-r));
		goto fail;
	}
	guess_version(raw, len, version, sizeof(version));
	r = plugin_init(&p, raw, len, &err);
	if (r < 0 && p.env.cmd == CNI_CMD_DEL && p.env.container_id &&
	    (err.code == CNI_ERR_INVALID_CONFIG || err.code == CNI_ERR_DECODE))
		return del_despite_config(&p, &err);
	if (r < 0)
		goto fail;
	if (p.env.cmd == CNI_CMD_VERSION)
		return run_version(raw, len) < 0 ? 1 : 0;
	r = run(&p, &err);
	cni_netconf_done(&p.conf);
	if (r < 0)
		goto fail;
	return 0;

fail:
	log_error("%s%s%s: %s%s%s", p.env.command ? p.env.command : "CNI",
		  p.env.container_id ? " container " : "",
		  p.env.container_id ? p.env.container_id : "", err.msg,
		  err.details[0] ? ": " : "", err.details);
	cni_print_error(version, &err);
	return 1;
}
