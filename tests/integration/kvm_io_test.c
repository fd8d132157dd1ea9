/* SPDX-License-Identifier: MIT */
/* The kvm backend: system calls with buffers in segment memory (vmm/proxy.c). */
#include "integration/guest_run.h"

static void expect_all(const struct guest_run *g, const char *const *keys)
{
	for (; *keys; keys++)
		cr_expect_eq(guest_val(g, *keys, 0), 1, "%s failed:\n%s\nstderr:\n%s", *keys,
		             g->out, g->err);
}

Test(kvm_io, io_calls_reach_the_current_vas_segment_after_switches, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_io_helper", "io");
	static const char *const keys[] = {"pread",
	                                   "read",
	                                   "read_across_segments",
	                                   "preadv",
	                                   "write",
	                                   "writev",
	                                   "sendto_recvfrom",
	                                   "sendmsg_recvmsg",
	                                   "getrandom",
	                                   "fstat",
	                                   NULL};
	expect_all(&g, keys);
}

Test(kvm_io, two_threads_in_two_vases_read_into_one_address_at_once, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_io_helper", "threads");
	cr_expect_eq(guest_val(&g, "thread_a_ok", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "thread_b_ok", 0), 1, "%s", g.out);
}

Test(kvm_io, read_into_a_read_only_attachment_is_efault, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_io_helper", "readonly");
	static const char *const keys[] = {"read_into_readonly_efault", "write_from_readonly",
	                                   NULL};
	expect_all(&g, keys);
}

Test(kvm_io, zone_address_not_mapped_in_the_current_vas_is_efault, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_io_helper", "unmapped");
	static const char *const keys[] = {"primary_efault", "hole_efault", "short_at_hole",
	                                   "write_from_hole_efault", NULL};
	expect_all(&g, keys);
}

Test(kvm_io, other_calls_with_a_zone_pointer_fail_efault_and_log_once, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_io_helper", "other");
	static const char *const keys[] = {"uname_efault", "uname_efault_again", NULL};
	expect_all(&g, keys);
	const char *first = strstr(g.err, "uname: EFAULT");
	cr_expect(first != NULL, "no log line naming the call:\n%s", g.err);
	cr_expect(first && !strstr(first + 1, "uname: EFAULT"), "logged twice:\n%s", g.err);
}
