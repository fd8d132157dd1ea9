/* SPDX-License-Identifier: MIT */
/*
 * vmm.h - the host side of guest mode: internal interface (not installed).
 *
 * One KVM VM per process, one vCPU per thread in guest mode (pooled: KVM cannot destroy a vCPU).
 * Guest-virtual == host-virtual for the common region (guest/layout.h explains the chunks and
 * their guest-physical addresses). The host thread of each vCPU runs vmm_run() on a private
 * stack and serves its exits with raw system calls only.
 *
 * The page-table-root API at the end is what the kvm backend of libsjmp builds VASes with: one
 * root per attached VAS, sharing the common region's PDPTs, with private PML4 entries for the
 * segment zone.
 */
#ifndef SJMP_VMM_H
#define SJMP_VMM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "abi.h"
#include "layout.h"
#include "pt.h"

/* Kinds of KVM host (chosen at run time, printed by sjmp-run --info). */
enum vmm_host_kind {
	VMM_HOST_UNKNOWN = 0,
	VMM_HOST_VMX = 1, /* Intel VT-x */
	VMM_HOST_SVM = 2, /* AMD-V */
	VMM_HOST_PVM = 3, /* kvm_pvm: software ring 0 with shadow paging (platform.md) */
};

/**
 * struct vmm_platform - what the host offers, decided once from CPUID and KVM.
 * @kind:       VMX, SVM or kvm_pvm.
 * @pcid:       guest may set CR4.PCIDE (KVM_GET_SUPPORTED_CPUID leaf 1 ECX.PCID).
 * @invpcid:    INVPCID available.
 * @maxphyaddr: guest physical address bits (leaf 0x80000008 EAX[7:0]).
 * @xsave_size: bytes of struct kvm_xsave this kernel wants (KVM_CAP_XSAVE2, at least 4096).
 */
struct vmm_platform {
	enum vmm_host_kind kind;
	bool pcid;
	bool invpcid;
	unsigned maxphyaddr;
	size_t xsave_size;
};

/** vmm_host_kind_name() - "vmx", "svm", "kvm_pvm" or "unknown". */
const char *vmm_host_kind_name(enum vmm_host_kind kind);

/**
 * vmm_platform_from_cpuid() - pure decision of the platform features from CPUID words, so the
 * paths this machine cannot run (PCID) are unit tested with forged values.
 * @leaf1_ecx:   KVM_GET_SUPPORTED_CPUID leaf 1 ECX (bit 17 PCID, SDM Vol. 2A Table 3-10).
 * @leaf7_ebx:   leaf 7 subleaf 0 EBX (bit 10 INVPCID).
 * @ext8_eax:    leaf 0x80000008 EAX (bits 7:0 physical address width); 0 means "not reported"
 *               and gives 36 (SDM Vol. 3A 4.1.4).
 * @pvm:         the host is kvm_pvm (/sys/module/kvm_pvm exists): no PCID whatever CPUID says.
 */
void vmm_platform_from_cpuid(struct vmm_platform *p, uint32_t leaf1_ecx, uint32_t leaf7_ebx,
                             uint32_t ext8_eax, bool pvm);

/**
 * vmm_cr3_encode() - the CR3 value that loads @root (SDM 4.5.2 Table 4-12; 4.10.4.1).
 * @root:    guest-physical address of the PML4 page (4 KiB aligned).
 * @pcid:    process-context identifier 0..4095, used only when @pcide.
 * @noflush: keep the PCID's TLB entries (bit 63), only when @pcide.
 * @pcide:   CR4.PCIDE is set.
 */
uint64_t vmm_cr3_encode(uint64_t root, unsigned pcid, bool noflush, bool pcide);

/** vmm_cr4_value() - CR4 for guest mode: PAE PGE OSFXSR OSXMMEXCPT OSXSAVE FSGSBASE [PCIDE]. */
uint64_t vmm_cr4_value(const struct vmm_platform *p);

