/* The operations of skiff-cni: a routed veth per attachment.
 *
 *   pod netns                         node netns
 *   eth0  10.244.0.5/32  <-- veth --> skf<hash>  10.244.0.1/32 (gateway)
 *   10.244.0.1 dev eth0 scope link    10.244.0.5/32 dev skf<hash>
 *   default via 10.244.0.1
 *
 * IPv6 the same with /128 and no duplicate address detection. The host
 * name is derived from container ID and ifname, so DEL needs no netns. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cni/ipam.h"
#include "lib/log.h"
#include "cni/plugin.h"
#include "lib/util.h"

static void socket_closep(struct nl_sock **sk)
{
	link_socket_close(*sk);
}
#define _cleanup_sock_ _cleanup_(socket_closep)

/* ---- IPAM: in-process skiff-ipam or a delegated plugin ---- */

static bool ipam_inproc(const struct cni_plugin *p)
{
	return streq(p->conf.ipam_type, CNI_INPROC_IPAM);
}

/* cmd of the in-process skiff-ipam; out takes ADD's result. */
static int ipam_inproc_run(struct cni_plugin *p, enum cni_cmd cmd, struct cni_result *out,
			   struct cni_error *err)
{
	struct ipam_config *cfg = NULL;
	int r;

	r = ipam_config_parse(p->conf.root, &p->env, &cfg, err);
	if (r < 0)
		return r;
	switch (cmd) {
	case CNI_CMD_ADD:
		r = ipam_add(cfg, p->env.container_id, p->env.ifname, out, err);
		break;
	case CNI_CMD_DEL:
		r = ipam_del(cfg, p->env.container_id, p->env.ifname, err);
		break;
	case CNI_CMD_CHECK:
		r = ipam_check(cfg, p->env.container_id, p->env.ifname, err);
		break;
	case CNI_CMD_GC:
		r = ipam_gc(cfg, p->conf.valid_attachments, err);
		break;
	default:
		r = ipam_status(cfg, err);
		break;
	}
	ipam_config_free(cfg);
	return r;
}

static int ipam_run_add(struct cni_plugin *p, struct cni_result *out, struct cni_error *err)
{
	json_t *j = NULL;
	int r;

	if (ipam_inproc(p))
		return ipam_inproc_run(p, CNI_CMD_ADD, out, err);
	r = cni_delegate(p->conf.ipam_type, &p->env, "ADD", p->conf.raw, &j, err);
	if (r < 0)
		return r;
	if (!j)
		return cni_fail(err, EBADMSG, CNI_ERR_DECODE, "IPAM plugin \"%s\" returned no result",
				p->conf.ipam_type);
	r = cni_result_decode(j, out, err);
	json_decref(j);
	if (r < 0 && err)
		snprintf(err->details, sizeof(err->details), "in the result of IPAM plugin \"%s\"",
			 p->conf.ipam_type);
	return r;
}

/* Whether a delegated IPAM plugin speaks version (asked with VERSION):
 * plugins older than 1.1.0 answer GC and STATUS with arbitrary errors.
 * 1 or 0; a plugin that cannot be run is an error, CNI_ERR_NOT_AVAILABLE. */
static int ipam_speaks(struct cni_plugin *p, const char *version, struct cni_error *err)
{
	json_t *j = NULL, *v;
	size_t i;
	int r, yes = 0;

	r = cni_delegate(p->conf.ipam_type, &p->env, "VERSION", "{\"cniVersion\":\"0.3.0\"}", &j,
			 err);
	if (r < 0) {
		if (err)
			err->code = CNI_ERR_NOT_AVAILABLE;
		return r;
	}
	json_array_foreach(json_object_get(j, "supportedVersions"), i, v)
		if (cni_version_cmp(json_string_value(v), version) >= 0)
			yes = 1;
	json_decref(j);
	return yes;
}

/* cmd of a delegated IPAM plugin, whose answer only says yes or no. GC and
 * STATUS came with CNI 1.1.0: an older plugin is not asked, and what that
 * means (unasked) is logged. */
static int ipam_delegate(struct cni_plugin *p, const char *cmd, const char *unasked,
			 struct cni_error *err)
{
	json_t *j = NULL;
	int r;

