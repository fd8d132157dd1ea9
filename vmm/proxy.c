/* SPDX-License-Identifier: MIT */
/*
 * proxy.c - system calls whose buffers lie in the segment zone (DESIGN.md section 2, "System
 * calls"; issue 4).
 *
 * On the host side the segment zone is only a PROT_NONE reservation: a pointer into it means
 * nothing to the host kernel. For the I/O family (read, write, pread64, pwrite64, readv, writev,
 * preadv, pwritev, preadv2, pwritev2, recvfrom, sendto, recvmsg, sendmsg, their iovecs and
 * msghdr buffers included) and a few buffer-taking calls (getrandom, getdents64, fstat, stat,
 * lstat, newfstatat, statx) every guest buffer is translated, on the calling thread, through the
 * page-table root its vCPU has loaded NOW (percpu->cur_cr3) and the memslot table into the
 * segment's own host mapping (the "shadow" of libsjmp/backend_kvm.c): guest-virtual ->
 * guest-physical (guest_pt_walk) -> host-virtual (struct vmm_slot). A buffer whose host image is
 * not contiguous becomes an iovec (readv/writev/preadv/pwritev/recvmsg/sendmsg on the host).
 * So two threads in two VASes can read into the same zone address at the same time, each into
 * its own segment.
 *
 * As natively: a zone page the current root does not map, or a read-only one that the call
 * would write, ends the transfer there (a short transfer when some bytes come first, EFAULT
 * when none do). Any other system call listed in zone_ptr_args with a pointer argument in the
 * zone fails with EFAULT and one log line per call (a known limit: the host mirror of
 * DESIGN.md is future work); the host kernel never sees a zone pointer.
 *
 * Everything here runs in the host run loop: raw system calls only, no malloc, no errno.
 * Memory the VMM itself reads or writes on the guest's behalf goes through process_vm_readv/
 * process_vm_writev, so a bad pointer or a racing munmap is EFAULT, not a crash of the VMM.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "sjmp.h"
#include "sys_x86_64.h"
#include "vmm_internal.h"
#include "x86_64_hw.h"

#define ZONE_END      (SJMP_ZONE_BASE + SJMP_ZONE_SIZE)
#define PROXY_IOV_MAX 1024 /* UIO_MAXIOV: the host's limit on one readv/writev */
#define PROXY_PATH    4096 /* PATH_MAX */

static bool in_zone(uint64_t va)
{
	return va - SJMP_ZONE_BASE < SJMP_ZONE_SIZE;
}

/* [va, va + len) meets the zone (len 0 counts as one byte). */
static bool meets_zone(uint64_t va, uint64_t len)
{
	uint64_t end = va + (len ? len : 1);
	return va < ZONE_END && (end > SJMP_ZONE_BASE || end < va);
}

/* ---- translation ---- */

/* An output list of host ranges under construction. */
struct xl {
	struct iovec *iov;
	int n, max;
	uint64_t bytes; /* total of iov[0..n) */
	bool full;      /* max reached: stop adding */
};

static bool xl_add(struct xl *x, uint64_t hva, uint64_t len)
{
	if (!len)
		return true;
	if (x->n && (uint64_t)x->iov[x->n - 1].iov_base + x->iov[x->n - 1].iov_len == hva) {
		x->iov[x->n - 1].iov_len += len;
	} else {
		if (x->n == x->max) {
			x->full = true;
			return false;
		}
		x->iov[x->n++] = (struct iovec){(void *)hva, len};
	}
	x->bytes += len;
	return true;
}

/* Host address of guest-physical @gpa and how many bytes from there the slot still holds. */
static bool slot_hva(struct vmm *vm, uint64_t gpa, uint64_t *hva, uint64_t *avail)
{
	uint32_t n = __atomic_load_n(&vm->nslots, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		const struct vmm_slot *s = &vm->slots[i];
		if (gpa - s->gpa < s->len) {
			*hva = s->hva + (gpa - s->gpa);
			*avail = s->len - (gpa - s->gpa);
			return true;
		}
	}
	return false;
}

