/* skiff-agent: the node agent. Today: the service proxy, fed by a folder
 * of manifests or the API server's watches and programming the eBPF
 * datapath or an nftables table, and node networking (routes to the other
 * nodes' pods, masquerade); on the API, the kubelet's Node
 * (dataplane/kubelet_node.h), after joining with a node token
 * (dataplane/node_join.h); with --container-runtime-endpoint the kubelet's
 * pod lifecycle (dataplane/kubelet.h); and the kubelet API
 * (dataplane/kubelet_server.h); each on threads of its own.
 *
 *   main: parse options -> join -> start the Node thread -> start the
 *         kubelet and its API (when asked) -> run the proxy loop -> stop
 *         them -> exit status
 */
#include "dataplane/kubelet.h"
#include "dataplane/kubelet_node.h"
#include "dataplane/kubelet_server.h"
#include "dataplane/node_join.h"
#include "lib/join_token.h"
#include "lib/kube_quantity.h"
#include "dataplane/lb/lb.h"
#include "lib/kube_model.h"
#include "dataplane/nft_proxy.h"
#include "dataplane/proxy_agent.h"
#include "lib/log.h"
#include "lib/opts.h"
#include "lib/prom.h"
#include "lib/util.h"

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LIST 16

/* The repeatable flags' values, filled by their handlers. */
struct cidr_list {
	struct ipcidr v[NODE_NET_MAX_ADDRS];
	size_t n;
};
struct addr_list {
	struct ipaddr v[MAX_LIST];
	size_t n;
};
struct name_list {
	const char *v[MAX_LIST];
	size_t n;
};

/* The node's flags: where it keeps its credentials, and its Node. */
struct node_args {
	const char *data_dir;
	const char *cni_conf_dir;
	const char *cni_ipam_dir;
	int register_node;
	bool joined;
	char kubeconfig[4200]; /* written by a join */
	char serving_crt[4200], serving_key[4200], ca_crt[4200]; /* from the join */
};

struct agent_args {
	struct proxy_agent_options o;
	struct kubelet_options kubelet;
	struct kubelet_server_config kserver;
	struct node_args node;
	struct addr_list node_addrs;
	struct name_list devices, dns_upstreams, l2_ifaces;
	struct cidr_list cluster_cidrs, pod_cidrs, service_cidrs;
	char hostname[256];
	char host_ip[64];
	const char *metrics_bind; /* --metrics-bind-address; NULL: no /metrics */
	int forwarding;           /* --forwarding: 1 interfaces */
	enum log_level level;
	bool help;
};

/* Adds a CIDR to a cidr_list (at most one per family). */
static int opt_cidr_add(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	struct cidr_list *l = dst;
	struct ipcidr c;
	const char *why;

	(void)o;
	if (ipcidr_parse(arg, &c, &why) < 0)
		return set_err(err, errlen, -EINVAL,
			       "\"%s\" is not a CIDR (like 10.244.0.0/16 or fd00:244::/56): %s", arg,
			       why);
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].addr.family == c.addr.family)
			return set_err(err, errlen, -EINVAL,
				       "\"%s\": at most one IPv4 and one IPv6 CIDR", arg);
	l->v[l->n++] = c;
	return 0;
}

/* Adds an address to an addr_list. */
static int opt_addr_add(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	struct addr_list *l = dst;

	(void)o;
	if (l->n == MAX_LIST)
		return set_err(err, errlen, -E2BIG, "at most %d addresses", MAX_LIST);
	if (ipaddr_parse(arg, &l->v[l->n]) < 0)
		return set_err(err, errlen, -EINVAL, "\"%s\" is not an IP address", arg);
	l->n++;
	return 0;
}

/* Adds a name (a device, a resolver) to a name_list: at most the row's
 * max, else MAX_LIST. */
static int opt_name_add(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	struct name_list *l = dst;
	size_t max = o->max > 0 && o->max < MAX_LIST ? (size_t)o->max : MAX_LIST;

	if (l->n == max)
		return set_err(err, errlen, -E2BIG, "at most %zu values", max);
	l->v[l->n++] = arg;
	return 0;
}

/* A byte size as a Kubernetes quantity ("10Mi", "512Ki", "1G"); a negative
 * one is kept (it turns the feature off). */
