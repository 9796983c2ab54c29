/* The schemas of the kinds skiff-server serves: control/api_schema.def,
 * built into the server, read as OpenAPI v3 schemas. The OpenAPI
 * documents (control/api_openapi.c) serve them and fieldValidation
 * (api_unknown_fields) walks them. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* Where a schema's $refs point, as in an OpenAPI v3 document. */
#define API_SCHEMA_REF "#/components/schemas/"

/* Between the messages of the unknown-field checks (one a line): each is
 * a Warning header of its own under fieldValidation=Warn, and Strict's
 * error joins them with ", ", as upstream's decoder does both. */
#define API_SCHEMA_MSG_SEP "\n"

/* The built-in schemas: an object of OpenAPI v3 schemas by definition
 * name ("io.k8s.api.apps.v1.Deployment"), each kind's with its
 * x-kubernetes-group-version-kind. Read once; never NULL, never to be
 * modified (an empty object if the built-in text did not parse, which
 * test_api_schema proves it does). */
const json_t *api_schema_builtin(void);

/* Reads schema text in the .def format into *out as above. Returns 0, or
 * -EINVAL with err naming the line (or the $ref that resolves nowhere). */
int api_schema_parse(const char *text, json_t **out, char *err, size_t errlen);

/* The schema in schemas of group/version/kind, and its name in *name
 * (may be NULL); NULL when none. */
const json_t *api_schema_kind(const json_t *schemas, const char *group, const char *version,
			      const char *kind, const char **name);

/* The fields of obj that schema (resolved in schemas) does not declare,
 * at any depth, as kube-apiserver's strict decoding names them: "unknown
 * field \"spec.template.spec.containers[0].imagePullPolicyy\"", one a
 * line (API_SCHEMA_MSG_SEP) into buf (cut at len). Returns how many. */
size_t api_schema_unknown(const json_t *schemas, const json_t *schema, json_t *obj, char *buf,
			  size_t len);
/* The same, and removes those fields from obj, as upstream's decoder
 * drops them under fieldValidation Warn and Ignore. */
size_t api_schema_drop_unknown(const json_t *schemas, const json_t *schema, json_t *obj,
			       char *buf, size_t len);
