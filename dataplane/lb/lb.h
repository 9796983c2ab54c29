/* lb: skiff's eBPF service load balancer, the user-space side.
 *
 * Programs the pinned BPF maps that the socket hooks (bpf/sock.bpf.c) read
 * on every connect/sendmsg/recvmsg/getpeername of the processes in a cgroup,
 * and owns the attachment of those programs.
 *
 *   struct lb_options o = { 0 };          // defaults: /sys/fs/bpf/skiff, cgroup2 root
 *   struct lb *lb;
 *   r = lb_open(&o, &lb);                 // creates or reuses pinned maps and links
 *   lb_sync_begin(lb);                    // after a restart: mark
 *   lb_frontend_set(lb, &fe, be, n, &p);  // once per frontend of every service port
 *   lb_frontend_set_many(lb, reqs, n, res); // or many at once (batched map writes)
 *   lb_sync_end(lb);                      // sweep frontends not set since begin
 *   ...
 *   lb_close(lb);                         // leaves programs attached and maps pinned
 *   lb_destroy(lb);                       // or: detach, unpin and remove everything
 *
 * Every function returns 0 (or a count) on success and a negative errno on
 * failure; out-parameters are written only on success. Nothing prints.
 * Not thread-safe: one struct lb is used by one thread at a time.
 *
 * Addresses are given as struct ipaddr (AF_INET or AF_INET6); ports in
 * host byte order. IPv4 is stored v4-mapped (::ffff:a.b.c.d) in the maps,
 * so v4-mapped IPv6 sockets reach IPv4 services too.
 */
#ifndef SKIFF_LB_H
#define SKIFF_LB_H

#include "lib/inet.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_DEFAULT_BPFFS "/sys/fs/bpf/skiff"
/* Longest service name kept in the names map ("ns/name:port" + kind). */
#define LB_NAME_MAX 128
/* Maglev lookup table size: a prime. */
#define LB_MAGLEV_SIZE 1021
/* Most backends one frontend can hold. */
#define LB_BACKENDS_MAX 4096

struct lb;

struct lb_options {
	/* bpffs folder holding every pinned map and link; NULL: LB_DEFAULT_BPFFS.
	 * The bpffs is mounted at /sys/fs/bpf first when it is not. */
	const char *bpffs_dir;
	/* cgroup v2 folder the socket hooks attach to; NULL: the cgroup2 root
	 * found in /proc/mounts. */
	const char *cgroup_path;
	/* A node that is the machine itself: a second copy of the socket
	 * hooks attached here too (the cgroup v2 root), serving only the
	 * sockets of the network namespace lb_open() runs in, and only its
	 * ClusterIP, LoadBalancer and NodePort (this node's addresses)
	 * frontends (bpf/sock.bpf.c says which pass). NULL: none. */
	const char *host_cgroup_path;
	/* This node's addresses, where wildcard NodePorts answer. Empty: the
	 * addresses of the network namespace lb_open() runs in. */
	const struct ipaddr *node_addrs;
	size_t n_node_addrs;
	/* Devices NodePort, LoadBalancer and externalIP traffic from outside
	 * arrives on: tc ingress and egress programs are attached to each
	 * (IPv4 and IPv6). lb_destroy() detaches them from the devices named here. */
	const char *const *nodeport_devices;
	size_t n_nodeport_devices;
	/* Capacities of the maps, used only when the maps are first created;
	 * 0: defaults (65536 frontends, 262144 backends and 2x that many
	 * slots, 16384 maglev tables, 65536 affinity entries and 2x that many
	 * socket reverse-NAT and conntrack entries). */
	uint32_t max_frontends;
	uint32_t max_backends;
	uint32_t max_maglev;
	uint32_t max_affinity;
};

enum lb_kind {
	LB_KIND_CLUSTER_IP = 0,
	LB_KIND_EXTERNAL_IP = 1,
	LB_KIND_LOAD_BALANCER = 2,
	LB_KIND_NODE_PORT = 3,
};

enum lb_proto {
	LB_PROTO_TCP = IPPROTO_TCP,
	LB_PROTO_UDP = IPPROTO_UDP,
};

/* One frontend of a service port. For LB_KIND_NODE_PORT the address is a
 * node address, or the unspecified address of the family (0.0.0.0, ::):
 * then the NodePort answers on every node address (lb_options.node_addrs,
 * or when none are given every address of the network namespace lb_open()
 * ran in, but IPv6 link-local ones). Other kinds refuse the unspecified
 * address (-EINVAL). */
struct lb_frontend {
	struct ipaddr addr;
	uint16_t port;
	uint8_t proto; /* enum lb_proto */
	uint8_t kind;  /* enum lb_kind */
};

enum lb_backend_state {
	LB_BACKEND_ACTIVE = 0,      /* ready */
	LB_BACKEND_TERMINATING = 1, /* serving but terminating (fallback set) */
	LB_BACKEND_QUARANTINED = 2, /* kept in the map, never selected */
};

struct lb_backend {
	struct ipaddr addr;
	uint16_t port;
	uint8_t state; /* enum lb_backend_state */
};

enum lb_algorithm {
	LB_ALG_RANDOM = 0,
	LB_ALG_MAGLEV = 1,
};

enum lb_frontend_flags {
	/* externalTrafficPolicy/internalTrafficPolicy Local: the agent passes
	 * only local backends; the tc stage preserves the client address. */
	LB_F_LOCAL = 1 << 0,
};