/* Exit kinds counted by the statistics (sjmp-run --stats). */
enum vmm_exit_kind {
	VMM_EXIT_SYSCALL,
	VMM_EXIT_TRAP,
	VMM_EXIT_BOOT,
	VMM_EXIT_INTR,   /* KVM_RUN -EINTR: a host signal */
	VMM_EXIT_EFAULT, /* KVM_RUN -EFAULT: the guest touched a host hole */
	VMM_EXIT_OTHER,
	VMM_EXIT_KINDS
};

#define VMM_NSYSCALLS 512

/** struct vmm_stats - counters of one vCPU (summed over vCPUs by vmm_stats_print). */
struct vmm_stats {
	uint64_t exits[VMM_EXIT_KINDS];
	uint64_t traps[SJMP_IDT_VECTORS];
	uint64_t syscalls[VMM_NSYSCALLS];
	uint64_t host_tsc; /* TSC ticks between KVM_RUN returning and being called again */
	uint64_t run_tsc;  /* TSC ticks inside KVM_RUN (guest time plus exit costs) */
};

/* Room for signals taken by the host stub and not yet delivered into the guest. */
#define VMM_SIGQ_LEN 64

/* One signal instance taken by the host stub (vmm/signal.c). */
struct vmm_sigq_entry {
	uint64_t seq; /* arrival order */
	int used;     /* set by the stub once filled, cleared by the run loop once taken */
	siginfo_t info;
};

/*
 * Signals the host stub took for the vCPU and the run loop has not delivered yet (vmm/signal.c).
 * Real-time signals keep one entry per instance (they queue, signal(7)); a standard signal keeps
 * at most one (further instances coalesce, as in the kernel's pending set).
 */
struct vmm_sigpending {
	unsigned count; /* entries in use */
	uint64_t seq;   /* last arrival number */
	uint64_t held;  /* bit (sig - 1): left blocked in the kernel because q was full */
	struct vmm_sigq_entry q[VMM_SIGQ_LEN];
};

/**
 * struct vmm_vcpu - one vCPU and the host thread that runs it. Lives in its own mapping:
 * [struct][percpu page][GDT/IDT/TSS page][IST stacks][guard][host stack][xsave buffer].
 */
struct vmm_vcpu {
	int id;
	int fd;
	bool in_use;
	bool cpuid_set;
	int tid;
	struct kvm_run *run;
	size_t map_size;
	struct sjmp_guest_percpu *percpu;
	uint64_t *gdt;
	uint8_t *idt;
	uint8_t *tss;
	uint8_t *ist_top[SJMP_IST_STACKS];
	uint8_t *host_stack_top;
	uint8_t *xsave; /* struct kvm_xsave of platform.xsave_size bytes */
	/* State the vCPU starts from (vmm_vcpu_start). */
	struct kvm_regs start_regs;
	uint64_t start_fs_base;
	bool start_xsave_valid;
	/* Statistics. */
	struct vmm_stats stats;
	uint64_t tsc_mark;
	/* Signals (vmm/signal.c). */
	struct vmm_sigpending pending;
	volatile int in_guest_mode;
	uint64_t efault_rip, efault_rsp; /* last EFAULT, to never spin on one */
	/* TLB shootdown (vmm_root_shootdown). */
	int in_run;      /* 1 from just before the reload check to KVM_RUN's return */
	int reload;      /* 1: reload CR3 before running more of the program */
	int kicked;      /* the kick signal arrived since the last forwarded call */
	uint64_t pf_rip; /* last zone #PF retried with a CR3 reload, to never spin on one */
	uint64_t pf_addr;
};

/** struct vmm_slot - one memslot: guest-physical [gpa, gpa + len) -> host [hva, hva + len). */
struct vmm_slot {
	uint64_t gpa;
	uint64_t hva;
	uint64_t len;
};

/* Options from the environment of sjmp-run (SJMP_RUN_STATS=1 ...). */
struct vmm_options {
	bool stats;
};

