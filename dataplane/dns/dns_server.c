/* The DNS server: UDP and TCP on one address, answers from the zone (over
 * UDP a repeated question's from the memo, without allocating), the rest
 * forwarded to upstream resolvers (UDP, again over TCP when the answer
 * comes back truncated) through the cache. Everything is
 * non-blocking behind one epoll fd that the agent's loop polls; no
 * threads. An upstream that does not answer gives SERVFAIL after the
 * timeout, never a hang. */
#include "dataplane/dns/dns_int.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_PENDING 1024
#define MAX_CONNS 64
#define TCP_IDLE_MS 10000
#define TICK_MS 100
#define UDP_BATCH 32 /* datagrams per recvmmsg / sendmmsg */
#define UDP_ROUNDS 8 /* batches per dispatch, so the agent's loop stays fair */
#define GSO_MAX_BYTES 60000 /* payload of one UDP_SEGMENT send (a datagram's limit) */
#define QUERY_MAX 1500 /* larger UDP queries are cut, and get FORMERR */
#define UPSTREAM_EDNS 1232
#define TCP_MSG_MAX (2 + 65535)

enum ev_kind { EV_UDP, EV_TCP_LISTEN, EV_UP4, EV_UP6, EV_TIMER, EV_CONN, EV_UP_TCP };

struct conn {
	int fd; /* -1: free */
	uint32_t gen;
	uint8_t *buf; /* TCP_MSG_MAX */
	size_t have;
	uint64_t last_ms;
};

struct pending {
	bool used;
	uint16_t id; /* toward upstream */
	struct dns_query q;
	struct sockaddr_storage client;
	socklen_t client_len;
	int conn; /* -1: the client came over UDP */
	uint32_t conn_gen;
	uint8_t *wire; /* the query toward upstream */
	size_t len;
	size_t upstream;
	uint64_t started_ms, try_ms;
	int tcp_fd; /* after a truncated answer; -1 */
	uint8_t *tcp_buf;
	size_t tcp_have, tcp_sent;
};

struct dns_server {
	int ep, udp, tcp, up4, up6, timer;
	bool ticking;
	struct dns_zone *zone;
	struct dns_memo *memo; /* the zone's answers by question */
	struct dns_cache *cache;
	struct sockaddr_storage up[DNS_MAX_UPSTREAMS];
	socklen_t up_len[DNS_MAX_UPSTREAMS];
	size_t n_up;
	unsigned timeout_ms;
	struct conn conns[MAX_CONNS];
	struct pending pend[MAX_PENDING];
	int32_t *by_id; /* upstream id -> pending index, -1 */
	size_t n_pending;
	uint64_t rng;
	struct dns_server_stats st;
	uint8_t rbuf[TCP_MSG_MAX];
	/* UDP in and out, a batch at a time */
	struct mmsghdr in[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	struct sockaddr_storage in_from[UDP_BATCH];
	uint8_t in_buf[UDP_BATCH][QUERY_MAX];
	struct mmsghdr out[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	struct sockaddr_storage out_to[UDP_BATCH];
	uint8_t out_buf[UDP_BATCH][DNS_MAX_UDP];
	unsigned n_out;
	/* the same replies as few sends: one per client address and size
	 * (UDP_SEGMENT), unless the kernel or the route refused it once */
	bool gso_off;
	struct mmsghdr gso[UDP_BATCH];
	struct iovec gso_iov[UDP_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} gso_ctl[UDP_BATCH];
};

static uint64_t now_ms(void)
{
	return now_ns() / 1000000ULL;
}

static uint16_t next_id(struct dns_server *s)
{
	s->rng ^= s->rng << 13; /* xorshift64 */
	s->rng ^= s->rng >> 7;
	s->rng ^= s->rng << 17;
	return (uint16_t)(s->rng >> 24);
}

static int ep_add(struct dns_server *s, int fd, uint32_t events, enum ev_kind kind, uint32_t idx)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)kind << 32 | idx };

	return epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int dns_sockaddr_parse(const char *str, uint16_t def_port, struct sockaddr_storage *out,
		       socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *port = NULL, *colon = strrchr(str, ':');
	struct ipaddr a;
	unsigned long p = def_port;
	char *end;

	if (str[0] == '[') {
		const char *close = strchr(str, ']');

		if (!close || (size_t)(close - str - 1) >= sizeof(host) || (close[1] && close[1] != ':'))
			return -EINVAL;
		memcpy(host, str + 1, (size_t)(close - str - 1));
		host[close - str - 1] = '\0';
		port = close[1] ? close + 2 : NULL;
	} else if (colon && strchr(str, ':') == colon) {
		if ((size_t)(colon - str) >= sizeof(host))
			return -EINVAL;
		memcpy(host, str, (size_t)(colon - str));
		host[colon - str] = '\0';
		port = colon + 1;
	} else if (strscpy(host, str, sizeof(host)) < 0) {
		return -EINVAL;
	}
	if (port) {
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno || end == port || *end || p == 0 || p > 65535)
			return -EINVAL;
	}
	if (ipaddr_parse(host, &a) < 0)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (a.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		sin->sin_addr = a.v4;
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		sin6->sin6_addr = a.v6;
		*len = sizeof(*sin6);
	}
	return 0;
}

