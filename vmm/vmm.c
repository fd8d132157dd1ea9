/* SPDX-License-Identifier: MIT */
/*
 * vmm.c - the process's VM: /dev/kvm, the common region (chunks, memslots, page tables), the
 * vCPU pool and the page-table-root API. Paths reachable from the host run loop use raw system
 * calls only (sys_x86_64.h): the run loop shares errno, TLS and the heap with the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sjmp.h"
#include "sys_x86_64.h"
#include "vmm.h"

/* The zone's PML4 slots are written out in guest/layout.h: keep them equal to the API's zone. */
_Static_assert(SJMP_ZONE_PML4_FIRST == SJMP_ZONE_BASE >> 39, "zone PML4 slots");
_Static_assert(SJMP_ZONE_PML4_END == (SJMP_ZONE_BASE + SJMP_ZONE_SIZE) >> 39, "zone PML4 slots");
#include "vmm_internal.h"
#include "x86_64_hw.h"

static struct vmm *g_vm;

struct vmm *vmm_get(void)
{
	return __atomic_load_n(&g_vm, __ATOMIC_ACQUIRE);
}

void vmm_lock(struct vmm *vm)
{
	while (__atomic_exchange_n(&vm->lock, 1, __ATOMIC_ACQUIRE))
		vmm_sys0(SYS_sched_yield);
}

void vmm_unlock(struct vmm *vm)
{
	__atomic_store_n(&vm->lock, 0, __ATOMIC_RELEASE);
}

static void *raw_mmap(size_t len, int prot, int flags)
{
	long r = vmm_sys6(SYS_mmap, 0, (long)len, prot, flags, -1, 0);
	return r < 0 && r > -4096 ? NULL : (void *)r;
}

static bool in_zone(uint64_t chunk)
{
	uint64_t va = chunk << SJMP_CHUNK_SHIFT;
	return va >= SJMP_ZONE_BASE && va < SJMP_ZONE_BASE + SJMP_ZONE_SIZE;
}

bool vmm_covered(uint64_t va)
{
	struct vmm *vm = vmm_get();
	if (!vm || va >= SJMP_USER_VA_TOP)
		return false;
	return __atomic_load_n(&vm->chunk_slot[va >> SJMP_CHUNK_SHIFT], __ATOMIC_ACQUIRE) != 0;
}

