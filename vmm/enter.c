/* SPDX-License-Identifier: MIT */
/* enter.c - sjmp_enter(): the calling thread continues in guest ring 0. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

#include "log.h"
#include "sjmp.h"
#include "sys_x86_64.h"
#include "vmm_internal.h"

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -errno;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int sjmp_enter(void)
{
	if (vmm_self())
		return 0;
	int n = count_threads();
	if (n < 0)
		return sjmp__fail(n, "sjmp_enter: list /proc/self/task", "mount /proc");
	if (n > 1)
		return sjmp__fail(EBUSY, "sjmp_enter",
		                  "the process has %d threads; enter guest mode before creating "
		                  "threads (or run the program under sjmp-run)",
		                  n);
	int r = vmm_init();
	if (r < 0)
		return r;
	vmm_signals_init();
	struct vmm *vm = vmm_get();
	struct vmm_vcpu *v = vmm_vcpu_create(vm);
	if (!v)
		return sjmp__fail(ENOMEM, "sjmp_enter: KVM_CREATE_VCPU", "free memory or fds");
	uint64_t fs = 0;
	vmm_sys2(SYS_arch_prctl, ARCH_GET_FS, &fs);
	v->start_fs_base = fs;
	r = vmm_vcpu_setup_arch(vm, v);
	if (r < 0)
		goto fail;
	vmm_host_xsave(vm, v->xsave);
	if (ioctl(v->fd, KVM_SET_XSAVE, v->xsave) < 0) {
		r = sjmp__fail(errno, "KVM_SET_XSAVE", "the host refuses this thread's FPU state");
		goto fail;
	}
	vmm_switch_to_guest(v, v->host_stack_top);
	/* Guest ring 0 from here on. */
	return 0;
fail:
	vmm_vcpu_release(vm, v);
	return r;
}
