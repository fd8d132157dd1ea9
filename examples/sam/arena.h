/* SPDX-License-Identifier: MIT */
/*
 * arena.h - a bump allocator over large blocks of a store. The loader makes millions of small
 * objects that are never freed one by one; carving them from big blocks keeps them contiguous
 * in input order (good locality for the stages) and costs a pointer increment each.
 */
#ifndef SAM_ARENA_H
#define SAM_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct sam_store;

struct arena {
	struct sam_store *store; /**< NULL: blocks come from malloc (arena_free_private) */
	void *blocks;            /**< private blocks, chained through their first word */
	uint8_t *cur;            /**< next free byte of the current block */
	uint8_t *end;            /**< end of the current block */
	size_t block;            /**< size of the blocks to ask the store for */
};

/**
 * arena_init() - an empty arena drawing blocks of @block bytes (or more) from @store, or from
 * this process's heap when @store is NULL.
 */
void arena_init(struct arena *a, struct sam_store *store, size_t block);

/** arena_refill() - slow path of arena_alloc: start a new block of at least @size bytes. */
void *arena_refill(struct arena *a, size_t size);

/**
 * arena_alloc() - @size bytes, 8-byte aligned, from the arena.
 * Return: the memory, or NULL when the store cannot grow (the store printed why).
 */
static inline void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 7) & ~(size_t)7;
	if ((size_t)(a->end - a->cur) < size)
		return arena_refill(a, size);
	void *p = a->cur;
	a->cur += size;
	return p;
}

/** arena_free_private() - free every block of an arena whose store is NULL. */
void arena_free_private(struct arena *a);

/** arena_strdup() - a copy of the NUL-terminated @s in the arena, or NULL. */
char *arena_strdup(struct arena *a, const char *s);

#endif /* SAM_ARENA_H */
