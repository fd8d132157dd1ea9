/* SPDX-License-Identifier: MIT */
/*
 * x86_64_hw.h - architectural constants of x86-64 that guest mode depends on, each with the
 * section of the Intel SDM (Vol. 3A unless noted, order no. 325462-080, June 2023) that defines
 * it. Pure constants: included by guest assembly and by the host-side VMM alike.
 */
#ifndef SJMP_GUEST_X86_64_HW_H
#define SJMP_GUEST_X86_64_HW_H

#ifdef __ASSEMBLER__
#define SJMP_UL(x) x
#else
#define SJMP_UL(x) x##UL
#endif

/* CR0 (SDM 2.5 "Control Registers", Figure 2-7). */
#define X86_CR0_PE (SJMP_UL(1) << 0) /* protection enable */
#define X86_CR0_MP (SJMP_UL(1) << 1) /* monitor coprocessor: WAIT/FWAIT honour TS */
#define X86_CR0_ET (SJMP_UL(1) << 4) /* extension type, hardwired 1 */
#define X86_CR0_NE (SJMP_UL(1) << 5) /* native x87 error reporting (#MF, not IRQ13) */
#define X86_CR0_WP                                                                                 \
	(SJMP_UL(1) << 16) /* write protect: read-only PTEs bind ring 0 too (SDM 4.6.1) */
#define X86_CR0_AM (SJMP_UL(1) << 18) /* alignment mask */
#define X86_CR0_PG (SJMP_UL(1) << 31) /* paging */

/* CR3 (SDM 4.5.2 "4-Level Paging", Table 4-12; 4.10.1 "PCIDs"). */
#define X86_CR3_PCID_MASK SJMP_UL(0xfff) /* bits 11:0 are the PCID when CR4.PCIDE = 1 */
#define X86_CR3_NOFLUSH                                                                            \
	(SJMP_UL(1) << 63) /* MOV to CR3 keeps this PCID's TLB entries (SDM 4.10.4.1) */

/* CR4 (SDM 2.5, Figure 2-8). */
#define X86_CR4_PAE        (SJMP_UL(1) << 5)  /* required by 4-level paging (SDM 4.1.1) */
#define X86_CR4_PGE        (SJMP_UL(1) << 7)  /* global pages */
#define X86_CR4_OSFXSR     (SJMP_UL(1) << 9)  /* FXSAVE/FXRSTOR and SSE enabled */
#define X86_CR4_OSXMMEXCPT (SJMP_UL(1) << 10) /* unmasked SIMD FP exceptions raise #XM */
#define X86_CR4_FSGSBASE   (SJMP_UL(1) << 16) /* RDFSBASE and friends at any CPL */
#define X86_CR4_PCIDE      (SJMP_UL(1) << 17) /* process-context identifiers (SDM 4.10.1) */
#define X86_CR4_OSXSAVE    (SJMP_UL(1) << 18) /* XSAVE and XGETBV/XSETBV enabled */
#define X86_CR4_SMEP       (SJMP_UL(1) << 20) /* must stay clear: every guest PTE has U/S = 1 */
#define X86_CR4_SMAP       (SJMP_UL(1) << 21) /* must stay clear: every guest PTE has U/S = 1 */

/* IA32_EFER (SDM 2.2.1 "Extended Feature Enable Register", Figure 2-3). */
#define X86_EFER_SCE (SJMP_UL(1) << 0)  /* SYSCALL/SYSRET enable */
#define X86_EFER_LME (SJMP_UL(1) << 8)  /* IA-32e mode enable */
#define X86_EFER_LMA (SJMP_UL(1) << 10) /* IA-32e mode active */
#define X86_EFER_NX  (SJMP_UL(1) << 11) /* execute-disable bit in PTEs */

/* RFLAGS (SDM Vol. 1 3.4.3, Figure 3-8). */
#define X86_RFLAGS_CF    (SJMP_UL(1) << 0)
#define X86_RFLAGS_FIXED (SJMP_UL(1) << 1) /* reserved, always 1 */
#define X86_RFLAGS_TF    (SJMP_UL(1) << 8)
#define X86_RFLAGS_IF    (SJMP_UL(1) << 9)
#define X86_RFLAGS_DF    (SJMP_UL(1) << 10)
#define X86_RFLAGS_NT    (SJMP_UL(1) << 14)
#define X86_RFLAGS_RF    (SJMP_UL(1) << 16)
#define X86_RFLAGS_AC    (SJMP_UL(1) << 18)

/* MSRs (SDM Vol. 4, Table 2-2). */
#define X86_MSR_EFER        0xc0000080
#define X86_MSR_STAR        0xc0000081 /* SYSCALL CS/SS selectors (SDM 5.8.8) */
#define X86_MSR_LSTAR       0xc0000082 /* 64-bit SYSCALL target RIP */
#define X86_MSR_CSTAR       0xc0000083 /* compatibility-mode SYSCALL target */
#define X86_MSR_FMASK       0xc0000084 /* RFLAGS bits SYSCALL clears */
#define X86_MSR_FS_BASE     0xc0000100
#define X86_MSR_GS_BASE     0xc0000101
#define X86_MSR_KERNEL_GS   0xc0000102
#define X86_MSR_PAT         0x00000277
#define X86_MSR_MISC_ENABLE 0x000001a0
/* kvm_pvm's VIF page: the guest writes the page's guest-physical address (platform.md). */
#define X86_MSR_PVM_VIF 0x4b564d10

