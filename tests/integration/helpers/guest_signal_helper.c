/* SPDX-License-Identifier: MIT */
/*
 * guest_signal_helper - signal semantics, run once natively and once in guest mode by
 * tests/integration/guest_signal_test.c, which compares the two outputs line by line.
 * Usage: guest_signal_helper native|guest queue|fpu|info|altstack
 * Every line printed to stdout must be the same in both modes (no addresses, no pids).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h */
#endif
#include <unistd.h>

#include "sjmp.h"
#include "vmm.h"

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags, int block_all)
{
	struct sigaction sa = {.sa_sigaction = fn, .sa_flags = SA_SIGINFO | flags};
	if (block_all)
		sigfillset(&sa.sa_mask);
	else
		sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void block(int how, int a, int b, int c, int d)
{
	sigset_t s;
	sigemptyset(&s);
	int v[] = {a, b, c, d};
	for (int i = 0; i < 4; i++)
		if (v[i])
			sigaddset(&s, v[i]);
	sigprocmask(how, &s, NULL);
}

/* ---- queue: real-time signals queue, standard ones coalesce, in the kernel's order ---- */

#define MAXREC 128
static volatile int nrec;
static int rec_sig[MAXREC], rec_val[MAXREC], rec_code[MAXREC];

static void on_rec(int s, siginfo_t *si, void *uc)
{
	(void)uc;
	int i = nrec;
	if (i < MAXREC) {
		rec_sig[i] = s;
		rec_val[i] = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
		rec_code[i] = si->si_code;
		nrec = i + 1;
	}
}

static void print_recs(const char *what)
{
	printf("%s_n=%d\n%s=", what, nrec, what);
	for (int i = 0; i < nrec; i++)
		printf("%s%d:%d:%d", i ? " " : "", rec_sig[i], rec_val[i], rec_code[i]);
	printf("\n");
	nrec = 0;
}

static void scenario_queue(void)
{
	int r0 = SIGRTMIN, r1 = SIGRTMIN + 1, r2 = SIGRTMIN + 2;
	install(SIGUSR1, on_rec, 0, 1);
	install(r0, on_rec, 0, 1);
	install(r1, on_rec, 0, 1);
	install(r2, on_rec, 0, 1);
	/* Pending while blocked: the kernel keeps them; unblocking delivers all. */
	block(SIG_BLOCK, SIGUSR1, r0, r1, 0);
	for (int i = 0; i < 3; i++)
		kill(getpid(), SIGUSR1);
	for (int i = 1; i <= 5; i++)
		sigqueue(getpid(), r1, (union sigval){.sival_int = i});
	sigqueue(getpid(), r0, (union sigval){.sival_int = 10});
	sigqueue(getpid(), r0, (union sigval){.sival_int = 11});
	block(SIG_UNBLOCK, SIGUSR1, r0, r1, 0);
	print_recs("blocked_then_unblocked");

	/* A burst from another process while this one runs: every instance, in order. */
	pid_t parent = getpid(), kid = fork();
	if (kid == 0) {
		for (int i = 100; i < 140; i++)
			sigqueue(parent, r2, (union sigval){.sival_int = i});
		_exit(0);
	}
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while (nrec < 40 && t.tv_sec - t0.tv_sec < 10);
	waitpid(kid, NULL, 0);
	print_recs("burst");

	/* A burst of queued signals to this thread while it spins (no system call). */
	block(SIG_BLOCK, r2, 0, 0, 0);
	for (int i = 0; i < 20; i++)
		sigqueue(getpid(), r2, (union sigval){.sival_int = 200 + i});
	block(SIG_UNBLOCK, r2, 0, 0, 0);
	print_recs("burst_self");

	/* Handlers whose sa_mask blocks the other pending signal: the second waits for the
	 * first handler's return. Then empty masks: the second one nests (runs first). */
	install(SIGUSR1, on_rec, 0, 1);
	install(SIGUSR2, on_rec, 0, 1);
	block(SIG_BLOCK, SIGUSR1, SIGUSR2, r0, 0);
	kill(getpid(), SIGUSR2);
	kill(getpid(), SIGUSR1);
	sigqueue(getpid(), r0, (union sigval){.sival_int = 1});
	sigqueue(getpid(), r0, (union sigval){.sival_int = 2});
	block(SIG_UNBLOCK, SIGUSR1, SIGUSR2, r0, 0);
	print_recs("masked_handlers");
	install(SIGUSR1, on_rec, 0, 0);
	install(SIGUSR2, on_rec, 0, 0);
	install(r0, on_rec, 0, 0);
	block(SIG_BLOCK, SIGUSR1, SIGUSR2, r0, 0);
	kill(getpid(), SIGUSR2);
	kill(getpid(), SIGUSR1);
	sigqueue(getpid(), r0, (union sigval){.sival_int = 1});
	sigqueue(getpid(), r0, (union sigval){.sival_int = 2});
	block(SIG_UNBLOCK, SIGUSR1, SIGUSR2, r0, 0);
	print_recs("nested_handlers");

	/* sigpending() shows blocked ones; sigwaitinfo takes them in order with their values. */
	block(SIG_BLOCK, r1, 0, 0, 0);
	sigqueue(getpid(), r1, (union sigval){.sival_int = 7});
	sigqueue(getpid(), r1, (union sigval){.sival_int = 8});
	sigset_t p, w;
	sigpending(&p);
	printf("sigpending_has_r1=%d\n", sigismember(&p, r1));
	sigemptyset(&w);
	sigaddset(&w, r1);
	siginfo_t si;
	int a = sigwaitinfo(&w, &si), av = si.si_value.sival_int;
	int b = sigwaitinfo(&w, &si), bv = si.si_value.sival_int;
	printf("sigwaitinfo=%d:%d,%d:%d\n", a - SIGRTMIN, av, b - SIGRTMIN, bv);
	block(SIG_UNBLOCK, r1, 0, 0, 0);
}

/* ---- fpu: a handler starts with a clean FPU; the interrupted code's state is saved ---- */

static int has_avx512(void)
{
	uint32_t a, b, c, d;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	return (b >> 16) & 1;
}

static uint32_t ymm_offset(void)
{
	uint32_t a, b, c, d;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(2));
	return b;
}

