/* SPDX-License-Identifier: MIT */
/* A crash inside guest mode prints a report naming the function (libelf, static ones too). */
#include "integration/guest_run.h"

static void crash_names_static_function(const char *how, const char *fn)
{
	guest_require_kvm();
	struct guest_run g;
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/helpers/guest_crash_helper", SJMP_TEST_BINDIR);
	char *argv[] = {"/usr/bin/timeout", "-s", "KILL", "60", path, (char *)how, NULL};
	guest_run_argv(&g, argv, NULL);
	/* timeout(1) dies of the signal its command died of. */
	cr_assert(WIFSIGNALED(g.status) && WTERMSIG(g.status) == SIGSEGV,
	          "status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect(strstr(g.err, "sjmp: guest-mode crash"), "%s", g.err);
	char want[256];
	snprintf(want, sizeof(want), "<%s+0x", fn);
	cr_expect(strstr(g.err, want), "report names %s through .symtab:\n%s", fn, g.err);
	cr_expect(strstr(g.err, "(.symtab) in /"), "%s", g.err);
	cr_expect(strstr(g.err, "exit_reason 2 (IO)"), "%s", g.err);
	cr_expect(strstr(g.err, "RAX "), "registers are printed:\n%s", g.err);
}

Test(guest_crash, in_instruction_reports_static_function_via_libelf, .timeout = 90)
{
	crash_names_static_function("in", "sjmp_test_static_crash_in");
}

Test(guest_crash, out_to_unknown_port_reports_static_function_via_libelf, .timeout = 90)
{
	crash_names_static_function("out", "sjmp_test_static_crash_out");
}
