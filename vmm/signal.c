/* SPDX-License-Identifier: MIT */
/*
 * signal.c - signals in guest mode (DESIGN section 2, "Faults and signals").
 *
 * The program's actions are kept here; the host gets a stub for every caught signal that only
 * records the signal for the thread's vCPU (KVM_RUN then returns EINTR). Before the vCPU runs
 * again the VMM builds a Linux rt_sigframe (registers, XSAVE state, sigaltstack, mask) on the
 * guest stack and points the vCPU at the handler; the handler's return (rt_sigreturn through its
 * restorer) is a forwarded system call that the VMM emulates. Handlers thus run in guest mode in
 * the program's own context, and siglongjmp out of one stays in guest mode.
 * SIG_DFL and SIG_IGN are installed on the host as they are, so default actions (exit status,
 * core) are the kernel's own.
 * The stub keeps every instance of a real-time signal it takes, in arrival order, and one of a
 * standard signal (signal(7): real-time signals queue, standard ones coalesce); the run loop
 * delivers the lowest-numbered signal first, as the kernel's dequeue does. An instance the
 * program's mask blocks by the time it would be delivered (another handler's sa_mask) goes back
 * to the kernel with rt_tgsigqueueinfo and stays pending there. A handler starts with the FPU in
 * its initial state (x87 control word 0x37f, MXCSR 0x1f80, vector registers zero), as Linux's
 * fpu__clear_user_states; the interrupted state is in the frame and rt_sigreturn restores it.
 * SA_RESTART is applied by the VMM (the stubs are installed without it so that a blocking forwarded
 * call returns and the handler can run in the guest).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

/* The kernel's struct sigaction (arch/x86/include/uapi/asm/signal.h). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
#define K_SA_RESTORER 0x04000000UL

/* Kernel signal frame (arch/x86/include/asm/sigframe.h, uapi/asm/sigcontext.h, ucontext.h). */
struct ksigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2;
	uint64_t fpstate;
	uint64_t reserved1[8];
};
struct kucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	stack_t uc_stack;
	struct ksigcontext uc_mcontext;
	uint64_t uc_sigmask;
};
struct krt_sigframe {
	uint64_t pretcode;
	struct kucontext uc;
	siginfo_t info;
};
#define UC_FP_XSTATE         0x1
#define UC_SIGCONTEXT_SS     0x2
#define UC_STRICT_RESTORE_SS 0x4
#define FP_XSTATE_MAGIC1     0x46505853U
#define FP_XSTATE_MAGIC2     0x46505845U

static struct ksigaction g_act[65];
static bool g_act_init;

extern void vmm_sig_restorer(void);
__asm__(".text\n.globl vmm_sig_restorer\nvmm_sig_restorer:\n\tmov $15, %eax\n\tsyscall\n\tud2\n");

static void stub(int sig, siginfo_t *si, void *uc);
static void kick_handler(int sig, siginfo_t *si, void *uc);

#define KICK_BIT      (1UL << (VMM_KICK_SIGNAL - 1))
#define K_SIGRTMIN    32 /* the kernel's first real-time signal (glibc reserves 32 and 33) */
#define NEVER_BLOCKED ((1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1)) | KICK_BIT)
#define XFEATURE_PKRU (1UL << 9)
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h */
#endif
static bool mem_read(void *dst, uint64_t src, size_t n);
static bool mem_write(uint64_t dst, const void *src, size_t n);
static uint64_t cur_mask(void);

/* The program's signal mask: the host's, less what the stub holds back for a full queue. */
static uint64_t prog_mask(struct vmm_vcpu *v)
{
	return cur_mask() & ~__atomic_load_n(&v->pending.held, __ATOMIC_RELAXED);
}

/* Make @m the program's signal mask on the host (held signals stay blocked). */
static void set_prog_mask(struct vmm_vcpu *v, uint64_t m)
{
	m = (m & ~NEVER_BLOCKED) | __atomic_load_n(&v->pending.held, __ATOMIC_RELAXED);
	vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8);
}

/* Give instance @si of @sig back to the kernel, pending for this thread. */
static void requeue(int sig, siginfo_t *si)
{
	/* The kernel allows any si_code when a process queues to itself (rt_sigqueueinfo(2)). */
	vmm_sys4(SYS_rt_tgsigqueueinfo, vmm_sys0(SYS_getpid), vmm_sys0(SYS_gettid), sig, si);
}