/** struct vmm - the process's VM (one per process; rebuilt in a fork child). */
struct vmm {
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	struct vmm_platform plat;
	struct vmm_options opt;
	int lock; /* spin lock: chunks, slots, pool, vCPU table */
	/* Common region. */
	uint32_t *chunk_slot;   /* per host chunk: memslot number + 1, 0 = not covered */
	struct vmm_slot *slots; /* per memslot (re-registered in a fork child's new VM) */
	uint32_t nslots;
	uint32_t max_slots;
	uint64_t next_gpa;
	uint64_t gpa_limit;
	struct guest_pt_pool pool;
	uint64_t root; /* the primary root */
	uint64_t vif_gpa;
	void *vif_page;
	/* vCPUs. */
	struct vmm_vcpu *vcpus[SJMP_MAX_VCPUS];
	int nvcpus;
	/* kvm_cpuid2 set on every vCPU. */
	struct kvm_cpuid2 *cpuid;
	uint64_t host_xcr0;
	uint64_t tsc_per_us; /* TSC ticks per microsecond: calibrated for --stats only, else 1 */
	uint64_t start_tsc;
	uint64_t stack_lo;    /* lowest address of the main stack's VMA as last seen */
	uint64_t stack_hi;    /* end of the main stack's VMA */
	uint64_t stack_max;   /* RLIMIT_STACK */
	char report_dir[256]; /* SJMP_RUN_REPORT: one record per process at exit (compat suite) */
	char preload[256];    /* SJMP_RUN_PRELOAD: kept in LD_PRELOAD across execve */
	int stats_fd;         /* protected copy of stderr for --stats */
	int vmm_fd_min;       /* the VMM's descriptors are >= this; protected from close/dup2 */
};

/** vmm_get() - the process's VM, or NULL before vmm_init succeeded. Async-signal-safe. */
struct vmm *vmm_get(void);

/**
 * vmm_init() - create the process's VM once: open /dev/kvm, create the VM, decide the platform,
 * build the common region (chunks of every current mapping) and the primary root.
 * Return: 0, or -ENODEV (/dev/kvm missing), -EACCES (no permission), -ENOSYS (KVM API version
 * or a needed capability missing), -ENOMEM, -EIO (an ioctl failed; the log names it).
 * Context: sjmp_enter(), before the calling thread enters guest mode.
 */
int vmm_init(void);

/**
 * vmm_cover() - make sure the host range [@va, @va + @len) is in the common region: every chunk
 * it touches gets guest-physical space, a memslot and page-table entries.
 * Return: 0, or -ENOSPC (no guest-physical space or memslots left), -ENOMEM (page-table pool),
 * -EIO (KVM_SET_USER_MEMORY_REGION failed). Ranges in the segment zone or above 2^47 are skipped.
 * Context: any thread, also the host run loop (raw system calls only).
 */
int vmm_cover(uint64_t va, uint64_t len);

/**
 * vmm_cover_new_mapping() - vmm_cover() for a mapping the host just made (forwarded mmap or
 * mremap): all of it up to SJMP_COVER_EAGER_MAX, otherwise only its first chunk (the rest is
 * covered where the guest first touches it).
 * Return: as vmm_cover(). Context: as vmm_cover().
 */
int vmm_cover_new_mapping(uint64_t va, uint64_t len);

/** vmm_covered() - whether @va is in a chunk of the common region. Async-signal-safe. */
bool vmm_covered(uint64_t va);

/**
 * vmm_vcpu_create() - take a vCPU from the pool, or create one, with its memory, GDT, IDT, TSS,
 * CPUID, control registers and MSRs set for guest mode (SDM 9.8.5 "Initializing IA-32e Mode").
 * Return: the vCPU, or NULL (the log says why).
 * Context: any thread; raw system calls only when @quiet (run loop).
 */
struct vmm_vcpu *vmm_vcpu_create(struct vmm *vm);

/** vmm_vcpu_release() - give a vCPU back to the pool (its thread is exiting). */
void vmm_vcpu_release(struct vmm *vm, struct vmm_vcpu *vcpu);

