/* The --manifests folder source: loads every manifest (Services,
 * EndpointSlices, Nodes), follows changes with inotify, keeps a file's last
 * good objects when it turns bad. */
#include "tests/harness/test.h"
#include "dataplane/manifest.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[512], tmp[520];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	f = fopen(tmp, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	CHECK_OK(rename(tmp, path));
}

/* Waits for inotify and flushes, as the agent loop does. */
static void settle(struct model_source *src)
{
	struct pollfd p = { .fd = src->fd(src->ctx), .events = POLLIN };
	int due = 0;

	while (poll(&p, 1, 200) > 0) {
		int r = src->on_readable(src->ctx);

		CHECK_OK(r);
		due |= r;
	}
	CHECK(due);
	CHECK_OK(src->flush(src->ctx));
}

struct found {
	int services, slices, ports_of_web;
};

static int count_svc(const struct model_service *s, const char *origin, void *ud)
{
	struct found *f = ud;

	(void)origin;
	f->services++;
	if (streq(s->name, "web"))
		f->ports_of_web = (int)s->n_ports;
	return 0;
}

static int count_slice(const struct model_slice *s, const char *origin, void *ud)
{
	(void)s;
	(void)origin;
	((struct found *)ud)->slices++;
	return 0;
}

static struct found look(struct model_store *st)
{
	struct found f = { 0 };

	model_store_foreach_service(st, count_svc, &f);
	model_store_foreach_slice(st, count_slice, &f);
	return f;
}

#define WEB(ports) "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.96.0.1, ports: " ports "}\n"
#define SLICE "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, labels: " \
	"{kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n"

TEST(manifest_loads_yaml_json_list_and_ignores_others)
{
	const char *dir = test_tmpdir();
	struct model_store *st = NULL;
	struct model_source src;
	struct found f;

	write_file(dir, "a.yaml", WEB("[{port: 80}]") "---\n" SLICE "---\napiVersion: apps/v1\nkind: Deployment\n"
				 "metadata: {name: d}\n");
	write_file(dir, "b.json", "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\","
				  " \"kind\": \"Service\", \"metadata\": {\"name\": \"api\"}, \"spec\": {}}]}");
	write_file(dir, "c.yml", "kind: List\napiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n"
				 "  metadata: {name: db}\n  spec: {clusterIP: None}\n");
	write_file(dir, "notes.txt", "not a manifest: [");
	write_file(dir, ".hidden.yaml", "{{{");
	CHECK_OK(model_store_new(&st));
	CHECK_OK(manifest_source_new(dir, st, NULL, NULL, &src));
	CHECK_OK(src.start(src.ctx));
	f = look(st);
	CHECK_INT_EQ(f.services, 3);
	CHECK_INT_EQ(f.slices, 1);
	model_source_free(&src);
	model_store_free(st);
}

/* The source's reports, kept: the last error and the last info. */
struct reports {
	char error[1024], info[1024];
};

static void keep_report(enum log_level level, const char *msg, void *ud)
{
	struct reports *r = ud;

	if (level == LOG_LEVEL_ERROR)
		snprintf(r->error, sizeof(r->error), "%s", msg);
	else if (level == LOG_LEVEL_INFO)
		snprintf(r->info, sizeof(r->info), "%s", msg);
}

TEST(manifest_follows_changes_and_keeps_last_good)
{
	const char *dir = test_tmpdir();
	struct model_store *st = NULL;
	struct reports rep = { "", "" };
	struct model_source src;
	char path[512];
	struct found f;
	uint64_t g;

	write_file(dir, "web.yaml", WEB("[{port: 80}]") "---\n" SLICE);
	CHECK_OK(model_store_new(&st));
	CHECK_OK(manifest_source_new(dir, st, keep_report, &rep, &src));
	CHECK_OK(src.start(src.ctx));
	CHECK_INT_EQ(look(st).ports_of_web, 1);

	/* Modified in place. */
	write_file(dir, "web.yaml", WEB("[{name: a, port: 80}, {name: b, port: 81}]") "---\n" SLICE);
	settle(&src);
	CHECK_INT_EQ(look(st).ports_of_web, 2);

	/* A bad edit: the last good objects stay. */
	g = model_store_generation(st);
	write_file(dir, "web.yaml", WEB("[{name: a, port: 99999}]") "---\n");
	settle(&src);
	f = look(st);
	CHECK_INT_EQ(f.ports_of_web, 2);
	CHECK_INT_EQ(f.slices, 1);
	CHECK_INT_EQ(model_store_generation(st), g);
	/* Reported to the owner, not logged by the source. */
	CHECK_STR_CONTAINS(rep.error, "web.yaml");
	CHECK_STR_CONTAINS(rep.error, "(keeping the file's last good objects)");

	/* A new file, then the slice dropped from the first file. */
	write_file(dir, "api.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {}\n");
	write_file(dir, "web.yaml", WEB("[{port: 80}]"));
	settle(&src);
	f = look(st);
	CHECK_INT_EQ(f.services, 2);
	CHECK_INT_EQ(f.slices, 0);
	CHECK_STR_EQ(rep.info, "web.yaml: loaded again without errors");

	/* Deleted and moved out. */
	snprintf(path, sizeof(path), "%s/api.yaml", dir);
	CHECK_OK(unlink(path));
	settle(&src);
	CHECK_INT_EQ(look(st).services, 1);
	char moved[520];
	snprintf(path, sizeof(path), "%s/web.yaml", dir);
	snprintf(moved, sizeof(moved), "%s/web.yaml.off", dir);
	CHECK_OK(rename(path, moved));
	settle(&src);
	CHECK_INT_EQ(look(st).services, 0);
	model_source_free(&src);
	model_store_free(st);
}

