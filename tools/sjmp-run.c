/* SPDX-License-Identifier: MIT */
/*
 * sjmp-run - run an unmodified, dynamically linked program in guest mode from before main.
 *
 *   sjmp-run [--stats] [--info] [--] PROGRAM [ARGS...]
 *
 * The program is started with libsjmp-preload.so in LD_PRELOAD and SJMP_RUN_ENTER=1: the
 * preload's constructor calls sjmp_enter(), unless the program carries its own libsjmp (static,
 * or libsjmp.so), whose constructor then enters instead (one copy of the library per process).
 * Both stay in the environment so that programs the first one execs, with or without libsjmp,
 * come back into guest mode. Static binaries have no dynamic loader to preload into: they run
 * only when they link libsjmp (a defined sjmp_enter in their symbol table); others are refused
 * after a look at the ELF program headers (libelf).
 *   --stats  at the program's exit, print exits by reason, forwarded system calls by name and
 *            count, and the time spent outside the guest (one block per process, on stderr).
 *   --info   print the platform: host kind (vmx, svm, kvm_pvm), PCID, MAXPHYADDR; then exit
 *            unless a program follows.
 * Exit status: the program's; 125 when guest mode cannot be entered, 126/127 as a shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"
#include "sjmp.h"
#include "vmm.h"

static int usage(FILE *f)
{
	fprintf(f, "usage: sjmp-run [--stats] [--info] [--] PROGRAM [ARGS...]\n"
	           "Runs a dynamically linked PROGRAM in KVM guest ring 0 (guest mode).\n");
	return f == stderr ? 2 : 0;
}

static int info(void)
{
	struct vmm_platform p;
	int r = vmm_platform_probe(&p);
	if (r < 0) {
		printf("guest mode: unavailable (%s: %s)\n", sjmp_strerror(r),
		       r == -ENODEV ? "/dev/kvm missing" : "see the message above");
		return 1;
	}
	printf("host: %s\npcid: %s\nmaxphyaddr: %u\nxsave bytes: %zu\n", vmm_host_kind_name(p.kind),
	       p.pcid ? "yes" : "no", p.maxphyaddr, p.xsave_size);
	return 0;
}

/* PATH lookup as execvp does, for the ELF check. */
static int find_program(const char *name, char *out, size_t cap)
{
	if (strchr(name, '/')) {
		snprintf(out, cap, "%s", name);
		return access(out, X_OK) == 0 ? 0 : -errno;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		snprintf(out, cap, "%.*s/%s", (int)n, n ? p : ".", name);
		if (access(out, X_OK) == 0)
			return 0;
		p += n + (e ? 1 : 0);
	}
	return -ENOENT;
}

/* 1 if the ELF file has a PT_INTERP (dynamically linked), 0 if static, -1 if not ELF (a script:
 * the interpreter it names is checked by the kernel's exec, and is dynamic on Debian). */
static int elf_is_dynamic(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	int r = -1;
	size_t n;
	if (e && elf_kind(e) == ELF_K_ELF && elf_getphdrnum(e, &n) == 0) {
		r = 0;
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP)
				r = 1;
		}
	}
	if (e)
		elf_end(e);
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	int i = 1, stats = 0, want_info = 0;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "--stats")) {
			stats = 1;
		} else if (!strcmp(argv[i], "--info")) {
			want_info = 1;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			return usage(stdout);
		} else {
			fprintf(stderr, "sjmp-run: unknown option %s\n", argv[i]);
			return usage(stderr);
		}
	}
	if (want_info) {
		int r = info();
		if (i >= argc)
			return r;
	}
	if (i >= argc)
		return usage(stderr);

	char prog[PATH_MAX];
	if (find_program(argv[i], prog, sizeof(prog)) < 0) {
		fprintf(stderr, "sjmp-run: %s: command not found\n", argv[i]);
		return 127;
	}
	if (elf_is_dynamic(prog) == 0 && sjmp__elf_defines(prog, "sjmp_enter") != 1) {
		fprintf(stderr,
		        "sjmp-run: %s is statically linked without libsjmp: sjmp-run enters guest "
		        "mode through the dynamic loader (LD_PRELOAD) or through the program's own "
		        "libsjmp; link it dynamically, or link libsjmp into it\n",
		        prog);
		return 126;
	}

	/* libsjmp-preload.so sits next to this executable (build tree and install alike). */
	char self[PATH_MAX], lib[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0) {
		perror("sjmp-run: readlink /proc/self/exe");
		return 126;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	snprintf(lib, sizeof(lib), "%s/libsjmp-preload.so", self);
	if (access(lib, R_OK) != 0) {
		snprintf(lib, sizeof(lib), "%s/../lib/libsjmp-preload.so", self);
		if (access(lib, R_OK) != 0) {
			fprintf(stderr, "sjmp-run: libsjmp-preload.so not found next to %s\n",
			        self);
			return 126;
		}
	}
	char *abs = realpath(lib, NULL);
	const char *old = getenv("LD_PRELOAD");
	char *pre = malloc(strlen(abs) + (old ? strlen(old) : 0) + 2);
	sprintf(pre, "%s%s%s", abs, old && *old ? ":" : "", old && *old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	/* Kept by forwarded execve even if the program clears its environment. */
	setenv("SJMP_RUN_PRELOAD", abs, 1);
	/* A program with its own libsjmp enters from that copy's constructor (libsjmp/init.c). */
	setenv("SJMP_RUN_ENTER", "1", 1);
	if (stats)
		setenv("SJMP_RUN_STATS", "1", 1);
	/* The host cannot abort a guest rseq critical section: keep glibc from registering. */
	const char *tun = getenv("GLIBC_TUNABLES");
	char *t = malloc((tun ? strlen(tun) : 0) + 32);
	sprintf(t, "%s%sglibc.pthread.rseq=0", tun && *tun ? tun : "", tun && *tun ? ":" : "");
	setenv("GLIBC_TUNABLES", t, 1);
	execv(prog, argv + i);
	fprintf(stderr, "sjmp-run: exec %s: %s\n", prog, strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