static uint8_t pattern[16][32] __attribute__((aligned(32)));
static uint8_t after[16][32] __attribute__((aligned(32)));
static volatile int h_count, h_clean, h_uc_ok;
static volatile uint32_t h_mxcsr;
static volatile uint16_t h_fcw;
static uint32_t prog_mxcsr = 0x7f80; /* all exceptions masked, round toward zero */

static void on_fpu(int s, siginfo_t *si, void *ucv)
{
	(void)s;
	(void)si;
	ucontext_t *uc = ucv;
	uint32_t mx;
	uint16_t cw;
	uint8_t regs[16][32] __attribute__((aligned(32)));
	__asm__ volatile("stmxcsr %0; fnstcw %1" : "=m"(mx), "=m"(cw));
	__asm__ volatile("vmovdqu %%ymm0, 0(%0)\n\tvmovdqu %%ymm1, 32(%0)\n\t"
	                 "vmovdqu %%ymm7, 64(%0)\n\tvmovdqu %%ymm15, 96(%0)"
	                 :
	                 : "r"(regs)
	                 : "memory");
	int clean = 1;
	for (int i = 0; i < 128; i++)
		if (((uint8_t *)regs)[i])
			clean = 0;
	/* The interrupted state, as saved in the frame. */
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	int ok = uc->uc_mcontext.fpregs->mxcsr == prog_mxcsr;
	for (int r = 0; r < 16; r++) {
		if (memcmp(fp + 160 + 16 * r, pattern[r], 16))
			ok = 0;
		if (memcmp(fp + ymm_offset() + 16 * r, pattern[r] + 16, 16))
			ok = 0;
	}
	/* Clobber everything the interrupted code holds. */
	uint32_t bad = 0x1f80 | 0x2000;
	__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n\t"
	                 "vmovdqa %%ymm0, %%ymm1\n\tvmovdqa %%ymm0, %%ymm2\n\t"
	                 "vmovdqa %%ymm0, %%ymm3\n\tvmovdqa %%ymm0, %%ymm4\n\t"
	                 "vmovdqa %%ymm0, %%ymm5\n\tvmovdqa %%ymm0, %%ymm6\n\t"
	                 "vmovdqa %%ymm0, %%ymm7\n\tvmovdqa %%ymm0, %%ymm8\n\t"
	                 "vmovdqa %%ymm0, %%ymm9\n\tvmovdqa %%ymm0, %%ymm10\n\t"
	                 "vmovdqa %%ymm0, %%ymm11\n\tvmovdqa %%ymm0, %%ymm12\n\t"
	                 "vmovdqa %%ymm0, %%ymm13\n\tvmovdqa %%ymm0, %%ymm14\n\t"
	                 "vmovdqa %%ymm0, %%ymm15\n\tldmxcsr %0"
	                 :
	                 : "m"(bad)
	                 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
	                   "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	if (!h_count) {
		h_mxcsr = mx;
		h_fcw = cw;
		h_clean = clean;
		h_uc_ok = ok;
	} else {
		h_clean &= clean;
		h_uc_ok &= ok;
	}
	h_count++;
}

