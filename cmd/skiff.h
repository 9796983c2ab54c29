/* The skiff command: up (a supervisor per data dir), status, down. */
#ifndef SKIFF_CMD_H
#define SKIFF_CMD_H

#include <stdbool.h>

#define SKIFF_MAX_NODES 8
/* The agents' bpffs folder and the pods' cgroup tree (under each
 * hierarchy), from --name: never the agent's defaults, which a skiff-agent
 * of the machine may own. */
#define SKIFF_BPFFS_FMT "/sys/fs/bpf/%s.up"
#define SKIFF_CGROUP_FMT "%s.up"

/* What `up` chose, kept in DIR/skiff.conf so status and down find it. */
struct skiff {
	const char *data_dir;
	char name[12];      /* prefix of netns, links, cgroups, pins */
	int nodes;
	int port;
	char bridge[16];    /* "a.b.c": the node bridge's /24 */
	const char *cluster_cidr;
	char bin[4096];     /* folder of the skiff programs */
};

/* path of DIR/FMT... */
int skiff_path(const struct skiff *s, char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int skiff_conf_write(const struct skiff *s);
int skiff_conf_read(struct skiff *s);

/* Network: a bridge on the host and a namespace per node on it. */
int skiff_net_up(const struct skiff *s, char *err, size_t errlen);
void skiff_net_down(const struct skiff *s);
int skiff_netns_enter(const struct skiff *s, int node);

/* Writes every node's containerd config; forks the supervisor, which
 * returns only in the child (never). Returns in the parent once forked. */
int skiff_node_files(const struct skiff *s, char *err, size_t errlen);
int skiff_supervisor_start(const struct skiff *s);

/* DIR/run/PART.pid: "PID START RESTARTS". */
int skiff_part_read(const struct skiff *s, const char *part, long *pid, long *start,
		    long *restarts);
#endif
