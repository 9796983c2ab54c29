/* cri-tool: a small CRI client for tests and people (no crictl here).
 * Prints JSON on stdout; errors name the call and carry the gRPC status. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dataplane/cri/cri.h"
#include "dataplane/cri/cri_json.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/util.h"

struct tool_opts {
	const char *socket;
	int timeout_s; /* 0: the client's default */
	bool quiet;
	bool help;
};

struct tool_ctx {
	struct tool_opts opts;
	struct cri_client *client;
};

static int print_json(json_t *j)
{
	if (!j)
		return -ENOMEM;
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}

static int call_failed(struct tool_ctx *t, const char *what, const char *id, int r)
{
	const struct grpc_status *st = cri_last_status(t->client);

	if (st->code >= 0)
		log_error("%s%s%s: %s (grpc-status %d %s: %s)", what, id ? " " : "", id ? id : "",
			  strerror(-r), st->code, grpc_code_name(st->code), st->message);
	else
		log_error("%s%s%s: %s%s%s", what, id ? " " : "", id ? id : "", strerror(-r),
			  st->message[0] ? ": " : "", st->message);
	return r;
}

static json_t *load_json_file(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	if (!j)
		log_error("%s:%d: %s", path, e.line, e.text);
	return j;
}

static int load_pod_config(const char *path, Runtime__V1__PodSandboxConfig **cfg)
{
	char err[256];
	json_t *j = load_json_file(path);
	int r;

	if (!j)
		return -EINVAL;
	r = cri_json_pod_config(j, cfg, err, sizeof(err));
	json_decref(j);
	if (r < 0)
		log_error("%s: %s", path, err);
	return r;
}

static int cmd_version(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__VersionResponse *v = NULL;
	int r;

	(void)argc;
	(void)argv;
	r = cri_version(t->client, &v);
	if (r < 0)
		return call_failed(t, "Version", NULL, r);
	r = print_json(cri_json_version(v));
	cri_msg_free(v);
	return r;
}

static int cmd_runp(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__PodSandboxConfig *cfg = NULL;
	_cleanup_free_ char *id = NULL;
	int r;

	(void)argc;
	r = load_pod_config(argv[0], &cfg);
	if (r < 0)
		return r;
	r = cri_run_pod_sandbox(t->client, cfg, NULL, &id);
	cri_msg_free(cfg);
	if (r < 0)
		return call_failed(t, "RunPodSandbox", argv[0], r);
	puts(id);
	return 0;
}

static int cmd_stopp(struct tool_ctx *t, int argc, char **argv)
{
	int r;

	(void)argc;
	r = cri_stop_pod_sandbox(t->client, argv[0]);
	return r < 0 ? call_failed(t, "StopPodSandbox", argv[0], r) : 0;
}

static int cmd_rmp(struct tool_ctx *t, int argc, char **argv)
{
	int r;

	(void)argc;
	r = cri_remove_pod_sandbox(t->client, argv[0]);
	return r < 0 ? call_failed(t, "RemovePodSandbox", argv[0], r) : 0;
}

static int cmd_inspectp(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__PodSandboxStatusResponse *s = NULL;
	int r;

	(void)argc;
	r = cri_pod_sandbox_status(t->client, argv[0], true, &s);
	if (r < 0)
		return call_failed(t, "PodSandboxStatus", argv[0], r);
	r = print_json(cri_json_sandbox_status(s));
	cri_msg_free(s);
	return r;
}

static int cmd_pods(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__ListPodSandboxResponse *l = NULL;
	size_t i;
	int r;

	(void)argc;
	(void)argv;
	r = cri_list_pod_sandbox(t->client, NULL, &l);
	if (r < 0)
		return call_failed(t, "ListPodSandbox", NULL, r);
	if (t->opts.quiet) {
		for (i = 0; i < l->n_items; i++)
			puts(l->items[i]->id);
	} else {
		r = print_json(cri_json_sandbox_list(l));
	}
	cri_msg_free(l);
	return r;
}

