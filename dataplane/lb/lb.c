/* lb: loads, attaches and programs skiff's socket load balancer.
 *
 * State lives in the pinned maps; this file keeps an index of them in
 * memory (frontends by key and by id, backends by address and by id) that
 * it rebuilds from the maps on open, so a restarted agent reconciles
 * without flushing anything. */
#include "dataplane/lb/lb.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bpf/lb.h"
#include "dataplane/lb/maglev.h"
#include "sock.skel.h"
#include "sock_iter.skel.h"
#include "tc_nodeport.skel.h"
#include <net/if.h>
#include "util.h"

_Static_assert(LB_MAGLEV_SIZE == LB_MAGLEV_M, "maglev size differs from bpf/lb.h");
_Static_assert(LB_NAME_MAX == LB_NAME_LEN, "name size differs from bpf/lb.h");
_Static_assert((int)LB_KIND_NODE_PORT == (int)LB_FE_NODE_PORT, "kinds differ");
_Static_assert((int)LB_BACKEND_QUARANTINED == (int)LB_BE_QUARANTINED, "states differ");
_Static_assert((int)LB_ALG_MAGLEV == (int)LB_FE_ALGO_MAGLEV, "algorithms differ");

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

struct lb_be {
	struct lb_be_val val;
	uint32_t id;
	uint32_t refs;
	struct lb_be *next_key;
};

struct lb_idvec {
	void **v;
	size_t cap;
	uint32_t *free_ids;
	size_t n_free, cap_free;
	uint32_t next;
};

struct lb_table {
	void **buckets;
	size_t nbuckets, n;
};

struct lb {
	char dir[PATH_MAX];
	char cgroup[PATH_MAX];
	struct sock_bpf *skel;
	struct tc_nodeport_bpf *tc;
	char **devs;
	size_t n_devs;
	struct lb_table fe_by_key, be_by_key;
	struct lb_idvec fe_ids, be_ids;
	uint64_t epoch;
	bool syncing;
	bool terminate_supported;
};

/* ---- small containers ---------------------------------------------- */