/**
 * vmm_vcpu_setup_arch() - set CPUID, sregs, MSRs, XCRs and FPU state of a fresh vCPU
 * (kvm_x86_64.c). Return: 0 or -errno (the failing ioctl is logged).
 */
int vmm_vcpu_setup_arch(struct vmm *vm, struct vmm_vcpu *vcpu);

/** vmm_host_xsave() - XSAVE the calling host thread's FPU state into @buf (standard format, as
 * struct kvm_xsave; SDM Vol. 1 13.4). */
void vmm_host_xsave(struct vmm *vm, void *buf);

/**
 * vmm_platform_probe() - decide the platform without building a VM (sjmp-run --info).
 * Return: 0, or the errors of opening /dev/kvm (-ENODEV, -EACCES) and KVM_GET_SUPPORTED_CPUID.
 */
int vmm_platform_probe(struct vmm_platform *p);

/** vmm_platform_detect() - fill vm->plat, vm->cpuid (patched) and vm->host_xcr0. */
int vmm_platform_detect(struct vmm *vm);

/**
 * vmm_run() - the host run loop of one vCPU; never returns. Starts the guest at guest_boot
 * with vcpu->start_regs as the continuation.
 */
__attribute__((noreturn)) void vmm_run(struct vmm_vcpu *vcpu);

/**
 * vmm_kvm_stat() - read KVM's own statistic @name (KVM_GET_STATS_FD, e.g. "exits", "io_exits")
 * of the calling thread's vCPU. Return: 0, -EPERM (not in guest mode), -ENOENT (no such stat),
 * -EIO. Context: guest mode.
 */
int vmm_kvm_stat(const char *name, uint64_t *val);

/**
 * vmm_kvm_stats_add() - add KVM's statistics @names[0..@n) of a VM or vCPU (@kvm_object_fd: the VM
 * fd or a vCPU fd) to @vals[0..@n) (KVM_GET_STATS_FD). Names KVM does not have are left as they
 * are. Return: how many names were found, or -errno (-EIO: a short read of the stats file).
 * Context: any (raw system calls, no allocation).
 */
int vmm_kvm_stats_add(int kvm_object_fd, const char *const *names, uint64_t *vals, int n);

/** vmm_exit_record() - write this process's record into SJMP_RUN_REPORT (raw calls). */
void vmm_exit_record(struct vmm *vm, int status);

/** vmm_stats_print() - write the statistics to @fd (raw write; used at exit). */
void vmm_stats_print(struct vmm *vm, int fd);

/** vmm_lock()/vmm_unlock() - the VM's spin lock (no futex, no errno: usable in the run loop). */
void vmm_lock(struct vmm *vm);
void vmm_unlock(struct vmm *vm);

/** vmm_syscall_name() - name of x86-64 system call @nr, or NULL. */
const char *vmm_syscall_name(unsigned nr);

/* Guest entry points (guest/entry_x86_64.S). */
extern char guest_stubs_start[], guest_stubs_end[], guest_boot[], guest_syscall_entry[],
    guest_trap_stubs[], guest_reload_cr3[];

/*
 * The signal that kicks a vCPU out of KVM_RUN (vmm_root_shootdown). The VMM keeps its own host
 * handler for it and never lets the program block it on the host; the program may still use
 * it (its handler runs for every instance not sent by the VMM, which tags its own with
 * SI_QUEUE and VMM_KICK_MAGIC).
 */
#define VMM_KICK_SIGNAL 64         /* SIGRTMAX */
#define VMM_KICK_MAGIC  0x736a6d70 /* "sjmp" */

/* Host-side assembly (vmm/switch_x86_64.S). */
/** vmm_switch_to_guest() - save callee-saved registers, start vmm_run on the vCPU's host stack;
 * returns 0 in guest mode. */
int vmm_switch_to_guest(struct vmm_vcpu *vcpu, void *host_stack_top);

/** vmm_run_first() - called by vmm_switch_to_guest on the host stack: the guest continues at
 * @rip with @rsp and the caller's callee-saved registers on its stack. */
__attribute__((noreturn)) void vmm_run_first(struct vmm_vcpu *vcpu, void *unused, uint64_t rsp,
                                             uint64_t rip);

