/* The namespace controller's compute step: see ctrl_namespace.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_namespace.h"
#include "control/ctrl_util.h"
#include "lib/util.h"

#define NS_FINALIZER "kubernetes"

/* One condition as upstream writes it (message owned). */
struct ns_condition {
	const char *type, *status, *reason;
	char *message;
};

enum { COND_DISCOVERY, COND_PARSING, COND_CONTENT_FAILURE, COND_REMAINING, COND_FINALIZERS,
       N_COND };

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "a in 2 resource instances, b in 1 resource instances", sorted by name
 * as upstream; NULL when no object left holds a finalizer. */
static char *finalizers_left(const struct ns_content *c, size_t n)
{
	json_t *count = json_object(), *v;
	const char *name, **names;
	char *out = NULL;
	size_t len = 0, k = 0, i;
	FILE *f;

	for (i = 0; count && i < n; i++)
		for (size_t j = 0; j < c[i].n; j++) {
			size_t x;

			json_array_foreach(ctrl_get(c[i].objs[j], "metadata.finalizers"), x, v)
				if ((name = json_string_value(v)))
					json_object_set_new(count, name,
							    json_integer(json_integer_value(json_object_get(count, name)) + 1));
		}
	if (json_object_size(count) == 0 ||
	    !(names = calloc(json_object_size(count), sizeof(*names)))) {
		json_decref(count);
		return NULL;
	}
	json_object_foreach(count, name, v)
		names[k++] = name;
	qsort(names, k, sizeof(*names), str_cmp);
	f = open_memstream(&out, &len);
	for (i = 0; f && i < k; i++)
		fprintf(f, "%s%s in %lld resource instances", i ? ", " : "", names[i],
			(long long)json_integer_value(json_object_get(count, names[i])));
	if (f)
		fclose(f);
	free(names);
	json_decref(count);
	return out;
}

/* "pods has 2 resource instances, ..." for the resources with objects
 * left; *errors the same for the errors. */
static void content_left(const struct ns_content *c, size_t n, char **left, char **errors,
			 size_t *n_left, size_t *n_errors)
{
	size_t l1 = 0, l2 = 0;
	FILE *f = open_memstream(left, &l1), *e = open_memstream(errors, &l2);

	*n_left = *n_errors = 0;
	for (size_t i = 0; f && e && i < n; i++) {
		if (c[i].n)
			fprintf(f, "%s%s has %zu resource instances", (*n_left)++ ? ", " : "",
				c[i].resource, c[i].n);
		if (c[i].error)
			fprintf(e, "%s%s", (*n_errors)++ ? ", " : "", c[i].error);
	}
	if (f)
		fclose(f);
	if (e)
		fclose(e);
}

static int conditions(const struct ns_content *c, size_t n, struct ns_condition *cond)
{
	char *left = NULL, *errors = NULL, *fin = finalizers_left(c, n);
	size_t n_left, n_errors;
	int r = 0;

	content_left(c, n, &left, &errors, &n_left, &n_errors);
	cond[COND_DISCOVERY] = (struct ns_condition){ "NamespaceDeletionDiscoveryFailure", "False",
						      "ResourcesDiscovered",
						      strdup("All resources successfully discovered") };
	cond[COND_PARSING] = (struct ns_condition){ "NamespaceDeletionGroupVersionParsingFailure",
						    "False", "ParsedGroupVersions",
						    strdup("All legacy kube types successfully parsed") };
	if (n_errors) {
		cond[COND_CONTENT_FAILURE] = (struct ns_condition){
			"NamespaceDeletionContentFailure", "True", "ContentDeletionFailed", NULL };
		if (asprintf(&cond[COND_CONTENT_FAILURE].message,
			     "Failed to delete all resource types, %zu remaining: %s", n_errors,
			     errors ?: "") < 0)
			cond[COND_CONTENT_FAILURE].message = NULL;
	} else
		cond[COND_CONTENT_FAILURE] = (struct ns_condition){
			"NamespaceDeletionContentFailure", "False", "ContentDeleted",
			strdup("All content successfully deleted, may be waiting on finalization") };
	if (n_left) {
		cond[COND_REMAINING] = (struct ns_condition){ "NamespaceContentRemaining", "True",
							      "SomeResourcesRemain", NULL };
		if (asprintf(&cond[COND_REMAINING].message, "Some resources are remaining: %s",
			     left ?: "") < 0)
			cond[COND_REMAINING].message = NULL;
	} else
		cond[COND_REMAINING] = (struct ns_condition){ "NamespaceContentRemaining", "False",
							      "ContentRemoved",
							      strdup("All content successfully removed") };
	if (fin) {
		cond[COND_FINALIZERS] = (struct ns_condition){ "NamespaceFinalizersRemaining", "True",
							       "SomeFinalizersRemain", NULL };
		if (asprintf(&cond[COND_FINALIZERS].message,
			     "Some content in the namespace has finalizers remaining: %s", fin) < 0)
			cond[COND_FINALIZERS].message = NULL;
	} else
		cond[COND_FINALIZERS] = (struct ns_condition){
			"NamespaceFinalizersRemaining", "False", "ContentHasNoFinalizers",
			strdup("All content-preserving finalizers finished") };
	for (size_t i = 0; i < N_COND; i++)
		if (!cond[i].message)
			r = -ENOMEM;
	free(left);
	free(errors);
	free(fin);
	return r;
}

