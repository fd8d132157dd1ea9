/* SPDX-License-Identifier: MIT */
/*
 * heap_util.h - shared by the heap_*_test.c files: heaps on shared memory at fixed addresses,
 * a process-shared robust mutex as the heap's lock, a reproducible generator and a model of the
 * live blocks (size and fill pattern) that the heap must agree with.
 */
#ifndef SJMP_TEST_HEAP_UTIL_H
#define SJMP_TEST_HEAP_UTIL_H

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap.h"
#include "lock.h"

/*
 * Criterion's asserts only work on the test's main thread; in threads and forked children a
 * failure prints and aborts instead (the test then sees a crash or a bad exit status).
 */
static bool test_fail_hard;
#define TASSERT(cond, ...)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			if (test_fail_hard) {                                                      \
				fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                    \
				fprintf(stderr, __VA_ARGS__);                                      \
				fputc('\n', stderr);                                               \
				abort();                                                           \
			}                                                                          \
			cr_assert(0, __VA_ARGS__);                                                 \
		}                                                                                  \
	} while (0)

/*
 * LeakSanitizer: Criterion 2.4's JSON reporter leaks 48 bytes (in libcriterion, not in sjmp)
 * when a file has many tests; without this an ASan build fails those executables at exit.
 */
__attribute__((used)) const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
	return "leak:libcriterion.so\n";
}

/* Inside the segment zone, clear of AddressSanitizer's shadow. */
#define TEST_HEAP_ADDR ((void *)0x200000000000UL)

/* ---- the lock: a robust, process-shared mutex in its own shared page ------------------- */

struct test_lock {
	pthread_mutex_t m;
	long owner_died; /* times the lock reported a dead owner */
};

static inline struct test_lock *test_lock_new(void)
{
	struct test_lock *l =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(l, MAP_FAILED);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	cr_assert_eq(pthread_mutex_init(&l->m, &a), 0);
	pthread_mutexattr_destroy(&a);
	return l;
}

static inline int test_lock_take(void *arg)
{
	struct test_lock *l = arg;
	int r = pthread_mutex_lock(&l->m);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&l->m);
		l->owner_died++; /* we hold the mutex now */
		return SJMP__OWNER_DIED;
	}
	return -r;
}

static inline void test_lock_give(void *arg)
{
	pthread_mutex_unlock(&((struct test_lock *)arg)->m);
}

static inline struct sjmp__heap_sync test_sync(struct test_lock *l)
{
	return (struct sjmp__heap_sync){.lock = test_lock_take, .unlock = test_lock_give, .arg = l};
}

/* ---- memory ------------------------------------------------------------------------------ */

/* A formatted heap of @size bytes in shared anonymous memory at TEST_HEAP_ADDR. */
static inline void *test_heap_new(size_t size)
{
	void *b = mmap(TEST_HEAP_ADDR, size, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert_eq(b, TEST_HEAP_ADDR, "mmap at %p: %s", TEST_HEAP_ADDR, strerror(errno));
	cr_assert_eq(sjmp__heap_format(b, size), 0);
	return b;
}

/* Assert the heap is clean; return its statistics. */
static inline struct sjmp_heap_stats test_check(const void *base)
{
	struct sjmp_heap_stats s;
	char why[256];
	int r = sjmp__heap_check(base, &s, why, sizeof(why));
	TASSERT(r == 0, "heap check: %s", why);
	TASSERT(s.used_bytes + s.free_bytes == s.heap_bytes, "stats do not add up");
	return s;
}

/* ---- generator ------------------------------------------------------------------------- */

static inline uint64_t rnd(uint64_t *s)
{
	/* xorshift64*: reproducible from the seed printed on failure. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* Mostly small sizes, some up to @max. */
static inline size_t rnd_size(uint64_t *s, size_t max)
{
	uint64_t r = rnd(s);
	switch (r % 8) {
	case 0:
		return (r >> 8) % (max + 1);
	case 1:
	case 2:
		return (r >> 8) % 4097;
	default:
		return (r >> 8) % 513;
	}
}

/* ---- model ----------------------------------------------------------------------------- */

struct live {
	uint8_t *p;
	size_t size;
	uint8_t seed;
};

struct model {
	struct live *v;
	size_t n, cap;
	const char *name; /* for messages */
};

static inline void fill(uint8_t *p, size_t size, uint8_t seed)
{
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static inline size_t first_bad(const uint8_t *p, size_t size, uint8_t seed)
{
	for (size_t i = 0; i < size; i++)
		if (p[i] != (uint8_t)(seed + i * 7))
			return i;
	return size;
}

static inline void model_add(struct model *m, void *p, size_t size, uint8_t seed)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 256;
		m->v = realloc(m->v, m->cap * sizeof(*m->v));
		TASSERT(m->v != NULL, "out of memory");
	}
	m->v[m->n++] = (struct live){p, size, seed};
}

static inline void model_verify_one(const struct model *m, const void *base, size_t i)
{
	const struct live *l = &m->v[i];
	size_t bad = first_bad(l->p, l->size, l->seed);
	TASSERT((bad) == (l->size), "%s: block %p (%zu bytes) corrupted at byte %zu", m->name,
	        (void *)l->p, l->size, bad);
	TASSERT(sjmp__heap_usable_size(base, l->p) >= l->size, "%s: usable size of %p", m->name,
	        (void *)l->p);
}

static int cmp_live(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct live *)a)->p;
	uintptr_t y = (uintptr_t)((const struct live *)b)->p;
	return x < y ? -1 : x > y;
}