static int opt_bytes(const struct opt *o, const char *arg, void *dst, char *err, size_t errlen)
{
	int64_t v;

	(void)o;
	if (kube_quantity_value(arg, &v) < 0)
		return set_err(err, errlen, -EINVAL, "\"%s\" is not a quantity like 10Mi", arg);
	*(long long *)dst = v;
	return 0;
}

static const struct opt_choice proxy_modes[] = {
	{ "bpf", PROXY_MODE_BPF }, { "nftables", PROXY_MODE_NFTABLES }, { NULL, 0 },
};
static const struct opt_choice booleans[] = {
	{ "true", 1 }, { "false", 0 }, { NULL, 0 },
};
static const struct opt_choice forwardings[] = {
	{ "global", 0 }, { "interfaces", 1 }, { NULL, 0 },
};
static const struct opt_choice routings[] = {
	{ "none", NODE_ROUTING_NONE }, { "native", NODE_ROUTING_NATIVE },
	{ "vxlan", NODE_ROUTING_VXLAN }, { NULL, 0 },
};
_Static_assert(sizeof(enum proxy_mode) == sizeof(int) && sizeof(enum node_routing) == sizeof(int),
	       "opt_choice stores an int");

#define OPT(field) offsetof(struct agent_args, o.field)
#define KUBELET(field) offsetof(struct agent_args, kubelet.field)
#define ARG(field) offsetof(struct agent_args, field)
#define NODE(field) offsetof(struct agent_args, node.field)
#define KSERVER(field) offsetof(struct agent_args, kserver.field)

/* One row per flag (lib/opts): its name, argument, help, default and
 * where and how its value goes. */