/* Writes phase Terminating and the conditions (merged by type with those
 * there, as upstream) when they change. */
static int plan_status(json_t *ns, const struct ns_content *c, size_t n, time_t now,
		       struct ctrl_plan *p)
{
	struct ns_condition cond[N_COND] = { 0 };
	json_t *copy = json_deep_copy(ns);
	int r = copy ? conditions(c, n, cond) : -ENOMEM;

	for (size_t i = 0; r == 0 && i < N_COND; i++)
		r = ctrl_condition_set(copy, cond[i].type, cond[i].status, cond[i].reason,
				       cond[i].message, now);
	for (size_t i = 0; i < N_COND; i++)
		free(cond[i].message);
	if (r == 0 && json_object_set_new(json_object_get(copy, "status"), "phase",
					  json_string("Terminating")) < 0)
		r = -ENOMEM;
	if (r == 0 && !json_equal(ctrl_get(copy, "status"), ctrl_get(ns, "status")))
		r = ctrl_plan_add(p, CTRL_UPDATE_STATUS, "namespaces", NULL,
				  ctrl_str(ns, "metadata.name"), json_incref(copy));
	json_decref(copy);
	return r;
}

static int plan_deletes(const struct ns_content *c, size_t n, struct ctrl_plan *p)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < n; i++)
		for (size_t j = 0; r == 0 && j < c[i].n; j++) {
			json_t *o = c[i].objs[j];

			if (ctrl_get(o, "metadata.deletionTimestamp"))
				continue;
			r = ctrl_plan_add(p, CTRL_DELETE, c[i].resource,
					  ctrl_str(o, "metadata.namespace"),
					  ctrl_str(o, "metadata.name"),
					  ctrl_delete_options("Background",
							      ctrl_str(o, "metadata.uid"), -1));
		}
	return r;
}

/* The namespace without the "kubernetes" finalizer, for the finalize
 * subresource (no resourceVersion: it writes spec.finalizers alone). */
static int plan_finalize(json_t *ns, struct ctrl_plan *p)
{
	json_t *copy = json_deep_copy(ns), *keep = json_array(), *f;
	size_t i;

	if (!copy || !keep) {
		json_decref(copy);
		json_decref(keep);
		return -ENOMEM;
	}
	json_array_foreach(ctrl_get(ns, "spec.finalizers"), i, f)
		if (!streq(json_string_value(f), NS_FINALIZER))
			json_array_append(keep, f);
	json_object_set_new(json_object_get(copy, "spec"), "finalizers", keep);
	json_object_del(json_object_get(copy, "metadata"), "resourceVersion");
	return ctrl_plan_add_sub(p, CTRL_UPDATE, "namespaces", "finalize", NULL,
				 ctrl_str(ns, "metadata.name"), copy);
}

int namespace_compute(json_t *ns, const struct ns_content *content, size_t n_content,
		      time_t now, struct ctrl_plan *p)
{
	size_t left = 0;
	int r;

	if (!ctrl_get(ns, "metadata.deletionTimestamp") || !ctrl_strlist_has(ns, "spec.finalizers", NS_FINALIZER))
		return 0;
	r = plan_status(ns, content, n_content, now, p);
	if (r == 0)
		r = plan_deletes(content, n_content, p);
	for (size_t i = 0; i < n_content; i++)
		left += content[i].n;
	if (r == 0 && left == 0)
		r = plan_finalize(ns, p);
	return r;
}