static uint64_t lb_hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static int lb_table_grow(struct lb_table *t, size_t next_off, size_t key_off,
			 size_t key_len)
{
	size_t nb = t->nbuckets ? t->nbuckets * 2 : 1024, i;
	void **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->nbuckets; i++) {
		void *e = t->buckets[i];

		while (e) {
			void *nx = *(void **)((char *)e + next_off);
			size_t h = lb_hash_bytes((char *)e + key_off, key_len) % nb;

			*(void **)((char *)e + next_off) = b[h];
			b[h] = e;
			e = nx;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

#define FE_NEXT offsetof(struct lb_fe, next_key)
#define FE_KEY offsetof(struct lb_fe, key)
#define BE_NEXT offsetof(struct lb_be, next_key)
#define BE_KEY offsetof(struct lb_be, val)
/* backends are keyed by address, port and proto: all of lb_be_val but state */
#define BE_KEY_LEN offsetof(struct lb_be_val, state)

static struct lb_fe *lb_fe_find(struct lb *lb, const struct lb_fe_key *k)
{
	struct lb_fe *e;

	if (!lb->fe_by_key.nbuckets)
		return NULL;
	e = lb->fe_by_key.buckets[lb_hash_bytes(k, sizeof(*k)) % lb->fe_by_key.nbuckets];
	for (; e; e = e->next_key)
		if (memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
	return NULL;
}

static int lb_fe_insert(struct lb *lb, struct lb_fe *e)
{
	struct lb_table *t = &lb->fe_by_key;
	size_t h;
	int r;

	if (t->n >= t->nbuckets) {
		r = lb_table_grow(t, FE_NEXT, FE_KEY, sizeof(struct lb_fe_key));
		if (r < 0)
			return r;
	}
	h = lb_hash_bytes(&e->key, sizeof(e->key)) % t->nbuckets;
	e->next_key = t->buckets[h];
	t->buckets[h] = e;
	t->n++;
	return 0;
}

static void lb_fe_unlink(struct lb *lb, struct lb_fe *e)
{
	struct lb_table *t = &lb->fe_by_key;
	struct lb_fe **p;

	p = (struct lb_fe **)&t->buckets[lb_hash_bytes(&e->key, sizeof(e->key)) % t->nbuckets];
	for (; *p; p = &(*p)->next_key)
		if (*p == e) {
			*p = e->next_key;
			t->n--;
			return;
		}
}

static struct lb_be *lb_be_find(struct lb *lb, const struct lb_be_val *k)
{
	struct lb_be *e;

	if (!lb->be_by_key.nbuckets)
		return NULL;
	e = lb->be_by_key.buckets[lb_hash_bytes(k, BE_KEY_LEN) % lb->be_by_key.nbuckets];
	for (; e; e = e->next_key)
		if (memcmp(&e->val, k, BE_KEY_LEN) == 0)
			return e;
	return NULL;
}

static int lb_be_insert(struct lb *lb, struct lb_be *e)
{
	struct lb_table *t = &lb->be_by_key;
	size_t h;
	int r;

	if (t->n >= t->nbuckets) {
		r = lb_table_grow(t, BE_NEXT, BE_KEY, BE_KEY_LEN);
		if (r < 0)
			return r;
	}
	h = lb_hash_bytes(&e->val, BE_KEY_LEN) % t->nbuckets;
	e->next_key = t->buckets[h];
	t->buckets[h] = e;
	t->n++;
	return 0;
}

static void lb_be_unlink(struct lb *lb, struct lb_be *e)
{
	struct lb_table *t = &lb->be_by_key;
	struct lb_be **p;

	p = (struct lb_be **)&t->buckets[lb_hash_bytes(&e->val, BE_KEY_LEN) % t->nbuckets];
	for (; *p; p = &(*p)->next_key)
		if (*p == e) {
			*p = e->next_key;
			t->n--;
			return;
		}
}

static void *lb_idvec_get(const struct lb_idvec *v, uint32_t id)
{
	return id < v->cap ? v->v[id] : NULL;
}

static int lb_idvec_put(struct lb_idvec *v, uint32_t id, void *p)
{
	if (id >= v->cap) {
		size_t cap = v->cap ? v->cap : 1024;
		void **nv;

		while (cap <= id)
			cap *= 2;
		nv = realloc(v->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		memset(nv + v->cap, 0, (cap - v->cap) * sizeof(*nv));
		v->v = nv;
		v->cap = cap;
	}
	v->v[id] = p;
	if (id >= v->next)
		v->next = id + 1;
	return 0;
}

/* Ids start at 1 so that 0 never names anything. */
static int lb_idvec_alloc(struct lb_idvec *v, uint32_t *out)
{
	if (v->n_free) {
		*out = v->free_ids[--v->n_free];
		return 0;
	}
	if (v->next == 0)
		v->next = 1;
	if (v->next == UINT32_MAX)
		return -ENOSPC;
	*out = v->next;
	return 0;
}

static void lb_idvec_release(struct lb_idvec *v, uint32_t id)
{
	if (id < v->cap)
		v->v[id] = NULL;
	if (v->n_free == v->cap_free) {
		size_t cap = v->cap_free ? v->cap_free * 2 : 256;
		uint32_t *nf = realloc(v->free_ids, cap * sizeof(*nf));

		if (!nf)
			return; /* the id is just not reused */
		v->free_ids = nf;
		v->cap_free = cap;
	}
	v->free_ids[v->n_free++] = id;
}

/* ---- parsing -------------------------------------------------------- */

int lb_addr_parse(const char *s, struct lb_addr *out)
{
	struct lb_addr a = { 0 };

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, &a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*out = a;
	return 0;
}

int lb_proto_parse(const char *s, uint8_t *out)
{
	if (streq(s, "tcp") || streq(s, "TCP"))
		*out = LB_PROTO_TCP;
	else if (streq(s, "udp") || streq(s, "UDP"))
		*out = LB_PROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

int lb_kind_parse(const char *s, uint8_t *out)
{
	static const char *const names[] = {
		[LB_KIND_CLUSTER_IP] = "ClusterIP",
		[LB_KIND_EXTERNAL_IP] = "ExternalIP",
		[LB_KIND_LOAD_BALANCER] = "LoadBalancer",
		[LB_KIND_NODE_PORT] = "NodePort",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (s && strcasecmp(s, names[i]) == 0) {
			*out = (uint8_t)i;
			return 0;
		}
	return -EINVAL;
}

int lb_algorithm_parse(const char *s, uint8_t *out)
{
	if (streq(s, "random"))
		*out = LB_ALG_RANDOM;
	else if (streq(s, "maglev"))
		*out = LB_ALG_MAGLEV;
	else
		return -EINVAL;
	return 0;
}

static void lb_addr_to16(const struct lb_addr *a, uint8_t out[16])
{
	if (a->family == AF_INET) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &a->v4, 4);
	} else {
		memcpy(out, &a->v6, 16);
	}
}

static int lb_fe_key_make(const struct lb_frontend *fe, struct lb_fe_key *k)
{
	if (!fe || (fe->addr.family != AF_INET && fe->addr.family != AF_INET6))
		return -EINVAL;
	if (fe->port == 0)
		return -EINVAL;
	if (fe->proto != LB_PROTO_TCP && fe->proto != LB_PROTO_UDP)
		return -EINVAL;
	if (fe->kind > LB_KIND_NODE_PORT)
		return -EINVAL;
	memset(k, 0, sizeof(*k));
	lb_addr_to16(&fe->addr, k->addr);
	/* the unspecified address: a NodePort on every node address */
	if (fe->kind != LB_KIND_NODE_PORT &&
	    ((fe->addr.family == AF_INET && fe->addr.v4.s_addr == 0) ||
	     (fe->addr.family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&fe->addr.v6))))
		return -EINVAL;
	k->port = fe->port;
	k->proto = fe->proto;
	return 0;
}

static int lb_be_key_make(const struct lb_backend *be, uint8_t proto,
			  struct lb_be_val *v)
{
	if (!be || (be->addr.family != AF_INET && be->addr.family != AF_INET6))
		return -EINVAL;
	if (be->port == 0 || be->state > LB_BACKEND_QUARANTINED)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	lb_addr_to16(&be->addr, v->addr);
	v->port = be->port;
	v->proto = proto;
	v->state = be->state;
	return 0;
}

/* ---- bpffs, cgroup -------------------------------------------------- */

static int lb_mount_bpffs(void)
{
	struct statfs st;

	if (statfs(LB_BPFFS_ROOT, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", LB_BPFFS_ROOT, "bpf", 0, "mode=0700") < 0)
		return -errno;
	return 0;
}

static int lb_cgroup2_root(char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/mounts", "re");
	char line[4096];

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char dev[256], path[PATH_MAX], type[64];

		if (sscanf(line, "%255s %4095s %63s", dev, path, type) != 3)
			continue;
		if (streq(type, "cgroup2"))
			return strscpy(buf, path, size);
	}
	return -ENOENT;
}

static int lb_path(const struct lb *lb, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", lb->dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- open / close --------------------------------------------------- */

static void lb_free(struct lb *lb)
{
	size_t i;

	if (!lb)
		return;
	sock_bpf__destroy(lb->skel);
	tc_nodeport_bpf__destroy(lb->tc);
	for (i = 0; i < lb->n_devs; i++)
		free(lb->devs[i]);
	free(lb->devs);
	for (i = 0; i < lb->fe_ids.cap; i++) {
		struct lb_fe *e = lb->fe_ids.v[i];

		if (e) {
			free(e->bids);
			free(e);
		}
	}
	for (i = 0; i < lb->be_ids.cap; i++)
		free(lb->be_ids.v[i]);
	free(lb->fe_ids.v);
	free(lb->fe_ids.free_ids);
	free(lb->be_ids.v);
	free(lb->be_ids.free_ids);
	free(lb->fe_by_key.buckets);
	free(lb->be_by_key.buckets);
	free(lb);
}

static void lb_freep(struct lb **p)
{
	lb_free(*p);
}

/* Sizes each map of obj: a pinned map keeps its own size (it is reused as
 * it is), a new one gets the configured capacity. */
static int lb_size_maps(struct lb *lb, struct bpf_object *obj, const struct lb_options *o)
{
	uint32_t fe = o->max_frontends ? o->max_frontends : 65536;
	uint32_t be = o->max_backends ? o->max_backends : 262144;
	uint32_t conns = o->max_affinity ? o->max_affinity * 2 : 131072;
	const struct {
		const char *name;
		uint32_t want;
	} caps[] = {
		{ LB_MAP_FRONTENDS, fe },
		{ LB_MAP_SVC_IPS, fe },
		{ LB_MAP_NAMES, fe },
		{ LB_MAP_FE_STATS, fe },
		{ LB_MAP_BACKENDS, be },
		{ LB_MAP_BE_STATS, be },
		{ LB_MAP_SLOTS, be * 2 },
		{ LB_MAP_MEMBERS, be * 2 },
		{ LB_MAP_REVNAT, conns },
		{ LB_MAP_CT, conns },
		{ LB_MAP_MAGLEV, o->max_maglev ? o->max_maglev : 16384 },
		{ LB_MAP_AFFINITY, o->max_affinity ? o->max_affinity : 65536 },
	};
	struct bpf_map *m;
	size_t i;
	int r;

	bpf_object__for_each_map(m, obj) {
		char path[PATH_MAX];
		struct bpf_map_info info = { 0 };
		uint32_t len = sizeof(info);
		_cleanup_close_ int fd = -1;
		uint32_t want = 0;

		if (bpf_map__pin_path(m) == NULL)
			continue; /* internal (.rodata, scratch) */
		for (i = 0; i < ARRAY_SIZE(caps); i++)
			if (streq(caps[i].name, bpf_map__name(m)))
				want = caps[i].want;
		r = lb_path(lb, bpf_map__name(m), path, sizeof(path));
		if (r < 0)
			return r;
		fd = bpf_obj_get(path);
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
			want = info.max_entries;
		if (!want)
			continue;
		r = bpf_map__set_max_entries(m, want);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct bpf_program *lb_prog(struct lb *lb, size_t i)
{
	struct bpf_program *const progs[] = {
		lb->skel->progs.lb_connect4,     lb->skel->progs.lb_connect6,
		lb->skel->progs.lb_sendmsg4,     lb->skel->progs.lb_sendmsg6,
		lb->skel->progs.lb_recvmsg4,     lb->skel->progs.lb_recvmsg6,
		lb->skel->progs.lb_getpeername4, lb->skel->progs.lb_getpeername6,
	};

	return i < ARRAY_SIZE(progs) ? progs[i] : NULL;
}

/* Attaches every program with a pinned link, or, when the link is already
 * pinned (a restart), moves it to the freshly loaded program atomically. */
static int lb_attach(struct lb *lb)
{
	_cleanup_close_ int cg = -1;
	struct bpf_program *p;
	size_t i;
	int r;

	cg = open(lb->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	for (i = 0; (p = lb_prog(lb, i)); i++) {
		char name[128], path[PATH_MAX];
		struct bpf_link *l;

		snprintf(name, sizeof(name), "link_%s", bpf_program__name(p));
		r = lb_path(lb, name, path, sizeof(path));
		if (r < 0)
			return r;
		l = access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
		if (l) {
			r = bpf_link__update_program(l, p);
			bpf_link__destroy(l);
			if (r == 0)
				continue;
			if (r != -ENOLINK)
				return r;
			/* its cgroup is gone: the link is defunct, replace it */
			if (unlink(path) < 0)
				return -errno;
		}
		l = bpf_program__attach_cgroup(p, cg);
		if (!l)
			return -errno;
		r = bpf_link__pin(l, path);
		bpf_link__destroy(l);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Attaches (or atomically replaces) our tc programs on ingress and egress
 * of every NodePort device. tc filters are not tied to this process. */
static int lb_attach_tc(struct lb *lb, const struct lb_options *o)
{
	struct bpf_object_open_opts oo = { .sz = sizeof(oo), .pin_root_path = lb->dir };
	size_t i;
	int r;

	if (!o->n_nodeport_devices)
		return 0;
	lb->devs = calloc(o->n_nodeport_devices, sizeof(*lb->devs));
	if (!lb->devs)
		return -ENOMEM;
	for (i = 0; i < o->n_nodeport_devices; i++) {
		lb->devs[i] = strdup(o->nodeport_devices[i]);
		if (!lb->devs[i])
			return -ENOMEM;
		lb->n_devs++;
		if (!if_nametoindex(lb->devs[i]))
			return -ENODEV;
	}
	lb->tc = tc_nodeport_bpf__open_opts(&oo);
	if (!lb->tc)
		return -errno;
	r = lb_size_maps(lb, lb->tc->obj, o);
	if (r < 0)
		return r;
	r = tc_nodeport_bpf__load(lb->tc);
	if (r < 0)
		return r;
	for (i = 0; i < lb->n_devs; i++) {
		const struct {
			enum bpf_tc_attach_point at;
			struct bpf_program *prog;
		} points[] = {
			{ BPF_TC_INGRESS, lb->tc->progs.lb_nodeport_ingress },
			{ BPF_TC_EGRESS, lb->tc->progs.lb_nodeport_egress },
		};
		size_t j;

		for (j = 0; j < ARRAY_SIZE(points); j++) {
			struct bpf_tc_hook h = { .sz = sizeof(h), .attach_point = points[j].at };
			struct bpf_tc_opts t = {
				.sz = sizeof(t),
				.prog_fd = bpf_program__fd(points[j].prog),
				.handle = LB_TC_HANDLE,
				.priority = LB_TC_PRIO,
				.flags = BPF_TC_F_REPLACE,
			};

			h.ifindex = (int)if_nametoindex(lb->devs[i]);
			if (!h.ifindex)
				return -ENODEV;
			r = bpf_tc_hook_create(&h);
			if (r < 0 && r != -EEXIST)
				return r;
			r = bpf_tc_attach(&h, &t);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void lb_detach_tc(struct lb *lb)
{
	size_t i;

	for (i = 0; i < lb->n_devs; i++) {
		enum bpf_tc_attach_point at[] = { BPF_TC_INGRESS, BPF_TC_EGRESS };
		size_t j;

		for (j = 0; j < ARRAY_SIZE(at); j++) {
			struct bpf_tc_hook h = { .sz = sizeof(h), .attach_point = at[j] };
			struct bpf_tc_opts t = {
				.sz = sizeof(t),
				.handle = LB_TC_HANDLE,
				.priority = LB_TC_PRIO,
			};

			h.ifindex = (int)if_nametoindex(lb->devs[i]);
			if (h.ifindex)
				bpf_tc_detach(&h, &t);
		}
	}
}

static int lb_map_fd(struct lb *lb, struct bpf_map *m)
{
	(void)lb;
	return bpf_map__fd(m);
}

#define LB_FD(lb, name) lb_map_fd((lb), (lb)->skel->maps.name)

/* Rebuilds the in-memory index from the pinned maps. */
static int lb_rebuild(struct lb *lb)
{
	int fd;
	int r;

	{
		struct lb_be_key k, *prev = NULL;
		struct lb_be_val v;

		fd = LB_FD(lb, lb_backends);
		while (bpf_map_get_next_key(fd, prev, &k) == 0) {
			struct lb_be *e;

			prev = &k;
			if (bpf_map_lookup_elem(fd, &k, &v) < 0)
				continue;
			e = calloc(1, sizeof(*e));
			if (!e)
				return -ENOMEM;
			e->val = v;
			e->id = k.id;
			r = lb_idvec_put(&lb->be_ids, k.id, e);
			if (r < 0) {
				free(e);
				return r;
			}
			r = lb_be_insert(lb, e);
			if (r < 0)
				return r;
		}
	}
	{
		struct lb_fe_key k, *prev = NULL;
		struct lb_fe_val v;

		/* lb_svc_ips keeps its refs; a frontend not a NodePort holds one */
		fd = LB_FD(lb, lb_frontends);
		while (bpf_map_get_next_key(fd, prev, &k) == 0) {
			struct lb_fe *e;

			prev = &k;
			if (bpf_map_lookup_elem(fd, &k, &v) < 0)
				continue;
			e = calloc(1, sizeof(*e));
			if (!e)
				return -ENOMEM;
			e->key = k;
			e->val = v;
			e->counts_ip = v.kind != LB_FE_NODE_PORT;
			r = lb_idvec_put(&lb->fe_ids, v.id, e);
			if (r < 0) {
				free(e);
				return r;
			}
			r = lb_fe_insert(lb, e);
			if (r < 0)
				return r;
		}
	}
	{
		struct lb_member_key k, *prev = NULL;

		fd = LB_FD(lb, lb_members);
		while (bpf_map_get_next_key(fd, prev, &k) == 0) {
			struct lb_fe *f = lb_idvec_get(&lb->fe_ids, k.fe_id);
			struct lb_be *b = lb_idvec_get(&lb->be_ids, k.backend_id);
			uint32_t *nb;

			prev = &k;
			if (!f || !b)
				continue;
			nb = realloc(f->bids, (f->n_bids + 1) * sizeof(*nb));
			if (!nb)
				return -ENOMEM;
			f->bids = nb;
			f->bids[f->n_bids++] = b->id;
			b->refs++;
		}
	}
	/* free ids below the high-water mark become reusable */
	{
		uint32_t id;

		for (id = 1; id < lb->fe_ids.next; id++)
			if (!lb_idvec_get(&lb->fe_ids, id))
				lb_idvec_release(&lb->fe_ids, id);
		for (id = 1; id < lb->be_ids.next; id++)
			if (!lb_idvec_get(&lb->be_ids, id))
				lb_idvec_release(&lb->be_ids, id);
	}
	return 0;
}

/* Removes what a crash in the middle of an update can leave behind: slots
 * and Maglev tables of a generation that is not the frontend's current one. */
static void lb_sweep_generations(struct lb *lb)
{
	int fd = LB_FD(lb, lb_slots);
	struct lb_slot_key k, next;
	struct lb_maglev_key mk, mnext;
	bool have = false;

	while (bpf_map_get_next_key(fd, have ? &k : NULL, &next) == 0) {
		struct lb_fe *f = lb_idvec_get(&lb->fe_ids, next.fe_id);

		if (!f || f->val.gen != next.gen || next.slot >= f->val.count) {
			bpf_map_delete_elem(fd, &next);
			have = false; /* restart: the iteration order changed */
			continue;
		}
		k = next;
		have = true;
	}
	fd = LB_FD(lb, lb_maglev);
	have = false;
	while (bpf_map_get_next_key(fd, have ? &mk : NULL, &mnext) == 0) {
		struct lb_fe *f = lb_idvec_get(&lb->fe_ids, mnext.fe_id);

		if (!f || f->val.gen != mnext.gen || f->val.algo != LB_FE_ALGO_MAGLEV) {
			bpf_map_delete_elem(fd, &mnext);
			have = false;
			continue;
		}
		mk = mnext;
		have = true;
	}
}

static int lb_node_ip_add(int fd, const struct lb_addr *a, uint32_t epoch)
{
	struct lb_ip_key k;
	struct lb_node_ip_val v = { .epoch = epoch };

	lb_addr_to16(a, k.addr);
	return bpf_map_update_elem(fd, &k, &v, BPF_ANY) < 0 ? -errno : 0;
}

/* Writes this node's addresses (for wildcard NodePorts): the configured
 * ones, or else every address of the current network namespace but IPv6
 * link-local ones. Adds first, then removes the stale, so a NodePort never
 * misses a current address. */
static int lb_write_node_ips(struct lb *lb, const struct lb_options *o)
{
	int fd = bpf_map__fd(lb->skel->maps.lb_node_ips);
	struct lb_ip_key k, next;
	struct lb_node_ip_val v;
	bool have = false;
	uint32_t epoch = (uint32_t)getpid() | 1;
	size_t i;
	int r;

	if (o->n_node_addrs) {
		for (i = 0; i < o->n_node_addrs; i++) {
			r = lb_node_ip_add(fd, &o->node_addrs[i], epoch);
			if (r < 0)
				return r;
		}
	} else {
		struct ifaddrs *ifa, *it;

		if (getifaddrs(&ifa) < 0)
			return -errno;
		for (it = ifa; it; it = it->ifa_next) {
			struct lb_addr a = { 0 };

			if (!it->ifa_addr)
				continue;
			if (it->ifa_addr->sa_family == AF_INET) {
				a.family = AF_INET;
				a.v4 = ((struct sockaddr_in *)(void *)it->ifa_addr)->sin_addr;
			} else if (it->ifa_addr->sa_family == AF_INET6) {
				a.family = AF_INET6;
				a.v6 = ((struct sockaddr_in6 *)(void *)it->ifa_addr)->sin6_addr;
				if (IN6_IS_ADDR_LINKLOCAL(&a.v6))
					continue;
			} else {
				continue;
			}
			r = lb_node_ip_add(fd, &a, epoch);
			if (r < 0) {
				freeifaddrs(ifa);
				return r;
			}
		}
		freeifaddrs(ifa);
	}
	while (bpf_map_get_next_key(fd, have ? &k : NULL, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &v) == 0 && v.epoch != epoch) {
			bpf_map_delete_elem(fd, &next);
			have = false;
			continue;
		}
		k = next;
		have = true;
	}
	return 0;
}

int lb_open(const struct lb_options *o, struct lb **out)
{
	static const struct lb_options defaults = { 0 };
	_cleanup_(lb_freep) struct lb *lb = NULL;
	struct bpf_object_open_opts oo = { .sz = sizeof(oo) };
	int r;

	if (!o)
		o = &defaults;
	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	r = strscpy(lb->dir, o->bpffs_dir ? o->bpffs_dir : LB_DEFAULT_BPFFS, sizeof(lb->dir));
	if (r < 0)
		return r;
	if (o->cgroup_path)
		r = strscpy(lb->cgroup, o->cgroup_path, sizeof(lb->cgroup));
	else
		r = lb_cgroup2_root(lb->cgroup, sizeof(lb->cgroup));
	if (r < 0)
		return r;

	r = lb_mount_bpffs();
	if (r < 0)
		return r;
	if (mkdir(lb->dir, 0700) < 0 && errno != EEXIST)
		return -errno;

	oo.pin_root_path = lb->dir;
	lb->skel = sock_bpf__open_opts(&oo);
	if (!lb->skel)
		return -errno;
	r = lb_size_maps(lb, lb->skel->obj, o);
	if (r < 0)
		return r;
	r = sock_bpf__load(lb->skel);
	if (r < 0)
		return r;
	r = lb_rebuild(lb);
	if (r < 0)
		return r;
	lb_sweep_generations(lb);
	r = lb_write_node_ips(lb, o);
	if (r < 0)
		return r;
	r = lb_attach(lb);
	if (r < 0)
		return r;
	r = lb_attach_tc(lb, o);
	if (r < 0)
		return r;
	*out = TAKE_PTR(lb);
	return 0;
}

void lb_close(struct lb *lb)
{
	lb_free(lb);
}

int lb_destroy(struct lb *lb)
{
	struct bpf_program *p;
	struct bpf_map *m;
	int r = 0;
	size_t i;

	if (!lb)
		return 0;
	lb_detach_tc(lb);
	for (i = 0; (p = lb_prog(lb, i)); i++) {
		char name[128], path[PATH_MAX];
		_cleanup_close_ int fd = -1;

		snprintf(name, sizeof(name), "link_%s", bpf_program__name(p));
		if (lb_path(lb, name, path, sizeof(path)) < 0)
			continue;
		fd = bpf_obj_get(path);
		if (fd >= 0 && bpf_link_detach(fd) < 0 && r == 0)
			r = -errno;
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	}
	bpf_object__for_each_map(m, lb->skel->obj) {
		char path[PATH_MAX];

		if (lb_path(lb, bpf_map__name(m), path, sizeof(path)) < 0)
			continue;
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	}
	if (rmdir(lb->dir) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	lb_free(lb);
	return r;
}

/* ---- programming ---------------------------------------------------- */

static void lb_be_unref(struct lb *lb, uint32_t id)
{
	struct lb_be *b = lb_idvec_get(&lb->be_ids, id);
	struct lb_be_key k = { .id = id };
	struct lb_id_key sk = { .id = id };

	if (!b || --b->refs > 0)
		return;
	bpf_map_delete_elem(LB_FD(lb, lb_backends), &k);
	bpf_map_delete_elem(LB_FD(lb, lb_be_stats), &sk);
	lb_be_unlink(lb, b);
	lb_idvec_release(&lb->be_ids, id);
	free(b);
}

/* Finds or creates the in-memory backend entry and takes a reference;
 * *dirty tells that lb_backends must be written (new, or state changed). */
static int lb_be_get(struct lb *lb, const struct lb_be_val *v, uint32_t *id, bool *dirty)
{
	struct lb_be *b = lb_be_find(lb, v);
	int r;

	if (b) {
		*dirty = b->val.state != v->state;
		b->val.state = v->state;
		b->refs++;
		*id = b->id;
		return 0;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = lb_idvec_alloc(&lb->be_ids, &b->id);
	if (r < 0)
		goto fail;
	b->val = *v;
	r = lb_idvec_put(&lb->be_ids, b->id, b);
	if (r < 0)
		goto fail;
	r = lb_be_insert(lb, b);
	if (r < 0) {
		lb_idvec_release(&lb->be_ids, b->id);
		goto fail;
	}
	b->refs = 1;
	*id = b->id;
	*dirty = true;
	return 0;
fail:
	free(b);
	return r;
}

/* Writes n entries with one syscall where the kernel can. */
static int lb_update_many(int fd, const void *keys, size_t ksz, const void *vals, size_t vsz,
			  size_t n)
{
	uint32_t count = (uint32_t)n;
	size_t i;

	if (!n)
		return 0;
	if (bpf_map_update_batch(fd, keys, vals, &count, NULL) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, (const char *)keys + i * ksz,
					(const char *)vals + i * vsz, BPF_ANY) < 0)
			return -errno;
	return 0;
}

static bool lb_ids_contain(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static int lb_svc_ip_ref(struct lb *lb, const struct lb_fe_key *k, int delta)
{
	int fd = LB_FD(lb, lb_svc_ips);
	struct lb_ip_key ik;
	struct lb_ip_val iv = { 0 };

	memcpy(ik.addr, k->addr, sizeof(ik.addr));
	if (bpf_map_lookup_elem(fd, &ik, &iv) < 0)
		iv.refs = 0;
	if (delta < 0 && iv.refs <= 1)
		return bpf_map_delete_elem(fd, &ik) < 0 && errno != ENOENT ? -errno : 0;
	iv.refs += delta > 0 ? 1 : -1;
	return bpf_map_update_elem(fd, &ik, &iv, BPF_ANY) < 0 ? -errno : 0;
}

static void lb_gen_delete(struct lb *lb, uint32_t fe_id, const struct lb_fe_val *v)
{
	struct lb_slot_key keys[256];
	struct lb_maglev_key mk = { .fe_id = fe_id, .gen = v->gen };
	uint32_t done = 0;

	while (done < v->count) {
		uint32_t i, n = v->count - done < ARRAY_SIZE(keys) ? v->count - done
								    : (uint32_t)ARRAY_SIZE(keys);
		uint32_t cnt = n;

		for (i = 0; i < n; i++)
			keys[i] = (struct lb_slot_key){ .fe_id = fe_id, .gen = v->gen,
							.slot = done + i };
		if (bpf_map_delete_batch(LB_FD(lb, lb_slots), keys, &cnt, NULL) < 0)
			for (i = 0; i < n; i++)
				bpf_map_delete_elem(LB_FD(lb, lb_slots), &keys[i]);
		done += n;
	}
	if (v->algo == LB_FE_ALGO_MAGLEV)
		bpf_map_delete_elem(LB_FD(lb, lb_maglev), &mk);
}

static int lb_maglev_write(struct lb *lb, uint32_t fe_id, uint32_t gen,
			   const uint32_t *sel, size_t n_sel)
{
	_cleanup_free_ struct lb_maglev_backend *mb = NULL;
	_cleanup_free_ struct lb_maglev_val *t = NULL;
	struct lb_maglev_key k = { .fe_id = fe_id, .gen = gen };
	size_t i;
	int r;

	mb = calloc(n_sel, sizeof(*mb));
	t = calloc(1, sizeof(*t));
	if (!mb || !t)
		return -ENOMEM;
	for (i = 0; i < n_sel; i++) {
		struct lb_be *b = lb_idvec_get(&lb->be_ids, sel[i]);

		mb[i].name = (const uint8_t *)&b->val;
		mb[i].name_len = BE_KEY_LEN;
		mb[i].id = sel[i];
	}
	r = lb_maglev_fill(mb, n_sel, t->backend_id, LB_MAGLEV_M);
	if (r < 0)
		return r;
	return bpf_map_update_elem(LB_FD(lb, lb_maglev), &k, t, BPF_ANY) < 0 ? -errno : 0;
}

int lb_frontend_set(struct lb *lb, const struct lb_frontend *fe,
		    const struct lb_backend *backends, size_t n,
		    const struct lb_frontend_params *params)
{
	static const struct lb_frontend_params defaults = { 0 };
	_cleanup_free_ uint32_t *bids = NULL;
	_cleanup_free_ uint32_t *sel = NULL;
	_cleanup_free_ struct lb_be_key *bk = NULL;
	_cleanup_free_ struct lb_be_val *bv = NULL;
	_cleanup_free_ struct lb_slot_key *sk = NULL;
	_cleanup_free_ struct lb_slot_val *sv = NULL;
	_cleanup_free_ struct lb_member_key *mk = NULL;
	_cleanup_free_ struct lb_member_val *mv = NULL;
	size_t n_dirty = 0;
	struct lb_fe_key key;
	struct lb_fe_val nv = { 0 }, ov = { 0 };
	struct lb_name_val name = { { 0 } };
	struct lb_fe *e;
	bool created = false;
	size_t i, n_bids = 0, n_sel = 0;
	int r;

	if (!lb || (n && !backends) || n > LB_BACKENDS_MAX)
		return -EINVAL;
	if (!params)
		params = &defaults;
	if (params->algorithm > LB_ALG_MAGLEV)
		return -EINVAL;
	r = lb_fe_key_make(fe, &key);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		struct lb_be_val v;

		r = lb_be_key_make(&backends[i], fe->proto, &v);
		if (r < 0)
			return r;
		if (fe->addr.family == AF_INET && backends[i].addr.family != AF_INET)
			return -EINVAL;
	}

	e = lb_fe_find(lb, &key);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		r = lb_idvec_alloc(&lb->fe_ids, &e->val.id);
		if (r < 0) {
			free(e);
			return r;
		}
		e->key = key;
		r = lb_idvec_put(&lb->fe_ids, e->val.id, e);
		if (r < 0) {
			free(e);
			return r;
		}
		r = lb_fe_insert(lb, e);
		if (r < 0) {
			lb_idvec_release(&lb->fe_ids, e->val.id);
			free(e);
			return r;
		}
		created = true;
	}
	ov = e->val;

	bids = calloc(n ? n : 1, sizeof(*bids));
	sel = calloc(n ? n : 1, sizeof(*sel));
	bk = calloc(n ? n : 1, sizeof(*bk));
	bv = calloc(n ? n : 1, sizeof(*bv));
	sk = calloc(n ? n : 1, sizeof(*sk));
	sv = calloc(n ? n : 1, sizeof(*sv));
	mk = calloc(n ? n : 1, sizeof(*mk));
	mv = calloc(n ? n : 1, sizeof(*mv));
	if (!bids || !sel || !bk || !bv || !sk || !sv || !mk || !mv) {
		r = -ENOMEM;
		goto fail;
	}
	/* 1. backends: ids, references, lb_backends entries */
	for (i = 0; i < n; i++) {
		struct lb_be_val v;
		uint32_t id = 0;
		bool dirty = false;

		lb_be_key_make(&backends[i], fe->proto, &v);
		r = lb_be_get(lb, &v, &id, &dirty);
		if (r < 0)
			goto fail;
		if (lb_ids_contain(bids, n_bids, id)) {
			lb_be_unref(lb, id); /* listed twice */
			continue;
		}
		if (dirty) {
			bk[n_dirty].id = id;
			bv[n_dirty++] = v;
		}
		bids[n_bids++] = id;
		if (v.state != LB_BE_QUARANTINED)
			sel[n_sel++] = id;
	}
	r = lb_update_many(LB_FD(lb, lb_backends), bk, sizeof(*bk), bv, sizeof(*bv), n_dirty);
	if (r < 0)
		goto fail;

	/* 2. the new generation, complete, beside the old one */
	nv.id = e->val.id;
	nv.gen = ov.gen + 1;
	nv.count = (uint16_t)n_sel;
	nv.kind = fe->kind;
	nv.algo = params->algorithm;
	nv.flags = params->flags;
	nv.affinity = params->affinity_timeout;
	for (i = 0; i < n_sel; i++) {
		sk[i] = (struct lb_slot_key){ .fe_id = nv.id, .gen = nv.gen, .slot = (uint32_t)i };
		sv[i] = (struct lb_slot_val){ .backend_id = sel[i] };
		mk[i] = (struct lb_member_key){ .fe_id = nv.id, .backend_id = sel[i] };
		mv[i] = (struct lb_member_val){ .gen = nv.gen };
	}
	r = lb_update_many(LB_FD(lb, lb_slots), sk, sizeof(*sk), sv, sizeof(*sv), n_sel);
	if (r == 0)
		r = lb_update_many(LB_FD(lb, lb_members), mk, sizeof(*mk), mv, sizeof(*mv), n_sel);
	if (r < 0)
		goto fail_gen;
	if (nv.algo == LB_FE_ALGO_MAGLEV && n_sel) {
		r = lb_maglev_write(lb, nv.id, nv.gen, sel, n_sel);
		if (r < 0)
			goto fail_gen;
	}
	if (params->name) {
		strncpy(name.name, params->name, sizeof(name.name) - 1);
		bpf_map_update_elem(LB_FD(lb, lb_names), &(struct lb_id_key){ nv.id },
				    &name, BPF_ANY);
	}
	if (fe->kind != LB_KIND_NODE_PORT && !e->counts_ip) {
		r = lb_svc_ip_ref(lb, &key, +1);
		if (r < 0)
			goto fail_gen;
		e->counts_ip = true;
	} else if (fe->kind == LB_KIND_NODE_PORT && e->counts_ip) {
		lb_svc_ip_ref(lb, &key, -1);
		e->counts_ip = false;
	}

	/* 3. the flip: one map update */
	if (bpf_map_update_elem(LB_FD(lb, lb_frontends), &key, &nv, BPF_ANY) < 0) {
		r = -errno;
		goto fail_gen;
	}
	e->val = nv;

	/* 4. the old generation goes */
	if (!created)
		lb_gen_delete(lb, nv.id, &ov);
	for (i = 0; i < e->n_bids; i++) {
		uint32_t id = e->bids[i];

		if (!lb_ids_contain(sel, n_sel, id)) {
			struct lb_member_key gone = { .fe_id = nv.id, .backend_id = id };

			bpf_map_delete_elem(LB_FD(lb, lb_members), &gone);
		}
		lb_be_unref(lb, id);
	}
	free(e->bids);
	e->bids = TAKE_PTR(bids);
	e->n_bids = n_bids;
	e->epoch = lb->epoch;
	return 0;

fail_gen:
	{
		struct lb_fe_val gone = nv;

		gone.count = (uint16_t)n_sel;
		lb_gen_delete(lb, nv.id, &gone);
		for (i = 0; i < n_sel; i++) {
			struct lb_member_key m = { .fe_id = nv.id, .backend_id = sel[i] };

			if (!lb_ids_contain(e->bids, e->n_bids, sel[i]))
				bpf_map_delete_elem(LB_FD(lb, lb_members), &m);
		}
	}
fail:
	for (i = 0; i < n_bids; i++)
		lb_be_unref(lb, bids[i]);
	if (created) {
		if (e->counts_ip)
			lb_svc_ip_ref(lb, &key, -1);
		bpf_map_delete_elem(LB_FD(lb, lb_names), &(struct lb_id_key){ e->val.id });
		lb_fe_unlink(lb, e);
		lb_idvec_release(&lb->fe_ids, e->val.id);
		free(e);
	}
	return r;
}

static void lb_fe_remove(struct lb *lb, struct lb_fe *e)
{
	struct lb_id_key ik = { .id = e->val.id };
	size_t i;

	bpf_map_delete_elem(LB_FD(lb, lb_frontends), &e->key);
	lb_gen_delete(lb, e->val.id, &e->val);
	for (i = 0; i < e->n_bids; i++) {
		struct lb_member_key mk = { .fe_id = e->val.id, .backend_id = e->bids[i] };

		bpf_map_delete_elem(LB_FD(lb, lb_members), &mk);
		lb_be_unref(lb, e->bids[i]);
	}
	if (e->counts_ip)
		lb_svc_ip_ref(lb, &e->key, -1);
	bpf_map_delete_elem(LB_FD(lb, lb_names), &ik);
	bpf_map_delete_elem(LB_FD(lb, lb_fe_stats), &ik);
	lb_fe_unlink(lb, e);
	lb_idvec_release(&lb->fe_ids, e->val.id);
	free(e->bids);
	free(e);
}

int lb_frontend_delete(struct lb *lb, const struct lb_frontend *fe)
{
	struct lb_fe_key key;
	struct lb_fe *e;
	int r;

	if (!lb)
		return -EINVAL;
	r = lb_fe_key_make(fe, &key);
	if (r < 0)
		return r;
	e = lb_fe_find(lb, &key);
	if (!e)
		return -ENOENT;
	lb_fe_remove(lb, e);
	return 0;
}

int lb_sync_begin(struct lb *lb)
{
	if (!lb)
		return -EINVAL;
	lb->epoch++;
	lb->syncing = true;
	return 0;
}

int lb_sync_end(struct lb *lb)
{
	uint32_t id;

	if (!lb || !lb->syncing)
		return -EINVAL;
	for (id = 1; id < lb->fe_ids.next; id++) {
		struct lb_fe *e = lb_idvec_get(&lb->fe_ids, id);

		if (e && e->epoch != lb->epoch)
			lb_fe_remove(lb, e);
	}
	/* backends no frontend references (left by a crash) */
	for (id = 1; id < lb->be_ids.next; id++) {
		struct lb_be *b = lb_idvec_get(&lb->be_ids, id);

		if (b && b->refs == 0) {
			b->refs = 1;
			lb_be_unref(lb, id);
		}
	}
	lb->syncing = false;
	return 0;
}

/* ---- counters ------------------------------------------------------- */

static int lb_stats_sum(int fd, uint32_t id, struct lb_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	_cleanup_free_ struct lb_stats_val *v = NULL;
	struct lb_id_key k = { .id = id };
	struct lb_counters c = { 0 };
	int i;

	if (ncpu <= 0)
		return ncpu ? ncpu : -EINVAL;
	v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &k, v) < 0) {
		if (errno != ENOENT)
			return -errno;
		*out = c; /* known, nothing counted yet */
		return 0;
	}
	for (i = 0; i < ncpu; i++) {
		c.packets += v[i].packets;
		c.bytes += v[i].bytes;
		c.connections += v[i].connections;
	}
	*out = c;
	return 0;
}

int lb_frontend_stats(struct lb *lb, const struct lb_frontend *fe,
		      struct lb_counters *out)
{
	struct lb_fe_key key;
	struct lb_fe *e;
	int r;

	if (!lb || !out)
		return -EINVAL;
	r = lb_fe_key_make(fe, &key);
	if (r < 0)
		return r;
	e = lb_fe_find(lb, &key);
	if (!e)
		return -ENOENT;
	return lb_stats_sum(LB_FD(lb, lb_fe_stats), e->val.id, out);
}

int lb_backend_id(struct lb *lb, const struct lb_backend *be, uint8_t proto,
		  uint32_t *out)
{
	struct lb_be_val v;
	struct lb_be *b;
	int r;

	if (!lb || !out)
		return -EINVAL;
	r = lb_be_key_make(be, proto, &v);
	if (r < 0)
		return r;
	b = lb_be_find(lb, &v);
	if (!b)
		return -ENOENT;
	*out = b->id;
	return 0;
}

int lb_backend_stats(struct lb *lb, const struct lb_backend *be, uint8_t proto,
		     struct lb_counters *out)
{
	uint32_t id;
	int r;

	if (!out)
		return -EINVAL;
	r = lb_backend_id(lb, be, proto, &id);
	if (r < 0)
		return r;
	return lb_stats_sum(LB_FD(lb, lb_be_stats), id, out);
}

/* ---- ending sockets ------------------------------------------------- */

static void sock_iter_bpf_destroyp(struct sock_iter_bpf **p)
{
	sock_iter_bpf__destroy(*p);
}

static void bpf_link_destroyp(struct bpf_link **p)
{
	bpf_link__destroy(*p);
}

/* Runs one iterator program in the current thread's netns; returns the
 * number of sockets it ended. */
static int lb_iter_run(struct bpf_program *prog, int netns_fd)
{
	_cleanup_(bpf_link_destroyp) struct bpf_link *link = NULL;
	_cleanup_close_ int self = -1, it = -1;
	char buf[256];
	ssize_t n;
	int count = 0;

	link = bpf_program__attach_iter(prog, NULL);
	if (!link)
		return -errno;
	if (netns_fd >= 0) {
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0)
			return -errno;
		if (setns(netns_fd, CLONE_NEWNET) < 0)
			return -errno;
	}
	it = bpf_iter_create(bpf_link__fd(link));
	if (netns_fd >= 0 && setns(self, CLONE_NEWNET) < 0)
		return -errno; /* cannot happen: we were there a moment ago */
	if (it < 0)
		return -errno;
	while ((n = read(it, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		count += (int)n;
	}
	return count;
}

int lb_backend_terminate_sockets(struct lb *lb, const struct lb_backend *be,
				 uint8_t proto, const char *netns_path)
{
	_cleanup_(sock_iter_bpf_destroyp) struct sock_iter_bpf *s = NULL;
	_cleanup_close_ int nsfd = -1;
	uint8_t addr[16];
	int r, total = 0;

	if (!lb || !be || (be->addr.family != AF_INET && be->addr.family != AF_INET6) ||
	    be->port == 0 || (proto && proto != LB_PROTO_TCP && proto != LB_PROTO_UDP))
		return -EINVAL;
	if (netns_path) {
		nsfd = open(netns_path, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			return -errno;
	}
	s = sock_iter_bpf__open();
	if (!s)
		return -errno;
	lb_addr_to16(&be->addr, addr);
	memcpy((void *)s->rodata->target_addr, addr, sizeof(addr));
	s->rodata->target_port = be->port;
	bpf_program__set_autoload(s->progs.lb_destroy_tcp, proto != LB_PROTO_UDP);
	bpf_program__set_autoload(s->progs.lb_destroy_udp, proto != LB_PROTO_TCP);
	r = sock_iter_bpf__load(s);
	if (r < 0)
		return r;
	if (proto != LB_PROTO_UDP) {
		r = lb_iter_run(s->progs.lb_destroy_tcp, nsfd);
		if (r < 0)
			return r;
		total += r;
	}
	if (proto != LB_PROTO_TCP) {
		r = lb_iter_run(s->progs.lb_destroy_udp, nsfd);
		if (r < 0)
			return r;
		total += r;
	}
	return total;
}
