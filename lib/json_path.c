/* Dotted-path reads; see json_path.h. */
#include "lib/json_path.h"

#include <string.h>

json_t *json_path_get(json_t *obj, const char *path)
{
	char seg[128];

	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);

		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		obj = json_is_object(obj) ? json_object_get(obj, seg) : NULL;
		path += n + (dot ? 1 : 0);
	}
	return obj;
}

const char *json_path_str(json_t *obj, const char *path)
{
	return json_string_value(json_path_get(obj, path));
}

long long json_path_int(json_t *obj, const char *path, long long def)
{
	json_t *v = json_path_get(obj, path);

	return json_is_integer(v) ? json_integer_value(v) : def;
}
