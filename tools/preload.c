/* SPDX-License-Identifier: MIT */
/*
 * preload.c - libsjmp-preload.so: what sjmp-run puts in LD_PRELOAD. Its constructor enters guest
 * mode before the program's own constructors and main. Built from libsjmp's objects, so nothing
 * is missing at run time.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sjmp.h"

__attribute__((constructor(101))) static void sjmp_preload_enter(void)
{
	const char *off = getenv("SJMP_RUN_DISABLE");
	if (off && *off == '1')
		return;
	int r = sjmp_enter();
	if (r < 0) {
		sjmp__log(SJMP_LOG_ERROR, "sjmp-run: cannot enter guest mode (%s): %s",
		          sjmp__errname(r), sjmp_strerror(r));
		_exit(125);
	}
}