/* Contents intact, blocks disjoint (by usable size), inside the segment. */
static inline void model_verify(struct model *m, const void *base, size_t seg_size)
{
	for (size_t i = 0; i < m->n; i++)
		model_verify_one(m, base, i);
	qsort(m->v, m->n, sizeof(*m->v), cmp_live);
	for (size_t i = 0; i < m->n; i++) {
		uintptr_t a = (uintptr_t)m->v[i].p;
		size_t u = sjmp__heap_usable_size(base, m->v[i].p);
		TASSERT(a >= (uintptr_t)base && a + u <= (uintptr_t)base + seg_size,
		        "%s: block %p outside the segment", m->name, (void *)a);
		if (i + 1 < m->n)
			TASSERT((a + u) <= ((uintptr_t)m->v[i + 1].p), "%s: blocks overlap",
			        m->name);
	}
}

/* Bytes the heap should account for the model's blocks (usable size + 16-byte header). */
static inline size_t model_block_bytes(const struct model *m, const void *base)
{
	size_t t = 0;
	for (size_t i = 0; i < m->n; i++)
		t += sjmp__heap_usable_size(base, m->v[i].p) + 16;
	return t;
}

/*
 * One random operation: malloc / calloc / free / realloc, checked against the model.
 * Return: false when the heap was full (ENOMEM), which is allowed.
 */
static inline bool model_step(struct model *m, void *base, const struct sjmp__heap_sync *sync,
                              uint64_t *rng, size_t max)
{
	uint64_t r = rnd(rng) % 100;
	uint8_t seed = (uint8_t)rnd(rng);
	if (m->n == 0 || r < 45) {
		size_t size = rnd_size(rng, max);
		bool zero = r < 5;
		uint8_t *p = zero ? sjmp__heap_calloc(base, sync, 1, size)
		                  : sjmp__heap_malloc(base, sync, size);
		if (!p) {
			TASSERT((errno) == (ENOMEM), "%s: malloc(%zu): errno %d", m->name, size,
			        errno);
			return false;
		}
		TASSERT((uintptr_t)p % 16 == 0, "%s: misaligned %p", m->name, (void *)p);
		if (zero)
			for (size_t i = 0; i < size; i++)
				TASSERT((p[i]) == (0), "%s: calloc byte %zu not zero", m->name, i);
		fill(p, size, seed);
		model_add(m, p, size, seed);
		return true;
	}
	size_t i = rnd(rng) % m->n;
	struct live *l = &m->v[i];
	model_verify_one(m, base, i);
	if (r < 85) {
		TASSERT(sjmp__heap_free(base, sync, l->p) == 0, "%s: free(%p)", m->name,
		        (void *)l->p);
		m->v[i] = m->v[--m->n];
		return true;
	}
	size_t size = rnd_size(rng, max) + 1;
	uint8_t *q = sjmp__heap_realloc(base, sync, l->p, size);
	if (!q) {
		TASSERT((errno) == (ENOMEM), "%s: realloc: errno %d", m->name, errno);
		model_verify_one(m, base, i);
		return false;
	}
	size_t keep = size < l->size ? size : l->size;
	TASSERT(first_bad(q, keep, l->seed) == keep, "%s: realloc lost data", m->name);
	fill(q, size, seed);
	*l = (struct live){q, size, seed};
	return true;
}

/* Free every block of the model (verifying it first). */
static inline void model_free_all(struct model *m, void *base, const struct sjmp__heap_sync *sync)
{
	for (size_t i = 0; i < m->n; i++) {
		model_verify_one(m, base, i);
		TASSERT(sjmp__heap_free(base, sync, m->v[i].p) == 0, "%s: free", m->name);
	}
	m->n = 0;
}

#endif
