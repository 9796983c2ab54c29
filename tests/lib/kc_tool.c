/* kc-tool: the client library from a shell, for tests and for looking at
 * a running skiff-server the way skiff's own components see it.
 *
 *   kc-tool [--kubeconfig F] [-n NS | -A] get RESOURCE NAME
 *   kc-tool [--kubeconfig F] [-n NS | -A] [-l SEL] list RESOURCE
 *   kc-tool [--kubeconfig F] [-n NS | -A] [-l SEL] [--count N] [--timeout S] watch RESOURCE
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/kube_informer.h"
#include "lib/util.h"

struct tool {
	const char *kubeconfig, *context, *ns, *label, *field;
	bool all_ns;
	long count;
	int timeout_s;
	struct kc_client *c;
	long seen;
	bool synced_printed;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kc-tool [OPTIONS] get RESOURCE NAME\n"
		"       kc-tool [OPTIONS] list RESOURCE\n"
		"       kc-tool [OPTIONS] watch RESOURCE\n"
		"\n"
		"Speaks to the API server through skiff's client library (lib/kube_*).\n"
		"get prints the object as JSON; list prints \"KEY RESOURCEVERSION\" per object;\n"
		"watch runs an informer and prints \"ADD|UPDATE|DELETE KEY RESOURCEVERSION\" per\n"
		"change, then \"SYNCED N\" once the first list is in.\n"
		"\n"
		"Options:\n"
		"  --kubeconfig FILE     default $KUBECONFIG, then ~/.kube/config\n"
		"  --context NAME        default the current context\n"
		"  -n, --namespace NS    default the context's namespace\n"
		"  -A, --all-namespaces  list/watch every namespace\n"
		"  -l, --selector SEL    label selector\n"
		"  --field-selector SEL  field selector\n"
		"  --count N             watch: exit after N changes (after the sync)\n"
		"  --timeout SECS        watch: exit after SECS (status 1 if --count not reached)\n"
		"  -h, --help            this text\n");
}

static void print_change(struct tool *t, const char *what, json_t *obj)
{
	char key[512];

	if (kc_object_key(obj, key, sizeof(key)) < 0)
		return;
	printf("%s %s %s\n", what, key, kc_meta_str(obj, "resourceVersion") ?: "");
	fflush(stdout);
	t->seen += t->synced_printed;
}

static void on_add(void *ud, json_t *o)
{
	print_change(ud, "ADD", o);
}

static void on_update(void *ud, json_t *old_obj, json_t *o)
{
	(void)old_obj;
	print_change(ud, "UPDATE", o);
}

static void on_delete(void *ud, json_t *o)
{
	print_change(ud, "DELETE", o);
}

static int cmd_watch(struct tool *t, const struct kc_resource *res)
{
	struct kc_informer_opts o = { .namespace = t->all_ns ? NULL : t->ns,
				      .label_selector = t->label,
				      .field_selector = t->field };
	unsigned long long end = t->timeout_s ? now_ns() + t->timeout_s * 1000000000ULL : 0;
	struct kc_informer *inf;
	int r;

	r = kc_informer_new(t->c, res, &o, &inf);
	if (r < 0)
		return r;
	kc_informer_add_handlers(inf, &(struct kc_informer_handlers){
		.add = on_add, .update = on_update, .del = on_delete, .ud = t });
	kc_informer_start(inf);
	for (;;) {
		if (!t->synced_printed && kc_informer_synced(inf)) {
			printf("SYNCED %zu\n", json_object_size(kc_informer_items(inf)));
			fflush(stdout);
			t->synced_printed = true;
		}
		if (t->count && t->seen >= t->count)
			break;
		if (end && now_ns() > end) {
			r = -ETIMEDOUT;
			break;
		}
		kc_client_run_once(t->c, 100);
	}
	kc_informer_free(inf);
	return r;
}

static int cmd_list(struct tool *t, const struct kc_resource *res)
{
	struct kc_list_opts o = { .label_selector = t->label, .field_selector = t->field };
	json_t *items, *obj;
	char key[512];
	size_t i;
	int r = kc_list_all(t->c, res, t->all_ns ? NULL : t->ns, &o, &items, NULL);

	if (r < 0)
		return r;
	json_array_foreach(items, i, obj) {
		if (kc_object_key(obj, key, sizeof(key)) == 0)
			printf("%s %s\n", key, kc_meta_str(obj, "resourceVersion") ?: "");
	}
	json_decref(items);
	return 0;
}

static int cmd_get(struct tool *t, const struct kc_resource *res, const char *name)
{
	json_t *obj;
	int r = kc_get(t->c, res, t->ns, name, &obj);

	if (r < 0)
		return r;
	json_dumpf(obj, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(obj);
	return 0;
}

static int parse_args(struct tool *t, int argc, char **argv)
{
	enum { OPT_KUBECONFIG = 256, OPT_CONTEXT, OPT_FIELD, OPT_COUNT, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "selector", required_argument, NULL, 'l' },
		{ "field-selector", required_argument, NULL, OPT_FIELD },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "n:Al:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_KUBECONFIG: t->kubeconfig = optarg; break;
		case OPT_CONTEXT: t->context = optarg; break;
		case 'n': t->ns = optarg; break;
		case 'A': t->all_ns = true; break;
		case 'l': t->label = optarg; break;
		case OPT_FIELD: t->field = optarg; break;
		case OPT_COUNT: t->count = atol(optarg); break;
		case OPT_TIMEOUT: t->timeout_s = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t = { 0 };
	struct kc_config *cfg = NULL;
	const struct kc_resource *res;
	const char *verb;
	char err[512] = "";
	int r;

	if (parse_args(&t, argc, argv) < 0 || argc - optind < 2) {
		if (argc - optind < 2)
			usage(stderr);
		return 2;
	}
	verb = argv[optind];
	res = kc_resource_find(argv[optind + 1]);
	if (!res) {
		fprintf(stderr, "kc-tool: unknown resource \"%s\"\n", argv[optind + 1]);
		return 2;
	}
	r = kc_config_load(t.kubeconfig, t.context, &cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "kc-tool: kubeconfig: %s\n", err);
		return 1;
	}
	if (!t.ns)
		t.ns = cfg->namespace;
	r = kc_client_new(cfg, &(struct kc_client_opts){ .user_agent = "kc-tool" }, &t.c);
	if (r == 0) {
		if (streq(verb, "get") && argc - optind == 3)
			r = cmd_get(&t, res, argv[optind + 2]);
		else if (streq(verb, "list"))
			r = cmd_list(&t, res);
		else if (streq(verb, "watch"))
			r = cmd_watch(&t, res);
		else {
			usage(stderr);
			r = -EINVAL;
		}
	}
	if (r < 0)
		fprintf(stderr, "kc-tool %s %s: %s%s%s\n", verb, res->name, strerror(-r),
			t.c && kc_last_status(t.c)->message[0] ? ": " : "",
			t.c ? kc_last_status(t.c)->message : "");
	kc_client_free(t.c);
	kc_config_free(cfg);
	return r < 0 ? 1 : 0;
}
