/* Base64: see base64.h. */
#include "lib/base64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "lib/util.h"

static const char std_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64_encode(const void *data, size_t n, enum b64_mode mode)
{
	const unsigned char *s = data;
	const char *tab = mode == B64_URL ? url_tab : std_tab;
	bool pad = mode != B64_URL;
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		unsigned w = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);

		out[o++] = tab[(w >> 18) & 63];
		out[o++] = tab[(w >> 12) & 63];
		if (i + 1 < n || pad)
			out[o++] = i + 1 < n ? tab[(w >> 6) & 63] : '=';
		if (i + 2 < n || pad)
			out[o++] = i + 2 < n ? tab[w & 63] : '=';
	}
	out[o] = 0;
	return out;
}

/* The 6-bit value of c in mode's alphabet, -1 if it has none. */
static int b64_value(char c, enum b64_mode mode)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if ((c == '+' && mode != B64_URL) || (c == '-' && mode != B64_STD))
		return 62;
	if ((c == '/' && mode != B64_URL) || (c == '_' && mode != B64_STD))
		return 63;
	return -1;
}

static bool b64_skipped(char c, enum b64_mode mode)
{
	switch (mode) {
	case B64_STD:
		return c == '\r' || c == '\n';
	case B64_ANY:
		return c == '\r' || c == '\n' || c == ' ' || c == '\t';
	default:
		return false;
	}
}

int b64_decode(const char *s, size_t n, enum b64_mode mode, char **out, size_t *len)
{
	_cleanup_free_ char *buf = malloc(n / 4 * 3 + 3);
	size_t o = 0, chars = 0, pad = 0;
	unsigned acc = 0, bits = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (b64_skipped(s[i], mode))
			continue;
		if (s[i] == '=' && mode != B64_URL) {
			pad++;
			continue;
		}
		v = b64_value(s[i], mode);
		if (v < 0 || pad)
			return -EINVAL;
		chars++;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits);
		}
	}
	if (chars % 4 == 1 || pad > 2 || (pad && (chars + pad) % 4))
		return -EINVAL;
	if (mode == B64_STD && (chars + pad) % 4)
		return -EINVAL;
	if (mode == B64_URL && (acc & ((1u << bits) - 1)))
		return -EINVAL;
	buf[o] = 0;
	*out = TAKE_PTR(buf);
	*len = o;
	return 0;
}