#define LOAD_YMM                                                                                   \
	"vmovdqa 0(%[p]), %%ymm0\n\tvmovdqa 32(%[p]), %%ymm1\n\tvmovdqa 64(%[p]), %%ymm2\n\t"      \
	"vmovdqa 96(%[p]), %%ymm3\n\tvmovdqa 128(%[p]), %%ymm4\n\tvmovdqa 160(%[p]), %%ymm5\n\t"   \
	"vmovdqa 192(%[p]), %%ymm6\n\tvmovdqa 224(%[p]), %%ymm7\n\tvmovdqa 256(%[p]), %%ymm8\n\t"  \
	"vmovdqa 288(%[p]), %%ymm9\n\tvmovdqa 320(%[p]), %%ymm10\n\t"                              \
	"vmovdqa 352(%[p]), %%ymm11\n\tvmovdqa 384(%[p]), %%ymm12\n\t"                             \
	"vmovdqa 416(%[p]), %%ymm13\n\tvmovdqa 448(%[p]), %%ymm14\n\t"                             \
	"vmovdqa 480(%[p]), %%ymm15\n\t"
#define STORE_YMM                                                                                  \
	"vmovdqa %%ymm0, 0(%[q])\n\tvmovdqa %%ymm1, 32(%[q])\n\tvmovdqa %%ymm2, 64(%[q])\n\t"      \
	"vmovdqa %%ymm3, 96(%[q])\n\tvmovdqa %%ymm4, 128(%[q])\n\tvmovdqa %%ymm5, 160(%[q])\n\t"   \
	"vmovdqa %%ymm6, 192(%[q])\n\tvmovdqa %%ymm7, 224(%[q])\n\tvmovdqa %%ymm8, 256(%[q])\n\t"  \
	"vmovdqa %%ymm9, 288(%[q])\n\tvmovdqa %%ymm10, 320(%[q])\n\t"                              \
	"vmovdqa %%ymm11, 352(%[q])\n\tvmovdqa %%ymm12, 384(%[q])\n\t"                             \
	"vmovdqa %%ymm13, 416(%[q])\n\tvmovdqa %%ymm14, 448(%[q])\n\t"                             \
	"vmovdqa %%ymm15, 480(%[q])\n\tvzeroupper\n\t"
#define YMM_CLOBBERS                                                                               \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",   \
	    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory"

/* ymm0-15 and MXCSR loaded; tgkill by a raw syscall (the handler runs at its return); stored. */
static void ymm_across_tgkill(int sig)
{
	uint32_t mx = prog_mxcsr, mx_after = 0, def = 0x1f80;
	long pid = getpid(), tid = syscall(SYS_gettid);
	long ret;
	__asm__ volatile(
	    "ldmxcsr %[mx]\n\t" LOAD_YMM "syscall\n\t" STORE_YMM "stmxcsr %[mxa]\n\tldmxcsr %[def]"
	    : "=a"(ret), [mxa] "=m"(mx_after)
	    : "a"((long)SYS_tgkill), "D"(pid), "S"(tid),
	      "d"((long)sig), [p] "r"(pattern), [q] "r"(after), [mx] "m"(mx), [def] "m"(def)
	    : "rcx", "r11", YMM_CLOBBERS);
	printf("tgkill_ret=%ld\nafter_mxcsr=%#x\nafter_ymm_ok=%d\n", ret, mx_after,
	       !memcmp(pattern, after, sizeof(after)));
}