struct walk {
	struct vmm *vm;
	struct xl *x;
	uint64_t next; /* first guest address not yet added */
	uint64_t end;
	bool write;
};

static int walk_leaf(uint64_t va, uint64_t pa, uint64_t size, uint64_t pte, void *arg)
{
	struct walk *w = arg;
	if (va > w->next)
		return 1; /* a hole: the transfer ends at w->next */
	if (w->write && !(pte & X86_PTE_RW))
		return 1;
	uint64_t from = w->next, to = va + size < w->end ? va + size : w->end;
	while (from < to) {
		uint64_t hva, avail, len = to - from;
		if (!slot_hva(w->vm, pa + (from - va), &hva, &avail))
			return 1;
		if (len > avail)
			len = avail;
		if (!xl_add(w->x, hva, len))
			return 1;
		from += len;
	}
	w->next = to;
	return to == w->end;
}

/*
 * vmm_guest_xlate - THE check every guest buffer of a proxied call goes through: append the host
 * ranges of guest [@gva, @gva + @len) to @x, as seen through root @root (zone addresses) or
 * identically (the common region: GVA == HVA). Stops at the first zone page that is not mapped,
 * or not writable when @write, and when @x is full.
 * Return: bytes of the prefix added (maybe < @len), or -EFAULT when @gva + @len overflows or
 * passes the end of the user half (access_ok() natively).
 */
static long vmm_guest_xlate(struct vmm *vm, uint64_t root, uint64_t gva, uint64_t len, bool write,
                            struct xl *x)
{
	if (gva + len < gva || gva + len > SJMP_USER_VA_TOP)
		return -EFAULT;
	uint64_t start = x->bytes, va = gva, end = gva + len;
	while (va < end && !x->full) {
		if (!in_zone(va)) {
			uint64_t stop =
			    va < SJMP_ZONE_BASE && end > SJMP_ZONE_BASE ? SJMP_ZONE_BASE : end;
			if (!xl_add(x, va, stop - va))
				break;
			va = stop;
			continue;
		}
		uint64_t zend = end < ZONE_END ? end : ZONE_END;
		struct walk w = {.vm = vm, .x = x, .next = va, .end = zend, .write = write};
		uint64_t a = va & ~(X86_PAGE_SIZE - 1);
		uint64_t b = (zend + X86_PAGE_SIZE - 1) & ~(X86_PAGE_SIZE - 1);
		guest_pt_walk(&vm->pool, root, a, b - a, walk_leaf, &w);
		if (w.next != zend)
			break;
		va = zend;
	}
	return (long)(x->bytes - start);
}

static uint64_t cur_root(const struct vmm_vcpu *v)
{
	return __atomic_load_n(&v->percpu->cur_cr3, __ATOMIC_ACQUIRE) & X86_PTE_ADDR;
}

/* One contiguous host range for a small object (struct, socket address), or -EFAULT. */
static long xlate_one(struct vmm *vm, uint64_t root, uint64_t gva, uint64_t len, bool write,
                      uint64_t *hva)
{
	struct iovec iov[1];
	struct xl x = {.iov = iov, .max = 1};
	if (!gva || !len) {
		*hva = gva;
		return 0;
	}
	vmm_lock(vm);
	long r = vmm_guest_xlate(vm, root, gva, len, write, &x);
	vmm_unlock(vm);
	if (r != (long)len)
		return -EFAULT;
	*hva = (uint64_t)iov[0].iov_base;
	return 0;
}

static bool host_read(void *dst, uint64_t src, size_t n)
{
	struct iovec l = {dst, n}, rm = {(void *)src, n};
	return vmm_sys6(SYS_process_vm_readv, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1, 0) ==
	       (long)n;
}

static bool host_write(uint64_t dst, const void *src, size_t n)
{
	struct iovec l = {(void *)src, n}, rm = {(void *)dst, n};
	return vmm_sys6(SYS_process_vm_writev, vmm_sys0(SYS_getpid), (long)&l, 1, (long)&rm, 1,
	                0) == (long)n;
}

