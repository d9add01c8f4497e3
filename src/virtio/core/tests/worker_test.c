/*
 * Unit tests for the virtio worker thread: it calls the handler with the
 * right token when a watched fd becomes readable, honours enable/disable
 * (also from inside the handler), is named, and stops and joins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/eventfd.h"
#include "virtio/core/worker.h"

#define NTOK 4

struct ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fds[NTOK];
	unsigned calls[NTOK];
	bool self_disable; /* token 2 disables itself instead of draining */
	struct virtio_worker *w;
	int watch_rc;
};

static void handler(void *arg, uint32_t token)
{
	struct ctx *c = arg;
	if (token >= NTOK)
		return;
	if (token == 2 && c->self_disable) {
		/* Leave it readable: only the disable stops the calls. */
		int rc = virtio_worker_watch(c->w, c->fds[2], 2, false);
		pthread_mutex_lock(&c->lock);
		c->watch_rc = rc;
		pthread_mutex_unlock(&c->lock);
	} else {
		(void)evfd_drain(c->fds[token]);
	}
	pthread_mutex_lock(&c->lock);
	c->calls[token]++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Waits up to 5 s for calls[token] to reach n. */
static bool wait_calls(struct ctx *c, unsigned token, unsigned n)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&c->lock);
	int rc = 0;
	while (c->calls[token] < n && rc == 0)
		rc = pthread_cond_timedwait(&c->cond, &c->lock, &deadline);
	bool ok = c->calls[token] >= n;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static unsigned calls(struct ctx *c, unsigned token)
{
	pthread_mutex_lock(&c->lock);
	unsigned n = c->calls[token];
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void ctx_init(struct ctx *c, struct virtio_worker *w)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	for (int i = 0; i < NTOK; i++) {
		c->fds[i] = evfd_create();
		assert_true(c->fds[i] >= 0);
	}
	c->w = w;
}

