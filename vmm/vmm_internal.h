/* SPDX-License-Identifier: MIT */
/* vmm_internal.h - functions shared between the files of vmm/ (run loop side). */
#ifndef SJMP_VMM_INTERNAL_H
#define SJMP_VMM_INTERNAL_H

#include "vmm.h"

void vmm_set_self(struct vmm_vcpu *v);

/** vmm_report() - write a crash report (reason, exit, RIP with symbol, registers) to stderr. */
/**
 * vmm_symbolize() - "symbol+offset (.symtab|.dynsym) in path" for code address @rip, found with
 * libelf in the ELF file of the mapping that contains it (vmm/symbolize.c), into @out (@cap
 * bytes, NUL-terminated). The lookup runs in a child process (raw fork) killed after 3 s, so a
 * lock the dying program holds never hangs the report. Context: the host run loop (raw system
 * calls only on this side). Return: 0; -ENOENT when no symbol contains @rip, the mapping has no
 * file, or the child did not answer in time; -EMFILE, -ENFILE (pipe2), -EAGAIN, -ENOMEM (fork).
 */
int vmm_symbolize(uint64_t rip, char *out, size_t cap);

void vmm_report(struct vmm_vcpu *v, const char *what, const struct kvm_regs *r);

/**
 * vmm_kick_reload() - in the host run loop of @v, just before KVM_RUN: send the vCPU through
 * guest_reload_cr3 when a shootdown asked for it (not while RIP is in the guest stubs, which
 * touch no segment memory: the next exit does it). Context: @v's own host thread.
 */
void vmm_kick_reload(struct vmm_vcpu *v);

/** vmm_die() - die of @sig with its default action (as the program would natively). */
__attribute__((noreturn)) void vmm_die(int sig);

/**
 * vmm_proxy_syscall() - serve system call @r itself when one of its buffers lies in the segment
 * zone (vmm/proxy.c): I/O-family buffers are translated through the vCPU's current root; other
 * calls with a zone pointer fail with -EFAULT (logged once per call).
 * Return: true and *@ret (the result for the guest's RAX) when handled; false when the call has
 * no zone pointer and is to be forwarded as usual. Context: the vCPU's host run loop.
 */
bool vmm_proxy_syscall(struct vmm_vcpu *v, const struct kvm_regs *r, long *ret);

/** vmm_syscall() - serve a forwarded system call; sets RAX, RIP = RCX, RFLAGS = R11. */
void vmm_syscall(struct vmm_vcpu *v, struct kvm_regs *r);

/**
 * vmm_fault() - an exception the VMM cannot resolve: turn it into the signal the program would
 * get natively (vector -> signal as Linux's traps.c and fault.c) with si_addr @addr.
 */
void vmm_fault(struct vmm_vcpu *v, struct kvm_regs *r, const struct sjmp_guest_trap_frame *f,
               uint64_t addr);

/** vmm_efault() - KVM_RUN failed with EFAULT: the guest touched a host hole (platform.md). */
void vmm_efault(struct vmm_vcpu *v);

/**
 * vmm_replay() - run the guest instruction at @r->rip once in host mode, with the guest's
 * registers and FPU state and RFLAGS.TF (vmm/replay_x86_64.c), to learn the address of the host
 * hole that made KVM_RUN fail with EFAULT (kvm_pvm reports none, platform.md).
 * Return: 1 and *@sig (SIGSEGV or SIGBUS), *@code, *@addr as the kernel reported the fault;
 * 0 when the instruction completed (then @r and the vCPU's FPU state hold its results: it ran
 * exactly once); -EIO when the vCPU's state cannot be read. Context: @v's host run loop.
 */
int vmm_replay(struct vmm_vcpu *v, struct kvm_regs *r, int *sig, int *code, uint64_t *addr);

/** vmm_signals_before_run() - deliver recorded signals into the guest before KVM_RUN. */
void vmm_signals_before_run(struct vmm_vcpu *v);