/* Copy a guest object (zone or not) into the VMM. */
static long guest_read(struct vmm *vm, uint64_t root, void *dst, uint64_t gva, size_t n)
{
	uint64_t hva;
	long r = xlate_one(vm, root, gva, n, false, &hva);
	if (r < 0)
		return r;
	return host_read(dst, hva, n) ? 0 : -EFAULT;
}

static long guest_write(struct vmm *vm, uint64_t root, uint64_t gva, const void *src, size_t n)
{
	uint64_t hva;
	long r = xlate_one(vm, root, gva, n, true, &hva);
	if (r < 0)
		return r;
	return host_write(hva, src, n) ? 0 : -EFAULT;
}

/* Copy a NUL-terminated path into @buf (PROXY_PATH bytes). */
static long guest_path(struct vmm *vm, uint64_t root, char *buf, uint64_t gva)
{
	if (!gva)
		return -EFAULT;
	for (size_t off = 0; off < PROXY_PATH;) {
		size_t n = X86_PAGE_SIZE - ((gva + off) & (X86_PAGE_SIZE - 1));
		if (n > PROXY_PATH - off)
			n = PROXY_PATH - off;
		long r = guest_read(vm, root, buf + off, gva + off, n);
		if (r < 0)
			return r;
		if (memchr(buf + off, 0, n))
			return 0;
		off += n;
	}
	return -ENAMETOOLONG;
}

/* Translate a guest iovec array (@cnt entries at @giov) into @x. */
static long xlate_iov(struct vmm *vm, uint64_t root, uint64_t giov, uint64_t cnt, bool write,
                      struct xl *x)
{
	struct iovec g[64];
	if (cnt > PROXY_IOV_MAX)
		return -EINVAL;
	for (uint64_t i = 0; i < cnt; i += 64) {
		uint64_t k = cnt - i < 64 ? cnt - i : 64;
		long r = guest_read(vm, root, g, giov + i * sizeof(struct iovec),
		                    k * sizeof(struct iovec));
		if (r < 0)
			return r;
		for (uint64_t j = 0; j < k; j++) {
			if ((ssize_t)g[j].iov_len < 0)
				return -EINVAL;
			vmm_lock(vm);
			r = vmm_guest_xlate(vm, root, (uint64_t)g[j].iov_base, g[j].iov_len, write,
			                    x);
			vmm_unlock(vm);
			if (r < 0)
				return r;
			if ((uint64_t)r != g[j].iov_len)
				return 0; /* a short transfer ends here */
		}
	}
	return 0;
}

/* ---- the calls ---- */

struct call {
	struct vmm *vm;
	uint64_t root;
	const struct kvm_regs *r;
	struct iovec iov[PROXY_IOV_MAX];
	struct xl x;
};

static void call_init(struct call *c, struct vmm *vm, struct vmm_vcpu *v, const struct kvm_regs *r)
{
	c->vm = vm;
	c->root = cur_root(v);
	c->r = r;
	c->x = (struct xl){.iov = c->iov, .max = PROXY_IOV_MAX};
}

/* Translate one buffer. Return 0 (c->x holds it), or -EFAULT when not one byte is usable. */
static long one_buffer(struct call *c, uint64_t gva, uint64_t len, bool write)
{
	if ((int64_t)len < 0)
		len = (uint64_t)INT64_MAX; /* as natively: the kernel caps at MAX_RW_COUNT */
	vmm_lock(c->vm);
	long r = vmm_guest_xlate(c->vm, c->root, gva, len, write, &c->x);
	vmm_unlock(c->vm);
	if (r < 0)
		return r;
	return r == 0 && len ? -EFAULT : 0;
}

