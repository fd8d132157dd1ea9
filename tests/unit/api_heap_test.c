/* SPDX-License-Identifier: MIT */
/*
 * The per-segment heap through the public API (sjmp_seg_malloc and friends): where it may be
 * used (ENXIO, EROFS, EBADF), a random sequence of operations checked against a model of the
 * live blocks, and that its state lives in the segment: detach, re-attach, another process.
 */
#include "api_util.h"

TestSuite(heap, .init = api_setup, .fini = api_teardown, .timeout = 30);

Test(heap, allocates_in_the_current_vas_only)
{
	char s[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(s, "where"), 1, 16 * API_PAGE, API_RW, 0600);
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, sid, API_RW));
	errno = 0;
	cr_expect_null(sjmp_seg_malloc(sid, 32), "not mapped in the primary VAS");
	cr_expect_eq(errno, ENXIO);
	errno = 0;
	cr_expect_null(sjmp_seg_calloc(sid, 2, 16));
	cr_expect_eq(errno, ENXIO);
	errno = 0;
	cr_expect_null(sjmp_seg_realloc(sid, NULL, 16));
	cr_expect_eq(errno, ENXIO);
	cr_expect_eq(sjmp_seg_root_set(sid, NULL), -ENXIO);
	cr_expect_null(sjmp_seg_root_get(sid));
	cr_expect_eq(sjmp_seg_heap_check(sid, NULL), -ENXIO);
	errno = 0;
	cr_expect_null(sjmp_seg_malloc(99, 32));
	cr_expect_eq(errno, EBADF);
	cr_expect_eq(sjmp_seg_root_set(99, NULL), -EBADF);
	cr_expect_eq(sjmp_seg_heap_check(99, NULL), -EBADF);
	sjmp_seg_free(99, (void *)API_BASE(1)); /* no effect, no crash */

	api_switch(vh);
	char *p = sjmp_seg_malloc(sid, 100);
	cr_assert_not_null(p, "%s", strerror(errno));
	cr_expect_eq((uintptr_t)p % 16, 0u);
	cr_expect((uintptr_t)p > API_BASE(1) && (uintptr_t)p + 100 <= API_BASE(1) + 16 * API_PAGE,
	          "%p is outside the segment", p);
	memset(p, 'x', 100);
	uint64_t *z = sjmp_seg_calloc(sid, 8, sizeof(uint64_t));
	cr_assert_not_null(z);
	for (int i = 0; i < 8; i++)
		cr_expect_eq(z[i], 0u);
	char *q = sjmp_seg_realloc(sid, p, 3000);
	cr_assert_not_null(q);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(q[i], 'x', "realloc lost byte %d", i);
	cr_expect_eq(sjmp_seg_root_set(sid, q), 0);
	cr_expect_eq(sjmp_seg_root_get(sid), q);
	cr_expect_eq(((struct sjmp_seg_header *)API_BASE(1))->root, q, "the root is in the header");
	struct sjmp_heap_stats st;
	cr_assert_eq(sjmp_seg_heap_check(sid, &st), 0);
	cr_expect_eq(st.used_blocks, 2u);
	cr_expect_eq(st.used_bytes + st.free_bytes, st.heap_bytes);
	sjmp_seg_free(sid, NULL);
	sjmp_seg_free(sid, z);
	sjmp_seg_free(sid, q);
	cr_assert_eq(sjmp_seg_heap_check(sid, &st), 0);
	cr_expect_eq(st.used_blocks, 0u);
	cr_expect_eq(st.used_bytes, 0u);

	errno = 0;
	cr_expect_null(sjmp_seg_calloc(sid, SIZE_MAX / 2, 4), "n * size overflows");
	cr_expect_eq(errno, ENOMEM);
	errno = 0;
	cr_expect_null(sjmp_seg_malloc(sid, 32 * API_PAGE), "larger than the segment");
	cr_expect_eq(errno, ENOMEM);
	cr_assert_eq(sjmp_seg_heap_check(sid, &st), 0);
	cr_expect_eq(st.used_blocks, 0u, "a failed allocation left a block");
	api_switch(SJMP_PRIMARY);
}

Test(heap, refuses_a_read_only_mapping_with_erofs)
{
	char s[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(s, "rofs"), 1, 16 * API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), 0);
	void *p = sjmp_seg_malloc(sid, 64);
	cr_assert_not_null(p);
	cr_assert_eq(sjmp_seg_root_set(sid, p), 0);
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), 0);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
	errno = 0;
	cr_expect_null(sjmp_seg_malloc(sid, 64));
	cr_expect_eq(errno, EROFS);
	errno = 0;
	cr_expect_null(sjmp_seg_realloc(sid, p, 128));
	cr_expect_eq(errno, EROFS);
	cr_expect_eq(sjmp_seg_root_set(sid, NULL), -EROFS);
	sjmp_seg_free(sid, p); /* refused: still allocated below */
	/* Reading is fine. */
	cr_expect_eq(sjmp_seg_root_get(sid), p);
	struct sjmp_heap_stats st;
	cr_expect_eq(sjmp_seg_heap_check(sid, &st), 0);
	cr_expect_eq(st.used_blocks, 1u);
}

