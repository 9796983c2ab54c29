/* Nodes joining the cluster and what they may do once joined.
 *
 * Joining (api_join.c), as k3s agents join:
 *   - skiff-server keeps the node token (lib/join_token.h) in
 *     <data-dir>/token and node-token: "K10<sha256 of /cacerts>::server:<secret>".
 *   - GET /cacerts (no authentication) answers the cluster CA; the agent
 *     trusts it only when its sha256 is the one in the token.
 *   - GET /v1-skiff/client-kubelet.crt and /v1-skiff/serving-kubelet.crt,
 *     with the token (Basic "node:<secret>", or "Bearer <token>") and the
 *     headers Skiff-Node-Name, Skiff-Node-Password (a secret the agent
 *     keeps; the first join of a name records its hash, later joins must
 *     match) and Skiff-Node-IP (comma-separated addresses, for the serving
 *     certificate), answer a certificate and its new key in PEM: the client
 *     one CN system:node:NAME, O system:nodes; the serving one for NAME and
 *     the addresses. A bad token is a 401 Status, logged with the peer.
 *
 * Once joined (api_join_authz.c): upstream's Node authorizer and
 * NodeRestriction admission for users system:node:NAME in system:nodes. */
#ifndef SKIFF_API_JOIN_H
#define SKIFF_API_JOIN_H

#include <stdbool.h>
#include <stddef.h>

#include "control/api_internal.h"
#include "lib/join_token.h"


/* <data-dir>/token and node-token for the CA in <data-dir>/tls (made
 * first), keeping the secret of an existing token; the token into buf. */
int api_join_token_ensure(const char *data_dir, char *token, size_t size);

/* Whether url is one of the join endpoints, which api_join_serve answers
 * before (and instead of) the API's authentication. */
bool api_join_path(const char *url);
enum MHD_Result api_join_serve(struct api_req *q, const char *url);

/* The Node authorizer: for a user system:node:NAME in system:nodes, 1
 * when a (the request's attributes; the request for its body and the
 * store) is allowed, else 0 with why set to the rule that refused it
 * (appended to the 403's message). -1 for any other user: no opinion. */
int api_node_authorize(struct api_req *q, const struct api_rbac_attrs *a, char *why,
		       size_t size);
/* Whether q's user is a node's (system:node:NAME in system:nodes). */
bool api_node_user(const struct api_req *q);

#endif
