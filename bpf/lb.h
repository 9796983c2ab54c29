/* Map keys and values of skiff's service load balancer, shared by the BPF
 * programs (bpf/<hook>.bpf.c) and user space (dataplane/lb/). Fixed-width types,
 * explicit padding and a size assertion on every struct, so both sides can
 * never drift. Addresses are 16 bytes, IPv4 stored v4-mapped
 * (::ffff:a.b.c.d); ports are in host byte order so that `bpftool map dump`
 * prints them as people write them. README.md ("The maps, read with bpftool") documents each map. */
#ifndef SKIFF_BPF_LB_H
#define SKIFF_BPF_LB_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define LB_MAGLEV_M 1021 /* prime; lb_maglev value size */
#define LB_NAME_LEN 128

/* Pinned names (under the bpffs folder). */
#define LB_MAP_FRONTENDS "lb_frontends"
#define LB_MAP_SVC_IPS "lb_svc_ips"
#define LB_MAP_SLOTS "lb_slots"
#define LB_MAP_MEMBERS "lb_members"
#define LB_MAP_BACKENDS "lb_backends"
#define LB_MAP_MAGLEV "lb_maglev"
#define LB_MAP_AFFINITY "lb_affinity"
#define LB_MAP_REVNAT "lb_sock_revnat"
#define LB_MAP_FE_STATS "lb_fe_stats"
#define LB_MAP_BE_STATS "lb_be_stats"
#define LB_MAP_NAMES "lb_names"
#define LB_MAP_DROPS "lb_drops"
#define LB_MAP_CT "lb_ct"
#define LB_MAP_NODE_IPS "lb_node_ips"

enum lb_fe_kind {
	LB_FE_CLUSTER_IP = 0,
	LB_FE_EXTERNAL_IP = 1,
	LB_FE_LOAD_BALANCER = 2,
	LB_FE_NODE_PORT = 3,
};

enum lb_fe_algo {
	LB_FE_ALGO_RANDOM = 0,
	LB_FE_ALGO_MAGLEV = 1,
};

enum lb_fe_flag {
	LB_FE_F_LOCAL = 1 << 0,
};

/* lb_frontends: one entry per service frontend (address, port, protocol). */
struct lb_fe_key {
	__u8 addr[16];
	__u16 port;
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;
};
_Static_assert(sizeof(struct lb_fe_key) == 20, "lb_fe_key size");

struct lb_fe_val {
	__u32 id;       /* frontend id: key of lb_names, lb_slots, lb_fe_stats */
	__u32 gen;      /* generation of the current backend set */
	__u16 count;    /* selectable backends: slots 0..count) of lb_slots[id, gen, *] */
	__u8 kind;      /* enum lb_fe_kind */
	__u8 algo;      /* enum lb_fe_algo */
	__u32 flags;    /* enum lb_fe_flag */
	__u32 affinity; /* sessionAffinity ClientIP timeout, seconds; 0: none */
};
_Static_assert(sizeof(struct lb_fe_val) == 20, "lb_fe_val size");

/* lb_svc_ips: service addresses (ClusterIP, externalIP, LB ingress); a
 * connection to a known address on an unknown port is refused. */
struct lb_ip_key {
	__u8 addr[16];
};
_Static_assert(sizeof(struct lb_ip_key) == 16, "lb_ip_key size");

struct lb_ip_val {
	__u32 refs; /* frontends using this address */
};
_Static_assert(sizeof(struct lb_ip_val) == 4, "lb_ip_val size");

/* lb_node_ips (key struct lb_ip_key): this node's addresses. A NodePort
 * frontend on the unspecified address (0.0.0.0, ::) answers on each of
 * them. */
struct lb_node_ip_val {
	__u32 epoch; /* the write that put it there: entries of an earlier one are stale */
};
_Static_assert(sizeof(struct lb_node_ip_val) == 4, "lb_node_ip_val size");

/* lb_slots: the backend set of a frontend under one generation, in blocks
 * of LB_SLOT_BLOCK slots: the entry {fe_id, gen, slot} holds the backends
 * of slots slot .. slot + LB_SLOT_BLOCK - 1 (slot a multiple of
 * LB_SLOT_BLOCK; 0 past the frontend's count). One entry for most
 * frontends, where one entry per slot made a full sync of 10,000 services
 * x 10 endpoints insert 100,000 hash entries. */
#define LB_SLOT_BLOCK 16

struct lb_slot_key {
	__u32 fe_id;
	__u32 gen;
	__u32 slot; /* first slot of the block */
};
_Static_assert(sizeof(struct lb_slot_key) == 12, "lb_slot_key size");

struct lb_slot_val {
	__u32 backend_id[LB_SLOT_BLOCK];
};
_Static_assert(sizeof(struct lb_slot_val) == 4 * LB_SLOT_BLOCK, "lb_slot_val size");

/* lb_members: (frontend, backend) pairs of the old and new set of a
 * frontend with session affinity (only there: an affinity entry is the
 * only reader); affinity only reuses a backend that is still a member. */
struct lb_member_key {
	__u32 fe_id;
	__u32 backend_id;
};
_Static_assert(sizeof(struct lb_member_key) == 8, "lb_member_key size");

struct lb_member_val {
	__u32 gen; /* generation that last wrote it */
};
_Static_assert(sizeof(struct lb_member_val) == 4, "lb_member_val size");

/* lb_backends: backend id -> address. Ids are stable across updates. */
struct lb_be_key {
	__u32 id;
};
_Static_assert(sizeof(struct lb_be_key) == 4, "lb_be_key size");

