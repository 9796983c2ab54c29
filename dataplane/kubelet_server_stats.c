/* GET /stats/summary: the kubelet's Summary API (stats/v1alpha1), the part
 * metrics-server reads: the node's and every running container's CPU and
 * working-set memory, containers grouped into their pods by the
 * io.kubernetes.* labels. The runtime reports cumulative CPU time (CRI
 * ListContainerStats); usageNanoCores is the rate between two samples
 * taken STATS_WINDOW_MS apart within the request (the real kubelet keeps
 * cAdvisor's housekeeping samples instead). The node's figures come from
 * /proc/stat and /proc/meminfo, as cAdvisor's root container: CPU time not
 * idle, and memory in use less the inactive file cache. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/kubelet_int.h"
#include "dataplane/kubelet_server_int.h"
#include "lib/util.h"

#define STATS_WINDOW_MS 1000
#define STATS_CRI_TIMEOUT_MS 10000

/* One sample of the node and of each container. */
struct stats_sample {
	unsigned long long node_cpu_ns, node_time_ns;
	Runtime__V1__ListContainerStatsResponse *cri;
	Runtime__V1__ListContainersResponse *running; /* the second sample's */
};

/* CPU time the node spent not idle, in ns (the "cpu" line of /proc/stat). */
static int node_cpu_ns(unsigned long long *out)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = { 0 };
	long hz = sysconf(_SC_CLK_TCK);

	if (!f)
		return -errno;
	/* user nice system idle iowait irq softirq steal */
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) < 7 || hz <= 0)
		return -EIO;
	*out = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (1000000000ULL / (unsigned long long)hz);
	return 0;
}

/* MemTotal - MemFree - Inactive(file), in bytes. */
static int node_working_set(unsigned long long *out)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long total = 0, free_kb = 0, inactive = 0, v;
	char key[64];

	if (!f)
		return -errno;
	while (fscanf(f, "%63s %llu kB ", key, &v) == 2) {
		if (streq(key, "MemTotal:"))
			total = v;
		else if (streq(key, "MemFree:"))
			free_kb = v;
		else if (streq(key, "Inactive(file):"))
			inactive = v;
	}
	if (!total)
		return -EIO;
	*out = (total - free_kb - (inactive < total - free_kb ? inactive : 0)) * 1024;
	return 0;
}

/* The runtime keeps the stats of exited containers too: only the running
 * ones count (with_running: list them). */
static int sample_take(struct cri_client *c, struct stats_sample *s, bool with_running)
{
	Runtime__V1__ContainerFilter f = RUNTIME__V1__CONTAINER_FILTER__INIT;
	Runtime__V1__ContainerStateValue st = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
	int r = node_cpu_ns(&s->node_cpu_ns);

	s->node_time_ns = now_ns();
	if (r == 0)
		r = cri_list_container_stats(c, &s->cri);
	if (r < 0 || !with_running)
		return r;
	st.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
	f.state = &st;
	return cri_list_containers(c, &f, &s->running);
}

static void sample_clear(struct stats_sample *s)
{
	cri_msg_free(s->cri);
	cri_msg_free(s->running);
	s->cri = NULL;
	s->running = NULL;
}

static bool running(const struct stats_sample *s, const char *id)
{
	for (size_t i = 0; s->running && i < s->running->n_containers; i++)
		if (streq(s->running->containers[i]->id, id))
			return true;
	return false;
}

static const char *label(const Runtime__V1__ContainerAttributes *a, const char *key)
{
	for (size_t i = 0; a && i < a->n_labels; i++)
		if (streq(a->labels[i]->key, key))
			return a->labels[i]->value;
	return NULL;
}

static unsigned long long cpu_of(const Runtime__V1__ContainerStats *st)
{
	return st->cpu && st->cpu->usage_core_nano_seconds ? st->cpu->usage_core_nano_seconds->value : 0;
}

/* The same container in the first sample, or NULL. */
static const Runtime__V1__ContainerStats *earlier(const struct stats_sample *s, const char *id)
{
	for (size_t i = 0; s->cri && i < s->cri->n_stats; i++) {
		const Runtime__V1__ContainerStats *st = s->cri->stats[i];

		if (st->attributes && streq(st->attributes->id, id))
			return st;
	}
	return NULL;
}

static json_t *time_json(time_t t)
{
	char buf[32];
	struct tm tm;

	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	return json_string(buf);
}

static json_t *cpu_json(time_t t, unsigned long long nano_cores, unsigned long long core_ns)
{
	return json_pack("{s:o,s:I,s:I}", "time", time_json(t), "usageNanoCores",
			 (json_int_t)nano_cores, "usageCoreNanoSeconds", (json_int_t)core_ns);
}

static json_t *memory_json(time_t t, unsigned long long ws)
{
	return json_pack("{s:o,s:I}", "time", time_json(t), "workingSetBytes", (json_int_t)ws);
}

