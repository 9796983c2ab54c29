/* The process's shared informers (see ctrl_hub.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctrl_hub.h"
#include "lib/log.h"
#include "lib/util.h"

#define HUB_RESOURCES 40
#define HUB_SUBS 64

struct hub_informer {
	const char *resource;
	struct kc_informer *inf; /* NULL: the API does not serve it */
	struct ctrl_hub *h;
};

struct hub_sub {
	size_t res; /* index in inf[] */
	struct kc_informer_handlers hd;
};

struct ctrl_hub {
	pthread_rwlock_t lock;   /* the caches and subs */
	pthread_mutex_t start_lock;
	bool started;
	int stop_fd;
	struct kc_client *c;
	pthread_t thread;
	struct hub_informer inf[HUB_RESOURCES];
	size_t n_inf;
	struct hub_sub subs[HUB_SUBS];
	size_t n_subs;
};

int ctrl_hub_new(const char *const *resources, size_t n, int stop_fd, struct ctrl_hub **out)
{
	struct ctrl_hub *h = calloc(1, sizeof(*h));
	pthread_rwlockattr_t ra;

	if (!h)
		return -ENOMEM;
	/* Writer first: the informers' updates never wait behind a stream
	 * of reconciles. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&h->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&h->start_lock, NULL);
	h->stop_fd = stop_fd;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < h->n_inf && !streq(h->inf[j].resource, resources[i]); j++)
			;
		if (j < h->n_inf)
			continue;
		if (h->n_inf == HUB_RESOURCES) {
			ctrl_hub_free(h);
			return -ENOSPC;
		}
		h->inf[h->n_inf++] = (struct hub_informer){ .resource = resources[i], .h = h };
	}
	*out = h;
	return 0;
}

static size_t hub_index(const struct ctrl_hub *h, const char *resource)
{
	size_t i;

	for (i = 0; i < h->n_inf && !streq(h->inf[i].resource, resource); i++)
		;
	return i;
}

/* ---- the informers' events, to every subscriber of their resource ---- */

enum hub_event { HUB_ADD, HUB_UPDATE, HUB_DEL };

static void fan_out(struct hub_informer *hi, enum hub_event ev, json_t *old, json_t *obj)
{
	struct ctrl_hub *h = hi->h;
	size_t res = (size_t)(hi - h->inf);

	for (size_t i = 0; i < h->n_subs; i++) {
		const struct kc_informer_handlers *hd = &h->subs[i].hd;

		if (h->subs[i].res != res)
			continue;
		if (ev == HUB_ADD && hd->add)
			hd->add(hd->ud, obj);
		else if (ev == HUB_UPDATE && hd->update)
			hd->update(hd->ud, old, obj);
		else if (ev == HUB_DEL && hd->del)
			hd->del(hd->ud, obj);
	}
}

static void on_add(void *ud, json_t *obj)
{
	fan_out(ud, HUB_ADD, NULL, obj);
}

static void on_update(void *ud, json_t *old, json_t *obj)
{
	fan_out(ud, HUB_UPDATE, old, obj);
}

static void on_del(void *ud, json_t *obj)
{
	fan_out(ud, HUB_DEL, NULL, obj);
}

/* ---- the thread ---- */

static void *hub_main(void *arg)
{
	struct ctrl_hub *h = arg;

	for (;;) {
		struct pollfd fds[1100];
		int timeout = 1000;
		size_t n = kc_client_pollfds(h->c, fds, ARRAY_SIZE(fds) - 1, &timeout);

		fds[n] = (struct pollfd){ .fd = h->stop_fd, .events = POLLIN };
		if (poll(fds, n + 1, timeout) < 0 && errno != EINTR) {
			log_error("informers: poll: %m; the caches stop here");
			break;
		}
		if (fds[n].revents)
			break;
		pthread_rwlock_wrlock(&h->lock);
		kc_client_dispatch(h->c, fds, n);
		pthread_rwlock_unlock(&h->lock);
	}
	return NULL;
}

/* The informer of one resource; none when the API does not serve it (it
 * would never sync: its users see it empty instead). */
static int informer_make(struct ctrl_hub *h, struct hub_informer *hi)
{
	const struct kc_resource *res = kc_resource_find(hi->resource);
	int r;

	if (!res)
		return -EINVAL;
	r = kc_list(h->c, res, NULL, &(struct kc_list_opts){ .limit = 1 }, NULL);
	if (r == -ENOENT) {
		log_warn("informers: the API serves no %s; its users see none", hi->resource);
		return 0;
	}
	r = kc_informer_new(h->c, res, NULL, &hi->inf);
	if (r == 0)
		r = kc_informer_add_handlers(hi->inf, &(struct kc_informer_handlers){
			.add = on_add, .update = on_update, .del = on_del, .ud = hi });
	return r;
}

static void informers_drop(struct ctrl_hub *h)
{
	for (size_t i = 0; i < h->n_inf; i++) {
		kc_informer_free(h->inf[i].inf);
		h->inf[i].inf = NULL;
	}
	kc_client_free(h->c);
	h->c = NULL;
}

static int hub_start_locked(struct ctrl_hub *h, const struct kc_config *kc)
{
	int r = kc_client_new(kc, &(struct kc_client_opts){ .user_agent = "skiff-informers" }, &h->c);

	for (size_t i = 0; r == 0 && i < h->n_inf; i++)
		r = informer_make(h, &h->inf[i]);
	/* the thread is not running yet: the lock keeps out only readers */
	pthread_rwlock_wrlock(&h->lock);
	for (size_t i = 0; r == 0 && i < h->n_inf; i++)
		if (h->inf[i].inf)
			r = kc_informer_start(h->inf[i].inf);
	if (r < 0)
		informers_drop(h);
	pthread_rwlock_unlock(&h->lock);
	if (r == 0)
		r = -pthread_create(&h->thread, NULL, hub_main, h);
	if (r < 0) {
		pthread_rwlock_wrlock(&h->lock);
		informers_drop(h);
		pthread_rwlock_unlock(&h->lock);
		return r;
	}
	pthread_setname_np(h->thread, "informers");
	h->started = true;
	return 0;
}

int ctrl_hub_start(struct ctrl_hub *h, const struct kc_config *kc)
{
	int r = 0;

	pthread_mutex_lock(&h->start_lock);
	if (!h->started)
		r = hub_start_locked(h, kc);
	pthread_mutex_unlock(&h->start_lock);
	return r;
}

void ctrl_hub_free(struct ctrl_hub *h)
{
	if (!h)
		return;
	if (h->started)
		pthread_join(h->thread, NULL); /* it ends once stop_fd is readable */
	informers_drop(h);
	pthread_mutex_destroy(&h->start_lock);
	pthread_rwlock_destroy(&h->lock);
	free(h);
}

/* ---- users ---- */

pthread_rwlock_t *ctrl_hub_lock(struct ctrl_hub *h)
{
	return &h->lock;
}

struct kc_informer *ctrl_hub_informer(struct ctrl_hub *h, const char *resource)
{
	size_t i = hub_index(h, resource);

	return i < h->n_inf ? h->inf[i].inf : NULL;
}

int ctrl_hub_subscribe(struct ctrl_hub *h, const char *resource,
		       const struct kc_informer_handlers *hd)
{
	size_t i = hub_index(h, resource);
	const char *k;
	json_t *o;

	if (i == h->n_inf)
		return -ENOENT;
	if (h->n_subs == HUB_SUBS)
		return -ENOSPC;
	h->subs[h->n_subs++] = (struct hub_sub){ .res = i, .hd = *hd };
	if (h->inf[i].inf && hd->add)
		json_object_foreach(kc_informer_items(h->inf[i].inf), k, o)
			hd->add(hd->ud, o);
	return 0;
}

void ctrl_hub_unsubscribe(struct ctrl_hub *h, const void *ud)
{
	size_t j = 0;

	for (size_t i = 0; i < h->n_subs; i++)
		if (h->subs[i].hd.ud != ud)
			h->subs[j++] = h->subs[i];
	h->n_subs = j;
}
