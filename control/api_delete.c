/* The object layer's deletes: at once, or marked with a
 * deletionTimestamp while finalizers or a grace period hold the object;
 * then the garbage collection of what it owned (deleted, or orphaned),
 * synchronously and in its namespace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_internal.h"
#include "lib/util.h"

#define DELETE_RETRIES 16
#define CASCADE_DEPTH 3

int api_obj_remove(struct api_server *s, const struct api_resource *r, const char *key,
		   json_t *obj, int64_t rev)
{
	int ret = store_delete(s->store, key, rev, NULL, NULL);

	if (ret == 0 && r->hooks && r->hooks->release)
		r->hooks->release(s, obj, NULL);
	return ret;
}

/* ---- garbage collection ---- */

static bool owned_by(json_t *obj, const char *uid)
{
	json_t *ref;
	size_t i;

	json_array_foreach(api_jget(obj, "metadata.ownerReferences"), i, ref) {
		if (streq(api_jstr(ref, "uid"), uid))
			return true;
	}
	return false;
}

/* Called for every object in a namespace that uid owns. */
typedef void dependent_fn(struct api_server *s, const struct api_resource *r, const char *key,
			  json_t *obj, int64_t mod_rev, const char *uid, void *ud);

struct dependents {
	const char *uid;
	dependent_fn *fn;
	void *ud;
};

static void visit_dependent(struct api_server *s, const struct api_resource *r,
			    const char *key, json_t *obj, int64_t mod_rev, void *ud)
{
	const struct dependents *d = ud;

	if (obj && owned_by(obj, d->uid))
		d->fn(s, r, key, obj, mod_rev, d->uid, d->ud);
}

/* Walks the objects of the kinds that have owners (the rows marked
 * gc_owned) in namespace ns that uid owns. */
static void for_each_dependent(struct api_server *s, const char *ns, const char *uid,
			       dependent_fn *fn, void *ud)
{
	struct dependents d = { uid, fn, ud };

	for (size_t i = 0; uid && i < api_n_resources; i++)
		if (api_resources[i].gc_owned)
			api_obj_each(s, &api_resources[i], ns, visit_dependent, &d);
}

/* Drops the owner references to uid from obj, as the garbage collector
 * does for orphans; best effort. */
static void orphan_one(struct api_server *s, const struct api_resource *r, const char *key,
		       json_t *obj, int64_t mod_rev, const char *uid, void *ud)
{
	json_t *refs = api_jget(obj, "metadata.ownerReferences"), *keep = json_array(), *ref;
	_cleanup_free_ char *text = NULL;
	size_t i;

	(void)r;
	(void)ud;
	json_array_foreach(refs, i, ref) {
		if (!streq(api_jstr(ref, "uid"), uid))
			json_array_append(keep, ref);
	}
	if (json_array_size(keep))
		json_object_set_new(api_obj_meta(obj), "ownerReferences", keep);
	else {
		json_object_del(api_obj_meta(obj), "ownerReferences");
		json_decref(keep);
	}
	text = api_obj_dump(obj);
	if (text)
		store_update(s->store, key, text, strlen(text), mod_rev, NULL);
}

struct cascade {
	const char *ns;
	int depth;
};

static void cascade_delete(struct api_server *s, const char *ns, const char *uid, int depth);

static void cascade_one(struct api_server *s, const struct api_resource *r, const char *key,
			json_t *obj, int64_t mod_rev, const char *uid, void *ud)
{
	const struct cascade *c = ud;
	char child_uid[64];

	(void)uid;
	snprintf(child_uid, sizeof(child_uid), "%s", api_jstr(obj, "metadata.uid") ?: "");
	if (api_obj_remove(s, r, key, obj, mod_rev) == 0)
		cascade_delete(s, c->ns, child_uid, c->depth + 1);
}

/* Dependents of a deleted object go too, and theirs, a few levels down. */
static void cascade_delete(struct api_server *s, const char *ns, const char *uid, int depth)
{
	struct cascade c = { ns, depth };

	if (depth > CASCADE_DEPTH)
		return;
	for_each_dependent(s, ns, uid, cascade_one, &c);
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

/* Marks obj (stored under key at rev) as being deleted, once: its
 * deletionTimestamp is when the grace period ends, as Kubernetes sets it.
 * -ESTALE when the object moved on. */
static int mark_deleting(struct api_server *s, const char *key, json_t *obj, int64_t rev,
			 long grace, struct api_err *e)
{
	_cleanup_free_ char *text = NULL;
	int64_t nrev = 0;
	char ts[40];
	int ret;

	if (api_jget(obj, "metadata.deletionTimestamp"))
		return 0;
	api_format_time(time(NULL) + grace, ts, sizeof(ts));
	json_object_set_new(api_obj_meta(obj), "deletionTimestamp", json_string(ts));
	json_object_set_new(api_obj_meta(obj), "deletionGracePeriodSeconds", json_integer(grace));
	text = api_obj_dump(obj);
	ret = text ? store_update(s->store, key, text, strlen(text), rev, &nrev) : -ENOMEM;
	if (ret < 0 && ret != -ESTALE)
		api_err_store(e, ret);
	if (ret == 0)
		api_set_rv(obj, nrev);
	return ret;
}

/* Removes obj now (after the row's removing hook) and collects what it
 * owned. -ESTALE when the object moved on. */
static int remove_now(struct api_server *s, const struct api_resource *r, const char *key,
		      json_t *obj, int64_t rev, const struct api_delete_opts *o,
		      struct api_err *e)
{
	const char *ns = api_jstr(obj, "metadata.namespace"), *uid = api_jstr(obj, "metadata.uid");
	int ret;

	if (r->hooks && r->hooks->removing)
		r->hooks->removing(s, obj);
	ret = api_obj_remove(s, r, key, obj, rev);
	if (ret == -ESTALE || ret == -ENOENT)
		return -ESTALE;
	if (ret < 0) {
		api_err_store(e, ret);
		return ret;
	}
	if (!r->namespaced)
		return 0;
	if (o->propagation == API_PROPAGATE_ORPHAN) {
		for_each_dependent(s, ns, uid, orphan_one, NULL);
		return 0;
	}
	cascade_delete(s, ns, uid, 0);
	return 0;
}

/* One attempt on obj as read at rev. */
static int delete_read(struct api_server *s, const struct api_resource *r, const char *key,
		       json_t *obj, int64_t rev, const struct api_delete_opts *o,
		       struct api_err *e)
{
	int ret = check_delete(r, obj, o, e);
	long grace = 0;

	if (ret < 0 || o->dry_run)
		return ret;
	if (r->hooks && r->hooks->grace)
		grace = r->hooks->grace(s, obj, o->has_grace, o->grace);
	if (json_array_size(api_jget(obj, "metadata.finalizers")) > 0 || grace > 0)
		return mark_deleting(s, key, obj, rev, grace, e);
	return remove_now(s, r, key, obj, rev, o, e);
}

void api_delete_opts_parse(json_t *body, struct api_delete_opts *o)
{
	const char *policy = api_jstr(body, "propagationPolicy");
	json_t *g = json_object_get(body, "gracePeriodSeconds");

	if (!policy && json_is_true(json_object_get(body, "orphanDependents")))
		policy = "Orphan";
	memset(o, 0, sizeof(*o));
	o->dry_run = json_array_size(json_object_get(body, "dryRun")) > 0;
	o->propagation = streq(policy, "Orphan") ? API_PROPAGATE_ORPHAN : API_PROPAGATE_BACKGROUND;
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
