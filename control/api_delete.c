/* The object layer's deletes, as kube-apiserver's: at once, or marked
 * with a deletionTimestamp while finalizers or a grace period hold the
 * object. What it owned is the garbage collector's (ctrl_gc.h): the
 * propagation policy becomes the "orphan" or "foregroundDeletion"
 * finalizer here, and the collector deletes or orphans the dependents in
 * every case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

#define DELETE_RETRIES 16

int api_obj_remove(struct api_server *s, const struct api_resource *r, const char *key,
		   json_t *obj, int64_t rev)
{
	int ret = store_delete(s->store, key, rev, NULL, NULL);

	if (ret == 0 && r->hooks && r->hooks->release)
		r->hooks->release(s, obj, NULL);
	if (ret == 0 && r->hooks && r->hooks->written)
		r->hooks->written(s, r, obj, true);
	return ret;
}

/* ---- the garbage collector's finalizers ---- */

#define FIN_ORPHAN "orphan"
#define FIN_FOREGROUND "foregroundDeletion"

static bool is_gc_finalizer(json_t *f)
{
	return streq(json_string_value(f), FIN_ORPHAN) || streq(json_string_value(f), FIN_FOREGROUND);
}

/* The policy a delete with o asks of obj, as upstream's
 * shouldOrphanDependents / shouldDeleteDependents: the caller's, else the
 * one a finalizer already names, else the row's default. */
static enum api_propagation policy_of(const struct api_resource *r, json_t *obj,
				      const struct api_delete_opts *o)
{
	json_t *f;
	size_t i;

	if (o->propagation != API_PROPAGATE_DEFAULT)
		return o->propagation;
	json_array_foreach(api_jget(obj, "metadata.finalizers"), i, f) {
		if (streq(json_string_value(f), FIN_ORPHAN))
			return API_PROPAGATE_ORPHAN;
		if (streq(json_string_value(f), FIN_FOREGROUND))
			return API_PROPAGATE_FOREGROUND;
	}
	return r->orphan_by_default ? API_PROPAGATE_ORPHAN : API_PROPAGATE_BACKGROUND;
}

/* obj's finalizers after a delete with o (upstream's
 * deletionFinalizersForGarbageCollection): "orphan" for Orphan,
 * "foregroundDeletion" for Foreground, neither for Background; the
 * garbage collector acts on them and removes them. Whether they changed. */
static bool set_gc_finalizers(const struct api_resource *r, json_t *obj,
			      const struct api_delete_opts *o)
{
	json_t *old = api_jget(obj, "metadata.finalizers"), *fin = json_array(), *f;
	enum api_propagation p = policy_of(r, obj, o);
	bool had = false, changed;
	size_t i;

	json_array_foreach(old, i, f) {
		if (!is_gc_finalizer(f))
			json_array_append(fin, f);
		else if ((p == API_PROPAGATE_ORPHAN && streq(json_string_value(f), FIN_ORPHAN)) ||
			 (p == API_PROPAGATE_FOREGROUND && streq(json_string_value(f), FIN_FOREGROUND)))
			had = true;
	}
	if (p != API_PROPAGATE_BACKGROUND)
		json_array_append_new(fin, json_string(p == API_PROPAGATE_ORPHAN ? FIN_ORPHAN
									: FIN_FOREGROUND));
	/* Unchanged when only the finalizer asked for was there (as a set). */
	changed = json_array_size(fin) != json_array_size(old) ||
		  (p != API_PROPAGATE_BACKGROUND && !had);
	if (!changed)
		json_decref(fin);
	else if (json_array_size(fin))
		json_object_set_new(api_obj_meta(obj), "finalizers", fin);
	else {
		json_object_del(api_obj_meta(obj), "finalizers");
		json_decref(fin);
	}
	return changed;
}

/* ---- delete ---- */

/* The caller's preconditions, then the row's may_delete. */
static int check_delete(const struct api_resource *r, json_t *obj,
			const struct api_delete_opts *o, struct api_err *e)
{
	const char *name = api_jstr(obj, "metadata.name");

	if ((o->uid && !streq(o->uid, api_jstr(obj, "metadata.uid"))) ||
	    (o->resource_version &&
	     !streq(o->resource_version, api_jstr(obj, "metadata.resourceVersion")))) {
		char qn[128];

		api_resource_qualified(r, qn, sizeof(qn));
		api_err_set(e, 409, "Conflict",
			    "Operation cannot be fulfilled on %s \"%s\": precondition failed", qn,
			    name);
		api_err_named(e, r, name);
		return -EBUSY;
	}
	if (r->hooks && r->hooks->may_delete)
		return r->hooks->may_delete(r, obj, e);
	return 0;
}

/* Stores obj (read at rev) marked as being deleted: its deletionTimestamp
 * is when the grace period ends, as Kubernetes sets it, kept from the
 * first delete. -ESTALE when the object moved on. */
