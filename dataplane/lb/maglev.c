#include "dataplane/lb/maglev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

static uint64_t maglev_hash(const uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

int lb_maglev_fill(const struct lb_maglev_backend *be, size_t n, uint32_t *table,
		   size_t m)
{
	_cleanup_free_ uint32_t *offset = NULL, *skip = NULL, *next = NULL;
	_cleanup_free_ uint8_t *taken = NULL;
	size_t i, filled = 0;

	if (!be || !table || n == 0 || m < 3)
		return -EINVAL;
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	taken = calloc(m, 1);
	if (!offset || !skip || !next || !taken)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		offset[i] = maglev_hash(be[i].name, be[i].name_len, 0x5eed1) % m;
		skip[i] = maglev_hash(be[i].name, be[i].name_len, 0x5eed2) % (m - 1) + 1;
	}
	for (;;) {
		for (i = 0; i < n; i++) {
			uint64_t c;

			do {
				c = (offset[i] + (uint64_t)next[i] * skip[i]) % m;
				next[i]++;
			} while (taken[c]);
			taken[c] = 1;
			table[c] = be[i].id;
			if (++filled == m)
				return 0;
		}
	}
}