static long host_sigaction(int sig, const struct ksigaction *a, struct ksigaction *old)
{
	return vmm_sys4(SYS_rt_sigaction, sig, a, old, 8);
}

/* What the host gets for the program's action @a. */
static void host_action(int sig, const struct ksigaction *a)
{
	struct ksigaction h = *a;
	if (sig == VMM_KICK_SIGNAL) {
		/* Always the VMM's handler (it passes the program's own instances on), restarting
		 * host calls it interrupts and blocking nothing. */
		h = (struct ksigaction){.handler = (void *)kick_handler,
		                        .flags = SA_SIGINFO | SA_RESTART | K_SA_RESTORER,
		                        .restorer = (void *)vmm_sig_restorer,
		                        .mask = ~0UL};
		host_sigaction(sig, &h, NULL);
		return;
	}
	if (a->handler != SIG_DFL && a->handler != SIG_IGN) {
		h.handler = (void *)stub;
		h.flags = SA_SIGINFO | K_SA_RESTORER | (a->flags & (SA_NOCLDSTOP | SA_NOCLDWAIT));
		h.restorer = (void *)vmm_sig_restorer;
		h.mask = ~0UL; /* the stub is never interrupted by another: its queue has no lock */
	} else if (!(h.flags & K_SA_RESTORER)) {
		h.flags |= K_SA_RESTORER;
		h.restorer = (void *)vmm_sig_restorer;
	}
	host_sigaction(sig, &h, NULL);
}

void vmm_signals_init(void)
{
	if (g_act_init)
		return;
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (host_sigaction(sig, NULL, &g_act[sig]) < 0)
			continue;
		if (g_act[sig].handler != SIG_DFL && g_act[sig].handler != SIG_IGN)
			host_action(sig, &g_act[sig]);
	}
	host_action(VMM_KICK_SIGNAL, &g_act[VMM_KICK_SIGNAL]);
	uint64_t m = KICK_BIT;
	vmm_sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &m, NULL, 8);
	g_act_init = true;
}

/*
 * The kick (vmm_root_shootdown): end KVM_RUN, or make the next one return at once. Instances the
 * VMM did not send are the program's: recorded like any other caught signal, or the default
 * action (termination for a real-time signal).
 */
static void kick_handler(int sig, siginfo_t *si, void *uc)
{
	struct vmm_vcpu *v = vmm_self();
	if (si->si_code == SI_QUEUE && si->si_value.sival_int == VMM_KICK_MAGIC &&
	    si->si_pid == (pid_t)vmm_sys0(SYS_getpid)) {
		if (v) {
			v->run->immediate_exit = 1;
			v->kicked = 1;
		}
		return;
	}
	if (g_act[sig].handler == SIG_IGN)
		return;
	if (g_act[sig].handler == SIG_DFL)
		vmm_die(sig);
	stub(sig, si, uc);
}

long vmm_sys_sigprocmask(struct vmm_vcpu *v, const struct kvm_regs *r)
{
	uint64_t set, old = prog_mask(v);
	int how = (int)r->rdi;
	if (r->r10 != 8)
		return -EINVAL;
	if (r->rsi) {
		/* As the kernel: the set is read first, then @how is checked. */
		if (!mem_read(&set, r->rsi, sizeof(set)))
			return -EFAULT;
		if (how == SIG_BLOCK)
			set |= old;
		else if (how == SIG_UNBLOCK)
			set = old & ~set;
		else if (how != SIG_SETMASK)
			return -EINVAL;
		set_prog_mask(v, set);
	}
	if (r->rdx && !mem_write(r->rdx, &old, sizeof(old)))
		return -EFAULT;
	return 0;
}

long vmm_sys_sigaltstack(const struct kvm_regs *r)
{
	stack_t cur, ss;
	long e = vmm_sys2(SYS_sigaltstack, NULL, &cur);
	if (e < 0)
		return e;
	/* The kernel's on_sig_stack() with the guest's stack pointer. */
	bool on = cur.ss_size && r->rsp > (uint64_t)cur.ss_sp &&
	          r->rsp - (uint64_t)cur.ss_sp <= cur.ss_size;
	if (on)
		cur.ss_flags = SS_ONSTACK | (cur.ss_flags & ~(SS_DISABLE | SS_ONSTACK));
	if (r->rdi) {
		if (!mem_read(&ss, r->rdi, sizeof(ss)))
			return -EFAULT;
		if (on)
			return -EPERM;
		e = vmm_sys2(SYS_sigaltstack, &ss, NULL);
		if (e < 0)
			return e;
	}
	if (r->rsi && !mem_write(r->rsi, &cur, sizeof(cur)))
		return -EFAULT;
	return 0;
}