static int mark_deleting(struct api_server *s, const struct api_resource *r, const char *key,
			 json_t *obj, int64_t rev, long grace, struct api_err *e)
{
	_cleanup_free_ char *text = NULL;
	int64_t nrev = 0;
	char ts[40];
	int ret;

	if (!api_jget(obj, "metadata.deletionTimestamp")) {
		api_format_time(time(NULL) + grace, ts, sizeof(ts));
		json_object_set_new(api_obj_meta(obj), "deletionTimestamp", json_string(ts));
		json_object_set_new(api_obj_meta(obj), "deletionGracePeriodSeconds",
				    json_integer(grace));
		if (r->hooks && r->hooks->deleting)
			r->hooks->deleting(obj);
	}
	text = api_obj_dump(obj);
	ret = text ? store_update(s->store, key, text, strlen(text), rev, &nrev) : -ENOMEM;
	if (ret < 0 && ret != -ESTALE)
		api_err_store(e, ret);
	if (ret == 0)
		api_set_rv(obj, nrev);
	if (ret == 0 && r->hooks && r->hooks->written)
		r->hooks->written(s, r, obj, false);
	return ret;
}

/* Removes obj now. -ESTALE when the object moved on. */
static int remove_now(struct api_server *s, const struct api_resource *r, const char *key,
		      json_t *obj, int64_t rev, struct api_err *e)
{
	int ret = api_obj_remove(s, r, key, obj, rev);

	if (ret == -ESTALE || ret == -ENOENT)
		return -ESTALE;
	if (ret < 0)
		api_err_store(e, ret);
	return ret;
}

/* One attempt on obj as read at rev: the garbage collector's finalizers
 * set, then the object removed, or marked (first delete, or finalizers
 * changed), or left as it is (a repeated delete; a namespace still
 * emptying answers 409, as upstream). */
static int delete_read(struct api_server *s, const struct api_resource *r, const char *key,
		       json_t *obj, int64_t rev, const struct api_delete_opts *o,
		       struct api_err *e)
{
	bool was_deleting = api_jget(obj, "metadata.deletionTimestamp") != NULL;
	const char *held_by = NULL;
	int ret = check_delete(r, obj, o, e);
	bool changed;
	long grace = 0;

	if (ret < 0 || o->dry_run)
		return ret;
	if (r->hooks && r->hooks->grace)
		grace = r->hooks->grace(s, obj, o->has_grace, o->grace);
	if (r->hooks && r->hooks->held)
		held_by = r->hooks->held(obj);
	changed = set_gc_finalizers(r, obj, o);
	if (!held_by && json_array_size(api_jget(obj, "metadata.finalizers")) == 0 && grace <= 0)
		return remove_now(s, r, key, obj, rev, e);
	if (!was_deleting || changed)
		return mark_deleting(s, r, key, obj, rev, grace, e);
	if (held_by) {
		char qn[128];

		api_resource_qualified(r, qn, sizeof(qn));
		api_err_set(e, 409, "Conflict", "Operation cannot be fulfilled on %s \"%s\": %s", qn,
			    api_jstr(obj, "metadata.name"), held_by);
		api_err_named(e, r, api_jstr(obj, "metadata.name"));
		return -EBUSY;
	}
	return 0;
}

void api_delete_opts_parse(json_t *body, struct api_delete_opts *o)
{
	const char *policy = api_jstr(body, "propagationPolicy");
	json_t *g = json_object_get(body, "gracePeriodSeconds");
	json_t *orphan = json_object_get(body, "orphanDependents");

	memset(o, 0, sizeof(*o));
	o->dry_run = json_array_size(json_object_get(body, "dryRun")) > 0;
	/* The legacy orphanDependents, when given, wins (as upstream). */
	if (json_is_boolean(orphan))
		o->propagation = json_is_true(orphan) ? API_PROPAGATE_ORPHAN : API_PROPAGATE_BACKGROUND;
	else if (streq(policy, "Orphan"))
		o->propagation = API_PROPAGATE_ORPHAN;
	else if (streq(policy, "Foreground"))
		o->propagation = API_PROPAGATE_FOREGROUND;
	else if (streq(policy, "Background"))
		o->propagation = API_PROPAGATE_BACKGROUND;
	o->uid = api_jstr(body, "preconditions.uid");
	o->resource_version = api_jstr(body, "preconditions.resourceVersion");
	o->has_grace = json_is_integer(g);
	o->grace = o->has_grace ? (long)json_integer_value(g) : 0;
}

int api_obj_delete(struct api_server *s, const struct api_resource *r, const char *ns,
		   const char *name, const struct api_delete_opts *o, json_t **out,
		   struct api_err *e)
{
	static const struct api_delete_opts defaults;
	char key[1024];

	if (!o)
		o = &defaults;
	api_key_for(r, ns, name, key, sizeof(key));
	for (int attempt = 0; attempt < DELETE_RETRIES; attempt++) {
		json_t *obj = NULL;
		int64_t rev = 0;
		int ret = api_obj_load(s, r, key, name, &obj, &rev, e);

		if (ret < 0)
			return ret;
		ret = delete_read(s, r, key, obj, rev, o, e);
		if (ret == 0) {
			*out = obj;
			return 0;
		}
		json_decref(obj);
		if (ret != -ESTALE)
			return ret;
	}
	api_err_conflict(e, r, name);
	return -EBUSY;
}
