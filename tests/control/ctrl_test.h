/* Objects for the controllers' unit tests, built from JSON text. */
#ifndef SKIFF_TESTS_CTRL_TEST_H
#define SKIFF_TESTS_CTRL_TEST_H

#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "tests/harness/test.h"

static json_t *obj(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static json_t *obj(const char *fmt, ...)
{
	char buf[8192];
	json_error_t e;
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o = json_loads(buf, 0, &e);
	if (!o)
		test_fail(__FILE__, __LINE__, "bad JSON: %s: %s", e.text, buf);
	return o;
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

#endif