/* Register memslot @slot: guest-physical [gpa, gpa+len) -> host [hva, hva+len). Raw ioctl. */
int vmm_slot_set(struct vmm *vm, uint32_t slot, uint64_t gpa, uint64_t hva, uint64_t len)
{
	struct kvm_userspace_memory_region r = {
	    .slot = slot,
	    .guest_phys_addr = gpa,
	    .memory_size = len,
	    .userspace_addr = hva,
	};
	long e = vmm_sys3(SYS_ioctl, vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
	return (int)e;
}

/* Take guest-physical space and a memslot for host [hva, hva+len); lock held. */
static int slot_add_locked(struct vmm *vm, uint64_t hva, uint64_t len, uint64_t *gpa)
{
	if (vm->nslots >= vm->max_slots || vm->next_gpa + len > vm->gpa_limit)
		return -ENOSPC;
	uint32_t slot = vm->nslots;
	/* The kernel's TASK_SIZE_MAX is 2^47 - 4 KiB: the last page of the user half has no slot.
	 */
	uint64_t slen = hva + len > SJMP_USER_VA_TOP - X86_PAGE_SIZE
	                    ? SJMP_USER_VA_TOP - X86_PAGE_SIZE - hva
	                    : len;
	int r = vmm_slot_set(vm, slot, vm->next_gpa, hva, slen);
	if (r < 0)
		return r;
	vm->slots[slot] = (struct vmm_slot){.gpa = vm->next_gpa, .hva = hva, .len = slen};
	*gpa = vm->next_gpa;
	vm->next_gpa += len;
	vm->nslots++;
	return 0;
}

static int roots_propagate(struct vmm *vm, uint64_t va);

/* Give chunk @c a memslot (and page tables when @map). Lock held. */
static int chunk_add_locked(struct vmm *vm, uint64_t c, bool map)
{
	if (vm->chunk_slot[c])
		return 0;
	uint64_t va = c << SJMP_CHUNK_SHIFT, gpa;
	int r = slot_add_locked(vm, va, SJMP_CHUNK_SIZE, &gpa);
	if (r < 0)
		return r;
	if (map) {
		r = guest_pt_map(&vm->pool, vm->root, va, gpa, SJMP_CHUNK_SIZE, GUEST_PT_RW);
		if (r < 0)
			return r;
		roots_propagate(vm, va);
	}
	__atomic_store_n(&vm->chunk_slot[c], vm->nslots, __ATOMIC_RELEASE);
	return 0;
}

int vmm_cover(uint64_t va, uint64_t len)
{
	struct vmm *vm = vmm_get();
	if (!vm)
		return -ENODEV;
	if (va >= SJMP_USER_VA_TOP || !len)
		return 0;
	uint64_t end = va + len < va || va + len > SJMP_USER_VA_TOP ? SJMP_USER_VA_TOP : va + len;
	int r = 0;
	vmm_lock(vm);
	for (uint64_t c = va >> SJMP_CHUNK_SHIFT; c <= (end - 1) >> SJMP_CHUNK_SHIFT && !r; c++)
		if (!in_zone(c))
			r = chunk_add_locked(vm, c, true);
	vmm_unlock(vm);
	return r;
}

int vmm_cover_new_mapping(uint64_t va, uint64_t len)
{
	return vmm_cover(va, len > SJMP_COVER_EAGER_MAX ? 1 : len);
}

/* ---- page-table roots ---- */

#define VMM_MAX_ROOTS 1024
static uint64_t g_roots[VMM_MAX_ROOTS];
static unsigned g_nroots;

/* A PML4 entry of the primary root appeared: copy it into every other root (lock held). */
static int roots_propagate(struct vmm *vm, uint64_t va)
{
	unsigned i = (va >> 39) & 511;
	uint64_t *src = guest_pt_table(&vm->pool, vm->root);
	for (unsigned k = 0; k < g_nroots; k++) {
		uint64_t *t = guest_pt_table(&vm->pool, g_roots[k]);
		if (t && !t[i])
			t[i] = src[i];
	}
	return 0;
}

int vmm_root_create(uint64_t *root)
{
	struct vmm *vm = vmm_get();
	if (!vm)
		return -ENODEV;
	vmm_lock(vm);
	int r = g_nroots >= VMM_MAX_ROOTS
	            ? -ENOMEM
	            : guest_pt_root_share(&vm->pool, vm->root, SJMP_ZONE_PML4_FIRST,
	                                  SJMP_ZONE_PML4_END, root);
	if (!r)
		g_roots[g_nroots++] = *root;
	vmm_unlock(vm);
	return r;
}

int vmm_memslot_add(uint64_t hva, uint64_t len, uint64_t *gpa)
{
	struct vmm *vm = vmm_get();
	if (!vm)
		return -ENODEV;
	if ((hva | len) & (X86_PAGE_SIZE - 1) || !len)
		return -EINVAL;
	/* Keep 2 MiB alignment of the guest-physical space for large pages. */
	vmm_lock(vm);
	vm->next_gpa = (vm->next_gpa + X86_LARGE_SIZE - 1) & ~(X86_LARGE_SIZE - 1);
	int r = slot_add_locked(vm, hva, len, gpa);
	vmm_unlock(vm);
	return r;
}

static bool zone_range(uint64_t va, uint64_t len)
{
	return va >= SJMP_ZONE_BASE && len <= SJMP_ZONE_SIZE &&
	       va - SJMP_ZONE_BASE <= SJMP_ZONE_SIZE - len;
}

int vmm_root_map(uint64_t root, uint64_t va, uint64_t len, uint64_t gpa, uint64_t perm)
{
	struct vmm *vm = vmm_get();
	if (!vm)
		return -ENODEV;
	if (!zone_range(va, len))
		return -ERANGE;
	vmm_lock(vm);
	int r = guest_pt_map(&vm->pool, root, va, gpa, len, perm);
	vmm_unlock(vm);
	return r;
}

int vmm_root_unmap(uint64_t root, uint64_t va, uint64_t len)
{
	struct vmm *vm = vmm_get();
	if (!vm)
		return -ENODEV;
	if (!zone_range(va, len))
		return -ERANGE;
	vmm_lock(vm);
	int r = guest_pt_unmap(&vm->pool, root, va, len);
	vmm_unlock(vm);
	return r;
}

int vmm_root_load(uint64_t root, unsigned pcid, bool noflush)
{
	struct vmm *vm = vmm_get();
	struct vmm_vcpu *v = vmm_self();
	if (!vm || !v)
		return -EPERM;
	uint64_t cr3 = vmm_cr3_encode(root, pcid, noflush, vm->plat.pcid);
	/* Published before the load (which serialises, SDM Vol. 3A 9.3): a shootdown that misses
	 * this store ran its page-table stores before our load, which then sees them. */
	__atomic_store_n(&v->percpu->cur_cr3, cr3, __ATOMIC_SEQ_CST);
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	return 0;
}

/* Send @v the kick: KVM_RUN returns EINTR (or does not start: the handler sets immediate_exit). */
static void kick(struct vmm_vcpu *v)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	si.si_signo = VMM_KICK_SIGNAL;
	si.si_code = SI_QUEUE;
	si.si_pid = (pid_t)vmm_sys0(SYS_getpid);
	si.si_uid = (uid_t)vmm_sys0(SYS_getuid);
	si.si_value.sival_int = VMM_KICK_MAGIC;
	vmm_sys4(SYS_rt_tgsigqueueinfo, si.si_pid, v->tid, VMM_KICK_SIGNAL, &si);
}