/** vmm_self() - the calling thread's vCPU, or NULL in host mode. */
struct vmm_vcpu *vmm_self(void);

/* ---------------------------------------------------------------------------------------- */
/* Page-table roots for the kvm backend of libsjmp (designed for issue 4; unused yet).        */

/**
 * vmm_root_create() - a new page-table root sharing the common region's PDPTs, with the segment
 * zone's PML4 slots (SJMP_ZONE_PML4_FIRST..END) empty and private.
 * Return: 0 and *@root (a guest-physical address), or -ENOMEM (pool exhausted).
 */
int vmm_root_create(uint64_t *root);

/**
 * vmm_memslot_add() - register host memory [@hva, @hva + @len) as guest-physical memory.
 * Return: 0 and *@gpa, or -EINVAL (unaligned), -ENOSPC (no GPA space or slots), -EIO.
 */
int vmm_memslot_add(uint64_t hva, uint64_t len, uint64_t *gpa);

/**
 * vmm_root_map() - in @root, map zone range [@va, @va + @len) onto guest-physical [@gpa, ...).
 * @perm: GUEST_PT_RW | GUEST_PT_NX. Return: 0, -ERANGE (@va outside the segment zone), -ENOMEM,
 * -EINVAL. The caller flushes (vmm_root_load with noflush = false) before relying on a change.
 */
int vmm_root_map(uint64_t root, uint64_t va, uint64_t len, uint64_t gpa, uint64_t perm);

/** vmm_root_unmap() - clear zone range [@va, @va + @len) in @root. Return: 0, -ERANGE, -EINVAL. */
int vmm_root_unmap(uint64_t root, uint64_t va, uint64_t len);

/**
 * vmm_root_load() - in guest mode, make @root the calling thread's page-table root: `mov %cr3`
 * with the PCID and no-flush bit where the platform has PCIDs (SDM 4.10.4.1). One in-kernel exit
 * on kvm_pvm (about 8 us, platform.md), none on VMX/SVM.
 * Return: 0, or -EPERM when the caller is not in guest mode.
 */
int vmm_root_load(uint64_t root, unsigned pcid, bool noflush);

/**
 * vmm_root_shootdown() - make every OTHER vCPU whose current root is @root drop its cached
 * translations of @root: each reloads CR3 (guest_reload_cr3) before it executes more of the
 * program. A vCPU inside KVM_RUN is kicked out with VMM_KICK_SIGNAL (platform.md: a host signal
 * ends KVM_RUN with EINTR in 12-21 us) and the call waits until it has left KVM_RUN; a vCPU in
 * the host run loop reloads before its next KVM_RUN without being waited for. Needed after a
 * mapping in @root is removed or weakened: on kvm_pvm a guest page-table store takes effect for
 * a vCPU only at its next invlpg or CR3 load (platform.md); on VMX/SVM, SDM Vol. 3A 4.10.4.
 * Adding a mapping needs no shootdown: a stale not-present entry faults (#PF) and the run loop
 * reloads CR3 and retries when the current root maps the address.
 * @root: guest-physical address of the PML4 (PCID bits are ignored).
 * Return: the number of vCPUs sent to reload (>= 0), or -ENODEV (no VM).
 * Context: any thread, guest mode or not, after the page-table change (it orders its reads of
 * the other vCPUs' roots after the caller's stores). Does not take the VM lock.
 */
int vmm_root_shootdown(uint64_t root);

/* ---------------------------------------------------------------------------------------- */
/* One copy of the library per process (enter.c).                                            */

/**
 * vmm_other_copy_entered() - whether another copy of libsjmp in this process (sjmp-run's
 * preload, a static copy, libsjmp.so) already entered guest mode: a marker page at
 * SJMP_GUEST_MARKER_VA that the entering copy maps (it survives fork, as guest mode does, and
 * disappears at execve, as guest mode does) while this copy has no VM. Async-signal-safe.
 */
bool vmm_other_copy_entered(void);

#endif
