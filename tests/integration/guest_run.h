/* SPDX-License-Identifier: MIT */
/*
 * guest_run.h - run a helper program in a fresh child process (guest mode must be entered by a
 * single-threaded process: Criterion's runner has threads) and collect its output and status.
 */
#ifndef SJMP_TEST_GUEST_RUN_H
#define SJMP_TEST_GUEST_RUN_H

#include <criterion/criterion.h>

#include "kvm_skip.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct guest_run {
	char out[65536];
	char err[16384];
	int status; /* as from waitpid */
};

/* Skip the test, with the reason, where guest mode cannot run. */
static inline void guest_require_kvm(void)
{
	sjmp_test_require_kvm();
}

static inline void drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	close(fd);
}

/* Run argv (argv[0] is a path) with stdout and stderr captured; stdin from /dev/null. */
static inline void guest_run_argv(struct guest_run *g, char *const argv[], char *const envp[])
{
	int po[2], pe[2];
	cr_assert(pipe(po) == 0 && pipe(pe) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]);
		close(pe[0]);
		if (envp)
			execve(argv[0], argv, envp);
		else
			execv(argv[0], argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* stderr is small; read stdout first, then stderr (helpers write little to stderr). */
	drain(po[0], g->out, sizeof(g->out));
	drain(pe[0], g->err, sizeof(g->err));
	cr_assert(waitpid(pid, &g->status, 0) == pid);
}

static inline void guest_run_helper(struct guest_run *g, const char *helper, const char *arg)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/helpers/%s", SJMP_TEST_BINDIR, helper);
	char *argv[] = {path, (char *)arg, NULL};
	guest_run_argv(g, argv, NULL);
}

/* Value of "key=" in the output as a number, or def. */
static inline long long guest_val(const struct guest_run *g, const char *key, long long def)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "%s=", key);
	for (const char *p = g->out; (p = strstr(p, pat)); p++)
		if (p == g->out || p[-1] == '\n' || p[-1] == ' ')
			return strtoll(p + strlen(pat), NULL, 0);
	return def;
}

/*
 * Run tests/helpers/HELPER SCENARIO with SJMP_BACKEND=kvm (so sjmp_init enters guest mode) and the
 * test's SJMP_DIR; assert a clean exit and that the kvm backend, not a fall-back, ran (the helper
 * prints "backend=NAME").
 */
static inline void guest_run_kvm_helper(struct guest_run *g, const char *helper,
                                        const char *scenario)
{
	guest_require_kvm();
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/helpers/%s", SJMP_TEST_BINDIR, helper);
	char *argv[] = {path, (char *)scenario, NULL};
	char dir[600];
	snprintf(dir, sizeof(dir), "SJMP_DIR=%s", getenv("SJMP_DIR") ? getenv("SJMP_DIR") : "/tmp");
	char *envp[] = {"SJMP_BACKEND=kvm", dir, NULL};
	guest_run_argv(g, argv, envp);
	cr_assert(WIFEXITED(g->status) && WEXITSTATUS(g->status) == 0,
	          "helper status %#x\nstdout:\n%s\nstderr:\n%s", g->status, g->out, g->err);
	cr_assert(strstr(g->out, "backend=kvm") != NULL, "ran on another backend:\n%s", g->out);
}

/* Run tests/helpers/HELPER MODE SCENARIO under a 60 s kill timeout; assert a clean exit. */
static inline void guest_run_mode(struct guest_run *g, const char *helper, const char *mode,
                                  const char *scenario)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tests/helpers/%s", SJMP_TEST_BINDIR, helper);
	char *argv[] = {"/usr/bin/timeout", "-s", "KILL", "60", path, (char *)mode,
	                (char *)scenario,   NULL};
	guest_run_argv(g, argv, NULL);
	cr_assert(WIFEXITED(g->status) && WEXITSTATUS(g->status) == 0,
	          "%s %s: status %#x\nstdout:\n%s\nstderr:\n%s", mode, scenario, g->status, g->out,
	          g->err);
}

/*
 * Run HELPER's SCENARIO natively and in guest mode (MODE "native" / "guest") and assert the same
 * output; the native run is returned (static storage: one call per test).
 */
static inline struct guest_run *guest_same_as_native(const char *helper, const char *scenario)
{
	static struct guest_run n, g;
	guest_require_kvm();
	guest_run_mode(&n, helper, "native", scenario);
	guest_run_mode(&g, helper, "guest", scenario);
	cr_assert_str_eq(g.out, n.out,
	                 "%s: guest mode differs from native\n--- native:\n%s\n"
	                 "--- guest:\n%s\nstderr:\n%s",
	                 scenario, n.out, g.out, g.err);
	return &n;
}

#endif