long vmm_sys_sigaction(const struct kvm_regs *r)
{
	int sig = (int)r->rdi;
	const struct ksigaction *act = (const void *)r->rsi;
	struct ksigaction *old = (void *)r->rdx;
	if (r->r10 != 8)
		return -EINVAL;
	if (sig < 1 || sig > 64 || ((sig == SIGKILL || sig == SIGSTOP) && act))
		return -EINVAL;
	struct ksigaction prev = g_act[sig];
	if (act) {
		struct ksigaction a;
		/* Read through the kernel so a bad pointer is EFAULT, not a crash of the VMM. */
		struct iovec l = {&a, sizeof(a)}, rm = {(void *)act, sizeof(a)};
		if (vmm_sys6(SYS_process_vm_readv, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1,
		             0) != (long)sizeof(a))
			return -EFAULT;
		a.mask &= ~((1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1)));
		g_act[sig] = a;
		host_action(sig, &a);
	}
	if (old) {
		struct iovec l = {&prev, sizeof(prev)}, rm = {old, sizeof(prev)};
		if (vmm_sys6(SYS_process_vm_writev, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1,
		             0) != (long)sizeof(prev))
			return -EFAULT;
	}
	return 0;
}

/*
 * Host stub (runs with every signal blocked): record and return; KVM_RUN or the forwarded call
 * returns EINTR. Takes one entry of v->pending.q per real-time instance; a standard signal
 * already recorded coalesces. With the queue full, the instance goes back to the kernel and the
 * signal stays blocked in the interrupted context (v->pending.held) until entries are taken.
 */
static void stub(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct vmm_vcpu *v = vmm_self();
	if (!v) {
		/* A thread in host mode (never entered): run the program's handler natively, with
		 * its sa_mask rather than the stub's. */
		struct ksigaction *a = &g_act[sig];
		uint64_t m = *(uint64_t *)&uc->uc_sigmask | a->mask;
		if (!(a->flags & SA_NODEFER))
			m |= 1UL << (sig - 1);
		vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8);
		if (a->flags & SA_SIGINFO)
			((void (*)(int, siginfo_t *, void *))a->handler)(sig, si, uc);
		else
			((void (*)(int))a->handler)(sig);
		return;
	}
	struct vmm_sigpending *p = &v->pending;
	int slot = -1;
	for (int i = 0; i < VMM_SIGQ_LEN; i++) {
		if (!__atomic_load_n(&p->q[i].used, __ATOMIC_ACQUIRE)) {
			if (slot < 0)
				slot = i;
		} else if (sig < K_SIGRTMIN && p->q[i].info.si_signo == sig) {
			return; /* a standard signal is pending once */
		}
	}
	if (slot < 0) {
		if (sig == VMM_KICK_SIGNAL)
			return; /* never blocked on the host: dropped (docs/guest-mode.md) */
		*(uint64_t *)&uc->uc_sigmask |= 1UL << (sig - 1);
		__atomic_or_fetch(&p->held, 1UL << (sig - 1), __ATOMIC_RELAXED);
		requeue(sig, si);
		return;
	}
	p->q[slot].info = *si;
	p->q[slot].info.si_signo = sig;
	p->q[slot].seq = ++p->seq;
	__atomic_store_n(&p->q[slot].used, 1, __ATOMIC_RELEASE);
	__atomic_add_fetch(&p->count, 1, __ATOMIC_RELAXED);
}

