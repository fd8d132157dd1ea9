/* SPDX-License-Identifier: MIT */
/* The heap against a model: random operation sequences, block reuse, merging, in-place realloc. */
#include "heap_util.h"

#define SEG_SIZE (2u << 20)

static void run_seed(uint64_t seed, unsigned ops)
{
	void *base = test_heap_new(SEG_SIZE);
	struct test_lock *l = test_lock_new();
	struct sjmp__heap_sync sync = test_sync(l);
	struct model m = {.name = "model"};
	uint64_t rng = seed;
	unsigned full = 0;

	for (unsigned i = 1; i <= ops; i++) {
		if (!model_step(&m, base, &sync, &rng, 16384))
			full++;
		if (i % 250 == 0) {
			struct sjmp_heap_stats s = test_check(base);
			cr_assert_eq(s.used_blocks, m.n,
			             "seed %llu op %u: heap has %zu blocks, "
			             "model %zu",
			             (unsigned long long)seed, i, s.used_blocks, m.n);
			cr_assert_eq(s.used_bytes, model_block_bytes(&m, base), "seed %llu op %u",
			             (unsigned long long)seed, i);
		}
		if (i % 2500 == 0)
			model_verify(&m, base, SEG_SIZE);
	}
	cr_assert_gt(full, 0, "seed %llu: the sequence never filled the heap; ENOMEM untested",
	             (unsigned long long)seed);
	cr_log_info("seed %llu: undo log peak %llu entries", (unsigned long long)seed,
	            (unsigned long long)sjmp__heap_log_peak(base));
	cr_assert_lt(sjmp__heap_log_peak(base), 64);

	/* Everything freed: the heap is one empty top again. */
	model_free_all(&m, base, &sync);
	struct sjmp_heap_stats s = test_check(base);
	cr_assert_eq(s.used_blocks, 0);
	cr_assert_eq(s.free_blocks, 1);
	cr_assert_eq(s.free_bytes, s.heap_bytes);
	free(m.v);
	munmap(base, SEG_SIZE);
}

Test(heap_model, random_ops_agree_with_model_seed1, .timeout = 30)
{
	run_seed(1, 30000);
}

Test(heap_model, random_ops_agree_with_model_seed2, .timeout = 30)
{
	run_seed(0xdeadbeef, 30000);
}

Test(heap_model, random_ops_agree_with_model_seed3, .timeout = 30)
{
	run_seed(42424242, 30000);
}

Test(heap_model, random_ops_agree_with_model_seed4, .timeout = 30)
{
	run_seed(0x123456789abcdefULL, 30000);
}

Test(heap_model, unlocked_heap_works_with_null_sync, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	struct model m = {.name = "nosync"};
	uint64_t rng = 7;
	for (unsigned i = 0; i < 5000; i++)
		model_step(&m, base, NULL, &rng, 4096);
	model_verify(&m, base, SEG_SIZE);
	test_check(base);
	free(m.v);
}

Test(heap_model, freed_small_block_is_reused_first, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	void *a = sjmp__heap_malloc(base, NULL, 40);
	void *guard = sjmp__heap_malloc(base, NULL, 40);
	cr_assert(a && guard);
	cr_assert_eq(sjmp__heap_free(base, NULL, a), 0);
	cr_assert_eq(sjmp__heap_malloc(base, NULL, 40), a);
	test_check(base);
}

Test(heap_model, free_merges_both_neighbours, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	void *p[5];
	for (int i = 0; i < 5; i++)
		cr_assert_not_null(p[i] = sjmp__heap_malloc(base, NULL, 1000));
	cr_assert_eq(sjmp__heap_free(base, NULL, p[1]), 0);
	cr_assert_eq(sjmp__heap_free(base, NULL, p[3]), 0);
	cr_assert_eq(test_check(base).free_blocks, 3); /* two holes + top */
	cr_assert_eq(sjmp__heap_free(base, NULL, p[2]), 0);
	struct sjmp_heap_stats s = test_check(base);
	cr_assert_eq(s.free_blocks, 2, "p1..p3 merged into one block, plus top");
	/* The merged hole serves a request of three blocks' size without touching top. */
	void *big = sjmp__heap_malloc(base, NULL, 3000);
	cr_assert_eq(big, p[1]);
	/* Freeing the last block gives it back to top. */
	cr_assert_eq(sjmp__heap_free(base, NULL, p[4]), 0);
	cr_assert_eq(test_check(base).free_blocks, 1);
}

Test(heap_model, realloc_resizes_in_place_when_it_can, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	uint8_t *a = sjmp__heap_malloc(base, NULL, 100);
	void *b = sjmp__heap_malloc(base, NULL, 500);
	void *c = sjmp__heap_malloc(base, NULL, 100);
	cr_assert(a && b && c);
	fill(a, 100, 9);
	cr_assert_eq(sjmp__heap_free(base, NULL, b), 0);
	/* Grows into the free successor. */
	cr_assert_eq(sjmp__heap_realloc(base, NULL, a, 400), a);
	cr_assert_eq(first_bad(a, 100, 9), 100);
	test_check(base);
	/* Shrinks in place, giving the tail back. */
	size_t free_before = test_check(base).free_bytes;
	cr_assert_eq(sjmp__heap_realloc(base, NULL, a, 16), a);
	cr_assert_gt(test_check(base).free_bytes, free_before);
	cr_assert_eq(first_bad(a, 16, 9), 16);
	/* The last block grows into top. */
	cr_assert_eq(sjmp__heap_realloc(base, NULL, c, 100000), c);
	/* A block that cannot grow moves, keeping its bytes. */
	uint8_t *a2 = sjmp__heap_realloc(base, NULL, a, 5000);
	cr_assert_not_null(a2);
	cr_assert_neq(a2, a);
	cr_assert_eq(first_bad(a2, 16, 9), 16);
	cr_assert_null(sjmp__heap_realloc(base, NULL, a2, 0), "realloc to 0 frees");
	cr_assert_eq(sjmp__heap_free(base, NULL, c), 0);
	cr_assert_eq(test_check(base).used_blocks, 0);
}

Test(heap_model, large_blocks_use_best_fit, .timeout = 10)
{
	void *base = test_heap_new(SEG_SIZE);
	void *p[8];
	size_t sizes[8] = {3000, 64, 2200, 64, 2600, 64, 2100, 64};
	for (int i = 0; i < 8; i++)
		cr_assert_not_null(p[i] = sjmp__heap_malloc(base, NULL, sizes[i]));
	for (int i = 0; i < 8; i += 2)
		cr_assert_eq(sjmp__heap_free(base, NULL, p[i]), 0);
	/* 2050 fits 3000, 2200, 2600 and 2100 (all one size class): the tightest is 2100. */
	cr_assert_eq(sjmp__heap_malloc(base, NULL, 2050), p[6]);
	test_check(base);
}
