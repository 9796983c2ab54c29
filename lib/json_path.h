/* Dotted-path reads of JSON objects, for code that walks API objects:
 *
 *   json_path_str(pod, "spec.nodeName")        NULL when absent or not a string
 *   json_path_int(pod, "spec.x", 30)           def when absent or not an integer
 *   json_path_get(pod, "metadata.labels")      the value, borrowed, or NULL
 *
 * A path segment is an object key (at most 127 bytes); arrays are not
 * indexed. (control/ctrl_util.h's ctrl_get/ctrl_str/ctrl_int and
 * control/api's api_jget/api_jstr are these, under their modules' names.) */
#ifndef SKIFF_JSON_PATH_H
#define SKIFF_JSON_PATH_H

#include <jansson.h>

json_t *json_path_get(json_t *obj, const char *path);
const char *json_path_str(json_t *obj, const char *path);
long long json_path_int(json_t *obj, const char *path, long long def);

#endif
