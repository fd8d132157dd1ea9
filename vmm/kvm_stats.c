/* SPDX-License-Identifier: MIT */
/*
 * kvm_stats.c - KVM's own counters of a VM or vCPU, read through the binary statistics file
 * (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst section 4.133): what --stats prints besides
 * the exits the VMM sees, notably the guest page faults KVM handles itself (on kvm_pvm every first
 * touch of a page after entry), and what tests read to count exits.
 *
 * Raw system calls and no allocation: also used by the host run loop at exit.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/kvm.h>

#include "sys_x86_64.h"
#include "vmm.h"

/* Longest statistic name we read; KVM's are under 48 bytes (KVM_STATS_NAME_SIZE). */
#define STAT_NAME_MAX 128

int vmm_kvm_stats_add(int kvm_object_fd, const char *const *names, uint64_t *vals, int n)
{
	int fd = (int)vmm_sys3(SYS_ioctl, kvm_object_fd, KVM_GET_STATS_FD, 0);
	if (fd < 0)
		return fd;
	struct kvm_stats_header h;
	int r = 0;
	if (vmm_sys4(SYS_pread64, fd, &h, sizeof(h), 0) != (long)sizeof(h) ||
	    h.name_size > STAT_NAME_MAX) {
		r = -EIO;
		goto out;
	}
	struct {
		struct kvm_stats_desc d;
		char name[STAT_NAME_MAX];
	} desc;
	size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		if (vmm_sys4(SYS_pread64, fd, &desc, dsz, h.desc_offset + i * dsz) != (long)dsz) {
			r = -EIO;
			break;
		}
		desc.d.name[h.name_size - 1] = '\0';
		for (int k = 0; k < n; k++) {
			uint64_t v;
			if (strcmp(desc.d.name, names[k]))
				continue;
			if (vmm_sys4(SYS_pread64, fd, &v, sizeof(v),
			             h.data_offset + desc.d.offset) != (long)sizeof(v)) {
				r = -EIO;
				goto out;
			}
			vals[k] += v;
			r++;
		}
	}
out:
	vmm_sys1(SYS_close, fd);
	return r;
}

int vmm_kvm_stat(const char *name, uint64_t *val)
{
	struct vmm_vcpu *v = vmm_self();
	if (!v)
		return -EPERM;
	*val = 0;
	int r = vmm_kvm_stats_add(v->fd, &name, val, 1);
	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}
