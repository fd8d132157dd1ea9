/* SPDX-License-Identifier: MIT */
/*
 * second_copy_helper - run under sjmp-run: this program links libsjmp (statically), so its own
 * copy enters guest mode before main (SJMP_RUN_ENTER=1); then it loads a second copy
 * (libsjmp.so, argv[1]), whose sjmp_enter() must refuse with ENOTSUP instead of nesting a VM.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "sjmp.h"
#include "vmm.h"

int main(int argc, char **argv)
{
	printf("own_copy_in_guest=%d\n", vmm_self() != NULL);
	if (argc < 2)
		return 2;
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("dlopen_error=%s\n", dlerror());
		return 3;
	}
	int (*enter)(void) = (int (*)(void))dlsym(h, "sjmp_enter");
	printf("second_copy_enter=%d\n", enter ? enter() : 1);
	int r = sjmp_init();
	printf("own_init=%d\nown_backend=%s\n", r, sjmp_backend_name());
	return 0;
}
