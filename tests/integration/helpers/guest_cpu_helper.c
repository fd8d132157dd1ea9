/* SPDX-License-Identifier: MIT */
/*
 * guest_cpu_helper - CPU state seen by a program, run natively and in guest mode by
 * tests/integration/guest_cpu_test.c. Usage: guest_cpu_helper native|guest cpuid|xsave|clock
 *   cpuid: the CPUID feature words glibc's ifunc selection reads (same in both modes);
 *   xsave: ymm0-15, zmm16-31 and k1 across forwarded system calls (same in both modes);
 *   clock: CLOCK_REALTIME and CLOCK_MONOTONIC now (the test brackets them with its own reads),
 *          and whether MONOTONIC never went back across 2000 reads with exits in between.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sjmp.h"
#include "vmm.h"

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(sub));
}

static void scenario_cpuid(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	/* EBX holds the initial APIC id (which CPU ran it): not compared. */
	printf("leaf1_ecx=%#x\nleaf1_edx=%#x\n", r[2], r[3]);
	cpuid(7, 0, r);
	printf("leaf7_ebx=%#x\nleaf7_ecx=%#x\nleaf7_edx=%#x\n", r[1], r[2], r[3]);
	cpuid(7, 1, r);
	printf("leaf7_1_eax=%#x\n", r[0]);
	cpuid(0xd, 0, r);
	printf("leafd_eax=%#x\nleafd_ebx=%#x\nleafd_ecx=%#x\nleafd_edx=%#x\n", r[0], r[1], r[2],
	       r[3]);
	cpuid(0xd, 1, r);
	printf("leafd_1_eax=%#x\n", r[0]);
	cpuid(0x80000001, 0, r);
	printf("leaf80000001_ecx=%#x\nleaf80000001_edx=%#x\n", r[2], r[3]);
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	printf("xcr0=%#llx\n", (unsigned long long)hi << 32 | lo);
	printf("builtin_avx2=%d\nbuiltin_avx512f=%d\n", __builtin_cpu_supports("avx2") != 0,
	       __builtin_cpu_supports("avx512f") != 0);
}

static uint8_t ypat[16][32] __attribute__((aligned(32))), yout[16][32] __attribute__((aligned(32)));
static uint8_t zpat[16][64] __attribute__((aligned(64))), zout[16][64] __attribute__((aligned(64)));

/* Registers loaded, five forwarded system calls (getpid, write, nanosleep, sched_yield, gettid)
 * made by raw `syscall` instructions, registers stored. */
