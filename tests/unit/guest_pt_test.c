/* SPDX-License-Identifier: MIT */
/* Guest page tables as pure functions over an explicit root (no KVM needed). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "layout.h"
#include "sjmp.h"
#include "pt.h"
#include "x86_64_hw.h"

static struct guest_pt_pool pool;
static uint64_t root;

static void setup(void)
{
	size_t n = 64;
	pool.hva = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert(pool.hva != MAP_FAILED);
	pool.gpa = 0x123400000;
	pool.npages = n;
	pool.used = 0;
	cr_assert(guest_pt_alloc(&pool, &root));
}

static void teardown(void)
{
	munmap(pool.hva, pool.npages * 4096);
}

TestSuite(guest_pt, .init = setup, .fini = teardown);

struct walk_acc {
	int leaves;
	uint64_t bytes;
	uint64_t all_flags;
};

static int acc(uint64_t va, uint64_t pa, uint64_t size, uint64_t pte, void *arg)
{
	(void)va;
	(void)pa;
	struct walk_acc *a = arg;
	a->leaves++;
	a->bytes += size;
	a->all_flags |= pte;
	return 0;
}

Test(guest_pt, aligned_range_uses_2mib_pages_with_user_bit)
{
	cr_assert_eq(guest_pt_map(&pool, root, 0x7f0000000000, 0x40000000, 8 << 20, GUEST_PT_RW),
	             0);
	struct walk_acc a = {0};
	cr_assert_eq(guest_pt_walk(&pool, root, 0x7f0000000000, 8 << 20, acc, &a), 0);
	cr_expect_eq(a.leaves, 4);
	cr_expect_eq(a.bytes, 8 << 20);
	cr_expect(a.all_flags & X86_PTE_US, "U/S = 1 in every leaf (kvm_pvm)");
	cr_expect(a.all_flags & X86_PTE_PS);
	uint64_t pte;
	cr_expect_eq(guest_pt_translate(&pool, root, 0x7f0000123456, &pte), 0x40123456);
	/* 1 PML4 + PDPT + PD: 3 pages used. */
	cr_expect_eq(pool.used, 3);
}

Test(guest_pt, unaligned_range_uses_4kib_pages)
{
	cr_assert_eq(guest_pt_map(&pool, root, 0x1000, 0x5000, 0x3000, GUEST_PT_RW | GUEST_PT_NX),
	             0);
	struct walk_acc a = {0};
	guest_pt_walk(&pool, root, 0, 1 << 21, acc, &a);
	cr_expect_eq(a.leaves, 3);
	uint64_t pte;
	cr_expect_eq(guest_pt_translate(&pool, root, 0x2010, &pte), 0x6010);
	cr_expect(pte & X86_PTE_NX);
	cr_expect_eq(guest_pt_translate(&pool, root, 0x4000, NULL), ~0UL);
}

Test(guest_pt, every_intermediate_entry_has_user_bit)
{
	cr_assert_eq(guest_pt_map(&pool, root, 0x5000, 0x9000, 0x1000, 0), 0);
	uint64_t *pml4 = guest_pt_table(&pool, root);
	uint64_t *pdpt = guest_pt_table(&pool, pml4[0]);
	uint64_t *pd = guest_pt_table(&pool, pdpt[0]);
	cr_expect(pml4[0] & X86_PTE_US);
	cr_expect(pdpt[0] & X86_PTE_US);
	cr_expect(pd[0] & X86_PTE_US);
}

Test(guest_pt, unmap_clears_leaves_and_refuses_partial_large_page)
{
	cr_assert_eq(guest_pt_map(&pool, root, 0x200000, 0x400000, 4 << 20, GUEST_PT_RW), 0);
	cr_expect_eq(guest_pt_unmap(&pool, root, 0x201000, 0x1000), -EINVAL);
	cr_expect_eq(guest_pt_unmap(&pool, root, 0x200000, 2 << 20), 0);
	cr_expect_eq(guest_pt_translate(&pool, root, 0x200000, NULL), ~0UL);
	cr_expect_eq(guest_pt_translate(&pool, root, 0x400000, NULL), 0x600000);
}

Test(guest_pt, bad_arguments_are_refused)
{
	cr_expect_eq(guest_pt_map(&pool, root, 0x1001, 0, 0x1000, 0), -EINVAL);
	cr_expect_eq(guest_pt_map(&pool, root, 0x800000000000, 0, 0x1000, 0), -EINVAL);
	cr_expect_eq(guest_pt_map(&pool, root, 0x1000, 0, 0x1000, X86_PTE_PCD), -EINVAL);
	cr_expect_eq(guest_pt_map(&pool, 0xdead000, 0x1000, 0, 0x1000, 0), -EINVAL);
}

Test(guest_pt, pool_exhaustion_is_enomem)
{
	pool.npages = 2;
	cr_expect_eq(guest_pt_map(&pool, root, 0, 0, 0x1000, 0), -ENOMEM);
	pool.npages = 64;
}

Test(guest_pt, shared_root_sees_common_changes_but_not_the_zone)
{
	cr_assert_eq(guest_pt_map(&pool, root, 0x40000000, 0x80000000, 2 << 20, GUEST_PT_RW), 0);
	uint64_t r2;
	cr_assert_eq(
	    guest_pt_root_share(&pool, root, SJMP_ZONE_PML4_FIRST, SJMP_ZONE_PML4_END, &r2), 0);
	/* A later common-region change under a shared PDPT is seen by both roots. */
	cr_assert_eq(guest_pt_map(&pool, root, 0x40200000, 0x80200000, 2 << 20, GUEST_PT_RW), 0);
	cr_expect_eq(guest_pt_translate(&pool, r2, 0x40200000, NULL), 0x80200000);
	/* The zone is private per root. */
	cr_assert_eq(guest_pt_map(&pool, r2, SJMP_ZONE_BASE, 0x100000000, 2 << 20, GUEST_PT_RW), 0);
	cr_expect_eq(guest_pt_translate(&pool, r2, SJMP_ZONE_BASE, NULL), 0x100000000);
	cr_expect_eq(guest_pt_translate(&pool, root, SJMP_ZONE_BASE, NULL), ~0UL);
}

static int stop_at_second(uint64_t va, uint64_t pa, uint64_t size, uint64_t pte, void *arg)
{
	(void)va;
	(void)pa;
	(void)size;
	(void)pte;
	return ++*(int *)arg == 2 ? 42 : 0;
}

Test(guest_pt, walk_stops_when_callback_says_so)
{
	cr_assert_eq(guest_pt_map(&pool, root, 0, 0, 0x5000, 0), 0);
	int n = 0;
	cr_expect_eq(guest_pt_walk(&pool, root, 0, 0x5000, stop_at_second, &n), 42);
	cr_expect_eq(n, 2);
}
