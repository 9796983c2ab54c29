/* Fuzz harness for kubeconfig parsing (lib/kube_config.c): any input gives
 * a config or an error with a message; never a crash or a leak. Relative
 * credential paths resolve under a folder that does not exist. */
#include "lib/kube_config.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_config *cfg = NULL;
	char err[256];

	if (kc_config_parse((const char *)data, size, "/nonexistent-kc-fuzz", NULL, &cfg, err,
			    sizeof(err)) == 0)
		kc_config_free(cfg);
	if (kc_config_parse((const char *)data, size, "/nonexistent-kc-fuzz", "other", &cfg, err,
			    sizeof(err)) == 0)
		kc_config_free(cfg);
	return 0;
}
