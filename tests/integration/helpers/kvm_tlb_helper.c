/* SPDX-License-Identifier: MIT */
/*
 * kvm_tlb_helper - exec'd by tests/integration/kvm_tlb_test.c with SJMP_BACKEND=kvm. Thread A
 * changes the segments of a VAS while thread B is inside it; B must never keep using a stale
 * translation. Prints "key=value" lines; argv[1] selects:
 *   detach   B loops reading a segment of X; A detaches it: B faults (SIGSEGV, si_addr in the
 *            segment) at once instead of reading on
 *   attach   B faulted on an address of X; A attaches a segment there: B reads it
 *   replace  B loops reading X; A detaches the segment and attaches another at the same base:
 *            B reads the new segment's bytes
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sjmp.h"

#define BASE  (SJMP_ZONE_BASE + (32UL << 30))
#define SIZE  (1UL << 20) /* 4 KiB guest pages: kvm_pvm lets leaf tables go unsync */
#define ADDR  (BASE + 65536)
#define FILL1 0x1111111111111111UL
#define FILL2 0x2222222222222222UL

static sjmp_sid_t filled_segment(uint64_t fill)
{
	sjmp_sid_t sid = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	if (sid < 0 || vid < 0)
		return -1;
	sjmp_vh_t vh = sjmp_vas_attach(vid);
	if (vh < 0 || sjmp_seg_attach(vh, sid, SJMP_READ | SJMP_WRITE) < 0 ||
	    sjmp_vas_switch(vh) < 0)
		return -1;
	for (uint64_t a = BASE + 4096; a < BASE + SIZE; a += 8)
		*(volatile uint64_t *)a = fill;
	sjmp_vas_switch(SJMP_PRIMARY);
	return sid;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static __thread sigjmp_buf jb;
static volatile uint64_t fault_addr;
static volatile int faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	fault_addr = (uint64_t)si->si_addr;
	faults++;
	siglongjmp(jb, 1);
}

static sjmp_vh_t x;
static volatile int ready, phase, stop, bad;
static volatile uint64_t reads, after_flag_value;

/* B: loops reading ADDR inside X until @stop; a fault ends the loop (detach). */
static void *reader_detach(void *arg)
{
	(void)arg;
	if (sjmp_vas_switch(x) < 0)
		return NULL;
	if (sigsetjmp(jb, 1))
		goto out;
	ready = 1;
	while (!stop) {
		if (*(volatile uint64_t *)ADDR != FILL1)
			bad = 1;
		reads++;
	}
out:
	sjmp_vas_switch(SJMP_PRIMARY);
	return NULL;
}

static int detach(void)
{
	sjmp_sid_t s1 = filled_segment(FILL1);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	x = vid < 0 ? -1 : sjmp_vas_attach(vid);
	if (s1 < 0 || x < 0 || sjmp_seg_attach(x, s1, SJMP_READ | SJMP_WRITE) < 0)
		return 2;
	pthread_t b;
	pthread_create(&b, NULL, reader_detach, NULL);
	while (!ready || reads < 100000)
		sched_yield();
	double td = now();
	int r = sjmp_seg_detach(x, s1);
	uint64_t r0 = reads;
	double t0 = now();
	while (!faults && now() - t0 < 5)
		sched_yield();
	uint64_t r1 = reads;
	stop = 1;
	pthread_join(b, NULL);
	printf("backend=%s\ndetach=%d\nfaulted=%d\nfault_addr_ok=%d\nreads_after_detach=%llu\n"
	       "old_bytes_ok=%d\ndetach_us=%.0f\n",
	       sjmp_backend_name(), r, faults, fault_addr == ADDR, (unsigned long long)(r1 - r0),
	       !bad, (t0 - td) * 1e6);
	return 0;
}

/* B: faults once on ADDR (nothing mapped), waits for the attach, reads ADDR. */
static void *reader_attach(void *arg)
{
	(void)arg;
	if (sjmp_vas_switch(x) < 0)
		return NULL;
	if (sigsetjmp(jb, 1) == 0)
		(void)*(volatile uint64_t *)ADDR; /* caches "not present" */
	ready = 1;
	while (!phase)
		sched_yield();
	if (sigsetjmp(jb, 1) == 0)
		after_flag_value = *(volatile uint64_t *)ADDR;
	sjmp_vas_switch(SJMP_PRIMARY);
	return NULL;
}

static int attach(void)
{
	sjmp_sid_t s2 = filled_segment(FILL2);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	x = vid < 0 ? -1 : sjmp_vas_attach(vid);
	if (s2 < 0 || x < 0)
		return 2;
	pthread_t b;
	pthread_create(&b, NULL, reader_attach, NULL);
	while (!ready)
		sched_yield();
	int faults_before = faults;
	int r = sjmp_seg_attach(x, s2, SJMP_READ | SJMP_WRITE);
	phase = 1;
	pthread_join(b, NULL);
	printf("backend=%s\nattach=%d\nfirst_fault=%d\nno_fault_after_attach=%d\nnew_bytes=%d\n",
	       sjmp_backend_name(), r, faults_before == 1, faults == faults_before,
	       after_flag_value == FILL2);
	return 0;
}

/* B: reads ADDR in X until @stop; faults while nothing is mapped are expected and retried. */
static void *reader_replace(void *arg)
{
	(void)arg;
	if (sjmp_vas_switch(x) < 0)
		return NULL;
	sigsetjmp(jb, 1);
	ready = 1;
	while (!stop) {
		int p = phase;
		uint64_t v = *(volatile uint64_t *)ADDR;
		if (p && v != FILL2)
			bad = 1;
		if (p)
			reads++;
	}
	sjmp_vas_switch(SJMP_PRIMARY);
	return NULL;
}

static int replace(void)
{
	sjmp_sid_t s1 = filled_segment(FILL1), s2 = filled_segment(FILL2);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	x = vid < 0 ? -1 : sjmp_vas_attach(vid);
	if (s1 < 0 || s2 < 0 || x < 0 || sjmp_seg_attach(x, s1, SJMP_READ | SJMP_WRITE) < 0)
		return 2;
	pthread_t b;
	pthread_create(&b, NULL, reader_replace, NULL);
	while (!ready)
		sched_yield();
	usleep(20000);
	int r1 = sjmp_seg_detach(x, s1);
	int r2 = sjmp_seg_attach(x, s2, SJMP_READ | SJMP_WRITE);
	phase = 1;
	double t0 = now();
	while (reads < 100000 && now() - t0 < 5)
		sched_yield();
	stop = 1;
	pthread_join(b, NULL);
	printf("backend=%s\ndetach=%d\nattach=%d\nreads_after=%llu\nonly_new_bytes=%d\n",
	       sjmp_backend_name(), r1, r2, (unsigned long long)reads, !bad);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	int r = sjmp_init();
	if (r < 0) {
		printf("init=%d\n", r);
		return 2;
	}
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER};
	sigaction(SIGSEGV, &sa, NULL);
	printf("init=0\n");
	fflush(stdout);
	if (!strcmp(what, "detach"))
		return detach();
	if (!strcmp(what, "attach"))
		return attach();
	if (!strcmp(what, "replace"))
		return replace();
	fprintf(stderr, "kvm_tlb_helper: unknown scenario \"%s\"\n", what);
	return 64;
}