static const struct opt options[] = {
	{ .name = "manifests", .short_name = 'm', .arg = "DIR", .set = opt_string,
	  .offset = OPT(manifests_dir), .help = "read Service, EndpointSlice and Node manifests "
	  "(*.yaml, *.yml, *.json) from DIR and follow changes (the standalone mode)" },
	{ .name = "kubeconfig", .arg = "FILE", .set = opt_string, .offset = OPT(kubeconfig),
	  .help = "watch Services, EndpointSlices and Nodes on the API server of this kubeconfig "
	  "(its current context)" },
	{ .name = "server", .arg = "URL", .set = opt_string, .offset = OPT(api_server),
	  .help = "watch them on the API server at URL instead (with --token)" },
	{ .name = "token", .arg = "TOKEN", .set = opt_string, .offset = OPT(api_token),
	  .help = "--server: the bearer token, or a node token (K10..., the server's "
	  "<data-dir>/token) to join the cluster with" },
	{ .name = "metrics-bind-address", .arg = "ADDR:PORT", .set = opt_string,
	  .offset = ARG(metrics_bind), .help = "serve Prometheus metrics at http://ADDR:PORT/metrics, "
	  "plain HTTP, no authentication (kube-proxy's 127.0.0.1:10249; default: off)" },
	{ .name = "data-dir", .arg = "DIR", .set = opt_string, .offset = NODE(data_dir),
	  .def = NODE_JOIN_DEFAULT_DATA_DIR, .help = "the node's certificates and kubeconfig "
	  "(a join writes them, a restart reuses them)" },
	{ .name = "register-node", .arg = "BOOL", .set = opt_choice, .offset = NODE(register_node),
	  .choices = booleans, .def = "true", .help = "on the API: register this node's Node, "
	  "renew its Lease and report its status" },
	{ .name = "cni-conf-dir", .arg = "DIR", .set = opt_string, .offset = NODE(cni_conf_dir),
	  .help = "write the CNI config for skiff-cni (" KUBELET_CNI_CONFLIST ") with the "
	  "Node's podCIDRs there (default: none)" },
	{ .name = "cni-ipam-data-dir", .arg = "DIR", .set = opt_string,
	  .offset = NODE(cni_ipam_dir), .help = "--cni-conf-dir: where skiff-ipam keeps this "
	  "node's leases (default skiff-ipam's, /var/lib/cni/networks)" },
	{ .name = "certificate-authority", .arg = "FILE", .set = opt_string,
	  .offset = OPT(api_ca_file), .help = "--server: the CA of the server's certificate "
	  "(default the system's CAs)" },
	{ .name = "proxy-mode", .arg = "MODE", .set = opt_choice, .offset = OPT(mode),
	  .choices = proxy_modes, .def = "bpf", .help = "bpf (eBPF socket hooks) or nftables "
	  "(kube-proxy's nftables layout); starting in one mode removes the other's state" },
	{ .name = "nft-table", .arg = "NAME", .set = opt_string, .offset = OPT(nft_table),
	  .max = 255, .def = NFTP_DEFAULT_TABLE, .help = "nftables mode: the inet table to own" },
	{ .name = "cluster-cidr", .arg = "CIDR", .set = opt_cidr_add, .offset = ARG(cluster_cidrs),
	  .help = "the pod network (repeatable, one per family): nftables mode masquerades "
	  "ClusterIP traffic from outside it" },
	{ .name = "bpffs", .arg = "DIR", .set = opt_string, .offset = OPT(bpffs_dir),
	  .def = LB_DEFAULT_BPFFS, .help = "bpffs folder for pinned maps and links" },
	{ .name = "cgroup", .arg = "PATH", .set = opt_string, .offset = OPT(cgroup_path),
	  .help = "bpf mode: cgroup v2 folder the socket hooks attach to "
	  "(default the cgroup2 root in /proc/mounts)" },
	{ .name = "host-cgroup", .arg = "PATH", .set = opt_string, .offset = OPT(host_cgroup_path),
	  .help = "bpf mode, a node that is the machine itself: also attach the socket hooks to "
	  "this cgroup v2 folder (its root: every process), for the sockets of the agent's own "
	  "network namespace only, so the machine reaches ClusterIPs, LoadBalancer IPs and this "
	  "node's NodePorts (default: none)" },
	{ .name = "node-name", .arg = "NAME", .set = opt_string, .offset = OPT(node_name),
	  .help = "this node's name, for traffic policy Local (default the hostname)" },
	{ .name = "node-ip", .arg = "IP", .set = opt_addr_add, .offset = ARG(node_addrs),
	  .help = "a node address NodePort answers on, and node networking's underlay address "
	  "(repeatable; IPv4 or IPv6)" },
	{ .name = "nodeport-device", .arg = "DEV", .set = opt_name_add, .offset = ARG(devices),
	  .help = "bpf mode: a device NodePort traffic arrives on (repeatable; nftables mode "
	  "serves NodePorts from every device)" },
	{ .name = "maglev", .set = opt_flag, .offset = OPT(maglev), .help = "bpf mode: Maglev "
	  "consistent hashing by default (per service: annotation "
	  "service.skiff.io/lb-algorithm: maglev|random)" },
	{ .name = "node-routing", .arg = "MODE", .set = opt_choice, .offset = OPT(node_routing),
	  .choices = routings, .def = "none", .help = "node networking from the Node manifests: "
	  "none, native (a route per node's pod CIDR via its InternalIP) or vxlan (an overlay); "
	  "the first --node-ip is the underlay address" },
	{ .name = "pod-cidr", .arg = "CIDR", .set = opt_cidr_add, .offset = ARG(pod_cidrs),
	  .help = "this node's pod CIDR (repeatable, one per family) "
	  "(default spec.podCIDRs of the Node named --node-name)" },
	{ .name = "service-cidr", .arg = "CIDR", .set = opt_cidr_add, .offset = ARG(service_cidrs),
	  .help = "a service range, never masqueraded (repeatable, one per family)" },
	{ .name = "no-masquerade", .set = opt_flag, .offset = OPT(no_masquerade),
	  .help = "node networking: do not masquerade pod traffic leaving the cluster" },
	{ .name = "forwarding", .arg = "WHERE", .set = opt_choice, .offset = ARG(forwarding),
	  .choices = forwardings, .def = "global", .help = "node networking and the pods' veths: "
	  "turn IP forwarding on for every interface (global), or only for the one holding "
	  "--node-ip and each pod's host veth (interfaces: a node that is the machine itself, "
	  "whose other interfaces keep their setting)" },
	{ .name = "vxlan-name", .arg = "NAME", .set = opt_string, .offset = OPT(vxlan_name),
	  .max = IFNAMSIZ - 1, .def = NODE_NET_DEFAULT_VXLAN, .help = "the vxlan device" },
	{ .name = "vni", .arg = "N", .set = opt_u32, .offset = OPT(vni), .min = 1, .max = 0xffffff,
	  .def = "1", .help = "VXLAN network identifier" },
	{ .name = "vxlan-port", .arg = "PORT", .set = opt_u16, .offset = OPT(vxlan_port), .min = 1,
	  .max = 65535, .def = "8472", .help = "VXLAN UDP port" },
	{ .name = "nat-table", .arg = "NAME", .set = opt_string, .offset = OPT(nat_table),
	  .max = 255, .def = NODE_NET_DEFAULT_NAT_TABLE,
	  .help = "node networking: the inet table for masquerade" },
	{ .name = "dns-listen", .arg = "ADDR:PORT", .set = opt_string, .offset = OPT(dns_listen),
	  .help = "serve cluster DNS on ADDR:PORT (UDP and TCP; [V6]:PORT) (default no DNS)" },
	{ .name = "cluster-domain", .arg = "ZONE", .set = opt_string, .offset = OPT(cluster_domain),
	  .max = 253, .def = "cluster.local", .help = "cluster DNS: the zone served" },
	{ .name = "dns-upstream", .arg = "ADDR[:PORT]", .set = opt_name_add,
	  .offset = ARG(dns_upstreams), .max = 4, .help = "cluster DNS: a resolver for other "
	  "names (repeatable, at most 4; default the nameservers of /etc/resolv.conf)" },
	{ .name = "dns-ttl", .arg = "SECONDS", .set = opt_u32, .offset = OPT(dns_ttl), .min = 1,
	  .max = 3600, .def = "5", .help = "cluster DNS: TTL of the zone's records and its "
	  "negative answers (CoreDNS's default)" },
	{ .name = "dns-device", .arg = "NAME", .set = opt_string, .offset = OPT(dns_device),
	  .max = IFNAMSIZ - 1, .help = "cluster DNS: a dummy device to create holding the "
	  "--dns-listen address, so pods reach it (as NodeLocal DNSCache holds 169.254.20.10); "
	  "removed with --destroy-on-exit" },
	{ .name = "dns-service", .arg = "NS/NAME", .set = opt_string, .offset = OPT(dns_service),
	  .def = "kube-system/kube-dns", .help = "cluster DNS: the Service whose ClusterIP this "
	  "node's server answers, node-locally in either proxy mode (its ports dns/UDP and "
	  "dns-tcp/TCP go to --dns-listen, when pods can reach that address)" },
	{ .name = "l2-announce", .set = opt_flag, .offset = OPT(l2_announce),
	  .help = "answer ARP and NDP for the LoadBalancer ingress IPs and externalIPs this node "
	  "is elected for among the Ready Nodes (one node per address; another takes over when "
	  "it goes), so machines on its network reach them without a route" },
	{ .name = "l2-interface", .arg = "DEV", .set = opt_name_add, .offset = ARG(l2_ifaces),
	  .max = 8, .help = "--l2-announce: an interface to answer on (repeatable; default the "
	  "one holding --node-ip, or this node's InternalIP)" },
	{ .name = "container-runtime-endpoint", .arg = "unix:PATH", .set = opt_string,
	  .offset = KUBELET(runtime_endpoint), .help = "run the pods bound to this node "
	  "(--node-name) through this CRI runtime (containerd 1.6), as a kubelet; needs the "
	  "API server (--kubeconfig or --server); the Node reports its version and Ready "
	  "follows it; the kubelet API's runtime (default " KUBELET_DEFAULT_CRI_ENDPOINT ")" },
	{ .name = "cluster-dns", .arg = "IP", .set = opt_string, .offset = KUBELET(cluster_dns),
	  .def = "10.96.0.10", .help = "kubelet: the nameserver of pods with dnsPolicy "
	  "ClusterFirst" },
	{ .name = "pod-log-root", .arg = "DIR", .set = opt_string, .offset = KUBELET(pod_log_root),
	  .def = "/var/log/pods", .help = "kubelet: container logs go to DIR/NS_NAME_UID/" },
	{ .name = "root-dir", .arg = "DIR", .set = opt_string, .offset = KUBELET(root_dir),
	  .def = "/var/lib/kubelet", .help = "kubelet: per-pod files (DIR/pods/UID/)" },
	{ .name = "cgroup-root", .arg = "PATH", .set = opt_string, .offset = KUBELET(cgroup_root),
	  .def = "/", .help = "kubelet: pods' cgroups go under PATH/kubepods/ (by QoS class: "
	  "PATH/kubepods/burstable, .../besteffort)" },
	{ .name = "pod-workers", .arg = "N", .set = opt_int, .offset = KUBELET(workers), .min = 1,
	  .max = 64, .def = "16", .help = "kubelet: pods reconciled at once (a slow image pull or "
	  "graceful stop holds one)" },
	{ .name = "container-log-max-size", .arg = "SIZE", .set = opt_bytes,
	  .offset = KUBELET(log_max_size), .def = "10Mi", .help = "kubelet: a container's log "
	  "file is rotated once it is this large (a quantity; negative: never)" },
	{ .name = "container-log-max-files", .arg = "N", .set = opt_int,
	  .offset = KUBELET(log_max_files), .min = 2, .max = 1000, .def = "5",
	  .help = "kubelet: log files kept per container, the current one included (the "
	  "older rotated ones gzipped)" },
	{ .name = "container-log-monitor-interval", .arg = "SECONDS", .set = opt_int,
	  .offset = KUBELET(log_monitor_interval_s), .min = 1, .max = 3600, .def = "10",
	  .help = "kubelet: how often the container logs' sizes are looked at" },
	{ .name = "tls-cert-file", .arg = "FILE", .set = opt_string, .offset = KSERVER(cert_file),
	  .help = "serve the kubelet API (logs, exec, attach, port-forward) with this serving "
	  "certificate (PEM; with --tls-private-key-file and --client-ca-file)" },
	{ .name = "tls-private-key-file", .arg = "FILE", .set = opt_string,
	  .offset = KSERVER(key_file), .help = "kubelet API: the serving certificate's key" },
	{ .name = "client-ca-file", .arg = "FILE", .set = opt_string,
	  .offset = KSERVER(client_ca_file), .help = "kubelet API: the CA that signs the API "
	  "server's client certificate (no other client is served)" },
	{ .name = "kubelet-client-cn", .arg = "NAME", .set = opt_string,
	  .offset = KSERVER(client_cn), .def = KUBELET_DEFAULT_CLIENT_CN,
	  .help = "kubelet API: the CN the client certificate must have" },
	{ .name = "kubelet-address", .arg = "ADDR", .set = opt_string, .offset = KSERVER(address),
	  .def = "0.0.0.0", .help = "kubelet API: the address to listen on" },
	{ .name = "kubelet-port", .arg = "PORT", .set = opt_u16, .offset = KSERVER(port), .min = 1,
	  .max = 65535, .def = "10250", .help = "kubelet API: the port" },
	{ .name = "kubelet-max-connections", .arg = "N", .set = opt_u32,
	  .offset = KSERVER(max_conns), .min = 1, .max = 65536, .def = "256",
	  .help = "kubelet API: connections served at once; more are closed when accepted" },
	{ .name = "log-level", .arg = "LEVEL", .set = opt_log_level, .offset = ARG(level),
	  .def = "info", .help = "error, warn, info or debug" },
	{ .name = "destroy-on-exit", .set = opt_flag, .offset = OPT(destroy_on_exit),
	  .help = "on SIGINT/SIGTERM detach the programs and remove the maps, or remove the "
	  "nftables table, and remove node networking's routes, device and table "
	  "(default leave them serving)" },
	{ .name = "once", .set = opt_flag, .offset = OPT(once), .help = "sync once and exit" },
	{ .name = "help", .short_name = 'h', .set = opt_flag, .offset = ARG(help),
	  .help = "show this help" },
};
_Static_assert(NODE_NET_DEFAULT_VNI == 1 && NODE_NET_DEFAULT_VXLAN_PORT == 8472,
	       "--vni and --vxlan-port say the node_net defaults");

