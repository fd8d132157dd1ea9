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

const char *sjmp__errname(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
#define E(x)                                                                                       \
	case x:                                                                                    \
		return #x;
		E(EPERM) E(ENOENT) E(ESRCH) E(EINTR) E(EIO) E(ENXIO) E(E2BIG) E(ENOEXEC) E(EBADF)
		E(ECHILD) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST) E(EXDEV)
		E(ENODEV) E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(EFBIG)
		E(ENOSPC) E(ESPIPE) E(EROFS) E(EMLINK) E(EPIPE) E(ERANGE) E(EDEADLK)
		E(ENAMETOOLONG) E(ENOSYS) E(ENOTEMPTY) E(ELOOP) E(EBADMSG) E(EOVERFLOW) E(EUSERS)
		E(ENOTSUP) E(EADDRINUSE) E(ETIMEDOUT) E(EUCLEAN) E(EOWNERDEAD) E(EDQUOT)
#undef E
	default:
		return "E?";
	}
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
