/* SPDX-License-Identifier: MIT */
/*
 * enter.c - sjmp_enter(): every thread of the process continues in guest ring 0.
 *
 * A single-threaded process simply moves its thread onto a vCPU (vmm_switch_to_guest). With more
 * threads, entering is a two-phase commit so that it is all or nothing:
 *  1. prepare (nothing visible changes): the VM, one vCPU per thread (set up by the caller), a
 *     snapshot of /proc/self/task/TID/syscall for each other thread; a thread that blocks
 *     VMM_ENTER_SIG, is stopped or traced makes the call fail with EBUSY here;
 *  2. every other thread gets VMM_ENTER_SIG (tgkill). Its temporary handler copies the
 *     interrupted context (registers, XSAVE area of the signal frame, FS base) into its vCPU,
 *     acknowledges and waits for the verdict; the caller waits for every acknowledgement
 *     (threads created meanwhile are signalled too, exiting ones are dropped) for at most
 *     VMM_ENTER_TIMEOUT_MS;
 *  3. commit: every handler restores the interrupted signal mask and runs its vCPU from the
 *     interrupted context (the handler never returns: its frame is dead stack below the guest's
 *     RSP); the caller enters last. Abort: every handler returns normally (rt_sigreturn), nothing
 *     changed but the pooled vCPUs and the VM, which a later call reuses.
 * A thread interrupted inside a system call resumes it: the kernel restarts ERESTARTSYS calls
 * itself (the handler has SA_RESTART); calls that return EINTR to any handler (nanosleep, poll,
 * select, epoll_wait, futex with a timeout, ...) are identified from the snapshot (same RIP, RSP
 * and arguments) or from the `mov $nr, %eax; syscall` / `xor %eax, %eax; syscall` sequence before
 * RIP, and resumed: restart_syscall(2) for those with a kernel restart block (remaining time
 * kept), the same call again for the rest.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/ucontext.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <linux/futex.h>

#include "log.h"
#include "sjmp.h"
#include "sys_x86_64.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

/*
 * The signal sjmp_enter() borrows while it runs: 32, glibc's SIGCANCEL, which glibc never lets a
 * thread block (its sigprocmask drops it from every set), so even threads that block all
 * signals (Criterion's and nng's workers) take it. A pthread_cancel() that arrives during the
 * round is passed on to glibc's handler.
 */
#define VMM_ENTER_SIG        32
#define VMM_ENTER_TIMEOUT_MS 2000

enum peer_state { PEER_SIGNALLED, PEER_READY, PEER_FAILED, PEER_GONE };
enum verdict { VERDICT_WAIT, VERDICT_GO, VERDICT_ABORT };

/* One other thread of the process in an entering round. */
struct enter_peer {
	int tid;
	struct vmm_vcpu *v;
	int state;
	bool sc_valid; /* the thread was blocked in a system call when snapshotted */
	long sc[9];    /* /proc/self/task/TID/syscall: nr, 6 arguments, SP, PC */
};

static struct {
	int active;
	int acked;   /* futex word: handlers that reached a decision */
	int verdict; /* futex word */
	int left;    /* handlers that read the verdict */
	int npeers;
	struct enter_peer peer[SJMP_MAX_VCPUS];
} g_round;

static pthread_mutex_t g_enter_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction g_old_action; /* the borrowed signal's action, for chaining */

extern void vmm_sig_restorer(void); /* signal.c: mov $15, %eax; syscall */

struct enter_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
#define ENTER_SA_RESTORER 0x04000000UL

static long futex_wait(int *w, int val, long timeout_ns)
{
	struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
	return vmm_sys6(SYS_futex, (long)w, FUTEX_WAIT_PRIVATE, val, timeout_ns ? (long)&ts : 0, 0,
	                0);
}

static void futex_wake(int *w)
{
	vmm_sys3(SYS_futex, w, FUTEX_WAKE_PRIVATE, 0x7fffffff);
}

/* ---- the temporary handler (async-signal-safe: raw system calls only) ---- */

static struct enter_peer *peer_of(int tid)
{
	for (int i = 0; i < g_round.npeers; i++)
		if (g_round.peer[i].tid == tid)
			return &g_round.peer[i];
	return NULL;
}