/* read/write/pread64/pwrite64 with a buffer in the zone. */
static long proxy_rw(struct call *c, long nr, bool write_mem)
{
	const struct kvm_regs *r = c->r;
	long e = one_buffer(c, r->rsi, r->rdx, write_mem);
	if (e < 0)
		return e;
	if (c->x.n <= 1) {
		uint64_t buf = c->x.n ? (uint64_t)c->iov[0].iov_base : 0;
		return vmm_sys6(nr, (long)r->rdi, (long)buf, (long)c->x.bytes, (long)r->r10, 0, 0);
	}
	switch (nr) {
	case SYS_read:
		return vmm_sys3(SYS_readv, r->rdi, c->iov, c->x.n);
	case SYS_write:
		return vmm_sys3(SYS_writev, r->rdi, c->iov, c->x.n);
	case SYS_pread64: /* preadv(fd, iov, cnt, pos_l, pos_h): the whole offset in pos_l */
		return vmm_sys6(SYS_preadv, (long)r->rdi, (long)c->iov, c->x.n, (long)r->r10, 0, 0);
	default:
		return vmm_sys6(SYS_pwritev, (long)r->rdi, (long)c->iov, c->x.n, (long)r->r10, 0,
		                0);
	}
}

/* readv/writev/preadv/pwritev/preadv2/pwritev2: the iovec array (wherever it is) rebuilt. */
static long proxy_rwv(struct call *c, long nr, bool write_mem)
{
	const struct kvm_regs *r = c->r;
	long e = xlate_iov(c->vm, c->root, r->rsi, r->rdx, write_mem, &c->x);
	if (e < 0)
		return e;
	if (!c->x.bytes && c->x.n == 0 && r->rdx && !c->x.full) {
		/* Not one byte usable: EFAULT unless every iovec is empty. */
		struct iovec g;
		for (uint64_t i = 0; i < r->rdx; i++)
			if (guest_read(c->vm, c->root, &g, r->rsi + i * sizeof(g), sizeof(g)) < 0 ||
			    g.iov_len)
				return -EFAULT;
	}
	return vmm_sys6(nr, (long)r->rdi, (long)c->iov, c->x.n, (long)r->r10, (long)r->r8,
	                (long)r->r9);
}

/* getrandom(buf, len, flags): one call per host range. */
static long proxy_getrandom(struct call *c)
{
	const struct kvm_regs *r = c->r;
	long e = one_buffer(c, r->rdi, r->rsi, true);
	if (e < 0)
		return e;
	long done = 0;
	for (int i = 0; i < c->x.n; i++) {
		long k = vmm_sys3(SYS_getrandom, c->iov[i].iov_base, c->iov[i].iov_len, r->rdx);
		if (k < 0)
			return done ? done : k;
		done += k;
		if ((size_t)k < c->iov[i].iov_len)
			break;
	}
	return c->x.n ? done : vmm_sys3(SYS_getrandom, 0, 0, r->rdx);
}

/* getdents64(fd, dirp, count): the first host range (a short buffer is legal). */
static long proxy_getdents(struct call *c)
{
	const struct kvm_regs *r = c->r;
	long e = one_buffer(c, r->rsi, r->rdx, true);
	if (e < 0)
		return e;
	return vmm_sys3(SYS_getdents64, r->rdi, c->x.n ? c->iov[0].iov_base : 0,
	                c->x.n ? c->iov[0].iov_len : 0);
}

/* fstat/stat/lstat/newfstatat/statx: the path copied, the result buffer translated. */
static long proxy_stat(struct call *c, long nr)
{
	const struct kvm_regs *r = c->r;
	char path[PROXY_PATH];
	uint64_t buf;
	long e;
	switch (nr) {
	case SYS_fstat:
		e = xlate_one(c->vm, c->root, r->rsi, 144, true, &buf);
		return e < 0 ? e : vmm_sys2(SYS_fstat, r->rdi, buf);
	case SYS_stat:
	case SYS_lstat:
		e = guest_path(c->vm, c->root, path, r->rdi);
		if (!e)
			e = xlate_one(c->vm, c->root, r->rsi, 144, true, &buf);
		return e < 0 ? e : vmm_sys2(nr, path, buf);
	case SYS_newfstatat:
		e = r->rsi ? guest_path(c->vm, c->root, path, r->rsi) : 0;
		if (!e)
			e = xlate_one(c->vm, c->root, r->rdx, 144, true, &buf);
		return e < 0 ? e : vmm_sys4(nr, r->rdi, r->rsi ? path : NULL, buf, r->r10);
	default: /* statx(dirfd, path, flags, mask, buf) */
		e = r->rsi ? guest_path(c->vm, c->root, path, r->rsi) : 0;
		if (!e)
			e = xlate_one(c->vm, c->root, r->r8, 256, true, &buf);
		return e < 0 ? e
		             : vmm_sys6(nr, (long)r->rdi, r->rsi ? (long)path : 0, (long)r->rdx,
		                        (long)r->r10, (long)buf, 0);
	}
}

