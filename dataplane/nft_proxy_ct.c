/* The nftables proxy mode: UDP conntrack entries of removed endpoints
 * (see nft_proxy.h). */
#include "dataplane/nft_proxy_int.h"

#include "lib/util.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <poll.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

/* ---- conntrack: UDP flows of a removed endpoint ---- */

static int open_nl(struct mnl_socket **out, uint32_t *portid)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int sz = 4 << 20;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		mnl_socket_close(nl);
		return r;
	}
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	*portid = mnl_socket_get_portid(nl);
	*out = nl;
	return 0;
}

struct ct_match {
	const struct ipaddr *addr;
	uint16_t port;
	/* The CTA_TUPLE_ORIG attributes of matching entries, back to back. */
	char *tuples;
	size_t len, cap;
	size_t n;
};

/* Fills src address, src port and l4 protocol from a CTA_TUPLE_* nest. */
static bool ct_tuple(const struct nlattr *nest, int family, uint8_t addr[16], uint16_t *port,
		     uint8_t *proto)
{
	const struct nlattr *a, *b;
	bool have_addr = false, have_port = false;

	*proto = 0;
	mnl_attr_for_each_nested(a, nest) {
		switch (mnl_attr_get_type(a)) {
		case CTA_TUPLE_IP:
			mnl_attr_for_each_nested(b, a) {
				int t = mnl_attr_get_type(b);

				if (family == AF_INET && t == CTA_IP_V4_SRC &&
				    mnl_attr_get_payload_len(b) == 4) {
					memcpy(addr, mnl_attr_get_payload(b), 4);
					have_addr = true;
				} else if (family == AF_INET6 && t == CTA_IP_V6_SRC &&
					   mnl_attr_get_payload_len(b) == 16) {
					memcpy(addr, mnl_attr_get_payload(b), 16);
					have_addr = true;
				}
			}
			break;
		case CTA_TUPLE_PROTO:
			mnl_attr_for_each_nested(b, a) {
				if (mnl_attr_get_type(b) == CTA_PROTO_NUM)
					*proto = mnl_attr_get_u8(b);
				else if (mnl_attr_get_type(b) == CTA_PROTO_SRC_PORT) {
					*port = mnl_attr_get_u16(b);
					have_port = true;
				}
			}
			break;
		}
	}
	return have_addr && have_port;
}

static int ct_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ct_match *m = data;
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *orig = NULL, *reply = NULL;
	uint8_t addr[16], proto;
	uint16_t port = 0;

	if (g->nfgen_family != m->addr->family)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
			orig = a;
		else if (mnl_attr_get_type(a) == CTA_TUPLE_REPLY)
			reply = a;
	}
	if (!orig || !reply || !ct_tuple(reply, g->nfgen_family, addr, &port, &proto))
		return MNL_CB_OK;
	if (proto != IPPROTO_UDP || port != htons(m->port) ||
	    memcmp(addr, m->addr->bytes, ipaddr_family_len(m->addr->family)) != 0)
		return MNL_CB_OK;
	if (m->cap - m->len < orig->nla_len) {
		size_t cap = m->cap ? m->cap * 2 : 4096;
		char *n = realloc(m->tuples, cap);

		if (!n)
			return MNL_CB_ERROR;
		m->tuples = n;
		m->cap = cap;
	}
	memcpy(m->tuples + m->len, orig, orig->nla_len);
	m->len += NLA_ALIGN(orig->nla_len);
	m->n++;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, uint16_t type, uint16_t flags, int family, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = (uint8_t)family;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	return nlh;
}

int nftp_conntrack_delete_udp(const struct ipaddr *addr, uint16_t port)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct ct_match m = { .addr = addr, .port = port };
	struct mnl_socket *nl = NULL;
	uint32_t portid = 0, seq = (uint32_t)time(NULL);
	struct nlmsghdr *nlh;
	int r, deleted = 0;
	ssize_t n;

	r = open_nl(&nl, &portid);
	if (r < 0)
		return r;
	nlh = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, addr->family, seq);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -errno;
			goto out;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, ct_dump_cb, &m);
		if (r < 0) {
			r = -errno;
			goto out;
		}
		if (r == MNL_CB_STOP)
			break;
	}
	for (size_t off = 0; off < m.len;) {
		const struct nlattr *orig = (const struct nlattr *)(m.tuples + off);

		nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, addr->family, ++seq);
		mnl_attr_put(nlh, CTA_TUPLE_ORIG | NLA_F_NESTED, orig->nla_len - sizeof(*orig),
			     mnl_attr_get_payload(orig));
		off += NLA_ALIGN(orig->nla_len);
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
			r = -errno;
			goto out;
		}
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -errno;
			goto out;
		}
		/* ENOENT: the entry ended meanwhile, fine. */
		if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) >= 0)
			deleted++;
		else if (errno != ENOENT) {
			r = -errno;
			goto out;
		}
	}
	r = deleted;
out:
	free(m.tuples);
	mnl_socket_close(nl);
	return r;
}
