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

	.section .note.GNU-stack, "", @progbits
