/* Behaviour of the log hook and error names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static char last[512];
static enum sjmp_log_level last_level;

static void capture(enum sjmp_log_level level, const char *line, void *arg)
{
	(void)arg;
	last_level = level;
	snprintf(last, sizeof(last), "%s", line);
}

Test(log, fail_names_operation_errno_and_remedy)
{
	sjmp_set_log(capture, NULL);
	int r = sjmp__fail(EACCES, "seg_alloc(\"x\")", "make %s writable", "/tmp/d");
	cr_expect_eq(r, -EACCES);
	cr_expect_eq(last_level, SJMP_LOG_ERROR);
	cr_expect_str_eq(last, "seg_alloc(\"x\"): EACCES: make /tmp/d writable");
	sjmp_set_log(NULL, NULL);
}

Test(log, fail_accepts_negative_errno)
{
	sjmp_set_log(capture, NULL);
	cr_expect_eq(sjmp__fail(-ENOSPC, "op", "free space"), -ENOSPC);
	cr_expect(strstr(last, "ENOSPC") != NULL);
	sjmp_set_log(NULL, NULL);
}

Test(log, strerror_explains_library_specific_codes)
{
	cr_expect(strstr(sjmp_strerror(-EBADMSG), "metadata") != NULL);
	cr_expect_str_eq(sjmp_strerror(-ENOENT), strerror(ENOENT));
	cr_expect_str_eq(sjmp__errname(-EUCLEAN), "EUCLEAN");
	cr_expect_str_eq(sjmp__errname(99999), "E?");
}
