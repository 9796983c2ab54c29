/* A small gRPC client: unary calls over HTTP/2 (nghttp2), on a unix socket
 * or TCP (plaintext), with no threads of its own. Messages are opaque
 * bytes here; callers encode and decode them (protobuf-c).
 *
 *   struct grpc_channel *ch;
 *   struct grpc_status st;
 *   grpc_channel_new("unix:/run/containerd/containerd.sock", &ch);
 *   r = grpc_unary(ch, "/runtime.v1.RuntimeService/Version", req, len,
 *                  5000, &resp, &resp_len, &st);
 *   if (r == -EREMOTEIO)  -> the server answered grpc-status st.code with
 *                            grpc-message st.message
 *   else if (r < 0)       -> transport error, st.message says what happened
 *
 * One call runs at a time on a channel; the connection is kept between
 * calls and made again when the server closed it. */
#ifndef SKIFF_GRPC_H
#define SKIFF_GRPC_H

#include <stddef.h>
#include <stdint.h>

/* Status codes of the gRPC protocol (grpc-status trailer). */
enum grpc_code {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

/* Largest response message accepted (the gRPC default is 4 MiB). */
#define GRPC_MAX_MESSAGE (16u << 20)

struct grpc_status {
	/* grpc-status of the response, or -1 when none was received. */
	int code;
	/* grpc-message (percent-decoded), or what went wrong locally. */
	char message[512];
};

struct grpc_channel;

/* target: "unix:/path", "unix:///path", "/path" (a unix socket), or
 * "host:port" / "[v6addr]:port" (TCP). Does not connect yet.
 * -EINVAL when target has none of these forms. */
int grpc_channel_new(const char *target, struct grpc_channel **out);
void grpc_channel_free(struct grpc_channel *ch);

/* Calls method path ("/package.Service/Method") with one request message
 * and waits at most timeout_ms (<= 0: 30 s) for the one response message.
 * On success returns 0 and *resp (malloc'd; free it) / *resp_len.
 * Errors: -EREMOTEIO when the server answered a non-OK grpc-status;
 * -ETIMEDOUT; -ECONNREFUSED / -ENOENT / -ECONNRESET ... from the socket;
 * -EPROTO for a malformed response; -EFBIG when the response exceeds
 * GRPC_MAX_MESSAGE. status (may be NULL) is filled in every case. */
int grpc_unary(struct grpc_channel *ch, const char *path, const uint8_t *req, size_t req_len,
	       int timeout_ms, uint8_t **resp, size_t *resp_len, struct grpc_status *status);

/* "NOT_FOUND" for 5 ...; "UNKNOWN_CODE" for codes outside the protocol. */
const char *grpc_code_name(int code);

/* Length-prefixed message framing (1 byte compressed flag, 4 bytes big
 * endian length). encode writes 5 + len bytes into out[out_size];
 * decode finds the single message of buf, -EPROTO when buf is not exactly
 * one uncompressed frame. */
int grpc_frame_encode(const uint8_t *msg, size_t len, uint8_t *out, size_t out_size);
int grpc_frame_decode(const uint8_t *buf, size_t len, const uint8_t **msg, size_t *msg_len);

/* Decodes a percent-encoded grpc-message into out[out_size] (truncating);
 * malformed escapes are copied as they are. */
void grpc_percent_decode(const char *in, size_t len, char *out, size_t out_size);

/* Server streaming (added for etcd's Watch): one request message, then
 * any number of response messages until the server ends the stream. The
 * request side is half-closed after the request, which etcd's bidirectional
 * Watch accepts. The stream owns the channel's connection until freed: use
 * one channel per stream.
 *
 * grpc_stream_open connects (waiting at most timeout_ms) and sends req.
 * grpc_stream_recv waits up to timeout_ms (< 0: forever) for the next
 * message: 0 and *msg (malloc'd) / *msg_len; -ETIMEDOUT when none came;
 * -ENODATA when the server ended the stream with OK; -EREMOTEIO when it
 * ended it with an error status (in status); other negative errno when the
 * connection broke. grpc_stream_free cancels the stream if still open. */
struct grpc_stream;
int grpc_stream_open(struct grpc_channel *ch, const char *path, const uint8_t *req,
		     size_t req_len, int timeout_ms, struct grpc_stream **out,
		     struct grpc_status *status);
int grpc_stream_recv(struct grpc_stream *s, int timeout_ms, uint8_t **msg, size_t *msg_len,
		     struct grpc_status *status);
void grpc_stream_free(struct grpc_stream *s);

#endif
