/* SPDX-License-Identifier: MIT */
/* signal.c - signals in guest mode (first version: faults end the process as natively). */
#include <signal.h>
#include <sys/syscall.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"

void vmm_fault(struct vmm_vcpu *v, struct kvm_regs *r, const struct sjmp_guest_trap_frame *f,
	       uint64_t addr)
{
	int code;
	int sig = vmm_fault_signal((unsigned)f->vector, f->error, &code);
	(void)addr;
	struct kvm_regs at = *r;
	at.rip = f->rip;
	at.rsp = f->rsp;
	at.rflags = f->rflags;
	vmm_report(v, "unhandled exception in guest mode", &at);
	vmm_die(sig);
}

void vmm_efault(struct vmm_vcpu *v)
{
	vmm_report(v, "KVM_RUN: EFAULT: the guest touched a host address that is not mapped",
		   &v->run->s.regs.regs);
	vmm_die(SIGSEGV);
}

void vmm_signals_before_run(struct vmm_vcpu *v)
{
	(void)v;
}

void vmm_signals_interrupted(struct vmm_vcpu *v)
{
	(void)v;
}
