/* SPDX-License-Identifier: MIT */
/* The kvm backend: threads inside a VAS whose segments change never use stale translations. */
#include "integration/guest_run.h"

static void run_tlb(struct guest_run *g, const char *scenario)
{
	guest_require_kvm();
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/helpers/kvm_tlb_helper", SJMP_TEST_BINDIR);
	char *argv[] = {path, (char *)scenario, NULL};
	char dir[600];
	snprintf(dir, sizeof(dir), "SJMP_DIR=%s", getenv("SJMP_DIR") ? getenv("SJMP_DIR") : "/tmp");
	char *envp[] = {"SJMP_BACKEND=kvm", dir, NULL};
	guest_run_argv(g, argv, envp);
	cr_assert(WIFEXITED(g->status) && WEXITSTATUS(g->status) == 0,
	          "helper status %#x\nstdout:\n%s\nstderr:\n%s", g->status, g->out, g->err);
	cr_assert(strstr(g->out, "backend=kvm") != NULL, "ran on another backend:\n%s", g->out);
}

Test(kvm_tlb, detach_makes_a_thread_inside_the_vas_fault_at_once, .timeout = 120)
{
	struct guest_run g;
	run_tlb(&g, "detach");
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
	run_tlb(&g, "attach");
	cr_expect_eq(guest_val(&g, "attach", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "first_fault", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "no_fault_after_attach", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "new_bytes", 0), 1, "%s", g.out);
}

Test(kvm_tlb, replacing_a_segment_shows_the_new_bytes_inside_the_vas, .timeout = 120)
{
	struct guest_run g;
	run_tlb(&g, "replace");
	cr_expect_eq(guest_val(&g, "detach", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "attach", -1), 0, "%s", g.out);
	cr_expect_gt(guest_val(&g, "reads_after", 0), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "only_new_bytes", 0), 1, "old bytes read after the attach:\n%s",
	             g.out);
}
