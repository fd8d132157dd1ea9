/* SPDX-License-Identifier: MIT */
/*
 * sys_x86_64.h - raw system calls for the host side of guest mode.
 *
 * The host run loop shares TLS, the heap and libc's locks with the guest program it serves (it
 * is the same thread): it must not call malloc, stdio or anything that touches errno. These
 * wrappers return the kernel's result unchanged (-errno on failure) and touch no memory.
 */
#ifndef SJMP_VMM_SYS_X86_64_H
#define SJMP_VMM_SYS_X86_64_H

#include <stdint.h>

static inline long vmm_sys6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;
	register long r9 __asm__("r9") = a5;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

#define vmm_sys0(nr)             vmm_sys6((nr), 0, 0, 0, 0, 0, 0)
#define vmm_sys1(nr, a)          vmm_sys6((nr), (long)(a), 0, 0, 0, 0, 0)
#define vmm_sys2(nr, a, b)       vmm_sys6((nr), (long)(a), (long)(b), 0, 0, 0, 0)
#define vmm_sys3(nr, a, b, c)    vmm_sys6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define vmm_sys4(nr, a, b, c, d) vmm_sys6((nr), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

/* Read the time-stamp counter (SDM Vol. 2B RDTSC); ordering is not needed for statistics. */
static inline uint64_t vmm_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

#endif
