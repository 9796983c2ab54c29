/* The OpenAPI documents skiff-server serves (control/api_openapi.c):
 * /openapi/v2 (JSON, or the protobuf kubectl asks for) and /openapi/v3
 * with one document per group-version, from the built-in schemas
 * (control/api_schema.h) and what other modules add here. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

struct api_server;
struct api_openapi;

int api_openapi_new(struct api_openapi **out);
void api_openapi_free(struct api_openapi *o);

/* The entry point for a module that serves a group-version of its own
 * (CustomResourceDefinitions): from now on the documents carry schemas,
 * an object of OpenAPI v3 schemas by definition name ($refs as
 * API_SCHEMA_REF "NAME", to these or to built-in ones; each kind's schema
 * with its x-kubernetes-group-version-kind), and paths, an object of path
 * items as api_openapi_add_paths writes them (NULL: none), in the
 * group/version's document and in /openapi/v2. Both are copied; a second
 * call replaces the first; schemas NULL withdraws the group-version.
 * Safe from any thread. Returns 0 or -ENOMEM. */
int api_openapi_set_gv(struct api_server *s, const char *group, const char *version,
		       const json_t *schemas, const json_t *paths);

/* The /openapi/v3 index, and the v3 document of group/version (NULL
 * when nothing is served there), as they are served. */
json_t *api_openapi_v3_index(struct api_server *s);
json_t *api_openapi_v3_document(struct api_server *s, const char *group, const char *version);

/* Adds to paths the path items of a resource (its PATCH declares the
 * fieldValidation parameter, which kubectl looks for before it leaves
 * validation to the server). */
void api_openapi_add_paths(json_t *paths, const char *group, const char *version, const char *kind,
			   const char *plural, bool namespaced);
