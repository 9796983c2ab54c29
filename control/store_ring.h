/* The watch window that both store backends share: the store's recent
 * events, in revision order, that watches resume from, and the wake-up of
 * the watches waiting for more.
 *
 * The window holds every event of the store (all keys) with a revision in
 * (base, last]. A backend feeds it: SQLite's writer right after its
 * commit, or the watcher whose turn it is to poll for other processes'
 * writes; etcd's hub thread from its one Watch stream. Each watch takes
 * the events after its cursor that match its prefix.
 *
 * Too old: a watch whose cursor is older than the window (it fell behind,
 * or asked for old history) is the backend's to serve from its history
 * (SQLite's log table, an etcd stream of the watch's own). That history
 * ends at the compaction: a cursor below it is gone, -ERANGE (the API's
 * 410 Gone). The window answers -ERANGE itself for a cursor below both
 * the window and a compaction it has been told of; a cursor the window
 * still covers is served from it, compacted or not (as etcd serves a
 * watch that kept up).
 *
 * Locking: one mutex guards the window; backends keep their feed's state
 * under it too. Waiting watches sleep on one condition variable
 * (CLOCK_MONOTONIC), broadcast by store_ring_publish_locked. A woken
 * watch takes its events under the lock it woke with, so 1,000 watches
 * woken at once queue for the lock once each, not twice. */
#ifndef SKIFF_STORE_RING_H
#define SKIFF_STORE_RING_H

#include <pthread.h>

#include "control/store.h"

#define STORE_RING_EVENTS 4096 /* the window's default size, in events */
#define STORE_RING_BATCH 1024  /* events handed to one watch per take */
#define STORE_RING_BEHIND 1    /* collect: the cursor is older than the window */

struct store_ring {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct store_event *ev; /* cap slots, the oldest at head */
	size_t cap, head, len;
	int64_t base;      /* the window holds every event after base ... */
	int64_t last;      /* ... up to last */
	int64_t compacted; /* the newest compaction the backend reported */
	size_t watchers;   /* watches reading the window */
};

/* Where a watch is in the store's events: the keys it watches, and the
 * revision up to which it has been given every matching event. */
struct store_ring_cursor {
	char *prefix;
	size_t prefix_len;
	int64_t revision;
};

int store_ring_cursor_init(struct store_ring_cursor *c, const char *prefix, int64_t revision);
void store_ring_cursor_clear(struct store_ring_cursor *c);

int store_ring_init(struct store_ring *r);
void store_ring_destroy(struct store_ring *r);

/* The rest is called with r->lock held. */

/* A window of cap events; -EBUSY while watches read it. */
int store_ring_resize_locked(struct store_ring *r, size_t cap);
/* Empties the window; it holds everything after revision (nothing yet). */
void store_ring_reset_locked(struct store_ring *r, int64_t revision);
/* Moves ev (newer than every event held) into the window; the oldest
 * event falls out when it is full. */
void store_ring_push_locked(struct store_ring *r, struct store_event *ev);
/* The window is complete up to last (every event up to it pushed): wakes
 * the waiting watches. */
void store_ring_publish_locked(struct store_ring *r, int64_t last);
/* History at and below revision is gone. */
void store_ring_compacted_locked(struct store_ring *r, int64_t revision);
/* Copies up to STORE_RING_BATCH events after the cursor whose key has its
 * prefix (more when the batch would split one revision) into a new array,
 * and moves the cursor past what was looked at. 0 (with *n possibly 0),
 * STORE_RING_BEHIND when the cursor is older than the window, -ERANGE when
 * it is also compacted, or -ENOMEM. */
int store_ring_collect_locked(struct store_ring *r, struct store_ring_cursor *c,
			      struct store_event **evs, size_t *n);
/* Sleeps until woken or until the monotonic time until_ns. */
void store_ring_wait_locked(struct store_ring *r, unsigned long long until_ns);

#endif
