/* SPDX-License-Identifier: MIT */
/*
 * backend_kvm.c - the kvm backend: VASes as page-table roots in guest mode (DESIGN.md section 2).
 *
 * The process runs in KVM guest ring 0 (vmm/), where the library may load CR3 itself:
 * - every attached VAS is a root (vmm_root_create) that shares the common region's upper-level
 *   tables with the primary root and has private PML4 entries for the segment zone;
 * - every open segment's file is mapped once in the host, outside the zone (the "shadow", host
 *   side only, prefaulted up to 256 MiB), and registered as guest-physical memory
 * (vmm_memslot_add); a root maps the segment's fixed base onto that guest-physical range, with 2
 * MiB pages where the alignment allows;
 * - a switch loads the target root's CR3 on the calling thread's own vCPU: no system call and no
 *   exit to the VMM (on kvm_pvm the CR3 load itself traps into the host kernel, platform.md),
 *   with the PCID and the no-flush bit where the CPU has PCIDs (SDM Vol. 3A 4.10.4.1).
 * Threads each have a vCPU, so two threads of one process can be in two VASes at once.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "pt.h"
#include "vmm.h"

/* Segments up to this size are prefaulted in the host when a process opens them (seg_open). */
#define KVM_PREFAULT_MAX (256UL << 20)

struct kvm_seg {
	void *shadow; /* host mapping of the data file, outside the zone */
	uint64_t gpa; /* where the VM sees it */
};

struct kvm_inst {
	uint64_t root; /* guest-physical address of the PML4 */
	unsigned pcid; /* 0 when the platform has no PCIDs */
};

static struct kvm_inst primary; /* the root vmm_init built */
static unsigned next_pcid = 1;
static bool have_pcid;

static int kvm_init(void)
{
	if (!vmm_self()) {
		/* Not in guest mode yet: enter now (possible while single-threaded). */
		int r = sjmp_enter();
		if (r < 0)
			return r;
	}
	struct vmm *vm = vmm_get();
	if (!vm)
		return -ENODEV;
	primary.root = vm->root;
	have_pcid = vm->plat.pcid;
	if (have_pcid)
		sjmp__backend_kvm.caps |= SJMP_CAP_PCID;
	return 0;
}

static struct kvm_inst *inst_of(struct sjmp__inst *in)
{
	return in->backend_priv ? in->backend_priv : &primary;
}

static int seg_open(struct sjmp__seg *s)
{
	struct kvm_seg *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	int prot = PROT_READ | (s->writable ? PROT_WRITE : 0);
	/*
	 * Prefault small segments only. A first touch costs the guest one exit either way on
	 * kvm_pvm, and the host a minor fault where the mapping was not prefaulted (the file's
	 * pages exist: allocated at creation). Prefaulting pays for the whole segment in every
	 * process that opens it: worth it for a segment the process will mostly touch, not for a
	 * large one read in part. Measured here: a 64 MiB segment switched into and touched at 64
	 * random lines, 5 us per round prefaulted, 45 us not (median over the first 2000 rounds,
	 * mostly first touches); a 1.6 GB SAM store, flagstat 0.34 s prefaulted, 0.16 s not,
	 * idxstats 0.22 s and 0.01 s, full scans the same either way.
	 */
	int populate = s->size <= KVM_PREFAULT_MAX ? MAP_POPULATE : 0;
	k->shadow = mmap(NULL, s->size, prot, MAP_SHARED | populate, s->data_fd, 0);
	if (k->shadow == MAP_FAILED) {
		int e = errno;
		free(k);
		return sjmp__fail(e, "kvm backend: mapping a segment in the host",
		                  "\"%s\" (%zu bytes): check memory limits", s->name, s->size);
	}
	int r = vmm_memslot_add((uint64_t)k->shadow, s->size, &k->gpa);
	if (r < 0) {
		munmap(k->shadow, s->size);
		free(k);
		return sjmp__fail(r, "kvm backend: registering a segment with the VM",
		                  "no guest-physical space or memslot left for \"%s\"; detach "
		                  "segments or use SJMP_BACKEND=mmap",
		                  s->name);
	}
	s->backend_priv = k;
	return 0;
}