/* ymm0-15 held across a spin while timer signals arrive (no system call in the loop). */
static void ymm_across_timer(void)
{
	uint32_t mx = prog_mxcsr, mx_after = 0, def = 0x1f80;
	struct itimerval it = {{0, 2000}, {0, 2000}};
	h_count = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	__asm__ volatile(
	    "ldmxcsr %[mx]\n\t" LOAD_YMM "1: cmpl $5, %[cnt]\n\tjl 1b\n\t" STORE_YMM
	    "stmxcsr %[mxa]\n\tldmxcsr %[def]"
	    : [mxa] "=m"(mx_after)
	    : [cnt] "m"(h_count), [p] "r"(pattern), [q] "r"(after), [mx] "m"(mx), [def] "m"(def)
	    : YMM_CLOBBERS);
	struct itimerval z = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &z, NULL);
	printf("timer_after_mxcsr=%#x\ntimer_after_ymm_ok=%d\ntimer_handlers_clean=%d\n"
	       "timer_uc_ok=%d\n",
	       mx_after, !memcmp(pattern, after, sizeof(after)), h_clean, h_uc_ok);
}

static uint8_t zpat[16][64] __attribute__((aligned(64)));
static uint8_t zout[16][64] __attribute__((aligned(64)));

/* zmm16-31 and k1 across a signal whose handler clobbers them (AVX-512 hosts only). */
__attribute__((target("avx512f"))) static void zmm_across_tgkill(int sig)
{
	long pid = getpid(), tid = syscall(SYS_gettid), ret;
	uint32_t k = 0xa5a5, kout = 0;
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 64; j++)
			zpat[i][j] = (uint8_t)(i * 64 + j + 3);
	__asm__ volatile("kmovw %[k], %%k1\n\t"
	                 "vmovdqa64 0(%[p]), %%zmm16\n\tvmovdqa64 64(%[p]), %%zmm17\n\t"
	                 "vmovdqa64 128(%[p]), %%zmm18\n\tvmovdqa64 192(%[p]), %%zmm19\n\t"
	                 "vmovdqa64 256(%[p]), %%zmm20\n\tvmovdqa64 320(%[p]), %%zmm21\n\t"
	                 "vmovdqa64 384(%[p]), %%zmm22\n\tvmovdqa64 448(%[p]), %%zmm23\n\t"
	                 "vmovdqa64 512(%[p]), %%zmm24\n\tvmovdqa64 576(%[p]), %%zmm25\n\t"
	                 "vmovdqa64 640(%[p]), %%zmm26\n\tvmovdqa64 704(%[p]), %%zmm27\n\t"
	                 "vmovdqa64 768(%[p]), %%zmm28\n\tvmovdqa64 832(%[p]), %%zmm29\n\t"
	                 "vmovdqa64 896(%[p]), %%zmm30\n\tvmovdqa64 960(%[p]), %%zmm31\n\t"
	                 "syscall\n\t"
	                 "vmovdqa64 %%zmm16, 0(%[q])\n\tvmovdqa64 %%zmm17, 64(%[q])\n\t"
	                 "vmovdqa64 %%zmm18, 128(%[q])\n\tvmovdqa64 %%zmm19, 192(%[q])\n\t"
	                 "vmovdqa64 %%zmm20, 256(%[q])\n\tvmovdqa64 %%zmm21, 320(%[q])\n\t"
	                 "vmovdqa64 %%zmm22, 384(%[q])\n\tvmovdqa64 %%zmm23, 448(%[q])\n\t"
	                 "vmovdqa64 %%zmm24, 512(%[q])\n\tvmovdqa64 %%zmm25, 576(%[q])\n\t"
	                 "vmovdqa64 %%zmm26, 640(%[q])\n\tvmovdqa64 %%zmm27, 704(%[q])\n\t"
	                 "vmovdqa64 %%zmm28, 768(%[q])\n\tvmovdqa64 %%zmm29, 832(%[q])\n\t"
	                 "vmovdqa64 %%zmm30, 896(%[q])\n\tvmovdqa64 %%zmm31, 960(%[q])\n\t"
	                 "kmovw %%k1, %[ko]\n\tvzeroupper"
	                 : "=a"(ret), [ko] "=r"(kout)
	                 : "a"((long)SYS_tgkill), "D"(pid), "S"(tid),
	                   "d"((long)sig), [p] "r"(zpat), [q] "r"(zout), [k] "r"(k)
	                 : "rcx", "r11", "k1", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
	                   "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
	                   "xmm30", "xmm31", "memory");
	printf("zmm_ret=%ld\nzmm_ok=%d\nk1_ok=%d\n", ret, !memcmp(zpat, zout, sizeof(zout)),
	       kout == k);
}

