/* skiff-server's object layer: reads and writes of API objects that need
 * no HTTP request. kubectl's requests reach it through the REST handlers
 * (api_write.c parses a request and calls one entry); the controllers and
 * the scheduler running inside the server call the same entries, so both
 * go through one admission (type, unknown fields, defaulting, validation,
 * the row's hooks such as a Service's allocations) and one storage path
 * (writes against the revision read, retried when the object moved on).
 *
 * Every entry returns 0 or a negative errno and, on failure, fills a
 * struct api_err that the HTTP layer answers as a Kubernetes Status:
 * -ENOENT 404 NotFound, -EEXIST 409 AlreadyExists, -EBUSY 409 Conflict,
 * -EINVAL 400 BadRequest or 422 Invalid (causes name the fields), -EPERM
 * 403 Forbidden, anything else 500. The caller frees it with
 * api_err_free. Out-parameters are set only on success. */
#ifndef SKIFF_API_OBJ_H
#define SKIFF_API_OBJ_H

#include "control/api.h"

/* ---- errors (api_err.c) ---- */

struct api_err {
	unsigned code;
	const char *reason;
	char message[1024];
	json_t *causes;   /* owned; Invalid only: [{reason, message, field}] */
	const char *kind; /* details.kind */
	char name[256];   /* details.name */
	const char *group;
};

