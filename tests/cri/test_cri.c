/* Unit tests of lib/grpc and the CRI client: framing, error decoding,
 * target parsing, protobuf field numbers of the CRI subset, JSON configs,
 * and whole unary calls against a small nghttp2 gRPC server in a child
 * process on a unix socket (OK with a message, an error status in a
 * trailers-only answer, a deadline). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <nghttp2/nghttp2.h>

#include "dataplane/cri/cri.h"
#include "dataplane/cri/cri_json.h"
#include "lib/grpc.h"
#include "tests/harness/test.h"
#include "lib/util.h"

TEST(grpc_frame_round_trip)
{
	const uint8_t msg[] = { 1, 2, 3, 0xff };
	uint8_t buf[16];
	const uint8_t *out;
	size_t n;

	CHECK_OK(grpc_frame_encode(msg, sizeof(msg), buf, sizeof(buf)));
	CHECK_INT_EQ(buf[0], 0);
	CHECK_INT_EQ(buf[4], 4);
	CHECK_OK(grpc_frame_decode(buf, 9, &out, &n));
	CHECK_INT_EQ(n, 4);
	CHECK(memcmp(out, msg, 4) == 0);
	/* an empty message is a valid frame */
	CHECK_OK(grpc_frame_encode(NULL, 0, buf, sizeof(buf)));
	CHECK_OK(grpc_frame_decode(buf, 5, &out, &n));
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(grpc_frame_encode(msg, sizeof(msg), buf, 8), -ENOBUFS);
}