enum lb_be_state {
	LB_BE_ACTIVE = 0,
	LB_BE_TERMINATING = 1,
	LB_BE_QUARANTINED = 2,
};

struct lb_be_val {
	__u8 addr[16];
	__u16 port;
	__u8 proto;
	__u8 state; /* enum lb_be_state */
};
_Static_assert(sizeof(struct lb_be_val) == 20, "lb_be_val size");

/* lb_maglev: Maglev lookup table of a frontend under one generation. */
struct lb_maglev_key {
	__u32 fe_id;
	__u32 gen;
};
_Static_assert(sizeof(struct lb_maglev_key) == 8, "lb_maglev_key size");

struct lb_maglev_val {
	__u32 backend_id[LB_MAGLEV_M];
};
_Static_assert(sizeof(struct lb_maglev_val) == 4 * LB_MAGLEV_M, "lb_maglev_val size");

/* lb_affinity (LRU): sessionAffinity ClientIP. The socket hooks identify a
 * client by its network namespace cookie (the pod); client is the source
 * address where it is known (tc path), else zero. */
struct lb_aff_key {
	__u64 netns_cookie;
	__u8 client[16];
	__u32 fe_id;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_aff_key) == 32, "lb_aff_key size");

struct lb_aff_val {
	__u64 last_ns; /* bpf_ktime_get_ns() of the last use */
	__u32 backend_id;
	__u32 pad;
};
_Static_assert(sizeof(struct lb_aff_val) == 16, "lb_aff_val size");

/* lb_sock_revnat (LRU): socket cookie + backend -> frontend, so recvmsg and
 * getpeername show the service address, not the backend's. Its insert is
 * most of what connect4 costs (~0.8 of ~1.3 us per connection on a busy
 * 2-core VM, tests/bench/bench_sock_lb.sh); socket-local storage, which
 * frees itself with the socket, measured no cheaper, cannot hold the
 * several services one unconnected UDP socket may send to, and cannot be
 * read with `bpftool map dump`. */
struct lb_revnat_key {
	__u64 cookie;
	__u8 addr[16]; /* backend */
	__u16 port;
	__u16 pad;
	__u32 pad2;
};
_Static_assert(sizeof(struct lb_revnat_key) == 32, "lb_revnat_key size");

struct lb_revnat_val {
	__u8 addr[16]; /* frontend */
	__u16 port;
	__u16 pad;
	__u32 fe_id;
};
_Static_assert(sizeof(struct lb_revnat_val) == 24, "lb_revnat_val size");

/* lb_fe_stats (per-CPU, key struct lb_id_key = frontend id) and
 * lb_be_stats (per-CPU, key = backend id). The socket hooks count
 * connections (and unconnected UDP datagrams as packets); the tc stage
 * counts packets and bytes. */
struct lb_id_key {
	__u32 id;
};
_Static_assert(sizeof(struct lb_id_key) == 4, "lb_id_key size");

struct lb_stats_val {
	__u64 packets;
	__u64 bytes;
	__u64 connections;
};
_Static_assert(sizeof(struct lb_stats_val) == 24, "lb_stats_val size");

/* lb_names: frontend id -> "ns/name:port" for people reading dumps. */
struct lb_name_val {
	char name[LB_NAME_LEN];
};
_Static_assert(sizeof(struct lb_name_val) == LB_NAME_LEN, "lb_name_val size");

/* lb_ct (LRU): connection tracking of the tc stage (NodePort,
 * LoadBalancer and externalIP traffic from outside the node). Two entries
 * per connection: the original direction, keyed by the tuple as the client
 * sent it, and the reply direction, keyed by the tuple as the reply
 * arrives (from the backend to the SNAT address, or to the client when the
 * client address is preserved). */
enum lb_ct_dir {
	LB_CT_ORIGINAL = 0,
	LB_CT_REPLY = 1,
};

struct lb_ct_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 dir; /* enum lb_ct_dir */
	__u16 pad;
};
_Static_assert(sizeof(struct lb_ct_key) == 40, "lb_ct_key size");

struct lb_ct_val {
	__u8 daddr[16]; /* destination to write (original: backend; reply: client) */
	__u8 saddr[16]; /* source to write (original: SNAT address or zero; reply: frontend) */
	__u16 dport;
	__u16 sport;
	__u32 backend_id;
	__u32 fe_id;
	__u32 pad;
	__u64 last_ns;
};
_Static_assert(sizeof(struct lb_ct_val) == 56, "lb_ct_val size");

/* lb_sock_targets (not pinned; the socket-ending iterators' own map,
 * bpf/sock_iter.bpf.c): the backends one sync removed, filled by the
 * agent before one pass of the TCP and UDP socket iterators and cleared
 * after it. */
#define LB_SOCK_TARGETS_MAX 65536

struct lb_sock_target_key {
	__u8 addr[16]; /* backend, v4-mapped for IPv4 */
	__u16 port;
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad;
};
_Static_assert(sizeof(struct lb_sock_target_key) == 20, "lb_sock_target_key size");

struct lb_sock_target_val {
	__u32 ended; /* sockets ended in this pass */
};
_Static_assert(sizeof(struct lb_sock_target_val) == 4, "lb_sock_target_val size");

/* SNAT source ports of the tc stage */
#define LB_SNAT_PORT_MIN 32768
#define LB_SNAT_PORT_MAX 60999

#endif
