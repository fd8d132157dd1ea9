/* SPDX-License-Identifier: MIT */
/*
 * guest_enter_helper - exec'd by the integration tests in a fresh, single-threaded process.
 * Enters guest mode, then proves it: reads CR3 (ring 0 only: SIGSEGV natively), makes system
 * calls, and prints "key=value" lines for the test to check. argv[1] selects a scenario.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sjmp.h"
#include "vmm.h"

static uint64_t read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "basic";
	pid_t pid_before = getpid();
	int r = sjmp_enter();
	if (r < 0) {
		printf("enter=%d\n", r);
		return 2;
	}
	uint64_t cr3 = read_cr3();
	char line[256];
	int n = snprintf(line, sizeof(line), "enter=0\ncr3=%#llx\npid_same=%d\n",
			 (unsigned long long)cr3, getpid() == pid_before);
	if (write(1, line, (size_t)n) != n)
		return 3;
	if (!strcmp(what, "basic")) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < 100; i++)
			syscall(SYS_getppid);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("monotonic_ok=%d\n", b.tv_sec > a.tv_sec ||
						 (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
		void *p = malloc(64 << 20); /* a new mmap: covered synchronously */
		memset(p, 1, 64 << 20);
		printf("malloc_ok=%d\n", ((char *)p)[12345] == 1);
		free(p);
		uint64_t kexits = 0, kio = 0;
		int e1 = vmm_kvm_stat("exits", &kexits), e2 = vmm_kvm_stat("io_exits", &kio);
		printf("kvm_stat_rc=%d kvm_exits=%llu kvm_io_exits=%llu\n", e1 ? e1 : e2,
		       (unsigned long long)kexits, (unsigned long long)kio);
		struct vmm_vcpu *v = vmm_self();
		printf("vcpu=%d syscall_exits=%llu\n", v ? v->id : -1,
		       v ? (unsigned long long)v->stats.exits[VMM_EXIT_SYSCALL] : 0ULL);
	}
	fflush(stdout);
	return 0;
}