static void usage(FILE *out)
{
	fprintf(out, "Usage: skiff-agent --manifests DIR | --kubeconfig FILE | --server URL "
		     "--token TOKEN [OPTION]...\n"
		     "With a node token (K10...) it joins the cluster as system:node:NAME, and on\n"
		     "the API it registers its Node, renews its Lease and reports its status.\n"
		     "Service proxy of skiff: turns Services and EndpointSlices into eBPF\n"
		     "socket-level load balancing or nftables rules (ClusterIP, externalIPs,\n"
		     "LoadBalancer, NodePort); with --node-routing, routes to the pods of the\n"
		     "other nodes (Node manifests) and masquerades pod traffic leaving the cluster;\n"
		     "with --l2-announce, answers ARP/NDP for LoadBalancer and external IPs.\n"
		     "With --container-runtime-endpoint, also runs the pods bound to this node\n"
		     "through containerd's CRI, as a kubelet, and reports their status.\n"
		     "Services, EndpointSlices and Nodes come from a folder or from the API server's\n"
		     "watches. SIGHUP reloads every manifest; SIGINT/SIGTERM stop (programs and tables keep\n"
		     "serving unless --destroy-on-exit).\n"
		     "With --tls-cert-file, --tls-private-key-file and --client-ca-file it also serves\n"
		     "the kubelet API (logs, exec, attach, port-forward) to the API server; with those\n"
		     "and no source, only that.\n\n");
	opts_usage(out, options, ARRAY_SIZE(options));
}