/* The entry to deliver next: lowest signal number not in @blocked, oldest first; or -1. */
static int next_entry(struct vmm_vcpu *v, uint64_t blocked)
{
	struct vmm_sigpending *p = &v->pending;
	int best = -1;
	for (int i = 0; i < VMM_SIGQ_LEN; i++) {
		if (!__atomic_load_n(&p->q[i].used, __ATOMIC_ACQUIRE))
			continue;
		int sig = p->q[i].info.si_signo;
		if (blocked & (1UL << (sig - 1)))
			continue;
		if (best < 0 || sig < p->q[best].info.si_signo ||
		    (sig == p->q[best].info.si_signo && p->q[i].seq < p->q[best].seq))
			best = i;
	}
	return best;
}

/* Take entry @i out of the queue into *@si. */
static void take(struct vmm_vcpu *v, int i, siginfo_t *si)
{
	*si = v->pending.q[i].info;
	__atomic_store_n(&v->pending.q[i].used, 0, __ATOMIC_RELEASE);
	__atomic_sub_fetch(&v->pending.count, 1, __ATOMIC_RELAXED);
}

static uint64_t cur_mask(void)
{
	uint64_t m = 0;
	vmm_sys4(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static size_t xstate_size(void)
{
	static size_t sz;
	if (!sz) {
		uint32_t a, b, c, d;
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(0));
		sz = b;
	}
	return sz;
}

static bool mem_write(uint64_t dst, const void *src, size_t n)
{
	struct iovec l = {(void *)src, n}, rm = {(void *)dst, n};
	return vmm_sys6(SYS_process_vm_writev, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1,
	                0) == (long)n;
}

static bool mem_read(void *dst, uint64_t src, size_t n)
{
	struct iovec l = {dst, n}, rm = {(void *)src, n};
	return vmm_sys6(SYS_process_vm_readv, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1, 0) ==
	       (long)n;
}

/*
 * The FPU state a handler starts with (Linux's fpu__clear_user_states, arch/x86/kernel/fpu/
 * core.c): every user component in its initial configuration (SDM Vol. 1 13.6: XSTATE_BV bit
 * clear), x87 and SSE written out with their reset values (FCW 0x37f, MXCSR 0x1f80, SDM Vol. 1
 * 8.1.5 and 10.2.3), PKRU kept. Uses v->xsave, which must hold the vCPU's current state.
 */
static int fpu_init_for_handler(struct vmm_vcpu *v)
{
	uint8_t *x = v->xsave;
	uint64_t bv = *(uint64_t *)(x + 512);
	uint32_t mxcsr_mask = *(uint32_t *)(x + 28);
	memset(x, 0, 512);
	*(uint16_t *)x = 0x37f;
	*(uint32_t *)(x + 24) = 0x1f80;
	*(uint32_t *)(x + 28) = mxcsr_mask;
	*(uint64_t *)(x + 512) = (bv & XFEATURE_PKRU) | 3; /* x87 | SSE, as written above */
	return vmm_sys3(SYS_ioctl, v->fd, KVM_SET_XSAVE, x) < 0 ? -EFAULT : 0;
}

/*
 * Build the frame for @sig on the guest stack and point @r at the handler. @trapno/@err/@cr2
 * describe a fault (0 otherwise). Return 0, or -EFAULT when the frame cannot be written (the
 * kernel then forces SIGSEGV, and so do we).
 */
static int deliver(struct vmm_vcpu *v, struct kvm_regs *r, int sig, const siginfo_t *si,
                   uint64_t trapno, uint64_t err, uint64_t cr2)
{
	struct vmm *vm = vmm_get();
	struct ksigaction a = g_act[sig];
	stack_t ss = {0};
	vmm_sys2(SYS_sigaltstack, NULL, &ss);
	uint64_t sp = r->rsp;
	/* The kernel's sigsp(): the alternate stack's top unless already on it. */
	bool on_alt =
	    ss.ss_size && (uint64_t)ss.ss_sp < sp && sp - (uint64_t)ss.ss_sp <= ss.ss_size;
	if ((a.flags & SA_ONSTACK) && !(ss.ss_flags & SS_DISABLE) && !on_alt)
		sp = (uint64_t)ss.ss_sp + ss.ss_size;
	else
		sp -= 128; /* the interrupted code's red zone */
	size_t xs = xstate_size();
	if (xs > vm->plat.xsave_size - 4)
		xs = vm->plat.xsave_size - 4;
	if (vmm_sys3(SYS_ioctl, v->fd, KVM_GET_XSAVE, v->xsave) < 0)
		return -EFAULT;
	uint64_t fp = (sp - xs - 4) & ~63UL;
	uint32_t *sw = (uint32_t *)(v->xsave + 464);
	sw[0] = FP_XSTATE_MAGIC1;
	sw[1] = (uint32_t)(xs + 4);
	*(uint64_t *)&sw[2] = vm->host_xcr0;
	sw[4] = (uint32_t)xs;
	uint32_t m2 = FP_XSTATE_MAGIC2;
	uint64_t fsp = ((fp - sizeof(struct krt_sigframe)) & ~15UL) - 8;
	uint64_t mask = prog_mask(v);
	struct krt_sigframe f;
	memset(&f, 0, sizeof(f));
	f.pretcode = (uint64_t)a.restorer;
	f.uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	f.uc.uc_stack =
	    ss; /* as __save_altstack: the stored flags (0, SS_DISABLE, SS_AUTODISARM) */
	struct ksigcontext *c = &f.uc.uc_mcontext;
	c->r8 = r->r8, c->r9 = r->r9, c->r10 = r->r10, c->r11 = r->r11;
	c->r12 = r->r12, c->r13 = r->r13, c->r14 = r->r14, c->r15 = r->r15;
	c->rdi = r->rdi, c->rsi = r->rsi, c->rbp = r->rbp, c->rbx = r->rbx;
	c->rdx = r->rdx, c->rax = r->rax, c->rcx = r->rcx, c->rsp = r->rsp;
	c->rip = r->rip, c->eflags = r->rflags;
	c->cs = SJMP_GDT_USER_CS, c->ss = SJMP_GDT_USER_DS;
	c->err = err, c->trapno = trapno, c->oldmask = mask, c->cr2 = cr2;
	c->fpstate = fp;
	f.uc.uc_sigmask = mask;
	f.info = *si;
	if (!mem_write(fp, v->xsave, xs) || !mem_write(fp + xs, &m2, 4) ||
	    !mem_write(fsp, &f, sizeof(f)))
		return -EFAULT;
	if (fpu_init_for_handler(v) < 0)
		return -EFAULT;
	uint64_t nm = mask | a.mask;
	if (!(a.flags & SA_NODEFER))
		nm |= 1UL << (sig - 1);
	set_prog_mask(v, nm);
	if (ss.ss_flags & SS_AUTODISARM) {
		/* signal_delivered(): sas_ss_reset(). */
		stack_t off = {.ss_flags = SS_DISABLE};
		vmm_sys2(SYS_sigaltstack, &off, NULL);
	}
	if (a.flags & SA_RESETHAND) {
		g_act[sig].handler = SIG_DFL;
		g_act[sig].flags &= ~SA_SIGINFO;
		host_action(sig, &g_act[sig]);
	}
	r->rdi = (uint64_t)sig;
	r->rsi = fsp + offsetof(struct krt_sigframe, info);
	r->rdx = fsp + offsetof(struct krt_sigframe, uc);
	r->rax = 0;
	r->rsp = fsp;
	r->rip = (uint64_t)a.handler;
	r->rflags &= ~(X86_RFLAGS_DF | X86_RFLAGS_RF | X86_RFLAGS_TF);
	return 0;
}

long vmm_sys_sigreturn(struct vmm_vcpu *v, struct kvm_regs *r)
{
	struct vmm *vm = vmm_get();
	struct krt_sigframe f;
	if (!mem_read(&f, r->rsp - 8, sizeof(f))) {
		vmm_report(v, "rt_sigreturn: unreadable signal frame", r);
		vmm_die(SIGSEGV);
	}
	const struct ksigcontext *c = &f.uc.uc_mcontext;
	r->r8 = c->r8, r->r9 = c->r9, r->r10 = c->r10, r->r11 = c->r11;
	r->r12 = c->r12, r->r13 = c->r13, r->r14 = c->r14, r->r15 = c->r15;
	r->rdi = c->rdi, r->rsi = c->rsi, r->rbp = c->rbp, r->rbx = c->rbx;
	r->rdx = c->rdx, r->rax = c->rax, r->rcx = c->rcx, r->rsp = c->rsp;
	r->rip = c->rip;
	/* As the kernel's FIX_EFLAGS: only the arithmetic and a few control flags. */
	uint64_t fix = 0x40dd5UL | X86_RFLAGS_AC | X86_RFLAGS_DF | X86_RFLAGS_TF | X86_RFLAGS_RF;
	r->rflags = (r->rflags & ~fix) | (c->eflags & fix) | X86_RFLAGS_FIXED;
	set_prog_mask(v, f.uc.uc_sigmask);
	size_t xs = xstate_size();
	if (xs > vm->plat.xsave_size)
		xs = vm->plat.xsave_size;
	if (c->fpstate && mem_read(v->xsave, c->fpstate, xs))
		vmm_sys3(SYS_ioctl, v->fd, KVM_SET_XSAVE, v->xsave);
	/* restore_altstack(): the saved stack again, unless the restored RSP runs on the current
	 * one (the kernel's do_sigaltstack then fails with EPERM, which rt_sigreturn ignores). */
	stack_t cur, ss = f.uc.uc_stack;
	vmm_sys2(SYS_sigaltstack, NULL, &cur);
	bool on = cur.ss_size && r->rsp > (uint64_t)cur.ss_sp &&
	          r->rsp - (uint64_t)cur.ss_sp <= cur.ss_size;
	if (!on && !(ss.ss_flags & SS_ONSTACK))
		vmm_sys2(SYS_sigaltstack, &ss, NULL);
	return (long)r->rax;
}

static bool in_stubs(uint64_t rip)
{
	return rip >= (uint64_t)guest_stubs_start && rip < (uint64_t)guest_stubs_end;
}

/* Restartable with SA_RESTART (signal(7)): everything but the calls never restarted. */
static bool restartable(unsigned long nr)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
	case SYS_poll:
	case SYS_ppoll:
	case SYS_select:
	case SYS_pselect6:
	case SYS_io_getevents:
	case SYS_msgrcv:
	case SYS_msgsnd:
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_clock_nanosleep:
	case SYS_nanosleep:
	case SYS_rt_sigtimedwait:
	case SYS_rt_sigsuspend:
	case SYS_pause:
		return false;
	default:
		return true;
	}
}

