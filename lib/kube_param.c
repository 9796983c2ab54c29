/* Query parameters as kube-apiserver converts them (see kube_param.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/kube_param.h"

bool kube_param_bool(const char *v)
{
	return v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0;
}

int kube_param_int64(const char *v, int64_t *out)
{
	bool neg = false;
	uint64_t n = 0, limit;
	const char *p = v;

	if (!p || !*p)
		return -EINVAL;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (!*p)
		return -EINVAL;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > 9)
			return -EINVAL;
		if (n > (limit - d) / 10)
			return -ERANGE;
		n = n * 10 + d;
	}
	*out = neg ? (int64_t)(0 - n) : (int64_t)n;
	return 0;
}

void kube_param_int64_error(const char *v, int r, char *buf, size_t len)
{
	snprintf(buf, len, "strconv.ParseInt: parsing \"%s\": %s", v ? v : "",
		 r == -ERANGE ? "value out of range" : "invalid syntax");
}
