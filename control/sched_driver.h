/* The scheduler's driver: informers in, bindings out, around the pure
 * core of control/sched.h. Nodes and every pod are watched through the
 * process's shared informers (control/ctrl_hub.h; their events reach the
 * scheduler's thread through a queue of its own): unscheduled
 * pods go to the queue, bound ones into the snapshot; a pod's priority is
 * its spec.priority, which the API server resolves from its
 * priorityClassName at admission (as upstream's Priority plugin). Each
 * popped pod runs sched_cycle; its pods/binding create is
 * sent asynchronously, several at once (parallel_binds), and answered
 * into sched_bind_done; the Scheduled Event follows a successful binding.
 * FailedScheduling Events (aggregated by the recorder), the
 * PodScheduled=False status patch (with nominatedNodeName after a
 * preemption), a preemption's victim deletes and their Preempted Events
 * are written as sched_cycle plans them (PodDisruptionBudgets are watched
 * for its choice of victims).
 * Node changes, and placed pods that leave or change labels, move the
 * unschedulable pods back to the queue; assumed pods whose binding is not
 * seen in time are forgotten every second. */
#ifndef SKIFF_SCHED_DRIVER_H
#define SKIFF_SCHED_DRIVER_H

#include <stdbool.h>

#include "lib/kube_config.h"

struct ctrl_hub;
struct prom_registry;

/* Bindings in flight by default: enough that the binding round trips
 * (tens of ms on a busy server) keep pace with a burst of creates;
 * kube-scheduler binds each pod in a goroutine of its own, bounded only by
 * its client's QPS. */
#define SCHED_PARALLEL_BINDS 64

struct sched_driver_opts {
	int parallel_binds;          /* bindings in flight; 0: SCHED_PARALLEL_BINDS */
	int stop_fd;                 /* readable: stop */
	int leader_fd;               /* readable when leading changes */
	bool (*leading)(void *ud);   /* the loop runs while this holds */
	void *ud;
	struct ctrl_hub *hub;        /* the shared informers, started */
	/* Optional: kube-scheduler's scheduler_schedule_attempts_total and
	 * scheduler_scheduling_attempt_duration_seconds{result,profile}. */
	struct prom_registry *metrics;
};

/* Runs the scheduler until stop_fd turns readable or leading() turns
 * false. 0, or the error that kept it from starting. */
int sched_driver_run(const struct kc_config *cfg, const struct sched_driver_opts *o);

#endif
