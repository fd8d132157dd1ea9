/* SPDX-License-Identifier: MIT */
/*
 * The kvm backend in the test process itself: a Criterion worker has threads of its own, and
 * sjmp_init() with SJMP_BACKEND=kvm must bring all of them into guest mode (sjmp_enter). Each
 * Criterion test runs in its own worker process, under the test's timeout.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "integration/guest_run.h"
#include "sjmp.h"
#include "vmm.h"

/* Criterion's BoxFort maps its arena at a random address, one run in ~8 inside the segment zone
 * (then sjmp_init fails with EEXIST whatever the backend): skip with the reason. */
static void require_free_zone(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	cr_assert(f);
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && hi > SJMP_ZONE_BASE &&
		    lo < SJMP_ZONE_BASE + SJMP_ZONE_SIZE) {
			fclose(f);
			cr_skip_test("the segment zone is occupied (Criterion's arena?): %s", line);
		}
	}
	fclose(f);
}

Test(kvm_inprocess, criterion_worker_with_threads_gets_the_kvm_backend, .timeout = 60)
{
	guest_require_kvm();
	require_free_zone();
	setenv("SJMP_BACKEND", "kvm", 1);
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_str_eq(sjmp_backend_name(), "kvm");
	cr_expect(vmm_self() != NULL, "the test's thread runs on a vCPU");
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3)); /* SIGSEGV natively */
	cr_expect(cr3 != 0);
	cr_expect_geq(vmm_get()->nvcpus, 2, "Criterion's own threads came along");
}
