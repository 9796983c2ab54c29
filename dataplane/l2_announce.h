/* L2 announcements: the LoadBalancer ingress IPs and externalIPs of the
 * Services answer on the node's network, as MetalLB's L2 mode and
 * Cilium's L2 announcements do. One node per address answers ARP
 * requests (IPv4) and neighbor solicitations (IPv6) for it, with its own
 * MAC; traffic to the address then arrives at that node, whose service
 * proxy (BPF tc programs or the nftables table) sends it to a backend.
 *
 *   who: rendezvous hashing of (address, node name) over the Ready Nodes
 *        of the model store (for externalTrafficPolicy Local, those with
 *        a ready endpoint of the Service) (l2_plan_compute): every agent
 *        computes the
 *        same owner from the same objects without talking to the others,
 *        and when the owner goes (deleted or not Ready) only its
 *        addresses move, each to its next-highest node
 *   how: one AF_PACKET socket, unbound, with a classic BPF filter that
 *        lets in only ARP requests and ICMPv6 neighbor solicitations
 *        (not our own sends); the agent polls it (l2_announce_fd) and
 *        answers for the addresses it owns on its interfaces. Taking an
 *        address over sends a gratuitous ARP (an ARP announcement,
 *        RFC 5227) or an unsolicited neighbor advertisement (override),
 *        so the neighbours' caches move at once.
 *
 * The interfaces: those named, or the one holding the node's address
 * (--node-ip, else the InternalIP of this node's Node object), resolved
 * again at each sync. Frames are built and read with the system's
 * structs (netinet/if_ether.h, netinet/ip6.h, netinet/icmp6.h) in
 * l2_frame.c, which knows no socket. */
#ifndef SKIFF_L2_ANNOUNCE_H
#define SKIFF_L2_ANNOUNCE_H

#include "lib/inet.h"
#include "lib/kube_model.h"
#include "lib/log.h"

#include <net/ethernet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define L2_MAX_IFACES 8

/* ---- who announces what (pure) ---- */

/* The rendezvous score of (addr, node): among the candidates, the node
 * with the highest score announces addr. */
uint64_t l2_score(const struct ipaddr *addr, const char *node);

struct l2_entry {
	struct ipaddr addr;
	char *service; /* "ns/name": the first Service (by key) with addr */
	char *owner;   /* the Node that announces it; NULL: no Ready Node */
	/* externalTrafficPolicy Local: only a node with a ready endpoint of
	 * the Service announces it */
	bool local;
};
struct l2_plan {
	struct l2_entry *v; /* sorted by address, each address once */
	size_t n;
};
/* Every status.loadBalancer.ingress IP (type LoadBalancer) and
 * externalIP of st's Services, with its owner among the Ready Nodes. */
int l2_plan_compute(const struct model_store *st, struct l2_plan *out);
void l2_plan_clear(struct l2_plan *p);
/* The entry of addr, or NULL. */
const struct l2_entry *l2_plan_find(const struct l2_plan *p, const struct ipaddr *addr);

/* ---- frames (l2_frame.c; pure) ---- */

struct l2_iface {
	int ifindex;
	char name[IFNAMSIZ];
	uint8_t mac[ETH_ALEN];
	bool allmulti; /* the socket asked it for the multicast solicitations */
};

#define L2_FRAME_OUT_MAX 128
/* A frame to send: its bytes from the Ethernet header on, and what the
 * packet socket's address needs. */
struct l2_frame {
	uint8_t data[L2_FRAME_OUT_MAX];
	size_t len;
	uint8_t dst[ETH_ALEN];
	uint16_t proto; /* host order */
};

/* The announcement of addr from ifc: a gratuitous ARP (RFC 5227's ARP
 * announcement) or an unsolicited neighbor advertisement (override). */
void l2_announcement(const struct l2_iface *ifc, const struct ipaddr *addr, struct l2_frame *out);
/* Whether this node answers for a. */
typedef bool (*l2_mine_fn)(const struct ipaddr *a, void *ud);
/* The reply to frame f (len bytes as received on ifc, from the Ethernet
 * header): 1 with *out for an ARP request or a neighbor solicitation of
 * an address mine() takes; 0 for anything else; -EINVAL for a malformed
 * request (a bad NS checksum, a short frame). */
int l2_reply(const struct l2_iface *ifc, const uint8_t *f, size_t len, l2_mine_fn mine, void *ud,
	     struct l2_frame *out);
/* The ICMPv6 checksum (RFC 4443 2.3) of msg as it is (network order): 0
 * over a message whose checksum field is right. */
uint16_t l2_icmp6_csum(const struct in6_addr *src, const struct in6_addr *dst, const void *msg,
		       size_t len);

/* ---- the announcer (a consumer of skiff-agent's store) ---- */

struct l2_announce_options {
	const char *node_name;
	const char *const *ifnames; /* none: the interface of an address below */
	size_t n_ifnames;
	const struct ipaddr *node_addrs; /* none: this node's InternalIPs */
	size_t n_node_addrs;
	/* Each address whose owner changed, and interface problems. */
	log_report_fn report;
	void *ud;
};

struct l2_announce;
/* Opens the packet socket (needs CAP_NET_RAW). */
int l2_announce_new(const struct l2_announce_options *o, struct l2_announce **out);
void l2_announce_free(struct l2_announce *l);
/* Brings the announced addresses to st: reports every address whose
 * owner changed (naming its Service) and announces the ones this node
 * takes. -ENODEV when no interface is found (retry later). */
int l2_announce_sync(struct l2_announce *l, const struct model_store *st);
/* One fd for the caller's poll loop; when readable, dispatch. */
int l2_announce_fd(const struct l2_announce *l);
/* Answers the requests waiting (bounded work per call). */
int l2_announce_dispatch(struct l2_announce *l);

struct l2_announce_stats {
	size_t n_addrs, n_mine, n_ifaces;
	uint64_t arp_replies, na_replies, announcements, ignored;
};
void l2_announce_stats(const struct l2_announce *l, struct l2_announce_stats *out);

#endif