/* The kubelet API's runtime is the kubelet's; a node that joined and runs
 * pods serves it with the certificates the join brought (the cluster CA
 * signs the API server's client certificate), unless --tls-* say
 * otherwise. */
static void kubelet_api_args(struct agent_args *a)
{
	struct kubelet_server_config *k = &a->kserver;

	k->cri_endpoint = a->kubelet.runtime_endpoint ?: KUBELET_DEFAULT_CRI_ENDPOINT;
	k->node_name = a->o.node_name;
	if (k->cert_file || !a->node.joined || !a->kubelet.runtime_endpoint)
		return;
	snprintf(a->node.serving_crt, sizeof(a->node.serving_crt), "%s/serving.crt",
		 a->node.data_dir);
	snprintf(a->node.serving_key, sizeof(a->node.serving_key), "%s/serving.key",
		 a->node.data_dir);
	snprintf(a->node.ca_crt, sizeof(a->node.ca_crt), "%s/ca.crt", a->node.data_dir);
	k->cert_file = a->node.serving_crt;
	k->key_file = a->node.serving_key;
	k->client_ca_file = a->node.ca_crt;
}

/* The kubelet's view of the shared flags: the API source, the node and
 * its first address (status.hostIP). */
static void kubelet_args(struct agent_args *a)
{
	struct kubelet_options *k = &a->kubelet;

	k->node_name = a->o.node_name;
	k->api = (struct api_source_options){ .kubeconfig = a->o.kubeconfig,
					      .server = a->o.api_server,
					      .token = a->o.api_token,
					      .ca_file = a->o.api_ca_file };
	if (a->node_addrs.n)
		k->host_ip = ipaddr_str(&a->node_addrs.v[0], a->host_ip, sizeof(a->host_ip));
	k->cluster_domain = a->o.cluster_domain;
	kubelet_api_args(a);
}

