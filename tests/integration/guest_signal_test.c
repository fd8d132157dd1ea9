/* SPDX-License-Identifier: MIT */
/*
 * Signal semantics in guest mode equal native ones: the same helper runs natively and in guest
 * mode (helpers/guest_signal_helper.c) and prints the same lines.
 */
#include "integration/guest_run.h"

Test(guest_signal, realtime_signals_queue_in_order_and_standard_ones_coalesce, .timeout = 120)
{
	struct guest_run *n = guest_same_as_native("guest_signal_helper", "queue");
	/* The native run itself is what the comparison relies on: every instance arrived. */
	cr_expect_eq(guest_val(n, "blocked_then_unblocked_n", 0), 8, "%s", n->out);
	cr_expect_eq(guest_val(n, "burst_n", 0), 40, "%s", n->out);
	cr_expect_eq(guest_val(n, "burst_self_n", 0), 20, "%s", n->out);
	cr_expect_eq(guest_val(n, "masked_handlers_n", 0), 4, "%s", n->out);
}

Test(guest_signal, handler_starts_with_clean_fpu_and_interrupted_ymm_zmm_survive, .timeout = 120)
{
	struct guest_run *n = guest_same_as_native("guest_signal_helper", "fpu");
	cr_expect_eq(guest_val(n, "after_ymm_ok", 0), 1, "%s", n->out);
	cr_expect_eq(guest_val(n, "handler_regs_clean", 0), 1, "%s", n->out);
	cr_expect_eq(guest_val(n, "handler_uc_ok", 0), 1, "%s", n->out);
	cr_expect_eq(guest_val(n, "handler_mxcsr", 0), 0x1f80, "%s", n->out);
	cr_expect_eq(guest_val(n, "timer_after_ymm_ok", 0), 1, "%s", n->out);
}

Test(guest_signal, siginfo_of_kill_sigqueue_tgkill_and_sigchld_match_native, .timeout = 120)
{
	struct guest_run *n = guest_same_as_native("guest_signal_helper", "info");
	cr_expect_eq(guest_val(n, "kill_from_child_pid_is_child", 0), 1, "%s", n->out);
}

Test(guest_signal, sigaltstack_onstack_autodisarm_and_stack_overflow_on_the_alternate_stack,
     .timeout = 120)
{
	struct guest_run *n = guest_same_as_native("guest_signal_helper", "altstack");
	cr_expect(strstr(n->out, "overflow=code:1 on_alt:1 addr_below_sp:1"), "%s", n->out);
}
