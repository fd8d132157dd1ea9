/* SPDX-License-Identifier: MIT */
/*
 * elf_probe.c - does an ELF file carry its own copy of libsjmp? (sjmp-run and its preload use
 * this to leave guest mode to the program's own copy: one copy of the library per process.)
 * Reads the section headers and the symbol tables (.symtab, .dynsym) of a 64-bit ELF file
 * mapped read-only (ELF-64 Object File Format, "Sections" and "Symbol Table").
 */
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Whether [off, off + len) lies inside a file of @size bytes. */
static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

int sjmp__elf_defines(const char *path, const char *name)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return 0;
	}
	uint64_t size = (uint64_t)st.st_size;
	const uint8_t *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	int found = 0;
	const Elf64_Ehdr *eh = (const void *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), size))
		goto out;
	const Elf64_Shdr *sh = (const void *)(m + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum && !found; i++) {
		if ((sh[i].sh_type != SHT_SYMTAB && sh[i].sh_type != SHT_DYNSYM) ||
		    sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(Elf64_Sym) ||
		    !in_file(sh[i].sh_offset, sh[i].sh_size, size))
			continue;
		const Elf64_Shdr *strs = &sh[sh[i].sh_link];
		if (!in_file(strs->sh_offset, strs->sh_size, size))
			continue;
		const char *str = (const char *)m + strs->sh_offset;
		const Elf64_Sym *sym = (const void *)(m + sh[i].sh_offset);
		size_t n = sh[i].sh_size / sizeof(Elf64_Sym), nlen = strlen(name);
		for (size_t k = 0; k < n && !found; k++)
			found = sym[k].st_shndx != SHN_UNDEF && sym[k].st_name < strs->sh_size &&
			        strs->sh_size - sym[k].st_name > nlen &&
			        !memcmp(str + sym[k].st_name, name, nlen + 1);
	}
out:
	munmap((void *)m, size);
	return found;
}

static int find_libsjmp_so(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
	return slash && !strncmp(slash + 1, "libsjmp.so", 10);
}

bool sjmp__program_has_copy(void)
{
	return dl_iterate_phdr(find_libsjmp_so, NULL) ||
	       sjmp__elf_defines("/proc/self/exe", "sjmp_enter") == 1;
}
