/* SPDX-License-Identifier: MIT */
/*
 * guest_bench - guest mode against native, in the same process and run: a forwarded getpid vs
 * native, first-touch page faults in and out of guest mode, and a CPU-bound loop. The native
 * half runs first, then the process calls sjmp_enter() and repeats each measurement.
 * In guest mode it also measures, alone, the two exits a forwarded system call cannot avoid on
 * this platform: the `syscall` instruction at guest CPL 0 into an LSTAR handler that returns at
 * once without exiting to the VMM (on kvm_pvm one in-kernel exit, platform.md), and a bare `out`
 * round trip to the VMM (guest/abi.h SJMP_PORT_NOP); the forwarding path's own cost is getpid
 * minus their sum.
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

#include "abi.h"
#include "sjmp.h"
#include "vmm.h"
#include "x86_64_hw.h"

/* A guest LSTAR handler that returns to the caller without exiting: `syscall` left the return
 * RIP in RCX (SDM Vol. 2B SYSCALL). No popfq (an exit on kvm_pvm): FMASK is 0 while it is in
 * use, so RFLAGS is the caller's. */
extern char bench_lstar_return[];
__asm__(".text\n.globl bench_lstar_return\nbench_lstar_return:\n\tjmp *%rcx\n");

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

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

/* The exits a forwarded call cannot avoid, each alone (guest mode only). No system call may run
 * while LSTAR points at bench_lstar_return: clock_gettime is the vDSO's (0 exits, platform.md). */
static void run_exits(uint64_t overhead)
{
	for (int i = 0; i < N + 50; i++) {
		uint64_t t = now_ns();
		__asm__ volatile("out %%al, %0" : : "i"(SJMP_PORT_NOP), "a"(0) : "memory");
		uint64_t d = now_ns() - t;
		if (i >= 50)
			s[i - 50] = d > overhead ? d - overhead : 0;
	}
	report("out_exit_alone", "guest", s, N);
	/* FMASK 0 for the loop: RFLAGS (IF) stays the caller's across the handler. */
	wrmsr(X86_MSR_FMASK, 0);
	wrmsr(X86_MSR_LSTAR, (uint64_t)bench_lstar_return);
	for (int i = 0; i < N + 50; i++) {
		uint64_t t = now_ns();
		__asm__ volatile("syscall" : : : "rcx", "r11", "memory");
		uint64_t d = now_ns() - t;
		if (i >= 50)
			s[i - 50] = d > overhead ? d - overhead : 0;
	}
	wrmsr(X86_MSR_LSTAR, (uint64_t)guest_syscall_entry);
	wrmsr(X86_MSR_FMASK, X86_RFLAGS_TF | X86_RFLAGS_DF | X86_RFLAGS_IF | X86_RFLAGS_AC |
	                         X86_RFLAGS_NT | (3UL << 12)); /* as vmm_vcpu_setup_arch */
	report("syscall_trap_alone", "guest", s, N);
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
	uint64_t overhead = UINT64_MAX;
	for (int i = 0; i < 100; i++) {
		uint64_t t = now_ns(), d = now_ns() - t;
		overhead = d < overhead ? d : overhead;
	}
	run_exits(overhead);
	return 0;
}
