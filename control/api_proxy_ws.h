/* kubectl 1.31+ over WebSocket to a kubelet that speaks SPDY/3.1, as
 * kube-apiserver's stream translator and tunneling handler do it (the
 * kubelet's runtime, containerd 1.6, refuses WebSocket for these):
 *
 *   exec, attach   v5.channel.k8s.io (one WebSocket message per write: a
 *                  channel byte, 0 stdin, 1 stdout, 2 stderr, 3 error,
 *                  4 resize, then data; 255 = CLOSE [255, channel], the
 *                  client's end of one stream) <-> SPDY streams of
 *                  v4.channel.k8s.io, which this side creates
 *   portforward    SPDY/3.1+portforward.k8s.io: kubectl's SPDY frames
 *                  carried in binary messages, passed on as bytes to the
 *                  kubelet's portforward.k8s.io upgrade
 *
 * control/api_proxy.c sends the kubelet an SPDY upgrade in place of the
 * client's (api_ws_kubelet_headers), answers the client's WebSocket
 * upgrade once the kubelet's 101 came (api_ws_response_headers) and
 * hands the two connections to api_ws_relay. A kubelet that refuses
 * answers the client as it is, so kubectl falls back to SPDY. */
#ifndef SKIFF_API_PROXY_WS_H
#define SKIFF_API_PROXY_WS_H

#include "control/api_internal.h"
#include "lib/tls_stream.h"

enum api_ws_mode {
	API_WS_NONE,       /* not a WebSocket this side translates: passed through */
	API_WS_CHANNEL_V5, /* exec, attach */
	API_WS_PF_TUNNEL,  /* portforward */
};

struct api_ws {
	enum api_ws_mode mode;
	bool in, out, err, tty; /* v5: the streams the query asks for */
	char accept[32];        /* Sec-WebSocket-Accept */
};

/* What q asks for: a GET upgrading to WebSocket with the subprotocol of
 * its subresource (exec and attach: v5.channel.k8s.io; portforward:
 * SPDY/3.1+portforward.k8s.io). ws->mode API_WS_NONE otherwise. */
void api_ws_detect(struct api_req *q, struct api_ws *ws);
/* The headers of the SPDY upgrade to the kubelet (after its request line
 * and Host). */
int api_ws_kubelet_headers(const struct api_ws *ws, struct tls_stream *kubelet);
/* The client's 101: Upgrade, Connection, Sec-WebSocket-Accept and the
 * subprotocol. */
void api_ws_response_headers(const struct api_ws *ws, struct MHD_Response *resp);
/* Relays until either side ends (0) or fails (negative errno). client:
 * the upgraded socket, its first bytes in client_extra; kubelet: after
 * its 101, its first bytes in kubelet_extra. */
int api_ws_relay(const struct api_ws *ws, int client, const char *client_extra,
		 size_t client_extra_len, struct tls_stream *kubelet, const char *kubelet_extra,
		 size_t kubelet_extra_len);

#endif
