/* SPDX-License-Identifier: MIT */
/*
 * entry_x86_64.S - the only code of guest mode that runs in guest ring 0 on its own behalf.
 *
 * Every path ends in an `out` to a private port (abi.h) and the host resumes the guest by setting
 * RIP/RSP/RFLAGS through KVM_CAP_SYNC_REGS: the guest never executes iretq, sysret or popfq
 * here (each is an exit on kvm_pvm, platform.md). The `ud2` after each `out` catches a host
 * that forgot to move RIP. Everything between guest_stubs_start and guest_stubs_end is a stub:
 * the host never delivers a signal to a context whose RIP is inside it.
 */
#include "abi.h"
#include "x86_64_hw.h"

	.section .text.sjmp_guest, "ax", @progbits
	.balign 64
	.globl guest_stubs_start
guest_stubs_start:

/*
 * guest_boot - first instructions of every vCPU. RDI = struct sjmp_guest_percpu, RSI = where to
 * continue. Registers the kvm_pvm VIF page from inside the guest (platform.md: the host-side
 * KVM_SET_MSRS path has extra rules), then reports to the host, which resumes at RSI.
 */
	.globl guest_boot
guest_boot:
	mov SJMP_PC_VIF_GPA(%rdi), %rax
	test %rax, %rax
	jz 1f
	mov %rax, %rdx
	shr $32, %rdx
	mov $X86_MSR_PVM_VIF, %ecx
	wrmsr
1:	out %al, $SJMP_PORT_BOOT
	ud2

/*
 * guest_syscall_entry - IA32_LSTAR. `syscall` at CPL 0 switches no stack (SDM Vol. 2B SYSCALL):
 * RSP is still the caller's, so this touches no memory at all (the caller's red zone is safe).
 */
	.balign 16
	.globl guest_syscall_entry
guest_syscall_entry:
	out %al, $SJMP_PORT_SYSCALL
	ud2

/*
 * guest_trap_stubs - one 16-byte stub per vector, all on IST stacks. Each leaves a
 * struct sjmp_guest_trap_frame at RSP (a zero error code for vectors without one).
 */
	.balign 16
	.globl guest_trap_stubs
guest_trap_stubs:
	vec = 0
	.rept SJMP_IDT_VECTORS
	.balign 16
	.if X86_VEC_HAS_ERRCODE(vec) == 0
	pushq $0
	.endif
	pushq $vec
	out %al, $SJMP_PORT_TRAP
	ud2
	vec = vec + 1
	.endr

/*
 * guest_reload_cr3 - the host sends a vCPU here (vmm_root_shootdown, or a #PF in the zone at an
 * address its root maps) to reload CR3 before it runs more of the program: on kvm_pvm a store to
 * the guest page tables takes effect only at invlpg or a CR3 load (platform.md); elsewhere a CR3
 * load without the no-flush bit flushes the PCID's translations (SDM Vol. 3A 4.10.4.1). `mov`
 * changes no flag; every register but RIP is kept (RAX through the percpu page, GS.base).
 */
	.balign 16
	.globl guest_reload_cr3
guest_reload_cr3:
	mov %rax, %gs:SJMP_PC_SCRATCH
	mov %gs:SJMP_PC_RELOAD_CR3, %rax
	mov %rax, %cr3
	mov %gs:SJMP_PC_SCRATCH, %rax
	jmp *%gs:SJMP_PC_RESUME_RIP

	.globl guest_stubs_end
guest_stubs_end:
	.section .note.GNU-stack, "", @progbits
