/* SPDX-License-Identifier: MIT */
/*
 * layout.h - every fixed address and size of guest mode.
 *
 * Guest-virtual == host-virtual for the whole process (the "common region"). Guest-physical
 * addresses are allocated: the user half of the host address space is cut into chunks of
 * SJMP_CHUNK_SIZE; each chunk that holds (or may soon hold) host mappings gets SJMP_CHUNK_SIZE of
 * guest-physical space, handed out upwards from SJMP_GPA_BASE, and one memslot mapping that GPA
 * range back onto the chunk's host range. Guest page tables map the chunk with 2 MiB pages.
 * Mappings over SJMP_COVER_EAGER_MAX are covered lazily, chunk by chunk, on first touch.
 * GPAs stay below 2^MAXPHYADDR of the guest CPUID (46 on kvm_pvm here), whereas host virtual
 * addresses go up to 2^47.
 */
#ifndef SJMP_GUEST_LAYOUT_H
#define SJMP_GUEST_LAYOUT_H

/*
 * 256 MiB chunks. KVM without TDP (kvm_pvm, and VMX/SVM with shadow paging) allocates and clears
 * reverse-map and page-track arrays proportional to a memslot's size when it is created: with
 * 1 GiB chunks that was a third of the cost of entering guest mode (perf: memslot_rmap_alloc,
 * clear_page), with 256 MiB it is a twelfth, and smaller chunks gain nothing measurable while
 * using memslots (at most 4096) faster.
 */
#define SJMP_CHUNK_SHIFT 28
#define SJMP_CHUNK_SIZE  (1UL << SJMP_CHUNK_SHIFT)
#define SJMP_USER_VA_TOP (1UL << 47) /* end of the user half (4-level paging) */
#define SJMP_NCHUNKS     (SJMP_USER_VA_TOP >> SJMP_CHUNK_SHIFT)

/* Mappings larger than this are covered only where the guest first touches them (one chunk per
 * fault), so that a large reservation does not use up memslots: at most 64 per mapping. */
#define SJMP_COVER_EAGER_MAX (16UL << 30)

/* First guest-physical address handed to a chunk: leaves 4 GiB below for anything legacy. */
#define SJMP_GPA_BASE (4UL << 30)

/* PML4 slots of the SpaceJMP segment zone (include/sjmp.h): never part of the common region. */
#define SJMP_ZONE_PML4_FIRST 33 /* SJMP_ZONE_BASE >> 39 */
#define SJMP_ZONE_PML4_END   40 /* (SJMP_ZONE_BASE + SJMP_ZONE_SIZE) >> 39 */

/* Pool of page-table pages (host memory, covered by a memslot like everything else). */
#define SJMP_PT_POOL_SIZE (16UL << 20)

/* Per-vCPU memory: host run-loop stack, guest IST stacks, the percpu page, GDT, IDT, TSS. */
#define SJMP_HOST_STACK_SIZE (256UL << 10)
#define SJMP_IST_STACK_SIZE  (16UL << 10)
#define SJMP_IST_STACKS      2 /* IST1: every exception; IST2: #DF, NMI, #MC */

/*
 * A read-only page the copy of libsjmp that entered guest mode maps here (just below the segment
 * zone), so that any other copy in the process sees it (vmm_other_copy_entered) and refuses.
 */
#define SJMP_GUEST_MARKER_VA    (SJMP_ZONE_PML4_FIRST * (1UL << 39) - 4096)
#define SJMP_GUEST_MARKER_MAGIC 0x31544e454a4d4a53UL /* "SJMJENT1" */

/* Most vCPUs (threads in guest mode at once) per process. */
#define SJMP_MAX_VCPUS 256

#endif
