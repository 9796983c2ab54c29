/* skiff-ipam: the IPAM plugin as a standalone CNI binary, for skiff-cni's
 * peers (the reference bridge and ptp plugins) to delegate to. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cni/cni.h"
#include "cni/ipam.h"
#include "lib/log.h"
#include "lib/util.h"

#define IPAM_CONF_MAX (1024 * 1024)

static const char ipam_usage[] =
	"Usage: skiff-ipam   (a CNI IPAM plugin, run by a CNI runtime or plugin)\n"
	"\n"
	"Reads the network configuration on stdin and CNI_COMMAND, CNI_CONTAINERID,\n"
	"CNI_NETNS, CNI_IFNAME, CNI_ARGS and CNI_PATH from the environment.\n"
	"Commands: ADD DEL CHECK VERSION STATUS GC (CNI spec 0.3.0 to 1.1.0).\n"
	"\n"
	"Configuration (the \"ipam\" object; host-local's keys):\n"
	"  ranges       [[{subnet, rangeStart, rangeEnd, gateway}, ...], ...]\n"
	"               one address per range set (dual-stack: one v4, one v6 set)\n"
	"  subnet, rangeStart, rangeEnd, gateway   legacy single range\n"
	"  routes       [{dst, gw}]\n"
	"  dataDir      lease store folder (default /var/lib/cni/networks);\n"
	"               leases live in <dataDir>/<name>/leases.db (SQLite)\n"
	"  resolvConf   a resolv.conf whose nameserver/domain/search/options\n"
	"               become the result's dns\n"
	"Requested addresses: CNI_ARGS IP=a,b; args.cni.ips; runtimeConfig.ips.\n"
	"\n"
	"Options:\n"
	"  -h, --help   this text\n";

struct ipam_run {
	struct cni_env env;
	json_t *conf;
	const char *version;
	struct ipam_config *ipam;
};

static int read_conf(struct ipam_run *run, struct cni_error *err)
{
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	json_t *v;
	size_t len;
	int r;

	r = read_all(STDIN_FILENO, IPAM_CONF_MAX, &text, &len);
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_IO, "cannot read the configuration on stdin: %s",
				strerror(-r));
	run->conf = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!run->conf)
		return cni_fail(err, EINVAL, CNI_ERR_DECODE,
				"configuration on stdin is not JSON: %s (line %d, column %d)",
				jerr.text, jerr.line, jerr.column);
	if (!json_is_object(run->conf))
		return cni_fail(err, EINVAL, CNI_ERR_DECODE,
				"configuration on stdin: expected a JSON object");
	v = json_object_get(run->conf, "cniVersion");
	if (!v)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "cniVersion: missing");
	if (!json_is_string(v))
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG, "cniVersion: expected a string");
	if (!cni_version_supported(json_string_value(v)))
		return cni_fail(err, ENOTSUP, CNI_ERR_INCOMPATIBLE_VERSION,
				"cniVersion: \"%s\" is not supported (0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)",
				json_string_value(v));
	run->version = json_string_value(v);
	return 0;
}

static int cmd_add(struct ipam_run *run, struct cni_error *err)
{
	struct cni_result res = { 0 };
	json_t *j;
	int r;

	r = ipam_add(run->ipam, run->env.container_id, run->env.ifname, &res, err);
	if (r < 0)
		return r;
	j = cni_result_encode(&res, run->version);
	cni_result_clear(&res);
	if (!j)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "cannot encode the result");
	r = cni_print_json(j);
	json_decref(j);
	return r < 0 ? cni_fail(err, -r, CNI_ERR_IO, "cannot write the result") : 0;
}

static int cmd_gc(struct ipam_run *run, struct cni_error *err)
{
	json_t *valid = json_object_get(run->conf, "cni.dev/valid-attachments");
	int r;

	if (!valid)
		valid = json_object_get(run->conf, "cni.dev/attachments");
	if (!valid)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"cni.dev/valid-attachments: missing");
	r = ipam_gc(run->ipam, valid, err);
	if (r > 0)
		log_info("network %s: GC released %d leases",
			 json_string_value(json_object_get(run->conf, "name")), r);
	return r < 0 ? r : 0;
}

static int run_command(struct ipam_run *run, struct cni_error *err)
{
	struct cni_error conf_err = { 0 };
	int r, rc;

	/* The configuration first, so that even an environment error is
	 * reported in the configuration's cniVersion. */
	rc = read_conf(run, &conf_err);
	r = cni_env_parse(&run->env, err);
	if (r < 0)
		return r;
	if (rc < 0) {
		*err = conf_err;
		return rc;
	}
	if (run->env.cmd == CNI_CMD_VERSION) {
		json_t *j = cni_version_info(run->version);

		r = cni_print_json(j);
		json_decref(j);
		return r;
	}
	r = ipam_config_parse(run->conf, &run->env, &run->ipam, err);
	if (r < 0)
		return r;
	switch (run->env.cmd) {
	case CNI_CMD_ADD:
		return cmd_add(run, err);
	case CNI_CMD_DEL:
		return ipam_del(run->ipam, run->env.container_id, run->env.ifname, err);
	case CNI_CMD_CHECK:
		return ipam_check(run->ipam, run->env.container_id, run->env.ifname, err);
	case CNI_CMD_STATUS:
		return ipam_status(run->ipam, err);
	case CNI_CMD_GC:
		return cmd_gc(run, err);
	default:
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_ENV, "CNI_COMMAND: unsupported");
	}
}

int main(int argc, char **argv)
{
	struct ipam_run run = { 0 };
	struct cni_error err = { 0 };
	int r;

	if ((argc > 1 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) ||
	    !getenv("CNI_COMMAND")) {
		fputs(ipam_usage, stdout);
		return 0;
	}
	log_init("skiff-ipam", LOG_LEVEL_WARN);
	r = run_command(&run, &err);
	if (r < 0) {
		cni_print_error(run.version, &err);
		log_debug("%s failed: %s", run.env.command ? run.env.command : "command", err.msg);
	}
	ipam_config_free(run.ipam);
	json_decref(run.conf);
	return r < 0 ? 1 : 0;
}
