/* Handing out the blocks of one size inside a CIDR, lowest free first: the
 * /24s of a cluster CIDR for node IPAM, the single addresses of an
 * --lb-cidr pool for LoadBalancer IPs. A bitmap; pure memory, rebuilt by
 * the caller from the objects that hold blocks (ipalloc_take).
 *
 *   struct ipalloc a;
 *   ipalloc_init(&a, &cluster, 24);
 *   ipalloc_take(&a, &node_cidr);      // already held by a node
 *   ipalloc_next(&a, &fresh);          // -ENOSPC when all are held
 *   ipalloc_free(&a);
 */
#ifndef SKIFF_CTRL_IPALLOC_H
#define SKIFF_CTRL_IPALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/inet.h"

/* At most this many blocks are handed out of one CIDR (the first ones). */
#define IPALLOC_MAX_BLOCKS (1u << 20)

struct ipalloc {
	struct ipcidr net;
	uint8_t len; /* block prefix length */
	uint32_t n;  /* blocks */
	uint32_t low; /* no free block below it */
	uint8_t *used;
};

/* -EINVAL when len is shorter than net's prefix or longer than the
 * family's; -ENOMEM. */
int ipalloc_init(struct ipalloc *a, const struct ipcidr *net, uint8_t len);
void ipalloc_free(struct ipalloc *a);
/* Marks block b held: -EINVAL unless it is one of a's blocks (same
 * family, prefix length len, inside net), -EEXIST when held already. */
int ipalloc_take(struct ipalloc *a, const struct ipcidr *b);
/* The lowest free block, now held; -ENOSPC when none is free. */
int ipalloc_next(struct ipalloc *a, struct ipcidr *out);

#endif
