/* SPDX-License-Identifier: MIT */
/*
 * heap_bench - the per-segment heap against glibc malloc on the same allocation traces, in the
 * same run: throughput (median of several timed runs after a warm-up) and fragmentation (peak
 * footprint / peak live bytes). One parseable line per result:
 *
 *   heap_bench: workload=W allocator=A ops=N runs=R ops_per_s=X median_ns_per_op=Y min_ns_per_op=Z
 *   heap_bench: workload=W allocator=A peak_live_bytes=L peak_footprint_bytes=F fragmentation=F/L
 *
 * The sjmp heap runs with its lock set to an uncontended pthread mutex, as a single-threaded
 * program would pay. Footprint: for sjmp, the highest end of any block above the heap's start
 * (the heap never uses more than that); for glibc, arena plus mmapped bytes (mallinfo2),
 * sampled every 64 operations in a fresh child process.
 * Usage: heap_bench [ops per run, default 1000000]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "heap.h"

#define SEG_BASE ((void *)0x190000000000UL) /* inside the segment zone */
#define SEG_SIZE (1UL << 30)
#define NSLOTS   4096
#define RUNS     7

struct op {
	uint32_t slot;
	uint32_t size; /* 0: free the slot */
};

struct trace {
	const char *name;
	struct op *ops;
	size_t n;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* 16..4096 bytes, each power-of-two range equally likely (small objects dominate by count). */
static uint32_t size_mixed(uint64_t *s)
{
	uint32_t lo = 16u << (rnd(s) % 8);
	return lo + (uint32_t)(rnd(s) % lo) + 1 > 4096 ? 4096 : lo + (uint32_t)(rnd(s) % lo);
}

/* 90% as mixed, 10% 4 KiB..256 KiB. */
static uint32_t size_large(uint64_t *s)
{
	if (rnd(s) % 10)
		return size_mixed(s);
	uint32_t lo = 4096u << (rnd(s) % 6);
	return lo + (uint32_t)(rnd(s) % lo);
}

/* Random slot: allocate when empty, free when full; ends with everything freed. */
static struct trace make_trace(const char *name, size_t n, uint32_t (*size)(uint64_t *))
{
	struct trace t = {name, calloc(n + NSLOTS, sizeof(struct op)), 0};
	uint8_t used[NSLOTS] = {0};
	uint64_t s = 0x5eed;
	if (!t.ops)
		abort();
	for (size_t i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)(rnd(&s) % NSLOTS);
		t.ops[t.n++] = (struct op){slot, used[slot] ? 0 : size(&s)};
		used[slot] ^= 1;
	}
	for (uint32_t slot = 0; slot < NSLOTS; slot++)
		if (used[slot])
			t.ops[t.n++] = (struct op){slot, 0};
	return t;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static pthread_mutex_t heap_mutex = PTHREAD_MUTEX_INITIALIZER;

static int mutex_lock(void *arg)
{
	return -pthread_mutex_lock(arg);
}

static void mutex_unlock(void *arg)
{
	pthread_mutex_unlock(arg);
}

static const struct sjmp__heap_sync sync_mutex = {mutex_lock, mutex_unlock, &heap_mutex};
static const struct sjmp__heap_sync *heap_sync = &sync_mutex;

static void *slots[NSLOTS];

static void fail(const char *what)
{
	fprintf(stderr, "heap_bench: %s failed (errno %d)\n", what, errno);
	exit(1);
}

static void run_sjmp(const struct trace *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct op *o = &t->ops[i];
		if (o->size) {
			void *p = sjmp__heap_malloc(SEG_BASE, heap_sync, o->size);
			if (!p)
				fail("sjmp malloc");
			*(volatile uint64_t *)p = i;
			slots[o->slot] = p;
		} else {
			sjmp__heap_free(SEG_BASE, heap_sync, slots[o->slot]);
		}
	}
}