/*
 * recvmsg/sendmsg: the msghdr copied into the VMM, its name, iovecs and control buffer
 * translated; recvmsg's results (msg_namelen, msg_controllen, msg_flags) written back.
 */
static long proxy_msg(struct call *c, long nr, uint64_t gmsg, long flags)
{
	struct msghdr m;
	bool recv = nr == SYS_recvmsg;
	long e = guest_read(c->vm, c->root, &m, gmsg, sizeof(m));
	uint64_t name = 0, ctl = 0;
	if (!e)
		e = xlate_one(c->vm, c->root, (uint64_t)m.msg_name, m.msg_namelen, recv, &name);
	if (!e)
		e = xlate_one(c->vm, c->root, (uint64_t)m.msg_control, m.msg_controllen, recv,
		              &ctl);
	if (!e)
		e = xlate_iov(c->vm, c->root, (uint64_t)m.msg_iov, m.msg_iovlen, recv, &c->x);
	if (e < 0)
		return e;
	struct msghdr h = m;
	h.msg_name = (void *)name;
	h.msg_control = (void *)ctl;
	h.msg_iov = c->iov;
	h.msg_iovlen = (size_t)c->x.n;
	long ret = vmm_sys3(nr, c->r->rdi, &h, flags);
	if (recv && ret >= 0) {
		m.msg_namelen = h.msg_namelen;
		m.msg_controllen = h.msg_controllen;
		m.msg_flags = h.msg_flags;
		if (guest_write(c->vm, c->root, gmsg, &m, sizeof(m)) < 0)
			return -EFAULT;
	}
	return ret;
}

/* recvfrom(fd, buf, len, flags, addr, addrlen) / sendto(fd, buf, len, flags, addr, addrlen). */
static long proxy_fromto(struct call *c, long nr)
{
	const struct kvm_regs *r = c->r;
	bool recv = nr == SYS_recvfrom;
	long e = one_buffer(c, r->rsi, r->rdx, recv);
	uint64_t addr = 0, lenp = 0;
	uint32_t alen = 0;
	if (e < 0)
		return e;
	if (recv && r->r8) {
		e = xlate_one(c->vm, c->root, r->r9, sizeof(alen), true, &lenp);
		if (!e && !host_read(&alen, lenp, sizeof(alen)))
			e = -EFAULT;
		if (!e)
			e = xlate_one(c->vm, c->root, r->r8, alen, true, &addr);
	} else if (!recv) {
		alen = (uint32_t)r->r9;
		e = xlate_one(c->vm, c->root, r->r8, alen, false, &addr);
	}
	if (e < 0)
		return e;
	if (c->x.n <= 1)
		return vmm_sys6(nr, (long)r->rdi, c->x.n ? (long)c->iov[0].iov_base : 0,
		                (long)c->x.bytes, (long)r->r10, (long)addr,
		                recv ? (long)lenp : (long)r->r9);
	struct msghdr h = {.msg_name = (void *)addr,
	                   .msg_namelen = alen,
	                   .msg_iov = c->iov,
	                   .msg_iovlen = (size_t)c->x.n};
	long ret = vmm_sys3(recv ? SYS_recvmsg : SYS_sendmsg, r->rdi, &h, r->r10);
	if (recv && ret >= 0 && lenp && !host_write(lenp, &h.msg_namelen, sizeof(alen)))
		return -EFAULT;
	return ret;
}

/* ---- other calls: refused when they carry a zone pointer ---- */