__attribute__((target("avx512f"))) static void on_zmm(int s)
{
	(void)s;
	__asm__ volatile("vpternlogd $0xff, %%zmm16, %%zmm16, %%zmm16\n\t"
	                 "vmovdqa64 %%zmm16, %%zmm20\n\tvmovdqa64 %%zmm16, %%zmm31\n\t"
	                 "kxnorw %%k1, %%k1, %%k1"
	                 :
	                 :
	                 : "xmm16", "xmm20", "xmm31", "k1");
}

static void scenario_fpu(void)
{
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 32; j++)
			pattern[i][j] = (uint8_t)(i * 32 + j + 1);
	install(SIGUSR1, on_fpu, 0, 0);
	install(SIGALRM, on_fpu, 0, 0);
	ymm_across_tgkill(SIGUSR1);
	printf("handler_mxcsr=%#x\nhandler_fcw=%#x\nhandler_regs_clean=%d\nhandler_uc_ok=%d\n",
	       h_mxcsr, h_fcw, h_clean, h_uc_ok);
	ymm_across_timer();
	printf("avx512=%d\n", has_avx512());
	if (has_avx512()) {
		signal(SIGUSR2, on_zmm);
		zmm_across_tgkill(SIGUSR2);
	}
}

/* ---- info: SA_SIGINFO fields as the kernel fills them ---- */

static volatile int i_got, i_code, i_val, i_pid_self, i_uid_ok, i_status;
static volatile pid_t i_pid;

static void on_info(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	i_code = si->si_code;
	i_pid = si->si_pid;
	i_pid_self = si->si_pid == getpid();
	i_uid_ok = si->si_uid == getuid();
	i_val = si->si_code == SI_QUEUE ? si->si_value.sival_int : -1;
	i_status = s == SIGCHLD ? si->si_status : -1;
	i_got = 1;
}

static void print_info(const char *what)
{
	printf("%s=code:%d value:%d pid_self:%d uid_ok:%d status:%d\n", what, i_code, i_val,
	       i_pid_self, i_uid_ok, i_status);
	i_got = i_code = i_val = i_pid_self = i_uid_ok = i_status = 0;
	i_pid = 0;
}

static void scenario_info(void)
{
	install(SIGUSR1, on_info, 0, 0);
	install(SIGUSR2, on_info, 0, 0);
	install(SIGRTMIN + 3, on_info, 0, 0);
	install(SIGCHLD, on_info, 0, 0);
	kill(getpid(), SIGUSR1);
	print_info("kill");
	sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 42});
	print_info("sigqueue");
	sigqueue(getpid(), SIGRTMIN + 3, (union sigval){.sival_int = -7});
	print_info("sigqueue_rt");
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	print_info("tgkill");
	raise(SIGUSR2);
	print_info("raise");
	block(SIG_BLOCK, SIGCHLD, 0, 0, 0); /* taken after the child's SIGUSR1 is printed */
	pid_t parent = getpid(), kid = fork();
	if (kid == 0) {
		kill(parent, SIGUSR1);
		_exit(0);
	}
	while (!i_got)
		;
	int from_kid = i_pid == kid;
	print_info("kill_from_child");
	printf("kill_from_child_pid_is_child=%d\n", from_kid);
	block(SIG_UNBLOCK, SIGCHLD, 0, 0, 0);
	while (!i_got)
		; /* SIGCHLD */
	from_kid = i_pid == kid;
	print_info("sigchld_exit");
	printf("sigchld_pid_is_child=%d\n", from_kid);
	waitpid(kid, NULL, 0);
	kid = fork();
	if (kid == 0)
		_exit(3);
	while (!i_got)
		;
	print_info("sigchld_status3");
	waitpid(kid, NULL, 0);
	kid = fork();
	if (kid == 0) {
		pause();
		_exit(0);
	}
	kill(kid, SIGTERM);
	while (!i_got || i_code != CLD_KILLED)
		;
	printf("sigchld_killed=code:%d status:%d\n", i_code, i_status);
	waitpid(kid, NULL, 0);
}

/* ---- altstack: SA_ONSTACK, SS_ONSTACK, SS_AUTODISARM, a stack overflow ---- */

