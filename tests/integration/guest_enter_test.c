/* SPDX-License-Identifier: MIT */
/* Entering guest mode: the code after sjmp_enter() runs in guest ring 0. */
#include "integration/guest_run.h"

Test(guest_enter, code_after_enter_reads_cr3_and_kvm_counts_guest_exits, .timeout = 60)
{
	guest_require_kvm();
	struct guest_run g;
	guest_run_helper(&g, "guest_enter_helper", "basic");
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
		  "helper status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect_eq(guest_val(&g, "enter", -1), 0);
	/* mov %cr3 is ring-0 only: natively it is a #GP and the helper would die of SIGSEGV. */
	long long cr3 = guest_val(&g, "cr3", 0);
	cr_expect(cr3 != 0 && (cr3 & 0xfff) == 0, "cr3 %#llx", cr3);
	cr_expect_eq(guest_val(&g, "pid_same", 0), 1, "getpid() in guest mode is the process's");
	cr_expect_eq(guest_val(&g, "monotonic_ok", 0), 1);
	cr_expect_eq(guest_val(&g, "malloc_ok", 0), 1, "a new 64 MiB mapping is usable");
	cr_expect_eq(guest_val(&g, "kvm_stat_rc", -1), 0, "KVM_GET_STATS_FD");
	cr_expect_gt(guest_val(&g, "kvm_exits", 0), 100, "KVM counted the vCPU's exits");
	cr_expect_gt(guest_val(&g, "syscall_exits", 0), 100, "system calls were forwarded");
}
