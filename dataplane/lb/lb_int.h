/* What the files of the BPF load balancer library share (lb.c open, pin
 * and attach; lb_table.c the in-memory index; lb_frontend.c programming
 * and counters; lb_sockets.c ending sockets); not for other modules. */
#ifndef SKIFF_LB_INT_H
#define SKIFF_LB_INT_H

#include "dataplane/lb/lb.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/lb.h"

#define LB_BPFFS_ROOT "/sys/fs/bpf"
/* our tc filters on the NodePort devices: handle and priority */
#define LB_TC_HANDLE 0x5f1f
#define LB_TC_PRIO 0x5f1f

struct lb_fe {
	struct lb_fe_key key;
	struct lb_fe_val val;
	uint32_t *bids; /* every backend of the set (refs held) */
	size_t n_bids;
	uint64_t epoch; /* sync epoch that last set it */
	bool counts_ip; /* holds a ref in lb_svc_ips */
	struct lb_fe *next_key;
};

/* Ids: never 0; a released one is reused before a new one. */
struct lb_ids {
	uint32_t *free_ids;
	size_t n_free, cap_free;
	uint32_t next; /* above every id in use */
};

struct lb_idvec {
	void **v;
	size_t cap;
	struct lb_ids ids;
};

struct lb_table {
	void **buckets;
	size_t nbuckets, n;
};

/* A backend, stored in struct lb_bes by id (28 bytes, no allocation of
 * its own: 100,000 backends are 100,000 fewer mallocs). */
struct lb_be {
	struct lb_be_val val; /* val.proto 0: the id is free */
	uint32_t refs;
	uint32_t next; /* next id in the same hash bucket; 0: none */
};

/* Backends by id (v[id]) and by address, port and proto (buckets of ids). */
struct lb_bes {
	struct lb_be *v;
	size_t cap;
	uint32_t *buckets;
	size_t nbuckets, n;
	struct lb_ids ids;
};

struct lb {
	char dir[PATH_MAX];
	char cgroup[PATH_MAX];
	struct sock_bpf *skel;
	struct sock_bpf *host; /* the machine's copy (lb_options.host_cgroup_path), or NULL */
	struct tc_nodeport_bpf *tc;
	struct sock_iter_bpf *iter; /* the socket-ending iterators, loaded at first use */
	char **devs;
	size_t n_devs;
	struct lb_table fe_by_key;
	struct lb_idvec fe_ids;
	struct lb_bes bes;
	uint64_t epoch;
	void *scratch; /* lb_frontend_set's per-call arrays, kept between calls */
	size_t scratch_size;
	int old_slots_fd; /* lb_open: an lb_slots of the older layout, to migrate */
	bool syncing;
	bool terminate_supported;
};

/* backends are keyed by address, port and proto: all of lb_be_val but state */
#define BE_KEY_LEN offsetof(struct lb_be_val, state)

/* lb_table.c */
struct lb_fe *lb_fe_find(struct lb *lb, const struct lb_fe_key *k);
int lb_fe_insert(struct lb *lb, struct lb_fe *e);
void lb_fe_unlink(struct lb *lb, struct lb_fe *e);
void *lb_idvec_get(const struct lb_idvec *v, uint32_t id);
int lb_idvec_put(struct lb_idvec *v, uint32_t id, void *p);
int lb_idvec_alloc(struct lb_idvec *v, uint32_t *out);
void lb_idvec_release(struct lb_idvec *v, uint32_t id);
/* The backend with this id, NULL when none. The pointer is good until the
 * next lb_be_add. */
struct lb_be *lb_be_get_id(const struct lb *lb, uint32_t id);
uint32_t lb_be_find(const struct lb *lb, const struct lb_be_val *k); /* 0: none */
/* Adds a backend (refs 0) under id, or a new id when id is 0; *out: its id. */
int lb_be_add(struct lb *lb, const struct lb_be_val *v, uint32_t id, uint32_t *out);
void lb_be_remove(struct lb *lb, uint32_t id);
void lb_bes_free(struct lb_bes *t);
/* Ids below the high-water mark that nothing uses become reusable. */
void lb_ids_release_unused(struct lb *lb);

/* lb.c */
int lb_fe_key_make(const struct lb_frontend *fe, struct lb_fe_key *k);
int lb_be_key_make(const struct lb_backend *be, uint8_t proto, struct lb_be_val *v);
struct bpf_map;
int lb_map_fd(struct lb *lb, struct bpf_map *m);

/* lb_sockets.c */
void lb_sockets_free(struct lb *lb);
#define LB_FD(lb, name) lb_map_fd((lb), (lb)->skel->maps.name)

#endif
