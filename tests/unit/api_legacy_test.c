/* SPDX-License-Identifier: MIT */
/*
 * The legacy mmap layout (`ulimit -s unlimited`: the kernel maps bottom-up from TASK_SIZE / 3,
 * 0x2aaaaaaab000, above the segment zone): the quick start example still runs end to end.
 */
#include "api_util.h"

TestSuite(legacy, .init = api_setup, .fini = api_teardown, .timeout = 60);

Test(legacy, quickstart_runs_with_an_unlimited_stack)
{
	const char *prog = SJMP_TEST_BINDIR "/examples/quickstart";
	int out[2];

	if (access(prog, X_OK) != 0)
		cr_skip_test("%s is not built", prog);
	cr_assert_eq(pipe(out), 0);
	pid_t pid = api_fork();
	if (pid == 0) {
		char cmd[PATH_MAX + 64];
		dup2(out[1], 1);
		dup2(out[1], 2);
		snprintf(cmd, sizeof(cmd), "ulimit -s unlimited && exec '%s'", prog);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char buf[8192];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(out[0]);
	int st = api_reap(pid);
	cr_expect_eq(st, 0, "quickstart exited with %d:\n%s", st, buf);
	cr_expect_not_null(strstr(buf, "OK"), "no OK in:\n%s", buf);
}