/* Rate of a cumulative ns counter between two readings. */
static unsigned long long nano_cores(unsigned long long a, unsigned long long b,
				     unsigned long long t_a, unsigned long long t_b)
{
	if (b < a || t_b <= t_a)
		return 0;
	return (unsigned long long)((double)(b - a) * 1e9 / (double)(t_b - t_a));
}

/* The pod entry of the container's pod in pods (keyed "ns/name"), made on
 * first use with zeroed totals. */
static json_t *pod_entry(json_t *pods, const Runtime__V1__ContainerAttributes *a, time_t now)
{
	const char *ns = label(a, KL_LABEL_POD_NS), *name = label(a, KL_LABEL_POD_NAME);
	char key[512];
	json_t *p;

	if (!ns || !name)
		return NULL;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	p = json_object_get(pods, key);
	if (!p) {
		p = json_pack("{s:{s:s,s:s,s:s},s:[],s:o,s:o}", "podRef", "name", name, "namespace",
			      ns, "uid", label(a, KL_LABEL_POD_UID) ?: "", "containers", "cpu",
			      cpu_json(now, 0, 0), "memory", memory_json(now, 0));
		json_object_set_new(pods, key, p);
	}
	return p;
}

static void add_to(json_t *obj, const char *key, unsigned long long v)
{
	json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) +
						   (json_int_t)v));
}

/* The pods of the second sample, rates against the first. */
static json_t *pods_json(const struct stats_sample *s1, const struct stats_sample *s2, time_t now)
{
	json_t *pods = json_object(), *list = json_array(), *p;
	const char *key;

	for (size_t i = 0; s2->cri && i < s2->cri->n_stats; i++) {
		const Runtime__V1__ContainerStats *st = s2->cri->stats[i], *prev;
		const Runtime__V1__ContainerAttributes *a = st->attributes;
		unsigned long long cores = 0, ws;
		json_t *pod = a && running(s2, a->id) ? pod_entry(pods, a, now) : NULL;
		const char *cname;

		if (!pod)
			continue; /* not running, or not a kubelet's container */
		prev = earlier(s1, a->id);
		if (prev && prev->cpu && st->cpu)
			cores = nano_cores(cpu_of(prev), cpu_of(st), (unsigned long long)prev->cpu->timestamp,
					   (unsigned long long)st->cpu->timestamp);
		ws = st->memory && st->memory->working_set_bytes ? st->memory->working_set_bytes->value : 0;
		cname = label(a, KL_LABEL_CONTAINER_NAME) ?: (a->metadata ? a->metadata->name : "");
		json_array_append_new(json_object_get(pod, "containers"),
				      json_pack("{s:s,s:o,s:o}", "name", cname ?: "", "cpu",
						cpu_json(now, cores, cpu_of(st)), "memory",
						memory_json(now, ws)));
		add_to(json_object_get(pod, "cpu"), "usageNanoCores", cores);
		add_to(json_object_get(pod, "cpu"), "usageCoreNanoSeconds", cpu_of(st));
		add_to(json_object_get(pod, "memory"), "workingSetBytes", ws);
	}
	json_object_foreach(pods, key, p)
		json_array_append(list, p);
	json_decref(pods);
	return list;
}

static int reply_json(struct kl_req *q, json_t *body)
{
	_cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
	int r;

	if (!text)
		return -ENOMEM;
	r = tls_stream_printf(q->client,
			      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			      strlen(text));
	return r < 0 ? r : tls_stream_write_all(q->client, text, strlen(text));
}

int kl_serve_stats_summary(struct kl_req *q)
{
	struct stats_sample s1 = { 0 }, s2 = { 0 };
	struct cri_client *c = NULL;
	unsigned long long ws = 0;
	time_t now = time(NULL);
	json_t *body;
	int r;

	r = cri_client_new(q->cfg->cri_endpoint, STATS_CRI_TIMEOUT_MS, &c);
	if (r == 0)
		r = sample_take(c, &s1, false);
	if (r == 0) {
		usleep(STATS_WINDOW_MS * 1000);
		r = sample_take(c, &s2, true);
	}
	if (r == 0)
		r = node_working_set(&ws);
	if (r < 0) {
		sample_clear(&s1);
		sample_clear(&s2);
		cri_client_free(c);
		return kl_reply_status(q, 500, "InternalError", "cannot read stats from %s: %s",
				       q->cfg->cri_endpoint, strerror(-r));
	}
	body = json_pack("{s:{s:s,s:o,s:o},s:o}", "node", "nodeName", q->cfg->node_name ?: "",
			 "cpu",
			 cpu_json(now, nano_cores(s1.node_cpu_ns, s2.node_cpu_ns, s1.node_time_ns,
						  s2.node_time_ns),
				  s2.node_cpu_ns),
			 "memory", memory_json(now, ws), "pods", pods_json(&s1, &s2, now));
	sample_clear(&s1);
	sample_clear(&s2);
	cri_client_free(c);
	r = body ? reply_json(q, body) : -ENOMEM;
	json_decref(body);
	return r;
}
