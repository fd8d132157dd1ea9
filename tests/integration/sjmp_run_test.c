/* SPDX-License-Identifier: MIT */
/* sjmp-run: one copy of libsjmp per process, whichever way the program links it. */
#include "integration/guest_run.h"

static void run_under_sjmp_run(struct guest_run *g, const char *prog, const char *arg)
{
	guest_require_kvm();
	char run[512], path[512];
	snprintf(run, sizeof(run), "%s/tools/sjmp-run", SJMP_TEST_BINDIR);
	snprintf(path, sizeof(path), "%s/%s", SJMP_TEST_BINDIR, prog);
	if (access(path, X_OK) != 0)
		cr_skip_test("%s not built", path);
	char *argv[] = {run, "--", path, (char *)arg, NULL};
	guest_run_argv(g, argv, NULL);
}

Test(sjmp_run, quickstart_linking_libsjmp_statically_runs_on_kvm_in_both_stages, .timeout = 120)
{
	struct guest_run g;
	run_under_sjmp_run(&g, "examples/quickstart", NULL);
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect(strstr(g.out, "build: ") && strstr(strstr(g.out, "build: "), "backend kvm"), "%s",
	          g.out);
	cr_expect(strstr(g.out, "walk:  ") && strstr(strstr(g.out, "walk:  "), "backend kvm"), "%s",
	          g.out);
	cr_expect(!strstr(g.err, "another copy"), "%s", g.err);
}

Test(sjmp_run, program_linking_libsjmp_so_enters_through_its_own_copy, .timeout = 60)
{
	struct guest_run g;
	run_under_sjmp_run(&g, "tools/sjmpctl", "ls");
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect(!strstr(g.err, "another copy"), "%s", g.err);
}

Test(sjmp_run, second_copy_loaded_in_guest_mode_refuses_with_enotsup, .timeout = 60)
{
	struct guest_run g;
	char lib[512];
	snprintf(lib, sizeof(lib), "%s/libsjmp/libsjmp.so", SJMP_TEST_BINDIR);
	run_under_sjmp_run(&g, "tests/helpers/second_copy_helper", lib);
	cr_assert(WIFEXITED(g.status) && WEXITSTATUS(g.status) == 0,
	          "status %#x\nstdout:\n%s\nstderr:\n%s", g.status, g.out, g.err);
	cr_expect_eq(guest_val(&g, "own_copy_in_guest", 0), 1, "%s", g.out);
	cr_expect_eq(guest_val(&g, "second_copy_enter", 0), -ENOTSUP, "%s", g.out);
	cr_expect(strstr(g.err, "another copy of libsjmp"), "%s", g.err);
	cr_expect_eq(guest_val(&g, "own_init", -1), 0, "%s%s", g.out, g.err);
	cr_expect(strstr(g.out, "own_backend=kvm"), "%s", g.out);
}
