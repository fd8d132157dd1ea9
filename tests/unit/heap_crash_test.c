/* SPDX-License-Identifier: MIT */
/*
 * Crash consistency: a process killed at any moment of a heap operation leaves a heap that
 * recovery rolls back to a clean state, leaking at most the block being allocated.
 */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "heap_util.h"

#define SEG_SIZE  (256u << 10)
#define NSLOTS    256
#define MAX_ALLOC 2048

/* What the killed child had live, kept in shared memory in program order. */
struct slots {
	volatile uintptr_t pending; /* being freed or reallocated: maybe gone */
	volatile uintptr_t slot[NSLOTS];
};

static void order(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static __attribute__((noreturn)) void churn(void *base, const struct sjmp__heap_sync *sync,
                                            struct slots *t, uint64_t rng)
{
	test_fail_hard = true;
	for (;;) {
		unsigned i = rnd(&rng) % NSLOTS;
		size_t size = rnd(&rng) % MAX_ALLOC;
		uintptr_t p = t->slot[i];
		if (!p) {
			void *q = rnd(&rng) % 8 ? sjmp__heap_malloc(base, sync, size)
			                        : sjmp__heap_calloc(base, sync, 1, size);
			order();
			t->slot[i] = (uintptr_t)q;
		} else if (rnd(&rng) % 4) {
			t->pending = p;
			order();
			t->slot[i] = 0;
			order();
			TASSERT(sjmp__heap_free(base, sync, (void *)p) == 0, "child free");
			order();
			t->pending = 0;
		} else {
			t->pending = p;
			order();
			void *q = sjmp__heap_realloc(base, sync, (void *)p, size + 1);
			order();
			if (q)
				t->slot[i] = (uintptr_t)q;
			order();
			t->pending = 0;
		}
	}
}

/* After recovery: free what the child recorded; what stays allocated is the leak. */
static void free_recorded(void *base, const struct sjmp__heap_sync *sync, struct slots *t)
{
	uintptr_t pending = t->pending;
	if (pending) {
		int r = sjmp__heap_free(base, sync, (void *)pending);
		cr_assert(r == 0 || r == -EINVAL, "free(pending): %d", r);
	}
	for (unsigned i = 0; i < NSLOTS; i++)
		if (t->slot[i] && t->slot[i] != pending)
			cr_assert_eq(sjmp__heap_free(base, sync, (void *)t->slot[i]), 0, "slot %u",
			             i);
}

Test(heap_crash, sigkill_at_random_moments_leaks_at_most_one_block, .timeout = 60)
{
	void *base = test_heap_new(SEG_SIZE);
	struct test_lock *l = test_lock_new();
	struct sjmp__heap_sync sync = test_sync(l);
	struct slots *t =
	    mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(t, MAP_FAILED);
	uint64_t rng = 12345;
	unsigned interrupted = 0, leaked = 0;

	for (unsigned it = 0; it < 200; it++) {
		cr_assert_eq(sjmp__heap_format(base, SEG_SIZE), 0);
		memset((void *)t, 0, sizeof(*t));
		uint64_t child_seed = rnd(&rng) | 1;
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			churn(base, &sync, t, child_seed);
		struct timespec d = {0, 20000 + (long)(rnd(&rng) % 2000000)};
		nanosleep(&d, NULL);
		kill(pid, SIGKILL);
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child failed: status %#x",
		          st);

		if (it % 2) {
			/* Recover by hand, as the segment module would. */
			int r = test_lock_take(l);
			cr_assert_geq(r, 0);
			if (sjmp__heap_check(base, NULL, NULL, 0) != 0)
				interrupted++;
			if (r == SJMP__OWNER_DIED)
				sjmp__heap_recover(base);
			test_check(base);
			test_lock_give(l);
		}
		/* Even iterations: the heap's own lock path recovers on first use. */
		free_recorded(base, &sync, t);
		struct sjmp_heap_stats s = test_check(base);
		cr_assert_leq(s.used_blocks, 1, "iteration %u: %zu blocks leaked", it,
		              s.used_blocks);
		cr_assert_leq(s.used_bytes, MAX_ALLOC + 1 + 32, "iteration %u: %zu bytes leaked",
		              it, s.used_bytes);
		leaked += s.used_blocks;
	}
	cr_log_info("owner died %ld times, %u interrupted operations, %u blocks leaked in 200 "
	            "kills",
	            l->owner_died, interrupted, leaked);
	cr_assert_gt(l->owner_died, 10, "too few kills landed inside an operation to test much");
	cr_assert_gt(interrupted, 5, "too few kills interrupted an operation with a live log");
}