	if (unasked && (r = ipam_speaks(p, "1.1.0", err)) <= 0) {
		if (r == 0)
			log_warn("IPAM plugin %s predates %s (CNI 1.1.0); %s", p->conf.ipam_type, cmd,
				 unasked);
		return r;
	}
	r = cni_delegate(p->conf.ipam_type, &p->env, cmd, p->conf.raw, &j, err);
	json_decref(j);
	return r;
}

/* DEL, CHECK and STATUS of the IPAM; GC in ipam_run_gc. */
static int ipam_run(struct cni_plugin *p, enum cni_cmd cmd, struct cni_error *err)
{
	static const char *const names[] = {
		[CNI_CMD_DEL] = "DEL", [CNI_CMD_CHECK] = "CHECK", [CNI_CMD_STATUS] = "STATUS",
	};

	if (ipam_inproc(p))
		return ipam_inproc_run(p, cmd, NULL, err);
	/* An IPAM plugin older than 1.1.0 knows no STATUS: not our verdict. */
	return ipam_delegate(p, names[cmd], cmd == CNI_CMD_STATUS ? "reporting ready" : NULL, err);
}

static int ipam_run_gc(struct cni_plugin *p, struct cni_error *err)
{
	int r;

	if (!ipam_inproc(p))
		return ipam_delegate(p, "GC", "its leases are not collected", err);
	r = ipam_inproc_run(p, CNI_CMD_GC, NULL, err);
	if (r > 0)
		log_info("network %s: GC released %d IPAM lease(s)", p->conf.name, r);
	return r < 0 ? r : 0;
}

/* ---- ADD ---- */

struct families {
	const struct ipaddr *gw4, *gw6;
};

/* The gateways of f as host CIDRs, IPv4 first: how many (0 to 2) in out. */
static int gateway_hosts(const struct families *f, struct ipcidr out[2])
{
	int n = 0;

	if (f->gw4)
		out[n++] = ipcidr_host(f->gw4);
	if (f->gw6)
		out[n++] = ipcidr_host(f->gw6);
	return n;
}

static int check_ipam_result(const struct cni_plugin *p, struct cni_result *res,
			     struct families *f, struct cni_error *err)
{
	char buf[64];

	if (res->n_ips == 0)
		return cni_fail(err, EINVAL, CNI_ERR_INTERNAL, "IPAM plugin \"%s\" returned no address",
				p->conf.ipam_type);
	for (int i = 0; i < res->n_ips; i++) {
		struct cni_ip *ip = &res->ips[i];
		const struct ipaddr **gw = ip->address.addr.family == AF_INET ? &f->gw4 : &f->gw6;

		if (!ip->has_gateway)
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
					"ipam: address %s has no gateway; the routed veth needs one (ipam gateway)",
					ipcidr_str(&ip->address, buf, sizeof(buf)));
		if (*gw && !ipaddr_eq(*gw, &ip->gateway))
			return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
					"ipam: two %s gateways; skiff-cni supports one per family",
					ip->address.addr.family == AF_INET ? "IPv4" : "IPv6");
		*gw = &ip->gateway;
		/* The pod holds a host route, the subnet lives on the node. */
		ip->address = ipcidr_host(&ip->address.addr);
		ip->interface = 1;
	}
	if (f->gw6 && p->conf.mtu > 0 && p->conf.mtu < 1280)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"mtu: %d is below IPv6's minimum of 1280", p->conf.mtu);
	return 0;
}

static int sysctl_ensure(const char *key, const char *value)
{
	char cur[32];

	if (sysctl_read(key, cur, sizeof(cur)) == 0 && streq(cur, value))
		return 0;
	return sysctl_write(key, value);
}

/* accept_dad=0 on one of our own interfaces; absent without IPv6. */
static int no_dad(const char *ifname)
{
	char key[96];
	int r;

	snprintf(key, sizeof(key), "net/ipv6/conf/%s/accept_dad", ifname);
	r = sysctl_ensure(key, "0");
	return r == -ENOENT ? 0 : r;
}