/* What no single flag can check; the defaults that need the system. */
static int args_check(struct agent_args *a)
{
	int sources = !!a->o.manifests_dir + !!a->o.kubeconfig + !!a->o.api_server;
	const struct kubelet_server_config *k = &a->kserver;

	int tls = !!k->cert_file + !!k->key_file + !!k->client_ca_file;

	if (tls != 0 && tls != 3) {
		log_error("the kubelet API needs --tls-cert-file, --tls-private-key-file and "
			  "--client-ca-file together");
		return -1;
	}
	if (sources > 1 || (sources == 0 && !k->cert_file)) {
		log_error("%s: give exactly one of --manifests DIR, --kubeconfig FILE or "
			  "--server URL --token TOKEN (or only the kubelet API's --tls-* flags)",
			  sources ? "more than one source" : "no source");
		return -1;
	}
	if (!a->o.api_server && (a->o.api_token || a->o.api_ca_file)) {
		log_error("--token and --certificate-authority go with --server");
		return -1;
	}
	if (a->kubelet.runtime_endpoint && a->o.manifests_dir) {
		log_error("--container-runtime-endpoint: pods come from the API server "
			  "(--kubeconfig or --server), not --manifests");
		return -1;
	}
	if (join_token_is(a->o.api_token) && a->o.api_ca_file) {
		log_error("--certificate-authority: a node token names the server's CA by its hash; "
			  "give one or the other");
		return -1;
	}
	if (a->o.node_routing != NODE_ROUTING_NONE && !a->node_addrs.n) {
		log_error("--node-routing: needs --node-ip, this node's address on the network "
			  "between the nodes");
		return -1;
	}
	if (a->o.dns_device && !a->o.dns_listen) {
		log_error("--dns-device goes with --dns-listen");
		return -1;
	}
	if (a->l2_ifaces.n && !a->o.l2_announce) {
		log_error("--l2-interface goes with --l2-announce");
		return -1;
	}
	if (!a->o.node_name) {
		if (gethostname(a->hostname, sizeof(a->hostname) - 1) < 0) {
			log_error("cannot read the hostname; give --node-name");
			return -1;
		}
		a->o.node_name = a->hostname;
	}
	a->o.node_addrs = a->node_addrs.v;
	a->o.n_node_addrs = a->node_addrs.n;
	a->o.nodeport_devices = a->devices.v;
	a->o.n_nodeport_devices = a->devices.n;
	a->o.l2_ifaces = a->l2_ifaces.v;
	a->o.n_l2_ifaces = a->l2_ifaces.n;
	a->o.dns_upstreams = a->dns_upstreams.v;
	a->o.n_dns_upstreams = a->dns_upstreams.n;
	a->o.cluster_cidrs = a->cluster_cidrs.v;
	a->o.n_cluster_cidrs = a->cluster_cidrs.n;
	a->o.pod_cidrs = a->pod_cidrs.v;
	a->o.n_pod_cidrs = a->pod_cidrs.n;
	a->o.service_cidrs = a->service_cidrs.v;
	a->o.n_service_cidrs = a->service_cidrs.n;
	a->o.forward_device_only = a->forwarding == 1;
	return 0;
}

