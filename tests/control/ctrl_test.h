/* What the controllers' unit tests share: objects and times from strings. */
#ifndef SKIFF_TESTS_CTRL_TEST_H
#define SKIFF_TESTS_CTRL_TEST_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "control/ctrl_plan.h"
#include "control/ctrl_util.h"

/* An object from JSON text; says what is wrong with bad text. */
static inline json_t *tobj(const char *s)
{
	json_error_t e;
	json_t *o = json_loads(s, 0, &e);

	if (!o)
		fprintf(stderr, "bad test JSON: %s: %s\n", e.text, s);
	return o;
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
