/* lb: loads, attaches and programs skiff's socket load balancer.
 *
 * State lives in the pinned maps; the library keeps an index of them in
 * memory (lb_table.c: frontends by key and by id, backends by address and
 * by id) that this file rebuilds from the maps on open, so a restarted
 * agent reconciles without flushing anything. Programming is in
 * lb_frontend.c, ending sockets in lb_sockets.c. */
#include "dataplane/lb/lb_int.h"

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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bpf/lb.h"
#include "dataplane/lb/maglev.h"
#include "sock.skel.h"
#include "sock_iter.skel.h"
#include "tc_nodeport.skel.h"
#include <net/if.h>
#include "lib/util.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 /* Linux 5.14; glibc 2.36 names it */
#endif

_Static_assert(LB_MAGLEV_SIZE == LB_MAGLEV_M, "maglev size differs from bpf/lb.h");
_Static_assert(LB_NAME_MAX == LB_NAME_LEN, "name size differs from bpf/lb.h");
_Static_assert((int)LB_KIND_NODE_PORT == (int)LB_FE_NODE_PORT, "kinds differ");
_Static_assert((int)LB_BACKEND_QUARANTINED == (int)LB_BE_QUARANTINED, "states differ");
_Static_assert((int)LB_ALG_MAGLEV == (int)LB_FE_ALGO_MAGLEV, "algorithms differ");

/* ---- parsing -------------------------------------------------------- */

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

int lb_fe_key_make(const struct lb_frontend *fe, struct lb_fe_key *k)
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
	ipaddr_to_mapped16(&fe->addr, k->addr);
	/* the unspecified address: a NodePort on every node address */
	if (fe->kind != LB_KIND_NODE_PORT &&
	    ((fe->addr.family == AF_INET && fe->addr.v4.s_addr == 0) ||
	     (fe->addr.family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&fe->addr.v6))))
		return -EINVAL;
	k->port = fe->port;
	k->proto = fe->proto;
	return 0;
}

int lb_be_key_make(const struct lb_backend *be, uint8_t proto,
			  struct lb_be_val *v)
{
	if (!be || (be->addr.family != AF_INET && be->addr.family != AF_INET6))
		return -EINVAL;
	if (be->port == 0 || be->state > LB_BACKEND_QUARANTINED)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	ipaddr_to_mapped16(&be->addr, v->addr);
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
	sock_bpf__destroy(lb->host);
	tc_nodeport_bpf__destroy(lb->tc);
	lb_sockets_free(lb);
	if (lb->old_slots_fd >= 0)
		close(lb->old_slots_fd);
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
	free(lb->fe_ids.v);
	free(lb->fe_ids.ids.free_ids);
	lb_bes_free(&lb->bes);
	free(lb->fe_by_key.buckets);
	free(lb->scratch);
	free(lb);
}

static void lb_freep(struct lb **p)
{
	lb_free(*p);
}

/* A pinned map of an older layout (lb_slots before blocks of
 * LB_SLOT_BLOCK): unpinned, so that the load creates it anew; the old
 * lb_slots is kept open (*fd taken) for lb_slots_migrate. */
static int lb_replace_pinned(struct lb *lb, struct bpf_map *m, const char *path, int *fd)
{
	if (unlink(path) < 0)
		return -errno;
	if (streq(bpf_map__name(m), LB_MAP_SLOTS) && lb->old_slots_fd < 0)
		lb->old_slots_fd = TAKE_FD(*fd);
	return 0;
}

/* The slots of an older lb_slots (one entry per slot, value a backend id)
 * written into the new one's blocks, before the new programs attach. */
