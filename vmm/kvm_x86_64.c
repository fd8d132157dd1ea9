/* SPDX-License-Identifier: MIT */
/*
 * kvm_x86_64.c - x86-64 specifics of guest mode: platform detection, CPUID, control registers,
 * descriptor tables, MSRs and FPU state of a vCPU (SDM Vol. 3A 9.8.5 "Initializing IA-32e
 * Mode", done through KVM ioctls instead of by the guest).
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "sys_x86_64.h"
#include "vmm.h"
#include "x86_64_hw.h"

const char *vmm_host_kind_name(enum vmm_host_kind kind)
{
	switch (kind) {
	case VMM_HOST_VMX:
		return "vmx";
	case VMM_HOST_SVM:
		return "svm";
	case VMM_HOST_PVM:
		return "kvm_pvm";
	default:
		return "unknown";
	}
}

void vmm_platform_from_cpuid(struct vmm_platform *p, uint32_t leaf1_ecx, uint32_t leaf7_ebx,
                             uint32_t ext8_eax, bool pvm)
{
	/* platform.md: kvm_pvm refuses CR4.PCIDE (EINVAL) whatever it reports. */
	p->pcid = !pvm && (leaf1_ecx & X86_CPUID1_ECX_PCID);
	p->invpcid = p->pcid && (leaf7_ebx & X86_CPUID7_EBX_INVPCID);
	p->maxphyaddr = (ext8_eax & 0xff) ? (ext8_eax & 0xff) : 36;
}

uint64_t vmm_cr3_encode(uint64_t root, unsigned pcid, bool noflush, bool pcide)
{
	uint64_t cr3 = root & X86_PTE_ADDR;
	if (pcide) {
		cr3 |= pcid & X86_CR3_PCID_MASK;
		if (noflush)
			cr3 |= X86_CR3_NOFLUSH;
	}
	return cr3;
}

uint64_t vmm_cr4_value(const struct vmm_platform *p)
{
	uint64_t cr4 = X86_CR4_PAE | X86_CR4_PGE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT |
	               X86_CR4_OSXSAVE | X86_CR4_FSGSBASE;
	if (p->pcid)
		cr4 |= X86_CR4_PCIDE;
	return cr4;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

/*
 * Guest CPUID: KVM_GET_SUPPORTED_CPUID with the host's XSAVE/AVX/AVX2/AVX-512/FSGSBASE bits and
 * XSAVE leaf (KVM hides them on kvm_pvm but runs the guest with the host's XCR0 anyway:
 * platform.md), VMX and SVM cleared, the hypervisor bit as the host has it.
 */
static void cpuid_patch(struct kvm_cpuid2 *c)
{
	unsigned a, b, cx, d;
	struct kvm_cpuid_entry2 *e;
	if ((e = cpuid_find(c, 1, 0)) && __get_cpuid_count(1, 0, &a, &b, &cx, &d)) {
		uint32_t take = X86_CPUID1_ECX_XSAVE | X86_CPUID1_ECX_AVX | (1U << 12) /* FMA */ |
		                (1U << 29) /* F16C */ | X86_CPUID1_ECX_HYPERVISOR;
		e->ecx = (e->ecx & ~take) | (cx & take);
		e->ecx &= ~X86_CPUID1_ECX_VMX;
	}
	if ((e = cpuid_find(c, 7, 0)) && __get_cpuid_count(7, 0, &a, &b, &cx, &d)) {
		uint32_t take = X86_CPUID7_EBX_FSGSBASE | X86_CPUID7_EBX_AVX2 |
		                (0xffffU << 16 & ~(1U << 20 /* SMAP */ | 1U << 18 /* RDSEED ok */));
		e->ebx = (e->ebx & ~take) | (b & take);
	}
	for (uint32_t i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 0xd && __get_cpuid_count(0xd, e->index, &a, &b, &cx, &d)) {
			e->eax = a;
			e->ebx = b;
			e->ecx = cx;
			e->edx = d;
		}
	}
	if ((e = cpuid_find(c, 0x80000001, 0)))
		e->ecx &= ~X86_CPUID_EXT1_ECX_SVM;
}

