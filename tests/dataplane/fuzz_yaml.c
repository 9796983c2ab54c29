/* Fuzz harness for YAML -> JSON (lib/yaml.c): any input either parses into
 * documents or fails with a message; never crashes or leaks. */
#include "lib/yamljson.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yamljson_error err;
	json_t *objs = NULL;

	if (yamljson_parse_objects((const char *)data, size, &objs, &err) == 0) {
		char *s = json_dumps(objs, JSON_COMPACT);

		free(s);
		json_decref(objs);
	}
	return 0;
}
