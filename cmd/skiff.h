/* The skiff command: up (a supervisor per data dir), status, down. */
#ifndef SKIFF_CMD_H
#define SKIFF_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct kc_client;

#define SKIFF_MAX_NODES 8
/* The agents' bpffs folder and the pods' cgroup tree (under each
 * hierarchy), from --name: never the agent's defaults, which a skiff-agent
 * of the machine may own. */
#define SKIFF_BPFFS_FMT "/sys/fs/bpf/%s-up" /* bpffs refuses names with a dot */
#define SKIFF_CGROUP_FMT "%s.up"

/* What `up` chose, kept in DIR/skiff.conf so status and down find it. */
struct skiff {
	const char *data_dir;
	char name[12];      /* prefix of netns, links, cgroups, pins */
	int nodes;
	int port;
	int reg_port;       /* the registry's, on the bridge address */
	char bridge[16];    /* "a.b.c": the node bridge's /24 */
	const char *cluster_cidr;
	char service_cidr[48]; /* the Services' range, routed to the bridge on the machine */
	char proxy_mode[16]; /* the agents': "bpf" or "nftables" */
	char node_routing[16]; /* the agents': "native" (routes via the bridge) or "vxlan" */
	char store[16];      /* the server's: "sqlite" or "etcd" (on port + 1, peers port + 2) */
	char bin[4096];     /* folder of the skiff programs */
	double fresh_since; /* up: a node counts as Ready once its Lease is renewed since then */
};

/* The data dir's format: DIR/version holds "skiff-data N". A data dir of
 * another N is refused by up, which never rewrites one. */
#define SKIFF_DATA_VERSION 1
/* LoadBalancer addresses: the top /26 of the nodes' bridge /24, announced
 * on the bridge by the agents (ARP), so the machine reaches them. */
#define SKIFF_LB_FMT "%s.192/26"

/* path of DIR/FMT... */
int skiff_path(const struct skiff *s, char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int skiff_conf_write(const struct skiff *s);
int skiff_conf_read(struct skiff *s);

/* Node 1 is the machine itself: its InternalIP is the bridge's address
 * a.b.c.1, its kubelet API listens there on --port + 3 (etcd has + 1 and
 * + 2), its cluster DNS on a.b.c.1:53, its nftables tables are NAME-proxy
 * and NAME-nat. Node I >= 2 is the namespace NAME-nI at a.b.c.(1+I). */
#define SKIFF_KUBELET_PORT_OFFSET 3
void skiff_node_ip(const struct skiff *s, int node, char *buf, size_t size);

/* Network: a bridge on the host (the service range routed to it) and a
 * namespace per node after the first on it. */
int skiff_net_up(const struct skiff *s, char *err, size_t errlen);
void skiff_net_down(const struct skiff *s);
/* Enters node's network namespace: none for node 1 (the machine's). */
int skiff_netns_enter(const struct skiff *s, int node);

/* Writes every node's containerd config; forks the supervisor, which
 * returns only in the child (never). Returns in the parent once forked. */
int skiff_node_files(const struct skiff *s, char *err, size_t errlen);
int skiff_supervisor_start(const struct skiff *s);

/* Everything up needs that the machine may lack, checked before up
 * changes anything: root, the ports (unless the cluster runs, holding
 * them), the data dir's version, the kernel's bpffs, cgroup v2 and
 * nftables. 0, or -errno with err saying, a line per problem, what is
 * wrong and what to do. skiff_check_version_write stamps DIR. */
int skiff_check_up(const struct skiff *s, bool running, char *err, size_t errlen);
int skiff_check_version_write(const struct skiff *s);

/* `skiff service NAME [-n NS]`: the Service's URLs from this machine. */
int skiff_service(const struct skiff *s, const char *name, const char *ns);

/* A client of the cluster's API (DIR/kubeconfig), or NULL. */
struct kc_client *skiff_client(const struct skiff *s);

/* --update-kubeconfig: a cluster, user and context named s->name in the
 * user's kubeconfig (its path into where), current; unmerge (down)
 * removes them from the file merge wrote. 0 or -errno. */
int skiff_kubeconfig_merge(const struct skiff *s, char *where, size_t size);
int skiff_kubeconfig_unmerge(const struct skiff *s);

/* DIR/run/PART.pid: "PID START RESTARTS". */
int skiff_part_read(const struct skiff *s, const char *part, long *pid, long *start,
		    long *restarts);
/* The cluster's registry (skiff_registry.c): config and hosts.toml files,
 * seeding with the build's images, pushing loaded ones. */
struct img_archive;
int skiff_registry_url(const struct skiff *s, char *buf, size_t size);
int skiff_registry_files(const struct skiff *s, char *err, size_t errlen);
int skiff_registry_host_add(const struct skiff *s, const char *domain);
bool skiff_registry_answers(const struct skiff *s);
int skiff_registry_seed(const struct skiff *s, char *err, size_t errlen);
bool skiff_registry_seeded(const struct skiff *s);
int skiff_registry_push(const struct skiff *s, const struct img_archive *a, FILE *progress,
			char *err, size_t errlen);

/* Image archives and the registry API (skiff_image.c), apart from the
 * rest of skiff (its unit test links it alone). A name's domain,
 * its repository in the registry (docker.io adds library/ to one-part
 * paths) and its tag (default latest); -EINVAL for a digest or bad name. */
int img_ref_parse(const char *ref, char domain[256], char repo[256], char tag[128]);
/* Reads and checks the whole archive (digests, sizes, names). */
int img_archive_open(const char *path, struct img_archive **out, char *err, size_t errlen);
/* The same from a buffer, which must outlive the archive. */
int img_archive_parse(const void *buf, size_t len, struct img_archive **out, char *err,
		      size_t errlen);
void img_archive_free(struct img_archive *a);
size_t img_archive_count(const struct img_archive *a);
const char *img_archive_format(const struct img_archive *a);
void img_archive_domains(const struct img_archive *a, void (*fn)(const char *domain, void *arg),
			 void *arg);
int img_archive_push(const struct img_archive *a, const char *base, FILE *progress, char *err,
		     size_t errlen);
bool img_archive_in_registry(const struct img_archive *a, const char *base);
int img_registry_ping(const char *base);
/* `skiff image load` (skiff_registry.c): argv from "load". */
int skiff_image_cmd(struct skiff *s, int argc, char **argv);
#endif