int vmm_root_shootdown(uint64_t root)
{
	struct vmm *vm = vmm_get();
	struct vmm_vcpu *self = vmm_self();
	if (!vm)
		return -ENODEV;
	root &= X86_PTE_ADDR;
	/* The caller's page-table stores before our reads of the vCPUs' roots (Dekker with
	 * vmm_root_load, and with in_run/reload in the run loop). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	struct vmm_vcpu *wait[SJMP_MAX_VCPUS];
	int nwait = 0, sent = 0;
	int n = __atomic_load_n(&vm->nvcpus, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++) {
		struct vmm_vcpu *v = vm->vcpus[i];
		if (!v || v == self || !__atomic_load_n(&v->in_use, __ATOMIC_ACQUIRE))
			continue;
		if ((__atomic_load_n(&v->percpu->cur_cr3, __ATOMIC_SEQ_CST) & X86_PTE_ADDR) != root)
			continue;
		__atomic_store_n(&v->reload, 1, __ATOMIC_SEQ_CST);
		sent++;
		if (__atomic_load_n(&v->in_run, __ATOMIC_SEQ_CST)) {
			kick(v);
			wait[nwait++] = v;
		}
	}
	/* A vCPU that left KVM_RUN checks `reload` before entering it again. */
	for (int k = 0; k < nwait; k++) {
		struct vmm_vcpu *v = wait[k];
		for (unsigned spin = 1; __atomic_load_n(&v->reload, __ATOMIC_SEQ_CST) &&
		                        __atomic_load_n(&v->in_run, __ATOMIC_SEQ_CST) &&
		                        __atomic_load_n(&v->in_use, __ATOMIC_ACQUIRE);
		     spin++) {
			vmm_sys0(SYS_sched_yield);
			if (!(spin % 1024))
				kick(v); /* belt and braces: never wait on a lost wake-up */
		}
	}
	return sent;
}

/* ---- initialisation ---- */

/* Move @fd to the protected range (>= vm->vmm_fd_min), close-on-exec. */
static int fd_protect(struct vmm *vm, int fd)
{
	if (fd < 0 || fd >= vm->vmm_fd_min)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, vm->vmm_fd_min);
	if (nfd < 0)
		return fd;
	close(fd);
	return nfd;
}

/* Cover every current mapping (from /proc/self/maps) and the stack's growth range. */
static int cover_current_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return sjmp__fail(errno, "open /proc/self/maps", "mount /proc");
	char line[512];
	int r = 0;
	struct rlimit rl;
	uint64_t stack_rl = getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
	                        ? rl.rlim_cur
	                        : (64UL << 20);
	if (stack_rl > (1UL << 30))
		stack_rl = 1UL << 30;
	while (!r && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (lo >= SJMP_USER_VA_TOP) /* [vsyscall]: emulated by the host kernel */
			continue;
		if (hi - lo > SJMP_COVER_EAGER_MAX) /* covered lazily on first touch */
			continue;
		if (strstr(line, "[stack]")) {
			vmm_get()->stack_lo = lo;
			vmm_get()->stack_hi = hi;
			vmm_get()->stack_max = stack_rl;
			lo = hi - stack_rl < lo ? hi - stack_rl : lo;
		}
		r = vmm_cover(lo, hi - lo);
		if (r < 0)
			sjmp__log(SJMP_LOG_ERROR, "cannot cover %lx-%lx: %s", lo, hi,
			          sjmp__errname(r));
	}
	fclose(f);
	if (r < 0)
		return sjmp__fail(r, "cover the process's mappings (KVM_SET_USER_MEMORY_REGION)",
		                  r == -ENOSPC
		                      ? "too many scattered mappings for the guest-physical "
		                        "space"
		                      : "see dmesg");
	return 0;
}