static void ctx_fini(struct ctx *c)
{
	for (int i = 0; i < NTOK; i++)
		close(c->fds[i]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
}

static void test_kick_watch_stop(void **state)
{
	(void)state;
	struct virtio_worker w;
	struct ctx c;
	ctx_init(&c, &w);
	struct virtio_worker_fd fds[] = { { c.fds[0], 0 }, { c.fds[1], 1 } };
	assert_int_equal(virtio_worker_start(&w, "v_test_worker_long_name", fds, 2, handler, &c), 0);
	assert_true(w.started);

	/* A kick arrives. */
	assert_int_equal(evfd_signal(c.fds[1]), 0);
	assert_true(wait_calls(&c, 1, 1));
	assert_int_equal(calls(&c, 0), 0);

	/* The thread named itself before it first waited. */
	char name[16];
	assert_int_equal(pthread_getname_np(w.thread, name, sizeof(name)), 0);
	assert_string_equal(name, "v_test_worker_l");

	/* Disabled: a kick on fd 0 is not handled, one on fd 1 is. */
	assert_int_equal(virtio_worker_watch(&w, c.fds[0], 0, false), 0);
	assert_int_equal(virtio_worker_watch(&w, c.fds[0], 0, false), 0); /* idempotent */
	assert_int_equal(evfd_signal(c.fds[0]), 0);
	assert_int_equal(evfd_signal(c.fds[1]), 0);
	assert_true(wait_calls(&c, 1, 2));
	usleep(20000);
	assert_int_equal(calls(&c, 0), 0);
	/* Enabled again: the pending kick is delivered (level-triggered). */
	assert_int_equal(virtio_worker_watch(&w, c.fds[0], 0, true), 0);
	assert_true(wait_calls(&c, 0, 1));
	/* Enabling an enabled fd updates its token. */
	assert_int_equal(virtio_worker_watch(&w, c.fds[0], 3, true), 0);
	assert_int_equal(evfd_signal(c.fds[0]), 0);
	/* Token 3's handler drains fds[3], not fds[0]: it stays readable and
	 * keeps being reported, so disable it once seen. */
	assert_true(wait_calls(&c, 3, 1));
	assert_int_equal(virtio_worker_watch(&w, c.fds[0], 3, false), 0);
	(void)evfd_drain(c.fds[0]);

	/* An fd that was not in the start list. */
	assert_int_equal(virtio_worker_watch(&w, c.fds[2], 2, true), 0);
	assert_int_equal(evfd_signal(c.fds[2]), 0);
	assert_true(wait_calls(&c, 2, 1));

	/* Bad fds are reported. */
	assert_int_equal(virtio_worker_watch(&w, -1, 9, true), -EBADF);

	virtio_worker_stop(&w);
	assert_false(w.started);
	assert_int_equal(w.epoll_fd, -1);
	assert_int_equal(w.stop_fd, -1);
	/* Stopped: nothing is handled any more; stopping twice is fine. */
	unsigned before = calls(&c, 1);
	assert_int_equal(evfd_signal(c.fds[1]), 0);
	usleep(20000);
	assert_int_equal(calls(&c, 1), before);
	virtio_worker_stop(&w);
	ctx_fini(&c);
}

static void test_disable_from_handler(void **state)
{
	(void)state;
	struct virtio_worker w;
	struct ctx c;
	ctx_init(&c, &w);
	c.self_disable = true;
	struct virtio_worker_fd fds[] = { { c.fds[2], 2 }, { c.fds[1], 1 } };
	assert_int_equal(virtio_worker_start(&w, "selfdis", fds, 2, handler, &c), 0);
	assert_int_equal(evfd_signal(c.fds[2]), 0);
	assert_true(wait_calls(&c, 2, 1));
	/* fd 2 is still readable but disabled: the worker is not spinning on
	 * it and still serves fd 1. */
	assert_int_equal(evfd_signal(c.fds[1]), 0);
	assert_true(wait_calls(&c, 1, 1));
	usleep(20000);
	assert_int_equal(calls(&c, 2), 1);
	pthread_mutex_lock(&c.lock);
	assert_int_equal(c.watch_rc, 0);
	pthread_mutex_unlock(&c.lock);
	virtio_worker_stop(&w);
	ctx_fini(&c);
}

static void test_start_errors(void **state)
{
	(void)state;
	struct virtio_worker w;
	struct ctx c;
	ctx_init(&c, &w);
	/* A never-started (zeroed) worker can be stopped. */
	memset(&w, 0, sizeof(w));
	virtio_worker_stop(&w);

	struct virtio_worker_fd many[VIRTIO_WORKER_MAX_FDS + 1];
	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = (struct virtio_worker_fd){ c.fds[0], (uint32_t)i };
	assert_int_equal(virtio_worker_start(&w, "x", many, ARRAY_SIZE(many), handler, &c), -EINVAL);
	assert_false(w.started);
	assert_int_equal(w.epoll_fd, -1);
	virtio_worker_stop(&w);

	struct virtio_worker_fd bad[] = { { c.fds[0], 0 }, { 12345, 1 } };
	assert_int_equal(virtio_worker_start(&w, "x", bad, 2, handler, &c), -EBADF);
	assert_false(w.started);
	assert_int_equal(w.epoll_fd, -1);
	assert_int_equal(w.stop_fd, -1);
	/* The same fd twice. */
	struct virtio_worker_fd dup[] = { { c.fds[0], 0 }, { c.fds[0], 1 } };
	assert_int_equal(virtio_worker_start(&w, "x", dup, 2, handler, &c), -EEXIST);
	assert_int_equal(virtio_worker_start(&w, "x", NULL, 0, NULL, &c), -EINVAL);
	assert_int_equal(virtio_worker_watch(&w, c.fds[0], 0, true), -EINVAL);
	virtio_worker_stop(&w);

	/* No fds at all is a valid (if idle) worker. */
	assert_int_equal(virtio_worker_start(&w, "idle", NULL, 0, handler, &c), 0);
	virtio_worker_stop(&w);
	ctx_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kick_watch_stop),
		cmocka_unit_test(test_disable_from_handler),
		cmocka_unit_test(test_start_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
