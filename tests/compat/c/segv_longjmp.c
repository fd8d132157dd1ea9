/* SIGSEGV handler + siglongjmp, three times, then an uncaught SIGSEGV (status 139). */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
static sigjmp_buf jb;
static void *addr;
static void h(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	addr = si->si_addr;
	siglongjmp(jb, 1);
}
int main(void)
{
	struct sigaction sa = {.sa_sigaction = h, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sa, NULL);
	volatile uintptr_t bad[3] = {0x8, 0x1000, 0x7000};
	for (volatile int i = 0; i < 3; i++) {
		if (!sigsetjmp(jb, 1))
			*(volatile char *)bad[i] = 1;
		printf("caught SIGSEGV at %p\n", addr);
	}
	fflush(stdout);
	signal(SIGSEGV, SIG_DFL);
	*(volatile char *)bad[0] = 1;
	return 0;
}
