/* The one header every skiff BPF program includes first: the running
 * kernel's types (vmlinux.h, generated from BTF at build time), libbpf's
 * helpers, and the few constants that vmlinux.h cannot carry because they
 * are preprocessor macros in the kernel. */
#ifndef SKIFF_BPF_H
#define SKIFF_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef SOCK_DGRAM
#define SOCK_DGRAM 2
#endif
#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif
#ifndef EPERM
#define EPERM 1
#endif

#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_ALEN
#define ETH_ALEN 6
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#ifndef ETH_HLEN
#define ETH_HLEN 14
#endif
#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7
#endif

/* cgroup sock_addr verdicts */
#define SK_VERDICT_REJECT 0
#define SK_VERDICT_PASS 1

/* kfuncs (declared in the kernel, not in vmlinux.h's types) */
extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

#endif
