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

Test(guest_enter, brings_blocked_spinning_and_sleeping_threads_into_guest_mode, .timeout = 60)
{
	guest_require_kvm();
	struct guest_run g;
	guest_run_helper(&g, "guest_enter_helper", "multi");
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "helper status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect_eq(guest_val(&g, "enter_with_threads", -1), 0, "%s%s", g.out, g.err);
	cr_expect_eq(guest_val(&g, "main_cr3", 0), 1);
	cr_expect_eq(guest_val(&g, "reader_ok", 0), 1, "the blocked read() got its 5 bytes");
	cr_expect_eq(guest_val(&g, "reader_cr3", 0), 1, "the reader continued in guest mode");
	cr_expect_eq(guest_val(&g, "spinner_cr3", 0), 1, "the spinner continued in guest mode");
	cr_expect_eq(guest_val(&g, "sleeper_rc", -1), 0, "nanosleep not cut short by EINTR");
	cr_expect_geq(guest_val(&g, "sleeper_ms", 0), 595, "nanosleep slept its whole time");
	cr_expect_eq(guest_val(&g, "sleeper_cr3", 0), 1, "the sleeper continued in guest mode");
	cr_expect_eq(guest_val(&g, "threads_in_guest", 0), 4, "one vCPU per thread");
}

Test(guest_enter, refused_with_ebusy_and_nothing_changed_when_a_thread_blocks_the_signal,
     .timeout = 60)
{
	guest_require_kvm();
	struct guest_run g;
	guest_run_helper(&g, "guest_enter_helper", "ebusy");
	cr_assert(WIFEXITED(g.status), "status %#x\n%s", g.status, g.err);
	cr_expect_eq(guest_val(&g, "enter_with_threads", 0), -EBUSY, "%s%s", g.out, g.err);
	cr_expect_eq(guest_val(&g, "host_mode_after", 0), 1);
	cr_expect_eq(guest_val(&g, "joined", 0), 1);
}

Test(guest_signals, errno_survives_sigalrm_storm_and_siglongjmp_stays_in_guest, .timeout = 120)
{
	guest_require_kvm();
	struct guest_run g;
	guest_run_helper(&g, "guest_enter_helper", "signals");
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "helper status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect_gt(guest_val(&g, "alarms", 0), 10, "SIGALRM handlers ran in guest mode");
	cr_expect_eq(guest_val(&g, "errno_bad", -1), 0, "errno never clobbered by the VMM");
	cr_expect_eq(guest_val(&g, "restarted_read", -1), 1, "SA_RESTART honoured");
	cr_expect_eq(guest_val(&g, "segv_addr", 0), 0x18, "SIGSEGV si_addr");
	cr_expect_eq(guest_val(&g, "cr3_after_siglongjmp", 0), 1, "still in guest mode");
}

Test(guest_threads, eight_threads_in_guest_mode_and_fork_child_in_guest_mode, .timeout = 120)
{
	guest_require_kvm();
	struct guest_run g;
	guest_run_helper(&g, "guest_enter_helper", "threads");
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "helper status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect_eq(guest_val(&g, "counter", 0), 8000, "mutex-protected count exact");
	cr_expect_eq(guest_val(&g, "threads_cr3", 0), 8, "every thread read CR3");
	cr_expect_eq(guest_val(&g, "fork_status", 0), 42);
	cr_expect_eq(guest_val(&g, "fork_child_guest", 0), 1, "fork child read CR3");
}
