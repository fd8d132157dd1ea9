/* SPDX-License-Identifier: MIT */
/*
 * A process on the kvm backend and one on the mmap backend share one VAS through its files, and
 * a segment attached globally to a VAS reaches processes already attached to it.
 */
#include "integration/guest_run.h"

/* The object directory every process of a test uses (the test runner's, else /tmp). */
static const char *objdir(void)
{
	const char *d = getenv("SJMP_DIR");
	return d && *d ? d : "/tmp";
}

static void helper(struct guest_run *g, const char *backend, const char *a1, const char *a2,
                   const char *a3, const char *a4)
{
	char path[512], be[64], dir[600];
	snprintf(path, sizeof(path), "%s/tests/helpers/mixed_backend_helper", SJMP_TEST_BINDIR);
	snprintf(be, sizeof(be), "SJMP_BACKEND=%s", backend);
	snprintf(dir, sizeof(dir), "SJMP_DIR=%s", objdir());
	char *argv[] = {path, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
	char *envp[] = {be, dir, NULL};
	guest_run_argv(g, argv, envp);
	cr_assert(WIFEXITED(g->status) && WEXITSTATUS(g->status) == 0, "%s %s: status %#x\n%s%s",
	          backend, a1, g->status, g->out, g->err);
	char want[80];
	snprintf(want, sizeof(want), "backend=%s\n", backend);
	cr_assert(strstr(g->out, want), "ran on another backend than %s:\n%s", backend, g->out);
}

static void vas_name(char *out, size_t len, const char *tag)
{
	snprintf(out, len, "mixed-%s-%d", tag, (int)getpid());
}

Test(kvm_mixed, kvm_and_mmap_processes_share_one_vas, .timeout = 120)
{
	guest_require_kvm();
	char vas[64];
	vas_name(vas, sizeof(vas), "share");
	struct guest_run g;
	helper(&g, "kvm", "create", vas, "written-by-kvm", NULL);
	helper(&g, "mmap", "check", vas, "written-by-kvm", "written-by-mmap");
	cr_expect_eq(guest_val(&g, "match", 0), 1, "mmap did not see kvm's bytes:\n%s", g.out);
	helper(&g, "kvm", "check", vas, "written-by-mmap", "again-by-kvm");
	cr_expect_eq(guest_val(&g, "match", 0), 1, "kvm did not see mmap's bytes:\n%s", g.out);
}

/* Starts "wait" on @waiter_backend, adds a segment from a process on the other backend, and
 * checks that the waiting process sees it at its next switch. */
static void global_attach_reaches(const char *waiter_backend, const char *adder_backend)
{
	guest_require_kvm();
	char vas[64];
	vas_name(vas, sizeof(vas), waiter_backend);
	struct guest_run g;
	helper(&g, adder_backend, "create", vas, "first", NULL);

	int po[2];
	cr_assert(pipe(po) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		close(po[0]);
		char path[512], be[64], dir[600];
		snprintf(path, sizeof(path), "%s/tests/helpers/mixed_backend_helper",
		         SJMP_TEST_BINDIR);
		snprintf(be, sizeof(be), "SJMP_BACKEND=%s", waiter_backend);
		snprintf(dir, sizeof(dir), "SJMP_DIR=%s", objdir());
		char *argv[] = {path, "wait", vas, NULL};
		char *envp[] = {be, dir, NULL};
		execve(path, argv, envp);
		_exit(127);
	}
	close(po[1]);
	FILE *out = fdopen(po[0], "r");
	char line[256], all[4096] = "";
	while (fgets(line, sizeof(line), out) && !strstr(line, "attached"))
		strncat(all, line, sizeof(all) - strlen(all) - 1);
	helper(&g, adder_backend, "add", vas, "second-segment", NULL);
	char go[600];
	snprintf(go, sizeof(go), "%s/%s.go", objdir(), vas);
	fclose(fopen(go, "w"));
	while (fgets(line, sizeof(line), out))
		strncat(all, line, sizeof(all) - strlen(all) - 1);
	fclose(out);
	int st;
	waitpid(pid, &st, 0);
	unlink(go);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "waiter status %#x:\n%s", st, all);
	cr_expect(strstr(all, "s2=second-segment"), "the waiter did not see the new segment:\n%s",
	          all);
}

Test(kvm_mixed, global_attach_reaches_an_attached_kvm_process, .timeout = 120)
{
	global_attach_reaches("kvm", "mmap");
}

Test(kvm_mixed, global_attach_reaches_an_attached_mmap_process, .timeout = 120)
{
	global_attach_reaches("mmap", "kvm");
}
