/* SPDX-License-Identifier: MIT */
/*
 * preload.c - libsjmp-preload.so: what sjmp-run puts in LD_PRELOAD. Its constructor enters guest
 * mode before the program's own constructors and main. Built from libsjmp's objects, so nothing
 * is missing at run time.
 *
 * One copy of the library per process: when the program carries its own libsjmp (linked
 * statically, or libsjmp.so among its libraries), this copy stands aside and the program's copy
 * enters from its own constructor (sjmp-run sets SJMP_RUN_ENTER=1, libsjmp/init.c), so the copy
 * the program calls is the one that knows it is in guest mode.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "sjmp.h"

__attribute__((constructor(101))) static void sjmp_preload_enter(void)
{
	sjmp__copy_is_preload = true;
	const char *off = getenv("SJMP_RUN_DISABLE");
	if (off && *off == '1')
		return;
	if (sjmp__program_has_copy())
		return; /* its own copy enters (SJMP_RUN_ENTER=1) */
	int r = sjmp_enter();
	if (r < 0) {
		sjmp__log(SJMP_LOG_ERROR, "sjmp-run: cannot enter guest mode (%s): %s",
		          sjmp__errname(r), sjmp_strerror(r));
		_exit(125);
	}
}
