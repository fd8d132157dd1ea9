/* SPDX-License-Identifier: MIT */
/*
 * symbolize.c - the symbol of a guest RIP for the crash report, through libelf: the ELF file of
 * the mapping that contains RIP (/proc/self/maps), its .symtab, else its .dynsym, with the load
 * bias taken from the PT_LOAD segment that maps RIP's file offset (ELF-64 Object File Format,
 * "Program Header" and "Symbol Table"). Static functions are found too (dladdr sees only
 * dynamic symbols).
 *
 * Where it runs: the crash report is written from the vCPU's host run loop, in the thread that
 * also runs the guest program, which may have died holding the malloc lock, stdio locks or the
 * loader's lock (a crash inside malloc is a common one). libelf allocates. So the lookup runs in
 * a child made with a raw fork: the child may use libelf, malloc and stdio; if it blocks on a
 * lock inherited in the locked state, the parent kills it after VMM_SYMBOLIZE_MS and reports
 * no symbol. The parent side makes raw system calls only, like the rest of the run loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys_x86_64.h"
#include "vmm_internal.h"

#define VMM_SYMBOLIZE_MS 3000

/* The mapping of /proc/self/maps that contains @addr: its start, file offset and path. */
static bool find_mapping(uint64_t addr, uint64_t *start, uint64_t *off, char *path, size_t cap)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return false;
	char line[4352];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, fo;
		int n = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &lo, &hi, &fo, &n) < 3 || !n)
			continue;
		if (addr < lo || addr >= hi || line[n] != '/')
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, cap, "%s", line + n);
		*start = lo;
		*off = fo;
		found = true;
	}
	fclose(f);
	return found;
}

/* The link-time address of file offset @foff: through the PT_LOAD segment that maps it. */
static bool file_to_vaddr(Elf *e, uint64_t foff, uint64_t *vaddr)
{
	size_t n;
	if (elf_getphdrnum(e, &n) != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (foff >= ph.p_offset && foff - ph.p_offset < ph.p_memsz) {
			*vaddr = foff - ph.p_offset + ph.p_vaddr;
			return true;
		}
	}
	return false;
}

/* The symbol of section type @type (SHT_SYMTAB or SHT_DYNSYM) that contains @vaddr. */
static bool lookup(Elf *e, unsigned type, uint64_t vaddr, char *out, size_t cap)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		const char *best = NULL;
		uint64_t best_val = 0;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;
			if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF || !s.st_name)
				continue;
			unsigned t = GELF_ST_TYPE(s.st_info);
			if (t != STT_FUNC && t != STT_NOTYPE && t != STT_OBJECT)
				continue;
			bool in = vaddr >= s.st_value && (s.st_size ? vaddr - s.st_value < s.st_size
			                                            : vaddr == s.st_value);
			/* Sized symbols that contain it; the innermost (highest start) wins. */
			if (in && (!best || s.st_value > best_val)) {
				best = elf_strptr(e, sh.sh_link, s.st_name);
				best_val = s.st_value;
			}
		}
		if (best) {
			snprintf(out, cap, "%s+0x%lx (%s)", best, (unsigned long)(vaddr - best_val),
			         type == SHT_SYMTAB ? ".symtab" : ".dynsym");
			return true;
		}
	}
	return false;
}

/* In the child: "symbol+off (table) in path" for @rip into @out, or false. */
static bool symbolize_here(uint64_t rip, char *out, size_t cap)
{
	char path[4096];
	uint64_t start, off;
	if (!find_mapping(rip, &start, &off, path, sizeof(path)))
		return false;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	bool ok = false;
	uint64_t vaddr;
	char sym[512];
	if (e && elf_kind(e) == ELF_K_ELF && file_to_vaddr(e, rip - start + off, &vaddr) &&
	    (lookup(e, SHT_SYMTAB, vaddr, sym, sizeof(sym)) ||
	     lookup(e, SHT_DYNSYM, vaddr, sym, sizeof(sym)))) {
		/* Truncation is acceptable: the report shows what fits. */
		int n = snprintf(out, cap, "%s in ", sym);
		if (n > 0 && (size_t)n < cap)
			snprintf(out + n, cap - (size_t)n, "%.*s", (int)(cap - (size_t)n - 1),
			         path);
		ok = true;
	}
	if (e)
		elf_end(e);
	close(fd);
	return ok;
}

int vmm_symbolize(uint64_t rip, char *out, size_t cap)
{
	int p[2];
	long e = vmm_sys2(SYS_pipe2, p, O_CLOEXEC);
	if (e < 0)
		return (int)e;
	long pid = vmm_sys0(SYS_fork);
	if (pid == 0) {
		char buf[1024];
		vmm_sys1(SYS_close, p[0]);
		size_t n = symbolize_here(rip, buf, sizeof(buf)) ? strlen(buf) : 0;
		vmm_sys3(SYS_write, p[1], buf, n);
		for (;;)
			vmm_sys1(SYS_exit_group, 0);
	}
	vmm_sys1(SYS_close, p[1]);
	if (pid < 0) {
		vmm_sys1(SYS_close, p[0]);
		return (int)pid;
	}
	size_t got = 0;
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	int intr = 0;
	while (got + 1 < cap) {
		long r = vmm_sys3(SYS_poll, &pfd, 1, VMM_SYMBOLIZE_MS);
		if (r == -EINTR && ++intr < 16)
			continue; /* e.g. SIGCHLD of the child itself, taken by the VMM's stub */
		if (r <= 0)
			break;
		r = vmm_sys3(SYS_read, p[0], out + got, cap - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = 0;
	vmm_sys1(SYS_close, p[0]);
	vmm_sys2(SYS_kill, pid, SIGKILL);
	vmm_sys4(SYS_wait4, pid, NULL, 0, NULL);
	return got ? 0 : -ENOENT;
}
