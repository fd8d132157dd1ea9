/* SPDX-License-Identifier: MIT */
/*
 * Signal semantics in guest mode equal native ones: the same helper runs natively and in guest
 * mode (helpers/guest_signal_helper.c) and prints the same lines.
 */
#include "integration/guest_run.h"

/* Run guest_signal_helper MODE SCENARIO under a 60 s kill timeout. */
static void run_mode(struct guest_run *g, const char *mode, const char *scenario)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/helpers/guest_signal_helper", SJMP_TEST_BINDIR);
	char *argv[] = {"/usr/bin/timeout", "-s", "KILL", "60", path, (char *)mode,
	                (char *)scenario,   NULL};
	guest_run_argv(g, argv, NULL);
	cr_assert(WIFEXITED(g->status) && WEXITSTATUS(g->status) == 0,
	          "%s %s: status %#x\nstdout:\n%s\nstderr:\n%s", mode, scenario, g->status, g->out,
	          g->err);
}

/* Native and guest-mode output of @scenario, asserted equal; the native one is returned. */
static struct guest_run *same_as_native(const char *scenario)
{
	static struct guest_run n, g;
	guest_require_kvm();
	run_mode(&n, "native", scenario);
	run_mode(&g, "guest", scenario);
	cr_assert_str_eq(g.out, n.out,
	                 "%s: guest mode differs from native\n--- native:\n%s\n"
	                 "--- guest:\n%s\nstderr:\n%s",
	                 scenario, n.out, g.out, g.err);
	return &n;
}

Test(guest_signal, realtime_signals_queue_in_order_and_standard_ones_coalesce, .timeout = 120)
{
	struct guest_run *n = same_as_native("queue");
	/* The native run itself is what the comparison relies on: every instance arrived. */
	cr_expect_eq(guest_val(n, "blocked_then_unblocked_n", 0), 8, "%s", n->out);
	cr_expect_eq(guest_val(n, "burst_n", 0), 40, "%s", n->out);
	cr_expect_eq(guest_val(n, "burst_self_n", 0), 20, "%s", n->out);
	cr_expect_eq(guest_val(n, "masked_handlers_n", 0), 4, "%s", n->out);
}

Test(guest_signal, handler_starts_with_clean_fpu_and_interrupted_ymm_zmm_survive, .timeout = 120)
{
	struct guest_run *n = same_as_native("fpu");
	cr_expect_eq(guest_val(n, "after_ymm_ok", 0), 1, "%s", n->out);
	cr_expect_eq(guest_val(n, "handler_regs_clean", 0), 1, "%s", n->out);
	cr_expect_eq(guest_val(n, "handler_uc_ok", 0), 1, "%s", n->out);
	cr_expect_eq(guest_val(n, "handler_mxcsr", 0), 0x1f80, "%s", n->out);
	cr_expect_eq(guest_val(n, "timer_after_ymm_ok", 0), 1, "%s", n->out);
}

Test(guest_signal, siginfo_of_kill_sigqueue_tgkill_and_sigchld_match_native, .timeout = 120)
{
	struct guest_run *n = same_as_native("info");
	cr_expect_eq(guest_val(n, "kill_from_child_pid_is_child", 0), 1, "%s", n->out);
}

Test(guest_signal, sigaltstack_onstack_autodisarm_and_stack_overflow_on_the_alternate_stack,
     .timeout = 120)
{
	struct guest_run *n = same_as_native("altstack");
	cr_expect(strstr(n->out, "overflow=code:1 on_alt:1 addr_below_sp:1"), "%s", n->out);
}
