/* The node token of k3s-style joining (control/api_join.h): "K10" + the
 * sha256 (64 lowercase hex digits) of the server's /cacerts answer + "::"
 * + a user ("server") + ":" + the secret. skiff-server writes it,
 * skiff-agent --token reads it. */
#ifndef SKIFF_JOIN_TOKEN_H
#define SKIFF_JOIN_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define JOIN_TOKEN_PREFIX "K10"

/* The server's join endpoints and the headers that name the node
 * (control/api_join.h says what they answer). */
#define JOIN_PATH_CACERTS "/cacerts"
#define JOIN_PATH_CLIENT_CERT "/v1-skiff/client-kubelet.crt"
#define JOIN_PATH_SERVING_CERT "/v1-skiff/serving-kubelet.crt"
#define JOIN_HDR_NAME "Skiff-Node-Name"
#define JOIN_HDR_PASSWORD "Skiff-Node-Password"
#define JOIN_HDR_IP "Skiff-Node-IP"

/* Whether token has the prefix of a node token (the rest unchecked). */
bool join_token_is(const char *token);
/* The CA hash (NUL-terminated) and the secret (pointing into token);
 * -EINVAL when token is not a node token. */
int join_token_parse(const char *token, char ca_hash[65], const char **secret);

/* Hex of sha256(data): a token names the CA by this hash of the PEM text
 * /cacerts answers (GnuTLS; the program links it). */
int join_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