static char alt[1 << 16] __attribute__((aligned(16)));
static volatile int a_on_alt, a_query_flags, a_uc_flags;
static sigjmp_buf a_jb;

static int on_alt_stack(const void *p)
{
	return (const char *)p >= alt && (const char *)p < alt + sizeof(alt);
}

static void on_alt(int s, siginfo_t *si, void *ucv)
{
	(void)s;
	(void)si;
	ucontext_t *uc = ucv;
	int local;
	stack_t q;
	a_on_alt = on_alt_stack(&local);
	sigaltstack(NULL, &q);
	a_query_flags = q.ss_flags;
	a_uc_flags = uc->uc_stack.ss_flags;
}

static volatile int ov_code, ov_on_alt, ov_addr_below_sp;
static volatile uintptr_t ov_deepest;

static void on_overflow(int s, siginfo_t *si, void *uc)
{
	(void)s;
	(void)uc;
	int local;
	ov_code = si->si_code;
	ov_on_alt = on_alt_stack(&local);
	ov_addr_below_sp =
	    (uintptr_t)si->si_addr < ov_deepest && (uintptr_t)si->si_addr > ov_deepest - (64 << 10);
	siglongjmp(a_jb, 1);
}

static volatile int ov_forever = 1;

__attribute__((noinline)) static int recurse(int n)
{
	volatile char buf[1024];
	buf[0] = (char)n;
	ov_deepest = (uintptr_t)buf;
	return ov_forever ? recurse(n + 1) + buf[0] : 0;
}

static void scenario_altstack(void)
{
	stack_t ss = {.ss_sp = alt, .ss_size = sizeof(alt)};
	sigaltstack(&ss, NULL);
	install(SIGUSR1, on_alt, SA_ONSTACK, 0);
	install(SIGUSR2, on_alt, 0, 0);
	raise(SIGUSR1);
	printf("onstack=on_alt:%d query:%#x uc:%#x\n", a_on_alt, a_query_flags, a_uc_flags);
	raise(SIGUSR2);
	printf("not_onstack=on_alt:%d query:%#x uc:%#x\n", a_on_alt, a_query_flags, a_uc_flags);
	stack_t q;
	sigaltstack(NULL, &q);
	printf("after=%#x\n", q.ss_flags);
	ss.ss_flags = SS_AUTODISARM;
	sigaltstack(&ss, NULL);
	raise(SIGUSR1);
	printf("autodisarm=on_alt:%d query:%#x uc:%#x\n", a_on_alt, a_query_flags, a_uc_flags);
	sigaltstack(NULL, &q);
	printf("autodisarm_after=%#x\n", q.ss_flags);
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);

	/* The classic: SIGSEGV from a stack overflow, handled on the alternate stack. */
	install(SIGSEGV, on_overflow, SA_ONSTACK, 0);
	if (!sigsetjmp(a_jb, 1))
		recurse(0);
	printf("overflow=code:%d on_alt:%d addr_below_sp:%d\n", ov_code, ov_on_alt,
	       ov_addr_below_sp);
	/* Again: the handler was left with siglongjmp, the alternate stack is usable. */
	ov_code = 0;
	if (!sigsetjmp(a_jb, 1))
		recurse(0);
	printf("overflow_again=code:%d on_alt:%d\n", ov_code, ov_on_alt);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s native|guest queue|fpu|info|altstack\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	/* A small stack limit so the overflow scenario ends quickly (set before entering:
	 * guest mode reads the limit at entry). */
	struct rlimit rl = {1 << 20, 1 << 20};
	if (!strcmp(argv[2], "altstack"))
		setrlimit(RLIMIT_STACK, &rl);
	if (!strcmp(argv[1], "guest")) {
		int r = sjmp_enter();
		if (r < 0 || !vmm_self()) {
			fprintf(stderr, "sjmp_enter=%d\n", r);
			return 2;
		}
	}
	if (!strcmp(argv[2], "queue"))
		scenario_queue();
	else if (!strcmp(argv[2], "fpu"))
		scenario_fpu();
	else if (!strcmp(argv[2], "info"))
		scenario_info();
	else if (!strcmp(argv[2], "altstack"))
		scenario_altstack();
	else
		return 2;
	printf("in_guest=%d\n", !strcmp(argv[1], "guest") ? vmm_self() != NULL : 1);
	return 0;
}
