/* The plan a controller's compute step returns: see ctrl_plan.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_plan.h"
#include "lib/util.h"

static struct ctrl_action *plan_grow(struct ctrl_plan *p)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct ctrl_action *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->v = v;
		p->cap = cap;
	}
	struct ctrl_action *a = &p->v[p->n];

	memset(a, 0, sizeof(*a));
	return a;
}

static int action_target(struct ctrl_action *a, const char *resource, const char *ns,
			 const char *name)
{
	a->resource = resource;
	if (strscpy(a->ns, ns ? ns : "", sizeof(a->ns)) < 0 ||
	    strscpy(a->name, name ? name : "", sizeof(a->name)) < 0)
		return -ENAMETOOLONG;
	return 0;
}

int ctrl_plan_add(struct ctrl_plan *p, enum ctrl_verb verb, const char *resource,
		  const char *ns, const char *name, json_t *body)
{
	struct ctrl_action *a = plan_grow(p);
	int r;

	if (!a) {
		json_decref(body);
		return -ENOMEM;
	}
	r = action_target(a, resource, ns, name);
	if (r < 0) {
		json_decref(body);
		return r;
	}
	a->verb = verb;
	a->body = body;
	p->n++;
	return 0;
}

int ctrl_plan_add_sub(struct ctrl_plan *p, enum ctrl_verb verb, const char *resource,
		      const char *subresource, const char *ns, const char *name, json_t *body)
{
	int r = ctrl_plan_add(p, verb, resource, ns, name, body);

	if (r == 0)
		p->v[p->n - 1].subresource = subresource;
	return r;
}

int ctrl_plan_event(struct ctrl_plan *p, const char *resource, const char *ns,
		    const char *name, const char *type, const char *reason, const char *fmt, ...)
{
	struct ctrl_action *a = plan_grow(p);
	va_list ap;
	int r;

	if (!a)
		return -ENOMEM;
	r = action_target(a, resource, ns, name);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	r = vasprintf(&a->message, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	a->verb = CTRL_EVENT;
	a->event_type = type;
	a->reason = reason;
	p->n++;
	return 0;
}

void ctrl_plan_clear(struct ctrl_plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		json_decref(p->v[i].body);
		free(p->v[i].message);
	}
	free(p->v);
	*p = (struct ctrl_plan)CTRL_PLAN_INIT;
}

size_t ctrl_plan_count(const struct ctrl_plan *p, enum ctrl_verb verb, const char *resource)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].verb == verb && (!resource || streq(p->v[i].resource, resource)))
			n++;
	return n;
}