static void sockaddr_fmt(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(buf, size, "%s:%u", a, ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(buf, size, "[%s]:%u", a, ntohs(sin6->sin6_port));
	}
}

static bool sockaddr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
}

/* The nameservers of a resolv.conf (ldns reads it), but never ourselves. */
static int upstreams_from_resolv(struct dns_server *s, const char *path,
				 const struct sockaddr_storage *self)
{
	ldns_resolver *res = NULL;

	if (ldns_resolver_new_frm_file(&res, path) != LDNS_STATUS_OK)
		return -ENOENT;
	for (size_t i = 0; i < ldns_resolver_nameserver_count(res) && s->n_up < DNS_MAX_UPSTREAMS;
	     i++) {
		size_t size = 0;
		struct sockaddr_storage *ss = ldns_rdf2native_sockaddr_storage(
			ldns_resolver_nameservers(res)[i], ldns_resolver_port(res), &size);

		if (ss && !sockaddr_same(ss, self)) {
			s->up[s->n_up] = *ss;
			s->up_len[s->n_up++] = (socklen_t)size;
		}
		free(ss);
	}
	ldns_resolver_deep_free(res);
	return 0;
}

static int socket_bound(int family, int type, const struct sockaddr_storage *a, socklen_t len)
{
	int one = 1, fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((a && bind(fd, (const struct sockaddr *)a, len) < 0) ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int server_sockets(struct dns_server *s, const struct dns_server_options *o)
{
	int fam = o->listen.ss_family, r;

	s->udp = socket_bound(fam, SOCK_DGRAM, &o->listen, o->listen_len);
	if (s->udp < 0)
		return s->udp;
	s->tcp = socket_bound(fam, SOCK_STREAM, &o->listen, o->listen_len);
	if (s->tcp < 0)
		return s->tcp;
	s->up4 = socket_bound(AF_INET, SOCK_DGRAM, NULL, 0);
	s->up6 = socket_bound(AF_INET6, SOCK_DGRAM, NULL, 0); /* may fail: no IPv6 */
	s->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->up4 < 0 || s->timer < 0 || s->ep < 0)
		return s->up4 < 0 ? s->up4 : -errno;
	if ((r = ep_add(s, s->udp, EPOLLIN, EV_UDP, 0)) < 0 ||
	    (r = ep_add(s, s->tcp, EPOLLIN, EV_TCP_LISTEN, 0)) < 0 ||
	    (r = ep_add(s, s->up4, EPOLLIN, EV_UP4, 0)) < 0 ||
	    (s->up6 >= 0 && (r = ep_add(s, s->up6, EPOLLIN, EV_UP6, 0)) < 0) ||
	    (r = ep_add(s, s->timer, EPOLLIN, EV_TIMER, 0)) < 0)
		return r;
	return 0;
}

int dns_server_new(const struct dns_server_options *o, struct dns_server **out)
{
	struct dns_server *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->ep = s->udp = s->tcp = s->up4 = s->up6 = s->timer = -1;
	for (size_t i = 0; i < MAX_CONNS; i++)
		s->conns[i].fd = -1;
	s->timeout_ms = o->timeout_ms ? o->timeout_ms : DNS_UPSTREAM_TIMEOUT_MS;
	s->by_id = malloc(65536 * sizeof(*s->by_id));
	if (!s->by_id || getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng)) {
		r = -ENOMEM;
		goto fail;
	}
	s->rng |= 1;
	memset(s->by_id, 0xff, 65536 * sizeof(*s->by_id));
	for (size_t i = 0; i < o->n_upstreams && i < DNS_MAX_UPSTREAMS; i++) {
		s->up[s->n_up] = o->upstreams[i];
		s->up_len[s->n_up++] = o->upstreams[i].ss_family == AF_INET ? sizeof(struct sockaddr_in)
									     : sizeof(struct sockaddr_in6);
	}
	if (!s->n_up)
		upstreams_from_resolv(s, o->resolv_conf ? o->resolv_conf : "/etc/resolv.conf",
				      &o->listen);
	r = dns_cache_new(o->cache_entries, &s->cache);
	if (r == 0)
		r = dns_memo_new(&s->memo);
	if (r == 0)
		r = server_sockets(s, o);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	dns_server_free(s);
	return r;
}

