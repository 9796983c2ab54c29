/* Leader election on a Lease (see ctrl_leader.h): one thread per lease,
 * with its own client, blocking calls bounded by the retry period. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "control/ctrl_leader.h"
#include "control/ctrl_manager.h"
#include "control/ctrl_util.h"
#include "lib/kube_client.h"
#include "lib/log.h"
#include "lib/util.h"

struct ctrl_leader {
	struct ctrl_leader_opts o;
	char ns[64], name[128], identity[300];
	struct kc_client *c;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	atomic_bool stop;
	atomic_bool leading;
	int efd;
	/* What this candidate last saw of the Lease, and when (monotonic). */
	char observed[512];
	unsigned long long observed_at;
	unsigned long long renewed_at; /* last successful write as leader */
	double other_expires; /* wall clock: when another holder's renewTime runs out */
};

/* A MicroTime, "2026-12-07T06:40:00.123456Z". */
static void micro_time(char buf[64])
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)tv.tv_usec);
}

void ctrl_leader_identity_new(char *buf, size_t size)
{
	unsigned char u[16];
	char host[256] = "skiff";
	FILE *f = fopen("/dev/urandom", "re");

	if (!f || fread(u, 1, sizeof(u), f) != sizeof(u))
		for (size_t i = 0; i < sizeof(u); i++)
			u[i] = (unsigned char)(now_ns() >> (i % 8 * 8)) ^ (unsigned char)rand();
	if (f)
		fclose(f);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	gethostname(host, sizeof(host) - 1);
	snprintf(buf, size,
		 "%s_%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", host,
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

int ctrl_leader_new(const struct kc_config *cfg, const struct ctrl_leader_opts *o,
		    struct ctrl_leader **out)
{
	struct ctrl_leader *l = calloc(1, sizeof(*l));
	struct kc_client_opts co = { .user_agent = "skiff-leader-election" };
	int r;

	if (!l)
		return -ENOMEM;
	l->o = *o;
	if (l->o.lease_duration_s <= 0)
		l->o.lease_duration_s = CTRL_LEASE_DURATION_S;
	if (l->o.renew_deadline_ms <= 0)
		l->o.renew_deadline_ms = CTRL_RENEW_DEADLINE_MS;
	if (l->o.retry_period_ms <= 0)
		l->o.retry_period_ms = CTRL_RETRY_PERIOD_MS;
	snprintf(l->ns, sizeof(l->ns), "%s", o->namespace ? o->namespace : "kube-system");
	snprintf(l->name, sizeof(l->name), "%s", o->name);
	if (o->identity)
		snprintf(l->identity, sizeof(l->identity), "%s", o->identity);
	else
		ctrl_leader_identity_new(l->identity, sizeof(l->identity));
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->wake, NULL);
	co.timeout_ms = l->o.retry_period_ms;
	r = l->efd < 0 ? -errno : 0;
	if (r == 0 && !o->disabled)
		r = kc_client_new(cfg, &co, &l->c);
	if (r < 0) {
		ctrl_leader_free(l);
		return r;
	}
	*out = l;
	return 0;
}

static void set_leading(struct ctrl_leader *l, bool on)
{
	uint64_t one = 1;

	if (atomic_exchange(&l->leading, on) == on)
		return;
	if (on)
		log_info("lease %s/%s: acquired as %s", l->ns, l->name, l->identity);
	else if (!l->stop)
		log_warn("lease %s/%s: leadership lost (%s); loops stopped", l->ns, l->name,
			 l->identity);
	if (write(l->efd, &one, sizeof(one)) < 0)
		log_debug("lease %s/%s: eventfd: %m", l->ns, l->name);
}

/* A new Lease held by us. */
static json_t *lease_new(struct ctrl_leader *l, const char *now)
{
	return json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:s,s:i,s:s,s:s,s:i}}", "apiVersion",
			 "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", l->name,
			 "namespace", l->ns, "spec", "holderIdentity", l->identity,
			 "leaseDurationSeconds", l->o.lease_duration_s, "acquireTime", now,
			 "renewTime", now, "leaseTransitions", 0);
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A MicroTime as seconds since the epoch; 0 when it does not parse. */
static double micro_time_parse(const char *s)
{
	const char *dot = s ? strchr(s, '.') : NULL;
	time_t t;

	if (ctrl_time_parse(s, &t) < 0)
		return 0;
	return (double)t + (dot ? strtod(dot, NULL) : 0);
}

/* The record as this candidate compares it: holder, renew time, version. */
static void record_of(json_t *lease, char *buf, size_t size)
{
	json_t *spec = json_object_get(lease, "spec");

	snprintf(buf, size, "%s|%s|%s", json_string_value(json_object_get(spec, "holderIdentity")) ?: "",
		 json_string_value(json_object_get(spec, "renewTime")) ?: "",
		 kc_meta_str(lease, "resourceVersion") ?: "");
}

/* One try (client-go's tryAcquireOrRenew): 0 when we hold the Lease now,
 * -EBUSY when another holder's lease is still valid, else the error. */
