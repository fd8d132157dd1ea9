/* SPDX-License-Identifier: MIT */
/* objdir.c - create, delete and list object directories atomically (see objdir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objdir.h"

static unsigned long tmp_counter;

int sjmp__objdir_begin(int parentfd, char tmpname[SJMP__TMPNAME_MAX])
{
	for (int tries = 0; tries < 100; tries++) {
		unsigned long n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);
		snprintf(tmpname, SJMP__TMPNAME_MAX, ".new-%d-%lu", (int)getpid(), n);
		if (mkdirat(parentfd, tmpname, 0700) == 0) {
			int fd = openat(parentfd, tmpname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0) {
				int e = -errno;
				unlinkat(parentfd, tmpname, AT_REMOVEDIR);
				return e;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static void remove_tree(int parentfd, const char *name)
{
	int fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d)) != NULL)
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					unlinkat(fd, de->d_name, 0);
			closedir(d);
		} else {
			close(fd);
		}
	}
	unlinkat(parentfd, name, AT_REMOVEDIR);
}

int sjmp__objdir_commit(int parentfd, int dirfd, const char *tmpname, const char *name, mode_t mode)
{
	if (fchmod(dirfd, sjmp__dir_mode(mode)) < 0)
		return -errno;
	if (renameat2(parentfd, tmpname, parentfd, name, RENAME_NOREPLACE) < 0) {
		int e = -errno;
		if (e == -ENOTEMPTY)
			e = -EEXIST;
		remove_tree(parentfd, tmpname);
		return e;
	}
	return 0;
}

void sjmp__objdir_abort(int parentfd, const char *tmpname)
{
	remove_tree(parentfd, tmpname);
}

int sjmp__objdir_remove(int parentfd, const char *name)
{
	char dead[SJMP__TMPNAME_MAX];
	unsigned long n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);
	snprintf(dead, sizeof(dead), ".dead-%d-%lu", (int)getpid(), n);
	if (renameat(parentfd, name, parentfd, dead) < 0)
		return -errno;
	remove_tree(parentfd, dead);
	return 0;
}

int sjmp__objdir_list(int parentfd, void (*fn)(const char *name, void *arg), void *arg)
{
	int fd = openat(parentfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	int count = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		fn(de->d_name, arg);
		count++;
	}
	closedir(d);
	return count;
}

mode_t sjmp__dir_mode(mode_t mode)
{
	mode &= 0777;
	return mode | ((mode & 0444) >> 2);
}

mode_t sjmp__umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	mode_t m = 022;
	if (!f)
		return m;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		unsigned v;
		if (sscanf(line, "Umask: %o", &v) == 1) {
			m = (mode_t)v;
			break;
		}
	}
	fclose(f);
	return m;
}
