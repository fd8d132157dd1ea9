/* SPDX-License-Identifier: MIT */
/* Threads and processes sharing one heap through its lock: no lost or overlapping blocks. */
#include <sys/wait.h>
#include <unistd.h>

#include "heap_util.h"

#define SEG_SIZE (4u << 20)
#define NTHREADS 4
#define OPS      20000

struct worker {
	pthread_t t;
	void *base;
	struct test_lock *lock;
	uint64_t seed;
	struct model m;
};

/* Check the whole heap from inside a worker: with the lock held, as check() requires. */
static void check_locked(void *base, struct test_lock *l)
{
	TASSERT(test_lock_take(l) >= 0, "lock");
	test_check(base);
	test_lock_give(l);
}

static void work(struct worker *w)
{
	struct sjmp__heap_sync sync = test_sync(w->lock);
	uint64_t rng = w->seed;
	for (int i = 1; i <= OPS; i++) {
		/* Keep each worker's share of the heap bounded so that no one starves. */
		if (w->m.n > 300) {
			size_t j = rnd(&rng) % w->m.n;
			model_verify_one(&w->m, w->base, j);
			TASSERT(sjmp__heap_free(w->base, &sync, w->m.v[j].p) == 0, "free");
			w->m.v[j] = w->m.v[--w->m.n];
		} else {
			model_step(&w->m, w->base, &sync, &rng, 8192);
		}
		if (i % 2000 == 0)
			check_locked(w->base, w->lock);
	}
	model_verify(&w->m, w->base, SEG_SIZE);
}

static void *thread_main(void *arg)
{
	work(arg);
	return NULL;
}

Test(heap_concurrency, threads_share_one_heap, .timeout = 30)
{
	void *base = test_heap_new(SEG_SIZE);
	struct test_lock *l = test_lock_new();
	struct worker w[NTHREADS];
	test_fail_hard = true; /* asserts in threads abort */
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.base = base, .lock = l, .seed = 100 + (uint64_t)i};
		w[i].m.name = "thread";
		cr_assert_eq(pthread_create(&w[i].t, NULL, thread_main, &w[i]), 0);
	}
	size_t live = 0, bytes = 0;
	for (int i = 0; i < NTHREADS; i++) {
		cr_assert_eq(pthread_join(w[i].t, NULL), 0);
		live += w[i].m.n;
		bytes += model_block_bytes(&w[i].m, base);
	}
	test_fail_hard = false;
	struct sjmp_heap_stats s = test_check(base);
	cr_assert_eq(s.used_blocks, live);
	cr_assert_eq(s.used_bytes, bytes);
	struct sjmp__heap_sync sync = test_sync(l);
	for (int i = 0; i < NTHREADS; i++) {
		model_free_all(&w[i].m, base, &sync);
		free(w[i].m.v);
	}
	s = test_check(base);
	cr_assert_eq(s.used_blocks, 0);
	cr_assert_eq(s.free_blocks, 1);
}

Test(heap_concurrency, processes_share_one_heap, .timeout = 30)
{
	void *base = test_heap_new(SEG_SIZE);
	struct test_lock *l = test_lock_new();
	pid_t pid[3];
	for (int i = 0; i < 3; i++) {
		pid[i] = fork();
		cr_assert_geq(pid[i], 0);
		if (pid[i] == 0) {
			test_fail_hard = true;
			struct worker w = {.base = base, .lock = l, .seed = 7000 + (uint64_t)i};
			w.m.name = "process";
			work(&w);
			struct sjmp__heap_sync sync = test_sync(l);
			model_free_all(&w.m, base, &sync);
			_exit(0);
		}
	}
	for (int i = 0; i < 3; i++) {
		int st;
		cr_assert_eq(waitpid(pid[i], &st, 0), pid[i]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %#x", i, st);
	}
	struct sjmp_heap_stats s = test_check(base);
	cr_assert_eq(s.used_blocks, 0);
	cr_assert_eq(s.free_blocks, 1, "everything merged back into top");
	cr_assert_eq(l->owner_died, 0);
}