/* System calls whose EINTR leaves a kernel restart block (restart_syscall(2) resumes them). */
static bool has_restart_block(const long *sc, long nr)
{
	switch (nr) {
	case SYS_nanosleep:
	case SYS_futex:
		return true;
	case SYS_clock_nanosleep:
		return !(sc[2] & TIMER_ABSTIME);
	case SYS_poll:
		return (int)sc[3] >= 0;
	default:
		return false;
	}
}

/*
 * The interrupted context @g returned EINTR from a system call: make it resume the call.
 * @restart_ok: restart_syscall(2) may be used (false on the abort path: rt_sigreturn clears the
 * restart block).
 */
static void resume_syscall(greg_t *g, const struct enter_peer *p, bool restart_ok)
{
	const uint8_t *ip = (const uint8_t *)g[REG_RIP];
	if (g[REG_RAX] != -EINTR || ip[-2] != 0x0f || ip[-1] != 0x05)
		return;
	long nr = -1,
	     args[6] = {g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9]};
	if (p->sc_valid && p->sc[8] == g[REG_RIP] && p->sc[7] == g[REG_RSP] &&
	    !memcmp(&p->sc[1], args, sizeof(args)))
		nr = p->sc[0];
	else if (ip[-7] == 0xb8 && *(const uint32_t *)(ip - 6) < VMM_NSYSCALLS)
		nr = *(const uint32_t *)(ip - 6); /* mov $nr, %eax; syscall */
	else if (ip[-4] == 0x31 && ip[-3] == 0xc0)
		nr = 0; /* xor %eax, %eax; syscall: read */
	if (nr < 0)
		return; /* unknown: EINTR, as after any signal */
	long sc[9] = {nr, args[0], args[1], args[2], args[3], args[4], args[5]};
	g[REG_RAX] = restart_ok && has_restart_block(sc, nr) ? SYS_restart_syscall : nr;
	g[REG_RIP] -= 2;
}

/* Copy the interrupted thread's state into its vCPU. Return 0 or -errno. */
static int peer_prepare(struct vmm *vm, struct vmm_vcpu *v, ucontext_t *uc)
{
	uint64_t fs = 0;
	long e = vmm_sys2(SYS_arch_prctl, ARCH_GET_FS, &fs);
	struct kvm_sregs s;
	if (!e)
		e = vmm_sys3(SYS_ioctl, v->fd, KVM_GET_SREGS, &s);
	if (!e) {
		s.fs.base = fs;
		e = vmm_sys3(SYS_ioctl, v->fd, KVM_SET_SREGS, &s);
	}
	if (e)
		return (int)e;
	/* The signal frame's FPU state is the XSAVE standard format (with the software bytes at
	 * 464 when extended), as struct kvm_xsave wants it (SDM Vol. 1 13.4). */
	vmm_host_xsave(vm, v->xsave);
	const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
	if (fp) {
		const uint32_t *sw = (const uint32_t *)(fp + 464);
		size_t n = 512;
		if (sw[0] == 0x46505853U && sw[4] > 576) /* FP_XSTATE_MAGIC1, xstate_size */
			n = sw[4];
		if (n > vm->plat.xsave_size)
			n = vm->plat.xsave_size;
		for (size_t i = 0; i < n; i++)
			v->xsave[i] = fp[i];
		if (n == 512)
			*(uint64_t *)(v->xsave + 512) |=
			    3;                     /* XSTATE_BV: x87 and SSE from the frame */
		*(uint64_t *)(v->xsave + 520) = 0; /* XCOMP_BV: standard format */
	}
	return (int)vmm_sys3(SYS_ioctl, v->fd, KVM_SET_XSAVE, v->xsave);
}

