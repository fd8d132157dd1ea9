/* SPDX-License-Identifier: MIT */
/* Every error of the heap, and check() on damaged heaps: it reports, never crashes or hangs. */
#include <stdint.h>

#include "heap_util.h"

#define SEG_SIZE (64u << 10)

static uint8_t snap[SEG_SIZE];

Test(heap_errors, full_heap_gives_enomem_and_stays_usable, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	void *p[200];
	int n = 0;
	for (;;) {
		cr_assert_lt(n, 200, "a 64 KiB heap held 200 KiB");
		errno = 0;
		p[n] = sjmp__heap_malloc(base, NULL, 1000);
		if (!p[n])
			break;
		n++;
	}
	cr_assert_eq(errno, ENOMEM);
	cr_assert_gt(n, 50);
	test_check(base);
	errno = 0;
	cr_assert_null(sjmp__heap_malloc(base, NULL, SIZE_MAX));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_null(sjmp__heap_malloc(base, NULL, SIZE_MAX - 8));
	cr_assert_null(sjmp__heap_realloc(base, NULL, p[0], SIZE_MAX));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_null(sjmp__heap_realloc(base, NULL, p[0], 50000));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(sjmp__heap_usable_size(base, p[0]), 1008, "realloc failure kept the block");
	cr_assert_eq(sjmp__heap_free(base, NULL, p[5]), 0);
	cr_assert_eq(sjmp__heap_malloc(base, NULL, 1000), p[5]);
	for (int i = 0; i < n; i++)
		cr_assert_eq(sjmp__heap_free(base, NULL, p[i]), 0);
	struct sjmp_heap_stats s = test_check(base);
	cr_assert_eq(s.used_blocks, 0);
	cr_assert_eq(s.free_blocks, 1);
}

Test(heap_errors, calloc_overflow_is_enomem_and_calloc_zeroes, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	errno = 0;
	cr_assert_null(sjmp__heap_calloc(base, NULL, SIZE_MAX / 2 + 1, 2));
	cr_assert_eq(errno, ENOMEM);
	cr_assert_null(sjmp__heap_calloc(base, NULL, (size_t)1 << 33, (size_t)1 << 33));
	uint8_t *p = sjmp__heap_malloc(base, NULL, 500);
	memset(p, 0xff, 500);
	cr_assert_eq(sjmp__heap_free(base, NULL, p), 0);
	uint8_t *q = sjmp__heap_calloc(base, NULL, 50, 10);
	cr_assert_eq(q, p, "the dirty block is reused");
	for (int i = 0; i < 500; i++)
		cr_assert_eq(q[i], 0);
}

Test(heap_errors, double_free_and_foreign_pointers_are_einval_and_change_nothing, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	struct test_lock *l = test_lock_new();
	struct sjmp__heap_sync sync = test_sync(l);
	uint8_t *a = sjmp__heap_malloc(base, &sync, 100);
	uint8_t *b = sjmp__heap_malloc(base, &sync, 100);
	uint8_t *c = sjmp__heap_malloc(base, &sync, 100);
	uint8_t *d = sjmp__heap_malloc(base, &sync, 100);
	cr_assert_eq(sjmp__heap_free(base, &sync, b), 0);
	cr_assert_eq(sjmp__heap_free(base, &sync, c), 0); /* c merged into b */
	cr_assert_eq(sjmp__heap_free(base, &sync, d), 0); /* d, b+c merged into top */
	memcpy(snap, base, SEG_SIZE);
	int local;
	void *bad[] = {
	    b,
	    c,
	    d,                               /* double frees, in a free block and in top */
	    a + 16,                          /* inside a block, aligned */
	    a + 1,                           /* misaligned */
	    &local,                          /* not in the segment */
	    base,                            /* the header */
	    (uint8_t *)base + SEG_SIZE - 16, /* past top */
	    (uint8_t *)base + SEG_SIZE + 4096,
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(sjmp__heap_free(base, &sync, bad[i]), -EINVAL, "pointer %zu", i);
		cr_assert_eq(memcmp(snap, base, SEG_SIZE), 0, "pointer %zu changed the heap", i);
		errno = 0;
		cr_assert_null(sjmp__heap_realloc(base, &sync, bad[i], 10));
		cr_assert_eq(errno, EINVAL);
		cr_assert_eq(sjmp__heap_usable_size(base, bad[i]), 0);
	}
	cr_assert_eq(memcmp(snap, base, SEG_SIZE), 0);
	cr_assert_eq(sjmp__heap_free(base, &sync, NULL), 0);
	cr_assert_eq(sjmp__heap_free(base, &sync, a), 0);
	test_check(base);
}

static int failing_lock(void *arg)
{
	(void)arg;
	return -EDEADLK;
}

static void no_unlock(void *arg)
{
	(void)arg;
	cr_assert_fail("unlock without lock");
}