/* Configures the host veth; out gets its mac and mtu. */
static int setup_host(struct nl_sock *sk, const char *host, const char *alias, bool fwd_iface,
		      const struct cni_result *res, const struct families *f,
		      struct cni_interface *out, struct cni_error *err)
{
	struct ipcidr gws[2];
	struct link_batch b;
	char buf[64], key4[64], key6[64];
	int ifindex = link_lookup(sk, host, out->mac, &out->mtu), n_gws = gateway_hosts(f, gws);
	int failed = 0, r;

	if (ifindex < 0)
		return cni_fail(err, -ifindex, CNI_ERR_INTERNAL, "host veth %s vanished: %s", host,
				strerror(-ifindex));
	/* "forwarding": "interface": what the pod sends is forwarded, and
	 * the host's other interfaces keep their setting */
	snprintf(key4, sizeof(key4), "net/ipv4/conf/%s/forwarding", fwd_iface ? host : "all");
	snprintf(key6, sizeof(key6), "net/ipv6/conf/%s/forwarding", fwd_iface ? host : "all");
	if (f->gw4 && (r = sysctl_ensure(key4, "1")) < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "setting %s=1: %s", key4, strerror(-r));
	if (f->gw6) {
		r = sysctl_ensure(key6, "1");
		if (r == 0)
			r = no_dad(host);
		if (r < 0)
			return cni_fail(err, -r, CNI_ERR_INTERNAL, "IPv6 sysctls for %s: %s", host,
					strerror(-r));
	}
	/* One round trip: gateways, up (with the alias), pod routes. */
	link_batch_init(&b, sk);
	for (int i = 0; i < n_gws; i++)
		link_batch_addr_add(&b, ifindex, &gws[i]);
	link_batch_set_up(&b, ifindex, alias);
	for (int i = 0; i < res->n_ips; i++)
		link_batch_route_add(&b, ifindex, &res->ips[i].address, NULL);
	r = link_batch_run(&b, &failed);
	if (r < 0 && failed < n_gws)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "adding gateway %s to %s: %s",
				ipcidr_str(&gws[failed], buf, sizeof(buf)), host, strerror(-r));
	if (r < 0 && failed == n_gws)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "setting %s up: %s", host, strerror(-r));
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "adding route %s dev %s: %s",
				ipcidr_str(&res->ips[failed - n_gws - 1].address, buf, sizeof(buf)),
				host, strerror(-r));
	return 0;
}

/* The routes the pod gets: the IPAM's, else a default per family, all
 * through the family's gateway unless the IPAM named another. */
static int pod_routes(const struct cni_result *ipam, const struct families *f,
		      struct cni_result *out)
{
	out->n_routes = 0;
	for (int i = 0; i < ipam->n_routes; i++) {
		const struct cni_route *rt = &ipam->routes[i];
		const struct ipaddr *gw = rt->dst.addr.family == AF_INET ? f->gw4 : f->gw6;
		struct cni_route *o = &out->routes[out->n_routes];

		if (!gw && !rt->has_gw)
			continue; /* a family the pod has no address in */
		*o = *rt;
		if (!rt->has_gw) {
			o->has_gw = true;
			o->gw = *gw;
		}
		out->n_routes++;
	}
	if (out->n_routes > 0)
		return 0;
	for (int i = 0; i < 2; i++) {
		const struct ipaddr *gw = i == 0 ? f->gw4 : f->gw6;
		struct cni_route *o = &out->routes[out->n_routes];

		if (!gw)
			continue;
		memset(o, 0, sizeof(*o));
		o->dst.addr.family = gw->family;
		o->has_gw = true;
		o->gw = *gw;
		out->n_routes++;
	}
	return 0;
}

/* Runs inside the pod netns; sk is a socket opened there. out gets the
 * pod interface's mac and mtu. */
static int setup_pod_in_ns(struct nl_sock *sk, const char *ifname, const struct cni_result *res,
			   const struct families *f, struct cni_interface *out,
			   struct cni_error *err)
{
	struct ipcidr gws[2];
	struct link_batch b;
	const struct cni_route *rt;
	char buf[64], gbuf[64];
	int ifindex = link_lookup(sk, ifname, out->mac, &out->mtu), n_gws = gateway_hosts(f, gws);
	int failed = 0, r;

