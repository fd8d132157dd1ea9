/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "store.h"

void arena_init(struct arena *a, struct sam_store *store, size_t block)
{
	a->store = store;
	a->blocks = NULL;
	a->cur = a->end = NULL;
	a->block = block;
}

void *arena_refill(struct arena *a, size_t size)
{
	/* The tail of the old block is abandoned: at most one small object's worth. */
	size_t want = size > a->block ? size : a->block;
	uint8_t *p;
	if (a->store) {
		p = store_alloc(a->store, want);
	} else {
		void **blk = malloc(want + 16);
		if (blk) {
			*blk = a->blocks;
			a->blocks = blk;
		}
		p = blk ? (uint8_t *)blk + 16 : NULL;
	}
	if (!p)
		return NULL;
	a->cur = p + size;
	a->end = p + want;
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p)
		memcpy(p, s, n);
	return p;
}

void arena_free_private(struct arena *a)
{
	while (a->blocks) {
		void **blk = a->blocks;
		a->blocks = *blk;
		free(blk);
	}
	a->cur = a->end = NULL;
}
