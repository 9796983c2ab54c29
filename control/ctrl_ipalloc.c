/* Blocks of a CIDR, lowest free first: see ctrl_ipalloc.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_ipalloc.h"

static uint8_t family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

int ipalloc_init(struct ipalloc *a, const struct ipcidr *net, uint8_t len)
{
	uint8_t diff;

	if (len < net->len || len > family_bits(net->addr.family))
		return -EINVAL;
	diff = len - net->len;
	memset(a, 0, sizeof(*a));
	a->net = *net;
	a->len = len;
	a->n = diff >= 20 ? IPALLOC_MAX_BLOCKS : 1u << diff;
	a->used = calloc((a->n + 7) / 8, 1);
	return a->used ? 0 : -ENOMEM;
}

void ipalloc_free(struct ipalloc *a)
{
	free(a->used);
	a->used = NULL;
}

/* The address bit at position pos (0 = most significant). */
static bool bit_get(const struct ipaddr *x, unsigned pos)
{
	return x->bytes[pos / 8] & (0x80 >> (pos % 8));
}

static void bit_set(struct ipaddr *x, unsigned pos, bool v)
{
	if (v)
		x->bytes[pos / 8] |= 0x80 >> (pos % 8);
	else
		x->bytes[pos / 8] &= ~(0x80 >> (pos % 8));
}

int ipalloc_take(struct ipalloc *a, const struct ipcidr *b)
{
	uint64_t i = 0;

	if (b->len != a->len || !ipcidr_contains(&a->net, &b->addr))
		return -EINVAL;
	for (unsigned pos = a->net.len; pos < a->len; pos++) {
		i = i << 1 | bit_get(&b->addr, pos);
		if (i >= a->n)
			return -EINVAL;
	}
	if (a->used[i / 8] & (1u << (i % 8)))
		return -EEXIST;
	a->used[i / 8] |= 1u << (i % 8);
	return 0;
}

int ipalloc_next(struct ipalloc *a, struct ipcidr *out)
{
	for (uint32_t i = a->low; i < a->n; i++) {
		if (a->used[i / 8] == 0xff && i % 8 == 0) {
			i += 7;
			continue;
		}
		if (a->used[i / 8] & (1u << (i % 8)))
			continue;
		a->low = i + 1;
		a->used[i / 8] |= 1u << (i % 8);
		*out = (struct ipcidr){ .addr = a->net.addr, .len = a->len };
		for (unsigned k = 0; k < (unsigned)(a->len - a->net.len); k++)
			bit_set(&out->addr, a->len - 1 - k, k < 32 && ((i >> k) & 1));
		return 0;
	}
	a->low = a->n;
	return -ENOSPC;
}
