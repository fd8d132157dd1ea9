/* SPDX-License-Identifier: MIT */
/* log.c - the log hook and error names. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static sjmp_log_fn log_fn;
static void *log_arg;

void sjmp_set_log(sjmp_log_fn fn, void *arg)
{
	__atomic_store_n(&log_arg, arg, __ATOMIC_RELAXED);
	__atomic_store_n(&log_fn, fn, __ATOMIC_RELEASE);
}

static int default_max_level(void)
{
	const char *d = getenv("SJMP_DEBUG");
	return d && *d && strcmp(d, "0") != 0 ? SJMP_LOG_DEBUG : SJMP_LOG_WARN;
}

void sjmp__log(enum sjmp_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	sjmp_log_fn fn = __atomic_load_n(&log_fn, __ATOMIC_ACQUIRE);
	if (fn) {
		fn(level, line, __atomic_load_n(&log_arg, __ATOMIC_RELAXED));
		return;
	}
	if ((int)level > default_max_level())
		return;
	/* One write(2) so that lines from several processes do not interleave. */
	char out[600];
	int n = snprintf(out, sizeof(out), "sjmp: %s\n", line);
	if (n > (int)sizeof(out))
		n = sizeof(out);
	ssize_t w = write(STDERR_FILENO, out, (size_t)n);
	(void)w;
}

int sjmp__fail(int err, const char *op, const char *remedy_fmt, ...)
{
	if (err < 0)
		err = -err;
	char remedy[384];
	va_list ap;
	va_start(ap, remedy_fmt);
	vsnprintf(remedy, sizeof(remedy), remedy_fmt, ap);
	va_end(ap);
	sjmp__log(SJMP_LOG_ERROR, "%s: %s: %s", op, sjmp__errname(err), remedy);
	return -err;
}

/* The errno values this library returns or passes on, by name (messages name them). */
static const struct {
	int err;
	const char *name;
} errnames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {ENOEXEC, "ENOEXEC"},
    {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},
    {EDEADLK, "EDEADLK"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {EBADMSG, "EBADMSG"},
    {EOVERFLOW, "EOVERFLOW"},
    {EUSERS, "EUSERS"},
    {ENOTSUP, "ENOTSUP"},
    {EADDRINUSE, "EADDRINUSE"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {EUCLEAN, "EUCLEAN"},
    {EOWNERDEAD, "EOWNERDEAD"},
    {EDQUOT, "EDQUOT"},
    {ENOLCK, "ENOLCK"},
};

const char *sjmp__errname(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	return "E?";
}

const char *sjmp_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case EBADMSG:
		return "metadata damaged, foreign or of another format version";
	case EADDRINUSE:
		return "segment overlaps another segment of the VAS";
	case ERANGE:
		return "address range outside the segment zone";
	case EUSERS:
		return "too many processes hold the segment's lock file";
	case EUCLEAN:
		return "segment heap corrupted";
	default:
		return strerror(err);
	}
}