/* ---- deterministic: a crash after every single step of each kind of operation ----------- */

static unsigned long hook_calls, hook_kill_at;

static void kill_hook(void)
{
	if (++hook_calls == hook_kill_at)
		raise(SIGKILL);
}

enum op_kind {
	OP_MALLOC_EXACT,   /* reuses a hole of exactly its class */
	OP_MALLOC_SPLIT,   /* splits a larger hole */
	OP_MALLOC_TOP,     /* carves the top */
	OP_CALLOC,         /* calloc from a hole */
	OP_FREE_MERGE2,    /* free between two holes */
	OP_FREE_ALONE,     /* free between allocated blocks */
	OP_FREE_TO_TOP,    /* free the last block, merging with a hole and the top */
	OP_REALLOC_GROW,   /* grow into the free successor, splitting it */
	OP_REALLOC_SHRINK, /* shrink, freeing the tail into the free successor */
	OP_REALLOC_MOVE,   /* allocate, copy, free: two commits */
	NOPS
};

/*
 * The prepared heap: blocks 0..11; holes at 1 (48 B), 3 (1000 B), 5 and 7 (2 and 4 KiB) and
 * 10; 11 is the last block before top.
 */
static void *blk[12];
static const size_t blk_size[12] = {100, 40, 64, 1000, 64, 2048, 300, 4096, 64, 64, 200, 128};

static void prepare(void *base)
{
	cr_assert_eq(sjmp__heap_format(base, SEG_SIZE), 0);
	for (int i = 0; i < 12; i++)
		cr_assert_not_null(blk[i] = sjmp__heap_malloc(base, NULL, blk_size[i]));
	for (int i = 0; i < 12; i++)
		if (i == 1 || i == 3 || i == 5 || i == 7 || i == 10)
			cr_assert_eq(sjmp__heap_free(base, NULL, blk[i]), 0);
}

static void run_op(void *base, const struct sjmp__heap_sync *s, enum op_kind k)
{
	switch (k) {
	case OP_MALLOC_EXACT:
		TASSERT(sjmp__heap_malloc(base, s, 40) == blk[1], "exact");
		break;
	case OP_MALLOC_SPLIT:
		TASSERT(sjmp__heap_malloc(base, s, 500) == blk[3], "split");
		break;
	case OP_MALLOC_TOP:
		TASSERT(sjmp__heap_malloc(base, s, 20000) != NULL, "top");
		break;
	case OP_CALLOC:
		TASSERT(sjmp__heap_calloc(base, s, 10, 100) == blk[3], "calloc");
		break;
	case OP_FREE_MERGE2:
		TASSERT(sjmp__heap_free(base, s, blk[6]) == 0, "merge2");
		break;
	case OP_FREE_ALONE:
		TASSERT(sjmp__heap_free(base, s, blk[8]) == 0, "alone");
		break;
	case OP_FREE_TO_TOP:
		TASSERT(sjmp__heap_free(base, s, blk[11]) == 0, "to top");
		break;
	case OP_REALLOC_GROW:
		TASSERT(sjmp__heap_realloc(base, s, blk[4], 1500) == blk[4], "grow");
		break;
	case OP_REALLOC_SHRINK:
		TASSERT(sjmp__heap_realloc(base, s, blk[6], 16) == blk[6], "shrink");
		break;
	case OP_REALLOC_MOVE:
		TASSERT(sjmp__heap_realloc(base, s, blk[0], 3000) == blk[7], "move");
		break;
	default:
		break;
	}
}

