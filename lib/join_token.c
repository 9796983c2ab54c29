/* Node tokens (see join_token.h). */
#include "lib/join_token.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#define HASH_HEX 64

bool join_token_is(const char *token)
{
	return token && strncmp(token, JOIN_TOKEN_PREFIX, strlen(JOIN_TOKEN_PREFIX)) == 0;
}

int join_token_parse(const char *token, char ca_hash[65], const char **secret)
{
	const size_t pre = strlen(JOIN_TOKEN_PREFIX);
	const char *sep, *colon;

	if (!join_token_is(token))
		return -EINVAL;
	sep = strstr(token, "::");
	if (!sep || (size_t)(sep - token) != pre + HASH_HEX)
		return -EINVAL;
	colon = strchr(sep + 2, ':');
	if (!colon || !colon[1])
		return -EINVAL;
	memcpy(ca_hash, token + pre, HASH_HEX);
	ca_hash[HASH_HEX] = 0;
	if (strspn(ca_hash, "0123456789abcdef") != HASH_HEX)
		return -EINVAL;
	*secret = colon + 1;
	return 0;
}

int join_sha256_hex(const void *data, size_t len, char hex[65])
{
	unsigned char d[32];

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, d) < 0)
		return -EIO;
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return 0;
}
