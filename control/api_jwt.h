/* Signed JSON Web Tokens for service accounts (RFC 7515 compact form,
 * RS256), with GnuTLS: the key that signs them and the checks of a
 * token's signature. What the claims mean is control/api_token.c's. */
#ifndef SKIFF_API_JWT_H
#define SKIFF_API_JWT_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

struct api_jwt_key;

/* The RSA key in the PEM file at path (PKCS#8 or PKCS#1); when the file
 * does not exist and create is set, a new 2048-bit key is written there
 * (mode 0600) first, so tokens outlive restarts. -ENOENT, -EINVAL for a
 * file that holds no usable key, -EIO. */
int api_jwt_key_load(const char *path, bool create, struct api_jwt_key **out);
void api_jwt_key_free(struct api_jwt_key *k);
/* The key id written in every token's header: base64url of the SHA-256
 * of the DER public key, as kube-apiserver derives it. */
const char *api_jwt_key_id(const struct api_jwt_key *k);

/* header.claims.signature, each base64url without padding; *out is
 * malloc'd. */
int api_jwt_sign(const struct api_jwt_key *k, json_t *claims, char **out);
/* The claims of a token this key signed: -EBADMSG when it is not a
 * compact JWS of RS256 with a JSON object as payload, -EKEYREJECTED when
 * the signature is not this key's. Times are not checked here. */
int api_jwt_verify(const struct api_jwt_key *k, const char *token, json_t **claims);

/* The registered claims of RFC 7519 against what this server expects:
 * iss equal to iss, aud (a string or an array) naming aud, and now
 * within [nbf - leeway, exp + leeway]. -EKEYEXPIRED for a token out of
 * its time, -EACCES for one meant for another issuer or audience,
 * -EBADMSG when a claim is missing or of the wrong type. */
int api_jwt_check(json_t *claims, const char *iss, const char *aud, time_t now, long leeway);

#endif