TEST(manifest_errors_name_file_object_and_field)
{
	json_t *objs = NULL;
	struct manifest_objects o;
	char msg[600];
	const char *bad = "apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec: {}\n---\n"
			  "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
			  "spec: {ports: [{port: http}]}\n";

	CHECK_OK(manifest_parse_buffer("svc.yaml", bad, strlen(bad), false, &objs, msg, sizeof(msg)));
	CHECK_INT_EQ(manifest_objects_from_json("svc.yaml", objs, &o, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(msg, "svc.yaml: object 2: Service shop/web: spec.ports[0].port: must be an integer, "
			  "not a string");
	json_decref(objs);

	CHECK_INT_EQ(manifest_parse_buffer("x.yaml", "a: [1,\n", 7, false, &objs, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_CONTAINS(msg, "x.yaml:2:");
	CHECK_INT_EQ(manifest_parse_buffer("x.json", "{\"a\": 1,}", 9, true, &objs, msg, sizeof(msg)), -EINVAL);
	CHECK_STR_CONTAINS(msg, "x.json:1:");
}

/* A ConfigMap volume: visible files are links into "..data", which is
 * swapped atomically; the swap alone must reload them. */
TEST(manifest_follows_configmap_style_link_swap)
{
	const char *dir = test_tmpdir();
	struct model_store *st = NULL;
	struct model_source src;
	char path[600], target[600];

	snprintf(path, sizeof(path), "%s/..v1", dir);
	CHECK_OK(mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/..v2", dir);
	CHECK_OK(mkdir(path, 0755));
	snprintf(path, sizeof(path), "%s/..v1", dir);
	write_file(path, "web.yaml", WEB("[{port: 80}]"));
	snprintf(path, sizeof(path), "%s/..v2", dir);
	write_file(path, "web.yaml", WEB("[{name: a, port: 80}, {name: b, port: 81}]"));
	snprintf(path, sizeof(path), "%s/..data", dir);
	CHECK_OK(symlink("..v1", path));
	snprintf(path, sizeof(path), "%s/web.yaml", dir);
	CHECK_OK(symlink("..data/web.yaml", path));

	CHECK_OK(model_store_new(&st));
	CHECK_OK(manifest_source_new(dir, st, NULL, NULL, &src));
	CHECK_OK(src.start(src.ctx));
	CHECK_INT_EQ(look(st).ports_of_web, 1);

	snprintf(path, sizeof(path), "%s/..data_tmp", dir);
	CHECK_OK(symlink("..v2", path));
	snprintf(target, sizeof(target), "%s/..data", dir);
	CHECK_OK(rename(path, target));
	settle(&src);
	CHECK_INT_EQ(look(st).ports_of_web, 2);
	model_source_free(&src);
	model_store_free(st);
}

static int node_len(const struct model_node *n, const char *origin, void *ud)
{
	(void)origin;
	*(int *)ud = n->n_pod_cidrs ? n->pod_cidrs[0].len : -1;
	return 0;
}

#define NODE(cidr) "apiVersion: v1\nkind: Node\nmetadata: {name: node2}\nspec: {podCIDRs: [" cidr "]}\n" \
	"status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}\n"

/* Nodes: loaded next to services, a bad one keeps the last good, a
 * deleted file takes its Node along; none of it is a service change. */
TEST(manifest_nodes_keep_last_good_and_go_with_their_file)
{
	const char *dir = test_tmpdir();
	struct model_store *st = NULL;
	struct model_source src;
	char path[512];
	uint64_t g, ng;
	int len = 0;

	write_file(dir, "node2.yaml", NODE("10.244.2.0/24"));
	write_file(dir, "web.yaml", WEB("[{port: 80}]"));
	CHECK_OK(model_store_new(&st));
	CHECK_OK(manifest_source_new(dir, st, NULL, NULL, &src));
	CHECK_OK(src.start(src.ctx));
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_NODE), 1);
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_SERVICE), 1);
	g = model_store_generation(st);
	ng = model_store_node_generation(st);

	write_file(dir, "node2.yaml", NODE("10.244.2.0/25"));
	settle(&src);
	model_store_foreach_node(st, node_len, &len);
	CHECK_INT_EQ(len, 25);
	CHECK(model_store_node_generation(st) > ng);
	CHECK(model_store_generation(st) == g);

	ng = model_store_node_generation(st);
	write_file(dir, "node2.yaml", NODE("10.244.2.1/24"));
	settle(&src);
	model_store_foreach_node(st, node_len, &len);
	CHECK_INT_EQ(len, 25);
	CHECK(model_store_node_generation(st) == ng);

	snprintf(path, sizeof(path), "%s/node2.yaml", dir);
	CHECK_OK(unlink(path));
	settle(&src);
	CHECK_INT_EQ(model_store_count(st, MODEL_KIND_NODE), 0);
	CHECK(model_store_generation(st) == g);
	model_source_free(&src);
	model_store_free(st);
}