__attribute__((target("avx512f"))) static void scenario_xsave(int avx512)
{
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 32; j++)
			ypat[i][j] = (uint8_t)(i * 7 + j * 3 + 1);
		for (int j = 0; j < 64; j++)
			zpat[i][j] = (uint8_t)(i * 11 + j * 5 + 2);
	}
	struct timespec ts = {0, 1000000};
	static const char nl[] = "";
	long nrs[5][4] = {{SYS_getpid, 0, 0, 0},
	                  {SYS_write, 1, (long)nl, 0},
	                  {SYS_nanosleep, (long)&ts, 0, 0},
	                  {SYS_sched_yield, 0, 0, 0},
	                  {SYS_gettid, 0, 0, 0}};
	__asm__ volatile(
	    "vmovdqa 0(%[p]), %%ymm0\n\tvmovdqa 32(%[p]), %%ymm1\n\tvmovdqa 64(%[p]), %%ymm2\n\t"
	    "vmovdqa 96(%[p]), %%ymm3\n\tvmovdqa 128(%[p]), %%ymm4\n\tvmovdqa 160(%[p]), %%ymm5\n\t"
	    "vmovdqa 192(%[p]), %%ymm6\n\tvmovdqa 224(%[p]), %%ymm7\n\tvmovdqa 256(%[p]), "
	    "%%ymm8\n\t"
	    "vmovdqa 288(%[p]), %%ymm9\n\tvmovdqa 320(%[p]), %%ymm10\n\t"
	    "vmovdqa 352(%[p]), %%ymm11\n\tvmovdqa 384(%[p]), %%ymm12\n\t"
	    "vmovdqa 416(%[p]), %%ymm13\n\tvmovdqa 448(%[p]), %%ymm14\n\t"
	    "vmovdqa 480(%[p]), %%ymm15\n\t"
	    "xor %%r12d, %%r12d\n"
	    "1:\n\t"
	    "mov %%r12, %%r13\n\tshl $5, %%r13\n\tadd %[n], %%r13\n\t"
	    "mov 0(%%r13), %%rax\n\tmov 8(%%r13), %%rdi\n\tmov 16(%%r13), %%rsi\n\t"
	    "mov 24(%%r13), %%rdx\n\tsyscall\n\t"
	    "inc %%r12\n\tcmp $5, %%r12\n\tjl 1b\n\t"
	    "vmovdqa %%ymm0, 0(%[q])\n\tvmovdqa %%ymm1, 32(%[q])\n\tvmovdqa %%ymm2, 64(%[q])\n\t"
	    "vmovdqa %%ymm3, 96(%[q])\n\tvmovdqa %%ymm4, 128(%[q])\n\tvmovdqa %%ymm5, 160(%[q])\n\t"
	    "vmovdqa %%ymm6, 192(%[q])\n\tvmovdqa %%ymm7, 224(%[q])\n\tvmovdqa %%ymm8, "
	    "256(%[q])\n\t"
	    "vmovdqa %%ymm9, 288(%[q])\n\tvmovdqa %%ymm10, 320(%[q])\n\t"
	    "vmovdqa %%ymm11, 352(%[q])\n\tvmovdqa %%ymm12, 384(%[q])\n\t"
	    "vmovdqa %%ymm13, 416(%[q])\n\tvmovdqa %%ymm14, 448(%[q])\n\t"
	    "vmovdqa %%ymm15, 480(%[q])\n\tvzeroupper"
	    :
	    : [p] "r"(ypat), [q] "r"(yout), [n] "r"(nrs)
	    : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "r12", "r13", "xmm0", "xmm1", "xmm2",
	      "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
	      "xmm13", "xmm14", "xmm15", "memory");
	printf("ymm_across_syscalls_ok=%d\n", !memcmp(ypat, yout, sizeof(yout)));
	if (!avx512)
		return;
	uint32_t k = 0x5a5a, kout = 0;
	__asm__ volatile("kmovw %[k], %%k1\n\t"
	                 "vmovdqa64 0(%[p]), %%zmm16\n\tvmovdqa64 64(%[p]), %%zmm17\n\t"
	                 "vmovdqa64 448(%[p]), %%zmm23\n\tvmovdqa64 960(%[p]), %%zmm31\n\t"
	                 "xor %%r12d, %%r12d\n"
	                 "1:\n\t"
	                 "mov %%r12, %%r13\n\tshl $5, %%r13\n\tadd %[n], %%r13\n\t"
	                 "mov 0(%%r13), %%rax\n\tmov 8(%%r13), %%rdi\n\tmov 16(%%r13), %%rsi\n\t"
	                 "mov 24(%%r13), %%rdx\n\tsyscall\n\t"
	                 "inc %%r12\n\tcmp $5, %%r12\n\tjl 1b\n\t"
	                 "vmovdqa64 %%zmm16, 0(%[q])\n\tvmovdqa64 %%zmm17, 64(%[q])\n\t"
	                 "vmovdqa64 %%zmm23, 448(%[q])\n\tvmovdqa64 %%zmm31, 960(%[q])\n\t"
	                 "kmovw %%k1, %[ko]\n\tvzeroupper"
	                 : [ko] "=r"(kout)
	                 : [p] "r"(zpat), [q] "r"(zout), [n] "r"(nrs), [k] "r"(k)
	                 : "rax", "rdi", "rsi", "rdx", "rcx", "r11", "r12", "r13", "k1", "xmm16",
	                   "xmm17", "xmm23", "xmm31", "memory");
	int ok = !memcmp(zpat[0], zout[0], 128) && !memcmp(zpat[7], zout[7], 64) &&
	         !memcmp(zpat[15], zout[15], 64);
	printf("zmm_across_syscalls_ok=%d\nk1_across_syscalls_ok=%d\n", ok, kout == k);
}

static long long ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void scenario_clock(void)
{
	printf("realtime_ns=%lld\nmonotonic_ns=%lld\n", ns(CLOCK_REALTIME), ns(CLOCK_MONOTONIC));
	long long last = ns(CLOCK_MONOTONIC);
	int back = 0;
	for (int i = 0; i < 2000; i++) {
		long long t = ns(CLOCK_MONOTONIC);
		if (t < last)
			back++;
		last = t;
		if (i % 4 == 0)
			syscall(SYS_getppid); /* an exit to the VMM in guest mode */
	}
	printf("monotonic_backwards=%d\n", back);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "guest")) {
		int r = sjmp_enter();
		if (r < 0 || !vmm_self()) {
			fprintf(stderr, "sjmp_enter=%d\n", r);
			return 2;
		}
	}
	uint32_t r[4];
	cpuid(7, 0, r);
	if (!strcmp(argv[2], "cpuid"))
		scenario_cpuid();
	else if (!strcmp(argv[2], "xsave"))
		scenario_xsave((r[1] >> 16) & 1);
	else if (!strcmp(argv[2], "clock"))
		scenario_clock();
	else
		return 2;
	return 0;
}