static void seg_close(struct sjmp__seg *s)
{
	struct kvm_seg *k = s->backend_priv;
	if (!k)
		return;
	/* The memslot stays (KVM cannot shrink the guest-physical space we handed out); the
	 * host pages go, and no root maps the range any more. */
	munmap(k->shadow, s->size);
	free(k);
	s->backend_priv = NULL;
}

static int inst_create(struct sjmp__inst *in)
{
	struct kvm_inst *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	int r = vmm_root_create(&k->root);
	if (r < 0) {
		free(k);
		return sjmp__fail(r, "vas_attach: page-table root",
		                  "the VM's page-table pool is exhausted; detach VASes");
	}
	/* PCID 0 is the primary VAS; the others get their own tag while they last (4095),
	 * then share tags, which only costs flushes (SDM 4.10.1). */
	if (have_pcid) {
		k->pcid = next_pcid;
		next_pcid = next_pcid == 4095 ? 1 : next_pcid + 1;
	}
	in->backend_priv = k;
	return 0;
}

static void inst_destroy(struct sjmp__inst *in)
{
	/* Roots come from a bump pool and are not reused: the root's zone entries were cleared
	 * by inst_unmap of every segment. */
	free(in->backend_priv);
	in->backend_priv = NULL;
}

/* The calling thread reloads its root so that its TLB (kvm_pvm: its shadow page tables) follows
 * a change of the root it is in. */
static void refresh_self(struct sjmp__inst *in)
{
	if (in == sjmp__thread_inst()) {
		struct kvm_inst *k = inst_of(in);
		vmm_root_load(k->root, k->pcid, false);
	}
}

static int inst_map(struct sjmp__inst *in, const struct sjmp__attachment *a)
{
	const struct sjmp__seg *s = a->seg;
	const struct kvm_seg *ks = s->backend_priv;
	uint64_t perm =
	    (a->prot & SJMP_WRITE ? GUEST_PT_RW : 0) | (a->prot & SJMP_EXEC ? 0 : GUEST_PT_NX);
	int r = vmm_root_map(inst_of(in)->root, s->base, s->size, ks->gpa, perm);
	if (r < 0) {
		vmm_root_unmap(inst_of(in)->root, s->base, s->size);
		return sjmp__fail(r, "attaching a segment: page tables",
		                  "the VM's page-table pool is exhausted");
	}
	/* Other threads in this VAS need nothing: a translation they cached as not present
	 * faults, and the VMM reloads their CR3 when the root now maps the address. */
	refresh_self(in);
	return 0;
}

static void inst_unmap(struct sjmp__inst *in, const struct sjmp__attachment *a)
{
	struct kvm_inst *k = inst_of(in);
	vmm_root_unmap(k->root, a->seg->base, a->seg->size);
	/* With PCIDs, threads elsewhere may still hold translations tagged with this VAS's
	 * PCID: give it a fresh one so no later switch (no-flush) finds them (SDM Vol. 3A
	 * 4.10.4.1). The primary VAS keeps PCID 0 and relies on the reload below. */
	if (have_pcid && k != &primary) {
		k->pcid = next_pcid;
		next_pcid = next_pcid == 4095 ? 1 : next_pcid + 1;
	}
	refresh_self(in);
	/* Threads in this VAS now: reload CR3 before they run on (they would keep reading the
	 * old segment through cached translations, platform.md). */
	vmm_root_shootdown(k->root);
}

static int activate(struct sjmp__inst *from, struct sjmp__inst *to)
{
	(void)from;
	struct kvm_inst *k = inst_of(to);
	return vmm_root_load(k->root, k->pcid, have_pcid);
}

struct sjmp__backend sjmp__backend_kvm = {
    .name = "kvm",
    .kind = SJMP_BACKEND_KVM,
    .caps = SJMP_CAP_PER_THREAD_VAS | SJMP_CAP_NO_SYSCALL_SWITCH, /* | PCID: set by init */
    .init = kvm_init,
    .seg_open = seg_open,
    .seg_close = seg_close,
    .inst_create = inst_create,
    .inst_destroy = inst_destroy,
    .inst_map = inst_map,
    .inst_unmap = inst_unmap,
    .activate = activate,
};