	if (ifindex < 0)
		return cni_fail(err, -ifindex, CNI_ERR_INTERNAL, "pod interface %s not found: %s",
				ifname, strerror(-ifindex));
	if (f->gw6 && (r = no_dad(ifname)) < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "accept_dad=0 on %s: %s", ifname,
				strerror(-r));
	/* One round trip: addresses, up, the gateways' link routes, the
	 * routes through them. */
	link_batch_init(&b, sk);
	for (int i = 0; i < res->n_ips; i++)
		link_batch_addr_add(&b, ifindex, &res->ips[i].address);
	link_batch_set_up(&b, ifindex, NULL);
	for (int i = 0; i < n_gws; i++)
		link_batch_route_add(&b, ifindex, &gws[i], NULL);
	for (int i = 0; i < res->n_routes; i++)
		link_batch_route_add(&b, ifindex, &res->routes[i].dst, &res->routes[i].gw);
	r = link_batch_run(&b, &failed);
	if (r >= 0)
		return 0;
	if (failed < res->n_ips)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "adding %s to %s: %s",
				ipcidr_str(&res->ips[failed].address, buf, sizeof(buf)), ifname,
				strerror(-r));
	failed -= res->n_ips;
	if (failed == 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "setting %s up: %s", ifname, strerror(-r));
	if (--failed < n_gws)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "adding route %s dev %s: %s",
				ipcidr_str(&gws[failed], buf, sizeof(buf)), ifname, strerror(-r));
	rt = &res->routes[failed - n_gws];
	return cni_fail(err, -r, CNI_ERR_INTERNAL, "adding route %s via %s dev %s: %s",
			ipcidr_str(&rt->dst, buf, sizeof(buf)),
			ipaddr_str(&rt->gw, gbuf, sizeof(gbuf)), ifname, strerror(-r));
}

static int setup_pod(int nsfd, const char *ifname, const struct cni_result *res,
		     const struct families *f, struct cni_interface *out, struct cni_error *err)
{
	_cleanup_sock_ struct nl_sock *sk = NULL;
	int saved = -1, r, r2;

	r = netns_enter(nsfd, &saved);
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "entering the pod netns: %s", strerror(-r));
	r = link_socket_open(&sk);
	if (r < 0)
		r = cni_fail(err, -r, CNI_ERR_INTERNAL, "netlink socket in the pod netns: %s",
			     strerror(-r));
	else
		r = setup_pod_in_ns(sk, ifname, res, f, out, err);
	r2 = netns_leave(saved);
	if (r2 < 0 && r >= 0)
		r = cni_fail(err, -r2, CNI_ERR_INTERNAL, "returning to the node netns: %s",
			     strerror(-r2));
	return r;
}

static int open_netns(const struct cni_plugin *p, struct cni_error *err)
{
	int fd = netns_open(p->env.netns);

	if (fd < 0)
		return cni_fail(err, -fd, CNI_ERR_INVALID_ENV,
				"CNI_NETNS \"%s\" is not a usable network namespace: %s", p->env.netns,
				fd == -EINVAL ? "not a network namespace" : strerror(-fd));
	return fd;
}

/* A host veth of this attachment that is down is one a DEL is removing (or
 * a leftover): remove it now. One that is up is in use. */
static int clear_stale_host(struct nl_sock *sk, const char *host, const struct cni_plugin *p,
			    struct cni_error *err)
{
	int ifindex = link_ifindex(sk, host), r;
	bool up = true;
	char mac[18];

	if (ifindex < 0)
		return 0;
	if (link_info(sk, ifindex, mac, NULL, &up) == 0 && up)
		return cni_fail(err, EEXIST, CNI_ERR_INTERNAL,
				"host veth %s for container %s ifname %s already exists (run DEL first)",
				host, p->env.container_id, p->env.ifname);
	r = link_delete_ifindex(sk, ifindex);
	if (r < 0 && r != -ENODEV)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "removing stale host veth %s: %s", host,
				strerror(-r));
	return 0;
}

static void ipam_release_quietly(struct cni_plugin *p)
{
	struct cni_error e = { 0 };

	if (ipam_run(p, CNI_CMD_DEL, &e) < 0)
		log_warn("container %s: releasing IPAM after a failed ADD: %s", p->env.container_id,
			 e.msg);
}