TEST(grpc_frame_decode_rejects_bad_frames)
{
	const uint8_t compressed[] = { 1, 0, 0, 0, 1, 'x' };
	const uint8_t short_len[] = { 0, 0, 0, 0, 2, 'x' };
	const uint8_t two[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	const uint8_t *out;
	size_t n;

	CHECK_INT_EQ(grpc_frame_decode(compressed, sizeof(compressed), &out, &n), -EPROTO);
	CHECK_INT_EQ(grpc_frame_decode(short_len, sizeof(short_len), &out, &n), -EPROTO);
	CHECK_INT_EQ(grpc_frame_decode(two, sizeof(two), &out, &n), -EPROTO);
	CHECK_INT_EQ(grpc_frame_decode(two, 3, &out, &n), -EPROTO);
}

TEST(grpc_message_percent_decoding)
{
	char out[64];

	grpc_percent_decode("pod%20%22a%22%20not%20found", 27, out, sizeof(out));
	CHECK_STR_EQ(out, "pod \"a\" not found");
	grpc_percent_decode("100%", 4, out, sizeof(out));
	CHECK_STR_EQ(out, "100%");
	grpc_percent_decode("%zz", 3, out, sizeof(out));
	CHECK_STR_EQ(out, "%zz");
	grpc_percent_decode("abcdef", 6, out, 4);
	CHECK_STR_EQ(out, "abc");
	CHECK_STR_EQ(grpc_code_name(5), "NOT_FOUND");
	CHECK_STR_EQ(grpc_code_name(99), "UNKNOWN_CODE");
}

TEST(grpc_channel_targets)
{
	static const char *const good[] = { "unix:/run/x.sock", "unix:///run/x.sock", "/run/x.sock",
					    "127.0.0.1:2379", "localhost:50051", "[::1]:2379" };
	static const char *const bad[] = { "", "unix:relative", "nohost", "host:", ":80", "[::1]2379",
					   "host:8o" };
	struct grpc_channel *ch;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		CHECK_OK(grpc_channel_new(good[i], &ch));
		grpc_channel_free(ch);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_INT_EQ(grpc_channel_new(bad[i], &ch), -EINVAL);
}

/* The field numbers must be upstream cri-api's: the wire bytes prove it. */
TEST(cri_proto_field_numbers)
{
	Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
	Runtime__V1__PodSandboxStatusRequest sreq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
	const uint8_t want_md[] = { 0x0a, 1, 'n', 0x12, 1, 'u', 0x1a, 1, 's', 0x20, 3 };
	const uint8_t want_sreq[] = { 0x0a, 2, 'i', 'd', 0x10, 1 };
	uint8_t buf[64];

	md.name = (char *)"n";
	md.uid = (char *)"u";
	md.namespace_ = (char *)"s";
	md.attempt = 3;
	CHECK_INT_EQ(protobuf_c_message_pack(&md.base, buf), sizeof(want_md));
	CHECK(memcmp(buf, want_md, sizeof(want_md)) == 0);

	sreq.pod_sandbox_id = (char *)"id";
	sreq.verbose = true;
	CHECK_INT_EQ(protobuf_c_message_pack(&sreq.base, buf), sizeof(want_sreq));
	CHECK(memcmp(buf, want_sreq, sizeof(want_sreq)) == 0);
}

/* A PodSandboxStatusResponse as containerd encodes it: status (1) with
 * id (1), state (3) and network (5) { ip (1), additional_ips (2) { ip } }. */
TEST(cri_proto_decodes_sandbox_status)
{
	const uint8_t wire[] = {
		0x0a, 29,                               /* status */
		0x0a, 2, 'a', 'b',                      /* id */
		0x18, 1,                                /* state NOTREADY */
		0x2a, 21,                               /* network */
		0x0a, 8, '1', '0', '.', '0', '.', '0', '.', '2', /* ip */
		0x12, 9, 0x0a, 7, 'f', 'd', '0', '0', ':', ':', '2', /* additional_ips */
		0x22, 0,                                /* unknown field 4: skipped */
	};
	Runtime__V1__PodSandboxStatusResponse *r;

	r = runtime__v1__pod_sandbox_status_response__unpack(NULL, sizeof(wire), wire);
	CHECK(r != NULL);
	CHECK(r->status != NULL);
	CHECK_STR_EQ(r->status->id, "ab");
	CHECK_INT_EQ(r->status->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY);
	CHECK(r->status->network != NULL);
	CHECK_STR_EQ(r->status->network->ip, "10.0.0.2");
	CHECK_INT_EQ(r->status->network->n_additional_ips, 1);
	CHECK_STR_EQ(r->status->network->additional_ips[0]->ip, "fd00::2");
	cri_msg_free(r);
}

static int pod_config_error(const char *text, char *err, size_t size)
{
	Runtime__V1__PodSandboxConfig *cfg = NULL;
	json_t *j = json_loads(text, 0, NULL);
	int r;

	if (!j)
		return -EBADMSG;
	r = cri_json_pod_config(j, &cfg, err, size);
	json_decref(j);
	cri_msg_free(cfg);
	return r;
}

TEST(cri_json_pod_config_full)
{
	const char *text =
		"{\"metadata\":{\"name\":\"web\",\"namespace\":\"ns\",\"uid\":\"u1\",\"attempt\":2},"
		"\"hostname\":\"web\",\"log_directory\":\"/tmp/l\","
		"\"dns_config\":{\"servers\":[\"10.96.0.10\"],\"searches\":[\"ns.svc\"]},"
		"\"port_mappings\":[{\"protocol\":\"UDP\",\"container_port\":53,\"host_port\":5353}],"
		"\"labels\":{\"app\":\"web\"},\"annotations\":{\"a\":\"b\"},"
		"\"linux\":{\"cgroup_parent\":\"/p\",\"sysctls\":{\"net.ipv4.ip_forward\":\"1\"},"
		"\"security_context\":{\"namespace_options\":{\"network\":\"NODE\"},\"privileged\":true}}}";
	Runtime__V1__PodSandboxConfig *cfg = NULL, *back;
	char err[256] = "";
	json_t *j = json_loads(text, 0, NULL);
	uint8_t *buf;
	size_t len;

	CHECK(j != NULL);
	CHECK_OK(cri_json_pod_config(j, &cfg, err, sizeof(err)));
	json_decref(j);
	/* pack and unpack: what containerd would read */
	len = protobuf_c_message_get_packed_size(&cfg->base);
	buf = malloc(len);
	CHECK(buf != NULL);
	protobuf_c_message_pack(&cfg->base, buf);
	cri_msg_free(cfg);
	back = runtime__v1__pod_sandbox_config__unpack(NULL, len, buf);
	free(buf);
	CHECK(back != NULL);
	CHECK_STR_EQ(back->metadata->name, "web");
	CHECK_STR_EQ(back->metadata->namespace_, "ns");
	CHECK_STR_EQ(back->metadata->uid, "u1");
	CHECK_INT_EQ(back->metadata->attempt, 2);
	CHECK_STR_EQ(back->dns_config->servers[0], "10.96.0.10");
	CHECK_INT_EQ(back->n_port_mappings, 1);
	CHECK_INT_EQ(back->port_mappings[0]->protocol, RUNTIME__V1__PROTOCOL__UDP);
	CHECK_INT_EQ(back->port_mappings[0]->host_port, 5353);
	CHECK_INT_EQ(back->n_labels, 1);
	CHECK_STR_EQ(back->labels[0]->value, "web");
	CHECK_STR_EQ(back->linux->cgroup_parent, "/p");
	CHECK_STR_EQ(back->linux->sysctls[0]->key, "net.ipv4.ip_forward");
	CHECK_INT_EQ(back->linux->security_context->namespace_options->network,
		     RUNTIME__V1__NAMESPACE_MODE__NODE);
	CHECK(back->linux->security_context->privileged);
	cri_msg_free(back);
}

TEST(cri_json_pod_config_errors_name_the_field)
{
	char err[256];

	CHECK_INT_EQ(pod_config_error("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"}}", err,
				      sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "metadata.uid: required");
	CHECK_INT_EQ(pod_config_error("{}", err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "metadata: required");
	CHECK_INT_EQ(pod_config_error("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"c\"},"
				      "\"linux\":{\"cgroups\":\"x\"}}", err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "linux.cgroups: unknown field");
	CHECK_INT_EQ(pod_config_error("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"c\"},"
				      "\"port_mappings\":[{\"container_port\":80,\"protocol\":\"ICMP\"}]}",
				      err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "port_mappings[0].protocol: \"ICMP\" is not a");
	CHECK_INT_EQ(pod_config_error("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"c\"},"
				      "\"port_mappings\":[{\"container_port\":70000}]}", err, sizeof(err)),
		     -EINVAL);
	CHECK_STR_CONTAINS(err, "port_mappings[0].container_port: 70000 is out of range");
	CHECK_INT_EQ(pod_config_error("{\"metadata\":{\"name\":\"\",\"namespace\":\"b\",\"uid\":\"c\"}}",
				      err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "metadata.name: must not be empty");
	CHECK_INT_EQ(pod_config_error("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"uid\":\"c\"},"
				      "\"labels\":{\"x\":1}}", err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "labels.x: must be a string");
}

/* ---- a tiny gRPC server (child process) ---- */

struct srv_stream {
	char path[64];
	uint8_t req[4096];
	size_t req_len;
	uint8_t out[3 * 4096];
	size_t out_len;
	size_t sent;
	const char *status;  /* grpc-status of the trailers */
	const char *message; /* grpc-message of the trailers, or NULL */
};

static int srv_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	(void)u;
	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
		nghttp2_session_set_stream_user_data(s, f->hd.stream_id,
						     calloc(1, sizeof(struct srv_stream)));
	return 0;
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
		      const uint8_t *value, size_t vlen, uint8_t flags, void *u)
{
	struct srv_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);

	(void)flags;
	(void)u;
	if (st && nlen == 5 && memcmp(name, ":path", 5) == 0)
		snprintf(st->path, sizeof(st->path), "%.*s", (int)vlen, value);
	return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *u)
{
	struct srv_stream *st = nghttp2_session_get_stream_user_data(s, id);

	(void)flags;
	(void)u;
	if (st && st->req_len + len <= sizeof(st->req)) {
		memcpy(st->req + st->req_len, d, len);
		st->req_len += len;
	}
	return 0;
}

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
			uint32_t *flags, nghttp2_data_source *src, void *u)
{
	struct srv_stream *st = src->ptr;
	size_t n = st->out_len - st->sent;
	const nghttp2_nv trailers[] = {
		{ (uint8_t *)"grpc-status", (uint8_t *)st->status, 11, strlen(st->status),
		  NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"grpc-message", (uint8_t *)(st->message ? st->message : ""), 12,
		  st->message ? strlen(st->message) : 0, NGHTTP2_NV_FLAG_NONE },
	};

	(void)u;
	if (n > length)
		n = length;
	memcpy(buf, st->out + st->sent, n);
	st->sent += n;
	if (st->sent == st->out_len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		nghttp2_submit_trailer(s, id, trailers, st->message ? 2 : 1);
	}
	return (ssize_t)n;
}

#define SNV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

static int srv_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	struct srv_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	nghttp2_data_provider prov = { .read_callback = srv_read };

	(void)u;
	if (!st || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	if (streq(st->path, "/test.Svc/Echo") || streq(st->path, "/test.Svc/Stream") ||
	    streq(st->path, "/test.Svc/StreamFail")) {
		const nghttp2_nv h[] = { SNV(":status", "200"), SNV("content-type", "application/grpc") };
		/* Echo: the framed request once; Stream: three times; StreamFail:
		 * once, then an error status in the trailers. */
		int i, times = streq(st->path, "/test.Svc/Stream") ? 3 : 1;

		for (i = 0; i < times; i++)
			memcpy(st->out + (size_t)i * st->req_len, st->req, st->req_len);
		st->out_len = (size_t)times * st->req_len;
		st->status = "0";
		if (streq(st->path, "/test.Svc/StreamFail")) {
			st->status = "9";
			st->message = "watch%20canceled";
		}
		prov.source.ptr = st;
		nghttp2_submit_response(s, f->hd.stream_id, h, ARRAY_SIZE(h), &prov);
	} else if (!streq(st->path, "/test.Svc/Slow") && !streq(st->path, "/test.Svc/NotGrpc") &&
		   !streq(st->path, "/test.Svc/StreamSlow")) {
		/* every other method: NOT_FOUND, as a runtime answers for an unknown id */
		const nghttp2_nv h[] = { SNV(":status", "200"), SNV("content-type", "application/grpc"),
					 SNV("grpc-status", "5"),
					 SNV("grpc-message", "pod%20%22x%22%20not%20found") };

		nghttp2_submit_response(s, f->hd.stream_id, h, ARRAY_SIZE(h), NULL);
	} else if (streq(st->path, "/test.Svc/NotGrpc")) {
		const nghttp2_nv h[] = { SNV(":status", "404") };

		nghttp2_submit_response(s, f->hd.stream_id, h, ARRAY_SIZE(h), NULL);
	}
	/* "/test.Svc/Slow": never answers */
	return 0;
}

static int srv_close(nghttp2_session *s, int32_t id, uint32_t err, void *u)
{
	(void)err;
	(void)u;
	free(nghttp2_session_get_stream_user_data(s, id));
	return 0;
}

static void srv_serve(int fd)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *s;
	uint8_t buf[16384];

	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, srv_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_close);
	nghttp2_session_server_new(&s, cb, NULL);
	nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
	for (;;) {
		const uint8_t *out;
		ssize_t n;

		while ((n = nghttp2_session_mem_send(s, &out)) > 0)
			if (write_all(fd, out, (size_t)n) < 0)
				return;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0 || nghttp2_session_mem_recv(s, buf, (size_t)n) < 0)
			return;
	}
}

