/* SPDX-License-Identifier: MIT */
/*
 * heap.h - the per-segment heap: an allocator whose whole state lives in the segment.
 *
 * The segment starts with struct sjmp_seg_header (include/sjmp.h), then the allocator's state,
 * then the heap blocks; all internal links are offsets from the segment base, so the heap is
 * position-independent even though segments always sit at their fixed base. Every update to
 * the heap's structure is recorded in an undo log inside the header before it is made, so a
 * process killed at any instruction leaves a heap that sjmp__heap_recover() rolls back to a
 * consistent state, leaking at most the block that was being allocated.
 *
 * These functions are pure over the memory they are given (no global state) so they are unit
 * tested on anonymous memory without the rest of the library. Serialisation is the caller's:
 * pass a struct sjmp__heap_sync.
 */
#ifndef SJMP_HEAP_H
#define SJMP_HEAP_H

#include <stddef.h>
#include <stdint.h>
#include "sjmp.h"

/**
 * struct sjmp__heap_sync - how the heap serialises itself.
 * @lock:   take the mutex; return 0, SJMP__OWNER_DIED (1) if the previous owner died holding it
 *          (the heap then runs sjmp__heap_recover itself), or -errno.
 * @unlock: release it.
 * @arg:    passed to both.
 */
struct sjmp__heap_sync {
	int (*lock)(void *arg);
	void (*unlock)(void *arg);
	void *arg;
};

/**
 * sjmp__heap_format() - write a fresh header and an empty heap over [base, base+size).
 * @base: page-aligned start of the segment's memory, writable, mapped at the segment's fixed
 *        base (the header records it).
 * @size: bytes, at least SJMP__HEAP_MIN_SIZE; the heap ends at @size rounded down to 16.
 *
 * The header's magic is written last, so a segment whose formatting was interrupted fails
 * sjmp__heap_validate. The root pointer is cleared.
 * Context: before any other process uses the segment; not serialised.
 * Return: 0, or -EINVAL (@base NULL or not page-aligned, or @size too small).
 */
int sjmp__heap_format(void *base, size_t size);
#define SJMP__HEAP_MIN_SIZE 4096

/**
 * sjmp__heap_validate() - check that [base, base+size) holds a header of this format, made for
 * this base and this size.
 * @base: where the segment is mapped. @size: its mapped size in bytes.
 * Context: any time; reads only the header.
 * Return: 0, or -EBADMSG: bad magic (not a segment, or formatting never finished), another
 * format version, a header_size of another allocator layout, or a base or size different from
 * the mapping's (the segment must be mapped at its own base, with its own size).
 */
int sjmp__heap_validate(const void *base, size_t size);

/**
 * sjmp__heap_malloc() - allocate @size bytes (16-byte aligned) in the heap at @base.
 * @base: a segment formatted by sjmp__heap_format and mapped writable at its base.
 * @sync: the heap's lock; NULL when the caller guarantees no one else uses the heap.
 * @size: bytes; 0 gives a unique minimal block.
 *
 * Takes @sync's lock; if the previous holder died, first rolls its operation back.
 * Context: any thread of any process mapping the segment; not async-signal-safe.
 * Return: the block (an absolute address inside the segment), or NULL with errno:
 * ENOMEM: no free block or top space is large enough (free something, or use a bigger segment);
 * EUCLEAN: the allocator state or a free list is corrupted (sjmp__heap_check says where); the
 *          heap is left as it was before the call;
 * any errno returned (negated) by @sync->lock.
 */
void *sjmp__heap_malloc(void *base, const struct sjmp__heap_sync *sync, size_t size);

/**
 * sjmp__heap_calloc() - allocate @n * @size zeroed bytes; as sjmp__heap_malloc.
 * Return: the block, or NULL with errno ENOMEM (also when @n * @size overflows size_t),
 * EUCLEAN, or the lock's error.
 */
void *sjmp__heap_calloc(void *base, const struct sjmp__heap_sync *sync, size_t n, size_t size);

/**
 * sjmp__heap_realloc() - resize a block, as realloc(3).
 * @p:    a block of this heap, or NULL (then as sjmp__heap_malloc).
 * @size: new size in bytes; 0 frees @p and returns NULL (as glibc).
 *
 * Shrinks in place (the tail is freed), grows in place into the top or into a free successor,
 * otherwise allocates, copies min(old, new) bytes and frees @p. A crash between those last
 * steps leaks the new block only.
 * Return: the block (maybe @p), or NULL with errno: ENOMEM (@p is left intact), EINVAL (@p is
 * not an allocated block of this heap; nothing changes), EUCLEAN, or the lock's error.
 */
void *sjmp__heap_realloc(void *base, const struct sjmp__heap_sync *sync, void *p, size_t size);

/**
 * sjmp__heap_free() - free a block and merge it with free neighbours; NULL is a no-op.
 * Context: as sjmp__heap_malloc.
 * Return: 0, or -EINVAL when @p is not a block of this heap (outside it, misaligned, not at
 * a block start, or not allocated: double free); the heap is then unchanged. -EUCLEAN when a
 * neighbour or free list is corrupted (the heap is rolled back), or the lock's error.
 */
int sjmp__heap_free(void *base, const struct sjmp__heap_sync *sync, void *p);

/**
 * sjmp__heap_usable_size() - bytes usable at @p (at least what was asked for).
 * Context: any thread; takes no lock (reads only @p's own header).
 * Return: the byte count, or 0 when @p is NULL or not an allocated block of this heap.
 */
size_t sjmp__heap_usable_size(const void *base, const void *p);

/**
 * sjmp__heap_check() - verify every invariant: header and state fields, an empty undo log,
 * each block's size, flags, tag (allocated) or footer (free), no two adjacent free blocks,
 * every free block listed exactly once in the list of its size class with coherent links, the
 * list bitmap, and the counters.
 * @stats:  filled when not NULL (top counts as one free block when not empty).
 * @why:    receives a one-line description of the first problem ("" when clean); may be NULL.
 * @whylen: bytes at @why.
 *
 * Every walk is bounded, so damaged data cannot crash it or make it loop; it trusts only the
 * header's size, so run sjmp__heap_validate against the mapping first. Allocates a bitmap of
 * (heap bytes / 128) bytes with malloc(3); without it, list membership is checked less strictly.
 * Context: not serialised: call it with the mutex held or when no one else uses the heap.
 * Return: 0 or -EUCLEAN.
 */
int sjmp__heap_check(const void *base, struct sjmp_heap_stats *stats, char *why, size_t whylen);

/**
 * sjmp__heap_recover() - roll back an operation interrupted by the death of its process, from
 * the undo log. Idempotent; a no-op when the log is empty. Operations call it themselves when
 * the lock reports SJMP__OWNER_DIED or they find a non-empty log.
 * Context: with the mutex held. Logs an error (and changes nothing) when the log itself is
 * damaged; sjmp__heap_check then reports -EUCLEAN.
 */
void sjmp__heap_recover(void *base);

/**
 * sjmp__heap_log_peak() - the most undo-log entries any operation on this heap has used (a
 * diagnostic for tests: it must stay below the log's capacity, 64).
 */
uint64_t sjmp__heap_log_peak(const void *base);

/**
 * sjmp__heap_fault_hook - for tests: when not NULL, called at every point of a heap
 * operation where a crash leaves a distinct state (around each logged store, and before each
 * commit). A test sets it in a child process and raises SIGKILL on its k-th call. Costs one
 * load per store when NULL.
 */
extern void (*sjmp__heap_fault_hook)(void);

#endif