int vmm_platform_detect(struct vmm *vm)
{
	/* The kvm_cpuid2 lives in the VM's own memory (vmm.c gives room for 256 entries). */
	vm->cpuid->nent = 256;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) < 0)
		return sjmp__fail(errno, "KVM_GET_SUPPORTED_CPUID", "update the kernel");
	bool pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	struct kvm_cpuid_entry2 *e1 = cpuid_find(vm->cpuid, 1, 0);
	struct kvm_cpuid_entry2 *e7 = cpuid_find(vm->cpuid, 7, 0);
	struct kvm_cpuid_entry2 *e8 = cpuid_find(vm->cpuid, 0x80000008, 0);
	vmm_platform_from_cpuid(&vm->plat, e1 ? e1->ecx : 0, e7 ? e7->ebx : 0, e8 ? e8->eax : 0,
	                        pvm);
	if (pvm) {
		vm->plat.kind = VMM_HOST_PVM;
	} else {
		unsigned a = 0, b = 0, c = 0, d = 0;
		__get_cpuid(0, &a, &b, &c, &d);
		/* "AuthenticAMD" / "HygonGenuine" use SVM; others VMX. */
		vm->plat.kind = (b == 0x68747541 || b == 0x6f677948) ? VMM_HOST_SVM : VMM_HOST_VMX;
	}
	cpuid_patch(vm->cpuid);
	int xs = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	vm->plat.xsave_size =
	    xs > (int)sizeof(struct kvm_xsave) ? (size_t)xs : sizeof(struct kvm_xsave);
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	vm->host_xcr0 = ((uint64_t)hi << 32) | lo;
	return 0;
}

void vmm_host_xsave(struct vmm *vm, void *buf)
{
	memset(buf, 0, vm->plat.xsave_size);
	uint32_t lo = (uint32_t)vm->host_xcr0, hi = (uint32_t)(vm->host_xcr0 >> 32);
	__asm__ volatile("xsave64 (%0)" : : "r"(buf), "a"(lo), "d"(hi) : "memory");
}

/* Descriptor in the GDT (SDM 3.4.5): flags hold G, D/B, L, AVL in bits 55:52 of the result. */
static uint64_t seg_desc(unsigned type, unsigned dpl, bool l, bool db)
{
	return 0xffffULL | (0xfULL << 48) | ((uint64_t)type << 40) | (1ULL << 44) /* S */ |
	       ((uint64_t)dpl << 45) | (1ULL << 47) /* P */ | ((uint64_t)l << 53) |
	       ((uint64_t)db << 54) | (1ULL << 55) /* G */;
}

/* 64-bit TSS (SDM 8.7, Figure 8-11). */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "TSS layout");

/* 64-bit interrupt gate (SDM 6.14.1, Figure 6-8). */
struct idt_gate {
	uint16_t off0;
	uint16_t sel;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t off1;
	uint32_t off2;
	uint32_t zero;
};
_Static_assert(sizeof(struct idt_gate) == 16, "gate layout");

static void build_tables(struct vmm_vcpu *v)
{
	uint64_t *gdt = v->gdt;
	memset(gdt, 0, SJMP_GDT_ENTRIES * 8);
	gdt[SJMP_GDT_KERNEL_CS >> 3] = seg_desc(X86_DESC_TYPE_CODE_XR, 0, true, false);
	gdt[SJMP_GDT_KERNEL_DS >> 3] = seg_desc(X86_DESC_TYPE_DATA_RW, 0, false, true);
	gdt[SJMP_GDT_USER32_CS >> 3] = seg_desc(X86_DESC_TYPE_CODE_XR, 3, false, true);
	gdt[SJMP_GDT_USER_DS >> 3] = seg_desc(X86_DESC_TYPE_DATA_RW, 3, false, true);
	gdt[SJMP_GDT_USER_CS >> 3] = seg_desc(X86_DESC_TYPE_CODE_XR, 3, true, false);
	uint64_t tb = (uint64_t)v->tss;
	gdt[SJMP_GDT_TSS >> 3] = (sizeof(struct tss64) - 1) | ((tb & 0xffffff) << 16) |
	                         ((uint64_t)X86_DESC_TYPE_TSS64 << 40) | (1ULL << 47) |
	                         ((tb >> 24 & 0xff) << 56);
	gdt[(SJMP_GDT_TSS >> 3) + 1] = tb >> 32;

	struct tss64 *tss = (struct tss64 *)v->tss;
	memset(tss, 0, sizeof(*tss));
	tss->rsp[0] = (uint64_t)v->ist_top[0];
	for (int i = 0; i < SJMP_IST_STACKS; i++)
		tss->ist[i] = (uint64_t)v->ist_top[i];
	tss->iomap_base = sizeof(*tss); /* no I/O bitmap: beyond the limit */

	struct idt_gate *idt = (struct idt_gate *)v->idt;
	for (int vec = 0; vec < SJMP_IDT_VECTORS; vec++) {
		uint64_t h = (uint64_t)guest_trap_stubs + 16 * vec;
		bool own = vec == X86_VEC_NMI || vec == X86_VEC_DF || vec == X86_VEC_MC;
		idt[vec] = (struct idt_gate){
		    .off0 = h & 0xffff,
		    .sel = SJMP_GDT_KERNEL_CS,
		    .ist = own ? 2 : 1,
		    .type_attr = 0x80 | (3 << 5) | X86_GATE_TYPE_INTR64,
		    .off1 = (h >> 16) & 0xffff,
		    .off2 = h >> 32,
		};
	}
}