Test(heap_errors, lock_errors_are_passed_on, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	struct sjmp__heap_sync s = {failing_lock, no_unlock, NULL};
	errno = 0;
	cr_assert_null(sjmp__heap_malloc(base, &s, 10));
	cr_assert_eq(errno, EDEADLK);
	void *p = sjmp__heap_malloc(base, NULL, 10);
	cr_assert_eq(sjmp__heap_free(base, &s, p), -EDEADLK);
	cr_assert_eq(sjmp__heap_usable_size(base, p), 16);
}

Test(heap_errors, format_rejects_bad_arguments, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	cr_assert_eq(sjmp__heap_format(base, SJMP__HEAP_MIN_SIZE - 1), -EINVAL);
	cr_assert_eq(sjmp__heap_format((uint8_t *)base + 16, SEG_SIZE - 4096), -EINVAL);
	cr_assert_eq(sjmp__heap_format(NULL, SEG_SIZE), -EINVAL);
	/* The smallest heap still allocates. */
	cr_assert_eq(sjmp__heap_format(base, SJMP__HEAP_MIN_SIZE), 0);
	cr_assert_not_null(sjmp__heap_malloc(base, NULL, 100));
	test_check(base);
}

Test(heap_errors, validate_refuses_foreign_headers, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	struct sjmp_seg_header *h = base;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), 0);
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE / 2), -EBADMSG, "size differs");
	cr_assert_eq(sjmp__heap_validate(base, 100), -EBADMSG);
	cr_assert_eq(sjmp__heap_validate(NULL, SEG_SIZE), -EBADMSG);
	struct sjmp_seg_header good = *h;
	h->magic ^= 1;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), -EBADMSG, "magic");
	*h = good;
	h->version = SJMP_SEG_HEADER_VERSION + 1;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), -EBADMSG, "version");
	*h = good;
	h->base += 4096;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), -EBADMSG, "base");
	*h = good;
	h->size *= 2;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), -EBADMSG, "size");
	*h = good;
	h->header_size += 16;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), -EBADMSG, "header_size");
	*h = good;
	cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), 0);
}

/* A heap with allocated blocks, holes of several classes and a top. */
static void *populate(void *base, void **p, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_not_null(p[i] = sjmp__heap_malloc(base, NULL, 24 + (size_t)i * 37));
	for (int i = 0; i < n; i += 3)
		cr_assert_eq(sjmp__heap_free(base, NULL, p[i]), 0);
	return base;
}

static void expect_unclean(const void *base, const char *what)
{
	char why[256];
	struct sjmp_heap_stats s;
	cr_assert_eq(sjmp__heap_check(base, &s, why, sizeof(why)), -EUCLEAN, "%s not detected",
	             what);
	cr_assert_neq(why[0], '\0', "%s: no description", what);
	cr_log_info("%s: %s", what, why);
}

Test(heap_errors, check_reports_each_kind_of_damage, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	void *p[40];
	populate(base, p, 40);
	test_check(base);
	memcpy(snap, base, SEG_SIZE);
	uint64_t *hdr1 = (uint64_t *)p[1] - 2; /* allocated block header */
	uint64_t *hdr3 = (uint64_t *)p[3] - 2; /* free block header */

	hdr1[0] += 16;
	expect_unclean(base, "allocated block size");
	memcpy(base, snap, SEG_SIZE);
	hdr1[1] ^= 1;
	expect_unclean(base, "allocated block tag");
	memcpy(base, snap, SEG_SIZE);
	hdr1[0] &= ~(uint64_t)1;
	expect_unclean(base, "allocated block marked free");
	memcpy(base, snap, SEG_SIZE);
	hdr1[0] |= 4;
	expect_unclean(base, "unknown flag");
	memcpy(base, snap, SEG_SIZE);
	hdr1[0] = 0;
	expect_unclean(base, "zero size");
	memcpy(base, snap, SEG_SIZE);
	hdr3[0] = (hdr3[0] & 15) | ((hdr3[0] & ~(uint64_t)15) * 1000);
	expect_unclean(base, "free block size past top");
	memcpy(base, snap, SEG_SIZE);
	hdr3[1] = (uintptr_t)hdr3 - (uintptr_t)base; /* next link to itself: a cycle */
	expect_unclean(base, "free list cycle");
	memcpy(base, snap, SEG_SIZE);
	hdr3[1] = 8;
	expect_unclean(base, "free list link outside the heap");
	memcpy(base, snap, SEG_SIZE);
	hdr3[2] ^= 16;
	expect_unclean(base, "free list prev link");
	memcpy(base, snap, SEG_SIZE);
	uint64_t fsize = hdr3[0] & ~(uint64_t)15;
	*(uint64_t *)((uint8_t *)hdr3 + fsize - 8) += 16;
	expect_unclean(base, "footer");
	memcpy(base, snap, SEG_SIZE);
	((struct sjmp_seg_header *)base)->magic = 0;
	expect_unclean(base, "header magic");
	memcpy(base, snap, SEG_SIZE);
	/* A counter in the state: the first words after the header. */
	for (unsigned w = 8; w < 24; w++) {
		((uint64_t *)base)[w] += 16;
		expect_unclean(base, "state word");
		memcpy(base, snap, SEG_SIZE);
	}
	test_check(base);
}

