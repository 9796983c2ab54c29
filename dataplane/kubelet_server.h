/* The kubelet API of skiff-agent (port 10250, HTTPS): what the API server
 * reaches a node for. Only clients whose certificate the cluster CA signed
 * with an accepted CN are served (the API server's kubelet client).
 *
 *   GET  /healthz
 *   GET  /containerLogs/NS/POD/CONTAINER?follow&previous&tailLines&
 *        sinceSeconds&sinceTime&timestamps&limitBytes   (the CRI log files)
 *   GET|POST /exec/NS/POD/CONTAINER?command=..&input=1&output=1&error=1&tty=1
 *   GET|POST /attach/NS/POD/CONTAINER?input=1&output=1&error=1&tty=1
 *   GET|POST /portForward/NS/POD
 *   GET  /stats/summary   the node's and the pods' CPU and memory, as the
 *                         Summary API (kubelet_server_stats.c)
 *
 * exec, attach and portForward find the container or sandbox through CRI
 * (by the io.kubernetes.* labels), ask CRI for a streaming URL and pass
 * the client's upgraded connection through to it unchanged: SPDY/3.1 or
 * WebSocket, whatever the client asked and the runtime answers.
 *
 * The server runs in its own threads (one accepting, one per
 * connection, at most max_conns of those: a connection over the cap is
 * closed as soon as it is accepted, since answering 503 would take the TLS
 * handshake, the very work the cap bounds); the agent's loop never waits
 * on it. */
#ifndef SKIFF_KUBELET_SERVER_H
#define SKIFF_KUBELET_SERVER_H

#include <stdint.h>

#define KUBELET_DEFAULT_PORT 10250
#define KUBELET_DEFAULT_CLIENT_CN "kube-apiserver-kubelet-client"
/* The runtime when --container-runtime-endpoint names none. */
#define KUBELET_DEFAULT_CRI_ENDPOINT "unix:/run/containerd/containerd.sock"
/* Connections served at once (each a thread; follows, exec sessions and
 * port-forwards hold theirs for as long as they last). */
#define KUBELET_DEFAULT_MAX_CONNS 256

struct kubelet_server_config {
	const char *address;        /* listen address (default "0.0.0.0") */
	uint16_t port;
	const char *cert_file;      /* serving certificate and key (PEM) */
	const char *key_file;
	const char *client_ca_file; /* the CA client certificates must chain to */
	const char *client_cn;      /* the CN a client must have (default above) */
	const char *cri_endpoint;   /* the runtime's CRI socket */
	const char *node_name;      /* named in /stats/summary (may be NULL) */
	uint32_t max_conns;         /* connections served at once (0: the default) */
};

struct kubelet_server;

/* Loads the TLS material, listens, starts the threads. */
int kubelet_server_start(const struct kubelet_server_config *cfg, struct kubelet_server **out);
/* Stops accepting and frees the server (NULL-safe); connections being
 * served end on their own. */
void kubelet_server_stop(struct kubelet_server *s);

#endif