struct live {
	uint8_t *p;
	size_t size;
	uint8_t fill;
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Checks every live block's bytes and the heap's counts. */
static void verify(sjmp_sid_t sid, const struct live *l, size_t n, const char *when)
{
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		if (!l[i].p)
			continue;
		used++;
		for (size_t k = 0; k < l[i].size; k++)
			cr_assert_eq(l[i].p[k], l[i].fill, "%s: block %zu byte %zu changed", when,
			             i, k);
	}
	struct sjmp_heap_stats st;
	cr_assert_eq(sjmp_seg_heap_check(sid, &st), 0, "%s: heap_check", when);
	cr_expect_eq(st.used_blocks, used, "%s: %zu blocks used, model has %zu", when,
	             st.used_blocks, used);
	cr_expect_eq(st.used_bytes + st.free_bytes, st.heap_bytes, "%s", when);
}

#define SLOTS 256

Test(heap, random_operations_agree_with_a_model_across_detach_and_processes)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];
	static struct live l[SLOTS];

	sjmp_sid_t sid = api_seg(api_name(s, "model"), 1, 1UL << 20, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "model-vas"), sid, API_RW);
	sjmp_vh_t vh = api_attach(vid);
	api_switch(vh);
	for (int op = 0; op < 5000; op++) {
		size_t i = next() % SLOTS;
		if (!l[i].p) {
			size_t size = next() % 4 ? next() % 256 : next() % 8192;
			bool zero = next() % 4 == 0;
			l[i].p = zero ? sjmp_seg_calloc(sid, 1, size) : sjmp_seg_malloc(sid, size);
			cr_assert_not_null(l[i].p, "op %d: alloc %zu: %s", op, size,
			                   strerror(errno));
			if (zero)
				for (size_t k = 0; k < size; k++)
					cr_assert_eq(l[i].p[k], 0, "calloc byte %zu", k);
			l[i].size = size;
			l[i].fill = (uint8_t)next();
			memset(l[i].p, l[i].fill, size);
		} else if (next() % 3 == 0) {
			size_t size = next() % 4096;
			uint8_t *q = sjmp_seg_realloc(sid, l[i].p, size);
			cr_assert_not_null(q, "op %d: realloc", op);
			size_t keep = size < l[i].size ? size : l[i].size;
			for (size_t k = 0; k < keep; k++)
				cr_assert_eq(q[k], l[i].fill, "op %d: realloc byte %zu", op, k);
			memset(q, l[i].fill, size);
			l[i].p = q;
			l[i].size = size;
		} else {
			sjmp_seg_free(sid, l[i].p);
			l[i].p = NULL;
		}
		if (op % 1000 == 999)
			verify(sid, l, SLOTS, "during");
	}
	cr_assert_eq(sjmp_seg_root_set(sid, l), 0); /* any pointer: just a value to find */
	verify(sid, l, SLOTS, "after the run");

	/* Detach everything and come back. */
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_vas_detach(vh), 0);
	cr_assert_eq(sjmp_vas_close(vid), 0);
	vh = api_attach(sjmp_vas_find(v));
	api_switch(vh);
	cr_expect_eq(sjmp_seg_root_get(sid), (void *)l);
	verify(sid, l, SLOTS, "after detach and re-attach");

	/* Another process continues where this one stopped. */
	api_switch(SJMP_PRIMARY);
	pid_t pid = api_fork();
	if (pid == 0) {
		sjmp_vh_t cvh = sjmp_vas_attach(sjmp_vas_find(v));
		sjmp_sid_t csid = sjmp_seg_find(s);
		if (cvh < 0 || csid < 0 || sjmp_vas_switch(cvh) < 0)
			_exit(10);
		for (size_t i = 0; i < SLOTS; i += 2) {
			if (l[i].p) {
				sjmp_seg_free(csid, l[i].p);
				l[i].p = NULL;
			}
		}
		uint8_t *p = sjmp_seg_malloc(csid, 1000);
		if (!p)
			_exit(11);
		memset(p, 0xab, 1000);
		sjmp_seg_root_set(csid, p);
		_exit(sjmp_seg_heap_check(csid, NULL) == 0 ? 0 : 12);
	}
	cr_assert_eq(api_reap(pid), 0);
	for (size_t i = 0; i < SLOTS; i += 2)
		l[i].p = NULL;
	api_switch(vh);
	uint8_t *p = sjmp_seg_root_get(sid);
	cr_assert_not_null(p);
	for (int k = 0; k < 1000; k++)
		cr_assert_eq(p[k], 0xab);
	struct sjmp_heap_stats st;
	size_t used = 1;
	for (size_t i = 0; i < SLOTS; i++)
		used += l[i].p != NULL;
	cr_assert_eq(sjmp_seg_heap_check(sid, &st), 0);
	cr_expect_eq(st.used_blocks, used);
	/* Free everything: the heap is one free block again. */
	sjmp_seg_free(sid, p);
	for (size_t i = 0; i < SLOTS; i++)
		sjmp_seg_free(sid, l[i].p);
	cr_assert_eq(sjmp_seg_heap_check(sid, &st), 0);
	cr_expect_eq(st.used_blocks, 0u);
	cr_expect_eq(st.free_blocks, 1u, "free blocks were not coalesced: %zu", st.free_blocks);
	api_switch(SJMP_PRIMARY);
}
