/* Nodes and pods for the scheduler's tests, built from short JSON pieces. */
#ifndef SKIFF_SCHED_TEST_ENV_H
#define SKIFF_SCHED_TEST_ENV_H

#include <stdarg.h>
#include <stdio.h>

#include "control/sched.h"
#include "tests/harness/test.h"

#define SEC 1000000000ULL

static inline json_t *jfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline json_t *jfmt(const char *fmt, ...)
{
	char buf[8192];
	json_error_t e;
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	j = json_loads(buf, 0, &e);
	if (!j)
		test_fail(__FILE__, __LINE__, "bad test JSON: %s: %s", e.text, buf);
	return j;
}

static inline struct sched *env_new(void)
{
	struct sched_opts o = { .seed = 42 };
	struct sched *s;

	CHECK_OK(sched_new(&o, &s));
	return s;
}

/* A node with allocatable cpu/memory/110 pods; labels and spec are JSON
 * objects or NULL; hostname label set unless labels name one. */
static inline void env_node(struct sched *s, const char *name, const char *cpu, const char *mem,
			    const char *labels, const char *spec)
{
	json_t *n = jfmt("{\"metadata\":{\"name\":\"%s\",\"labels\":%s},\"spec\":%s,"
			 "\"status\":{\"allocatable\":{\"cpu\":\"%s\",\"memory\":\"%s\",\"pods\":\"110\"}}}",
			 name, labels ? labels : "{}", spec ? spec : "{}", cpu, mem);
	json_t *l = json_object_get(json_object_get(n, "metadata"), "labels");

	if (!json_object_get(l, SCHED_LABEL_HOSTNAME))
		json_object_set_new(l, SCHED_LABEL_HOSTNAME, json_string(name));
	CHECK_OK(sched_node_upsert(s, n));
	json_decref(n);
}

/* A pod of one container requesting cpu (NULL: nothing); meta and spec are
 * extra members (",\"labels\":{...}"), or "". */
static inline json_t *env_pod_json(const char *name, const char *cpu, const char *meta,
				   const char *spec)
{
	char req[64] = "{}";

	if (cpu)
		snprintf(req, sizeof(req), "{\"cpu\":\"%s\"}", cpu);
	return jfmt("{\"metadata\":{\"namespace\":\"default\",\"name\":\"%s\",\"uid\":\"uid-%s\","
		    "\"creationTimestamp\":\"2026-01-01T00:00:00Z\"%s},"
		    "\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"requests\":%s}}]%s}}",
		    name, name, meta ? meta : "", req, spec ? spec : "");
}

/* Adds a pod through the informer path (bound when spec has a nodeName). */
static inline void env_pod(struct sched *s, const char *name, const char *cpu, const char *meta,
			   const char *spec)
{
	json_t *p = env_pod_json(name, cpu, meta, spec);

	CHECK_OK(sched_pod_upsert(s, p, 0));
	json_decref(p);
}

/* Where a pod would go: the node's name, or the FailedScheduling message. */
static inline const char *env_place(struct sched *s, const char *cpu, const char *meta,
				    const char *spec)
{
	static struct sched_result res;
	json_t *j = env_pod_json("incoming", cpu, meta, spec);
	struct sched_pod *p;

	CHECK_OK(sched_pod_parse(s, j, &p));
	json_decref(j);
	CHECK_OK(sched_schedule_one(s, p, &res));
	sched_pod_free(p);
	return res.node ? res.node->name : res.message;
}

#endif