static void vmm_free(struct vmm *vm)
{
	if (!vm)
		return;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->chunk_slot)
		munmap(vm->chunk_slot, SJMP_NCHUNKS * sizeof(uint32_t));
	if (vm->pool.hva)
		munmap(vm->pool.hva, SJMP_PT_POOL_SIZE);
	munmap(vm, sizeof(*vm) + 4096 + 256 * sizeof(struct kvm_cpuid_entry2));
}

static uint64_t tsc_calibrate(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	uint64_t t0 = vmm_rdtsc();
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 2000000);
	uint64_t t1 = vmm_rdtsc();
	uint64_t ns = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
	uint64_t per_us = (t1 - t0) * 1000 / ns;
	return per_us ? per_us : 1;
}

static int vmm_create(struct vmm **out)
{
	size_t size = sizeof(struct vmm) + 4096 + 256 * sizeof(struct kvm_cpuid_entry2);
	struct vmm *vm =
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm == MAP_FAILED)
		return sjmp__fail(errno, "mmap VM state", "free memory");
	vm->kvm_fd = vm->vm_fd = -1;
	vm->cpuid = (struct kvm_cpuid2 *)((char *)vm + ((sizeof(*vm) + 63) & ~63UL));
	const char *st = getenv("SJMP_RUN_STATS");
	vm->opt.stats = st && *st == '1';
	int r;
	struct rlimit rl;
	vm->vmm_fd_min = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur > 64 && rl.rlim_cur <= 1032)
		vm->vmm_fd_min = (int)rl.rlim_cur - 32;

	const char *rep = getenv("SJMP_RUN_REPORT");
	if (rep && strlen(rep) < sizeof(vm->report_dir))
		strcpy(vm->report_dir, rep);
	const char *pre = getenv("SJMP_RUN_PRELOAD");
	if (pre && strlen(pre) < sizeof(vm->preload))
		strcpy(vm->preload, pre);
	vm->stats_fd = -1;
	if (vm->opt.stats) /* programs close stderr at exit (coreutils): keep a protected copy */
		vm->stats_fd = fcntl(2, F_DUPFD_CLOEXEC, vm->vmm_fd_min);
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = errno == ENOENT
		        ? sjmp__fail(ENODEV, "open /dev/kvm",
		                     "load kvm (modprobe kvm_intel, kvm_amd or kvm_pvm)")
		    : errno == EACCES
		        ? sjmp__fail(EACCES, "open /dev/kvm", "add the user to group kvm")
		        : sjmp__fail(errno, "open /dev/kvm", "check the device node");
		goto fail;
	}
	vm->kvm_fd = fd_protect(vm, vm->kvm_fd);
	if (ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		r = sjmp__fail(ENOSYS, "KVM_GET_API_VERSION",
		               "the kernel's KVM API is not version 12");
		goto fail;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) <= 0) {
		r = sjmp__fail(ENOSYS, "KVM_CAP_SYNC_REGS", "guest mode needs Linux >= 4.17");
		goto fail;
	}
	do
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	while (vm->vm_fd < 0 && errno == EINTR);
	if (vm->vm_fd < 0) {
		r = sjmp__fail(errno, "KVM_CREATE_VM", "check dmesg; free memory");
		goto fail;
	}
	vm->vm_fd = fd_protect(vm, vm->vm_fd);
	int rs = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (rs <= 0) {
		r = sjmp__fail(errno, "KVM_GET_VCPU_MMAP_SIZE", "KVM unusable");
		goto fail;
	}
	vm->run_size = (size_t)rs;
	r = vmm_platform_detect(vm);
	if (r < 0)
		goto fail;
	int ns = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	vm->max_slots = ns > 0 ? (uint32_t)ns : 32;
	if (vm->max_slots > 4096)
		vm->max_slots = 4096;
	vm->gpa_limit = 1UL << vm->plat.maxphyaddr;
	vm->next_gpa = SJMP_GPA_BASE;
	vm->chunk_slot = mmap(NULL, SJMP_NCHUNKS * sizeof(uint32_t), PROT_READ | PROT_WRITE,
	                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vm->slots = mmap(NULL, 4096 * sizeof(struct vmm_slot), PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *pool = mmap(NULL, SJMP_PT_POOL_SIZE, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vm->vif_page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->chunk_slot == MAP_FAILED || vm->slots == MAP_FAILED || pool == MAP_FAILED ||
	    vm->vif_page == MAP_FAILED) {
		r = sjmp__fail(ENOMEM, "mmap VM tables", "free memory");
		goto fail;
	}
	memset(vm->vif_page, 0, 4096);
	/* Only --stats converts TSC ticks to time; the calibration is a 2 ms busy wait, a third of
	 * the cost of entering guest mode, so nothing else pays it. */
	vm->tsc_per_us = vm->opt.stats ? tsc_calibrate() : 1;
	vm->start_tsc = vmm_rdtsc();
	*out = vm;
	/* The pool's own chunk first: its guest-physical address locates the tables. */
	uint64_t pc = (uint64_t)pool >> SJMP_CHUNK_SHIFT;
	__atomic_store_n(&g_vm, vm, __ATOMIC_RELEASE);
	vmm_lock(vm);
	r = chunk_add_locked(vm, pc, false);
	vmm_unlock(vm);
	if (r < 0) {
		r = sjmp__fail(r, "KVM_SET_USER_MEMORY_REGION", "check dmesg");
		goto fail_pub;
	}
	vm->pool = (struct guest_pt_pool){
	    .hva = pool,
	    .gpa = vm->slots[vm->chunk_slot[pc] - 1].gpa + ((uint64_t)pool & (SJMP_CHUNK_SIZE - 1)),
	    .npages = SJMP_PT_POOL_SIZE / X86_PAGE_SIZE,
	};
	if (!guest_pt_alloc(&vm->pool, &vm->root)) {
		r = -ENOMEM;
		goto fail_pub;
	}
	/* Map the pool's chunk now that the root exists. */
	r = guest_pt_map(&vm->pool, vm->root, pc << SJMP_CHUNK_SHIFT,
	                 vm->slots[vm->chunk_slot[pc] - 1].gpa, SJMP_CHUNK_SIZE, GUEST_PT_RW);
	if (r < 0)
		goto fail_pub;
	r = vmm_cover((uint64_t)pool, SJMP_PT_POOL_SIZE);
	if (r < 0)
		goto fail_pub;
	r = cover_current_maps();
	if (r < 0)
		goto fail_pub;
	uint64_t vif = (uint64_t)vm->vif_page;
	vm->vif_gpa = vm->plat.kind == VMM_HOST_PVM
	                  ? vm->slots[vm->chunk_slot[vif >> SJMP_CHUNK_SHIFT] - 1].gpa +
	                        (vif & (SJMP_CHUNK_SIZE - 1))
	                  : 0;
	return 0;
fail_pub:
	__atomic_store_n(&g_vm, NULL, __ATOMIC_RELEASE);
fail:
	vmm_free(vm);
	*out = NULL;
	return r;
}

int vmm_init(void)
{
	static int once_lock;
	if (vmm_get())
		return 0;
	while (__atomic_exchange_n(&once_lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
	struct vmm *vm = NULL;
	/* The segment zone's PML4 slots belong to the page-table roots: keep the host from ever
	 * placing a mapping there (it would be invisible to the guest). Done here, in host mode,
	 * because guest mode forwards no call that points into the zone; EEXIST means libsjmp's
	 * sjmp_init reserved it already (or something else is there, which sjmp_init reports). */
	void *zone = mmap((void *)SJMP_ZONE_BASE, SJMP_ZONE_SIZE, PROT_NONE,
	                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (zone != MAP_FAILED && zone != (void *)SJMP_ZONE_BASE)
		munmap(zone, SJMP_ZONE_SIZE); /* a kernel without MAP_FIXED_NOREPLACE */
	int r = vmm_get() ? 0 : vmm_create(&vm);
	__atomic_store_n(&once_lock, 0, __ATOMIC_RELEASE);
	return r;
}

/* ---- vCPUs ---- */

int vmm_vcpu_open(struct vmm *vm, struct vmm_vcpu *v)
{
	long fd = vmm_sys3(SYS_ioctl, vm->vm_fd, KVM_CREATE_VCPU, v->id);
	if (fd < 0)
		return (int)fd;
	if (fd < vm->vmm_fd_min) {
		long nfd = vmm_sys3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, vm->vmm_fd_min);
		if (nfd >= 0) {
			vmm_sys1(SYS_close, fd);
			fd = nfd;
		}
	}
	long run =
	    vmm_sys6(SYS_mmap, 0, (long)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run < 0 && run > -4096) {
		vmm_sys1(SYS_close, fd);
		return (int)run;
	}
	v->fd = (int)fd;
	v->run = (struct kvm_run *)run;
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	return 0;
}

static size_t vcpu_struct_size(void)
{
	return (sizeof(struct vmm_vcpu) + 4095) & ~4095UL;
}

static size_t vcpu_map_size(struct vmm *vm)
{
	return vcpu_struct_size() + 2 * 4096 + SJMP_IST_STACKS * SJMP_IST_STACK_SIZE + 4096 +
	       SJMP_HOST_STACK_SIZE + ((vm->plat.xsave_size + 4095) & ~4095UL);
}

struct vmm_vcpu *vmm_vcpu_create(struct vmm *vm)
{
	vmm_lock(vm);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *v = vm->vcpus[i];
		if (!v->in_use && (v->tid <= 0 || vmm_sys3(SYS_tgkill, vmm_sys0(SYS_getpid), v->tid,
		                                           0) == -ESRCH)) {
			v->in_use = true;
			vmm_unlock(vm);
			memset(&v->stats, 0, sizeof(v->stats));
			memset(&v->pending, 0, sizeof(v->pending));
			return v;
		}
	}
	if (vm->nvcpus >= SJMP_MAX_VCPUS) {
		vmm_unlock(vm);
		return NULL;
	}
	int id = vm->nvcpus;
	size_t sz = vcpu_map_size(vm);
	uint8_t *m = raw_mmap(sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	if (!m) {
		vmm_unlock(vm);
		return NULL;
	}
	struct vmm_vcpu *v = (struct vmm_vcpu *)m;
	uint8_t *p = m + vcpu_struct_size();
	v->map_size = sz;
	v->id = id;
	v->percpu = (struct sjmp_guest_percpu *)p;
	p += 4096;
	v->gdt = (uint64_t *)p;
	v->idt = p + 512;
	v->tss = p + 1024;
	p += 4096;
	for (int i = 0; i < SJMP_IST_STACKS; i++) {
		p += SJMP_IST_STACK_SIZE;
		v->ist_top[i] = p;
	}
	vmm_sys3(SYS_mprotect, p, 4096, PROT_NONE); /* guard below the host stack */
	p += 4096 + SJMP_HOST_STACK_SIZE;
	v->host_stack_top = p;
	v->xsave = p;
	/* Touch what the guest will touch so it never takes a first-write exit there. */
	memset(m + vcpu_struct_size(), 0, 2 * 4096 + SJMP_IST_STACKS * SJMP_IST_STACK_SIZE);
	*v->percpu = (struct sjmp_guest_percpu){
	    .self = (uint64_t)v->percpu,
	    .abi_version = SJMP_GUEST_ABI_VERSION,
	    .vcpu_id = (uint32_t)id,
	    .vif_gpa = vm->vif_gpa,
	    .cur_cr3 = vm->root,
	};
	if (vmm_vcpu_open(vm, v) < 0)
		goto fail;
	v->in_use = true;
	vm->vcpus[vm->nvcpus++] = v;
	vmm_unlock(vm);
	/* Cover the vCPU's memory (it may be in a new chunk). */
	if (vmm_cover((uint64_t)m, sz) < 0)
		return NULL;
	return v;
fail:
	vmm_sys2(SYS_munmap, m, sz);
	vmm_unlock(vm);
	return NULL;
}

void vmm_vcpu_release(struct vmm *vm, struct vmm_vcpu *vcpu)
{
	if (!vcpu)
		return;
	vmm_lock(vm);
	vcpu->in_use = false;
	vmm_unlock(vm);
}

int vmm_platform_probe(struct vmm_platform *p)
{
	size_t size = sizeof(struct vmm) + 4096 + 256 * sizeof(struct kvm_cpuid_entry2);
	struct vmm *vm =
	    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm == MAP_FAILED)
		return -ENOMEM;
	vm->cpuid = (struct kvm_cpuid2 *)((char *)vm + ((sizeof(*vm) + 63) & ~63UL));
	int r;
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		r = sjmp__fail(errno == ENOENT ? ENODEV : errno, "open /dev/kvm",
		               errno == EACCES ? "add the user to group kvm" : "load a KVM module");
		goto out;
	}
	r = vmm_platform_detect(vm);
	if (!r)
		*p = vm->plat;
	close(vm->kvm_fd);
out:
	munmap(vm, size);
	return r;
}
