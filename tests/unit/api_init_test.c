/* SPDX-License-Identifier: MIT */
/*
 * Library state through the public API: sjmp_init and its documented errors, the backend
 * queries (sjmp_backend, sjmp_backend_name, sjmp_caps, sjmp_dir), the log hook (sjmp_set_log)
 * and sjmp_strerror.
 */
#include <pthread.h>

#include "api_util.h"

TestSuite(init, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(set_log, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(strerror, .init = api_setup, .fini = api_teardown, .timeout = 20);

Test(init, reports_nothing_before_initialisation)
{
	cr_expect_eq(sjmp_backend(), SJMP_BACKEND_NONE);
	cr_expect_str_eq(sjmp_backend_name(), "none");
	cr_expect_eq(sjmp_caps(), 0u);
	cr_expect_null(sjmp_dir());
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
}

Test(init, is_idempotent_and_reports_the_backend)
{
	cr_assert_eq(sjmp_init(), 0);
	cr_assert_eq(sjmp_init(), 0);
	enum sjmp_backend_kind k = sjmp_backend();
	cr_assert(k == SJMP_BACKEND_MMAP || k == SJMP_BACKEND_KVM, "backend %d", (int)k);
	cr_expect_str_eq(sjmp_backend_name(), k == SJMP_BACKEND_MMAP ? "mmap" : "kvm");
	if (k == SJMP_BACKEND_MMAP)
		cr_expect_eq(sjmp_caps() & SJMP_CAP_PER_THREAD_VAS, 0u,
		             "the mmap backend has one VAS per process");
	else
		cr_expect_neq(sjmp_caps() & SJMP_CAP_PER_THREAD_VAS, 0u);
	const char *want = getenv("SJMP_BACKEND");
	if (want && !strcmp(want, "mmap"))
		cr_expect_eq(k, SJMP_BACKEND_MMAP);
	if (want && !strcmp(want, "kvm"))
		cr_expect_eq(k, SJMP_BACKEND_KVM);
	cr_assert_not_null(sjmp_dir());
	cr_expect_str_eq(sjmp_dir(), api_dir);
}

Test(init, creates_sjmp_dir_with_seg_and_vas_subdirectories)
{
	char dir[PATH_MAX + 16];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/fresh", api_dir);
	setenv("SJMP_DIR", dir, 1);
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_str_eq(sjmp_dir(), dir);
	cr_assert_eq(stat(dir, &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	snprintf(dir, sizeof(dir), "%s/fresh/seg", api_dir);
	cr_expect_eq(stat(dir, &st), 0, "seg/ missing");
	snprintf(dir, sizeof(dir), "%s/fresh/vas", api_dir);
	cr_expect_eq(stat(dir, &st), 0, "vas/ missing");
}

Test(init, reserves_the_segment_zone)
{
	cr_assert_eq(sjmp_init(), 0);
	/* On both backends the host sees one PROT_NONE reservation before any segment is
	 * mapped (the kvm backend maps segments through page-table roots, not in the host). */
	char buf[4096];
	cr_expect_eq(api_zone_maps(buf, sizeof(buf)), 0,
	             "the zone must be one PROT_NONE reservation:\n%s", buf);
	/* The host's own mappings never land there: EEXIST from the host kernel, or EFAULT in
	 * guest mode, whose proxy never hands the host a pointer into the zone. */
	void *p = mmap((void *)(SJMP_ZONE_BASE + (1UL << 30)), API_PAGE, PROT_READ,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_expect_eq(p, MAP_FAILED, "MAP_FIXED_NOREPLACE inside the zone must fail");
	cr_expect(errno == (sjmp_backend() == SJMP_BACKEND_KVM ? EFAULT : EEXIST), "errno %d",
	          errno);
}

static void *init_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)sjmp_init();
}

Test(init, is_safe_to_race_with_itself)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, init_thread, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		cr_expect_eq((intptr_t)r, 0);
	}
	cr_expect_neq(sjmp_backend(), SJMP_BACKEND_NONE);
}

Test(init, rejects_an_unknown_backend_with_einval)
{
	api_capture_log();
	setenv("SJMP_BACKEND", "bogus", 1);
	cr_assert_eq(sjmp_init(), -EINVAL);
	cr_expect_neq(api_log_count, 0, "the reason must be logged");
	cr_expect_not_null(strstr(api_log_last, "bogus"), "log: %s", api_log_last);
	/* Every later call reports the same failure, and nothing is initialised. */
	cr_expect_eq(sjmp_vas_create(NULL, 0600), -EINVAL);
	cr_expect_eq(sjmp_backend(), SJMP_BACKEND_NONE);
	cr_expect_null(sjmp_dir());
}

Test(init, kvm_backend_is_either_available_or_enodev)
{
	api_capture_log();
	setenv("SJMP_BACKEND", "kvm", 1);
	int r = sjmp_init();
	cr_assert(r == 0 || r == -ENODEV, "sjmp_init: %d", r);
	if (r == 0) {
		cr_expect_eq(sjmp_backend(), SJMP_BACKEND_KVM);
	} else {
		cr_expect_eq(sjmp_backend(), SJMP_BACKEND_NONE);
		cr_expect_neq(api_log_count, 0, "ENODEV must say why");
	}
}

Test(init, refuses_an_occupied_zone_with_eexist)
{
	uintptr_t at = SJMP_ZONE_BASE + (3UL << 30);
	void *p =
	    mmap((void *)at, API_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	cr_assert_eq(p, (void *)at);
	api_capture_log();
	cr_assert_eq(sjmp_init(), -EEXIST);
	cr_expect_neq(api_log_count, 0);
	cr_expect_not_null(strstr(api_log_last, "0x108000000000"), "log names the range: %s",
	                   api_log_last);
	cr_expect_eq(sjmp_backend(), SJMP_BACKEND_NONE);
	cr_expect_eq(sjmp_seg_alloc(NULL, API_BASE(1), API_PAGE, API_RW, 0600), -EEXIST);
	/* Our mapping is untouched. */
	char perms[8];
	api_maps_perms(at, perms);
	cr_expect_str_eq(perms, "r--p");
}

Test(init, refuses_a_sjmp_dir_that_is_a_file_with_enotdir)
{
	char file[PATH_MAX + 16];

	snprintf(file, sizeof(file), "%s/plain", api_dir);
	int fd = open(file, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	setenv("SJMP_DIR", file, 1);
	api_capture_log();
	cr_expect_eq(sjmp_init(), -ENOTDIR);
	cr_expect_null(sjmp_dir());
}

static int hook_calls;
static enum sjmp_log_level hook_level;
static void *hook_arg;
static char hook_line[512];

static void hook(enum sjmp_log_level level, const char *line, void *arg)
{
	hook_calls++;
	hook_level = level;
	hook_arg = arg;
	snprintf(hook_line, sizeof(hook_line), "%s", line);
}

Test(set_log, routes_errors_to_the_hook_with_operation_and_errno_name)
{
	int token;

	sjmp_set_log(hook, &token);
	cr_assert_eq(sjmp_vas_find("no/slash"), -EINVAL);
	cr_expect_eq(hook_calls, 1);
	cr_expect_eq(hook_level, SJMP_LOG_ERROR);
	cr_expect_eq(hook_arg, &token, "the argument is passed unchanged");
	cr_expect_not_null(strstr(hook_line, "vas_find"), "%s", hook_line);
	cr_expect_not_null(strstr(hook_line, "EINVAL"), "%s", hook_line);
	cr_expect_null(strchr(hook_line, '\n'), "one line without newline");
}

Test(set_log, null_restores_the_stderr_default)
{
	int fds[2];

	sjmp_set_log(hook, NULL);
	sjmp_set_log(NULL, NULL);
	cr_assert_eq(sjmp_init(), 0);
	cr_assert_eq(pipe(fds), 0);
	int saved = dup(2);
	dup2(fds[1], 2);
	int r = sjmp_seg_find("");
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	cr_expect_eq(r, -EINVAL);
	cr_expect_eq(hook_calls, 0, "the old hook must not be called");
	char out[1024] = "";
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	cr_assert_gt(n, 0, "nothing on stderr");
	out[n] = 0;
	cr_expect_eq(strncmp(out, "sjmp: ", 6), 0, "stderr: %s", out);
	cr_expect_not_null(strstr(out, "EINVAL"), "stderr: %s", out);
	cr_expect_eq(out[n - 1], '\n');
}

Test(strerror, describes_library_and_system_errors_of_either_sign)
{
	cr_expect_str_eq(sjmp_strerror(-EBADMSG), sjmp_strerror(EBADMSG));
	cr_expect_not_null(strstr(sjmp_strerror(-EBADMSG), "metadata"));
	cr_expect_not_null(strstr(sjmp_strerror(-ERANGE), "zone"));
	cr_expect_not_null(strstr(sjmp_strerror(-EADDRINUSE), "overlap"));
	cr_expect_not_null(strstr(sjmp_strerror(-EUCLEAN), "heap"));
	cr_expect_str_eq(sjmp_strerror(-ENOENT), strerror(ENOENT));
	cr_expect_str_eq(sjmp_strerror(-EACCES), strerror(EACCES));
	cr_expect_not_null(sjmp_strerror(0));
	cr_expect_not_null(sjmp_strerror(-99999));
}