void vmm_signals_after_syscall(struct vmm_vcpu *v, struct kvm_regs *r, unsigned long nr, long ret)
{
	if (ret != -EINTR || !__atomic_load_n(&v->pending.count, __ATOMIC_RELAXED))
		return;
	int i = next_entry(v, prog_mask(v));
	if (i < 0)
		return;
	int sig = v->pending.q[i].info.si_signo;
	if ((g_act[sig].flags & SA_RESTART) && restartable(nr)) {
		r->rax = nr;
		r->rip -= 2; /* back onto the `syscall` instruction */
	}
}

void vmm_signals_before_run(struct vmm_vcpu *v)
{
	struct kvm_regs *r = &v->run->s.regs.regs;
	struct vmm_sigpending *p = &v->pending;
	for (;;) {
		if (in_stubs(r->rip))
			return;
		if (!__atomic_load_n(&p->count, __ATOMIC_RELAXED)) {
			uint64_t held = __atomic_load_n(&p->held, __ATOMIC_RELAXED);
			if (!held)
				return;
			/* The queue drained: let the kernel hand the held signals over again. */
			uint64_t m = prog_mask(v);
			__atomic_and_fetch(&p->held, ~held, __ATOMIC_RELAXED);
			set_prog_mask(v, m);
			continue;
		}
		uint64_t blocked = prog_mask(v);
		int i = next_entry(v, blocked);
		siginfo_t si;
		if (i < 0) {
			/* Blocked since they arrived (another handler's sa_mask): back to the
			 * kernel, oldest first, where they wait as natively. The kick signal, which
			 * the host never blocks, waits here. */
			int n = 0;
			while ((i = next_entry(v, KICK_BIT)) >= 0) {
				take(v, i, &si);
				requeue(si.si_signo, &si);
				n++;
			}
			if (!n)
				return;
			continue;
		}
		take(v, i, &si);
		int sig = si.si_signo;
		if (g_act[sig].handler == SIG_IGN)
			continue; /* changed since it was recorded */
		if (g_act[sig].handler == SIG_DFL) {
			requeue(sig, &si); /* the kernel's default action */
			continue;
		}
		if (deliver(v, r, sig, &si, 0, 0, 0) < 0)
			vmm_die(SIGSEGV);
		v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	}
}