/* The options of argv into a; -1 after logging why the command line is
 * wrong. */
static int parse_args(int argc, char **argv, struct agent_args *a)
{
	char err[512];
	int first = opts_parse(options, ARRAY_SIZE(options), argc, argv, a, 0, err, sizeof(err));

	if (first < 0) {
		log_error("%s (see --help)", err);
		return -1;
	}
	if (a->help) {
		usage(stdout);
		exit(EXIT_SUCCESS);
	}
	if (first < argc) {
		log_error("unexpected argument \"%s\"", argv[first]);
		return -1;
	}
	return args_check(a);
}

/* --server URL --token K10...: joins, and the node's kubeconfig becomes
 * the source's. */
static int join(struct agent_args *a)
{
	const struct node_join_options jo = {
		.server = a->o.api_server,
		.token = a->o.api_token,
		.data_dir = a->node.data_dir,
		.node_name = a->o.node_name,
		.addrs = a->node_addrs.v,
		.n_addrs = a->node_addrs.n,
	};
	char err[512];
	int r;

	if (!join_token_is(a->o.api_token))
		return 0;
	r = node_join(&jo, a->node.kubeconfig, sizeof(a->node.kubeconfig), err, sizeof(err));
	if (r < 0) {
		log_error("cannot join %s as node %s: %s", a->o.api_server, a->o.node_name,
			  err[0] ? err : strerror(-r));
		return r;
	}
	a->o.kubeconfig = a->node.kubeconfig;
	a->o.api_server = a->o.api_token = NULL;
	a->node.joined = true;
	return 0;
}

/* The pods' MTU: in the VXLAN overlay their packets carry its headers
 * too (0: the CNI plugin's default). */
static int overlay_mtu(const struct agent_args *a)
{
	int mtu;

	if (a->o.node_routing != NODE_ROUTING_VXLAN || !a->node_addrs.n)
		return 0;
	mtu = node_net_overlay_mtu(&a->node_addrs.v[0]);
	if (mtu < 0)
		log_warn("node %s: no interface holds --node-ip %s: the pods keep the default MTU",
			 a->o.node_name, a->host_ip);
	return mtu < 0 ? 0 : mtu;
}

