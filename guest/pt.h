/* SPDX-License-Identifier: MIT */
/*
 * pt.h - x86-64 4-level guest page tables as pure functions over an explicit root.
 *
 * A root is the guest-physical address of a PML4 page. Table pages come from a pool: a range of
 * host memory whose guest-physical address is known (the pool is covered by a memslot), so the
 * host writes tables through their host address and the guest walks them by guest-physical
 * address. Nothing here touches KVM or global state: the unit tests run it on plain memory.
 *
 * Every entry written has U/S = 1 (platform.md: kvm_pvm livelocks on U/S = 0; harmless on VMX
 * and SVM while CR4.SMEP and CR4.SMAP are clear) and P = 1. Intermediate entries are RW and
 * executable; permissions are decided by the leaf (SDM 4.6: the most restrictive level wins).
 *
 * Context: not thread-safe; the caller serialises changes to one pool.
 */
#ifndef SJMP_GUEST_PT_H
#define SJMP_GUEST_PT_H

#include <stddef.h>
#include <stdint.h>

#include "x86_64_hw.h"

/**
 * struct guest_pt_pool - where table pages come from.
 * @hva:    host address of the first pool page, 4 KiB aligned.
 * @gpa:    guest-physical address of the same page.
 * @npages: pages in the pool.
 * @used:   pages handed out (bump allocation; tables are never freed).
 */
struct guest_pt_pool {
	uint8_t *hva;
	uint64_t gpa;
	size_t npages;
	size_t used;
};

/* Leaf permission bits accepted by guest_pt_map (others are refused). */
#define GUEST_PT_RW X86_PTE_RW
#define GUEST_PT_NX X86_PTE_NX
#define GUEST_PT_G  X86_PTE_G

/**
 * guest_pt_alloc() - take one zeroed table page from @pool.
 * @pa: out, its guest-physical address.
 * Return: the page's host address, or NULL when the pool is exhausted.
 */
uint64_t *guest_pt_alloc(struct guest_pt_pool *pool, uint64_t *pa);

/**
 * guest_pt_table() - host address of the table page at guest-physical @pa, or NULL when @pa is
 * not a page of @pool (the single overflow-checked translation every walk goes through).
 */
uint64_t *guest_pt_table(const struct guest_pt_pool *pool, uint64_t pa);

/**
 * guest_pt_map() - map [@va, @va + @len) onto guest-physical [@pa, @pa + @len) under @root.
 * @perm: GUEST_PT_RW | GUEST_PT_NX | GUEST_PT_G, or 0 for read-only executable.
 *
 * Uses 2 MiB pages (PDE with PS, SDM 4.5.4 Table 4-17) wherever @va and @pa are both 2 MiB
 * aligned and at least 2 MiB remain, 4 KiB pages elsewhere; missing tables are allocated from
 * @pool. An existing leaf of the same size is replaced (the caller flushes the TLB).
 *
 * Return: 0, or -EINVAL (unaligned @va/@pa/@len, @va + @len not canonical lower half, bad @perm,
 * @root not in the pool), -ENOMEM (pool exhausted: the range may be partly mapped), -EEXIST (a
 * 2 MiB leaf sits where a 4 KiB table is needed, or the reverse).
 */
int guest_pt_map(struct guest_pt_pool *pool, uint64_t root, uint64_t va, uint64_t pa, uint64_t len,
                 uint64_t perm);

/**
 * guest_pt_unmap() - clear the leaves of [@va, @va + @len) under @root; tables stay.
 * Return: 0, or -EINVAL (unaligned, or a 2 MiB leaf only partly inside the range).
 */
int guest_pt_unmap(struct guest_pt_pool *pool, uint64_t root, uint64_t va, uint64_t len);

/**
 * guest_pt_walk_fn - called for each present leaf, in address order.
 * @va: first address of the leaf; @pa: its guest-physical address; @size: 4 KiB or 2 MiB;
 * @pte: the entry. Return 0 to continue, anything else stops the walk and is returned.
 */
typedef int (*guest_pt_walk_fn)(uint64_t va, uint64_t pa, uint64_t size, uint64_t pte, void *arg);

/** guest_pt_walk() - visit every present leaf of [@va, @va + @len) under @root. */
int guest_pt_walk(const struct guest_pt_pool *pool, uint64_t root, uint64_t va, uint64_t len,
                  guest_pt_walk_fn fn, void *arg);

/**
 * guest_pt_translate() - guest-physical address of @va under @root, or -1 (all ones) when not
 * mapped. @pte (may be NULL) receives the leaf.
 */
uint64_t guest_pt_translate(const struct guest_pt_pool *pool, uint64_t root, uint64_t va,
                            uint64_t *pte);

/**
 * guest_pt_root_share() - make a new root whose PML4 entries are @src's, except slots
 * [@skip_first, @skip_end) which start empty: the common region's PDPTs are shared (a later
 * change below them is seen by every root) and the skipped slots (the segment zone) are private.
 * Return: 0 and *@root, or -ENOMEM, -EINVAL (@src not in the pool).
 */
int guest_pt_root_share(struct guest_pt_pool *pool, uint64_t src, unsigned skip_first,
                        unsigned skip_end, uint64_t *root);

#endif