int cni_plugin_add(struct cni_plugin *p, json_t **result, struct cni_error *err)
{
	_cleanup_sock_ struct nl_sock *sk = NULL;
	_cleanup_close_ int nsfd = -1;
	struct cni_result ipam = { 0 }, res = { 0 };
	struct families f = { 0 };
	char host[16], alias[256];
	unsigned long long t0;
	bool created = false;
	int r;

	cni_host_ifname(p->env.container_id, p->env.ifname, host);
	r = cni_host_alias(p->conf.name, p->env.container_id, p->env.ifname, alias, sizeof(alias));
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INVALID_CONFIG, "name: too long");
	nsfd = open_netns(p, err);
	if (nsfd < 0)
		return nsfd;
	r = link_socket_open(&sk);
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "netlink socket: %s", strerror(-r));
	r = clear_stale_host(sk, host, p, err);
	if (r < 0)
		return r;

	t0 = now_ns();
	r = ipam_run_add(p, &ipam, err);
	if (r < 0)
		return r;
	log_debug("ADD %s: IPAM %s took %llu us", p->env.container_id, p->conf.ipam_type,
		  (now_ns() - t0) / 1000);
	r = check_ipam_result(p, &ipam, &f, err);
	if (r < 0)
		goto fail;

	r = link_veth_create(sk, host, p->env.ifname, nsfd, p->conf.mtu);
	if (r == -EEXIST) {
		r = cni_fail(err, EEXIST, CNI_ERR_INTERNAL,
			     "interface %s already exists in netns %s", p->env.ifname, p->env.netns);
		goto fail;
	}
	if (r < 0) {
		r = cni_fail(err, -r, CNI_ERR_INTERNAL, "creating veth %s <-> %s: %s", host,
			     p->env.ifname, strerror(-r));
		goto fail;
	}
	created = true;
	log_debug("ADD %s: veth %s created at %llu us", p->env.container_id, host,
		  (now_ns() - t0) / 1000);

	memcpy(res.ips, ipam.ips, sizeof(ipam.ips));
	res.n_ips = ipam.n_ips;
	pod_routes(&ipam, &f, &res);
	r = setup_host(sk, host, alias, p->conf.forward_interface, &res, &f, &res.interfaces[0], err);
	if (r < 0)
		goto fail;
	log_debug("ADD %s: host side done at %llu us", p->env.container_id, (now_ns() - t0) / 1000);
	r = setup_pod(nsfd, p->env.ifname, &res, &f, &res.interfaces[1], err);
	if (r < 0)
		goto fail;
	log_debug("ADD %s: pod side done at %llu us", p->env.container_id, (now_ns() - t0) / 1000);
	res.n_interfaces = 2;
	strscpy(res.interfaces[0].name, host, sizeof(res.interfaces[0].name));
	strscpy(res.interfaces[1].name, p->env.ifname, sizeof(res.interfaces[1].name));
	if (strscpy(res.interfaces[1].sandbox, p->env.netns, sizeof(res.interfaces[1].sandbox)) < 0)
		res.interfaces[1].sandbox[0] = '\0';
	res.dns = p->conf.dns && json_object_size(p->conf.dns) > 0 ? json_incref(p->conf.dns)
								     : TAKE_PTR(ipam.dns);
	*result = cni_result_encode(&res, p->out_version);
	cni_result_clear(&res);
	cni_result_clear(&ipam);
	if (!*result)
		return cni_fail(err, ENOMEM, CNI_ERR_INTERNAL, "out of memory");
	return 0;

fail:
	/* Deleting one end of a veth deletes the other and the host routes. */
	if (created && link_delete(sk, host) < 0)
		log_warn("container %s: cannot remove %s after a failed ADD", p->env.container_id,
			 host);
	ipam_release_quietly(p);
	cni_result_clear(&res);
	cni_result_clear(&ipam);
	return r;
}

/* ---- DEL ---- */

/* Removes the host veth and with it the pod side, their addresses and
 * routes. The kernel frees all of that at once and then spends tens of
 * milliseconds (more on a busy machine) in RCU waits: a detached child
 * waits those out, DEL returns when both names are free. Falls back to
 * deleting here. */
