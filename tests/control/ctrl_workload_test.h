/* Objects for the workload controllers' unit tests (Job, CronJob,
 * DaemonSet, StatefulSet), built from JSON text written with single
 * quotes: J("{'a':%d}", 1). */
#ifndef SKIFF_TESTS_CTRL_WORKLOAD_TEST_H
#define SKIFF_TESTS_CTRL_WORKLOAD_TEST_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"
#include "lib/util.h"
#include "tests/harness/test.h"

static json_t *J(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static json_t *J(const char *fmt, ...)
{
	char buf[16384];
	json_error_t e;
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *c = buf; *c; c++)
		if (*c == '\'')
			*c = '"';
	o = json_loads(buf, 0, &e);
	if (!o)
		test_fail(__FILE__, __LINE__, "bad JSON: %s: %s", e.text, buf);
	return o;
}

/* A time stamp "seconds" from a fixed now, as the API writes it. */
#define T0 1796601600 /* 2026-12-07T00:00:00Z */
static const char *at(long long seconds) __attribute__((unused));
static const char *at(long long seconds)
{
	static char bufs[8][32];
	static int n;
	char *b = bufs[n++ % 8];

	ctrl_time_format((time_t)(T0 + seconds), b);
	return b;
}

/* The i-th action of a verb on a resource in the plan, or NULL. */
static struct ctrl_action *nth(struct ctrl_plan *p, enum ctrl_verb verb, const char *resource,
			       size_t i) __attribute__((unused));
static struct ctrl_action *nth(struct ctrl_plan *p, enum ctrl_verb verb, const char *resource,
			       size_t i)
{
	for (size_t k = 0; k < p->n; k++)
		if (p->v[k].verb == verb && (!resource || strcmp(p->v[k].resource, resource) == 0) &&
		    i-- == 0)
			return &p->v[k];
	return NULL;
}

/* The first Event with that reason, or NULL. */
static struct ctrl_action *event_of(struct ctrl_plan *p, const char *reason) __attribute__((unused));
static struct ctrl_action *event_of(struct ctrl_plan *p, const char *reason)
{
	for (size_t k = 0; k < p->n; k++)
		if (p->v[k].verb == CTRL_EVENT && strcmp(p->v[k].reason, reason) == 0)
			return &p->v[k];
	return NULL;
}

/* The name an action is about (NULL for no action). */
static const char *aname(struct ctrl_action *a) __attribute__((unused));
static const char *aname(struct ctrl_action *a)
{
	return a ? a->name : NULL;
}

#endif
