/* Fuzzes skiff-cni's network configuration parser (what a runtime sends on
 * stdin) for every command, then the prevResult decoder and the result
 * encoder for every version, and the CNI_ARGS parser on the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/plugin.h"
#include "lib/util.h"

static void fuzz_result(json_t *prev)
{
	struct cni_result r;
	struct cni_error err;

	if (cni_result_decode(prev, &r, &err) < 0)
		return;
	for (const char *const *v = cni_supported_versions; *v; v++) {
		json_t *j = cni_result_encode(&r, *v);
		struct cni_result back;

		/* What we encode we must decode again. */
		if (!j || cni_result_decode(j, &back, &err) < 0)
			abort();
		cni_result_clear(&back);
		json_decref(j);
	}
	cni_result_clear(&r);
}

static void fuzz_args(const uint8_t *data, size_t size)
{
	static const char *const known[] = { "IP", "K8S_POD_NAME", NULL };
	char *s = strndup((const char *)data, size), buf[64];
	struct cni_error err;

	if (!s)
		return;
	(void)cni_args_validate(s, known, &err);
	(void)cni_args_get(s, "IP", buf, sizeof(buf));
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum cni_cmd cmds[] = { CNI_CMD_ADD, CNI_CMD_DEL, CNI_CMD_CHECK,
					     CNI_CMD_STATUS, CNI_CMD_GC };

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		struct cni_netconf c;
		struct cni_error err;

		if (cni_netconf_parse((const char *)data, size, cmds[i], &c, &err) < 0) {
			/* Every refusal carries a spec code and a message. */
			if (err.code == 0 || !err.msg[0])
				abort();
			continue;
		}
		if (!c.name && cmds[i] != CNI_CMD_STATUS)
			abort();
		if (c.prev_result)
			fuzz_result(c.prev_result);
		cni_netconf_done(&c);
	}
	fuzz_args(data, size);
	return 0;
}
