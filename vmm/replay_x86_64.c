/* SPDX-License-Identifier: MIT */
/*
 * replay_x86_64.c - find the address of a host hole the guest touched (docs/guest-mode.md).
 *
 * On kvm_pvm an access to a guest-physical page whose host page is missing (unmapped, PROT_NONE,
 * read-only on a write) makes KVM_RUN fail with a bare EFAULT: no address (platform.md). Guest-
 * virtual == host-virtual for everything the program maps, so the same instruction run once in
 * host mode, with the guest's registers, FS base and FPU state, faults natively and the kernel
 * reports si_addr and si_code. The instruction is entered with `iretq` and RFLAGS.TF set (SDM
 * Vol. 3B 18.3.1.4 single-step), so exactly one instruction runs: its fault (SIGSEGV/SIGBUS) or
 * the single-step trap after it (SIGTRAP) comes to replay_handler, which sends the thread back
 * into the run loop. When the instruction completes (the hole was filled meanwhile) its results
 * are the guest's: registers, RIP, RFLAGS and FPU state are copied back, so it ran exactly once.
 *
 * Context: the vCPU's host run loop; raw system calls only. Signals other than the three above
 * are blocked during the replay, which runs its handler on the vCPU's IST1 stack (idle while
 * the vCPU is outside KVM_RUN).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

/* struct kvm_regs offsets: rax 0 rbx 8 rcx 16 rdx 24 rsi 32 rdi 40 rsp 48 rbp 56 r8 64 ... r15 120
 * rip 128 rflags 136 (linux/kvm.h, x86). save[]: rbx rbp r12 r13 r14 r15 rsp resume. */
_Static_assert(__builtin_offsetof(struct kvm_regs, rip) == 128, "kvm_regs layout");
_Static_assert(__builtin_offsetof(struct kvm_regs, rflags) == 136, "kvm_regs layout");
void vmm_replay_jump(const struct kvm_regs *r, uint64_t *save);
__asm__(".text\n"
        ".globl vmm_replay_jump\n"
        ".type vmm_replay_jump, @function\n"
        "vmm_replay_jump:\n"
        "\tmov %rbx, 0(%rsi)\n"
        "\tmov %rbp, 8(%rsi)\n"
        "\tmov %r12, 16(%rsi)\n"
        "\tmov %r13, 24(%rsi)\n"
        "\tmov %r14, 32(%rsi)\n"
        "\tmov %r15, 40(%rsi)\n"
        "\tmov %rsp, 48(%rsi)\n"
        "\tlea vmm_replay_resume(%rip), %rax\n"
        "\tmov %rax, 56(%rsi)\n"
        /* iretq frame (SDM Vol. 2A IRET): SS, RSP, RFLAGS | TF, CS, RIP. */
        "\tmov %ss, %rax\n"
        "\tpush %rax\n"
        "\tpush 48(%rdi)\n"
        "\tmov 136(%rdi), %rax\n"
        "\tor $0x100, %rax\n"
        "\tpush %rax\n"
        "\tmov %cs, %rax\n"
        "\tpush %rax\n"
        "\tpush 128(%rdi)\n"
        "\tmov 8(%rdi), %rbx\n"
        "\tmov 16(%rdi), %rcx\n"
        "\tmov 24(%rdi), %rdx\n"
        "\tmov 32(%rdi), %rsi\n"
        "\tmov 56(%rdi), %rbp\n"
        "\tmov 64(%rdi), %r8\n"
        "\tmov 72(%rdi), %r9\n"
        "\tmov 80(%rdi), %r10\n"
        "\tmov 88(%rdi), %r11\n"
        "\tmov 96(%rdi), %r12\n"
        "\tmov 104(%rdi), %r13\n"
        "\tmov 112(%rdi), %r14\n"
        "\tmov 120(%rdi), %r15\n"
        "\tmov 0(%rdi), %rax\n"
        "\tmov 40(%rdi), %rdi\n"
        "\tiretq\n"
        /* replay_handler resumes here with RSP = save[6] and RDI = save. */
        "vmm_replay_resume:\n"
        "\tmov 0(%rdi), %rbx\n"
        "\tmov 8(%rdi), %rbp\n"
        "\tmov 16(%rdi), %r12\n"
        "\tmov 24(%rdi), %r13\n"
        "\tmov 32(%rdi), %r14\n"
        "\tmov 40(%rdi), %r15\n"
        "\tret\n"
        ".size vmm_replay_jump, . - vmm_replay_jump\n");

/* The kernel's struct sigaction (arch/x86/include/uapi/asm/signal.h). */
struct rksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
#define RK_SA_RESTORER 0x04000000UL

extern void vmm_sig_restorer(void);

struct replay {
	struct kvm_regs *r; /* in: the guest's registers; out: after the instruction */
	uint64_t save[8];
	bool stepped_in; /* the first trap (before the instruction) was seen */
	bool done;       /* the instruction completed */
	int sig, code;
	uint64_t addr;
};

