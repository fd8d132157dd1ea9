/* SPDX-License-Identifier: MIT */
/*
 * clone.c - threads, fork, vfork and execve of a program in guest mode (DESIGN section 2):
 * - clone with CLONE_THREAD: a new host thread on its own host stack runs a new (or pooled) vCPU
 *   that starts in guest mode with the parent's registers, RAX = 0 and the new stack and TLS;
 * - CLONE_VM without CLONE_THREAD (vfork, posix_spawn): the child leaves guest mode and runs in
 *   host mode until it execs (it shares the parent's memory, and a VM is bound to its mm);
 * - fork: the child builds its own VM (the parent's VM fds fail with EIO in a child,
 *   platform.md) with the same memslots and page tables (copied with the memory) and
 *   continues in guest mode;
 * - execve: the new image comes back into guest mode through sjmp-run's preload, which is put
 *   back into the environment if the program removed it.
 * Runs in the host run loop: raw system calls only.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/sched.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"

static int get_xsave(struct vmm_vcpu *v, void *buf)
{
	return (int)vmm_sys3(SYS_ioctl, v->fd, KVM_GET_XSAVE, buf);
}

static uint64_t guest_fs_base(struct vmm_vcpu *v)
{
	struct kvm_sregs s;
	if (vmm_sys3(SYS_ioctl, v->fd, KVM_GET_SREGS, &s) < 0)
		return 0;
	return s.fs.base;
}

/* The registers the child continues with: the caller's at `syscall`, RAX = 0. */
static void child_regs(struct kvm_regs *c, const struct kvm_regs *r, uint64_t stack)
{
	*c = *r;
	c->rax = 0;
	c->rip = r->rcx;
	c->rflags = r->r11;
	if (stack)
		c->rsp = stack;
}

__attribute__((noreturn)) void vmm_thread_main(struct vmm_vcpu *v)
{
	vmm_run(v);
}

static long new_thread(struct vmm_vcpu *v, struct kvm_regs *r, unsigned long flags, uint64_t stack,
                       uint64_t ptid, uint64_t ctid, uint64_t tls)
{
	struct vmm *vm = vmm_get();
	struct vmm_vcpu *nv = vmm_vcpu_create(vm);
	if (!nv)
		return -EAGAIN;
	nv->start_fs_base = (flags & CLONE_SETTLS) ? tls : guest_fs_base(v);
	child_regs(&nv->start_regs, r, stack);
	nv->tid = 0;
	long e = vmm_vcpu_setup_arch(vm, nv);
	if (e == 0)
		e = get_xsave(v, nv->xsave);
	if (e == 0)
		e = vmm_sys3(SYS_ioctl, nv->fd, KVM_SET_XSAVE, nv->xsave);
	if (e < 0) {
		vmm_vcpu_release(vm, nv);
		return -EAGAIN;
	}
	long tid = vmm_clone_thread(flags, nv->host_stack_top, (void *)ptid, (void *)ctid, tls, nv);
	if (tid < 0)
		vmm_vcpu_release(vm, nv);
	return tid;
}

/* In a fork child: a new VM with the same memslots, one vCPU (this thread's), guest mode. */
static __attribute__((noreturn)) void fork_child(struct vmm_vcpu *v, const struct kvm_regs *cr,
                                                 uint64_t fs)
{
	struct vmm *vm = vmm_get();
	vm->lock = 0; /* another thread may have held it at fork time */
	long fd;
	do
		fd = vmm_sys3(SYS_ioctl, vm->kvm_fd, KVM_CREATE_VM, 0);
	while (fd == -EINTR);
	if (fd < 0)
		goto fail;
	vmm_sys3(SYS_dup3, fd, vm->vm_fd, O_CLOEXEC);
	vmm_sys1(SYS_close, fd);
	for (uint32_t i = 0; i < vm->nslots; i++)
		if (vmm_slot_set(vm, i, vm->slots[i].gpa, vm->slots[i].hva, vm->slots[i].len) < 0)
			goto fail;
	/* Only this thread exists in the child: drop the other vCPUs and their memory. */
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vmm_vcpu *u = vm->vcpus[i];
		vmm_sys1(SYS_close, u->fd);
		vmm_sys2(SYS_munmap, u->run, vm->run_size);
		if (u != v)
			vmm_sys2(SYS_munmap, u, u->map_size);
	}
	vm->vcpus[0] = v;
	vm->nvcpus = 1;
	v->id = 0;
	v->percpu->vcpu_id = 0;
	v->in_use = true;
	v->cpuid_set = false;
	if (vmm_vcpu_open(vm, v) < 0)
		goto fail;
	v->start_fs_base = fs;
	if (vmm_vcpu_setup_arch(vm, v) < 0 ||
	    vmm_sys3(SYS_ioctl, v->fd, KVM_SET_XSAVE, v->xsave) < 0)
		goto fail;
	memset(&v->stats, 0, sizeof(v->stats));
	vm->start_tsc = vmm_rdtsc();
	v->start_regs = *cr;
	vmm_run(v);
fail:
	vmm_report(v, "fork child: cannot build its own VM (KVM_CREATE_VM/memslots/vCPU)", cr);
	vmm_die(SIGKILL);
}

