/* Leader election through a coordination.k8s.io Lease, as client-go's
 * leaderelection with a LeaseLock: with several skiff-servers on one
 * store, one runs the controllers (Lease kube-system/kube-controller-manager)
 * and one the scheduler (kube-system/kube-scheduler).
 *
 *   struct ctrl_leader *l;
 *   ctrl_leader_new(cfg, &(struct ctrl_leader_opts){ .name = "kube-scheduler" }, &l);
 *   ctrl_leader_start(l);               // its own thread and API client
 *   poll(ctrl_leader_fd(l)) ... if (ctrl_leader_leading(l)) run the loops
 *
 * The rules (upstream's, but one): a candidate tries every retry period
 * (2 s, jittered); it takes the Lease when it is free or when the holder's
 * record has not changed for leaseDurationSeconds (15) as this candidate
 * observed it (its own clock), or - skiff's addition, so a dead leader is
 * replaced within 15 s and not up to 15 s + two polls - when the record
 * is unchanged since the previous read and its renewTime is more than
 * leaseDurationSeconds old by this server's wall clock (the candidate
 * wakes at that moment). That trusts the servers' clocks to agree within
 * the 5 s between the renew deadline and the lease duration, as node
 * lifecycle already does. The winner writes
 * holderIdentity "<hostname>_<uuid>", acquireTime, renewTime and
 * leaseTransitions + 1 with the resourceVersion as the precondition, so
 * two candidates never both win. The leader renews every retry period;
 * when no renewal succeeded for the renew deadline (10 s; each request
 * times out within the retry period) it stops leading at once, which is
 * before any other candidate may take over (15 s). Leading changes are
 * signalled on ctrl_leader_fd. On ctrl_leader_free a leader gives the
 * Lease up (holder cleared, duration 1 s), as ReleaseOnCancel does, so a
 * clean restart fails over at once.
 *
 * Without election (opts->disabled) the caller leads from start on. */
#ifndef SKIFF_CTRL_LEADER_H
#define SKIFF_CTRL_LEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/kube_config.h"

#define CTRL_LEASE_DURATION_S 15
#define CTRL_RENEW_DEADLINE_MS 10000
#define CTRL_RETRY_PERIOD_MS 2000

struct ctrl_leader_opts {
	const char *namespace; /* default "kube-system" */
	const char *name;      /* the Lease: "kube-controller-manager", "kube-scheduler" */
	const char *identity;  /* default "<hostname>_<random uuid>" */
	int lease_duration_s;  /* default CTRL_LEASE_DURATION_S */
	int renew_deadline_ms; /* default CTRL_RENEW_DEADLINE_MS */
	int retry_period_ms;   /* default CTRL_RETRY_PERIOD_MS */
	bool disabled;         /* no election: leading at once */
};

struct ctrl_leader;

/* Makes the elector's own API client from cfg (used by its thread only). */
int ctrl_leader_new(const struct kc_config *cfg, const struct ctrl_leader_opts *o,
		    struct ctrl_leader **out);
int ctrl_leader_start(struct ctrl_leader *l);
/* Stops the thread, giving the Lease up when leading. NULL-safe. */
void ctrl_leader_free(struct ctrl_leader *l);

bool ctrl_leader_leading(const struct ctrl_leader *l);
/* A new "<hostname>_<random uuid>", the identity of one process. */
void ctrl_leader_identity_new(char *buf, size_t size);
/* An eventfd, readable after each change of leading (read it to clear). */
int ctrl_leader_fd(const struct ctrl_leader *l);
const char *ctrl_leader_identity(const struct ctrl_leader *l);

#endif
