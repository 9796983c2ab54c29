/* `skiff service NAME [-n NS]`: the URLs that reach a Service from this
 * machine, one a line, as `minikube service --url` prints them: its
 * LoadBalancer ingress IPs on each port, then each node's InternalIP on
 * each NodePort. A ClusterIP Service has none (the machine is no node). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmd/skiff.h"
#include "lib/json_path.h"
#include "lib/kube_client.h"
#include "lib/util.h"

static const char *scheme_of(json_t *port)
{
	const char *name = json_string_value(json_object_get(port, "name"));
	json_int_t n = json_integer_value(json_object_get(port, "port"));

	return n == 443 || streq(name, "https") ? "https" : "http";
}

/* Only TCP ports are URLs. */
static bool is_tcp(json_t *port)
{
	const char *proto = json_string_value(json_object_get(port, "protocol"));
	return !proto || streq(proto, "TCP");
}

/* The InternalIP of every node, into ips (at most max). */
static size_t node_ips(struct kc_client *c, const char **ips, size_t max, json_t **list)
{
	json_t *node, *a;
	size_t i, j, n = 0;

	if (kc_list(c, kc_resource_find("nodes"), NULL, NULL, list) < 0)
		return 0;
	json_array_foreach(json_object_get(*list, "items"), i, node)
		json_array_foreach(json_path_get(node, "status.addresses"), j, a)
			if (n < max && streq(json_string_value(json_object_get(a, "type")), "InternalIP"))
				ips[n++] = json_string_value(json_object_get(a, "address"));
	return n;
}

static int print_urls(struct kc_client *c, json_t *svc)
{
	const char *type = json_path_str(svc, "spec.type"), *ips[SKIFF_MAX_NODES * 2];
	json_t *ports = json_path_get(svc, "spec.ports"), *port, *ing, *nodes = NULL;
	size_t i, j, n_ips = 0;
	int urls = 0;

	json_array_foreach(json_path_get(svc, "status.loadBalancer.ingress"), i, ing) {
		const char *ip = json_string_value(json_object_get(ing, "ip"));
		json_array_foreach(ports, j, port)
			if (ip && is_tcp(port))
				urls += printf("%s://%s:%lld\n", scheme_of(port), ip,
					       (long long)json_integer_value(json_object_get(port, "port"))) > 0;
	}
	if (streq(type, "LoadBalancer") && !urls)
		fprintf(stderr, "skiff service: %s has no LoadBalancer IP yet (pending)\n",
			kc_meta_str(svc, "name"));
	if (streq(type, "NodePort") || streq(type, "LoadBalancer"))
		n_ips = node_ips(c, ips, ARRAY_SIZE(ips), &nodes);
	json_array_foreach(ports, j, port) {
		json_int_t np = json_integer_value(json_object_get(port, "nodePort"));
		for (i = 0; np && is_tcp(port) && i < n_ips; i++)
			urls += printf("%s://%s:%lld\n", scheme_of(port), ips[i], (long long)np) > 0;
	}
	json_decref(nodes);
	return urls;
}

int skiff_service(const struct skiff *s, const char *name, const char *ns)
{
	struct kc_client *c = skiff_client(s);
	json_t *svc = NULL;
	int r, urls = 0;

	if (!c) {
		fprintf(stderr, "skiff service: no cluster in %s (skiff up first)\n", s->data_dir);
		return 1;
	}
	r = kc_get(c, kc_resource_find("services"), ns, name, &svc);
	if (r == -ENOENT)
		fprintf(stderr, "skiff service: no Service %s in namespace %s\n", name, ns);
	else if (r < 0)
		fprintf(stderr, "skiff service: cannot read Service %s/%s: %s\n", ns, name, strerror(-r));
	else
		urls = print_urls(c, svc);
	if (r == 0 && !urls)
		fprintf(stderr, "skiff service: %s/%s (type %s) has no port reachable from this "
			"machine: expose it with --type=NodePort or --type=LoadBalancer\n", ns, name,
			json_path_str(svc, "spec.type") ?: "ClusterIP");
	json_decref(svc);
	kc_client_free(c);
	return urls ? 0 : 1;
}
