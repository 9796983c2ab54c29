/* The lease store of skiff-ipam: one SQLite database per network,
 * <dataDir>/<network>/leases.db.
 *
 * Why SQLite and not host-local's one file per lease:
 *  - speed: a lease is a row in a table keyed by the address (a 4 or 16
 *    byte big-endian BLOB, so memcmp order is numeric order) with an index
 *    on the owner (container id, ifname). ADD reads the owner's rows, reads
 *    the last reserved address of the range set and walks ONE ordered index
 *    range scan from there to the first gap; DEL deletes by the owner index.
 *    Neither lists a directory or opens a file per lease.
 *  - crash safety: every operation is one transaction in a WAL journal.
 *    A process killed (SIGKILL) mid-transaction leaves uncommitted WAL
 *    frames that the next opener ignores, so a half-done dual-stack ADD
 *    never exists. The address is the PRIMARY KEY, so even a logic error
 *    cannot hand one address out twice: the insert fails instead.
 *    synchronous=NORMAL: a commit reaches the kernel before ADD returns, so
 *    it survives any crash of the plugin or the runtime; only a power loss
 *    or kernel crash can forget the last commits, and those also end every
 *    veth and netns the leases describe (the store stays consistent, never
 *    corrupt, and GC reconciles it with the runtime's attachments). Paying
 *    an fsync per ADD for state that does not outlive a reboot more than
 *    doubled ADD+DEL latency on this VM's disk.
 *  - locking: every user holds a flock() of <dir>/lock from open to close
 *    (the kernel wakes the next waiter at once, and frees the lock of a
 *    killed holder), and BEGIN IMMEDIATE takes SQLite's write lock before
 *    the first read of a transaction, so ADDs from many processes run one
 *    after the other and never decide on a stale view. Since the flock
 *    already serializes them, SQLite runs in exclusive locking mode: the
 *    WAL index lives in the connection's heap, and no -shm file is
 *    created, truncated, mapped and locked at every open.
 *  - cost: no fsync per ADD or DEL (the WAL file is kept between runs and
 *    trimmed when it grows); about 0.6 ms in-process, flat in the number
 *    of leases.
 *
 * All functions return 0 (or a count) on success and a negative errno on
 * failure; none prints. */
#ifndef SKIFF_IPAM_STORE_H
#define SKIFF_IPAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni/cni.h"

struct ipam_store;

/* A lease as stored; ip holds len (4 or 16) bytes. */
struct ipam_lease {
	struct ipaddr ip;
	int rset;
	char container_id[256];
	char ifname[16];
};

/* An attachment to keep on GC. */
struct ipam_attachment {
	const char *container_id;
	const char *ifname;
};

/* Opens (creating dir and schema as needed) the store in dir. On failure
 * errmsg (if not NULL) gets SQLite's or the system's words. */
int ipam_store_open(const char *dir, struct ipam_store **out, char *errmsg, size_t errsize);
void ipam_store_close(struct ipam_store *s);
static inline void ipam_store_closep(struct ipam_store **s)
{
	ipam_store_close(*s);
}
/* The last SQLite error text of the store. */
const char *ipam_store_errmsg(struct ipam_store *s);

/* BEGIN IMMEDIATE: holds the write lock until commit or rollback. */
int ipam_store_begin(struct ipam_store *s);
int ipam_store_commit(struct ipam_store *s);
void ipam_store_rollback(struct ipam_store *s);

/* The attachment's leases, at most max; returns their number. */
int ipam_store_owner_leases(struct ipam_store *s, const char *container_id, const char *ifname,
			    struct ipam_lease *out, int max);
/* 1 when ip is leased (owner copied into *owner if not NULL), 0 when free. */
int ipam_store_lookup(struct ipam_store *s, const struct ipaddr *ip, struct ipam_lease *owner);
/* The first address in [from, to] that is neither leased nor equal to skip
 * (may be NULL), with one ordered index scan starting at from. -ENOSPC when
 * there is none. */
int ipam_store_next_free(struct ipam_store *s, const struct ipaddr *from,
			 const struct ipaddr *to, const struct ipaddr *skip,
			 struct ipaddr *out);
/* Inserts a lease; -EEXIST when the address is taken. */
int ipam_store_insert(struct ipam_store *s, const struct ipaddr *ip, int rset,
		      const char *container_id, const char *ifname);
/* The last address handed out in range set rset; -ENOENT when none. */
int ipam_store_last_reserved(struct ipam_store *s, int rset, struct ipaddr *out);
int ipam_store_set_last_reserved(struct ipam_store *s, int rset, const struct ipaddr *ip);
/* Deletes the attachment's leases; returns how many. */
int ipam_store_release(struct ipam_store *s, const char *container_id, const char *ifname);
/* Deletes every lease whose attachment is not in keep[0..n); returns how
 * many. Runs in its own transaction. */
int ipam_store_gc(struct ipam_store *s, const struct ipam_attachment *keep, size_t n);

/* Big-endian address arithmetic on the first 4 (v4) or 16 (v6) bytes. */
/* a += 1; returns false on wrap past all-ones. */
bool ipam_addr_inc(struct ipaddr *a);
/* a -= 1; returns false on wrap below zero. */
bool ipam_addr_dec(struct ipaddr *a);

#endif