static int host_veth_remove(struct nl_sock *sk, const char *host, const char *netns,
			    const char *ifname)
{
	_cleanup_close_ int nsfd = netns && netns[0] ? netns_open(netns) : -ENOENT;
	unsigned long long t0 = now_ns();
	int ifindex, peer, r;

	r = link_veth_peer(sk, host, &ifindex, &peer);
	if (r < 0)
		return r;
	r = link_delete_detached(ifindex, nsfd, peer, ifname);
	log_debug("DEL: %s and %s unlisted after %llu us (%s)", host, ifname,
		  (now_ns() - t0) / 1000, r < 0 ? strerror(-r) : "ok");
	if (r == 0)
		return 0;
	r = link_delete_ifindex(sk, ifindex);
	return r == -ENODEV ? 0 : r;
}

int cni_plugin_del_link(const struct cni_env *env, struct cni_error *err)
{
	_cleanup_sock_ struct nl_sock *sk = NULL;
	unsigned long long t0 = now_ns();
	char host[16];
	int r;

	cni_host_ifname(env->container_id, env->ifname, host);
	r = link_socket_open(&sk);
	if (r == 0)
		r = host_veth_remove(sk, host, env->netns, env->ifname);
	log_debug("DEL %s: host veth %s handled in %llu us (%s)", env->container_id, host,
		  (now_ns() - t0) / 1000, r == -ENODEV ? "absent" : r < 0 ? strerror(-r) : "removing");
	if (r < 0 && r != -ENODEV)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "deleting host veth %s: %s", host,
				strerror(-r));
	return 0;
}

int cni_plugin_del(struct cni_plugin *p, struct cni_error *err)
{
	struct cni_error link_err = { 0 };
	unsigned long long t0;
	int r, rl;

	rl = cni_plugin_del_link(&p->env, &link_err);
	/* Always release the addresses, even when the link could not go. */
	t0 = now_ns();
	r = ipam_run(p, CNI_CMD_DEL, err);
	log_debug("DEL %s: IPAM %s took %llu us", p->env.container_id, p->conf.ipam_type,
		  (now_ns() - t0) / 1000);
	if (r < 0 && err && err->code == CNI_ERR_INVALID_CONFIG && rl == 0) {
		/* DEL is best effort: an IPAM config broken after ADD must not
		 * keep the runtime from removing the pod forever. */
		log_warn("DEL container %s: IPAM config invalid (%s); host veth removed, "
			 "addresses (if any) stay until GC", p->env.container_id, err->msg);
		return 0;
	}
	if (r < 0)
		return r;
	if (rl < 0) {
		if (err)
			*err = link_err;
		return rl;
	}
	return 0;
}

/* ---- CHECK ---- */

static int check_pod_in_ns(struct nl_sock *sk, const struct cni_plugin *p,
			   const struct cni_result *prev, int idx, const struct families *f,
			   struct cni_error *err)
{
	struct ipcidr gws[2];
	const char *ifname = p->env.ifname, *ns = p->env.netns;
	char buf[64], gbuf[64], mac[18];
	int ifindex = link_ifindex(sk, ifname), mtu = 0, r;
	bool up = false;