static int cmd_create(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__PodSandboxConfig *pod = NULL;
	Runtime__V1__ContainerConfig *ctr = NULL;
	_cleanup_free_ char *id = NULL;
	char err[256];
	json_t *j;
	int r;

	(void)argc;
	j = load_json_file(argv[1]);
	if (!j)
		return -EINVAL;
	r = cri_json_container_config(j, &ctr, err, sizeof(err));
	json_decref(j);
	if (r < 0) {
		log_error("%s: %s", argv[1], err);
		return r;
	}
	r = load_pod_config(argv[2], &pod);
	if (r >= 0) {
		r = cri_create_container(t->client, argv[0], ctr, pod, &id);
		if (r < 0)
			call_failed(t, "CreateContainer", argv[1], r);
		else
			puts(id);
	}
	cri_msg_free(pod);
	cri_msg_free(ctr);
	return r;
}

static int cmd_start(struct tool_ctx *t, int argc, char **argv)
{
	int r;

	(void)argc;
	r = cri_start_container(t->client, argv[0]);
	return r < 0 ? call_failed(t, "StartContainer", argv[0], r) : 0;
}

static int cmd_stop(struct tool_ctx *t, int argc, char **argv)
{
	long timeout = 0;
	char *end;
	int r;

	if (argc > 1) {
		errno = 0;
		timeout = strtol(argv[1], &end, 10);
		if (errno || *end || timeout < 0) {
			log_error("stop: timeout '%s' is not a number of seconds", argv[1]);
			return -EINVAL;
		}
	}
	r = cri_stop_container(t->client, argv[0], timeout);
	return r < 0 ? call_failed(t, "StopContainer", argv[0], r) : 0;
}

static int cmd_rm(struct tool_ctx *t, int argc, char **argv)
{
	int r;

	(void)argc;
	r = cri_remove_container(t->client, argv[0]);
	return r < 0 ? call_failed(t, "RemoveContainer", argv[0], r) : 0;
}

static int cmd_inspect(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__ContainerStatusResponse *s = NULL;
	int r;

	(void)argc;
	r = cri_container_status(t->client, argv[0], true, &s);
	if (r < 0)
		return call_failed(t, "ContainerStatus", argv[0], r);
	r = print_json(cri_json_container_status(s));
	cri_msg_free(s);
	return r;
}

static int cmd_ps(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__ListContainersResponse *l = NULL;
	size_t i;
	int r;

	(void)argc;
	(void)argv;
	r = cri_list_containers(t->client, NULL, &l);
	if (r < 0)
		return call_failed(t, "ListContainers", NULL, r);
	if (t->opts.quiet) {
		for (i = 0; i < l->n_containers; i++)
			puts(l->containers[i]->id);
	} else {
		r = print_json(cri_json_container_list(l));
	}
	cri_msg_free(l);
	return r;
}

static int cmd_images(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__ListImagesResponse *l = NULL;
	json_t *a;
	size_t i;
	int r;

	(void)argc;
	(void)argv;
	r = cri_list_images(t->client, &l);
	if (r < 0)
		return call_failed(t, "ListImages", NULL, r);
	a = json_array();
	for (i = 0; a && i < l->n_images; i++)
		json_array_append_new(a, cri_json_image(l->images[i]));
	cri_msg_free(l);
	return print_json(a);
}

static int cmd_inspecti(struct tool_ctx *t, int argc, char **argv)
{
	Runtime__V1__ImageStatusResponse *s = NULL;
	int r;

	(void)argc;
	r = cri_image_status(t->client, argv[0], &s);
	if (r < 0)
		return call_failed(t, "ImageStatus", argv[0], r);
	r = print_json(cri_json_image(s->image));
	cri_msg_free(s);
	return r;
}

static const struct tool_cmd {
	const char *name;
	int min_args;
	int max_args;
	int (*fn)(struct tool_ctx *t, int argc, char **argv);
} cmds[] = {
	{ "version", 0, 0, cmd_version },
	{ "runp", 1, 1, cmd_runp },
	{ "stopp", 1, 1, cmd_stopp },
	{ "rmp", 1, 1, cmd_rmp },
	{ "inspectp", 1, 1, cmd_inspectp },
	{ "pods", 0, 0, cmd_pods },
	{ "create", 3, 3, cmd_create },
	{ "start", 1, 1, cmd_start },
	{ "stop", 1, 2, cmd_stop },
	{ "rm", 1, 1, cmd_rm },
	{ "inspect", 1, 1, cmd_inspect },
	{ "ps", 0, 0, cmd_ps },
	{ "images", 0, 0, cmd_images },
	{ "inspecti", 1, 1, cmd_inspecti },
};

