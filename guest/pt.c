/* SPDX-License-Identifier: MIT */
/* pt.c - 4-level guest page tables over an explicit root (see pt.h). */
#include <errno.h>
#include <string.h>

#include "x86_64_hw.h"
#include "pt.h"

#define IDX(va, level) (((va) >> (12 + 9 * (level))) & 511) /* level 3 = PML4 ... 0 = PT */
#define TABLE_FLAGS    (X86_PTE_P | X86_PTE_RW | X86_PTE_US)

uint64_t *guest_pt_alloc(struct guest_pt_pool *pool, uint64_t *pa)
{
	if (pool->used >= pool->npages)
		return NULL;
	uint64_t *t = (uint64_t *)(pool->hva + pool->used * X86_PAGE_SIZE);
	*pa = pool->gpa + pool->used * X86_PAGE_SIZE;
	pool->used++;
	memset(t, 0, X86_PAGE_SIZE);
	return t;
}

uint64_t *guest_pt_table(const struct guest_pt_pool *pool, uint64_t pa)
{
	pa &= X86_PTE_ADDR;
	if (pa < pool->gpa)
		return NULL;
	uint64_t off = pa - pool->gpa;
	if (off / X86_PAGE_SIZE >= pool->npages)
		return NULL;
	return (uint64_t *)(pool->hva + off);
}

/* Next-level table of entry @e, allocated when absent; NULL with *err set on failure. */
static uint64_t *next_table(struct guest_pt_pool *pool, uint64_t *e, int *err)
{
	if (*e & X86_PTE_P) {
		if (*e & X86_PTE_PS) {
			*err = -EEXIST;
			return NULL;
		}
		uint64_t *t = guest_pt_table(pool, *e);
		if (!t)
			*err = -EINVAL;
		return t;
	}
	uint64_t pa;
	uint64_t *t = guest_pt_alloc(pool, &pa);
	if (!t) {
		*err = -ENOMEM;
		return NULL;
	}
	*e = pa | TABLE_FLAGS;
	return t;
}

static int range_ok(uint64_t va, uint64_t len)
{
	return !(va & (X86_PAGE_SIZE - 1)) && !(len & (X86_PAGE_SIZE - 1)) && va + len >= va &&
	       va + len <= (1UL << 47);
}

int guest_pt_map(struct guest_pt_pool *pool, uint64_t root, uint64_t va, uint64_t pa, uint64_t len,
                 uint64_t perm)
{
	if (!range_ok(va, len) || (pa & (X86_PAGE_SIZE - 1)) || (pa & ~X86_PTE_ADDR) ||
	    (perm & ~(GUEST_PT_RW | GUEST_PT_NX | GUEST_PT_G)))
		return -EINVAL;
	uint64_t *pml4 = guest_pt_table(pool, root);
	if (!pml4)
		return -EINVAL;
	uint64_t leaf = X86_PTE_P | X86_PTE_US | X86_PTE_A | X86_PTE_D | perm;
	int err = 0;
	while (len) {
		uint64_t *pdpt = next_table(pool, &pml4[IDX(va, 3)], &err);
		if (!pdpt)
			return err;
		uint64_t *pd = next_table(pool, &pdpt[IDX(va, 2)], &err);
		if (!pd)
			return err;
		uint64_t *pde = &pd[IDX(va, 1)];
		if (!(va & (X86_LARGE_SIZE - 1)) && !(pa & (X86_LARGE_SIZE - 1)) &&
		    len >= X86_LARGE_SIZE) {
			if ((*pde & X86_PTE_P) && !(*pde & X86_PTE_PS))
				return -EEXIST;
			*pde = pa | leaf | X86_PTE_PS;
			va += X86_LARGE_SIZE;
			pa += X86_LARGE_SIZE;
			len -= X86_LARGE_SIZE;
			continue;
		}
		uint64_t *pt = next_table(pool, pde, &err);
		if (!pt)
			return err;
		pt[IDX(va, 0)] = pa | leaf;
		va += X86_PAGE_SIZE;
		pa += X86_PAGE_SIZE;
		len -= X86_PAGE_SIZE;
	}
	return 0;
}