	if (ifindex < 0)
		return cni_fail(err, ENOENT, CNI_ERR_INTERNAL, "interface %s not found in netns %s",
				ifname, ns);
	r = link_info(sk, ifindex, mac, &mtu, &up);
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "reading %s: %s", ifname, strerror(-r));
	if (!up)
		return cni_fail(err, ENETDOWN, CNI_ERR_INTERNAL, "interface %s in netns %s is down",
				ifname, ns);
	if (p->conf.mtu > 0 && mtu != p->conf.mtu)
		return cni_fail(err, EINVAL, CNI_ERR_INTERNAL,
				"interface %s in netns %s has mtu %d, config says %d", ifname, ns,
				mtu, p->conf.mtu);
	if (prev->interfaces[idx].mac[0] && strcasecmp(prev->interfaces[idx].mac, mac) != 0)
		return cni_fail(err, EINVAL, CNI_ERR_INTERNAL,
				"interface %s in netns %s has mac %s, prevResult says %s", ifname, ns,
				mac, prev->interfaces[idx].mac);
	for (int i = 0; i < prev->n_ips; i++) {
		if (prev->ips[i].interface != idx)
			continue;
		if (link_addr_find(sk, ifindex, &prev->ips[i].address) < 0)
			return cni_fail(err, ENOENT, CNI_ERR_INTERNAL,
					"address %s missing on %s in netns %s",
					ipcidr_str(&prev->ips[i].address, buf, sizeof(buf)),
					ifname, ns);
	}
	for (int i = 0, n = gateway_hosts(f, gws); i < n; i++) {
		const struct ipcidr *a = &gws[i];

		if (link_route_find(sk, ifindex, a, NULL) < 0)
			return cni_fail(err, ENOENT, CNI_ERR_INTERNAL,
					"route %s dev %s missing in netns %s",
					ipcidr_str(a, buf, sizeof(buf)), ifname, ns);
	}
	for (int i = 0; i < prev->n_routes; i++) {
		const struct cni_route *rt = &prev->routes[i];
		const struct ipaddr *gw = rt->has_gw ? &rt->gw
					    : rt->dst.addr.family == AF_INET ? f->gw4 : f->gw6;

		if (link_route_find(sk, ifindex, &rt->dst, gw) < 0)
			return cni_fail(err, ENOENT, CNI_ERR_INTERNAL,
					"route %s%s%s dev %s missing in netns %s",
					ipcidr_str(&rt->dst, buf, sizeof(buf)), gw ? " via " : "",
					gw ? ipaddr_str(gw, gbuf, sizeof(gbuf)) : "", ifname, ns);
	}
	return 0;
}

static int check_host(struct nl_sock *sk, const struct cni_plugin *p,
		      const struct cni_result *prev, int idx, const struct families *f,
		      struct cni_error *err)
{
	struct ipcidr gws[2];
	char host[16], buf[64], mac[18];
	int ifindex;
	bool up = false;

	cni_host_ifname(p->env.container_id, p->env.ifname, host);
	ifindex = link_ifindex(sk, host);
	if (ifindex < 0)
		return cni_fail(err, ENOENT, CNI_ERR_INTERNAL, "host veth %s not found", host);
	if (link_info(sk, ifindex, mac, NULL, &up) < 0 || !up)
		return cni_fail(err, ENETDOWN, CNI_ERR_INTERNAL, "host veth %s is down", host);
	for (int i = 0, n = gateway_hosts(f, gws); i < n; i++) {
		const struct ipcidr *a = &gws[i];

		if (link_addr_find(sk, ifindex, a) < 0)
			return cni_fail(err, ENOENT, CNI_ERR_INTERNAL,
					"gateway address %s missing on host veth %s",
					ipcidr_str(a, buf, sizeof(buf)), host);
	}
	for (int i = 0; i < prev->n_ips; i++) {
		struct ipcidr a = ipcidr_host(&prev->ips[i].address.addr);

		if (prev->ips[i].interface != idx)
			continue;
		if (link_route_find(sk, ifindex, &a, NULL) < 0)
			return cni_fail(err, ENOENT, CNI_ERR_INTERNAL,
					"host route %s dev %s missing",
					ipcidr_str(&a, buf, sizeof(buf)), host);
	}
	return 0;
}

