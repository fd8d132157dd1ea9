/* SPDX-License-Identifier: MIT */
/*
 * syscall.c - the system-call proxy: a guest `syscall` reaches guest_syscall_entry, which exits
 * with `out`; the same host thread runs the call with a raw `syscall`, so the thread id, fds,
 * credentials, signal mask and the kernel's restart rules are the program's own. Calls that
 * concern guest mode itself are handled here.
 */
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <asm/prctl.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"

static long forward(const struct kvm_regs *r)
{
	return vmm_sys6((long)r->rax, (long)r->rdi, (long)r->rsi, (long)r->rdx, (long)r->r10,
	                (long)r->r8, (long)r->r9);
}

static bool is_err(long ret)
{
	return ret < 0 && ret > -4096;
}

static long set_guest_fs(struct vmm_vcpu *v, uint64_t base)
{
	struct kvm_sregs s;
	long e = vmm_sys3(SYS_ioctl, v->fd, KVM_GET_SREGS, &s);
	if (e < 0)
		return e;
	s.fs.base = base;
	return vmm_sys3(SYS_ioctl, v->fd, KVM_SET_SREGS, &s);
}

void vmm_syscall(struct vmm_vcpu *v, struct kvm_regs *r)
{
	struct vmm *vm = vmm_get();
	unsigned long nr = r->rax;
	long ret;
	int fdmin = vm->vmm_fd_min;
	if (nr < VMM_NSYSCALLS)
		v->stats.syscalls[nr]++;
	if (vmm_proxy_syscall(v, r, &ret))
		goto done;
	switch (nr) {
	case SYS_clone3:
		ret = -ENOSYS; /* glibc falls back to clone, which the proxy understands */
		break;
	/*
	 * rseq is forwarded: glibc registered the main thread before sjmp_enter() and then insists
	 * on registering every new thread. The kernel keeps cpu_id right (the vCPU runs on the
	 * same thread) but never aborts a guest critical section (the host RIP is never in it);
	 * sjmp-run avoids the question by starting programs with glibc.pthread.rseq=0.
	 */
	case SYS_close:
		ret = (long)r->rdi >= fdmin && (int)r->rdi >= 0 ? -EBADF : forward(r);
		break;
	case SYS_dup2:
	case SYS_dup3:
		ret = (int)r->rsi >= fdmin ? -EBADF : forward(r);
		break;
	case SYS_close_range:
		if ((unsigned)r->rdi >= (unsigned)fdmin) {
			ret = 0;
		} else {
			struct kvm_regs c = *r;
			if ((unsigned)c.rsi >= (unsigned)fdmin)
				c.rsi = (unsigned)fdmin - 1;
			ret = forward(&c);
		}
		break;
	case SYS_mmap:
		ret = forward(r);
		if (!is_err(ret))
			vmm_cover_new_mapping((uint64_t)ret, r->rsi);
		break;
	case SYS_mremap:
		ret = forward(r);
		if (!is_err(ret))
			vmm_cover_new_mapping((uint64_t)ret, r->rdx);
		break;
	case SYS_brk:
		ret = forward(r);
		if (!is_err(ret) && ret)
			vmm_cover((uint64_t)ret - 1, 1);
		break;
	case SYS_shmat:
		ret = forward(r);
		if (!is_err(ret))
			vmm_cover((uint64_t)ret, 1); /* the rest is covered on first fault */
		break;
	case SYS_arch_prctl:
		ret = forward(r);
		if (ret == 0 && r->rdi == ARCH_SET_FS)
			ret = set_guest_fs(v, r->rsi);
		break;
	case SYS_clone:
	case SYS_fork:
	case SYS_vfork:
		ret = vmm_sys_clone(v, r, (long)nr);
		break;
	case SYS_execve:
	case SYS_execveat:
		ret = vmm_sys_execve(v, r);
		break;
	case SYS_rt_sigaction:
		ret = vmm_sys_sigaction(r);
		break;
	case SYS_rt_sigprocmask:
		ret = vmm_sys_sigprocmask(v, r);
		break;
	case SYS_sigaltstack:
		ret = vmm_sys_sigaltstack(r);
		break;
	case SYS_rt_sigreturn:
		vmm_sys_sigreturn(v, r);
		return; /* the frame's registers, RIP and RFLAGS included */
	case SYS_exit_group:
		if (vm->opt.stats)
			vmm_stats_print(vm, vm->stats_fd);
		vmm_exit_record(vm, (int)r->rdi);
		ret = forward(r);
		break;
	case SYS_exit:
		vmm_vcpu_release(vm, v);
		ret = forward(r);
		break;
	default:
		v->kicked = 0;
		ret = forward(r);
		/* A kick (vmm_root_shootdown) that raced into a call SA_RESTART does not restart:
		 * the program never sees its EINTR. */
		while (ret == -EINTR && v->kicked && !v->pending.count) {
			v->kicked = 0;
			ret = forward(r);
		}
		break;
	}
done:
	r->rax = (uint64_t)ret;
	r->rip = r->rcx;
	r->rflags = r->r11;
	vmm_signals_after_syscall(v, r, nr, ret);
}