int guest_pt_unmap(struct guest_pt_pool *pool, uint64_t root, uint64_t va, uint64_t len)
{
	if (!range_ok(va, len))
		return -EINVAL;
	uint64_t *pml4 = guest_pt_table(pool, root);
	if (!pml4)
		return -EINVAL;
	while (len) {
		uint64_t step = X86_PAGE_SIZE;
		uint64_t e = pml4[IDX(va, 3)];
		uint64_t *pdpt = (e & X86_PTE_P) ? guest_pt_table(pool, e) : NULL;
		uint64_t *pd = NULL, *pt = NULL;
		if (pdpt && (pdpt[IDX(va, 2)] & X86_PTE_P))
			pd = guest_pt_table(pool, pdpt[IDX(va, 2)]);
		if (pd) {
			uint64_t *pde = &pd[IDX(va, 1)];
			if ((*pde & X86_PTE_P) && (*pde & X86_PTE_PS)) {
				if ((va & (X86_LARGE_SIZE - 1)) || len < X86_LARGE_SIZE)
					return -EINVAL;
				*pde = 0;
				step = X86_LARGE_SIZE;
			} else if (*pde & X86_PTE_P) {
				pt = guest_pt_table(pool, *pde);
			}
		}
		if (pt)
			pt[IDX(va, 0)] = 0;
		va += step;
		len -= step;
	}
	return 0;
}

int guest_pt_walk(const struct guest_pt_pool *pool, uint64_t root, uint64_t va, uint64_t len,
                  guest_pt_walk_fn fn, void *arg)
{
	if (!range_ok(va, len))
		return -EINVAL;
	const uint64_t *pml4 = guest_pt_table(pool, root);
	if (!pml4)
		return -EINVAL;
	uint64_t end = va + len;
	while (va < end) {
		uint64_t e = pml4[IDX(va, 3)];
		const uint64_t *pdpt = (e & X86_PTE_P) ? guest_pt_table(pool, e) : NULL;
		if (!pdpt) {
			va = (va | (X86_PML4E_SIZE - 1)) + 1;
			continue;
		}
		e = pdpt[IDX(va, 2)];
		const uint64_t *pd = (e & X86_PTE_P) ? guest_pt_table(pool, e) : NULL;
		if (!pd) {
			va = (va | (X86_HUGE_SIZE - 1)) + 1;
			continue;
		}
		e = pd[IDX(va, 1)];
		if ((e & X86_PTE_P) && (e & X86_PTE_PS)) {
			uint64_t base = va & ~(X86_LARGE_SIZE - 1);
			int r = fn(base, e & X86_PTE_ADDR & ~(X86_LARGE_SIZE - 1), X86_LARGE_SIZE,
			           e, arg);
			if (r)
				return r;
			va = base + X86_LARGE_SIZE;
			continue;
		}
		const uint64_t *pt = (e & X86_PTE_P) ? guest_pt_table(pool, e) : NULL;
		if (!pt) {
			va = (va | (X86_LARGE_SIZE - 1)) + 1;
			continue;
		}
		e = pt[IDX(va, 0)];
		if (e & X86_PTE_P) {
			int r =
			    fn(va & ~(X86_PAGE_SIZE - 1), e & X86_PTE_ADDR, X86_PAGE_SIZE, e, arg);
			if (r)
				return r;
		}
		va = (va | (X86_PAGE_SIZE - 1)) + 1;
	}
	return 0;
}

uint64_t guest_pt_translate(const struct guest_pt_pool *pool, uint64_t root, uint64_t va,
                            uint64_t *pte)
{
	const uint64_t *t = guest_pt_table(pool, root);
	for (int level = 3; t; level--) {
		uint64_t e = t[IDX(va, level)];
		if (!(e & X86_PTE_P))
			break;
		if (level == 0 || (level == 1 && (e & X86_PTE_PS))) {
			uint64_t mask = level ? X86_LARGE_SIZE - 1 : X86_PAGE_SIZE - 1;
			if (pte)
				*pte = e;
			return ((e & X86_PTE_ADDR) & ~mask) | (va & mask);
		}
		t = guest_pt_table(pool, e);
	}
	return ~0UL;
}

int guest_pt_root_share(struct guest_pt_pool *pool, uint64_t src, unsigned skip_first,
                        unsigned skip_end, uint64_t *root)
{
	const uint64_t *s = guest_pt_table(pool, src);
	if (!s || skip_first > skip_end || skip_end > 512)
		return -EINVAL;
	uint64_t pa;
	uint64_t *d = guest_pt_alloc(pool, &pa);
	if (!d)
		return -ENOMEM;
	for (unsigned i = 0; i < 512; i++)
		d[i] = (i >= skip_first && i < skip_end) ? 0 : s[i];
	*root = pa;
	return 0;
}
