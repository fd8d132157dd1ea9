/* SPDX-License-Identifier: MIT */
/*
 * abi.h - everything that crosses the guest/host boundary of guest mode, in one self-contained,
 * versioned header (STYLE: Solo5 hvt_abi.h). Included by guest assembly (__ASSEMBLER__) and by
 * the host-side VMM. Change SJMP_GUEST_ABI_VERSION with any change below.
 *
 * Guest -> host calls are `out` instructions to private I/O ports (KVM_EXIT_IO): `vmcall` never
 * reaches a user-space VMM (platform.md). The guest passes nothing in memory for them: the host
 * reads the guest's registers through KVM_CAP_SYNC_REGS and, for traps, the hardware frame on the
 * IST stack (GVA == HVA, so the host reads it at the same address).
 */
#ifndef SJMP_GUEST_ABI_H
#define SJMP_GUEST_ABI_H

#define SJMP_GUEST_ABI_VERSION 2

/*
 * I/O ports (8-bit, so the guest uses `out %al, $imm8` and clobbers no register).
 * SYSCALL: the LSTAR entry ran; registers are those of the `syscall` instruction (RCX = return
 *          RIP, R11 = RFLAGS, RSP = the caller's). The host runs the call and sets RAX, RIP = RCX,
 *          RFLAGS = R11 itself: the guest never returns through its own code.
 * TRAP:    an exception arrived through the IDT; RSP points at struct sjmp_guest_trap_frame on
 *          the vector's IST stack. The host resumes the interrupted context by setting RIP, RSP,
 *          RFLAGS from that frame (no iretq: each one costs an exit on kvm_pvm).
 * BOOT:    the boot stub finished (VIF page registered); RSI holds the continuation RIP. The host
 *          counts it and resumes at RIP = RSI.
 * NOP:     nothing; the guest continues after the `out` (bench/guest_bench measures a bare exit
 *          round trip to the VMM with it). Version 2.
 */
#define SJMP_PORT_SYSCALL 0xe0
#define SJMP_PORT_TRAP    0xe1
#define SJMP_PORT_BOOT    0xe2
#define SJMP_PORT_NOP     0xe3

/*
 * Selectors of the guest GDT. The Linux layout (arch/x86/include/asm/segment.h), so STAR
 * follows Linux: kernel CS 0x10, kernel DS 0x18, user CS32 0x23, user DS 0x2b, user CS 0x33.
 * TSS at 0x40 (16 bytes).
 */
#define SJMP_GDT_KERNEL_CS 0x10
#define SJMP_GDT_KERNEL_DS 0x18
#define SJMP_GDT_USER32_CS 0x23
#define SJMP_GDT_USER_DS   0x2b
#define SJMP_GDT_USER_CS   0x33
#define SJMP_GDT_TSS       0x40
#define SJMP_GDT_ENTRIES   10

/* Number of IDT vectors with a stub (exceptions only: guest mode takes no interrupts). */
#define SJMP_IDT_VECTORS 32

/* Offsets in struct sjmp_guest_trap_frame, for the assembly. */
#define SJMP_TF_VECTOR 0
#define SJMP_TF_ERROR  8
#define SJMP_TF_RIP    16
#define SJMP_TF_CS     24
#define SJMP_TF_RFLAGS 32
#define SJMP_TF_RSP    40
#define SJMP_TF_SS     48

#ifndef __ASSEMBLER__
#include <stdint.h>

/*
 * struct sjmp_guest_trap_frame - what an exception leaves on the IST stack: the stub pushes the
 * vector and (for vectors without one) a zero error code under the hardware's frame
 * (SDM 6.14.2, Figure 6-9).
 */
struct sjmp_guest_trap_frame {
	uint64_t vector;
	uint64_t error;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
_Static_assert(sizeof(struct sjmp_guest_trap_frame) == 56, "trap frame layout");

/*
 * struct sjmp_guest_percpu - the per-vCPU page that GS.base points at in the guest. Written by
 * the host before the vCPU first runs; read by guest code (the boot stub, later the VAS switch).
 */
struct sjmp_guest_percpu {
	uint64_t self;        /* this structure's address */
	uint32_t abi_version; /* SJMP_GUEST_ABI_VERSION */
	uint32_t vcpu_id;
	uint64_t vif_gpa; /* kvm_pvm VIF page to register, 0 elsewhere */
	uint64_t
	    cur_cr3; /* the root loaded now (never read CR3: it exits on kvm_pvm); stored
	              * BEFORE the CR3 load, so a shootdown never misses a vCPU entering a root */
	/* guest_reload_cr3 (written by the host when it sends the vCPU there, read by the stub). */
	uint64_t reload_cr3; /* the CR3 value to load: cur_cr3 without the no-flush bit */
	uint64_t resume_rip; /* where the interrupted code continues */
	uint64_t scratch;    /* RAX while the stub runs */
	uint64_t reserved[1];
};
_Static_assert(sizeof(struct sjmp_guest_percpu) == 64, "percpu layout");
_Static_assert(__builtin_offsetof(struct sjmp_guest_percpu, reload_cr3) == 32, "percpu layout");
_Static_assert(__builtin_offsetof(struct sjmp_guest_percpu, resume_rip) == 40, "percpu layout");
_Static_assert(__builtin_offsetof(struct sjmp_guest_percpu, scratch) == 48, "percpu layout");
#endif

/* Offsets in struct sjmp_guest_percpu, for the assembly. */
#define SJMP_PC_VIF_GPA    16
#define SJMP_PC_RELOAD_CR3 32
#define SJMP_PC_RESUME_RIP 40
#define SJMP_PC_SCRATCH    48

#endif
