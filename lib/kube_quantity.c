/* Kubernetes resource quantities: see kube_quantity.h.
 *
 * Grammar (apimachinery resource.Quantity): sign? digits (. digits)?
 * suffix, where suffix is a binary SI one (Ki Mi Gi Ti Pi Ei), a decimal
 * SI one (n u m "" k M G T P E) or a decimal exponent (e3, E-2). The
 * number is held as an unscaled integer and a power of ten, and scaled
 * exactly in 128-bit arithmetic, so "0.1" cores is 100m, not 99m. */
#include "lib/kube_quantity.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct suffix {
	const char *s;
	int pow10;        /* decimal: the value times 10^pow10 */
	unsigned shift;   /* binary: the value times 2^shift */
};

static const struct suffix suffixes[] = {
	{ "Ki", 0, 10 }, { "Mi", 0, 20 }, { "Gi", 0, 30 },
	{ "Ti", 0, 40 }, { "Pi", 0, 50 }, { "Ei", 0, 60 },
	{ "n", -9, 0 },  { "u", -6, 0 },  { "m", -3, 0 }, { "", 0, 0 },
	{ "k", 3, 0 },   { "M", 6, 0 },   { "G", 9, 0 },
	{ "T", 12, 0 },  { "P", 15, 0 },  { "E", 18, 0 },
};

/* The scale of the suffix at p: -EINVAL when there is none valid. */
static int parse_suffix(const char *p, int *pow10, unsigned *shift)
{
	bool exp = (*p == 'e' || *p == 'E') &&
		   (isdigit((unsigned char)p[1]) ||
		    ((p[1] == '-' || p[1] == '+') && isdigit((unsigned char)p[2])));

	if (exp) { /* "1e3"; a lone "E" is exa, "Ei" exbi */
		char *end;
		long e = strtol(p + 1, &end, 10);

		if (end == p + 1 || *end || e > 60 || e < -60)
			return -EINVAL;
		*pow10 = (int)e;
		*shift = 0;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (strcmp(p, suffixes[i].s) == 0) {
			*pow10 = suffixes[i].pow10;
			*shift = suffixes[i].shift;
			return 0;
		}
	return -EINVAL;
}

/* Parses s and returns ceil(value * 10^scale10). */
static int quantity_scaled(const char *s, int scale10, int64_t *out)
{
	__int128 mant = 0, limit = (__int128)INT64_MAX * 1000000;
	int frac_digits = 0, pow10;
	unsigned shift;
	bool neg = false, digits = false;
	const char *p = s;

	if (!s)
		return -EINVAL;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; *p >= '0' && *p <= '9'; p++, digits = true)
		if ((mant = mant * 10 + (*p - '0')) > limit)
			return -ERANGE;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true, frac_digits++)
			if ((mant = mant * 10 + (*p - '0')) > limit)
				return -ERANGE;
	if (!digits || parse_suffix(p, &pow10, &shift) < 0)
		return -EINVAL;

	/* value = mant * 2^shift * 10^(pow10 - frac_digits); times 10^scale10 */
	int e = pow10 - frac_digits + scale10;
	__int128 div = 1;

	for (unsigned i = 0; i < shift; i++)
		if ((mant *= 2) > limit)
			return -ERANGE;
	for (; e > 0; e--)
		if ((mant *= 10) > limit)
			return -ERANGE;
	for (; e < 0 && div <= limit; e++)
		div *= 10;
	if (e < 0) /* smaller than any representable unit */
		mant = mant ? 1 : 0, div = 1;
	__int128 v = mant / div + (mant % div != 0);

	if (v > INT64_MAX)
		return -ERANGE;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int kube_quantity_milli(const char *s, int64_t *out)
{
	return quantity_scaled(s, 3, out);
}

int kube_quantity_value(const char *s, int64_t *out)
{
	return quantity_scaled(s, 0, out);
}

static int quantity_json(json_t *v, int scale10, int64_t *out)
{
	if (json_is_string(v))
		return quantity_scaled(json_string_value(v), scale10, out);
	if (json_is_integer(v)) {
		__int128 x = json_integer_value(v);

		for (int i = 0; i < scale10; i++)
			x *= 10;
		if (x > INT64_MAX || x < INT64_MIN)
			return -ERANGE;
		*out = (int64_t)x;
		return 0;
	}
	if (json_is_real(v)) {
		char buf[64];

		snprintf(buf, sizeof(buf), "%.9f", json_real_value(v));
		return quantity_scaled(buf, scale10, out);
	}
	return -EINVAL;
}

int kube_quantity_json_milli(json_t *v, int64_t *out)
{
	return quantity_json(v, 3, out);
}

int kube_quantity_json_value(json_t *v, int64_t *out)
{
	return quantity_json(v, 0, out);
}