static void enter_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int pid = (int)vmm_sys0(SYS_getpid);
	struct enter_peer *p = NULL;
	if (si->si_code == SI_TKILL && si->si_pid == pid &&
	    __atomic_load_n(&g_round.active, __ATOMIC_ACQUIRE))
		p = peer_of((int)vmm_sys0(SYS_gettid));
	if (!p || __atomic_load_n(&p->state, __ATOMIC_ACQUIRE) != PEER_SIGNALLED) {
		/* Not ours (pthread_cancel): the previous action's handler gets it. */
		if (g_old_action.sa_flags & SA_SIGINFO)
			g_old_action.sa_sigaction(sig, si, ucv);
		else if (g_old_action.sa_handler != SIG_DFL && g_old_action.sa_handler != SIG_IGN)
			g_old_action.sa_handler(sig);
		return;
	}
	struct vmm *vm = vmm_get();
	struct vmm_vcpu *v = p->v;
	greg_t *g = uc->uc_mcontext.gregs;
	int st = peer_prepare(vm, v, uc) == 0 ? PEER_READY : PEER_FAILED;
	__atomic_store_n(&p->state, st, __ATOMIC_RELEASE);
	__atomic_add_fetch(&g_round.acked, 1, __ATOMIC_RELEASE);
	futex_wake(&g_round.acked);
	int verdict;
	while ((verdict = __atomic_load_n(&g_round.verdict, __ATOMIC_ACQUIRE)) == VERDICT_WAIT)
		futex_wait(&g_round.verdict, VERDICT_WAIT, 0);
	if (verdict != VERDICT_GO || st != PEER_READY) {
		resume_syscall(g, p, false);
		__atomic_add_fetch(&g_round.left, 1, __ATOMIC_RELEASE);
		futex_wake(&g_round.left);
		return;
	}
	resume_syscall(g, p, true);
	v->start_regs = (struct kvm_regs){
	    .rax = g[REG_RAX],
	    .rbx = g[REG_RBX],
	    .rcx = g[REG_RCX],
	    .rdx = g[REG_RDX],
	    .rsi = g[REG_RSI],
	    .rdi = g[REG_RDI],
	    .rsp = g[REG_RSP],
	    .rbp = g[REG_RBP],
	    .r8 = g[REG_R8],
	    .r9 = g[REG_R9],
	    .r10 = g[REG_R10],
	    .r11 = g[REG_R11],
	    .r12 = g[REG_R12],
	    .r13 = g[REG_R13],
	    .r14 = g[REG_R14],
	    .r15 = g[REG_R15],
	    .rip = g[REG_RIP],
	    .rflags = ((uint64_t)g[REG_EFL] & (0xcd5UL | X86_RFLAGS_AC)) | X86_RFLAGS_FIXED |
	              X86_RFLAGS_IF,
	};
	/* From here a signal for this thread is recorded for its vCPU (the host stub sees it). */
	vmm_set_self(v);
	uint64_t mask;
	memcpy(&mask, &uc->uc_sigmask, sizeof(mask));
	__atomic_add_fetch(&g_round.left, 1, __ATOMIC_RELEASE);
	futex_wake(&g_round.left);
	vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8);
	vmm_run_on_stack(v, v->host_stack_top);
}

/* ---- the caller's side ---- */

static int find_vgpreload(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	return info->dlpi_name && strstr(info->dlpi_name, "/vgpreload_") != NULL;
}