static void conn_close(struct dns_server *s, size_t i)
{
	struct conn *c = &s->conns[i];

	if (c->fd < 0)
		return;
	close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->have = 0;
	c->gen++;
}

static void pending_free(struct dns_server *s, struct pending *p)
{
	if (!p->used)
		return;
	s->by_id[p->id] = -1;
	dns_query_clear(&p->q);
	free(p->wire);
	free(p->tcp_buf);
	if (p->tcp_fd >= 0)
		close(p->tcp_fd);
	memset(p, 0, sizeof(*p));
	p->tcp_fd = -1;
	s->n_pending--;
}

void dns_server_free(struct dns_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < MAX_PENDING; i++)
		pending_free(s, &s->pend[i]);
	for (size_t i = 0; i < MAX_CONNS; i++)
		conn_close(s, i);
	int fds[] = { s->ep, s->udp, s->tcp, s->up4, s->up6, s->timer };

	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	dns_zone_free(s->zone);
	dns_memo_free(s->memo);
	dns_cache_free(s->cache);
	free(s->by_id);
	free(s);
}

void dns_server_set_zone(struct dns_server *s, struct dns_zone *z)
{
	dns_zone_free(s->zone);
	dns_memo_clear(s->memo); /* a new zone may reuse the address and serial */
	s->zone = z;
}

struct dns_zone *dns_server_zone(struct dns_server *s)
{
	return s->zone;
}

int dns_server_fd(const struct dns_server *s)
{
	return s->ep;
}

void dns_server_stats(const struct dns_server *s, struct dns_server_stats *out)
{
	*out = s->st;
	out->cache_entries = dns_cache_count(s->cache);
}

void dns_server_upstreams(const struct dns_server *s, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_up && off < size; i++) {
		char a[64];

		sockaddr_fmt(&s->up[i], a, sizeof(a));
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", a);
	}
	if (!s->n_up)
		snprintf(buf, size, "none");
}

/* ---- replies ---- */

/* Sends msgs[0..n) with sendmmsg; returns how many went, or -errno
 * when the first was refused. A full socket drops the rest: UDP drops,
 * the client retries. */
