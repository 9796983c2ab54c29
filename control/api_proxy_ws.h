/* WebSocket clients of exec, attach and port-forward, to a kubelet that
 * speaks SPDY/3.1, as kube-apiserver's stream translator and tunneling
 * handler and the kubelet's own WebSocket server do it, so the node's
 * kubelet only ever sees SPDY (its runtime's streaming server may not
 * take WebSocket: containerd 1.6 refuses v5, and a port-forward whose
 * ports its CRI request did not name):
 *
 *   exec, attach   the channel protocols: a message is a channel byte (0
 *                  stdin, 1 stdout, 2 stderr, 3 error, 4 resize) then
 *                  data. v5.channel.k8s.io adds CLOSE (255 [channel]),
 *                  the client's end of one stream; v4 (and v5) send the
 *                  exit status as a JSON Status on the error channel, the
 *                  older channel.k8s.io (and no subprotocol) only a
 *                  failure's message as text; the base64 variants send
 *                  text messages, the channel as an ASCII digit and the
 *                  data base64-encoded. <-> SPDY streams of
 *                  v4.channel.k8s.io, which this side creates
 *   portforward    SPDY/3.1+portforward.k8s.io: kubectl's SPDY frames
 *                  carried in binary messages, passed on as bytes to the
 *                  kubelet's portforward.k8s.io upgrade; or
 *                  v4.channel.k8s.io, v4.base64.channel.k8s.io (and no
 *                  subprotocol): channels 2i (data) and 2i+1 (error) for
 *                  the i-th ?ports=, the first message of each the port
 *                  (2 bytes, little-endian) <-> an SPDY data and error
 *                  stream a port, which this side creates
 *
 * The subprotocol is the first of the client's that the subresource
 * takes (upstream's wsstream handshake goes by the client's order).
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
	API_WS_CHANNEL,    /* exec, attach: a channel protocol */
	API_WS_PF_TUNNEL,  /* portforward: SPDY in WebSocket */
	API_WS_PF_CHANNEL, /* portforward: a channel protocol */
};

#define API_WS_PORTS_MAX 8

struct api_ws {
	enum api_ws_mode mode;
	const char *proto;      /* the subprotocol chosen ("": none asked) */
	bool base64;            /* text messages, base64 data */
	bool v1_status;         /* the error channel: a failure's message only */
	bool stream_close;      /* v5: the client's CLOSE */
	bool in, out, err, tty; /* exec, attach: the streams the query asks for */
	unsigned nports;        /* portforward: the query's ports */
	uint16_t ports[API_WS_PORTS_MAX];
	char accept[32];        /* Sec-WebSocket-Accept */
};

/* What q asks for: a GET upgrading to WebSocket with a subprotocol its
 * subresource takes (above), or none. ws->mode API_WS_NONE otherwise. */
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
