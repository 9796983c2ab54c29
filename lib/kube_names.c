/* Kubernetes name rules (DNS-1123 subdomain and label, RFC 1035 label). */
#include "lib/kube_names.h"

#include <stdbool.h>
#include <string.h>

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

const char *kube_dns1123_label_error(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return "must be no more than 63 characters";
	if (!label_ok(s, n))
		return "a lowercase RFC 1123 label must consist of lower case alphanumeric "
		       "characters or '-', and must start and end with an alphanumeric character "
		       "(e.g. 'my-name',  or '123-abc', regex used for validation is "
		       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
	return NULL;
}

const char *kube_dns1035_label_error(const char *s)
{
	size_t n = strlen(s);

	if (n > 63)
		return "must be no more than 63 characters";
	if (!label_ok(s, n) || !(s[0] >= 'a' && s[0] <= 'z'))
		return "a DNS-1035 label must consist of lower case alphanumeric characters or "
		       "'-', start with an alphabetic character, and end with an alphanumeric "
		       "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
		       "'[a-z]([-a-z0-9]*[a-z0-9])?')";
	return NULL;
}

const char *kube_dns1123_subdomain_error(const char *s)
{
	size_t n = strlen(s);
	const char *p = s;

	if (n > 253)
		return "must be no more than 253 characters";
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		/* Labels here may be up to 253 long; check characters only. */
		if (len == 0 || !lower_alnum(p[0]) || !lower_alnum(p[len - 1]))
			goto bad;
		for (size_t i = 0; i < len; i++)
			if (!lower_alnum(p[i]) && p[i] != '-')
				goto bad;
		if (!dot)
			return NULL;
		p = dot + 1;
	}
bad:
	return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
	       "characters, '-' or '.', and must start and end with an alphanumeric "
	       "character (e.g. 'example.com', regex used for validation is "
	       "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
}