static void seg_set(struct kvm_segment *s, uint16_t sel, unsigned type, bool l, bool db)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = sel,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = db,
	    .s = 1,
	    .l = l,
	    .g = 1,
	};
}

int vmm_vcpu_setup_arch(struct vmm *vm, struct vmm_vcpu *v)
{
	build_tables(v);
	/* Once a vCPU has run, KVM accepts only the CPUID it already has: set it once. */
	if (!v->cpuid_set && ioctl(v->fd, KVM_SET_CPUID2, vm->cpuid) < 0)
		return sjmp__fail(errno, "KVM_SET_CPUID2", "the host refuses the guest CPUID");
	v->cpuid_set = true;

	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return sjmp__fail(errno, "KVM_GET_SREGS", "vCPU unusable");
	seg_set(&s.cs, SJMP_GDT_KERNEL_CS, X86_DESC_TYPE_CODE_XR, true, false);
	seg_set(&s.ds, SJMP_GDT_KERNEL_DS, X86_DESC_TYPE_DATA_RW, false, true);
	s.es = s.ds;
	s.ss = s.ds;
	seg_set(&s.fs, 0, X86_DESC_TYPE_DATA_RW, false, true);
	s.fs.base = v->start_fs_base;
	seg_set(&s.gs, 0, X86_DESC_TYPE_DATA_RW, false, true);
	s.gs.base = (uint64_t)v->percpu;
	s.tr = (struct kvm_segment){
	    .base = (uint64_t)v->tss,
	    .limit = sizeof(struct tss64) - 1,
	    .selector = SJMP_GDT_TSS,
	    .type = X86_DESC_TYPE_TSS64,
	    .present = 1,
	};
	s.ldt = (struct kvm_segment){.unusable = 1};
	s.gdt.base = (uint64_t)v->gdt;
	s.gdt.limit = SJMP_GDT_ENTRIES * 8 - 1;
	s.idt.base = (uint64_t)v->idt;
	s.idt.limit = SJMP_IDT_VECTORS * 16 - 1;
	s.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_WP | X86_CR0_PG;
	s.cr4 = vmm_cr4_value(&vm->plat);
	s.cr3 = vmm_cr3_encode(vm->root, 0, false, vm->plat.pcid);
	s.efer = X86_EFER_SCE | X86_EFER_LME | X86_EFER_LMA | X86_EFER_NX;
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return sjmp__fail(errno, "KVM_SET_SREGS", "the host refuses long mode (CR4 %#llx)",
		                  (unsigned long long)s.cr4);

	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[8];
	} m = {0};
	struct kvm_msr_entry *e = m.e;
	*e++ = (struct kvm_msr_entry){.index = X86_MSR_STAR,
	                              .data = ((uint64_t)SJMP_GDT_USER32_CS << 48) |
	                                      ((uint64_t)SJMP_GDT_KERNEL_CS << 32)};
	*e++ =
	    (struct kvm_msr_entry){.index = X86_MSR_LSTAR, .data = (uint64_t)guest_syscall_entry};
	*e++ =
	    (struct kvm_msr_entry){.index = X86_MSR_CSTAR, .data = (uint64_t)guest_syscall_entry};
	*e++ = (struct kvm_msr_entry){.index = X86_MSR_FMASK,
	                              .data = X86_RFLAGS_TF | X86_RFLAGS_DF | X86_RFLAGS_IF |
	                                      X86_RFLAGS_AC | X86_RFLAGS_NT | (3UL << 12)};
	*e++ = (struct kvm_msr_entry){.index = X86_MSR_KERNEL_GS, .data = 0};
	*e++ = (struct kvm_msr_entry){.index = X86_MSR_PAT, .data = 0x0007040600070406ULL};
	m.h.nmsrs = (uint32_t)(e - m.e);
	int r = ioctl(v->fd, KVM_SET_MSRS, &m);
	if (r != (int)m.h.nmsrs)
		return sjmp__fail(r < 0 ? errno : EIO, "KVM_SET_MSRS", "the host refused MSR %#x",
		                  m.e[r < 0 ? 0 : r].index);

	struct kvm_xcrs x = {.nr_xcrs = 1, .xcrs = {{.xcr = 0, .value = vm->host_xcr0}}};
	if (ioctl(v->fd, KVM_SET_XCRS, &x) < 0)
		return sjmp__fail(errno, "KVM_SET_XCRS", "the host refuses XCR0 %#llx",
		                  (unsigned long long)vm->host_xcr0);

	/* Guest TSC == host TSC, so vDSO clock_gettime agrees with the host (prior-art (e)). */
	struct kvm_device_attr a = {.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET};
	uint64_t zero = 0;
	a.addr = (uint64_t)&zero;
	if (ioctl(v->fd, KVM_HAS_DEVICE_ATTR, &a) == 0)
		(void)ioctl(v->fd, KVM_SET_DEVICE_ATTR, &a);
	return 0;
}
