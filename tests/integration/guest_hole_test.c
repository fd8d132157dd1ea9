/* SPDX-License-Identifier: MIT */
/* Host holes touched in guest mode become the native signal with the faulting address. */
#include "integration/guest_run.h"

static void check(const char *scenario, int sig, int code)
{
	guest_require_kvm();
	struct guest_run g;
	guest_run_helper(&g, "guest_hole_helper", scenario);
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "helper status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_assert_eq(guest_val(&g, "enter", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "completed", -1), 0, "%s", g.out);
	cr_expect_eq(guest_val(&g, "sig", 0), sig, "%s", g.out);
	cr_expect_eq(guest_val(&g, "code", 0), code, "%s", g.out);
	cr_expect_eq(guest_val(&g, "addr_ok", 0), 1, "si_addr:\n%s", g.out);
	cr_expect_eq(guest_val(&g, "after", 0), 499500, "%s", g.out);
}

Test(guest_hole, read_of_an_unmapped_page_is_sigsegv_maperr_at_its_address, .timeout = 60)
{
	check("unmapped", SIGSEGV, SEGV_MAPERR);
}

Test(guest_hole, write_to_a_read_only_page_is_sigsegv_accerr_at_its_address, .timeout = 60)
{
	check("readonly", SIGSEGV, SEGV_ACCERR);
}

Test(guest_hole, read_past_the_end_of_a_mapped_file_is_sigbus_at_its_address, .timeout = 60)
{
	check("beyond", SIGBUS, BUS_ADRERR);
}
