/* SPDX-License-Identifier: MIT */
/*
 * run.c - the host run loop of a vCPU and its exit dispatcher (STYLE: a thin "run once" plus a
 * dispatcher). Everything here runs on the vCPU's host stack, in the same thread as the guest
 * program, sharing its TLS, errno and heap: raw system calls only, no malloc, no stdio, no errno.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <asm/prctl.h>
#include <linux/sched.h>

#include "log.h"
#include "sys_x86_64.h"
#include "vmm.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

static __thread struct vmm_vcpu *tls_self __attribute__((tls_model("initial-exec")));

struct vmm_vcpu *vmm_self(void)
{
	return tls_self;
}

void vmm_set_self(struct vmm_vcpu *v)
{
	tls_self = v;
}

/* ---- diagnostics ---- */

static void out_str(int fd, const char *s)
{
	vmm_sys3(SYS_write, fd, s, strlen(s));
}

static const char *exit_reason_name(unsigned r)
{
	switch (r) {
	case KVM_EXIT_IO:
		return "IO";
	case KVM_EXIT_HLT:
		return "HLT";
	case KVM_EXIT_MMIO:
		return "MMIO (guest-physical address without memslot)";
	case KVM_EXIT_SHUTDOWN:
		return "SHUTDOWN (triple fault; see dmesg)";
	case KVM_EXIT_FAIL_ENTRY:
		return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR:
		return "INTERNAL_ERROR";
	default:
		return "other";
	}
}

void vmm_report(struct vmm_vcpu *v, const char *what, const struct kvm_regs *r)
{
	char buf[2048], where[1024];
	/* libelf (static functions too), in a child process: see vmm/symbolize.c. Else dladdr. */
	if (vmm_symbolize(r->rip, where, sizeof(where)) < 0) {
		Dl_info di = {0};
		if (dladdr((void *)r->rip, &di) && di.dli_sname)
			snprintf(where, sizeof(where), "%s+0x%lx (dladdr) in %s", di.dli_sname,
			         (unsigned long)(r->rip - (unsigned long)di.dli_saddr),
			         di.dli_fname ? di.dli_fname : "?");
		else
			snprintf(where, sizeof(where), "? (no symbol)");
	}
	snprintf(buf, sizeof(buf),
	         "sjmp: guest-mode crash in thread %d (vCPU %d): %s\n"
	         "sjmp:   exit_reason %u (%s)\n"
	         "sjmp:   RIP %016llx <%s>\n"
	         "sjmp:   RSP %016llx RFLAGS %016llx\n"
	         "sjmp:   RAX %016llx RBX %016llx RCX %016llx RDX %016llx\n"
	         "sjmp:   RSI %016llx RDI %016llx RBP %016llx R8  %016llx\n"
	         "sjmp:   R9  %016llx R10 %016llx R11 %016llx R12 %016llx\n"
	         "sjmp:   R13 %016llx R14 %016llx R15 %016llx\n",
	         (int)vmm_sys0(SYS_gettid), v->id, what, v->run->exit_reason,
	         exit_reason_name(v->run->exit_reason), r->rip, where, r->rsp, r->rflags, r->rax,
	         r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rbp, r->r8, r->r9, r->r10, r->r11,
	         r->r12, r->r13, r->r14, r->r15);
	out_str(2, buf);
}

/* Die of @sig with its default action (exit status and core as natively). */
__attribute__((noreturn)) void vmm_die(int sig)
{
	if (vmm_get())
		vmm_exit_record(vmm_get(), 128 + sig);
	struct vmm_ksigaction {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} sa = {.handler = SIG_DFL};
	vmm_sys4(SYS_rt_sigaction, sig, &sa, NULL, 8);
	uint64_t m = 1UL << (sig - 1);
	vmm_sys4(SYS_rt_sigprocmask, SIG_UNBLOCK, &m, NULL, 8);
	vmm_sys3(SYS_tgkill, vmm_sys0(SYS_getpid), vmm_sys0(SYS_gettid), sig);
	for (;;)
		vmm_sys1(SYS_exit_group, 128 + sig);
}

