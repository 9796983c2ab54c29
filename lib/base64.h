/* Base64 (RFC 4648), the project's one encoder and decoder: the standard
 * alphabet with '=' padding (a Secret's data, a ConfigMap's binaryData,
 * kubeconfig's *-data, HTTP Basic, protobuf bytes in JSON) and base64url
 * without padding (JWT segments, RFC 7515 section 2). */
#ifndef SKIFF_BASE64_H
#define SKIFF_BASE64_H

#include <stddef.h>

enum b64_mode {
	/* '+' '/', '=' padding required; CR and LF skipped (as Go's decoder,
	 * which the API server's JSON []byte fields go through). */
	B64_STD,
	/* '-' '_', no padding, nothing skipped, and the unused low bits of
	 * the last character must be zero, so a value has one spelling. */
	B64_URL,
	/* Decoding only: either alphabet, padding optional, whitespace
	 * skipped (kubeconfig files as people write them). Encodes as B64_STD. */
	B64_ANY,
};

/* The n bytes at data, encoded; NUL-terminated, NULL when out of memory. */
char *b64_encode(const void *data, size_t n, enum b64_mode mode);

/* Decodes the n characters at s into *out (NUL-terminated, so text can be
 * used as a string) and *len. -EINVAL for a character outside the mode's
 * alphabet, data after padding or a length no encoding produces;
 * -ENOMEM. *out and *len are set only on success. */
int b64_decode(const char *s, size_t n, enum b64_mode mode, char **out, size_t *len);

#endif
