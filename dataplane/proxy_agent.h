/* skiff-agent's one loop: sources feed the model store, and the store's
 * consumers are kept up to date with it after a short quiet period.
 *
 *   sources (one: the manifests folder, or the API server's watches)
 *      -> model store (Services, EndpointSlices, Nodes)
 *      -> consumers, a table in proxy_agent.c, each with setup / sync /
 *         reload / teardown (and an fd to poll): the service proxy, node
 *         networking, cluster DNS, L2 announcements (the kubelet joins as
 *         a row)
 *
 *   poll: signalfd | source fds | debounce timerfd | the consumers' fds
 *         (DNS server, L2 announcements' packet socket)
 *   folder readable -> note it, (re)arm the debounce timer
 *   timer           -> flush sources -> sync every consumer whose part of
 *                      the store changed (or that asked for a retry)
 *   API fds         -> the client's dispatch puts the watch events of
 *                      that turn in the store -> sync at once, no debounce
 *                      (a 410 relist's difference is one such batch);
 *                      in BPF mode the sockets of the backends it removed
 *                      end in one pass PROXY_SOCKETS_DEFER_MS later, for
 *                      all removed meanwhile
 *   SIGHUP          -> read every source again, resync every consumer
 *   SIGINT/SIGTERM  -> leave (programs, maps, tables and routes stay, or
 *                      with destroy_on_exit, everything is removed)
 *   once            -> one sync of every consumer, then leave
 *
 * The service proxy applies the desired state in one of two modes: the
 * eBPF datapath (proxy_lb.h) or an nftables table (nft_proxy.h). Starting
 * in one mode removes what the other left (pinned BPF state under
 * bpffs_dir, or the table), so a restart with the other flag switches
 * cleanly.
 *
 * Node networking (with node_routing) follows the Node objects: whenever
 * they change, node_net_sync brings routes, vxlan entries and the
 * masquerade table to them (only a changed node's entries change; a
 * restart changes nothing that is right).
 */
#ifndef SKIFF_PROXY_AGENT_H
#define SKIFF_PROXY_AGENT_H

#include "lib/kube_model.h"
#include "dataplane/node_net.h"

#include <stdbool.h>
#include <stddef.h>

/* Quiet time after a change before the state is recomputed, and the
 * longest a steady stream of changes can delay it. */
#define PROXY_DEBOUNCE_MS 50
#define PROXY_DEBOUNCE_MAX_MS 500
/* BPF mode fed by the API: the sockets of removed backends end this long
 * after the first removal, in one pass for all removed meanwhile (a pass
 * costs milliseconds, and the next change would wait for it). */
#define PROXY_SOCKETS_DEFER_MS 50
/* Retry delay after a frontend failed to program. */
#define PROXY_RETRY_MS 1000

enum node_routing {
	NODE_ROUTING_NONE,   /* no node networking */
	NODE_ROUTING_NATIVE, /* a route per remote pod CIDR via its node */
	NODE_ROUTING_VXLAN,  /* a vxlan overlay */
};

enum proxy_mode {
	PROXY_MODE_BPF,      /* socket-level eBPF load balancing (dataplane/lb) */
	PROXY_MODE_NFTABLES, /* kube-proxy's nftables layout (nft_proxy.h) */
};

struct prom_registry;

struct proxy_agent_options {
	/* The source, exactly one: a folder, or the API server (a kubeconfig,
	 * or its URL with a bearer token and the CA of its certificate). */
	const char *manifests_dir;
	const char *kubeconfig;
	const char *api_server;
	const char *api_token;
	const char *api_ca_file;
	enum proxy_mode mode;
	const char *bpffs_dir;   /* NULL: the datapath's default */
	const char *cgroup_path; /* NULL: the cgroup v2 root */
	const char *host_cgroup_path; /* bpf: lb_options.host_cgroup_path */
	const char *nft_table;   /* NULL: NFTP_DEFAULT_TABLE */
	/* The pod network (one per family): nftables mode masquerades
	 * ClusterIP traffic from outside it; node networking never
	 * masquerades pod traffic toward it. */
	const struct ipcidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	const char *node_name;
	const struct ipaddr *node_addrs;
	size_t n_node_addrs;
	const char *const *nodeport_devices;
	size_t n_nodeport_devices;
	bool maglev;
	bool destroy_on_exit;
	bool once;
	/* Node networking (node_net.h), fed by the Node objects: the other
	 * nodes' pod CIDRs and InternalIPs. The underlay addresses are
	 * node_addrs; this node's pod CIDRs are pod_cidrs, or when none
	 * are given the spec.podCIDRs of the Node named node_name. */
	enum node_routing node_routing;
	const struct ipcidr *pod_cidrs;
	size_t n_pod_cidrs;
	const struct ipcidr *service_cidrs;
	size_t n_service_cidrs;
	bool no_masquerade;
	bool forward_device_only; /* node_net_options.forward_device_only */
	const char *vxlan_name; /* NULL: NODE_NET_DEFAULT_VXLAN */
	uint32_t vni;           /* 0: NODE_NET_DEFAULT_VNI */
	uint16_t vxlan_port;    /* 0: NODE_NET_DEFAULT_VXLAN_PORT */
	const char *nat_table;  /* NULL: NODE_NET_DEFAULT_NAT_TABLE */
	/* Cluster DNS (dataplane/dns), served when dns_listen is set: the
	 * zone from the Services and EndpointSlices, the rest forwarded to
	 * dns_upstreams ("ADDR[:PORT]"; none: /etc/resolv.conf). */
	const char *dns_listen;     /* "ADDR:PORT"; NULL: no DNS */
	const char *cluster_domain; /* NULL: DNS_DEFAULT_ZONE */
	const char *const *dns_upstreams;
	size_t n_dns_upstreams;
	uint32_t dns_ttl; /* 0: DNS_DEFAULT_TTL */
	/* The cluster DNS Service ("ns/name"; NULL: kube-system/kube-dns)
	 * is balanced to this node's server alone (dns_local.c), on
	 * dns_listen, which the dummy device dns_device holds (NULL: none). */
	const char *dns_service;
	const char *dns_device;
	/* L2 announcements (l2_announce.h): this node answers ARP and NDP
	 * for the LoadBalancer and external IPs it is elected for, on
	 * l2_ifaces (none: the interface of node_addrs, or of this node's
	 * InternalIP). */
	bool l2_announce;
	const char *const *l2_ifaces;
	size_t n_l2_ifaces;
	/* Where the sync, DNS and socket metrics go (agent_metrics.h); NULL:
	 * nowhere. */
	struct prom_registry *metrics;
};

/* Runs until SIGINT/SIGTERM (or one sync with once). Logs what it does;
 * returns 0 or a negative errno (already logged). */
int proxy_agent_run(const struct proxy_agent_options *o);

#endif