long vmm_sys_clone(struct vmm_vcpu *v, struct kvm_regs *r, long nr)
{
	unsigned long flags = nr == SYS_clone   ? r->rdi
	                      : nr == SYS_vfork ? (CLONE_VM | CLONE_VFORK | SIGCHLD)
	                                        : SIGCHLD;
	uint64_t stack = nr == SYS_clone ? r->rsi : 0;
	uint64_t ptid = r->rdx, ctid = r->r10, tls = r->r8;
	if (nr != SYS_clone)
		ptid = ctid = tls = 0;

	if (flags & CLONE_THREAD) {
		if (!(flags & CLONE_VM))
			return -EINVAL;
		return new_thread(v, r, flags, stack, ptid, ctid, tls);
	}
	if (flags & CLONE_VM) {
		/* vfork / posix_spawn: the child runs in host mode with the guest's FPU state. */
		struct vmm *vm = vmm_get();
		if (get_xsave(v, v->xsave) == 0) {
			uint32_t lo = (uint32_t)vm->host_xcr0, hi = (uint32_t)(vm->host_xcr0 >> 32);
			__asm__ volatile("xrstor64 (%0)"
			                 :
			                 : "r"(v->xsave), "a"(lo), "d"(hi)
			                 : "memory");
		}
		struct vmm_host_clone c = {
		    .nr = SYS_clone,
		    .flags = (long)flags,
		    .stack = (long)stack,
		    .ptid = (long)ptid,
		    .ctid = (long)ctid,
		    .tls = (long)tls,
		};
		child_regs(&c.regs, r, stack);
		return vmm_clone_to_host(&c);
	}
	/* fork: save what the child needs before the memory is copied. */
	struct kvm_regs cr;
	child_regs(&cr, r, stack);
	uint64_t fs = (flags & CLONE_SETTLS) ? tls : guest_fs_base(v);
	if (get_xsave(v, v->xsave) < 0)
		return -EAGAIN;
	long pid =
	    vmm_sys6(SYS_clone, (long)flags, (long)stack, (long)ptid, (long)ctid, (long)tls, 0);
	if (pid == 0)
		fork_child(v, &cr, fs);
	return pid;
}

/* ---- execve ---- */

static size_t slen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static bool starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return false;
	return true;
}

static bool contains(const char *s, const char *needle)
{
	size_t n = slen(needle);
	for (; *s; s++) {
		size_t i = 0;
		while (i < n && s[i] == needle[i])
			i++;
		if (i == n)
			return true;
	}
	return false;
}

long vmm_sys_execve(struct vmm_vcpu *v, struct kvm_regs *r)
{
	(void)v;
	struct vmm *vm = vmm_get();
	char **envp = (char **)(r->rax == SYS_execve ? r->rdx : r->r10);
	if (!vm->preload[0])
		return vmm_sys6((long)r->rax, (long)r->rdi, (long)r->rsi, (long)r->rdx,
		                (long)r->r10, (long)r->r8, (long)r->r9);
	/* Is the preload still there? */
	size_t n = 0, extra = 0;
	char *old_pre = NULL;
	bool has_pre_var = false, has_stats = false, has_enter = false;
	for (; envp && envp[n]; n++) {
		if (starts(envp[n], "LD_PRELOAD=")) {
			old_pre = envp[n];
		} else if (starts(envp[n], "SJMP_RUN_PRELOAD=")) {
			has_pre_var = true;
		} else if (starts(envp[n], "SJMP_RUN_STATS=")) {
			has_stats = true;
		} else if (starts(envp[n], "SJMP_RUN_ENTER=")) {
			has_enter = true; /* a program with its own libsjmp enters through it */
		}
	}
	if (old_pre && contains(old_pre, vm->preload) && has_pre_var &&
	    (has_stats || !vm->opt.stats) && has_enter)
		return vmm_sys6((long)r->rax, (long)r->rdi, (long)r->rsi, (long)r->rdx,
		                (long)r->r10, (long)r->r8, (long)r->r9);
	for (size_t i = 0; i < n; i++)
		extra += slen(envp[i]) + 1;
	size_t bytes = (n + 5) * sizeof(char *) + extra + 3 * sizeof(vm->preload) + 96;
	long m = vmm_sys6(SYS_mmap, 0, (long)bytes, PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m < 0 && m > -4096)
		return m;
	char **ne = (char **)m;
	char *s = (char *)(ne + n + 5);
	size_t k = 0;
	/* LD_PRELOAD=<preload>[:<old>] */
	ne[k++] = s;
	const char *parts[] = {"LD_PRELOAD=", vm->preload};
	for (int i = 0; i < 2; i++)
		for (const char *p = parts[i]; *p;)
			*s++ = *p++;
	if (old_pre && !contains(old_pre, vm->preload)) {
		*s++ = ':';
		for (const char *p = old_pre + 11; *p;)
			*s++ = *p++;
	} else if (old_pre) {
		s = ne[0];
		for (const char *p = old_pre; *p;)
			*s++ = *p++;
	}
	*s++ = 0;
	if (!has_pre_var) {
		ne[k++] = s;
		const char *q[] = {"SJMP_RUN_PRELOAD=", vm->preload};
		for (int i = 0; i < 2; i++)
			for (const char *p = q[i]; *p;)
				*s++ = *p++;
		*s++ = 0;
	}
	if (vm->opt.stats && !has_stats) {
		ne[k++] = s;
		for (const char *p = "SJMP_RUN_STATS=1"; *p;)
			*s++ = *p++;
		*s++ = 0;
	}
	if (!has_enter) {
		ne[k++] = s;
		for (const char *p = "SJMP_RUN_ENTER=1"; *p;)
			*s++ = *p++;
		*s++ = 0;
	}
	for (size_t i = 0; i < n; i++)
		if (envp[i] != old_pre)
			ne[k++] = envp[i];
	ne[k] = NULL;
	long ret = vmm_sys6((long)r->rax, (long)r->rdi, (long)r->rsi,
	                    r->rax == SYS_execve ? m : (long)r->rdx,
	                    r->rax == SYS_execve ? (long)r->r10 : m, (long)r->r8, (long)r->r9);
	vmm_sys2(SYS_munmap, m, bytes);
	return ret;
}
