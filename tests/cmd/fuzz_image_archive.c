/* Fuzzes the reader of `skiff image load` (cmd/skiff_image.c): whatever
 * file a user names, as a tar of an OCI image layout or a docker-archive.
 * An archive it accepts has at least one image, each with a name. */
#include <stdint.h>
#include <stdlib.h>

#include "cmd/skiff.h"

static void count_domain(const char *domain, void *arg)
{
	if (!*domain)
		abort();
	(*(size_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img_archive *a = NULL;
	char err[512];
	size_t names = 0;

	if (img_archive_parse(data, size, &a, err, sizeof(err)) < 0)
		return 0;
	img_archive_domains(a, count_domain, &names);
	if (!img_archive_count(a) || names < img_archive_count(a))
		abort();
	img_archive_free(a);
	return 0;
}