void vmm_stats_print(struct vmm *vm, int fd)
{
	static const char *const kinds[VMM_EXIT_KINDS] = {"syscall",        "trap",   "boot",
	                                                  "signal (EINTR)", "efault", "other"};
	struct vmm_stats sum;
	memset(&sum, 0, sizeof(sum));
	for (int i = 0; i < vm->nvcpus; i++) {
		const struct vmm_stats *s = &vm->vcpus[i]->stats;
		for (int k = 0; k < VMM_EXIT_KINDS; k++)
			sum.exits[k] += s->exits[k];
		for (int k = 0; k < SJMP_IDT_VECTORS; k++)
			sum.traps[k] += s->traps[k];
		for (int k = 0; k < VMM_NSYSCALLS; k++)
			sum.syscalls[k] += s->syscalls[k];
		sum.host_tsc += s->host_tsc;
		sum.run_tsc += s->run_tsc;
	}
	char buf[256];
	uint64_t total = 0;
	for (int k = 0; k < VMM_EXIT_KINDS; k++)
		total += sum.exits[k];
	uint64_t wall = (vmm_rdtsc() - vm->start_tsc) / vm->tsc_per_us;
	snprintf(
	    buf, sizeof(buf),
	    "sjmp-run stats: pid %d, host %s, %d vCPU(s), %llu exits to the VMM, wall %llu us\n",
	    (int)vmm_sys0(SYS_getpid), vmm_host_kind_name(vm->plat.kind), vm->nvcpus,
	    (unsigned long long)total, (unsigned long long)wall);
	out_str(fd, buf);
	for (int k = 0; k < VMM_EXIT_KINDS; k++) {
		if (!sum.exits[k])
			continue;
		snprintf(buf, sizeof(buf), "  exits %-16s %10llu\n", kinds[k],
		         (unsigned long long)sum.exits[k]);
		out_str(fd, buf);
	}
	for (int k = 0; k < SJMP_IDT_VECTORS; k++) {
		if (!sum.traps[k])
			continue;
		snprintf(buf, sizeof(buf), "  trap  vector %-9d %10llu\n", k,
		         (unsigned long long)sum.traps[k]);
		out_str(fd, buf);
	}
	/* Forwarded system calls by count, highest first (selection without sorting memory). */
	uint64_t last = UINT64_MAX;
	for (;;) {
		uint64_t best = 0;
		for (int k = 0; k < VMM_NSYSCALLS; k++)
			if (sum.syscalls[k] < last && sum.syscalls[k] > best)
				best = sum.syscalls[k];
		if (!best)
			break;
		for (int k = 0; k < VMM_NSYSCALLS; k++) {
			if (sum.syscalls[k] != best)
				continue;
			const char *n = vmm_syscall_name((unsigned)k);
			snprintf(buf, sizeof(buf), "  syscall %-20s %10llu\n", n ? n : "?",
			         (unsigned long long)best);
			out_str(fd, buf);
		}
		last = best;
	}
	/* What KVM handled without the VMM: guest page faults (on kvm_pvm the first touch of every
	 * page after entry, one per 2 MiB where host and guest both map 2 MiB pages). */
	static const char *const kvm_names[] = {"exits", "pf_taken", "pf_fixed", "pf_guest"};
	uint64_t kv[4] = {0};
	for (int i = 0; i < vm->nvcpus; i++)
		vmm_kvm_stats_add(vm->vcpus[i]->fd, kvm_names, kv, 4);
	snprintf(
	    buf, sizeof(buf),
	    "  kvm: %llu exits in all; guest page faults %llu (%llu fixed by KVM, %llu given to "
	    "the guest)\n",
	    (unsigned long long)kv[0], (unsigned long long)kv[1], (unsigned long long)kv[2],
	    (unsigned long long)kv[3]);
	out_str(fd, buf);
	snprintf(buf, sizeof(buf),
	         "  time outside the guest: host-side handling %llu us; inside KVM_RUN %llu us "
	         "(guest execution plus the exits' own cost, about 18 us each on kvm_pvm)\n",
	         (unsigned long long)(sum.host_tsc / vm->tsc_per_us),
	         (unsigned long long)(sum.run_tsc / vm->tsc_per_us));
	out_str(fd, buf);
}

