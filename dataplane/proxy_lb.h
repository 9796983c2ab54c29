/* Reconcile: brings the BPF datapath (dataplane/lb/lb.h) to a desired
 * state (proxy.h), touching only what changed.
 *
 *   proxy_lb_new(lb, cgroup, log_report, NULL, &p);
 *   proxy_lb_apply(p, next);   // takes next; sets changed frontends,
 *                              // deletes gone ones, ends sockets of
 *                              // removed backends, reports per service
 *
 * The first apply runs inside lb_sync_begin()/lb_sync_end(), so an agent
 * restarted over pinned maps reconciles them without flushing: frontends
 * still wanted are replaced in place (transactionally, by the datapath),
 * and only those no longer wanted are swept.
 */
#ifndef SKIFF_PROXY_LB_H
#define SKIFF_PROXY_LB_H

#include "dataplane/lb/lb.h"
#include "dataplane/proxy.h"

struct proxy_lb;

/* cgroup_path: the cgroup v2 folder the socket hooks serve; the sockets of
 * a removed backend are ended in the network namespaces of its processes
 * (and the agent's own). NULL: the agent's own namespace only. It never
 * logs: report (may be NULL) gets, with ud, what each apply did per
 * service, frontend and removed backend. */
int proxy_lb_new(struct lb *lb, const char *cgroup_path, log_report_fn report, void *ud,
		 struct proxy_lb **out);
void proxy_lb_free(struct proxy_lb *p);

/* Applies next (ownership taken, also on failure). Returns the number of
 * frontends that failed to program (reported; retried by the next apply),
 * or a negative errno when nothing could be applied. */
int proxy_lb_apply(struct proxy_lb *p, struct proxy_state *next);

/* Applies the new state part of the services keys[] ("ns/name", sorted,
 * as proxy_compute_services leaves them) only, leaving every other
 * service as it is: the cost of a change grows with what changed, not with
 * the number of services. part is taken. -EAGAIN when only a full apply
 * can do it (no full apply yet, or services conflict over a frontend);
 * otherwise as proxy_lb_apply. */
int proxy_lb_apply_services(struct proxy_lb *p, char **keys, size_t n, struct proxy_state *part);

/* Ending the sockets of removed backends waits ms (default 0: the apply
 * ends them, after the maps are updated): one pass of the socket
 * iterators costs milliseconds whatever it ends (they walk the kernel's
 * whole socket tables), and a change arriving meanwhile waited for it.
 * Deferred, the backends removed meanwhile end in the same pass, and a
 * backend set again before it keeps its sockets. The owner runs the pass
 * by proxy_lb_end_sockets once proxy_lb_sockets_due (monotonic ns; 0:
 * nothing pending) has come, and before it stops. */
void proxy_lb_defer_sockets(struct proxy_lb *p, unsigned ms);
unsigned long long proxy_lb_sockets_due(const struct proxy_lb *p);
void proxy_lb_end_sockets(struct proxy_lb *p);

/* Nanoseconds the last apply (or proxy_lb_end_sockets) spent ending
 * sockets of removed backends (after the maps were updated). */
unsigned long long proxy_lb_last_socket_ns(const struct proxy_lb *p);
/* Sockets of removed backends ended since proxy_lb_new. */
uint64_t proxy_lb_sockets_ended(const struct proxy_lb *p);

/* The state last applied (NULL before the first apply). */
const struct proxy_state *proxy_lb_applied(const struct proxy_lb *p);

/* The eBPF mode for proxy_mode_sync (m: a struct proxy_lb). */
extern const struct proxy_mode_ops proxy_lb_mode_ops;

#endif
