/* What a controller's pure compute step decides, before anything is sent.
 *
 * Every controller and the scheduler are built the same way
 * (dataplane/proxy.c:proxy_compute is the model): a pure function reads the
 * objects of its caches (json_t, as the informers of lib/kube_informer hold
 * them), computes the desired state, diffs it against what exists, and
 * returns a plan: the writes to make and the Events to record. A thin
 * driver sends the plan through lib/kube_client. Unit tests call the pure
 * function with objects they build and check the plan; nothing in here
 * touches the network.
 *
 *   struct ctrl_plan p = CTRL_PLAN_INIT;
 *   r = eps_compute(svc, pods, n_pods, slices, n_slices, &p);
 *   for (size_t i = 0; i < p.n; i++) ... p.v[i].verb, p.v[i].resource ...
 *   ctrl_plan_clear(&p);
 */
#ifndef SKIFF_CTRL_PLAN_H
#define SKIFF_CTRL_PLAN_H

#include <jansson.h>
#include <stddef.h>

enum ctrl_verb {
	CTRL_CREATE,        /* body: the whole object */
	CTRL_UPDATE,        /* body: the whole object, with metadata.resourceVersion */
	CTRL_UPDATE_STATUS, /* body: the whole object; only status is written */
	CTRL_PATCH,         /* body: a JSON merge patch */
	CTRL_DELETE,        /* body: NULL, or DeleteOptions (preconditions, propagation) */
	CTRL_EVENT,         /* body: NULL; reason/message/type say what happened */
};

struct ctrl_action {
	enum ctrl_verb verb;
	const char *resource; /* plural name as lib/kube_client's kc_resource_find
	                       * takes it: "pods", "endpointslices.discovery.k8s.io" */
	const char *subresource; /* NULL, or "binding", "finalize", "status", ... (static) */
	char ns[64];          /* "" for cluster-scoped objects */
	char name[254];       /* "" for a create with metadata.generateName */
	json_t *body;         /* owned */
	/* CTRL_EVENT: the object the event is about is (resource, ns, name). */
	const char *event_type; /* "Normal" or "Warning" (static strings) */
	const char *reason;     /* "SuccessfulCreate", ... (static strings) */
	char *message;          /* owned */
};

struct ctrl_plan {
	struct ctrl_action *v;
	size_t n, cap;
};

#define CTRL_PLAN_INIT { 0 }

/* Appends an action; takes ownership of body (also on failure). ns and name
 * may be NULL. -ENOMEM, -ENAMETOOLONG. */
int ctrl_plan_add(struct ctrl_plan *p, enum ctrl_verb verb, const char *resource,
		  const char *ns, const char *name, json_t *body);
/* The same on a subresource of the object (a pods/binding create, a
 * status patch); sub is a static string. */
int ctrl_plan_add_sub(struct ctrl_plan *p, enum ctrl_verb verb, const char *resource,
		      const char *sub, const char *ns, const char *name, json_t *body);
/* Appends an Event about (resource, ns, name), message printf-style. */
int ctrl_plan_event(struct ctrl_plan *p, const char *resource, const char *ns,
		    const char *name, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* Frees every action and empties the plan (it can be reused). */
void ctrl_plan_clear(struct ctrl_plan *p);
/* Counts the actions of one verb on one resource (resource NULL: any). */
size_t ctrl_plan_count(const struct ctrl_plan *p, enum ctrl_verb verb, const char *resource);

#endif
