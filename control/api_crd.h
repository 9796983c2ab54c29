/* CustomResourceDefinitions (apiextensions.k8s.io/v1): a CRD stored
 * through the object layer serves its resource at once. Each served
 * version becomes a row of the resource table (struct api_resource with
 * crd set), built from the stored CRD and published in a snapshot the
 * server swaps atomically (api_crd.c); the rows of every version share
 * one store prefix (/registry/<group>/<plural>/), so a read through a
 * version's row rewrites apiVersion to it (conversion None). Objects
 * are pruned, defaulted and validated by the version's structural
 * schema (api_crd_schema.c). */
#ifndef SKIFF_API_CRD_H
#define SKIFF_API_CRD_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "control/api.h"

/* One served version of a custom resource. The JSON is the CRD as it was
 * when the row was built, never modified afterwards (readers on other
 * threads walk it without locks). */
struct api_crd_version {
	json_t *crd;        /* the CustomResourceDefinition (owned) */
	json_t *schema;     /* spec.versions[i].schema.openAPIV3Schema, or NULL */
	json_t *columns;    /* spec.versions[i].additionalPrinterColumns, or NULL */
	const char *storage; /* the storage version's name */
	/* The scale subresource's paths (".spec.replicas"), or NULL. */
	const char *spec_replicas, *status_replicas, *label_selector;
};

/* ---- the dynamic part of the resource table (api_crd.c) ---- */

struct api_crd_table;
int api_crd_table_new(struct api_crd_table **out);
/* Frees the table and every row it ever published (at server stop, when
 * no request holds a row). */
void api_crd_table_free(struct api_crd_table *t);
/* Reads every stored CRD and publishes the rows of those established;
 * finishes the deletion of CRDs marked as being deleted. */
int api_crd_reload(struct api_server *s);
/* What a reload calls once it published rows that differ from the last
 * ones, still under its lock (so calls come in the order of the
 * snapshots): fn reads the rows with api_crd_each; published is the
 * table's, for fn to note what it made of them last time. Set before
 * the first reload. */
typedef void api_crd_published_fn(struct api_server *s, json_t *published);
void api_crd_on_publish(struct api_crd_table *t, api_crd_published_fn *fn);
/* A thread that reloads whenever a stored CRD changes (another server on
 * the same etcd wrote it); stopped, after the server's stopping flag is
 * set, by api_crd_watch_stop. */
int api_crd_watch_start(struct api_server *s);
void api_crd_watch_stop(struct api_server *s);

/* The row serving group/version/plural: a built-in's, else a custom
 * resource's; NULL when none does. */
const struct api_resource *api_resource_lookup(struct api_server *s, const char *group,
					       const char *version, const char *plural);
/* Calls fn for each custom resource row being served. */
void api_crd_each(struct api_server *s, void (*fn)(const struct api_resource *r, void *ud),
		  void *ud);
/* The versions a group serves, preferred first (Kubernetes' version
 * priority: GA, then beta, then alpha, higher numbers first); returns
 * how many (0: unknown group). The strings live as long as the server. */
size_t api_group_versions(struct api_server *s, const char *group, const char **out,
			  size_t max);

/* A Namespace row's hook: once a namespace is removed, the custom
 * resources in it are too (the namespace controller deletes the kinds it
 * knows; it does not wait for these). */
void api_crd_namespace_written(struct api_server *s, const struct api_resource *r, json_t *ns,
			       bool gone);

/* The CustomResourceDefinition row's hooks and its validation. */
extern const struct api_obj_hooks api_crd_hooks;
#define API_CRD_NCOLS 2
extern const struct api_column api_crd_columns[API_CRD_NCOLS];
void api_crd_defaults(json_t *crd);
void api_crd_validate(json_t *crd, json_t *causes);
void api_crd_cells(json_t *obj, time_t now, json_t *cells);

/* ---- in the OpenAPI documents (api_crd_openapi.c, with the HTTP layer) ---- */

/* The table's api_crd_published_fn in skiff-server: each served custom
 * group-version's kinds and list kinds (named as upstream names them,
 * "org.example.v1.Widget") and paths set in the OpenAPI documents
 * (api_openapi_set_gv), the ones no longer served withdrawn. */
void api_crd_openapi_publish(struct api_server *s, json_t *published);

/* ---- a custom resource's objects (api_crd_schema.c) ---- */

/* The openAPIV3Schema of a custom resource row's version (for `kubectl
 * explain` and the OpenAPI documents), or NULL for a built-in row. */
json_t *api_crd_schema(const struct api_resource *r);

/* Admission of a custom resource: unknown fields pruned, defaults set,
 * then the schema's checks appended to causes as
 * {reason, message, field}. */
void api_crd_admit(const struct api_resource *r, json_t *obj, json_t *causes);
/* Defaults of the schema applied to a stored object as it is read. */
void api_crd_on_read(const struct api_resource *r, json_t *obj);
/* Fields obj has that the schema would prune, as "unknown field \"x\""
 * messages one a line into buf (fieldValidation, API_SCHEMA_MSG_SEP);
 * returns how many. */
size_t api_crd_unknown_fields(const struct api_resource *r, json_t *obj, char *buf, size_t len);
/* The table cells of additionalPrinterColumns (NAME first). */
void api_crd_row_cells(const struct api_resource *r, json_t *obj, time_t now, json_t *cells);
/* The autoscaling/v1 Scale of obj by the scale subresource's paths, and
 * the replicas written back into obj. */
json_t *api_crd_scale_of(const struct api_resource *r, json_t *obj);
int api_crd_scale_set(const struct api_resource *r, json_t *obj, json_t *replicas);
/* The value at a simple JSON path (".spec.items[0].name"), or NULL. */
json_t *api_crd_jsonpath(json_t *obj, const char *path);

#endif
