/* SPDX-License-Identifier: MIT */
/* The kvm backend: VAS switches are CR3 loads in guest mode, per thread. */
#include "integration/guest_run.h"

static void check_exits(const char *scenario)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_vas_helper", scenario);
	long long n = guest_val(&g, "switches", 0), reads = guest_val(&g, "read_exits", -1);
	cr_assert_eq(n, 100000);
	cr_expect_eq(guest_val(&g, "seen_a", 0), n / 2, "each VAS shows its own segment");
	cr_expect_eq(guest_val(&g, "seen_b", 0), n / 2);
	/* Nothing on the switch path reaches the VMM: reading the counters is the only
	 * I/O exit between the two readings. */
	cr_expect_eq(guest_val(&g, "io", -1), guest_val(&g, "read_io", -2),
	             "a switch made an exit to the VMM:\n%s", g.out);
	cr_expect_eq(guest_val(&g, "mmio", -1), 0);
	cr_expect_eq(guest_val(&g, "hlt", -1), 0);
	/* On kvm_pvm the CR3 load traps into the host kernel: one exit per switch. On VMX/SVM it
	 * does not exit at all. The host's own interrupts (timer ticks, about 50 in the second
	 * this takes) also exit, so allow 0.2% over. */
	long long exits = guest_val(&g, "exits", -1) - reads;
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	long long floor = pvm ? n : 0;
	cr_expect(exits >= floor && exits <= floor + n / 500,
	          "exits per 100,000 switches: %lld (expected %lld plus host interrupts)\n%s",
	          exits, floor, g.out);
}

Test(kvm_vas, switch_makes_no_exit_to_the_vmm, .timeout = 120)
{
	check_exits("exits");
}

Test(kvm_vas, lockable_switch_makes_no_exit_to_the_vmm, .timeout = 120)
{
	check_exits("exits_lockable");
}

Test(kvm_vas, two_threads_see_two_vases_at_one_address, .timeout = 120)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_vas_helper", "perthread");
	cr_expect_eq(guest_val(&g, "thread_a_ok", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "thread_b_ok", 0), 1, "%s", g.out);
}

Test(kvm_vas, switch_under_contention_keeps_the_writer_alone, .timeout = 180)
{
	struct guest_run g;
	guest_run_kvm_helper(&g, "kvm_vas_helper", "contention");
	cr_expect_eq(guest_val(&g, "errors", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "max_inside", 0), 1, "two threads were inside at once:\n%s",
	             g.out);
	cr_expect_eq(guest_val(&g, "count", 0), guest_val(&g, "expected", -1), "%s", g.out);
}
