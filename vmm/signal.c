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
 * core) are the kernel's own. SA_RESTART is applied by the VMM (the stubs are installed without
 * it so that a blocking forwarded call returns and the handler can run in the guest).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
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

#define KICK_BIT (1UL << (VMM_KICK_SIGNAL - 1))
static bool mem_read(void *dst, uint64_t src, size_t n);

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
		                        .restorer = (void *)vmm_sig_restorer};
		host_sigaction(sig, &h, NULL);
		return;
	}
	if (a->handler != SIG_DFL && a->handler != SIG_IGN) {
		h.handler = (void *)stub;
		h.flags = SA_SIGINFO | K_SA_RESTORER | (a->flags & (SA_NOCLDSTOP | SA_NOCLDWAIT));
		h.restorer = (void *)vmm_sig_restorer;
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

long vmm_sys_sigprocmask(const struct kvm_regs *r)
{
	uint64_t set;
	int how = (int)r->rdi;
	if (r->r10 != 8)
		return -EINVAL;
	if (!r->rsi || (how != SIG_BLOCK && how != SIG_SETMASK))
		return vmm_sys4(SYS_rt_sigprocmask, how, r->rsi, r->rdx, 8);
	if (!mem_read(&set, r->rsi, sizeof(set)))
		return -EFAULT;
	set &= ~KICK_BIT;
	return vmm_sys4(SYS_rt_sigprocmask, how, &set, r->rdx, 8);
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

/* Host stub: record and return; KVM_RUN or the forwarded call returns EINTR. */
static void stub(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	struct vmm_vcpu *v = vmm_self();
	if (!v) {
		/* A thread in host mode (never entered): run the program's handler natively. */
		struct ksigaction *a = &g_act[sig];
		if (a->flags & SA_SIGINFO)
			((void (*)(int, siginfo_t *, void *))a->handler)(sig, si, uc);
		else
			((void (*)(int))a->handler)(sig);
		return;
	}
	v->pending.info[sig - 1] = *si;
	__atomic_or_fetch(&v->pending.mask, 1UL << (sig - 1), __ATOMIC_RELAXED);
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
	bool on_alt = (uint64_t)ss.ss_sp < sp && sp <= (uint64_t)ss.ss_sp + ss.ss_size;
	if ((a.flags & SA_ONSTACK) && !(ss.ss_flags & SS_DISABLE) && !on_alt) {
		sp = (uint64_t)ss.ss_sp + ss.ss_size;
		on_alt = true;
	} else {
		sp -= 128; /* the interrupted code's red zone */
	}
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
	uint64_t mask = cur_mask();
	struct krt_sigframe f;
	memset(&f, 0, sizeof(f));
	f.pretcode = (uint64_t)a.restorer;
	f.uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	f.uc.uc_stack = ss;
	if (!(ss.ss_flags & SS_DISABLE) && on_alt)
		f.uc.uc_stack.ss_flags = SS_ONSTACK;
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
	uint64_t nm = (mask | a.mask) & ~KICK_BIT;
	if (!(a.flags & SA_NODEFER))
		nm |= 1UL << (sig - 1);
	vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &nm, NULL, 8);
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
	uint64_t m =
	    f.uc.uc_sigmask & ~((1UL << (SIGKILL - 1)) | (1UL << (SIGSTOP - 1)) | KICK_BIT);
	vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, 8);
	size_t xs = xstate_size();
	if (xs > vm->plat.xsave_size)
		xs = vm->plat.xsave_size;
	if (c->fpstate && mem_read(v->xsave, c->fpstate, xs))
		vmm_sys3(SYS_ioctl, v->fd, KVM_SET_XSAVE, v->xsave);
	if (!(f.uc.uc_stack.ss_flags & SS_ONSTACK)) {
		stack_t ss = f.uc.uc_stack;
		ss.ss_flags &= SS_DISABLE;
		vmm_sys2(SYS_sigaltstack, &ss, NULL);
	}
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
	uint64_t p = __atomic_load_n(&v->pending.mask, __ATOMIC_RELAXED);
	if (ret != -EINTR || !p)
		return;
	int sig = __builtin_ctzl(p) + 1;
	if ((g_act[sig].flags & SA_RESTART) && restartable(nr)) {
		r->rax = nr;
		r->rip -= 2; /* back onto the `syscall` instruction */
	}
}

void vmm_signals_before_run(struct vmm_vcpu *v)
{
	struct kvm_regs *r = &v->run->s.regs.regs;
	for (;;) {
		uint64_t p = __atomic_load_n(&v->pending.mask, __ATOMIC_RELAXED);
		if (!p || in_stubs(r->rip))
			return;
		int sig = __builtin_ctzl(p) + 1;
		__atomic_and_fetch(&v->pending.mask, ~(1UL << (sig - 1)), __ATOMIC_RELAXED);
		siginfo_t si = v->pending.info[sig - 1];
		if (g_act[sig].handler == SIG_DFL || g_act[sig].handler == SIG_IGN)
			continue; /* changed since it was recorded */
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
	bool blocked = cur_mask() & (1UL << (sig - 1));
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
	uint64_t floor = vm->stack_lo - vm->stack_max;
	if (!again && vm->stack_lo && sp < vm->stack_lo && sp >= floor) {
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
