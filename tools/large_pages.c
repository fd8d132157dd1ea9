/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include "large_pages.h"

/* The bracketed word of /sys/kernel/mm/transparent_hugepage/shmem_enabled ("never" if absent). */
static void shmem_policy(char *out, size_t n)
{
	char line[256] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
	snprintf(out, n, "never");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
		if (a && b)
			snprintf(out, n, "%.*s", (int)(b - a - 1), a + 1);
	}
	fclose(f);
}

/* The huge= option of the mount that holds @path (its longest mount-point prefix), or "never". */
static void tmpfs_huge_option(const char *path, char *out, size_t n)
{
	char line[4096], best_opt[64] = "never";
	size_t best_len = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			/* id parent major:minor root MOUNT-POINT options ... - fstype source
			 * superopts */
			char mnt[PATH_MAX], *sep = strstr(line, " - ");
			if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
				continue;
			size_t ml = strlen(mnt);
			int under = !strncmp(path, mnt, ml) &&
			            (path[ml] == '/' || path[ml] == '\0' || !strcmp(mnt, "/"));
			if (!under || ml < best_len)
				continue;
			best_len = ml;
			const char *h = strstr(sep, "huge=");
			snprintf(best_opt, sizeof(best_opt), "%s", "never");
			if (h)
				sscanf(h + 5, "%63[a-z_]", best_opt);
		}
		fclose(f);
	}
	snprintf(out, n, "%s", best_opt);
}

int large_pages_in(const char *dir, char *why, size_t n)
{
	struct statfs st;
	char real[PATH_MAX], policy[32], huge[64];
	if (statfs(dir, &st) < 0 || !realpath(dir, real))
		return -errno;
	if (st.f_type == HUGETLBFS_MAGIC) {
		snprintf(why, n, "hugetlbfs");
		return 1;
	}
	if (st.f_type != TMPFS_MAGIC) {
		snprintf(why, n,
		         "not a tmpfs: the kernel maps regular files writable with 4 KiB pages");
		return 0;
	}
	shmem_policy(policy, sizeof(policy));
	if (!strcmp(policy, "force") || !strcmp(policy, "deny")) {
		snprintf(why, n, "tmpfs, shmem_enabled=%s", policy);
		return policy[0] == 'f';
	}
	tmpfs_huge_option(real, huge, sizeof(huge));
	int yes = !strcmp(huge, "always") || !strcmp(huge, "within_size");
	snprintf(why, n, "tmpfs, huge=%s%s", huge,
	         yes ? ""
	             : ": mount one with huge=within_size for 2 MiB pages (docs/guest-mode.md)");
	return yes;
}