#define A(i) (1u << (i))
/* Pointer arguments of the common calls that take pointers (bit i = argument i). */
static const uint8_t zone_ptr_args[VMM_NSYSCALLS] = {
    [SYS_open] = A(0),
    [SYS_openat] = A(1),
    [SYS_openat2] = A(1) | A(2),
    [SYS_creat] = A(0),
    [SYS_access] = A(0),
    [SYS_faccessat] = A(1),
    [SYS_faccessat2] = A(1),
    [SYS_readlink] = A(0) | A(1),
    [SYS_readlinkat] = A(1) | A(2),
    [SYS_execve] = A(0) | A(1) | A(2),
    [SYS_execveat] = A(1) | A(2) | A(3),
    [SYS_chdir] = A(0),
    [SYS_mkdir] = A(0),
    [SYS_mkdirat] = A(1),
    [SYS_rmdir] = A(0),
    [SYS_unlink] = A(0),
    [SYS_unlinkat] = A(1),
    [SYS_rename] = A(0) | A(1),
    [SYS_renameat] = A(1) | A(3),
    [SYS_renameat2] = A(1) | A(3),
    [SYS_link] = A(0) | A(1),
    [SYS_linkat] = A(1) | A(3),
    [SYS_symlink] = A(0) | A(1),
    [SYS_symlinkat] = A(0) | A(2),
    [SYS_chmod] = A(0),
    [SYS_fchmodat] = A(1),
    [SYS_chown] = A(0),
    [SYS_lchown] = A(0),
    [SYS_fchownat] = A(1),
    [SYS_truncate] = A(0),
    [SYS_utimensat] = A(1) | A(2),
    [SYS_utimes] = A(0) | A(1),
    [SYS_mknod] = A(0),
    [SYS_mknodat] = A(1),
    [SYS_statfs] = A(0) | A(1),
    [SYS_fstatfs] = A(1),
    [SYS_getcwd] = A(0),
    [SYS_ioctl] = A(2),
    [SYS_pipe] = A(0),
    [SYS_pipe2] = A(0),
    [SYS_socketpair] = A(3),
    [SYS_bind] = A(1),
    [SYS_connect] = A(1),
    [SYS_accept] = A(1) | A(2),
    [SYS_accept4] = A(1) | A(2),
    [SYS_getsockname] = A(1) | A(2),
    [SYS_getpeername] = A(1) | A(2),
    [SYS_setsockopt] = A(3),
    [SYS_getsockopt] = A(3) | A(4),
    [SYS_sendmmsg] = A(1),
    [SYS_recvmmsg] = A(1) | A(4),
    [SYS_poll] = A(0),
    [SYS_ppoll] = A(0) | A(2) | A(3),
    [SYS_select] = A(1) | A(2) | A(3) | A(4),
    [SYS_pselect6] = A(1) | A(2) | A(3) | A(4) | A(5),
    [SYS_epoll_ctl] = A(3),
    [SYS_epoll_wait] = A(1),
    [SYS_epoll_pwait] = A(1) | A(4),
    [SYS_epoll_pwait2] = A(1) | A(3) | A(4),
    [SYS_nanosleep] = A(0) | A(1),
    [SYS_clock_nanosleep] = A(2) | A(3),
    [SYS_clock_gettime] = A(1),
    [SYS_clock_getres] = A(1),
    [SYS_gettimeofday] = A(0) | A(1),
    [SYS_time] = A(0),
    [SYS_times] = A(0),
    [SYS_getrusage] = A(1),
    [SYS_sysinfo] = A(0),
    [SYS_uname] = A(0),
    [SYS_getrlimit] = A(1),
    [SYS_setrlimit] = A(1),
    [SYS_prlimit64] = A(2) | A(3),
    [SYS_rt_sigprocmask] = A(1) | A(2),
    [SYS_rt_sigpending] = A(0),
    [SYS_rt_sigtimedwait] = A(0) | A(1) | A(2),
    [SYS_rt_sigsuspend] = A(0),
    [SYS_rt_sigqueueinfo] = A(2),
    [SYS_rt_tgsigqueueinfo] = A(3),
    [SYS_sigaltstack] = A(0) | A(1),
    [SYS_rt_sigaction] = A(1) | A(2),
    [SYS_wait4] = A(1) | A(3),
    [SYS_waitid] = A(2) | A(4),
    [SYS_futex] = A(0) | A(4),
    [SYS_set_robust_list] = A(0),
    [SYS_get_robust_list] = A(1) | A(2),
    [SYS_set_tid_address] = A(0),
    [SYS_sched_setaffinity] = A(2),
    [SYS_sched_getaffinity] = A(2),
    [SYS_mmap] = A(0),
    [SYS_munmap] = A(0),
    [SYS_mprotect] = A(0),
    [SYS_madvise] = A(0),
    [SYS_mremap] = A(0) | A(4),
    [SYS_msync] = A(0),
    [SYS_mlock] = A(0),
    [SYS_mlock2] = A(0),
    [SYS_munlock] = A(0),
    [SYS_mincore] = A(0) | A(2),
    [SYS_pkey_mprotect] = A(0),
    [SYS_sendfile] = A(2),
    [SYS_copy_file_range] = A(1) | A(3),
    [SYS_splice] = A(1) | A(3),
    [SYS_vmsplice] = A(1),
    [SYS_process_vm_readv] = A(1) | A(3),
    [SYS_process_vm_writev] = A(1) | A(3),
    [SYS_getxattr] = A(0) | A(1) | A(2),
    [SYS_lgetxattr] = A(0) | A(1) | A(2),
    [SYS_fgetxattr] = A(1) | A(2),
    [SYS_setxattr] = A(0) | A(1) | A(2),
    [SYS_lsetxattr] = A(0) | A(1) | A(2),
    [SYS_fsetxattr] = A(1) | A(2),
    [SYS_listxattr] = A(0) | A(1),
    [SYS_flistxattr] = A(1),
    [SYS_removexattr] = A(0) | A(1),
    [SYS_inotify_add_watch] = A(1),
    [SYS_timerfd_settime] = A(2) | A(3),
    [SYS_timerfd_gettime] = A(1),
    [SYS_timer_create] = A(1) | A(2),
    [SYS_timer_settime] = A(2) | A(3),
    [SYS_timer_gettime] = A(1),
    [SYS_setitimer] = A(1) | A(2),
    [SYS_getitimer] = A(1),
    [SYS_signalfd] = A(1),
    [SYS_signalfd4] = A(1),
    [SYS_clone] = A(1) | A(2) | A(3),
    [SYS_clone3] = A(0),
    [SYS_shmat] = A(1),
    [SYS_shmdt] = A(0),
    [SYS_shmctl] = A(2),
    [SYS_semop] = A(1),
    [SYS_semtimedop] = A(1) | A(3),
    [SYS_msgsnd] = A(1),
    [SYS_msgrcv] = A(1),
    [SYS_io_setup] = A(1),
    [SYS_io_submit] = A(2),
    [SYS_io_getevents] = A(3) | A(4),
    [SYS_io_uring_setup] = A(1),
    [SYS_io_uring_enter] = A(4),
    [SYS_io_uring_register] = A(2),
    [SYS_getgroups] = A(1),
    [SYS_setgroups] = A(1),
    [SYS_getresuid] = A(0) | A(1) | A(2),
    [SYS_getresgid] = A(0) | A(1) | A(2),
    [SYS_getdents] = A(1),
    [SYS_memfd_create] = A(0),
    [SYS_getcpu] = A(0) | A(1),
    [SYS_rseq] = A(0),
    [SYS_sched_setattr] = A(1),
    [SYS_sched_getattr] = A(1),
    [SYS_sched_setparam] = A(1),
    [SYS_sched_getparam] = A(1),
    [SYS_sched_setscheduler] = A(2),
    [SYS_mount] = A(0) | A(1) | A(2) | A(4),
    [SYS_umount2] = A(0),
    [SYS_chroot] = A(0),
    [SYS_futex_waitv] = A(0) | A(3),
    [SYS_capget] = A(0) | A(1),
    [SYS_capset] = A(0) | A(1),
};
#undef A