static void run_glibc(const struct trace *t)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct op *o = &t->ops[i];
		if (o->size) {
			void *p = malloc(o->size);
			if (!p)
				fail("malloc");
			*(volatile uint64_t *)p = i;
			slots[o->slot] = p;
		} else {
			free(slots[o->slot]);
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Warm up once, then RUNS timed runs; print the median. */
static double measure(const struct trace *t, const char *alloc, void (*run)(const struct trace *))
{
	double ns[RUNS];
	for (int r = -1; r < RUNS; r++) {
		if (run == run_sjmp && sjmp__heap_format(SEG_BASE, SEG_SIZE) != 0)
			fail("format");
		double t0 = now_ns();
		run(t);
		double t1 = now_ns();
		if (r >= 0)
			ns[r] = (t1 - t0) / (double)t->n;
		if (run == run_sjmp) {
			/* Verify: the trace frees everything, so the heap must be clean and empty.
			 */
			struct sjmp_heap_stats s;
			char why[200];
			if (sjmp__heap_check(SEG_BASE, &s, why, sizeof(why)) != 0 || s.used_blocks)
				fprintf(stderr, "heap_bench: sjmp heap damaged: %s\n", why),
				    exit(1);
		}
	}
	qsort(ns, RUNS, sizeof(ns[0]), cmp_double);
	double med = ns[RUNS / 2];
	printf("heap_bench: workload=%s allocator=%s ops=%zu runs=%d ops_per_s=%.0f "
	       "median_ns_per_op=%.1f min_ns_per_op=%.1f\n",
	       t->name, alloc, t->n, RUNS, 1e9 / med, med, ns[0]);
	return med;
}

static void frag_line(const struct trace *t, const char *alloc, size_t live, size_t footprint)
{
	printf("heap_bench: workload=%s allocator=%s peak_live_bytes=%zu peak_footprint_bytes=%zu "
	       "fragmentation=%.3f\n",
	       t->name, alloc, live, footprint, (double)footprint / (double)live);
}

static void frag_sjmp(const struct trace *t)
{
	if (sjmp__heap_format(SEG_BASE, SEG_SIZE) != 0)
		fail("format");
	uint32_t sizes[NSLOTS] = {0};
	size_t live = 0, peak_live = 0, peak_end = 0;
	uintptr_t start = (uintptr_t)SEG_BASE + ((struct sjmp_seg_header *)SEG_BASE)->header_size;
	for (size_t i = 0; i < t->n; i++) {
		const struct op *o = &t->ops[i];
		if (o->size) {
			void *p = sjmp__heap_malloc(SEG_BASE, &sync_mutex, o->size);
			if (!p)
				fail("sjmp malloc");
			uintptr_t end = (uintptr_t)p + sjmp__heap_usable_size(SEG_BASE, p) - start;
			peak_end = end > peak_end ? end : peak_end;
			slots[o->slot] = p;
			sizes[o->slot] = o->size;
			live += o->size;
			peak_live = live > peak_live ? live : peak_live;
		} else {
			sjmp__heap_free(SEG_BASE, &sync_mutex, slots[o->slot]);
			live -= sizes[o->slot];
		}
	}
	frag_line(t, "sjmp", peak_live, peak_end);
}

/* In a child, so that glibc starts from a fresh arena. */
static void frag_glibc(const struct trace *t)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid > 0) {
		int st;
		waitpid(pid, &st, 0);
		return;
	}
	uint32_t sizes[NSLOTS] = {0};
	size_t live = 0, peak_live = 0, peak_fp = 0;
	/* What the process had before the trace (the traces themselves) is not the trace's. */
	struct mallinfo2 mi0 = mallinfo2();
	size_t fp0 = mi0.arena + mi0.hblkhd;
	for (size_t i = 0; i < t->n; i++) {
		const struct op *o = &t->ops[i];
		if (o->size) {
			slots[o->slot] = malloc(o->size);
			if (!slots[o->slot])
				fail("malloc");
			sizes[o->slot] = o->size;
			live += o->size;
			peak_live = live > peak_live ? live : peak_live;
		} else {
			free(slots[o->slot]);
			live -= sizes[o->slot];
		}
		if (i % 64 == 0) {
			struct mallinfo2 mi = mallinfo2();
			size_t fp = mi.arena + mi.hblkhd - fp0;
			peak_fp = fp > peak_fp ? fp : peak_fp;
		}
	}
	frag_line(t, "glibc", peak_live, peak_fp);
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	void *b = mmap(SEG_BASE, SEG_SIZE, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (b != SEG_BASE)
		fail("mmap of the segment");
	struct trace traces[] = {make_trace("mixed", n, size_mixed),
	                         make_trace("large", n / 4, size_large)};
	for (size_t i = 0; i < sizeof(traces) / sizeof(traces[0]); i++) {
		const struct trace *t = &traces[i];
		frag_sjmp(t);
		frag_glibc(t);
		double s = measure(t, "sjmp", run_sjmp);
		/* The same without the lock: what the mutex costs. */
		heap_sync = NULL;
		measure(t, "sjmp_nolock", run_sjmp);
		heap_sync = &sync_mutex;
		double g = measure(t, "glibc", run_glibc);
		printf("heap_bench: workload=%s ratio_sjmp_over_glibc=%.2f\n", t->name, s / g);
		free(t->ops);
	}
	return 0;
}
