/* SPDX-License-Identifier: MIT */
/*
 * guest_crash_helper - dies in guest mode in a way the VMM cannot turn into a signal, inside a
 * static (not exported) function, so that tests/integration/guest_crash_test.c can check the
 * crash report names it. Usage: guest_crash_helper in|out
 */
#include <stdio.h>
#include <string.h>

#include "sjmp.h"

/* A guest `in` (ring 0 may do it; no VMM device answers): the VMM reports and dies. */
__attribute__((noinline)) static void sjmp_test_static_crash_in(void)
{
	unsigned char v;
	__asm__ volatile("inb $0x80, %0" : "=a"(v));
	printf("survived in=%u\n", v);
}

/* An `out` to a port of no device and outside the guest ABI. */
__attribute__((noinline)) static void sjmp_test_static_crash_out(void)
{
	__asm__ volatile("outb %%al, $0x99" : : "a"(0));
	printf("survived out\n");
}

int main(int argc, char **argv)
{
	int r = sjmp_enter();
	if (r < 0) {
		fprintf(stderr, "sjmp_enter=%d\n", r);
		return 2;
	}
	fflush(stdout);
	if (argc > 1 && !strcmp(argv[1], "out"))
		sjmp_test_static_crash_out();
	else
		sjmp_test_static_crash_in();
	return 0;
}