/*
 * Paging-structure entries, 4-level paging (SDM 4.5.4, Tables 4-15 to 4-20). The same bit
 * positions serve PML4E, PDPTE, PDE and PTE; PS is only meaningful in PDPTE and PDE.
 */
#define X86_PTE_P    (SJMP_UL(1) << 0) /* present */
#define X86_PTE_RW   (SJMP_UL(1) << 1) /* writable */
#define X86_PTE_US   (SJMP_UL(1) << 2) /* user: set in EVERY entry, kvm_pvm livelocks otherwise */
#define X86_PTE_PWT  (SJMP_UL(1) << 3)
#define X86_PTE_PCD  (SJMP_UL(1) << 4)
#define X86_PTE_A    (SJMP_UL(1) << 5)           /* accessed */
#define X86_PTE_D    (SJMP_UL(1) << 6)           /* dirty (leaf only) */
#define X86_PTE_PS   (SJMP_UL(1) << 7)           /* page size: 2 MiB in a PDE, 1 GiB in a PDPTE */
#define X86_PTE_G    (SJMP_UL(1) << 8)           /* global (leaf only, with CR4.PGE) */
#define X86_PTE_NX   (SJMP_UL(1) << 63)          /* execute disable (with EFER.NX) */
#define X86_PTE_ADDR SJMP_UL(0x000ffffffffff000) /* bits 51:12 (MAXPHYADDR caps them further) */

#define X86_PAGE_SHIFT  12
#define X86_PAGE_SIZE   (SJMP_UL(1) << 12)
#define X86_LARGE_SHIFT 21
#define X86_LARGE_SIZE  (SJMP_UL(1) << 21) /* a 2 MiB page (PDE with PS) */
#define X86_HUGE_SIZE   (SJMP_UL(1) << 30) /* what one PDPTE covers */
#define X86_PML4E_SIZE  (SJMP_UL(1) << 39) /* what one PML4E covers */

/* Exception vectors (SDM 6.3.1, Table 6-1). */
#define X86_VEC_DE  0 /* divide error */
#define X86_VEC_DB  1 /* debug */
#define X86_VEC_NMI 2
#define X86_VEC_BP  3 /* breakpoint (int3) */
#define X86_VEC_OF  4
#define X86_VEC_BR  5
#define X86_VEC_UD  6 /* invalid opcode */
#define X86_VEC_NM  7
#define X86_VEC_DF  8 /* double fault (error code 0) */
#define X86_VEC_TS  10
#define X86_VEC_NP  11
#define X86_VEC_SS  12
#define X86_VEC_GP  13
#define X86_VEC_PF  14
#define X86_VEC_MF  16
#define X86_VEC_AC  17
#define X86_VEC_MC  18
#define X86_VEC_XM  19
#define X86_VEC_VE  20
#define X86_VEC_CP  21
/* Vectors that push an error code (SDM 6.13, Table 6-1). */
#define X86_VEC_HAS_ERRCODE(v)                                                                     \
	((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

/* #PF error code (SDM 4.7, Figure 4-12). */
#define X86_PF_P (SJMP_UL(1) << 0) /* 0: non-present page; 1: protection violation */
#define X86_PF_W (SJMP_UL(1) << 1) /* write access */
#define X86_PF_U (SJMP_UL(1) << 2) /* CPL 3 */
#define X86_PF_I (SJMP_UL(1) << 4) /* instruction fetch */

/* Segment descriptors (SDM 3.4.5, Figure 3-8; 7.2.3 for the 64-bit TSS descriptor). */
#define X86_DESC_TYPE_CODE_XR 0xb /* execute/read, accessed */
#define X86_DESC_TYPE_DATA_RW 0x3 /* read/write, accessed */
#define X86_DESC_TYPE_TSS64   0xb /* busy 64-bit TSS */
#define X86_GATE_TYPE_INTR64  0xe /* 64-bit interrupt gate (SDM 6.14.1, Figure 6-8) */

/* CPUID leaves and bits (SDM Vol. 2A, CPUID, Tables 3-8 to 3-10). */
#define X86_CPUID1_ECX_PCID       (1U << 17)
#define X86_CPUID1_ECX_XSAVE      (1U << 26)
#define X86_CPUID1_ECX_OSXSAVE    (1U << 27)
#define X86_CPUID1_ECX_AVX        (1U << 28)
#define X86_CPUID1_ECX_HYPERVISOR (1U << 31)
#define X86_CPUID1_ECX_VMX        (1U << 5)
#define X86_CPUID7_EBX_FSGSBASE   (1U << 0)
#define X86_CPUID7_EBX_AVX2       (1U << 5)
#define X86_CPUID7_EBX_INVPCID    (1U << 10)
#define X86_CPUID7_EBX_AVX512F    (1U << 16)
#define X86_CPUID_EXT1_ECX_SVM    (1U << 2)

#endif