#define OPTS(field) offsetof(struct tool_opts, field)

static const struct opt options[] = {
	{ .name = "socket", .short_name = 's', .arg = "PATH", .help = "CRI endpoint",
	  .def = "/run/containerd/containerd.sock", .set = opt_string, .offset = OPTS(socket) },
	{ .name = "timeout", .short_name = 't', .arg = "SEC",
	  .help = "per-call timeout in seconds; 120 when not given", .set = opt_int,
	  .offset = OPTS(timeout_s), .min = 1, .max = 3600 },
	{ .name = "quiet", .short_name = 'q', .help = "print ids only (pods, ps)", .set = opt_flag,
	  .offset = OPTS(quiet) },
	{ .name = "help", .short_name = 'h', .help = "this help", .set = opt_flag,
	  .offset = OPTS(help) },
};

static void usage(FILE *f)
{
	fputs("Usage: cri-tool [--socket PATH] [--timeout SECONDS] [--quiet] COMMAND [ARGS]\n"
	      "A CRI (runtime.v1) client that prints JSON.\n"
	      "\n"
	      "Commands:\n"
	      "  version                       runtime name and versions\n"
	      "  runp POD.json                 run a pod sandbox, print its id\n"
	      "  stopp ID                      stop a pod sandbox (CNI DEL)\n"
	      "  rmp ID                        remove a pod sandbox\n"
	      "  inspectp ID                   sandbox status: id, state, network ip and\n"
	      "                                additional ips, pid, netns\n"
	      "  pods                          list sandboxes (--quiet: ids only)\n"
	      "  create POD_ID CTR.json POD.json  create a container, print its id\n"
	      "  start ID | stop ID [SECONDS] | rm ID   container lifecycle\n"
	      "  inspect ID                    container status\n"
	      "  ps                            list containers (--quiet: ids only)\n"
	      "  images                        list images\n"
	      "  inspecti IMAGE                image status (null when absent)\n"
	      "\n"
	      "Options:\n",
	      f);
	opts_usage(f, options, ARRAY_SIZE(options));
}

/* The options of argv into o; the index of the command, or a negative
 * errno after logging why the command line is wrong. */
static int parse_opts(int argc, char **argv, struct tool_opts *o)
{
	char err[512];
	int first = opts_parse(options, ARRAY_SIZE(options), argc, argv, o, 0, err, sizeof(err));

	if (first < 0) {
		log_error("%s (see --help)", err);
		return first;
	}
	if (o->help) {
		usage(stdout);
		exit(0);
	}
	return first;
}

int main(int argc, char **argv)
{
	struct tool_ctx t = {};
	const struct tool_cmd *cmd = NULL;
	int first, nargs, r;
	size_t i;

	log_init("cri-tool", LOG_LEVEL_INFO);
	first = parse_opts(argc, argv, &t.opts);
	if (first < 0)
		return 2;
	if (first >= argc) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (streq(cmds[i].name, argv[first]))
			cmd = &cmds[i];
	if (!cmd) {
		log_error("unknown command '%s' (see --help)", argv[first]);
		return 2;
	}
	nargs = argc - first - 1;
	if (nargs < cmd->min_args || nargs > cmd->max_args) {
		log_error("%s: expects %d..%d arguments, got %d (see --help)", cmd->name, cmd->min_args,
			  cmd->max_args, nargs);
		return 2;
	}

	r = cri_client_new(t.opts.socket, t.opts.timeout_s * 1000, &t.client);
	if (r < 0) {
		log_error("--socket '%s': %s", t.opts.socket, strerror(-r));
		return 2;
	}
	r = cmd->fn(&t, nargs, argv + first + 1);
	cri_client_free(t.client);
	return r < 0 ? 1 : 0;
}