static int udp_send(struct dns_server *s, struct mmsghdr *msgs, unsigned n)
{
	unsigned done = 0;

	while (done < n) {
		int r = sendmmsg(s->udp, msgs + done, n - done, MSG_DONTWAIT);

		if (r < 0 && done == 0 && errno != EAGAIN && errno != ENOBUFS)
			return -errno;
		if (r <= 0)
			break;
		done += (unsigned)r;
	}
	return (int)done;
}

/* Groups the queued replies by client address and size: each group's
 * payloads back to back, segment size the group's size (the last
 * segment may be shorter). The client's kernel splits them again into
 * datagrams (it does not ask for UDP_GRO), and the path between pays
 * routing, netfilter and delivery once per group. Order between replies
 * changes; DNS clients match answers by id. Returns the groups. */
static unsigned gso_group(struct dns_server *s)
{
	bool taken[UDP_BATCH] = { false };
	unsigned n_iov = 0, n = 0;

	for (unsigned i = 0; i < s->n_out; i++) {
		size_t size = s->out_iov[i].iov_len, bytes = 0;
		struct iovec *first = &s->gso_iov[n_iov];
		struct msghdr *h = &s->gso[n].msg_hdr;
		unsigned segs = 0;

		if (taken[i])
			continue;
		/* same size first, then at most one shorter one as the tail */
		for (int pass = 0; pass < 2; pass++)
			for (unsigned j = i; j < s->n_out; j++) {
				size_t len = s->out_iov[j].iov_len;

				if (taken[j] || (pass == 0 ? len != size : len >= size) ||
				    bytes + len > GSO_MAX_BYTES ||
				    !sockaddr_same(&s->out_to[i], &s->out_to[j]))
					continue;
				taken[j] = true;
				s->gso_iov[n_iov++] = s->out_iov[j];
				bytes += len;
				segs++;
				if (pass == 1)
					break;
			}
		*h = s->out[i].msg_hdr;
		h->msg_iov = first;
		h->msg_iovlen = segs;
		if (segs > 1) {
			struct cmsghdr *cm = (struct cmsghdr *)s->gso_ctl[n].buf;

			h->msg_control = s->gso_ctl[n].buf;
			h->msg_controllen = sizeof(s->gso_ctl[n].buf);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)CMSG_DATA(cm) = (uint16_t)size;
		}
		n++;
	}
	return n;
}

/* Sends the UDP responses queued: grouped (gso_group) when that makes
 * fewer sends, else one datagram each; one sendmmsg either way. */
static void udp_flush(struct dns_server *s)
{
	unsigned n = s->n_out > 1 && !s->gso_off ? gso_group(s) : s->n_out;
	int r = n < s->n_out ? udp_send(s, s->gso, n) : -EAGAIN;

	/* no UDP_SEGMENT on this kernel or route (no checksum offload):
	 * plain datagrams from now on */
	if (r == -EIO || r == -EINVAL || r == -ENOPROTOOPT || r == -EOPNOTSUPP)
		s->gso_off = true;
	if (r == -EAGAIN || s->gso_off)
		udp_send(s, s->out, s->n_out);
	s->n_out = 0;
}

/* The buffer of the next UDP response (DNS_MAX_UDP bytes; a full batch is
 * sent first). */
static uint8_t *udp_next(struct dns_server *s)
{
	if (s->n_out == UDP_BATCH)
		udp_flush(s);
	return s->out_buf[s->n_out];
}

/* Queues the response written into udp_next's buffer (len bytes) for the
 * next flush, and counts it. */
static void udp_queue(struct dns_server *s, size_t len, unsigned rcode,
		      const struct sockaddr_storage *to, socklen_t to_len)
{
	unsigned i = s->n_out;

	s->st.responses[dns_rcode_counter_of(rcode)]++;
	memcpy(&s->out_to[i], to, to_len);
	s->out_iov[i] = (struct iovec){ s->out_buf[i], len };
	s->out[i].msg_hdr = (struct msghdr){ .msg_name = &s->out_to[i], .msg_namelen = to_len,
					     .msg_iov = &s->out_iov[i], .msg_iovlen = 1 };
	s->n_out = i + 1;
}