void api_err_set(struct api_err *e, unsigned code, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void api_err_free(struct api_err *e);
/* The Status object e describes. */
json_t *api_err_status(const struct api_err *e);
/* The errors Kubernetes words one way for every resource. */
void api_err_store(struct api_err *e, int r);
void api_err_not_found(struct api_err *e, const struct api_resource *r, const char *name);
void api_err_exists(struct api_err *e, const struct api_resource *r, const char *name);
void api_err_conflict(struct api_err *e, const struct api_resource *r, const char *name);
/* 422 from the causes gathered (steals causes). */
void api_err_invalid(struct api_err *e, const struct api_resource *r, const char *name,
		     json_t *causes);
/* details.{kind,group,name} of e name the object. */
void api_err_named(struct api_err *e, const struct api_resource *r, const char *name);

/* ---- keys and stored objects (api_obj.c) ---- */

/* The store key of an object, and the prefix of a resource's objects
 * (in namespace ns, or all of them when ns is NULL or empty). */
void api_key_for(const struct api_resource *r, const char *ns, const char *name, char *buf,
		 size_t len);
void api_prefix_for(const struct api_resource *r, const char *ns, char *buf, size_t len);
/* obj's metadata, made an object when it is not one. */
json_t *api_obj_meta(json_t *obj);
void api_set_rv(json_t *obj, int64_t rev);
/* Parses a stored value into an object with apiVersion, kind and its
 * resourceVersion; NULL when it is not a JSON object. */
json_t *api_obj_from_kv(const struct api_resource *r, const char *value, size_t len,
			int64_t rev);
/* The compact JSON of api_obj_from_kv(r, value, len, rev), spliced from
 * the stored text without parsing it: NULL (fall back to parsing) unless
 * value is compact JSON whose apiVersion and kind already are r's and
 * whose metadata object has no resourceVersion, as api_obj_dump writes,
 * and r is no custom resource (whose reads are defaulted). */
char *api_obj_render_kv(const struct api_resource *r, const char *value, size_t len,
			int64_t rev, size_t *out_len);
struct kube_selector;
/* The members of the object in compact JSON text that the selectors
 * look at (metadata.labels, each field's path), for api_obj_matches to
 * decide as on the whole object without parsing it; NULL when the text
 * does not walk (parse it instead). */
json_t *api_obj_project(const char *text, size_t len, const struct kube_selector *ls,
			const struct kube_selector *fs);
/* Compact JSON of obj as stored (no resourceVersion, no selfLink). */
char *api_obj_dump(json_t *obj);
/* The object stored under key and its mod revision (rev may be NULL);
 * e names the object name when it is absent (-ENOENT). */
int api_obj_load(struct api_server *s, const struct api_resource *r, const char *key,
		 const char *name, json_t **out, int64_t *rev, struct api_err *e);
bool api_obj_exists(struct api_server *s, const struct api_resource *r, const char *ns,
		    const char *name);
/* Calls fn for every object of r in namespace ns (NULL: all) with its key
 * and mod revision; obj is NULL for a stored value that is not an object.
 * Returns 0 or the store's error. */
typedef void (*api_obj_visit_fn)(struct api_server *s, const struct api_resource *r,
				 const char *key, json_t *obj, int64_t mod_rev, void *ud);
int api_obj_each(struct api_server *s, const struct api_resource *r, const char *ns,
		 api_obj_visit_fn fn, void *ud);
/* api_obj_each for the objects whose stored text contains word (a key
 * or value that fn looks for: the others are not parsed); every object
 * of a custom resource, whose reads are defaulted. */
int api_obj_each_mentioning(struct api_server *s, const struct api_resource *r, const char *ns,
			    const char *word, api_obj_visit_fn fn, void *ud);
/* api_obj_get, but *out is NULL (and 0 returned) when the stored text of
 * the object, which exists, contains none of words (NULL-terminated):
 * a caller that only looks at those members need not parse it. */
int api_obj_get_mentioning(struct api_server *s, const struct api_resource *r, const char *ns,
			   const char *name, const char *const *words, json_t **out,
			   struct api_err *e);

/* ---- the entries ---- */

/* Unknown fields (fieldValidation), at any depth of the kind's schema:
 * Warn names them in opts->warning (when given) and drops them, Strict
 * refuses the write (400), Ignore drops them silently, as upstream. */
enum api_field_validation {
	API_FIELDS_WARN,
	API_FIELDS_STRICT,
	API_FIELDS_IGNORE,
};

/* How to write; NULL or all zero: store it, unknown fields unnamed. */
struct api_write_opts {
	bool dry_run; /* admit and answer, store nothing */
	enum api_field_validation fields;
	char *warning; /* where Warn writes its messages, one a line; may be NULL */
	size_t warning_len;
	/* Where a write that stored the object may leave *out's text, as
	 * json_dumps(*out, JSON_COMPACT) writes it, made from the text just
	 * stored instead of dumping *out again (NULL: not asked; *reply
	 * stays NULL when it cannot be made). The caller frees *reply. */
	char **reply;
	size_t *reply_len;
};

/* Reads one object (404 when absent). */
int api_obj_get(struct api_server *s, const struct api_resource *r, const char *ns,
		const char *name, json_t **out, struct api_err *e);

/* Creates obj (not modified) in namespace ns (NULL: obj's, else
 * "default"); *out is the object as stored, with its resourceVersion. */
int api_obj_create(struct api_server *s, const struct api_resource *r, const char *ns,
		   json_t *obj, const struct api_write_opts *o, json_t **out, struct api_err *e);
/* api_obj_create of an obj the caller gives up (a request's body, which
 * is then not copied): *out may be obj itself; the caller's reference is
 * taken whatever the result. */
int api_obj_create_take(struct api_server *s, const struct api_resource *r, const char *ns,
			json_t *obj, const struct api_write_opts *o, json_t **out,
			struct api_err *e);

/* Which part of the object a write replaces: spec and metadata (status
 * kept as stored), or status alone (everything else kept). */
enum api_write_part {
	API_WRITE_MAIN,
	API_WRITE_STATUS,
};

/* Produces the object to write from the stored one (old, with its
 * resourceVersion; not to be modified). A resourceVersion set in *out
 * must be old's (else 409). Called again with the newer object when a
 * write races another. */
typedef int (*api_mutate_fn)(const struct api_resource *r, json_t *old, void *ud, json_t **out,
			     struct api_err *e);

/* Read, mutate, admit, write: the one update path. A write that changes
 * nothing keeps the resourceVersion; one that removes the last finalizer
 * of an object being deleted deletes it. */
int api_obj_mutate(struct api_server *s, const struct api_resource *r, const char *ns,
		   const char *name, enum api_write_part part, api_mutate_fn fn, void *ud,
		   const struct api_write_opts *o, json_t **out, struct api_err *e);
/* Replaces the object with obj (apiVersion, kind and metadata required,
 * as in a PUT); obj's resourceVersion, when set, must be the stored one. */
int api_obj_update(struct api_server *s, const struct api_resource *r, const char *ns,
		   const char *name, json_t *obj, const struct api_write_opts *o, json_t **out,
		   struct api_err *e);
/* Replaces status alone with obj's (PUT .../status). */
int api_obj_update_status(struct api_server *s, const struct api_resource *r, const char *ns,
			  const char *name, json_t *obj, const struct api_write_opts *o,
			  json_t **out, struct api_err *e);

/* What happens to the objects a deleted one owns (ownerReferences); the
 * garbage collector acts on it (ctrl_gc.h). */
enum api_propagation {
	API_PROPAGATE_DEFAULT,    /* none asked: the object's finalizer's, or the row's */
	API_PROPAGATE_BACKGROUND, /* the owner goes now, the dependents after */
	API_PROPAGATE_FOREGROUND, /* the owner stays ("foregroundDeletion") until they went */
	API_PROPAGATE_ORPHAN,     /* the owner stays ("orphan") until they lost their reference */
};

/* DeleteOptions; all zero: the defaults. */
struct api_delete_opts {
	bool dry_run;
	enum api_propagation propagation;
	const char *uid;              /* preconditions, may be NULL */
	const char *resource_version;
	bool has_grace;               /* gracePeriodSeconds given */
	long grace;
};

/* The options a DeleteOptions object (may be NULL) gives; o points into
 * body. */
void api_delete_opts_parse(json_t *body, struct api_delete_opts *o);

/* Deletes an object (api_delete.c): at once, or, when it has finalizers
 * (the Orphan and Foreground policies add one), a grace period (a pod on
 * a live node) or its row's hold (a namespace's spec.finalizers), marked
 * with its deletionTimestamp. *out is the object as the reply shows it. */
int api_obj_delete(struct api_server *s, const struct api_resource *r, const char *ns,
		   const char *name, const struct api_delete_opts *o, json_t **out,
		   struct api_err *e);
/* Removes obj (stored under key at rev; 0: any) from the store at once
 * and gives back what it held: no finalizers or grace. */
int api_obj_remove(struct api_server *s, const struct api_resource *r, const char *key,
		   json_t *obj, int64_t rev);

#endif
