/* SPDX-License-Identifier: MIT */
/*
 * guest_bench - guest mode against native, in the same process and run: a forwarded getpid vs
 * native, first-touch page faults in and out of guest mode, and a CPU-bound loop. The native
 * half runs first, then the process calls sjmp_enter() and repeats each measurement.
 * One line per result: "bench=NAME mode=native|guest median_ns=N p99_ns=N n=N".
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sjmp.h"

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, const char *mode, uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp);
	printf("bench=%s mode=%s median_ns=%llu p99_ns=%llu n=%zu\n", name, mode,
	       (unsigned long long)v[n / 2], (unsigned long long)v[n * 99 / 100], n);
}

#define N 2000
static uint64_t s[N];

static void run_all(const char *mode)
{
	uint64_t overhead = UINT64_MAX; /* timer cost: the minimum of back-to-back reads */
	for (int i = 0; i < 100; i++) {
		uint64_t t = now_ns(), d = now_ns() - t;
		overhead = d < overhead ? d : overhead;
	}
	for (int i = 0; i < 50; i++) /* warm up */
		syscall(SYS_getpid);
	for (int i = 0; i < N; i++) {
		uint64_t t = now_ns();
		syscall(SYS_getpid);
		uint64_t d = now_ns() - t;
		s[i] = d > overhead ? d - overhead : 0;
	}
	report("getpid", mode, s, N);

	size_t pages = 1000;
	char *p =
	    mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < pages; i++) {
		uint64_t t = now_ns();
		p[i * 4096] = 1;
		s[i] = now_ns() - t;
	}
	report("first_touch_4k", mode, s, pages);
	munmap(p, pages * 4096);

	for (int r = 0; r < 11; r++) {
		uint64_t t = now_ns();
		volatile uint64_t x = 0;
		for (uint64_t i = 0; i < 20000000; i++)
			x += i ^ (x >> 3);
		s[r] = now_ns() - t;
	}
	report("cpu_loop_20M", mode, s, 11);
}

int main(void)
{
	run_all("native");
	int r = sjmp_enter();
	if (r < 0) {
		printf("bench=enter mode=guest error=%d\n", r);
		return 1;
	}
	run_all("guest");
	return 0;
}