/* Sends a response to a client and counts it: over UDP queued for the
 * next flush, over TCP at once with its length prefix (a client that does
 * not take it at once is closed). */
static void send_reply(struct dns_server *s, struct dns_reply *rep,
		       const struct sockaddr_storage *to, socklen_t to_len, int conn, uint32_t gen)
{
	if (conn < 0) {
		if (rep->len <= DNS_MAX_UDP) {
			memcpy(udp_next(s), rep->wire, rep->len);
			udp_queue(s, rep->len, rep->rcode, to, to_len);
		}
		return;
	}
	s->st.responses[dns_rcode_counter_of(rep->rcode)]++;
	struct conn *c = &s->conns[conn];
	uint8_t prefix[2];
	struct iovec iov[2] = { { prefix, 2 }, { rep->wire, rep->len } };

	if (c->fd < 0 || c->gen != gen)
		return; /* the client left */
	ldns_write_uint16(prefix, (uint16_t)rep->len);
	if (writev(c->fd, iov, 2) != (ssize_t)(rep->len + 2))
		conn_close(s, (size_t)conn);
}

static void reply_rcode(struct dns_server *s, struct pending *p, unsigned rcode)
{
	struct dns_reply rep = { 0 };

	if (dns_reply_rcode(&p->q, rcode, &rep) == 0)
		send_reply(s, &rep, &p->client, p->client_len, p->conn, p->conn_gen);
	dns_reply_clear(&rep);
}

/* ---- upstream ---- */

static void arm_tick(struct dns_server *s, bool on)
{
	struct itimerspec its = { 0 };

	if (on == s->ticking)
		return;
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = TICK_MS * 1000000L;
	timerfd_settime(s->timer, 0, &its, NULL);
	s->ticking = on;
}

static void upstream_send(struct dns_server *s, struct pending *p)
{
	const struct sockaddr_storage *to = &s->up[p->upstream % s->n_up];
	int fd = to->ss_family == AF_INET ? s->up4 : s->up6;

	p->try_ms = now_ms();
	if (fd >= 0)
		sendto(fd, p->wire, p->len, MSG_DONTWAIT, (const struct sockaddr *)to,
		       s->up_len[p->upstream % s->n_up]);
}

/* The query toward upstream: our id, EDNS0 so that answers fit UDP. */
static int upstream_wire(struct pending *p)
{
	ldns_pkt *copy = ldns_pkt_clone(p->q.ask);
	int r = 0;

	if (!copy)
		return -ENOMEM;
	ldns_pkt_set_id(copy, p->id);
	if (!ldns_pkt_edns(copy) || ldns_pkt_edns_udp_size(copy) < UPSTREAM_EDNS)
		ldns_pkt_set_edns_udp_size(copy, UPSTREAM_EDNS);
	if (ldns_pkt2wire(&p->wire, copy, &p->len) != LDNS_STATUS_OK)
		r = -ENOMEM;
	ldns_pkt_free(copy);
	return r;
}