static pid_t srv_fork(int lfd)
{
	pid_t pid;

	if (listen(lfd, 4) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		for (;;) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0)
				_exit(0);
			srv_serve(fd);
			close(fd);
		}
	}
	close(lfd);
	return pid;
}

/* Starts the server on <tmpdir>/grpc.sock; returns its pid. */
static pid_t srv_start(char *path, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int lfd;

	snprintf(path, size, "%s/grpc.sock", test_tmpdir());
	strscpy(sun.sun_path, path, sizeof(sun.sun_path));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	return srv_fork(lfd);
}

/* Starts the server on 127.0.0.1 (an ephemeral port); returns its pid. */
static pid_t srv_start_tcp(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	*port = ntohs(sin.sin_port);
	return srv_fork(lfd);
}

static void srv_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST(grpc_unary_against_server)
{
	char path[256], target[300];
	struct grpc_channel *ch;
	struct grpc_status st;
	uint8_t big[3000];
	uint8_t *resp = NULL;
	size_t len = 0, i;
	pid_t pid = srv_start(path, sizeof(path));

	CHECK(pid > 0);
	snprintf(target, sizeof(target), "unix:%s", path);
	CHECK_OK(grpc_channel_new(target, &ch));

	/* OK: the server echoes the message back with grpc-status 0 */
	CHECK_OK(grpc_unary(ch, "/test.Svc/Echo", (const uint8_t *)"hello", 5, 10000, &resp, &len, &st));
	CHECK_INT_EQ(st.code, 0);
	CHECK_INT_EQ(len, 5);
	CHECK(memcmp(resp, "hello", 5) == 0);
	free(resp);

	/* an error status in a trailers-only answer, message decoded */
	CHECK_INT_EQ(grpc_unary(ch, "/test.Svc/Missing", NULL, 0, 10000, &resp, &len, &st), -EREMOTEIO);
	CHECK_INT_EQ(st.code, GRPC_NOT_FOUND);
	CHECK_STR_EQ(st.message, "pod \"x\" not found");

	/* not gRPC at all */
	CHECK_INT_EQ(grpc_unary(ch, "/test.Svc/NotGrpc", NULL, 0, 10000, &resp, &len, &st), -EPROTO);
	CHECK_STR_CONTAINS(st.message, "HTTP status 404");

	/* the deadline; the connection stays usable afterwards */
	CHECK_INT_EQ(grpc_unary(ch, "/test.Svc/Slow", NULL, 0, 200, &resp, &len, &st), -ETIMEDOUT);
	CHECK_STR_CONTAINS(st.message, "no response within 200 ms");
	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	CHECK_OK(grpc_unary(ch, "/test.Svc/Echo", big, sizeof(big), 10000, &resp, &len, &st));
	CHECK_INT_EQ(len, sizeof(big));
	CHECK(memcmp(resp, big, sizeof(big)) == 0);
	free(resp);

	/* the server goes away: a clear transport error, then a reconnect */
	srv_stop(pid);
	CHECK(grpc_unary(ch, "/test.Svc/Echo", big, 1, 10000, &resp, &len, &st) < 0);
	CHECK_INT_EQ(st.code, -1);
	CHECK(st.message[0] != '\0');
	grpc_channel_free(ch);
}