struct lb_frontend_params {
	/* "ns/name:port" for people reading bpftool output; may be NULL. */
	const char *name;
	/* sessionAffinity ClientIP timeout in seconds; 0: no affinity. */
	uint32_t affinity_timeout;
	uint8_t algorithm; /* enum lb_algorithm */
	uint32_t flags;    /* enum lb_frontend_flags */
};

struct lb_counters {
	uint64_t packets;
	uint64_t bytes;
	uint64_t connections;
};

/* Opens the load balancer: mounts bpffs if needed, creates the bpffs
 * folder, reuses the pinned maps found there (never flushing them) or
 * creates and pins them, loads the programs and attaches them to the
 * cgroup with bpf_links pinned in the folder (reused when already pinned),
 * so they outlive the process. */
int lb_open(const struct lb_options *o, struct lb **out);
/* Frees the handle; programs stay attached, maps stay pinned. NULL-safe. */
void lb_close(struct lb *lb);
/* Detaches every program, unpins every map and link, removes the bpffs
 * folder, and frees the handle. */
int lb_destroy(struct lb *lb);

/* Replaces the whole backend set of a frontend transactionally: the new
 * set is written under a new generation, then the frontend entry is
 * flipped to it with one map update, then the old generation is removed.
 * A new connection thus selects from the complete old set or the complete
 * new set, never anything else, and is never dropped during the swap.
 * backends with state LB_BACKEND_QUARANTINED are recorded but never
 * selected. n == 0 keeps the frontend known with no backends: connections
 * to it are refused at once (ECONNREFUSED). -EINVAL names no field: the
 * frontend or a backend is malformed (family mismatch, port 0, bad kind,
 * proto or algorithm, n > LB_BACKENDS_MAX). */
int lb_frontend_set(struct lb *lb, const struct lb_frontend *fe,
		    const struct lb_backend *backends, size_t n,
		    const struct lb_frontend_params *params);
/* One frontend of lb_frontend_set_many. */
struct lb_frontend_req {
	struct lb_frontend fe;
	const struct lb_backend *backends;
	size_t n;
	struct lb_frontend_params params;
};

/* lb_frontend_set for each of reqs[0..n), with the same guarantee for
 * each, its result in results[i]. Frontends new to the maps with random
 * selection and no affinity (most of a full sync) are written a batch per
 * map (backends, slots, names, service addresses, then the frontends)
 * instead of five syscalls each. Returns how many failed, or a negative
 * errno when none was set (out of memory). */
int lb_frontend_set_many(struct lb *lb, const struct lb_frontend_req *reqs, size_t n,
			 int *results);
/* Removes a frontend and its backend slots; -ENOENT when unknown. */
int lb_frontend_delete(struct lb *lb, const struct lb_frontend *fe);

/* Mark and sweep: after lb_sync_begin(), every frontend that is not
 * lb_frontend_set() again before lb_sync_end() is deleted by it, as is
 * every backend no frontend uses any more. Nothing is flushed. */
int lb_sync_begin(struct lb *lb);
int lb_sync_end(struct lb *lb);

/* Counters summed over CPUs. -ENOENT when unknown. */
int lb_frontend_stats(struct lb *lb, const struct lb_frontend *fe,
		      struct lb_counters *out);
int lb_backend_stats(struct lb *lb, const struct lb_backend *be, uint8_t proto,
		     struct lb_counters *out);
/* Stable id of a backend (same address, port and proto: same id, across
 * updates and restarts); -ENOENT when no frontend uses it. */
int lb_backend_id(struct lb *lb, const struct lb_backend *be, uint8_t proto,
		  uint32_t *out);

/* A backend whose sockets are to end (lb_sockets_terminate). */
struct lb_sock_target {
	struct ipaddr addr;
	uint16_t port;
	uint8_t proto;   /* LB_PROTO_TCP or LB_PROTO_UDP */
	uint32_t ended;  /* out: the sockets ended */
};

/* Ends every TCP socket and connected UDP socket whose peer is one of the n
 * targets (address, port and protocol) as the socket hooks chose it (a
 * socket connected to the target's address itself is left alone), through
 * BPF socket iterators calling bpf_sock_destroy: one pass of the TCP and
 * one of the UDP iterator per network namespace, whatever n is. Sockets are
 * looked for in each namespace of netns_paths (e.g. /proc/PID/ns/net or
 * /run/netns/NAME; a NULL entry: the caller's own); a namespace that is
 * gone meanwhile is skipped. Sets each target's ended and returns the
 * total; on failure the targets' counts are unspecified. */
int lb_sockets_terminate(struct lb *lb, struct lb_sock_target *targets, size_t n,
			 const char *const *netns_paths, size_t n_netns);

/* The same for one backend (proto: LB_PROTO_TCP, LB_PROTO_UDP, or 0 for
 * both) in the namespace at netns_path, or the caller's when NULL. Returns
 * the number of sockets ended. */
int lb_backend_terminate_sockets(struct lb *lb, const struct lb_backend *be,
				 uint8_t proto, const char *netns_path);

/* Parsing helpers for tools and the agent. */
/* "tcp" / "udp" -> enum lb_proto; -EINVAL otherwise. */
int lb_proto_parse(const char *s, uint8_t *out);
/* "ClusterIP", "ExternalIP", "LoadBalancer", "NodePort" -> enum lb_kind. */
int lb_kind_parse(const char *s, uint8_t *out);
/* "random", "maglev" -> enum lb_algorithm. */
int lb_algorithm_parse(const char *s, uint8_t *out);

#endif
