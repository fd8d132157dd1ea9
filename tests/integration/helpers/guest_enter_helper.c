/* SPDX-License-Identifier: MIT */
/*
 * guest_enter_helper - exec'd by the integration tests in a fresh, single-threaded process.
 * Enters guest mode, then proves it: reads CR3 (ring 0 only: SIGSEGV natively), makes system
 * calls, and prints "key=value" lines for the test to check. argv[1] selects a scenario.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sjmp.h"
#include "vmm.h"

static uint64_t read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static volatile long alarms;
static sigjmp_buf jb;
static void *segv_addr;

static void on_alrm(int s)
{
	(void)s;
	alarms++;
}

static void on_segv(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	segv_addr = si->si_addr;
	siglongjmp(jb, 1);
}

static void scenario_signals(void)
{
	struct sigaction sa = {.sa_handler = on_alrm, .sa_flags = SA_RESTART};
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = {{0, 500}, {0, 500}};
	setitimer(ITIMER_REAL, &it, NULL);
	long bad = 0;
	for (long i = 0; i < 20000; i++) {
		errno = 0;
		if (read(-1, NULL, 0) != -1 || errno != EBADF)
			bad++;
	}
	int p[2];
	char c;
	if (pipe(p))
		return;
	pid_t kid = fork();
	if (kid == 0) {
		usleep(30000);
		_exit(write(p[1], "x", 1) == 1 ? 0 : 1);
	}
	ssize_t n = read(p[0], &c, 1); /* interrupted by SIGALRM, restarted by SA_RESTART */
	struct itimerval z = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &z, NULL);
	waitpid(kid, NULL, 0);
	printf("alarms=%ld\nerrno_bad=%ld\nrestarted_read=%zd\n", alarms, bad, n);
	struct sigaction sb = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
	sigaction(SIGSEGV, &sb, NULL);
	volatile uintptr_t bad_addr = 0x18;
	if (!sigsetjmp(jb, 1))
		*(volatile int *)bad_addr = 1;
	printf("segv_addr=%#lx\ncr3_after_siglongjmp=%d\n", (unsigned long)segv_addr,
	       read_cr3() != 0);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long counter, done_threads, threads_cr3;

static void *thread_fn(void *arg)
{
	(void)arg;
	uint64_t c = read_cr3(); /* SIGSEGV natively: proves the thread is in guest mode */
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	pthread_mutex_lock(&mu);
	threads_cr3 += c != 0;
	done_threads++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void scenario_threads(void)
{
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, thread_fn, NULL);
	pthread_mutex_lock(&mu);
	while (done_threads < 8)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	printf("counter=%ld\nthreads_cr3=%ld\n", counter, threads_cr3);
	int p[2];
	if (pipe(p))
		return;
	pid_t kid = fork();
	if (kid == 0) {
		char b = read_cr3() ? 'G' : 'H';
		_exit(write(p[1], &b, 1) == 1 ? 42 : 1);
	}
	int st = 0;
	char b = 0;
	waitpid(kid, &st, 0);
	if (read(p[0], &b, 1) != 1)
		b = '?';
	printf("fork_status=%d\nfork_child_guest=%d\n", WEXITSTATUS(st), b == 'G');
}

static void *wait_fn(void *arg)
{
	/* Blocks every signal with a raw rt_sigprocmask (glibc would keep 32, the one sjmp_enter
	 * borrows): this thread cannot be brought into guest mode. */
	uint64_t all = ~0UL;
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, NULL, 8);
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

/* Three threads caught in three states by sjmp_enter(): blocked in read(), spinning, sleeping. */
static int mt_pipe[2];
static volatile int mt_entered;
static volatile long mt_spins;
static struct {
	ssize_t n;
	char buf[8];
	uint64_t cr3;
} mt_reader;
static struct {
	int rc, err;
	long elapsed_ms;
	uint64_t cr3;
} mt_sleeper;
static uint64_t mt_spinner_cr3;

static long ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void *mt_read_fn(void *arg)
{
	mt_reader.n = read(mt_pipe[0], mt_reader.buf, 5);
	if (mt_entered)
		mt_reader.cr3 = read_cr3();
	return arg;
}

static void *mt_spin_fn(void *arg)
{
	while (!mt_entered)
		mt_spins++;
	mt_spinner_cr3 = read_cr3();
	return arg;
}