TEST(grpc_unary_over_tcp)
{
	char target[64];
	struct grpc_channel *ch;
	struct grpc_status st;
	uint8_t *resp = NULL;
	size_t len = 0;
	int port = 0, i;
	pid_t pid = srv_start_tcp(&port);

	CHECK(pid > 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	CHECK_OK(grpc_channel_new(target, &ch));
	/* several calls share one connection */
	for (i = 0; i < 3; i++) {
		CHECK_OK(grpc_unary(ch, "/test.Svc/Echo", (const uint8_t *)"tcp", 3, 10000, &resp, &len, &st));
		CHECK_INT_EQ(len, 3);
		CHECK(memcmp(resp, "tcp", 3) == 0);
		free(resp);
	}
	CHECK_INT_EQ(grpc_unary(ch, "/test.Svc/Other", NULL, 0, 10000, &resp, &len, &st), -EREMOTEIO);
	CHECK_INT_EQ(st.code, GRPC_NOT_FOUND);
	grpc_channel_free(ch);
	srv_stop(pid);
}

TEST(grpc_server_stream)
{
	char path[256];
	struct grpc_channel *ch;
	struct grpc_stream *gs;
	struct grpc_status st;
	uint8_t *msg = NULL;
	size_t len = 0;
	int i;
	pid_t pid = srv_start(path, sizeof(path));

	CHECK(pid > 0);
	CHECK_OK(grpc_channel_new(path, &ch));

	/* three messages, then the end of the stream with OK */
	CHECK_OK(grpc_stream_open(ch, "/test.Svc/Stream", (const uint8_t *)"ev", 2, 10000, &gs, &st));
	for (i = 0; i < 3; i++) {
		CHECK_OK(grpc_stream_recv(gs, 10000, &msg, &len, &st));
		CHECK_INT_EQ(len, 2);
		CHECK(memcmp(msg, "ev", 2) == 0);
		free(msg);
	}
	CHECK_INT_EQ(grpc_stream_recv(gs, 10000, &msg, &len, &st), -ENODATA);
	CHECK_INT_EQ(st.code, 0);
	grpc_stream_free(gs);

	/* one message, then an error status */
	CHECK_OK(grpc_stream_open(ch, "/test.Svc/StreamFail", (const uint8_t *)"x", 1, 10000, &gs, &st));
	CHECK_OK(grpc_stream_recv(gs, 10000, &msg, &len, &st));
	free(msg);
	CHECK_INT_EQ(grpc_stream_recv(gs, 10000, &msg, &len, &st), -EREMOTEIO);
	CHECK_INT_EQ(st.code, GRPC_FAILED_PRECONDITION);
	CHECK_STR_EQ(st.message, "watch canceled");
	grpc_stream_free(gs);

	/* nothing comes: -ETIMEDOUT, and the stream can be cancelled */
	CHECK_OK(grpc_stream_open(ch, "/test.Svc/StreamSlow", NULL, 0, 10000, &gs, &st));
	CHECK_INT_EQ(grpc_stream_recv(gs, 100, &msg, &len, &st), -ETIMEDOUT);
	grpc_stream_free(gs);
	/* the channel still serves unary calls afterwards */
	CHECK_OK(grpc_unary(ch, "/test.Svc/Echo", (const uint8_t *)"u", 1, 10000, &msg, &len, &st));
	free(msg);

	grpc_channel_free(ch);
	srv_stop(pid);
}

TEST(grpc_connect_errors)
{
	char target[300];
	struct grpc_channel *ch;
	struct grpc_status st;
	uint8_t *resp;
	size_t len;

	snprintf(target, sizeof(target), "unix:%s/absent.sock", test_tmpdir());
	CHECK_OK(grpc_channel_new(target, &ch));
	CHECK_INT_EQ(grpc_unary(ch, "/a.B/C", NULL, 0, 500, &resp, &len, &st), -ENOENT);
	CHECK_STR_CONTAINS(st.message, "absent.sock");
	grpc_channel_free(ch);
}

TEST(cri_maps_grpc_status_to_errno)
{
	Runtime__V1__PodSandboxStatusResponse *s = NULL;
	char path[256];
	struct cri_client *c;
	pid_t pid = srv_start(path, sizeof(path));

	CHECK(pid > 0);
	CHECK_OK(cri_client_new(path, 2000, &c));
	CHECK_INT_EQ(cri_stop_pod_sandbox(c, ""), -EINVAL);
	CHECK_STR_CONTAINS(cri_last_status(c)->message, "pod sandbox id");
	/* the test server answers NOT_FOUND on every CRI method */
	CHECK_INT_EQ(cri_stop_pod_sandbox(c, "abc"), -ENOENT);
	CHECK_INT_EQ(cri_last_status(c)->code, GRPC_NOT_FOUND);
	CHECK_STR_EQ(cri_last_status(c)->message, "pod \"x\" not found");
	CHECK_INT_EQ(cri_pod_sandbox_status(c, "abc", true, &s), -ENOENT);
	CHECK(s == NULL);
	cri_client_free(c);
	srv_stop(pid);
}
