/* SPDX-License-Identifier: MIT */
/*
 * bench.h - shared measurement helpers: a serialised cycle counter, median and p99 over
 * samples, and one parseable output line per result (STYLE.md: benchmarks).
 */
#ifndef SJMP_BENCH_H
#define SJMP_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t bench_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/** Sorts @v and reports median and p99 as "NAME median_ns=... p99_ns=... n=..." plus @extra. */
static inline void bench_report(const char *bench, const char *name, uint64_t *v, size_t n,
                                const char *extra)
{
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	uint64_t med = v[n / 2], p99 = v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
	printf("%s: case=%s median_ns=%llu p99_ns=%llu n=%zu%s%s\n", bench, name,
	       (unsigned long long)med, (unsigned long long)p99, n, extra ? " " : "",
	       extra ? extra : "");
	fflush(stdout);
}

static inline uint64_t bench_median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	return v[n / 2];
}

#endif