void vmm_exit_record(struct vmm *vm, int status)
{
	if (!vm->report_dir[0])
		return;
	uint64_t sys = 0, exits = 0;
	for (int i = 0; i < vm->nvcpus; i++) {
		for (int k = 0; k < VMM_NSYSCALLS; k++)
			sys += vm->vcpus[i]->stats.syscalls[k];
		for (int k = 0; k < VMM_EXIT_KINDS; k++)
			exits += vm->vcpus[i]->stats.exits[k];
	}
	char path[320], line[160];
	int pid = (int)vmm_sys0(SYS_getpid);
	snprintf(path, sizeof(path), "%s/proc.%d.%llu", vm->report_dir, pid,
	         (unsigned long long)vmm_rdtsc());
	int n = snprintf(line, sizeof(line),
	                 "pid=%d guest=1 host=%s syscalls=%llu exits=%llu status=%d\n", pid,
	                 vmm_host_kind_name(vm->plat.kind), (unsigned long long)sys,
	                 (unsigned long long)exits, status);
	long fd =
	    vmm_sys4(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	vmm_sys3(SYS_write, fd, line, n);
	vmm_sys1(SYS_close, fd);
}

/* ---- exits ---- */

static void resume_from_trap(struct kvm_regs *r, const struct sjmp_guest_trap_frame *f)
{
	r->rip = f->rip;
	r->rsp = f->rsp;
	r->rflags = f->rflags;
}

static bool host_mapped(uint64_t va)
{
	unsigned char vec;
	return vmm_sys3(SYS_mincore, va & ~4095UL, 4096, &vec) == 0;
}

static int read_cr2(struct vmm_vcpu *v, uint64_t *cr2)
{
	struct kvm_sregs s;
	long r = vmm_sys3(SYS_ioctl, v->fd, KVM_GET_SREGS, &s);
	if (r < 0)
		return (int)r;
	*cr2 = s.cr2;
	return 0;
}

static bool in_stubs(uint64_t rip)
{
	return rip >= (uint64_t)guest_stubs_start && rip < (uint64_t)guest_stubs_end;
}

/* Continue @r through guest_reload_cr3: CR3 is reloaded, then the code at r->rip runs. */
static void via_reload(struct vmm_vcpu *v, struct kvm_regs *r)
{
	uint64_t cr3 = __atomic_load_n(&v->percpu->cur_cr3, __ATOMIC_ACQUIRE);
	v->percpu->reload_cr3 = cr3 & ~X86_CR3_NOFLUSH;
	v->percpu->resume_rip = r->rip;
	r->rip = (uint64_t)guest_reload_cr3;
	v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
}

void vmm_kick_reload(struct vmm_vcpu *v)
{
	struct kvm_regs *r = &v->run->s.regs.regs;
	if (!__atomic_load_n(&v->reload, __ATOMIC_SEQ_CST) || in_stubs(r->rip))
		return;
	via_reload(v, r);
	__atomic_store_n(&v->reload, 0, __ATOMIC_SEQ_CST);
}

/*
 * A #PF in the segment zone at an address the vCPU's current root maps with the rights the
 * access needs: a translation cached before the mapping was added (kvm_pvm: the shadow page
 * tables follow guest stores only at invlpg or a CR3 load, platform.md). Reload CR3 and retry,
 * once per faulting RIP and address.
 */
static bool stale_zone_fault(struct vmm_vcpu *v, struct kvm_regs *r,
                             const struct sjmp_guest_trap_frame *f, uint64_t addr)
{
	struct vmm *vm = vmm_get();
	if (addr - SJMP_ZONE_BASE >= SJMP_ZONE_SIZE)
		return false;
	if (f->rip == v->pf_rip && addr == v->pf_addr) {
		v->pf_rip = v->pf_addr = 0;
		return false;
	}
	uint64_t root = __atomic_load_n(&v->percpu->cur_cr3, __ATOMIC_ACQUIRE) & X86_PTE_ADDR,
	         pte = 0;
	vmm_lock(vm);
	uint64_t pa = guest_pt_translate(&vm->pool, root, addr, &pte);
	vmm_unlock(vm);
	if (pa == ~0UL || ((f->error & X86_PF_W) && !(pte & X86_PTE_RW)) ||
	    ((f->error & X86_PF_I) && (pte & X86_PTE_NX)))
		return false;
	v->pf_rip = f->rip;
	v->pf_addr = addr;
	resume_from_trap(r, f);
	via_reload(v, r);
	return true;
}

static void handle_trap(struct vmm_vcpu *v, struct kvm_regs *r)
{
	const struct sjmp_guest_trap_frame *f = (const void *)r->rsp;
	if ((uint8_t *)f < v->ist_top[0] - SJMP_IST_STACK_SIZE ||
	    (uint8_t *)(f + 1) > v->ist_top[SJMP_IST_STACKS - 1]) {
		vmm_report(v, "trap exit with RSP outside the IST stacks", r);
		vmm_die(SIGSEGV);
	}
	unsigned vec = (unsigned)f->vector;
	if (vec < SJMP_IDT_VECTORS)
		v->stats.traps[vec]++;
	uint64_t addr = f->rip;
	if (vec == X86_VEC_PF) {
		bool cr2 = read_cr2(v, &addr) == 0;
		/* The zone is never covered (its host side is a PROT_NONE reservation, which
		 * mincore reports as mapped): never resume on a cover there. */
		if (cr2 && addr - SJMP_ZONE_BASE < SJMP_ZONE_SIZE) {
			if (stale_zone_fault(v, r, f, addr))
				return;
		} else if (cr2 && !(f->error & X86_PF_P) && !vmm_covered(addr) &&
		           host_mapped(addr) && vmm_cover(addr, 1) == 0) {
			resume_from_trap(r, f);
			return;
		}
	}
	vmm_fault(v, r, f, addr);
}

static void handle_io(struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs *r = &run->s.regs.regs;
	if (run->io.direction != KVM_EXIT_IO_OUT) {
		vmm_report(v, "guest `in` instruction", r);
		vmm_die(SIGSEGV);
	}
	switch (run->io.port) {
	case SJMP_PORT_SYSCALL:
		v->stats.exits[VMM_EXIT_SYSCALL]++;
		vmm_syscall(v, r);
		break;
	case SJMP_PORT_TRAP:
		v->stats.exits[VMM_EXIT_TRAP]++;
		handle_trap(v, r);
		break;
	case SJMP_PORT_BOOT:
		v->stats.exits[VMM_EXIT_BOOT]++;
		*r = v->start_regs;
		break;
	case SJMP_PORT_NOP: /* RIP is already past the `out` */
		v->stats.exits[VMM_EXIT_OTHER]++;
		break;
	default:
		vmm_report(v, "`out` to an unknown port", r);
		vmm_die(SIGSEGV);
	}
	run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
}

__attribute__((noreturn)) void vmm_run(struct vmm_vcpu *v)
{
	struct kvm_run *run = v->run;
	tls_self = v;
	v->tid = (int)vmm_sys0(SYS_gettid);
	run->s.regs.regs = (struct kvm_regs){
	    .rip = (uint64_t)guest_boot,
	    .rdi = (uint64_t)v->percpu,
	    .rsp = v->start_regs.rsp,
	    .rflags = X86_RFLAGS_FIXED,
	};
	run->kvm_valid_regs = KVM_SYNC_X86_REGS;
	run->kvm_dirty_regs = KVM_SYNC_X86_REGS;
	v->tsc_mark = vmm_rdtsc();
	for (;;) {
		vmm_signals_before_run(v);
		/* Dekker with vmm_root_shootdown: it sets `reload` then reads `in_run`. */
		__atomic_store_n(&v->in_run, 1, __ATOMIC_SEQ_CST);
		vmm_kick_reload(v);
		uint64_t t0 = vmm_rdtsc();
		v->stats.host_tsc += t0 - v->tsc_mark;
		long e = vmm_sys3(SYS_ioctl, v->fd, KVM_RUN, 0);
		__atomic_store_n(&v->in_run, 0, __ATOMIC_SEQ_CST);
		run->immediate_exit = 0;
		v->tsc_mark = vmm_rdtsc();
		v->stats.run_tsc += v->tsc_mark - t0;
		if (e < 0) {
			if (e == -EINTR || e == -EAGAIN) {
				v->stats.exits[VMM_EXIT_INTR]++;
				vmm_signals_interrupted(v);
				continue;
			}
			if (e == -EFAULT) {
				v->stats.exits[VMM_EXIT_EFAULT]++;
				vmm_efault(v);
				continue;
			}
			char what[64];
			snprintf(what, sizeof(what), "KVM_RUN failed: %s", sjmp__errname((int)e));
			vmm_report(v, what, &run->s.regs.regs);
			vmm_die(SIGSEGV);
		}
		if (run->exit_reason == KVM_EXIT_IO) {
			handle_io(v);
			continue;
		}
		v->stats.exits[VMM_EXIT_OTHER]++;
		if (run->exit_reason == KVM_EXIT_INTR) {
			vmm_signals_interrupted(v);
			continue;
		}
		vmm_report(v, "unexpected exit", &run->s.regs.regs);
		vmm_die(SIGSEGV);
	}
}

__attribute__((noreturn)) void vmm_run_first(struct vmm_vcpu *v, void *unused, uint64_t rsp,
                                             uint64_t rip)
{
	(void)unused;
	v->start_regs = (struct kvm_regs){
	    .rsp = rsp,
	    .rip = rip,
	    .rflags = X86_RFLAGS_FIXED | X86_RFLAGS_IF,
	};
	vmm_run(v);
}
