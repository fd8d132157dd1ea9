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
 * @base: page-aligned start of the segment's memory, writable.
 * @size: bytes, at least SJMP__HEAP_MIN_SIZE.
 * Return: 0 or -EINVAL (size too small or misaligned base).
 */
int sjmp__heap_format(void *base, size_t size);
#define SJMP__HEAP_MIN_SIZE 4096

/**
 * sjmp__heap_validate() - check that [base, base+size) holds a header of this format at this
 * base and size. Return: 0, or -EBADMSG (bad magic, version, base or size).
 */
int sjmp__heap_validate(const void *base, size_t size);

/** sjmp__heap_malloc() - allocate; NULL with errno ENOMEM or EUCLEAN on failure. */
void *sjmp__heap_malloc(void *base, const struct sjmp__heap_sync *sync, size_t size);
/** sjmp__heap_calloc() - zeroed; ENOMEM also on @n * @size overflow. */
void *sjmp__heap_calloc(void *base, const struct sjmp__heap_sync *sync, size_t n, size_t size);
/** sjmp__heap_realloc() - as realloc(3). */
void *sjmp__heap_realloc(void *base, const struct sjmp__heap_sync *sync, void *p, size_t size);
/**
 * sjmp__heap_free() - free a block; NULL is a no-op. Return: 0, or -EINVAL when @p is not a
 * block of this heap (outside it, misaligned, or not allocated: double free).
 */
int sjmp__heap_free(void *base, const struct sjmp__heap_sync *sync, void *p);
/** sjmp__heap_usable_size() - usable bytes of an allocated block. */
size_t sjmp__heap_usable_size(const void *base, const void *p);

/**
 * sjmp__heap_check() - verify every invariant (headers, footers, free lists, counts).
 * Not serialised: call it with the mutex held or when no one else uses the heap.
 * Return: 0 or -EUCLEAN; the first problem found is described in @why (may be NULL) of
 * @whylen bytes.
 */
int sjmp__heap_check(const void *base, struct sjmp_heap_stats *stats, char *why, size_t whylen);

/** sjmp__heap_recover() - roll back an interrupted operation from the undo log. Idempotent. */
void sjmp__heap_recover(void *base);

#endif