void vmm_signals_interrupted(struct vmm_vcpu *v)
{
	(void)v; /* vmm_signals_before_run delivers what the stub recorded */
}

void vmm_fault(struct vmm_vcpu *v, struct kvm_regs *r, const struct sjmp_guest_trap_frame *f,
               uint64_t addr)
{
	int code;
	int sig = vmm_fault_signal((unsigned)f->vector, f->error, &code);
	r->rip = f->rip;
	r->rsp = f->rsp;
	r->rflags = f->rflags;
	vmm_fault_at(v, r, sig, code, addr, f->vector, f->error);
}

void vmm_fault_at(struct vmm_vcpu *v, struct kvm_regs *r, int sig, int code, uint64_t addr,
                  uint64_t trapno, uint64_t err)
{
	struct ksigaction *a = &g_act[sig];
	bool blocked = prog_mask(v) & (1UL << (sig - 1));
	if (a->handler == SIG_DFL || a->handler == SIG_IGN || blocked) {
		/* As the kernel's force_sig: the default action. */
		if (a->handler == SIG_DFL && (sig == SIGSEGV || sig == SIGBUS) &&
		    vmm_get()->opt.stats)
			vmm_stats_print(vmm_get(), vmm_get()->stats_fd);
		vmm_die(sig);
	}
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = sig;
	si.si_code = code;
	si.si_addr = (void *)addr;
	if (sig == SIGTRAP || code == SI_KERNEL)
		si.si_addr = NULL;
	if (deliver(v, r, sig, &si, trapno, err, sig == SIGSEGV ? addr : 0) < 0)
		vmm_die(SIGSEGV);
}

