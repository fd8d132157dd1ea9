/* SPDX-License-Identifier: MIT */
/*
 * CPU state in guest mode equals the host's: the CPUID words glibc's ifunc selection reads,
 * XSAVE state across forwarded system calls, and the clocks (helpers/guest_cpu_helper.c).
 */
#include <time.h>

#include "integration/guest_run.h"

Test(guest_cpu, cpuid_feature_leaves_glibc_reads_equal_the_hosts, .timeout = 120)
{
	struct guest_run *n = guest_same_as_native("guest_cpu_helper", "cpuid");
	cr_expect_neq(guest_val(n, "leaf1_ecx", 0), 0, "%s", n->out);
}

Test(guest_cpu, ymm_zmm_and_mask_registers_survive_forwarded_system_calls, .timeout = 120)
{
	struct guest_run *n = guest_same_as_native("guest_cpu_helper", "xsave");
	cr_expect_eq(guest_val(n, "ymm_across_syscalls_ok", 0), 1, "%s", n->out);
}

static long long now_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

Test(guest_cpu, clock_gettime_in_guest_mode_agrees_with_the_host_and_is_monotonic, .timeout = 120)
{
	guest_require_kvm();
	struct guest_run g;
	long long rt0 = now_ns(CLOCK_REALTIME), mo0 = now_ns(CLOCK_MONOTONIC);
	guest_run_mode(&g, "guest_cpu_helper", "guest", "clock");
	long long rt1 = now_ns(CLOCK_REALTIME), mo1 = now_ns(CLOCK_MONOTONIC);
	long long rt = guest_val(&g, "realtime_ns", 0), mo = guest_val(&g, "monotonic_ns", 0);
	/* The child read its clocks between the parent's two reads (1 ms slack for rounding). */
	const long long slack = 1000000;
	cr_expect(rt >= rt0 - slack && rt <= rt1 + slack, "REALTIME %lld not in [%lld, %lld]", rt,
	          rt0, rt1);
	cr_expect(mo >= mo0 - slack && mo <= mo1 + slack, "MONOTONIC %lld not in [%lld, %lld]", mo,
	          mo0, mo1);
	cr_expect_eq(guest_val(&g, "monotonic_backwards", -1), 0, "%s", g.out);
}