/* The tracer's pid from /proc/self/status, 0 when untraced. */
static int tracer_pid(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	char line[256];
	int pid = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "TracerPid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

/*
 * Environments guest mode refuses rather than crash or hang in: sanitizers (their runtimes
 * intercept system calls in ways the proxy does not know and map terabytes of shadow memory),
 * valgrind (it runs the program on a synthetic CPU that cannot execute KVM_RUN's guest code) and
 * a tracer (breakpoints and single steps in guest code never reach it).
 */
static int refusal(void)
{
	static const char *const sanitizers[] = {"__asan_init", "__tsan_init", "__msan_init",
	                                         "__hwasan_init"};
	for (size_t i = 0; i < sizeof(sanitizers) / sizeof(sanitizers[0]); i++)
		if (dlsym(RTLD_DEFAULT, sanitizers[i]))
			return sjmp__fail(
			    ENOTSUP, "sjmp_enter",
			    "the program runs under a sanitizer (%s): guest mode is not "
			    "supported with it; use SJMP_BACKEND=mmap",
			    sanitizers[i]);
	if (dl_iterate_phdr(find_vgpreload, NULL))
		return sjmp__fail(ENOTSUP, "sjmp_enter",
		                  "the program runs under valgrind, whose synthetic CPU cannot run "
		                  "guest mode; use SJMP_BACKEND=mmap");
	int t = tracer_pid();
	if (t)
		return sjmp__fail(ENOTSUP, "sjmp_enter",
		                  "the process is traced by pid %d (a debugger or strace), which "
		                  "cannot follow guest mode; detach it, or use SJMP_BACKEND=mmap",
		                  t);
	return 0;
}

bool vmm_other_copy_entered(void)
{
	if (vmm_get())
		return false; /* this copy has the VM: the marker is ours */
	uint64_t magic = 0;
	struct iovec l = {&magic, sizeof(magic)},
	             rm = {(void *)SJMP_GUEST_MARKER_VA, sizeof(magic)};
	return vmm_sys6(SYS_process_vm_readv, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1, 0) ==
	           (long)sizeof(magic) &&
	       magic == SJMP_GUEST_MARKER_MAGIC;
}

/* Map the marker page (best effort: a foreign mapping there only loses the detection). */
static void marker_publish(void)
{
	void *p = mmap((void *)SJMP_GUEST_MARKER_VA, 4096, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return;
	if (p != (void *)SJMP_GUEST_MARKER_VA) {
		munmap(p, 4096);
		return;
	}
	*(uint64_t *)p = SJMP_GUEST_MARKER_MAGIC;
	mprotect(p, 4096, PROT_READ);
}

/* Thread ids of the process, the caller's excluded. Return the count or -errno. */
static int list_threads(int *tids, int cap, int self)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		int t = atoi(e->d_name);
		if (t <= 0 || t == self)
			continue;
		if (n == cap) {
			n = -EAGAIN;
			break;
		}
		tids[n++] = t;
	}
	closedir(d);
	return n;
}

/* Whether thread @tid can take VMM_ENTER_SIG now: not blocking it, not stopped or traced. */
static int peer_check(int tid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -ESRCH;
	int r = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long m;
		char st;
		if (sscanf(line, "State: %c", &st) == 1 && (st == 'T' || st == 't')) {
			sjmp__log(SJMP_LOG_ERROR, "sjmp_enter: thread %d is stopped or traced",
			          tid);
			r = -EBUSY;
		} else if (sscanf(line, "SigBlk: %llx", &m) == 1 &&
		           (m >> (VMM_ENTER_SIG - 1) & 1)) {
			sjmp__log(SJMP_LOG_ERROR, "sjmp_enter: thread %d blocks signal %d", tid,
			          VMM_ENTER_SIG);
			r = -EBUSY;
		}
	}
	fclose(f);
	return r;
}

static void peer_snapshot(struct enter_peer *p)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", p->tid);
	p->sc_valid = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	unsigned long v[9];
	if (sscanf(buf, "%ld %lx %lx %lx %lx %lx %lx %lx %lx", (long *)&v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7], &v[8]) == 9 &&
	    (long)v[0] >= 0) {
		for (int i = 0; i < 9; i++)
			p->sc[i] = (long)v[i];
		p->sc_valid = true;
	}
}