/* Forwards q (taken) from the client; answers from the cache when it can. */
static void forward(struct dns_server *s, struct dns_query *q, const struct sockaddr_storage *from,
		    socklen_t from_len, int conn)
{
	uint32_t gen = conn >= 0 ? s->conns[conn].gen : 0;
	void *cached = dns_cache_get(s->cache, q->ask, now_ns() / 1000000000ULL);
	struct pending *p = NULL;
	struct dns_reply rep = { 0 };

	if (cached) {
		s->st.cache_hits++;
		if (dns_reply_for(q, cached, &rep) == 0)
			send_reply(s, &rep, from, from_len, conn, gen);
		goto out;
	}
	for (size_t i = 0; i < MAX_PENDING && s->n_up && !p; i++)
		if (!s->pend[i].used)
			p = &s->pend[i];
	if (!p) {
		if (dns_reply_rcode(q, LDNS_RCODE_SERVFAIL, &rep) == 0)
			send_reply(s, &rep, from, from_len, conn, gen);
		goto out;
	}
	*p = (struct pending){ .used = true, .q = *q, .client_len = from_len, .conn = conn,
			       .conn_gen = gen, .tcp_fd = -1 };
	*q = (struct dns_query){ 0 };
	if (from)
		memcpy(&p->client, from, from_len);
	do
		p->id = next_id(s);
	while (s->by_id[p->id] >= 0);
	s->by_id[p->id] = (int32_t)(p - s->pend);
	s->n_pending++;
	p->started_ms = now_ms();
	p->upstream = s->rng % s->n_up;
	if (upstream_wire(p) < 0) {
		reply_rcode(s, p, LDNS_RCODE_SERVFAIL);
		pending_free(s, p);
		goto out;
	}
	s->st.forwarded++;
	upstream_send(s, p);
	arm_tick(s, true);
out:
	dns_reply_clear(&rep);
	dns_query_clear(q);
}

/* Retries over TCP after a truncated answer. */
static void upstream_tcp(struct dns_server *s, struct pending *p)
{
	const struct sockaddr_storage *to = &s->up[p->upstream % s->n_up];
	int fd = socket(to->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || (connect(fd, (const struct sockaddr *)to, s->up_len[p->upstream % s->n_up]) < 0 &&
		       errno != EINPROGRESS) ||
	    !(p->tcp_buf = malloc(TCP_MSG_MAX)) ||
	    ep_add(s, fd, EPOLLOUT | EPOLLIN, EV_UP_TCP, (uint32_t)(p - s->pend)) < 0) {
		if (fd >= 0)
			close(fd);
		reply_rcode(s, p, LDNS_RCODE_SERVFAIL);
		pending_free(s, p);
		return;
	}
	p->tcp_fd = fd;
	p->tcp_have = p->tcp_sent = 0;
}

/* An upstream answer to p: cached, sent to the client. */
static void upstream_answer(struct dns_server *s, struct pending *p, ldns_pkt *resp)
{
	const ldns_rr *qq = ldns_rr_list_rr(ldns_pkt_question(p->q.ask), 0);
	const ldns_rr *rq = ldns_pkt_qdcount(resp) == 1 ? ldns_rr_list_rr(ldns_pkt_question(resp), 0)
							 : NULL;
	struct dns_reply rep = { 0 };

	/* Not an answer to this question: ignore (spoofed, or late). */
	if (!rq || ldns_rr_get_type(rq) != ldns_rr_get_type(qq) ||
	    ldns_dname_compare(ldns_rr_owner(rq), ldns_rr_owner(qq)) != 0)
		return;
	if (ldns_pkt_tc(resp) && p->tcp_fd < 0) {
		upstream_tcp(s, p);
		return;
	}
	dns_cache_put(s->cache, resp, now_ns() / 1000000000ULL);
	if (dns_reply_for(&p->q, resp, &rep) == 0)
		send_reply(s, &rep, &p->client, p->client_len, p->conn, p->conn_gen);
	dns_reply_clear(&rep);
	pending_free(s, p);
}

static void on_upstream_udp(struct dns_server *s, int fd)
{
	for (int n = 0; n < UDP_BATCH; n++) {
		struct sockaddr_storage from;
		socklen_t from_len = sizeof(from);
		ssize_t len = recvfrom(fd, s->rbuf, sizeof(s->rbuf), 0, (struct sockaddr *)&from,
				       &from_len);
		ldns_pkt *resp = NULL;
		struct pending *p;
		int32_t idx;

		if (len < 0)
			return;
		if (len < LDNS_HEADER_SIZE || (idx = s->by_id[LDNS_ID_WIRE(s->rbuf)]) < 0)
			continue;
		p = &s->pend[idx];
		if (p->tcp_fd >= 0 || !sockaddr_same(&from, &s->up[p->upstream % s->n_up]))
			continue;
		if (ldns_wire2pkt(&resp, s->rbuf, (size_t)len) != LDNS_STATUS_OK)
			continue;
		upstream_answer(s, p, resp);
		ldns_pkt_free(resp);
	}
}