static int try_acquire_or_renew(struct ctrl_leader *l)
{
	const struct kc_resource *res = kc_resource_find("leases");
	_cleanup_json_ json_t *lease = NULL;
	unsigned long long now = now_ns();
	char stamp[64], rec[512];
	json_t *spec;
	const char *holder;
	long long dur;
	bool unchanged;
	int r;

	micro_time(stamp);
	r = kc_get(l->c, res, l->ns, l->name, &lease);
	if (r == -ENOENT) {
		_cleanup_json_ json_t *obj = lease_new(l, stamp);

		if (!obj)
			return -ENOMEM;
		r = kc_create(l->c, res, l->ns, obj, NULL);
		return r == -EEXIST ? -EBUSY : r;
	}
	if (r < 0)
		return r;
	spec = json_object_get(lease, "spec");
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(lease, "spec", spec);
	}
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	dur = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	if (dur <= 0)
		dur = l->o.lease_duration_s;
	record_of(lease, rec, sizeof(rec));
	unchanged = streq(rec, l->observed);
	if (!unchanged) {
		snprintf(l->observed, sizeof(l->observed), "%s", rec);
		l->observed_at = now;
	}
	l->other_expires = 0;
	if (holder && *holder && !streq(holder, l->identity)) {
		double renew = micro_time_parse(json_string_value(json_object_get(spec, "renewTime")));
		bool by_observation = l->observed_at + (unsigned long long)dur * 1000000000ULL <= now;
		bool by_renew_time = unchanged && renew > 0 && wall_now() >= renew + (double)dur;

		l->other_expires = renew > 0 ? renew + (double)dur : 0;
		if (!by_observation && !by_renew_time)
			return -EBUSY;
	}
	if (!streq(holder, l->identity)) {
		json_object_set_new(spec, "acquireTime", json_string(stamp));
		json_object_set_new(spec, "leaseTransitions",
				    json_integer(json_integer_value(json_object_get(spec, "leaseTransitions")) +
						 (holder && *holder ? 1 : 0)));
	}
	json_object_set_new(spec, "holderIdentity", json_string(l->identity));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(l->o.lease_duration_s));
	json_object_set_new(spec, "renewTime", json_string(stamp));
	r = kc_update(l->c, res, l->ns, lease, NULL);
	return r == -ESTALE ? -EBUSY : r;
}

/* Gives the Lease up: holder cleared, a 1 s duration. */
static void release(struct ctrl_leader *l)
{
	const struct kc_resource *res = kc_resource_find("leases");
	_cleanup_json_ json_t *lease = NULL;
	json_t *spec;
	char stamp[64];

	if (kc_get(l->c, res, l->ns, l->name, &lease) < 0)
		return;
	spec = json_object_get(lease, "spec");
	if (!streq(json_string_value(json_object_get(spec, "holderIdentity")), l->identity))
		return;
	micro_time(stamp);
	json_object_set_new(spec, "holderIdentity", json_string(""));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
	json_object_set_new(spec, "renewTime", json_string(stamp));
	if (kc_update(l->c, res, l->ns, lease, NULL) == 0)
		log_info("lease %s/%s: released", l->ns, l->name);
}

/* Sleeps ms (or until stopped); false when stopped. */
static bool nap(struct ctrl_leader *l, long ms)
{
	struct timespec ts;
	atomic_bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->lock);
	while (!l->stop && pthread_cond_timedwait(&l->wake, &l->lock, &ts) != ETIMEDOUT)
		;
	stop = l->stop;
	pthread_mutex_unlock(&l->lock);
	return !stop;
}

static void *elector(void *arg)
{
	struct ctrl_leader *l = arg;
	unsigned seed = (unsigned)now_ns();
	long wait;

	do {
		int r = try_acquire_or_renew(l);
		unsigned long long now = now_ns();

		wait = l->o.retry_period_ms;
		if (r == 0) {
			l->renewed_at = now;
			set_leading(l, true);
		} else if (atomic_load(&l->leading) &&
			   now - l->renewed_at >= (unsigned long long)l->o.renew_deadline_ms * 1000000ULL) {
			log_warn("lease %s/%s: no renewal for %d ms: %s", l->ns, l->name,
				 l->o.renew_deadline_ms, r == -EBUSY ? "taken by another" : strerror(-r));
			set_leading(l, false);
		} else if (r != -EBUSY) {
			log_debug("lease %s/%s: %s", l->ns, l->name, strerror(-r));
		}
		if (!atomic_load(&l->leading)) { /* client-go's JitterFactor 1.2 */
			double left = (l->other_expires - wall_now()) * 1000 + 5;

			wait += (long)(rand_r(&seed) % (unsigned)(l->o.retry_period_ms * 12 / 10 + 1));
			if (l->other_expires > 0 && left < wait) /* be there when it runs out */
				wait = left > 20 ? (long)left : 20;
		} else if (r < 0) { /* wake at the deadline at the latest */
			long long left = ((long long)l->renewed_at - (long long)now) / 1000000LL +
					 l->o.renew_deadline_ms;

			if (left < wait)
				wait = left > 0 ? (long)left : 0;
		}
	} while (nap(l, wait));
	if (atomic_load(&l->leading)) {
		set_leading(l, false);
		release(l);
	}
	return NULL;
}

int ctrl_leader_start(struct ctrl_leader *l)
{
	int r;

	if (l->o.disabled) {
		set_leading(l, true);
		return 0;
	}
	r = -pthread_create(&l->thread, NULL, elector, l);
	if (r == 0)
		l->running = true;
	return r;
}

void ctrl_leader_free(struct ctrl_leader *l)
{
	if (!l)
		return;
	if (l->running) {
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_cond_broadcast(&l->wake);
		pthread_mutex_unlock(&l->lock);
		pthread_join(l->thread, NULL);
	}
	kc_client_free(l->c);
	if (l->efd >= 0)
		close(l->efd);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->wake);
	free(l);
}

bool ctrl_leader_leading(const struct ctrl_leader *l)
{
	return atomic_load(&((struct ctrl_leader *)l)->leading);
}

int ctrl_leader_fd(const struct ctrl_leader *l)
{
	return l->efd;
}

const char *ctrl_leader_identity(const struct ctrl_leader *l)
{
	return l->identity;
}