/* Give @tid a vCPU, snapshot it and signal it. Return 0, -ESRCH (gone) or -errno. */
static int peer_add(struct vmm *vm, int tid)
{
	if (g_round.npeers >= SJMP_MAX_VCPUS - 1)
		return sjmp__fail(EAGAIN, "sjmp_enter", "more than %d threads", SJMP_MAX_VCPUS - 1);
	int r = peer_check(tid);
	if (r < 0)
		return r;
	struct vmm_vcpu *v = vmm_vcpu_create(vm);
	if (!v)
		return sjmp__fail(ENOMEM, "sjmp_enter: KVM_CREATE_VCPU", "free memory or fds");
	v->tid = 0;
	v->start_fs_base = 0; /* set by the thread itself */
	r = vmm_vcpu_setup_arch(vm, v);
	if (r < 0) {
		vmm_vcpu_release(vm, v);
		return r;
	}
	struct enter_peer *p = &g_round.peer[g_round.npeers];
	*p = (struct enter_peer){.tid = tid, .v = v, .state = PEER_SIGNALLED};
	peer_snapshot(p);
	__atomic_store_n(&g_round.npeers, g_round.npeers + 1, __ATOMIC_RELEASE);
	r = (int)vmm_sys3(SYS_tgkill, vmm_sys0(SYS_getpid), tid, VMM_ENTER_SIG);
	if (r < 0) {
		__atomic_store_n(&p->state, PEER_GONE, __ATOMIC_RELEASE);
		vmm_vcpu_release(vm, v);
		p->v = NULL;
		return r == -ESRCH ? -ESRCH : sjmp__fail(r, "sjmp_enter: tgkill", "see the errno");
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Wait until every live peer acknowledged. Return 0, or -ETIMEDOUT naming a late thread. */
static int wait_acks(uint64_t deadline)
{
	int pid = (int)vmm_sys0(SYS_getpid);
	for (;;) {
		int want = 0, acked = __atomic_load_n(&g_round.acked, __ATOMIC_ACQUIRE);
		for (int i = 0; i < g_round.npeers; i++) {
			struct enter_peer *p = &g_round.peer[i];
			int st = __atomic_load_n(&p->state, __ATOMIC_ACQUIRE);
			if (st == PEER_SIGNALLED &&
			    vmm_sys3(SYS_tgkill, pid, p->tid, 0) == -ESRCH &&
			    __atomic_compare_exchange_n(&p->state, &st, PEER_GONE, false,
			                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				continue; /* exited before its handler ran */
			if (st == PEER_SIGNALLED)
				want++;
		}
		if (!want)
			return 0;
		if (now_ms() >= deadline) {
			for (int i = 0; i < g_round.npeers; i++)
				if (__atomic_load_n(&g_round.peer[i].state, __ATOMIC_ACQUIRE) ==
				    PEER_SIGNALLED)
					return sjmp__fail(
					    ETIMEDOUT, "sjmp_enter",
					    "thread %d did not take signal %d within %d "
					    "ms (uninterruptible sleep?)",
					    g_round.peer[i].tid, VMM_ENTER_SIG,
					    VMM_ENTER_TIMEOUT_MS);
			return 0;
		}
		futex_wait(&g_round.acked, acked, 10 * 1000000L);
	}
}

/* Prepare the caller's own vCPU (everything that can fail), without entering. */
static int self_prepare(struct vmm *vm, struct vmm_vcpu **out)
{
	struct vmm_vcpu *v = vmm_vcpu_create(vm);
	if (!v)
		return sjmp__fail(ENOMEM, "sjmp_enter: KVM_CREATE_VCPU", "free memory or fds");
	uint64_t fs = 0;
	vmm_sys2(SYS_arch_prctl, ARCH_GET_FS, &fs);
	v->start_fs_base = fs;
	int r = vmm_vcpu_setup_arch(vm, v);
	if (r < 0)
		goto fail;
	vmm_host_xsave(vm, v->xsave);
	if (ioctl(v->fd, KVM_SET_XSAVE, v->xsave) < 0) {
		r = sjmp__fail(errno, "KVM_SET_XSAVE", "the host refuses this thread's FPU state");
		goto fail;
	}
	*out = v;
	return 0;
fail:
	vmm_vcpu_release(vm, v);
	return r;
}

/* Whether @tid already runs a vCPU (a thread created in guest mode). */
static bool in_guest(struct vmm *vm, int tid)
{
	vmm_lock(vm);
	bool r = false;
	for (int i = 0; i < vm->nvcpus && !r; i++)
		r = vm->vcpus[i]->in_use && vm->vcpus[i]->tid == tid;
	vmm_unlock(vm);
	return r;
}

/* The round with the other threads; on success the caller still has to enter. */
static int enter_others(struct vmm *vm, int self)
{
	struct enter_ksigaction sa =
	                            {
	                                .handler = (void *)enter_handler,
	                                .flags = SA_SIGINFO | SA_RESTART | ENTER_SA_RESTORER,
	                                .restorer = (void *)vmm_sig_restorer,
	                                .mask = ~0UL,
	                            },
	                        old,
	                        ign = {.handler = SIG_IGN,
	                               .flags = ENTER_SA_RESTORER,
	                               .restorer = (void *)vmm_sig_restorer};
	memset(&g_round, 0, sizeof(g_round));
	long e = vmm_sys4(SYS_rt_sigaction, VMM_ENTER_SIG, &sa, &old, 8);
	if (e < 0)
		return sjmp__fail((int)e, "sjmp_enter: rt_sigaction", "see the errno");
	g_old_action = (struct sigaction){.sa_flags = (int)old.flags};
	g_old_action.sa_handler = (void (*)(int))old.handler;
	__atomic_store_n(&g_round.active, 1, __ATOMIC_RELEASE);
	uint64_t deadline = now_ms() + VMM_ENTER_TIMEOUT_MS;
	int tids[SJMP_MAX_VCPUS];
	int r = 0;
	for (;;) {
		int n = list_threads(tids, SJMP_MAX_VCPUS, self);
		if (n < 0) {
			r = sjmp__fail(n, "sjmp_enter: list /proc/self/task", "mount /proc");
			break;
		}
		int added = 0;
		for (int i = 0; i < n && !r; i++) {
			if (peer_of(tids[i]) || in_guest(vm, tids[i]))
				continue;
			int a = peer_add(vm, tids[i]);
			if (a == 0)
				added++;
			else if (a != -ESRCH)
				r = a;
		}
		if (r < 0)
			break;
		r = wait_acks(deadline);
		if (r < 0 || !added)
			break; /* stable: no thread appeared since the last listing */
	}
	for (int i = 0; i < g_round.npeers && !r; i++)
		if (__atomic_load_n(&g_round.peer[i].state, __ATOMIC_ACQUIRE) == PEER_FAILED)
			r = sjmp__fail(EIO, "sjmp_enter",
			               "thread %d: KVM refused its state (KVM_SET_SREGS/XSAVE)",
			               g_round.peer[i].tid);
	int waiting = __atomic_load_n(&g_round.acked, __ATOMIC_ACQUIRE);
	if (r < 0) {
		/* Discard signals not taken yet (POSIX: SIG_IGN drops pending ones). */
		vmm_sys4(SYS_rt_sigaction, VMM_ENTER_SIG, &ign, NULL, 8);
		__atomic_store_n(&g_round.active, 0, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&g_round.verdict, r < 0 ? VERDICT_ABORT : VERDICT_GO, __ATOMIC_RELEASE);
	futex_wake(&g_round.verdict);
	int left;
	while ((left = __atomic_load_n(&g_round.left, __ATOMIC_ACQUIRE)) < waiting)
		futex_wait(&g_round.left, left, 0);
	__atomic_store_n(&g_round.active, 0, __ATOMIC_RELEASE);
	vmm_sys4(SYS_rt_sigaction, VMM_ENTER_SIG, &old, NULL, 8);
	if (r < 0)
		for (int i = 0; i < g_round.npeers; i++)
			if (g_round.peer[i].v)
				vmm_vcpu_release(vm, g_round.peer[i].v);
	return r;
}

int sjmp_enter(void)
{
	if (vmm_self())
		return 0;
	int r = refusal();
	if (r < 0)
		return r;
	if (vmm_other_copy_entered())
		return sjmp__fail(
		    ENOTSUP, "sjmp_enter",
		    "another copy of libsjmp in this process already entered guest "
		    "mode (sjmp-run's preload with a program that links libsjmp?); link "
		    "libsjmp once, or run the program without sjmp-run");
	pthread_mutex_lock(&g_enter_mu);
	if (vmm_self()) { /* entered by another thread's call while waiting for the lock */
		pthread_mutex_unlock(&g_enter_mu);
		return 0;
	}
	r = vmm_init();
	if (r < 0)
		goto out;
	vmm_signals_init();
	struct vmm *vm = vmm_get();
	struct vmm_vcpu *v = NULL;
	r = self_prepare(vm, &v);
	if (r < 0)
		goto out;
	int tids[1];
	int self = (int)vmm_sys0(SYS_gettid);
	int n = list_threads(tids, 1, self);
	if (n != 0) {
		r = enter_others(vm, self);
		if (r < 0) {
			vmm_vcpu_release(vm, v);
			goto out;
		}
	}
	marker_publish();
	pthread_mutex_unlock(&g_enter_mu);
	vmm_switch_to_guest(v, v->host_stack_top);
	/* Guest ring 0 from here on. */
	return 0;
out:
	pthread_mutex_unlock(&g_enter_mu);
	return r;
}