static void on_upstream_tcp(struct dns_server *s, struct pending *p, uint32_t events)
{
	ldns_pkt *resp = NULL;
	ssize_t n;

	if (p->tcp_sent < p->len + 2 && (events & EPOLLOUT)) {
		uint8_t prefix[2];
		struct iovec iov[2] = { { prefix, 2 }, { p->wire, p->len } };

		ldns_write_uint16(prefix, (uint16_t)p->len);
		if (writev(p->tcp_fd, iov, 2) != (ssize_t)(p->len + 2))
			goto fail;
		p->tcp_sent = p->len + 2;
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u64 = (uint64_t)EV_UP_TCP << 32 | (uint32_t)(p - s->pend) };

		epoll_ctl(s->ep, EPOLL_CTL_MOD, p->tcp_fd, &ev);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = read(p->tcp_fd, p->tcp_buf + p->tcp_have, TCP_MSG_MAX - p->tcp_have);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0)
		goto fail;
	p->tcp_have += (size_t)n;
	if (p->tcp_have < 2 || p->tcp_have < 2 + (size_t)ldns_read_uint16(p->tcp_buf))
		return;
	if (ldns_wire2pkt(&resp, p->tcp_buf + 2, ldns_read_uint16(p->tcp_buf)) != LDNS_STATUS_OK)
		goto fail;
	upstream_answer(s, p, resp);
	ldns_pkt_free(resp);
	if (p->used) /* not an answer to it */
		goto fail;
	return;
fail:
	reply_rcode(s, p, LDNS_RCODE_SERVFAIL);
	pending_free(s, p);
}

/* Every tick: the next upstream for a try that timed out, SERVFAIL past
 * the timeout; idle TCP clients closed. */