Test(heap_crash, kill_after_every_logged_step_rolls_back_exactly, .timeout = 60)
{
	void *base = test_heap_new(SEG_SIZE);
	struct test_lock *l = test_lock_new();
	struct sjmp__heap_sync sync = test_sync(l);
	uint8_t *snap = malloc(SEG_SIZE);
	cr_assert_not_null(snap);
	uint32_t hs = ((struct sjmp_seg_header *)base)->header_size;

	for (int k = 0; k < NOPS; k++) {
		prepare(base);
		struct sjmp_heap_stats before = test_check(base);
		memcpy(snap, base, SEG_SIZE);
		unsigned long at;
		for (at = 1; at < 10000; at++) {
			memcpy(base, snap, SEG_SIZE);
			pid_t pid = fork();
			cr_assert_geq(pid, 0);
			if (pid == 0) {
				test_fail_hard = true;
				hook_kill_at = at;
				sjmp__heap_fault_hook = kill_hook;
				run_op(base, &sync, (enum op_kind)k);
				_exit(0);
			}
			int st;
			cr_assert_eq(waitpid(pid, &st, 0), pid);
			if (WIFEXITED(st)) {
				cr_assert_eq(WEXITSTATUS(st), 0, "op %d ran wrong", k);
				break;
			}
			cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "op %d step %lu: %#x",
			          k, at, st);
			cr_assert_eq(test_lock_take(l), SJMP__OWNER_DIED);
			sjmp__heap_recover(base);
			struct sjmp_heap_stats s = test_check(base);
			test_lock_give(l);
			bool same = memcmp((uint8_t *)base + hs, snap + hs, SEG_SIZE - hs) == 0;
			if (k == OP_REALLOC_MOVE && !same) {
				/* Killed after the allocation committed: the new block leaks. */
				cr_assert_eq(s.used_blocks, before.used_blocks + 1, "step %lu", at);
			} else {
				cr_assert(same, "op %d killed at step %lu: heap not rolled back", k,
				          at);
				cr_assert_eq(s.used_bytes, before.used_bytes);
				cr_assert_eq(s.free_blocks, before.free_blocks);
			}
			/* The recovered heap works. */
			void *p = sjmp__heap_malloc(base, &sync, 100);
			cr_assert_not_null(p);
			cr_assert_eq(sjmp__heap_free(base, &sync, p), 0);
			test_check(base);
		}
		cr_assert_gt(at, 10, "op %d: only %lu crash points; the hook is not wired", k, at);
		cr_assert_lt(at, 10000);
		cr_log_info("op %d: %lu crash points", k, at - 1);
	}
	free(snap);
}

Test(heap_crash, nonempty_log_is_rolled_back_even_without_owner_died, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	prepare(base);
	uint8_t *snap = malloc(SEG_SIZE);
	memcpy(snap, base, SEG_SIZE);
	uint32_t hs = ((struct sjmp_seg_header *)base)->header_size;
	/* A lock that never reports a dead owner (say, a plain mutex). */
	pid_t pid = fork();
	if (pid == 0) {
		hook_kill_at = 12;
		sjmp__heap_fault_hook = kill_hook;
		sjmp__heap_free(base, NULL, blk[6]);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	cr_assert(WIFSIGNALED(st));
	char why[200];
	cr_assert_eq(sjmp__heap_check(base, NULL, why, sizeof(why)), -EUCLEAN);
	cr_assert(strstr(why, "undo log") != NULL, "why: %s", why);
	/* The next operation sees the log and rolls it back first. */
	void *p = sjmp__heap_malloc(base, NULL, 40);
	cr_assert_eq(p, blk[1]);
	cr_assert_eq(sjmp__heap_free(base, NULL, p), 0);
	test_check(base);
	cr_assert_eq(memcmp((uint8_t *)base + hs, snap + hs, SEG_SIZE - hs), 0);
	free(snap);
}

/* Fork, run @fn with the hook killing at step @at; true if the child was killed. */
static bool run_killed(void (*fn)(void *base), void *base, unsigned long at)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		test_fail_hard = true;
		hook_kill_at = at;
		sjmp__heap_fault_hook = kill_hook;
		fn(base);
		_exit(0);
	}
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st))
		return false;
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
	return true;
}

static void free_between_holes(void *base)
{
	sjmp__heap_free(base, NULL, blk[6]);
}

static void recover_only(void *base)
{
	sjmp__heap_recover(base);
}

Test(heap_crash, kill_during_recovery_is_repaired_by_the_next_recovery, .timeout = 60)
{
	void *base = test_heap_new(SEG_SIZE);
	uint8_t *snap = malloc(SEG_SIZE), *crashed = malloc(SEG_SIZE);
	cr_assert(snap && crashed);
	uint32_t hs = ((struct sjmp_seg_header *)base)->header_size;
	prepare(base);
	memcpy(snap, base, SEG_SIZE);
	unsigned long tried = 0;
	/* Every third crash point of the operation, then every crash point of its recovery. */
	for (unsigned long k = 2;; k += 3) {
		memcpy(base, snap, SEG_SIZE);
		if (!run_killed(free_between_holes, base, k))
			break;
		memcpy(crashed, base, SEG_SIZE);
		for (unsigned long j = 1;; j++) {
			memcpy(base, crashed, SEG_SIZE);
			bool killed = run_killed(recover_only, base, j);
			sjmp__heap_recover(base);
			test_check(base);
			cr_assert_eq(memcmp((uint8_t *)base + hs, snap + hs, SEG_SIZE - hs), 0,
			             "op step %lu, recovery step %lu: not rolled back", k, j);
			tried++;
			if (!killed)
				break;
		}
	}
	cr_log_info("%lu crashes during recovery", tried);
	cr_assert_gt(tried, 50);
	free(snap);
	free(crashed);
}
