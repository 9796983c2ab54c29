/* What the controllers' unit tests share: objects and times from strings,
 * a typical pod, and looks into a plan. */
#ifndef SKIFF_TESTS_CTRL_TEST_H
#define SKIFF_TESTS_CTRL_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"
#include "tests/harness/test.h"

/* An object from printf-formatted JSON text; a bad text fails the test and
 * says what is wrong. */
static json_t *obj(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static json_t *obj(const char *fmt, ...)
{
	json_error_t e;
	va_list ap;
	char *buf;
	json_t *o;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		test_fail(__FILE__, __LINE__, "out of memory");
	o = json_loads(buf, 0, &e);
	if (!o)
		test_fail(__FILE__, __LINE__, "bad JSON: %s: %s", e.text, buf);
	free(buf);
	return o;
}

/* The same for text that is not a format. */
static inline json_t *tobj(const char *s)
{
	return obj("%s", s);
}

/* A running pod of app=web on node-1 with container port http 8080;
 * ready: "True"/"False"; ip may be "". */
static json_t *pod(const char *name, const char *ip, const char *ready) __attribute__((unused));
static json_t *pod(const char *name, const char *ip, const char *ready)
{
	return obj("{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\","
		   "\"labels\":{\"app\":\"web\"}},"
		   "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"c\","
		   "\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},"
		   "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\",\"podIPs\":[%s%s%s],"
		   "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		   name, name, ip, *ip ? "{\"ip\":\"" : "", ip, *ip ? "\"}" : "", ready);
}

/* An RFC 3339 time; 0 when it is not one. */
static inline time_t tat(const char *s)
{
	time_t t = 0;

	ctrl_time_parse(s, &t);
	return t;
}

/* The first action of that verb on that resource, or NULL. */
static inline const struct ctrl_action *tfind(const struct ctrl_plan *p, enum ctrl_verb verb,
					      const char *resource)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == verb && strcmp(p->v[i].resource, resource) == 0)
			return &p->v[i];
	return NULL;
}

/* Whether the plan records an Event with that reason. */
static inline bool thas_event(const struct ctrl_plan *p, const char *reason)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == CTRL_EVENT && strcmp(p->v[i].reason, reason) == 0)
			return true;
	return false;
}

#endif
