/* The API's one error convention: a struct api_err filled where the
 * error happens, answered by the HTTP layer as a Kubernetes Status
 * (code, reason, message, details with the object and, for Invalid,
 * the causes naming the fields). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "control/api_obj.h"

void api_err_set(struct api_err *e, unsigned code, const char *reason, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->reason = reason;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void api_err_free(struct api_err *e)
{
	json_decref(e->causes);
	e->causes = NULL;
}

json_t *api_err_status(const struct api_err *e)
{
	json_t *st = json_pack("{s:s,s:s,s:{},s:s,s:s,s:s,s:i}", "kind", "Status", "apiVersion",
			       "v1", "metadata", "status", "Failure", "message", e->message,
			       "reason", e->reason ? e->reason : "", "code", (int)e->code);
	json_t *details = json_object();

	if (e->name[0])
		json_object_set_new(details, "name", json_string(e->name));
	if (e->group && *e->group)
		json_object_set_new(details, "group", json_string(e->group));
	if (e->kind)
		json_object_set_new(details, "kind", json_string(e->kind));
	if (e->causes)
		json_object_set(details, "causes", e->causes);
	if (json_object_size(details))
		json_object_set_new(st, "details", details);
	else
		json_decref(details);
	return st;
}

void api_err_store(struct api_err *e, int r)
{
	api_err_set(e, 500, "InternalError", "Internal error occurred: storage: %s", strerror(-r));
}

void api_err_named(struct api_err *e, const struct api_resource *r, const char *name)
{
	e->kind = r->plural;
	e->group = r->group;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
}

void api_err_not_found(struct api_err *e, const struct api_resource *r, const char *name)
{
	char q[128];

	api_resource_qualified(r, q, sizeof(q));
	api_err_set(e, 404, "NotFound", "%s \"%s\" not found", q, name);
	api_err_named(e, r, name);
}

void api_err_exists(struct api_err *e, const struct api_resource *r, const char *name)
{
	char q[128];

	api_resource_qualified(r, q, sizeof(q));
	api_err_set(e, 409, "AlreadyExists", "%s \"%s\" already exists", q, name);
	api_err_named(e, r, name);
}

void api_err_conflict(struct api_err *e, const struct api_resource *r, const char *name)
{
	char q[128];

	api_resource_qualified(r, q, sizeof(q));
	api_err_set(e, 409, "Conflict",
		    "Operation cannot be fulfilled on %s \"%s\": the object has been modified; "
		    "please apply your changes to the latest version and try again",
		    q, name);
	api_err_named(e, r, name);
}

void api_err_invalid(struct api_err *e, const struct api_resource *r, const char *name,
		     json_t *causes)
{
	char msg[900] = "";
	size_t off = 0, n = json_array_size(causes);
	json_t *c;
	size_t i;

	json_array_foreach(causes, i, c) {
		off += (size_t)snprintf(msg + off, off < sizeof(msg) ? sizeof(msg) - off : 0,
					"%s%s: %s", i ? ", " : "", api_jstr(c, "field"),
					api_jstr(c, "message"));
		if (off >= sizeof(msg))
			break;
	}
	/* Kubernetes names the kind with its group: Deployment.apps. */
	if (n > 1)
		api_err_set(e, 422, "Invalid", "%s%s%s \"%s\" is invalid: [%s]", r->kind,
			    *r->group ? "." : "", r->group, name ? name : "", msg);
	else
		api_err_set(e, 422, "Invalid", "%s%s%s \"%s\" is invalid: %s", r->kind,
			    *r->group ? "." : "", r->group, name ? name : "", msg);
	e->kind = r->kind;
	e->group = r->group;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	e->causes = causes;
}