/*
 * KVM_RUN -EFAULT: the guest touched an address its page tables map but the host does not
 * (kvm_pvm reports no address: platform.md). Two causes are told apart without decoding the
 * instruction: the main stack growing below its VMA (guest accesses do not grow it: touch it
 * from the host, which does) and a real hole, which becomes SIGSEGV. Never spins: a second
 * EFAULT at the same RIP and RSP is a hole.
 */
void vmm_efault(struct vmm_vcpu *v)
{
	struct vmm *vm = vmm_get();
	struct kvm_regs *r = &v->run->s.regs.regs;
	bool again = r->rip == v->efault_rip && r->rsp == v->efault_rsp;
	v->efault_rip = r->rip;
	v->efault_rsp = r->rsp;
	uint64_t sp = (r->rsp - 256) & ~4095UL;
	/* The kernel grows the stack while its VMA stays within RLIMIT_STACK (acct_stack_growth):
	 * a host access below that would fault in the VMM itself. The limit is read now, as the
	 * kernel does, since the program may have changed it. */
	struct rlimit rl;
	uint64_t max = vm->stack_max;
	if (vmm_sys4(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &rl) == 0)
		max = rl.rlim_cur == RLIM_INFINITY ? (1UL << 30) : rl.rlim_cur;
	uint64_t floor = vm->stack_hi - max > vm->stack_hi ? 0 : vm->stack_hi - max;
	if (!again && vm->stack_lo && sp < vm->stack_lo && sp >= floor + 4096) {
		/* Grow 128 KiB ahead (within the limit): one exit per 32 pages, not per page. */
		sp = sp - floor > (128UL << 10) ? sp - (128UL << 10) : floor + 4096;
		unsigned char vec;
		if (vmm_sys3(SYS_mincore, sp, 4096, &vec) == -ENOMEM) {
			/* In the stack's growth range and unmapped: a host access grows the VMA. */
			for (uint64_t a = sp; a < vm->stack_lo; a += 4096)
				*(volatile char *)a;
			vm->stack_lo = sp;
			return;
		}
	}
	if (!again)
		return; /* maybe a remap by another thread raced with us: one more try */
	v->efault_rip = v->efault_rsp = 0;
	/* KVM reports no address (no KVM_EXIT_MEMORY_FAULT): the same instruction run in host
	 * mode faults natively and the kernel tells (GVA == HVA). */
	int sig = SIGSEGV, code = SEGV_MAPERR;
	uint64_t addr = 0;
	int k = vmm_replay(v, r, &sig, &code, &addr);
	v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	if (k == 0)
		return; /* it completed in host mode: the guest continues after it */
	vmm_fault_at(v, r, sig, code, addr, X86_VEC_PF, 0);
	v->run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
}