static void on_tick(struct dns_server *s)
{
	uint64_t ticks, now = now_ms();
	bool busy = false;

	if (read(s->timer, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	for (size_t i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &s->pend[i];

		if (!p->used)
			continue;
		if (now - p->started_ms >= s->timeout_ms) {
			s->st.upstream_timeouts++;
			reply_rcode(s, p, LDNS_RCODE_SERVFAIL);
			pending_free(s, p);
			continue;
		}
		if (p->tcp_fd < 0 && now - p->try_ms >= DNS_UPSTREAM_TRY_MS) {
			p->upstream++;
			upstream_send(s, p);
		}
	}
	for (size_t i = 0; i < MAX_CONNS; i++) {
		if (s->conns[i].fd >= 0 && now - s->conns[i].last_ms >= TCP_IDLE_MS)
			conn_close(s, i);
		busy |= s->conns[i].fd >= 0;
	}
	arm_tick(s, busy || s->n_pending);
}

/* ---- clients ---- */

/* One query from a client: answered (over UDP from the memo when it can),
 * forwarded, or dropped. */
static void on_query(struct dns_server *s, const uint8_t *wire, size_t len,
		     const struct sockaddr_storage *from, socklen_t from_len, int conn)
{
	struct dns_query q;
	struct dns_reply rep;
	unsigned rcode;
	size_t n;

	if (conn < 0 &&
	    (n = dns_memo_answer(s->memo, s->zone, wire, len, udp_next(s), DNS_MAX_UDP, &rcode))) {
		udp_queue(s, n, rcode, from, from_len);
		return;
	}
	switch (dns_answer(s->zone, wire, len, conn >= 0, &q, &rep)) {
	case DNS_DROP:
		s->st.dropped++;
		break;
	case DNS_REPLY:
		if (conn < 0)
			dns_memo_put(s->memo, s->zone, wire, len, &rep);
		send_reply(s, &rep, from, from_len, conn, conn >= 0 ? s->conns[conn].gen : 0);
		break;
	case DNS_FORWARD:
		forward(s, &q, from, from_len, conn);
		break;
	}
	dns_reply_clear(&rep);
	dns_query_clear(&q);
}

/* Queries over UDP, a batch per recvmmsg, answers sent a batch at a time,
 * until the socket is empty (or UDP_ROUNDS batches). */
static void on_udp(struct dns_server *s)
{
	for (int round = 0; round < UDP_ROUNDS; round++) {
		int n;

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			s->in_iov[i] = (struct iovec){ s->in_buf[i], QUERY_MAX };
			s->in[i].msg_hdr = (struct msghdr){ .msg_name = &s->in_from[i],
							    .msg_namelen = sizeof(s->in_from[i]),
							    .msg_iov = &s->in_iov[i], .msg_iovlen = 1 };
		}
		n = recvmmsg(s->udp, s->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++)
			on_query(s, s->in_buf[i], s->in[i].msg_len, &s->in_from[i],
				 s->in[i].msg_hdr.msg_namelen, -1);
		udp_flush(s);
		/* a partial batch: read once more, since the client sent more
		 * while these were answered; back to the loop when empty */
		if (n <= 0)
			return;
	}
}

static void on_accept(struct dns_server *s)
{
	int fd = accept4(s->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	size_t i;

	if (fd < 0)
		return;
	for (i = 0; i < MAX_CONNS && s->conns[i].fd >= 0; i++)
		;
	if (i == MAX_CONNS || !(s->conns[i].buf = malloc(TCP_MSG_MAX)) ||
	    ep_add(s, fd, EPOLLIN, EV_CONN, (uint32_t)i) < 0) {
		if (i < MAX_CONNS) {
			free(s->conns[i].buf);
			s->conns[i].buf = NULL;
		}
		close(fd);
		return;
	}
	s->conns[i].fd = fd;
	s->conns[i].have = 0;
	s->conns[i].last_ms = now_ms();
	arm_tick(s, true);
}

/* A TCP client's bytes: every whole message in them is a query. */
static void on_conn(struct dns_server *s, size_t i)
{
	struct conn *c = &s->conns[i];
	ssize_t n = read(c->fd, c->buf + c->have, TCP_MSG_MAX - c->have);
	size_t off = 0;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		conn_close(s, i);
		return;
	}
	c->have += (size_t)n;
	c->last_ms = now_ms();
	while (c->fd >= 0 && c->have - off >= 2 &&
	       c->have - off >= 2 + (size_t)ldns_read_uint16(c->buf + off)) {
		size_t len = ldns_read_uint16(c->buf + off);

		on_query(s, c->buf + off + 2, len, NULL, 0, (int)i);
		off += 2 + len;
	}
	if (c->fd >= 0 && off) {
		memmove(c->buf, c->buf + off, c->have - off);
		c->have -= off;
	}
}

int dns_server_dispatch(struct dns_server *s)
{
	struct epoll_event evs[32];
	int n = epoll_wait(s->ep, evs, ARRAY_SIZE(evs), 0);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		enum ev_kind kind = (enum ev_kind)(evs[i].data.u64 >> 32);
		uint32_t idx = (uint32_t)evs[i].data.u64;

		switch (kind) {
		case EV_UDP: on_udp(s); break;
		case EV_TCP_LISTEN: on_accept(s); break;
		case EV_UP4: on_upstream_udp(s, s->up4); break;
		case EV_UP6: on_upstream_udp(s, s->up6); break;
		case EV_TIMER: on_tick(s); break;
		case EV_CONN:
			if (s->conns[idx].fd >= 0)
				on_conn(s, idx);
			break;
		case EV_UP_TCP:
			if (s->pend[idx].used && s->pend[idx].tcp_fd >= 0)
				on_upstream_tcp(s, &s->pend[idx], evs[i].events);
			break;
		}
	}
	udp_flush(s);
	return 0;
}