int cni_plugin_check(struct cni_plugin *p, struct cni_error *err)
{
	_cleanup_sock_ struct nl_sock *sk = NULL, *psk = NULL;
	_cleanup_close_ int nsfd = -1;
	struct cni_result prev = { 0 };
	struct families f = { 0 };
	int idx = -1, saved = -1, r, r2;

	if (!p->conf.prev_result)
		return cni_fail(err, EINVAL, CNI_ERR_INVALID_CONFIG,
				"prevResult: required field missing for CHECK");
	r = cni_result_decode(p->conf.prev_result, &prev, err);
	if (r < 0) {
		if (err)
			snprintf(err->details, sizeof(err->details), "in prevResult");
		return r;
	}
	for (int i = 0; i < prev.n_interfaces; i++)
		if (streq(prev.interfaces[i].name, p->env.ifname) &&
		    (!prev.interfaces[i].sandbox[0] ||
		     streq(prev.interfaces[i].sandbox, p->env.netns)))
			idx = i;
	if (idx < 0) {
		r = cni_fail(err, ENOENT, CNI_ERR_INVALID_CONFIG,
			     "prevResult.interfaces: no interface %s in sandbox %s", p->env.ifname,
			     p->env.netns);
		goto out;
	}
	for (int i = 0; i < prev.n_ips; i++) {
		const struct ipaddr **gw =
			prev.ips[i].address.addr.family == AF_INET ? &f.gw4 : &f.gw6;

		if (prev.ips[i].interface == idx && prev.ips[i].has_gateway)
			*gw = &prev.ips[i].gateway;
	}

	nsfd = open_netns(p, err);
	if (nsfd < 0) {
		r = nsfd;
		goto out;
	}
	r = netns_enter(nsfd, &saved);
	if (r < 0) {
		r = cni_fail(err, -r, CNI_ERR_INTERNAL, "entering netns %s: %s", p->env.netns,
			     strerror(-r));
		goto out;
	}
	r = link_socket_open(&psk);
	r2 = netns_leave(saved);
	if (r < 0 || r2 < 0) {
		r = cni_fail(err, r < 0 ? -r : -r2, CNI_ERR_INTERNAL, "netlink socket in netns %s",
			     p->env.netns);
		goto out;
	}
	r = check_pod_in_ns(psk, p, &prev, idx, &f, err);
	if (r < 0)
		goto out;
	r = link_socket_open(&sk);
	if (r < 0) {
		r = cni_fail(err, -r, CNI_ERR_INTERNAL, "netlink socket: %s", strerror(-r));
		goto out;
	}
	r = check_host(sk, p, &prev, idx, &f, err);
	if (r < 0)
		goto out;
	r = ipam_run(p, CNI_CMD_CHECK, err);
out:
	cni_result_clear(&prev);
	return r;
}

/* ---- GC ---- */

struct gc_walk {
	struct cni_plugin *p;
	struct nl_sock *sk;
	int deleted;
};

static bool attachment_valid(json_t *valid, const char *container_id, const char *ifname)
{
	size_t i;
	json_t *a;

	json_array_foreach(valid, i, a) {
		if (streq(json_string_value(json_object_get(a, "containerID")), container_id) &&
		    streq(json_string_value(json_object_get(a, "ifname")), ifname))
			return true;
	}
	return false;
}

static int gc_link(const char *name, const char *alias, void *data)
{
	struct gc_walk *w = data;
	char copy[256], derived[16];
	const char *net, *id, *ifname;
	bool retired;
	int r;

	if (strscpy(copy, alias, sizeof(copy)) < 0 ||
	    cni_host_alias_parse(copy, &net, &id, &ifname) < 0)
		return 0; /* not made by skiff-cni */
	if (!streq(net, w->p->conf.name))
		return 0; /* another network's */
	cni_host_ifname(id, ifname, derived);
	/* A retired one is a DEL whose removal did not finish: always stale. */
	retired = !strncmp(name, CNI_RETIRED_PREFIX, strlen(CNI_RETIRED_PREFIX));
	if (!retired &&
	    (!streq(derived, name) || attachment_valid(w->p->conf.valid_attachments, id, ifname)))
		return 0;
	r = link_delete(w->sk, name);
	if (r < 0 && r != -ENODEV)
		log_warn("GC: cannot delete %s (container %s ifname %s): %s", name, id, ifname,
			 strerror(-r));
	else
		w->deleted++;
	return 0;
}

int cni_plugin_gc(struct cni_plugin *p, struct cni_error *err)
{
	_cleanup_sock_ struct nl_sock *sk = NULL;
	struct gc_walk w = { .p = p };
	int r;

	r = link_socket_open(&sk);
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "netlink socket: %s", strerror(-r));
	w.sk = sk;
	r = link_veth_foreach(sk, CNI_HOST_PREFIX, gc_link, &w);
	if (r >= 0)
		r = link_veth_foreach(sk, CNI_RETIRED_PREFIX, gc_link, &w);
	if (r < 0)
		return cni_fail(err, -r, CNI_ERR_INTERNAL, "listing host veths: %s", strerror(-r));
	if (w.deleted > 0)
		log_info("network %s: GC removed %d stale host veth(s)", p->conf.name, w.deleted);
	return ipam_run_gc(p, err);
}

/* ---- STATUS ---- */

int cni_plugin_status(struct cni_plugin *p, struct cni_error *err)
{
	return ipam_run(p, CNI_CMD_STATUS, err);
}
