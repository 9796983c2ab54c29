/* skiff-agent --server URL --token K10...: joining the cluster as k3s
 * agents do (the server's side is control/api_join.h).
 *
 *   1. GET URL/cacerts without verifying the server, and trust the answer
 *      only when its sha256 is the hash in the token: that is the CA;
 *   2. with the token and a node password (made once, kept in the data
 *      dir), GET the node's client certificate (CN system:node:NAME,
 *      O system:nodes) and its kubelet serving certificate (for NAME and
 *      the node's addresses), both verified against that CA;
 *   3. write a kubeconfig naming them.
 *
 * Files in the data dir (0600 for keys):
 *   ca.crt                    the cluster CA
 *   client.crt, client.key    the node's API credentials
 *   serving.crt, serving.key  the kubelet port's certificate (10250)
 *   node-password             the node's join password
 *   node-name                 the name the certificates are for
 *   kubeconfig                server, CA and client pair (relative paths)
 * A restart with the same token and name reuses them without asking the
 * server (only when ca.crt still has the token's hash and node-name is the
 * name; otherwise it joins again).
 *
 * Joining happens before the node has credentials, with headers the API
 * client does not send, so it uses libcurl itself: the one exception to
 * "only lib/kube_client speaks HTTP to the server". */
#ifndef SKIFF_NODE_JOIN_H
#define SKIFF_NODE_JOIN_H

#include <stddef.h>

#include "lib/inet.h"

#define NODE_JOIN_DEFAULT_DATA_DIR "/var/lib/skiff-agent"

struct node_join_options {
	const char *server;    /* "https://host:port" */
	const char *token;     /* "K10..." */
	const char *data_dir;  /* NULL: NODE_JOIN_DEFAULT_DATA_DIR */
	const char *node_name;
	const struct ipaddr *addrs; /* for the serving certificate */
	size_t n_addrs;
};

/* Joins (or finds the credentials of an earlier join); the kubeconfig's
 * path into kubeconfig. On error err says why (the server's Status
 * message when it refused). */
int node_join(const struct node_join_options *o, char *kubeconfig, size_t size, char *err,
	      size_t errlen);

#endif
