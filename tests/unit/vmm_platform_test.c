/* SPDX-License-Identifier: MIT */
/* Platform decisions and CR3/CR4 encodings, from forged CPUID values (paths this machine
 * cannot run: PCID on VMX/SVM). */
#include <criterion/criterion.h>

#include "vmm.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

Test(vmm_platform, pcid_used_when_cpuid_offers_it_on_vmx)
{
	struct vmm_platform p = {0};
	vmm_platform_from_cpuid(&p, X86_CPUID1_ECX_PCID, X86_CPUID7_EBX_INVPCID, 0x3027, false);
	cr_expect(p.pcid);
	cr_expect(p.invpcid);
	cr_expect_eq(p.maxphyaddr, 0x27);
	cr_expect(vmm_cr4_value(&p) & X86_CR4_PCIDE);
}

Test(vmm_platform, no_pcid_on_kvm_pvm_even_if_reported)
{
	struct vmm_platform p = {0};
	vmm_platform_from_cpuid(&p, X86_CPUID1_ECX_PCID, 0, 46, true);
	cr_expect(!p.pcid);
	cr_expect(!(vmm_cr4_value(&p) & X86_CR4_PCIDE));
	cr_expect_eq(p.maxphyaddr, 46);
}

Test(vmm_platform, cr4_never_has_smep_or_smap_and_always_osxsave)
{
	struct vmm_platform p = {0};
	vmm_platform_from_cpuid(&p, 0, 0, 0, false);
	uint64_t cr4 = vmm_cr4_value(&p);
	cr_expect(!(cr4 & (X86_CR4_SMEP | X86_CR4_SMAP)), "every PTE has U/S = 1");
	cr_expect(cr4 & X86_CR4_OSXSAVE);
	cr_expect(cr4 & X86_CR4_PAE);
	cr_expect_eq(p.maxphyaddr, 36, "no leaf 0x80000008: 36 bits (SDM 4.1.4)");
}

Test(vmm_platform, cr3_encoding_with_and_without_pcid)
{
	cr_expect_eq(vmm_cr3_encode(0x123456000, 5, true, true), 0x123456005 | X86_CR3_NOFLUSH);
	cr_expect_eq(vmm_cr3_encode(0x123456000, 5, false, true), 0x123456005);
	cr_expect_eq(vmm_cr3_encode(0x123456000, 5, true, false), 0x123456000,
	             "no PCID bits or no-flush without CR4.PCIDE");
	cr_expect_eq(vmm_cr3_encode(0x123456fff, 0x1fff, false, true), 0x123456fff);
}

Test(vmm_platform, host_kind_names)
{
	cr_expect_str_eq(vmm_host_kind_name(VMM_HOST_PVM), "kvm_pvm");
	cr_expect_str_eq(vmm_host_kind_name(VMM_HOST_VMX), "vmx");
	cr_expect_str_eq(vmm_host_kind_name(VMM_HOST_SVM), "svm");
}

Test(vmm_platform, faults_map_to_native_signals)
{
	int code;
	cr_expect_eq(vmm_fault_signal(X86_VEC_PF, 0, &code), SIGSEGV);
	cr_expect_eq(code, SEGV_MAPERR);
	cr_expect_eq(vmm_fault_signal(X86_VEC_PF, X86_PF_P | X86_PF_W, &code), SIGSEGV);
	cr_expect_eq(code, SEGV_ACCERR);
	cr_expect_eq(vmm_fault_signal(X86_VEC_DE, 0, &code), SIGFPE);
	cr_expect_eq(vmm_fault_signal(X86_VEC_UD, 0, &code), SIGILL);
	cr_expect_eq(vmm_fault_signal(X86_VEC_BP, 0, &code), SIGTRAP);
	cr_expect_eq(vmm_fault_signal(X86_VEC_AC, 0, &code), SIGBUS);
	cr_expect_eq(vmm_fault_signal(X86_VEC_GP, 0, &code), SIGSEGV);
}
