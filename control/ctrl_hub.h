/* The process's shared informers (client-go's SharedInformerFactory):
 * one list + watch and one cache per resource for the controller manager
 * and the scheduler of skiff-server alike, so that a pod event is received
 * and parsed once, not once per loop.
 *
 *   struct ctrl_hub *h;
 *   ctrl_hub_new(resources, n, stop_fd, &h);       // nothing watched yet
 *   ctrl_hub_start(h, kc);                          // first user: list + watch
 *   pthread_rwlock_wrlock(ctrl_hub_lock(h));
 *   ctrl_hub_subscribe(h, "pods", &handlers);       // the cached pods replayed as adds
 *   pthread_rwlock_unlock(ctrl_hub_lock(h));
 *   ...
 *   ctrl_hub_unsubscribe(h, handlers.ud);           // lock held for writing
 *   ctrl_hub_free(h);                               // after every user is gone
 *
 * Threads: the informers run on a thread of their own ("informers"),
 * which changes the caches and calls the subscribers' handlers with
 * ctrl_hub_lock held for writing; a subscriber reads the caches with it
 * held for reading, and (un)subscribes, adds indexes and reads synced
 * with it held. Started by the first loop that leads (a server that never
 * leads watches nothing); it then runs until the process stops, across
 * the loops' terms, with the first starter's credentials. */
#ifndef SKIFF_CTRL_HUB_H
#define SKIFF_CTRL_HUB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/kube_config.h"
#include "lib/kube_informer.h"

struct ctrl_hub;

/* The resources (their kc_resource_find names, borrowed: static
 * strings) every user may ask for; duplicates are ignored. */
int ctrl_hub_new(const char *const *resources, size_t n, int stop_fd, struct ctrl_hub **out);
/* Stops the thread, frees the informers. NULL-safe. */
void ctrl_hub_free(struct ctrl_hub *h);

/* Once: a client on kc, an informer per resource the API serves (one it
 * does not serve is known without one: its users see it empty), and the
 * thread. Later calls return 0 at once; a failed start is tried again. */
int ctrl_hub_start(struct ctrl_hub *h, const struct kc_config *kc);

pthread_rwlock_t *ctrl_hub_lock(struct ctrl_hub *h);
/* The informer of resource, NULL when it is not one of the hub's or the
 * API does not serve it. Valid until ctrl_hub_free. */
struct kc_informer *ctrl_hub_informer(struct ctrl_hub *h, const char *resource);

/* Handlers for resource's events (the lock held for writing); the objects
 * cached already are offered to add at once, as client-go does for a
 * handler added late. -ENOENT: not one of the hub's resources. */
int ctrl_hub_subscribe(struct ctrl_hub *h, const char *resource,
		       const struct kc_informer_handlers *hd);
/* Removes every handler set whose ud is ud (the lock held for writing). */
void ctrl_hub_unsubscribe(struct ctrl_hub *h, const void *ud);

#endif