Test(heap_errors, operations_on_damaged_lists_fail_with_euclean_and_roll_back, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	void *p[40];
	populate(base, p, 40);
	uint32_t hs = ((struct sjmp_seg_header *)base)->header_size;
	uint64_t *hdr3 = (uint64_t *)p[3] - 2; /* free */
	hdr3[1] = 8;                           /* its next link points into the header */
	memcpy(snap, base, SEG_SIZE);
	/* Freeing p[4] merges with the free p[3], whose list links are damaged. */
	cr_assert_eq(sjmp__heap_free(base, NULL, p[4]), -EUCLEAN);
	cr_assert_eq(memcmp(snap, base, sizeof(struct sjmp_seg_header)), 0);
	cr_assert_eq(memcmp(snap + hs, (uint8_t *)base + hs, SEG_SIZE - hs), 0,
	             "the half-done free was not rolled back");
	cr_assert_eq(sjmp__heap_check(base, NULL, NULL, 0), -EUCLEAN);
	/* Allocations that need that list fail too; others still work. */
	errno = 0;
	void *q = sjmp__heap_malloc(base, NULL, 200);
	cr_assert(q != NULL || errno == EUCLEAN);
	cr_assert_eq(memcmp(snap, base, sizeof(struct sjmp_seg_header)), 0);
}

static unsigned log_lines;

static void count_log(enum sjmp_log_level level, const char *line, void *arg)
{
	(void)level, (void)line, (void)arg;
	log_lines++;
}

/* Random damage anywhere in the metadata, then check and a few operations: never a crash. */
Test(heap_errors, random_damage_never_crashes_or_hangs, .timeout = 30)
{
	void *base = test_heap_new(SEG_SIZE);
	void *p[40];
	populate(base, p, 40);
	memcpy(snap, base, SEG_SIZE);
	uint32_t hs = ((struct sjmp_seg_header *)base)->header_size;
	uint64_t rng = 99;
	unsigned detected = 0;
	sjmp_set_log(count_log, NULL);
	for (int it = 0; it < 3000; it++) {
		memcpy(base, snap, SEG_SIZE);
		int n = 1 + (int)(rnd(&rng) % 4);
		for (int j = 0; j < n; j++) {
			/* Mostly the state and the first blocks, where the metadata is dense. */
			size_t span = rnd(&rng) % 2 ? hs : 8192;
			/* Not the segment header: validate() vouches for it against the mapping. */
			size_t at = 64 + rnd(&rng) % (span - 64);
			uint64_t v = rnd(&rng);
			if (rnd(&rng) % 2)
				((uint8_t *)base)[at] ^= (uint8_t)(1u << (v % 8));
			else
				((uint8_t *)base)[at] = (uint8_t)v;
		}
		char why[128];
		int r = sjmp__heap_check(base, NULL, why, sizeof(why));
		cr_assert(r == 0 || r == -EUCLEAN);
		detected += r != 0;
		/* Operations must not crash either (they may fail with EUCLEAN). */
		void *q = sjmp__heap_malloc(base, NULL, rnd(&rng) % 3000);
		sjmp__heap_free(base, NULL, q);
		sjmp__heap_free(base, NULL, p[rnd(&rng) % 40]);
		sjmp__heap_realloc(base, NULL, p[rnd(&rng) % 40], rnd(&rng) % 3000);
		sjmp__heap_check(base, NULL, why, sizeof(why));
	}
	sjmp_set_log(NULL, NULL);
	cr_log_info("%u of 3000 damages detected, %u log lines", detected, log_lines);
	cr_assert_gt(detected, 1000, "only %u of 3000 damages detected", detected);
	cr_assert_gt(log_lines, 0, "failing operations said nothing");
}

Test(heap_errors, check_survives_garbage_blocks, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	uint32_t hs = ((struct sjmp_seg_header *)base)->header_size;
	uint64_t rng = 5;
	for (int it = 0; it < 300; it++) {
		void *p[40];
		cr_assert_eq(sjmp__heap_format(base, SEG_SIZE), 0);
		populate(base, p, 40);
		/* Every block word random: sizes, links and footers pointing anywhere. */
		for (size_t i = hs / 8; i < SEG_SIZE / 8; i++) {
			uint64_t v = rnd(&rng);
			((uint64_t *)base)[i] = it % 3 == 0   ? v
			                        : it % 3 == 1 ? v % SEG_SIZE
			                                      : v % 256;
		}
		cr_assert_eq(sjmp__heap_check(base, NULL, NULL, 0), -EUCLEAN);
		sjmp__heap_recover(base);
	}
}
