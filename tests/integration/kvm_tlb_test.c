/* SPDX-License-Identifier: MIT */
/* The kvm backend: threads inside a VAS whose segments change never use stale translations. */
#include "integration/guest_run.h"

Test(kvm_tlb, detach_makes_a_thread_inside_the_vas_fault_at_once, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_tlb_helper", "detach");
	cr_expect_eq(guest_val(&g, "detach", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "faulted", 0), 1, "no SIGSEGV after the detach:\n%s", g.out);
	cr_expect_eq(guest_val(&g, "fault_addr_ok", 0), 1, "si_addr:\n%s", g.out);
	/* At most the read in flight when sjmp_seg_detach returned. */
	cr_expect_leq(guest_val(&g, "reads_after_detach", 99), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "old_bytes_ok", 0), 1, "%s", g.out);
}

Test(kvm_tlb, attach_is_seen_by_a_thread_inside_the_vas, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_tlb_helper", "attach");
	cr_expect_eq(guest_val(&g, "attach", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "first_fault", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "no_fault_after_attach", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "new_bytes", 0), 1, "%s", g.out);
}

Test(kvm_tlb, replacing_a_segment_shows_the_new_bytes_inside_the_vas, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_tlb_helper", "replace");
	cr_expect_eq(guest_val(&g, "detach", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "attach", -1), 0, "%s", g.out);
	cr_expect_gt(guest_val(&g, "reads_after", 0), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "only_new_bytes", 0), 1, "old bytes read after the attach:\n%s",
	             g.out);
}
