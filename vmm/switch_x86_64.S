/* SPDX-License-Identifier: MIT */
/*
 * switch_x86_64.S - host-side assembly of guest mode.
 *
 * vmm_switch_to_guest(vcpu, host_stack_top): the calling thread's callee-saved registers are
 * pushed on its own stack, which becomes the guest's; the thread itself moves to the vCPU's host
 * stack and runs vmm_run_first(vcpu, -, guest_rsp, guest_rip) for ever. The guest resumes at 1:
 * below (in guest ring 0), pops the registers and returns 0 to the caller of sjmp_enter.
 */
	.text
	.globl vmm_switch_to_guest
	.type vmm_switch_to_guest, @function
vmm_switch_to_guest:
	push %rbp
	push %rbx
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdx
	lea 1f(%rip), %rcx
	mov %rsi, %rsp
	xor %ebp, %ebp
	call vmm_run_first
	ud2
1:	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbx
	pop %rbp
	xor %eax, %eax
	ret
	.size vmm_switch_to_guest, . - vmm_switch_to_guest

/*
 * long vmm_clone_thread(flags, host_stack, ptid, ctid, tls, vcpu): raw clone(2) for a new thread
 * in guest mode. The child starts on @host_stack and calls vmm_thread_main(vcpu), which never
 * returns; the parent returns the kernel's result. vcpu travels in R9, which the kernel keeps.
 */
	.text
	.globl vmm_clone_thread
	.type vmm_clone_thread, @function
vmm_clone_thread:
	mov %rcx, %r10
	mov $56, %eax /* SYS_clone */
	syscall
	test %rax, %rax
	jnz 1f
	xor %ebp, %ebp
	mov %r9, %rdi
	call vmm_thread_main
	ud2
1:	ret
	.size vmm_clone_thread, . - vmm_clone_thread

/*
 * long vmm_clone_to_host(struct vmm_host_clone *c): raw clone/vfork whose child leaves guest
 * mode: it loads the guest's registers (struct kvm_regs at offset 48, RAX already 0, RSP the new
 * stack) and jumps to RIP in host mode (vfork, posix_spawn: the child execs soon).
 */
	.globl vmm_clone_to_host
	.type vmm_clone_to_host, @function
vmm_clone_to_host:
	push %rbx
	mov %rdi, %rbx
	mov 0(%rbx), %rax
	mov 8(%rbx), %rdi
	mov 16(%rbx), %rsi
	mov 24(%rbx), %rdx
	mov 32(%rbx), %r10
	mov 40(%rbx), %r8
	syscall
	test %rax, %rax
	jz 2f
	pop %rbx
	ret
2:	lea 48(%rbx), %rbx
	pushq 136(%rbx)
	popfq
	mov 0(%rbx), %rax
	mov 16(%rbx), %rcx
	mov 24(%rbx), %rdx
	mov 32(%rbx), %rsi
	mov 40(%rbx), %rdi
	mov 56(%rbx), %rbp
	mov 64(%rbx), %r8
	mov 72(%rbx), %r9
	mov 80(%rbx), %r10
	mov 88(%rbx), %r11
	mov 96(%rbx), %r12
	mov 104(%rbx), %r13
	mov 112(%rbx), %r14
	mov 120(%rbx), %r15
	mov 48(%rbx), %rsp
	mov 8(%rbx), %rbx
	jmp *%rcx
	.size vmm_clone_to_host, . - vmm_clone_to_host
/*
 * vmm_run_on_stack(vcpu, host_stack_top): move the calling thread onto the vCPU's host stack and
 * run vmm_run(vcpu) for ever (sjmp_enter's signal handler for the process's other threads: the
 * handler's frame is left behind, dead, below the guest's RSP).
 */
	.text
	.globl vmm_run_on_stack
	.type vmm_run_on_stack, @function
vmm_run_on_stack:
	mov %rsi, %rsp
	xor %ebp, %ebp
	call vmm_run
	ud2
	.size vmm_run_on_stack, . - vmm_run_on_stack
	.section .note.GNU-stack, "", @progbits
