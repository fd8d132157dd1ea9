/* SPDX-License-Identifier: MIT */
/*
 * Where guest mode cannot work (valgrind's synthetic CPU, a tracer), sjmp_enter() refuses with
 * ENOTSUP and a line naming the reason and the remedy; it never crashes or hangs (each helper
 * runs in a child under the test's timeout).
 */
#include "integration/guest_run.h"

static void run_wrapped(struct guest_run *g, const char *tool, char *const targv[])
{
	guest_require_kvm();
	if (access(tool, X_OK) != 0)
		cr_skip_test("%s is not installed", tool);
	char helper[512];
	snprintf(helper, sizeof(helper), "%s/tests/helpers/guest_enter_helper", SJMP_TEST_BINDIR);
	char *argv[8];
	int n = 0;
	argv[n++] = (char *)tool;
	for (int i = 0; targv[i]; i++)
		argv[n++] = targv[i];
	argv[n++] = helper;
	argv[n++] = "basic";
	argv[n] = NULL;
	guest_run_argv(g, argv, NULL);
}

Test(guest_refusal, under_valgrind_enter_refuses_with_enotsup_naming_valgrind, .timeout = 300)
{
	struct guest_run g;
	char *opts[] = {"-q", NULL};
	run_wrapped(&g, "/usr/bin/valgrind", opts);
	cr_assert(WIFEXITED(g.status), "status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out,
	          g.err);
	cr_expect_eq(guest_val(&g, "enter", 0), -ENOTSUP, "%s%s", g.out, g.err);
	cr_expect(strstr(g.err, "valgrind") && strstr(g.err, "SJMP_BACKEND=mmap"), "%s", g.err);
	cr_expect_eq(WEXITSTATUS(g.status), 2, "the helper's status for a failed enter");
}

Test(guest_refusal, under_a_tracer_enter_refuses_with_enotsup_naming_the_tracer, .timeout = 120)
{
	struct guest_run g;
	char *opts[] = {"-f", "-o", "/dev/null", NULL};
	run_wrapped(&g, "/usr/bin/strace", opts);
	cr_assert(WIFEXITED(g.status), "status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out,
	          g.err);
	cr_expect_eq(guest_val(&g, "enter", 0), -ENOTSUP, "%s%s", g.out, g.err);
	cr_expect(strstr(g.err, "traced by pid") && strstr(g.err, "SJMP_BACKEND=mmap"), "%s",
	          g.err);
}