static int lb_slots_migrate(struct lb *lb)
{
	int ofd = lb->old_slots_fd, nfd = LB_FD(lb, lb_slots);
	struct lb_slot_key k, next, bk;
	struct lb_slot_val v;
	uint32_t id;
	bool have = false;

	if (ofd < 0)
		return 0;
	while (bpf_map_get_next_key(ofd, have ? &k : NULL, &next) == 0) {
		k = next;
		have = true;
		if (bpf_map_lookup_elem(ofd, &k, &id) < 0)
			continue;
		bk = k;
		bk.slot = k.slot & ~(uint32_t)(LB_SLOT_BLOCK - 1);
		if (bpf_map_lookup_elem(nfd, &bk, &v) < 0)
			memset(&v, 0, sizeof(v));
		v.backend_id[k.slot % LB_SLOT_BLOCK] = id;
		if (bpf_map_update_elem(nfd, &bk, &v, BPF_ANY) < 0)
			return -errno;
	}
	close(ofd);
	lb->old_slots_fd = -1;
	return 0;
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
		{ LB_MAP_SLOTS, fe + be / 8 }, /* 2 x be slots, in blocks */
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
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			if (info.key_size == bpf_map__key_size(m) &&
			    info.value_size == bpf_map__value_size(m))
				want = info.max_entries;
			else if ((r = lb_replace_pinned(lb, m, path, &fd)) < 0)
				return r;
		}
		if (!want)
			continue;
		r = bpf_map__set_max_entries(m, want);
		if (r < 0)
			return r;
	}
	return 0;
}

static struct bpf_program *lb_prog(struct sock_bpf *skel, size_t i)
{
	struct bpf_program *const progs[] = {
		skel->progs.lb_connect4,     skel->progs.lb_connect6,
		skel->progs.lb_sendmsg4,     skel->progs.lb_sendmsg6,
		skel->progs.lb_recvmsg4,     skel->progs.lb_recvmsg6,
		skel->progs.lb_getpeername4, skel->progs.lb_getpeername6,
	};

	return i < ARRAY_SIZE(progs) ? progs[i] : NULL;
}

/* The pinned link of program p: "link_NAME", the machine's copy's
 * "host_link_NAME". */
static int lb_link_path(const struct lb *lb, const struct bpf_program *p, bool host, char *buf,
			size_t size)
{
	char name[128];

	snprintf(name, sizeof(name), "%slink_%s", host ? "host_" : "", bpf_program__name(p));
	return lb_path(lb, name, buf, size);
}

/* Attaches every program of skel to cgroup with a pinned link, or, when
 * the link is already pinned (a restart), moves it to the freshly loaded
 * program atomically. */
static int lb_attach(struct lb *lb, struct sock_bpf *skel, const char *cgroup, bool host)
{
	_cleanup_close_ int cg = -1;
	struct bpf_program *p;
	size_t i;
	int r;

	cg = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	for (i = 0; (p = lb_prog(skel, i)); i++) {
		char path[PATH_MAX];
		struct bpf_link *l;

		r = lb_link_path(lb, p, host, path, sizeof(path));
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

/* The machine's copy of the socket hooks: the same object, its maps the
 * pinned ones, told the cookie of this network namespace. */
static int lb_attach_host(struct lb *lb, const struct lb_options *o)
{
	struct bpf_object_open_opts oo = { .sz = sizeof(oo), .pin_root_path = lb->dir };
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	_cleanup_close_ int fd = -1;
	int r;

	if (!o->host_cgroup_path)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) < 0)
		return -errno;
	lb->host = sock_bpf__open_opts(&oo);
	if (!lb->host)
		return -errno;
	lb->host->rodata->host_netns_cookie = cookie;
	r = lb_size_maps(lb, lb->host->obj, o);
	if (r == 0)
		r = sock_bpf__load(lb->host);
	return r < 0 ? r : lb_attach(lb, lb->host, o->host_cgroup_path, true);
}

/* Detaches and unpins the links of skel's programs (host: the machine's
 * copy's names); the first error. */
