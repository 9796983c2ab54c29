/* Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table
 * of m entries (m prime) in which each backend owns about m/n entries, and
 * which changes little when one backend comes or goes. */
#ifndef SKIFF_LB_MAGLEV_H
#define SKIFF_LB_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

/* The stable identity of a backend that its permutation is derived from
 * (address and port bytes), so every node computes the same table. */
struct lb_maglev_backend {
	const uint8_t *name;
	size_t name_len;
	uint32_t id; /* what the table entries hold */
};

/* Fills table[0..m) with backend ids; m must be prime and n >= 1.
 * -EINVAL on bad arguments, -ENOMEM. */
int lb_maglev_fill(const struct lb_maglev_backend *be, size_t n, uint32_t *table,
		   size_t m);

#endif
