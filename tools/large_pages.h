/* SPDX-License-Identifier: MIT */
/*
 * large_pages.h - whether segment files in a directory get 2 MiB pages from the kernel.
 *
 * Segment files are allocated in full when a segment is created (docs/objects.md), so what
 * counts is the filesystem's policy for new pages of a file nobody has mapped yet: a tmpfs
 * mounted with huge=always or huge=within_size (or any tmpfs when
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled is "force"), or hugetlbfs. huge=advise does
 * not help: the pages exist before any mapping could ask for them.
 */
#ifndef SJMP_TOOLS_LARGE_PAGES_H
#define SJMP_TOOLS_LARGE_PAGES_H

#include <stddef.h>

/**
 * large_pages_in() - whether files created in @dir get 2 MiB pages.
 * @why: receives a one-line explanation (the filesystem and its huge= option), @n bytes.
 * Return: 1 yes, 0 no, -errno when @dir cannot be examined.
 */
int large_pages_in(const char *dir, char *why, size_t n);

#endif