static int lb_detach(struct lb *lb, struct sock_bpf *skel, bool host)
{
	struct bpf_program *p;
	int r = 0;

	for (size_t i = 0; (p = lb_prog(skel, i)); i++) {
		char path[PATH_MAX];
		_cleanup_close_ int fd = -1;

		if (lb_link_path(lb, p, host, path, sizeof(path)) < 0)
			continue;
		fd = bpf_obj_get(path);
		if (fd >= 0 && bpf_link_detach(fd) < 0 && r == 0)
			r = -errno;
		if (unlink(path) < 0 && errno != ENOENT && r == 0)
			r = -errno;
	}
	return r;
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

int lb_map_fd(struct lb *lb, struct bpf_map *m)
{
	(void)lb;
	return bpf_map__fd(m);
}


/* Indexes e, rebuilt from the maps, under id; frees it if that fails. */
static int rebuild_index(struct lb_idvec *ids, uint32_t id, void *e)
{
	int r = lb_idvec_put(ids, id, e);

	if (r < 0)
		free(e);
	return r;
}

static int rebuild_backend(struct lb *lb, const void *key, const void *val)
{
	const struct lb_be_key *k = key;
	uint32_t id;
	int r;

	if (!k->id)
		return 0;
	r = lb_be_add(lb, val, k->id, &id);
	/* a key the walk met twice (the map changed under it) is indexed once */
	return r == -EEXIST ? 0 : r;
}

/* lb_svc_ips keeps its refs; a frontend not a NodePort holds one */
static int rebuild_frontend(struct lb *lb, const void *key, const void *val)
{
	const struct lb_fe_val *v = val;
	struct lb_fe *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->key = *(const struct lb_fe_key *)key;
	e->val = *v;
	e->counts_ip = v->kind != LB_FE_NODE_PORT;
	r = rebuild_index(&lb->fe_ids, v->id, e);
	return r < 0 ? r : lb_fe_insert(lb, e);
}

/* A block of the current generation's slots: its backends are the
 * frontend's (a stale generation is swept after the rebuild). */
static int rebuild_slots(struct lb *lb, const void *key, const void *val)
{
	const struct lb_slot_key *k = key;
	const struct lb_slot_val *v = val;
	struct lb_fe *f = lb_idvec_get(&lb->fe_ids, k->fe_id);
	uint32_t i, *nb;

	if (!f || f->val.gen != k->gen || k->slot >= f->val.count)
		return 0;
	nb = realloc(f->bids, (f->n_bids + LB_SLOT_BLOCK) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	f->bids = nb;
	for (i = 0; i < LB_SLOT_BLOCK && k->slot + i < f->val.count; i++) {
		struct lb_be *b = lb_be_get_id(lb, v->backend_id[i]);

		if (!b)
			continue;
		f->bids[f->n_bids++] = v->backend_id[i];
		b->refs++;
	}
	return 0;
}

/* Calls fn on each entry of the map fd that can be read (val NULL: keys only);
 * key and val are room for one entry. */
static int rebuild_each(struct lb *lb, int fd, void *key, void *val,
			int (*fn)(struct lb *lb, const void *key, const void *val))
{
	void *prev = NULL;
	int r;

	while (bpf_map_get_next_key(fd, prev, key) == 0) {
		prev = key;
		if (val && bpf_map_lookup_elem(fd, key, val) < 0)
			continue;
		r = fn(lb, key, val);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Rebuilds the in-memory index from the pinned maps. */
static int lb_rebuild(struct lb *lb)
{
	struct lb_be_key bk;
	struct lb_be_val bv;
	struct lb_fe_key fk;
	struct lb_fe_val fv;
	struct lb_slot_key sk;
	struct lb_slot_val sv;
	int r;

	r = rebuild_each(lb, LB_FD(lb, lb_backends), &bk, &bv, rebuild_backend);
	if (r == 0)
		r = rebuild_each(lb, LB_FD(lb, lb_frontends), &fk, &fv, rebuild_frontend);
	if (r == 0)
		r = rebuild_each(lb, LB_FD(lb, lb_slots), &sk, &sv, rebuild_slots);
	if (r < 0)
		return r;
	lb_ids_release_unused(lb);
	return 0;
}

/* Deletes every entry of the map fd that stale() names (key: room for
 * two keys of the map's size). */
static void lb_map_sweep(struct lb *lb, int fd, size_t key_size, void *keys,
			 bool (*stale)(struct lb *lb, const void *key))
{
	char *k = keys, *next = k + key_size;
	bool have = false;

	while (bpf_map_get_next_key(fd, have ? k : NULL, next) == 0) {
		if (stale(lb, next)) {
			bpf_map_delete_elem(fd, next);
			have = false; /* restart: the iteration order changed */
			continue;
		}
		memcpy(k, next, key_size);
		have = true;
	}
}

static bool slot_stale(struct lb *lb, const void *key)
{
	const struct lb_slot_key *k = key;
	struct lb_fe *f = lb_idvec_get(&lb->fe_ids, k->fe_id);

	return !f || f->val.gen != k->gen || k->slot >= f->val.count ||
	       k->slot % LB_SLOT_BLOCK;
}

static bool maglev_stale(struct lb *lb, const void *key)
{
	const struct lb_maglev_key *k = key;
	struct lb_fe *f = lb_idvec_get(&lb->fe_ids, k->fe_id);

	return !f || f->val.gen != k->gen || f->val.algo != LB_FE_ALGO_MAGLEV;
}

/* members are kept for frontends with affinity only (older agents wrote
 * them for all) */
static bool member_stale(struct lb *lb, const void *key)
{
	const struct lb_member_key *k = key;
	struct lb_fe *f = lb_idvec_get(&lb->fe_ids, k->fe_id);

	if (!f || !f->val.affinity)
		return true;
	for (size_t i = 0; i < f->n_bids; i++)
		if (f->bids[i] == k->backend_id)
			return false;
	return true;
}

/* Removes what a crash in the middle of an update can leave behind: slots
 * and Maglev tables of a generation that is not the frontend's current
 * one, members of a backend set that is not current. */
static void lb_sweep_generations(struct lb *lb)
{
	struct lb_slot_key sk[2];
	struct lb_maglev_key mk[2];
	struct lb_member_key bk[2];

	lb_map_sweep(lb, LB_FD(lb, lb_slots), sizeof(sk[0]), sk, slot_stale);
	lb_map_sweep(lb, LB_FD(lb, lb_maglev), sizeof(mk[0]), mk, maglev_stale);
	lb_map_sweep(lb, LB_FD(lb, lb_members), sizeof(bk[0]), bk, member_stale);
}

static int lb_node_ip_add(int fd, const struct ipaddr *a, uint32_t epoch)
{
	struct lb_ip_key k;
	struct lb_node_ip_val v = { .epoch = epoch };

	ipaddr_to_mapped16(a, k.addr);
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
			struct ipaddr a = { 0 };

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
	lb->old_slots_fd = -1;
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
	if (r == 0)
		r = lb_slots_migrate(lb);
	if (r == 0)
		r = lb_rebuild(lb);
	if (r < 0)
		return r;
	lb_sweep_generations(lb);
	r = lb_write_node_ips(lb, o);
	if (r < 0)
		return r;
	r = lb_attach(lb, lb->skel, lb->cgroup, false);
	if (r < 0)
		return r;
	r = lb_attach_host(lb, o);
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
	struct bpf_map *m;
	int r, h;

	if (!lb)
		return 0;
	lb_detach_tc(lb);
	r = lb_detach(lb, lb->skel, false);
	/* the machine's copy, also when this run was not told of it */
	h = lb_detach(lb, lb->skel, true);
	if (r == 0)
		r = h;
	bpf_object__for_each_map(m, lb->skel->obj) {
		char path[PATH_MAX];

		if (bpf_map__pin_path(m) == NULL)
			continue; /* internal (.rodata): never pinned */
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