/** vmm_signals_interrupted() - KVM_RUN returned EINTR. */
void vmm_signals_interrupted(struct vmm_vcpu *v);

/** vmm_fault_at() - deliver fault signal @sig (si_code @code, si_addr @addr) for context @r. */
void vmm_fault_at(struct vmm_vcpu *v, struct kvm_regs *r, int sig, int code, uint64_t addr,
                  uint64_t trapno, uint64_t err);

/** vmm_signals_init() - take over the actions installed before guest mode (once); install the
 * VMM's handler for VMM_KICK_SIGNAL and unblock it in the calling thread. */
void vmm_signals_init(void);

/** vmm_sys_sigaction() - the program's rt_sigaction (host gets a recording stub). */
long vmm_sys_sigaction(const struct kvm_regs *r);

/**
 * vmm_sys_sigprocmask() - the program's rt_sigprocmask(how, set, oldset, 8) (rt_sigprocmask(2)).
 * VMM_KICK_SIGNAL is never blocked on the host (a blocked kick would leave a shootdown waiting);
 * signals the stub left blocked because @v's queue was full stay blocked and are never shown
 * in oldset. Return: 0; -EINVAL for a bad @how or sigsetsize; -EFAULT for an unreadable set or
 * unwritable oldset. Context: @v's host run loop.
 */
long vmm_sys_sigprocmask(struct vmm_vcpu *v, const struct kvm_regs *r);

/**
 * vmm_sys_sigaltstack() - the program's sigaltstack(ss, old_ss) (sigaltstack(2)): "on the
 * alternate stack" is judged by the guest's RSP, not the VMM's host stack. Return: 0; -EPERM to
 * change the stack while running on it; -EFAULT, -EINVAL, -ENOMEM as the kernel's.
 * Context: the vCPU's host run loop.
 */
long vmm_sys_sigaltstack(const struct kvm_regs *r);

/** vmm_sys_sigreturn() - emulate rt_sigreturn: restore the frame's context into @r. */
long vmm_sys_sigreturn(struct vmm_vcpu *v, struct kvm_regs *r);

/** vmm_signals_after_syscall() - SA_RESTART: rewind onto `syscall` when @ret is -EINTR. */
void vmm_signals_after_syscall(struct vmm_vcpu *v, struct kvm_regs *r, unsigned long nr, long ret);

/** vmm_fault_signal() - signal, si_code for exception @vec with error code @err (pure). */
int vmm_fault_signal(unsigned vec, uint64_t err, int *code);

/** vmm_vcpu_open() - create the KVM vCPU v->id in vm->vm_fd and map its kvm_run. Raw calls. */
int vmm_vcpu_open(struct vmm *vm, struct vmm_vcpu *v);

/** vmm_slot_set() - (re-)register memslot @slot (a fork child's new VM). Raw ioctl. */
int vmm_slot_set(struct vmm *vm, uint32_t slot, uint64_t gpa, uint64_t hva, uint64_t len);

/* Threads, fork, vfork, execve (clone.c). Each returns the value for the guest's RAX. */
long vmm_sys_clone(struct vmm_vcpu *v, struct kvm_regs *r, long nr);
long vmm_sys_execve(struct vmm_vcpu *v, struct kvm_regs *r);

struct vmm_host_clone {
	long nr, flags, stack, ptid, ctid, tls;
	struct kvm_regs regs;
};
long vmm_clone_to_host(struct vmm_host_clone *c);
long vmm_clone_thread(unsigned long flags, void *stack, void *ptid, void *ctid, unsigned long tls,
                      struct vmm_vcpu *v);
__attribute__((noreturn)) void vmm_thread_main(struct vmm_vcpu *v);

/** vmm_run_on_stack() - run vmm_run(@v) on @host_stack_top (switch_x86_64.S); never returns. */
__attribute__((noreturn)) void vmm_run_on_stack(struct vmm_vcpu *v, void *host_stack_top);

#endif
