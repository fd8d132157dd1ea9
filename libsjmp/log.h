/* SPDX-License-Identifier: MIT */
/* log.h - the library's only way to say anything: a hook, stderr by default (STYLE: jemalloc
 * malloc_message). Messages name the operation, the errno name and the remedy. */
#ifndef SJMP_LOG_H
#define SJMP_LOG_H

#include "sjmp.h"

/** sjmp__log() - format one line and pass it to the hook. */
void sjmp__log(enum sjmp_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** sjmp__errname() - "EACCES" for EACCES (positive or negative errno); "E?" when unknown. */
const char *sjmp__errname(int err);

/**
 * sjmp__fail() - log "OP: ENAME: remedy" at ERROR level and return -@err (err may have either
 * sign), so a failing path reads `return sjmp__fail(err, "op", "remedy %s", x);`.
 */
int sjmp__fail(int err, const char *op, const char *remedy_fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
