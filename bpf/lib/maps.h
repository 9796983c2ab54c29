/* The load balancer's maps: BTF-typed, pinned by name under the bpffs
 * folder the loader gives as pin_root_path. Capacities here are defaults;
 * the loader sets them (or the pinned maps' own) before load. */
#ifndef SKIFF_BPF_LIB_MAPS_H
#define SKIFF_BPF_LIB_MAPS_H

#include "skiff_bpf.h"
#include "lb.h"
#include "lib/drop.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_fe_key);
	__type(value, struct lb_fe_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_frontends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_ip_key);
	__type(value, struct lb_ip_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_svc_ips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_ip_key);
	__type(value, struct lb_node_ip_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_node_ips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 524288);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_slot_key);
	__type(value, struct lb_slot_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 524288);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_member_key);
	__type(value, struct lb_member_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_members SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_be_key);
	__type(value, struct lb_be_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_maglev_key);
	__type(value, struct lb_maglev_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct lb_aff_key);
	__type(value, struct lb_aff_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct lb_revnat_key);
	__type(value, struct lb_revnat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_sock_revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_id_key);
	__type(value, struct lb_stats_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_fe_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_id_key);
	__type(value, struct lb_stats_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_be_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lb_id_key);
	__type(value, struct lb_name_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct lb_ct_key);
	__type(value, struct lb_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_DROP_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} lb_drops SEC(".maps");

/* The one place a drop reason becomes a counter (lb_drops[reason]). */
static __always_inline int lb_drop(int reason)
{
	__u32 k = (__u32)-reason;
	__u64 *c;

	c = bpf_map_lookup_elem(&lb_drops, &k);
	if (c)
		*c += 1;
	return reason;
}

#endif
