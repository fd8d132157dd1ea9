/* SPDX-License-Identifier: MIT */
/*
 * guest_hole_helper - exec'd by tests/integration/guest_hole_test.c. In guest mode, touches host
 * holes inside covered memory (KVM_RUN fails with a bare EFAULT on kvm_pvm) and reports the
 * signal the handler got. Prints "key=value" lines; argv[1] selects:
 *   unmapped  a page munmap'ed between two mapped ones: SIGSEGV SEGV_MAPERR at the address
 *   readonly  a write to a page made read-only: SIGSEGV SEGV_ACCERR at the address
 *   beyond    a read past the end of a mapped file: SIGBUS BUS_ADRERR at the address
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sjmp.h"

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static volatile uint64_t got_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = (uint64_t)si->si_addr;
	siglongjmp(jb, 1);
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	int r = sjmp_enter();
	printf("enter=%d\n", r);
	if (r < 0)
		return 2;
	struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	long pg = 4096;
	volatile char *p = NULL, *target = NULL;
	int write = 0, fd = -1;
	if (!strcmp(what, "unmapped") || !strcmp(what, "readonly")) {
		p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		for (int i = 0; i < 3; i++)
			p[i * pg] = 1; /* the guest has used all three pages */
		if (!strcmp(what, "unmapped"))
			munmap((void *)(p + pg), pg);
		else
			mprotect((void *)(p + pg), pg, PROT_READ);
		write = !strcmp(what, "readonly");
		target = p + pg + 123;
	} else if (!strcmp(what, "beyond")) {
		char path[] = "/tmp/sjmp-hole-XXXXXX";
		fd = mkstemp(path);
		unlink(path);
		if (fd < 0 || ftruncate(fd, pg) < 0)
			return 3;
		p = mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, fd, 0);
		(void)p[0];
		target = p + pg + 8;
	} else {
		fprintf(stderr, "guest_hole_helper: unknown scenario \"%s\"\n", what);
		return 64;
	}
	int completed = 0;
	if (sigsetjmp(jb, 1) == 0) {
		if (write)
			*target = 7;
		else
			(void)*target;
		completed = 1;
	}
	/* The program goes on in guest mode after the handler. */
	volatile int after = 0;
	for (int i = 0; i < 1000; i++)
		after += i;
	printf("completed=%d\nsig=%d\ncode=%d\naddr_ok=%d\naddr=%#llx\nexpected=%#llx\nafter=%d\n",
	       completed, got_sig, got_code, got_addr == (uint64_t)target,
	       (unsigned long long)got_addr, (unsigned long long)(uint64_t)target, after);
	return 0;
}