static void *mt_sleep_fn(void *arg)
{
	struct timespec a, b, req = {0, 600 * 1000000L}, rem;
	clock_gettime(CLOCK_MONOTONIC, &a);
	mt_sleeper.rc = nanosleep(&req, &rem);
	mt_sleeper.err = mt_sleeper.rc ? errno : 0;
	clock_gettime(CLOCK_MONOTONIC, &b);
	mt_sleeper.elapsed_ms = ms_between(&a, &b);
	if (mt_entered)
		mt_sleeper.cr3 = read_cr3();
	return arg;
}

static int scenario_multi(void)
{
	pthread_t t[3];
	if (pipe(mt_pipe))
		return 2;
	pthread_create(&t[0], NULL, mt_read_fn, NULL);
	pthread_create(&t[1], NULL, mt_spin_fn, NULL);
	pthread_create(&t[2], NULL, mt_sleep_fn, NULL);
	usleep(100 * 1000); /* the reader blocks in read(), the sleeper in nanosleep() */
	int r = sjmp_enter();
	printf("enter_with_threads=%d\n", r);
	if (r == 0) {
		mt_entered = 1;
		printf("main_cr3=%d\n", read_cr3() != 0);
	} else {
		mt_entered = 0;
	}
	usleep(50 * 1000);
	if (write(mt_pipe[1], "hello", 5) != 5)
		return 3;
	if (r < 0)
		mt_entered =
		    1; /* lets the spinner stop; it then dies reading CR3: status says so */
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("reader_n=%zd\nreader_ok=%d\nreader_cr3=%d\n", mt_reader.n,
	       mt_reader.n == 5 && !memcmp(mt_reader.buf, "hello", 5), mt_reader.cr3 != 0);
	printf("spinner_spun=%d\nspinner_cr3=%d\n", mt_spins > 0, mt_spinner_cr3 != 0);
	printf("sleeper_rc=%d\nsleeper_errno=%d\nsleeper_ms=%ld\nsleeper_cr3=%d\n", mt_sleeper.rc,
	       mt_sleeper.err, mt_sleeper.elapsed_ms, mt_sleeper.cr3 != 0);
	printf("threads_in_guest=%d\n", vmm_get() ? vmm_get()->nvcpus : 0);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "basic";
	if (!strcmp(what, "ebusy")) {
		pthread_t t;
		pthread_mutex_lock(&mu);
		pthread_create(&t, NULL, wait_fn, NULL);
		usleep(20 * 1000);
		int r = sjmp_enter();
		printf("enter_with_threads=%d\nhost_mode_after=%d\n", r, vmm_self() == NULL);
		pthread_mutex_unlock(&mu);
		pthread_join(t, NULL);
		printf("joined=1\n");
		return 0;
	}
	if (!strcmp(what, "multi"))
		return scenario_multi();
	pid_t pid_before = getpid();
	int r = sjmp_enter();
	if (r < 0) {
		printf("enter=%d\n", r);
		return 2;
	}
	uint64_t cr3 = read_cr3();
	char line[256];
	int n = snprintf(line, sizeof(line), "enter=0\ncr3=%#llx\npid_same=%d\n",
	                 (unsigned long long)cr3, getpid() == pid_before);
	if (write(1, line, (size_t)n) != n)
		return 3;
	if (!strcmp(what, "basic")) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int i = 0; i < 100; i++)
			syscall(SYS_getppid);
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("monotonic_ok=%d\n",
		       b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
		void *p = malloc(64 << 20); /* a new mmap: covered synchronously */
		memset(p, 1, 64 << 20);
		printf("malloc_ok=%d\n", ((char *)p)[12345] == 1);
		free(p);
		uint64_t kexits = 0, kio = 0;
		int e1 = vmm_kvm_stat("exits", &kexits), e2 = vmm_kvm_stat("io_exits", &kio);
		printf("kvm_stat_rc=%d kvm_exits=%llu kvm_io_exits=%llu\n", e1 ? e1 : e2,
		       (unsigned long long)kexits, (unsigned long long)kio);
		struct vmm_vcpu *v = vmm_self();
		printf("vcpu=%d syscall_exits=%llu\n", v ? v->id : -1,
		       v ? (unsigned long long)v->stats.exits[VMM_EXIT_SYSCALL] : 0ULL);
	}
	if (!strcmp(what, "signals"))
		scenario_signals();
	if (!strcmp(what, "threads"))
		scenario_threads();
	fflush(stdout);
	return 0;
}