static uint8_t logged[VMM_NSYSCALLS];

static long refuse(unsigned long nr, uint64_t ptr)
{
	if (!__atomic_exchange_n(&logged[nr], 1, __ATOMIC_RELAXED)) {
		char line[256];
		const char *name = vmm_syscall_name((unsigned)nr);
		int n =
		    snprintf(line, sizeof(line),
		             "sjmp: guest mode: %s: EFAULT: argument %#llx points into the segment "
		             "zone, which only the I/O family of calls translates; pass a buffer "
		             "outside the zone (copy through one)\n",
		             name ? name : "?", (unsigned long long)ptr);
		vmm_sys3(SYS_write, 2, line, n);
	}
	return -EFAULT;
}

static long check_other(unsigned long nr, const struct kvm_regs *r)
{
	uint8_t m = nr < VMM_NSYSCALLS ? zone_ptr_args[nr] : 0;
	if (!m)
		return 0;
	const uint64_t a[6] = {r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9};
	for (int i = 0; i < 6; i++)
		if ((m & (1u << i)) && in_zone(a[i]))
			return refuse(nr, a[i]);
	return 0;
}

bool vmm_proxy_syscall(struct vmm_vcpu *v, const struct kvm_regs *r, long *ret)
{
	unsigned long nr = r->rax;
	struct vmm *vm = vmm_get();
	struct call c;
	switch (nr) {
	case SYS_read:
	case SYS_pread64:
	case SYS_write:
	case SYS_pwrite64:
		if (!meets_zone(r->rsi, r->rdx))
			return false;
		call_init(&c, vm, v, r);
		*ret = proxy_rw(&c, (long)nr, nr == SYS_read || nr == SYS_pread64);
		return true;
	case SYS_readv:
	case SYS_preadv:
	case SYS_preadv2:
	case SYS_writev:
	case SYS_pwritev:
	case SYS_pwritev2:
		/* The array may be anywhere and point into the zone: rebuilt every time. */
		call_init(&c, vm, v, r);
		*ret = proxy_rwv(&c, (long)nr,
		                 nr == SYS_readv || nr == SYS_preadv || nr == SYS_preadv2);
		return true;
	case SYS_recvmsg:
	case SYS_sendmsg:
		call_init(&c, vm, v, r);
		*ret = proxy_msg(&c, (long)nr, r->rsi, (long)r->rdx);
		return true;
	case SYS_recvfrom:
	case SYS_sendto:
		if (!meets_zone(r->rsi, r->rdx) && !in_zone(r->r8) &&
		    !(nr == SYS_recvfrom && in_zone(r->r9)))
			return false;
		call_init(&c, vm, v, r);
		*ret = proxy_fromto(&c, (long)nr);
		return true;
	case SYS_getrandom:
		if (!meets_zone(r->rdi, r->rsi))
			return false;
		call_init(&c, vm, v, r);
		*ret = proxy_getrandom(&c);
		return true;
	case SYS_getdents64:
		if (!meets_zone(r->rsi, r->rdx))
			return false;
		call_init(&c, vm, v, r);
		*ret = proxy_getdents(&c);
		return true;
	case SYS_fstat:
	case SYS_stat:
	case SYS_lstat:
	case SYS_newfstatat:
	case SYS_statx: {
		uint64_t path = nr == SYS_fstat                     ? 0
		                : nr == SYS_stat || nr == SYS_lstat ? r->rdi
		                                                    : r->rsi;
		uint64_t buf = nr == SYS_statx ? r->r8 : nr == SYS_newfstatat ? r->rdx : r->rsi;
		if (!in_zone(path) && !meets_zone(buf, nr == SYS_statx ? 256 : 144))
			return false;
		call_init(&c, vm, v, r);
		*ret = proxy_stat(&c, (long)nr);
		return true;
	}
	default: {
		long e = check_other(nr, r);
		if (!e)
			return false;
		*ret = e;
		return true;
	}
	}
}
