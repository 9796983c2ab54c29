/* Fuzz harness for YAML -> JSON (lib/yamljson.c): any input either parses
 * into documents or fails with a message; never crashes or leaks. Each
 * document parsed is written back (yamljson_emit) and must read back as
 * itself. */
#include "lib/yamljson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(json_t *objs)
{
	struct yamljson_error err;
	json_t *back = NULL;
	char *yaml = NULL;
	size_t len;

	if (yamljson_emit(objs, &yaml, &len) < 0)
		return; /* too deep */
	if (yamljson_parse(yaml, len, &back, &err) < 0 || !json_equal(json_array_get(back, 0), objs))
		abort();
	free(yaml);
	json_decref(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yamljson_error err;
	json_t *objs = NULL;

	if (yamljson_parse_objects((const char *)data, size, &objs, &err) == 0) {
		char *s = json_dumps(objs, JSON_COMPACT);

		free(s);
		round_trip(objs);
		json_decref(objs);
	}
	return 0;
}