static __thread struct replay *tls_replay __attribute__((tls_model("initial-exec")));

static void replay_handler(int sig, siginfo_t *si, void *ucv)
{
	struct replay *p = tls_replay;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	if (!p)
		return; /* not ours: the action is restored before any other code could fault */
	if (sig == SIGTRAP && !p->stepped_in && (uint64_t)g[REG_RIP] == p->r->rip && !p->done) {
		p->stepped_in = true; /* trap on arrival: let the instruction run */
		return;
	}
	if (sig == SIGTRAP) {
		struct kvm_regs *r = p->r;
		r->rax = (uint64_t)g[REG_RAX], r->rbx = (uint64_t)g[REG_RBX];
		r->rcx = (uint64_t)g[REG_RCX], r->rdx = (uint64_t)g[REG_RDX];
		r->rsi = (uint64_t)g[REG_RSI], r->rdi = (uint64_t)g[REG_RDI];
		r->rsp = (uint64_t)g[REG_RSP], r->rbp = (uint64_t)g[REG_RBP];
		r->r8 = (uint64_t)g[REG_R8], r->r9 = (uint64_t)g[REG_R9];
		r->r10 = (uint64_t)g[REG_R10], r->r11 = (uint64_t)g[REG_R11];
		r->r12 = (uint64_t)g[REG_R12], r->r13 = (uint64_t)g[REG_R13];
		r->r14 = (uint64_t)g[REG_R14], r->r15 = (uint64_t)g[REG_R15];
		r->rip = (uint64_t)g[REG_RIP];
		r->rflags = ((uint64_t)g[REG_EFL] & ~X86_RFLAGS_TF) | X86_RFLAGS_FIXED;
		p->done = true;
	} else {
		p->sig = sig;
		p->code = si->si_code;
		p->addr = (uint64_t)si->si_addr;
	}
	g[REG_RIP] = (greg_t)p->save[7];
	g[REG_RSP] = (greg_t)p->save[6];
	g[REG_RDI] = (greg_t)p->save;
	g[REG_EFL] &= ~(greg_t)X86_RFLAGS_TF;
}

int vmm_replay(struct vmm_vcpu *v, struct kvm_regs *r, int *sig, int *code, uint64_t *addr)
{
	struct vmm *vm = vmm_get();
	static const int sigs[3] = {SIGSEGV, SIGBUS, SIGTRAP};
	struct rksigaction old[3],
	    h = {.handler = (void *)replay_handler,
	         .flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | RK_SA_RESTORER,
	         .restorer = (void *)vmm_sig_restorer};
	uint64_t all = ~0UL, keep;
	for (int i = 0; i < 3; i++)
		all &= ~(1UL << (sigs[i] - 1));
	h.mask = all;
	stack_t alt = {.ss_sp = v->ist_top[0] - SJMP_IST_STACK_SIZE,
	               .ss_size = SJMP_IST_STACK_SIZE},
	        oldalt;
	if (vmm_sys3(SYS_ioctl, v->fd, KVM_GET_XSAVE, v->xsave) < 0)
		return -EIO;
	struct replay p = {.r = r};
	vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &all, &keep, 8);
	vmm_sys2(SYS_sigaltstack, &alt, &oldalt);
	for (int i = 0; i < 3; i++)
		vmm_sys4(SYS_rt_sigaction, sigs[i], &h, &old[i], 8);
	/* Not PKRU (the host's keys stay the host's) nor AMX tiles (XRSTOR faults while the
	 * kernel's XFD guards them, and no memory access needs them). */
	uint64_t xmask = vm->host_xcr0 & ~((1UL << 9) | (1UL << 17) | (1UL << 18));
	uint32_t lo = (uint32_t)xmask, hi = (uint32_t)(xmask >> 32);
	__asm__ volatile("xrstor64 (%0)" : : "r"(v->xsave), "a"(lo), "d"(hi) : "memory");
	tls_replay = &p;
	vmm_replay_jump(r, p.save);
	tls_replay = NULL;
	if (p.done) {
		__asm__ volatile("xsave64 (%0)" : : "r"(v->xsave), "a"(lo), "d"(hi) : "memory");
		vmm_sys3(SYS_ioctl, v->fd, KVM_SET_XSAVE, v->xsave);
	}
	for (int i = 0; i < 3; i++)
		vmm_sys4(SYS_rt_sigaction, sigs[i], &old[i], NULL, 8);
	vmm_sys2(SYS_sigaltstack, &oldalt, NULL);
	vmm_sys4(SYS_rt_sigprocmask, SIG_SETMASK, &keep, NULL, 8);
	if (p.done)
		return 0;
	*sig = p.sig;
	*code = p.code;
	*addr = p.addr;
	return 1;
}