/* The Node thread, on the API's kubeconfig (a node's, or the one given). */
static int node_start(const struct agent_args *a, struct kubelet_node **out)
{
	const struct kubelet_node_options no = {
		.kubeconfig = a->o.kubeconfig,
		.node_name = a->o.node_name,
		.addrs = a->node_addrs.v,
		.n_addrs = a->node_addrs.n,
		.data_dir = a->node.data_dir,
		.cni_conf_dir = a->node.cni_conf_dir,
		.cni_ipam_dir = a->node.cni_ipam_dir,
		.cri_endpoint = a->kubelet.runtime_endpoint,
		.kubelet_port = a->kserver.port,
		.cni_forward_interface = a->forwarding == 1,
		/* in the overlay, the pods' packets carry VXLAN's headers too */
		.cni_mtu = overlay_mtu(a),
	};
	int r;

	/* Not for one sync; and a kubeconfig that is not there is the
	 * source's to report. */
	if (!a->node.register_node || !a->o.kubeconfig || a->o.once ||
	    access(a->o.kubeconfig, R_OK) < 0)
		return 0;
	r = kubelet_node_start(&no, out);
	if (r < 0)
		log_error("node %s: cannot start: %s", a->o.node_name, strerror(-r));
	return r;
}

/* The kubelet API's threads; -1 after logging why they cannot start. */
static int kubelet_api_start(const struct kubelet_server_config *k, struct kubelet_server **out)
{
	int r = kubelet_server_start(k, out);

	if (r < 0) {
		log_error("cannot serve the kubelet API on %s:%u (certificate %s, client CA %s): %s",
			  k->address, k->port, k->cert_file, k->client_ca_file, strerror(-r));
		return -1;
	}
	log_info("kubelet API on %s:%u (runtime %s)", k->address, k->port, k->cri_endpoint);
	return 0;
}

struct agent_prom {
	struct prom_registry *reg;
	struct prom_http *http;
};

/* --metrics-bind-address: the registry the proxy counts into and its
 * listener; -1 after logging why they cannot start. */
static int metrics_start(struct agent_args *a, struct agent_prom *m)
{
	int r;

	if (!a->metrics_bind)
		return 0;
	r = prom_registry_new(&m->reg);
	if (r == 0)
		r = prom_http_start(m->reg, a->metrics_bind, &m->http);
	if (r < 0) {
		log_error("cannot serve metrics on %s: %s", a->metrics_bind,
			  r == -EINVAL ? "not ADDR:PORT" : strerror(-r));
		return -1;
	}
	a->o.metrics = m->reg;
	log_info("metrics on http://%s/metrics", a->metrics_bind);
	return 0;
}

/* With no proxy source the agent serves only the kubelet API, until
 * SIGINT or SIGTERM. */
static int kubelet_only(void)
{
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	log_info("signal %s: stopping", strsignal(sig));
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_args args = { 0 };
	struct kubelet_node *node = NULL;
	struct kubelet *kubelet = NULL;
	struct kubelet_server *kserver = NULL;
	struct agent_prom metrics = { 0 };
	char err[512];
	sigset_t sigs;
	int r = 0;

	log_init("skiff-agent", LOG_LEVEL_INFO);
	/* A fixed mmap threshold: glibc's own rises with each large block
	 * freed (a watch page, a relist), after which those blocks stay in the
	 * heap. bench_agent_api at 10,000 Services, 20 changes after the
	 * sync: 33.4 -> 36.2 MiB without it, 33.2 -> 33.6 with it. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	if (parse_args(argc, argv, &args) < 0)
		return 2;
	/* Blocked before any thread starts: the loop takes them (signalfd). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (join(&args) < 0 || node_start(&args, &node) < 0)
		return EXIT_FAILURE;
	kubelet_args(&args); /* after the join: on the node's credentials */
	/* Pods come from the API; with no source, the runtime serves only the
	 * kubelet API. */
	if (args.kubelet.runtime_endpoint && (args.o.kubeconfig || args.o.api_server) &&
	    kubelet_start(&args.kubelet, &kubelet, err, sizeof(err)) < 0) {
		log_error("kubelet of node %s: %s", args.o.node_name, err);
		r = -1;
	}
	if (r == 0 && args.kserver.cert_file && kubelet_api_start(&args.kserver, &kserver) < 0)
		r = -1;
	if (r == 0 && metrics_start(&args, &metrics) < 0)
		r = -1;
	if (r == 0 && (args.o.manifests_dir || args.o.kubeconfig || args.o.api_server))
		r = proxy_agent_run(&args.o);
	else if (r == 0)
		r = kubelet_only();
	prom_http_stop(metrics.http);
	kubelet_server_stop(kserver);
	kubelet_stop(kubelet);
	kubelet_node_stop(node);
	prom_registry_free(metrics.reg);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
