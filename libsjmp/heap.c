/* SPDX-License-Identifier: MIT */
/*
 * heap.c - the per-segment heap (interface in heap.h, format in docs/format.md, section
 * "Segment header and heap").
 *
 * Blocks use boundary tags: a 16-byte header (size | flags, then a tag while allocated or the
 * free-list "next" link while free) and, on free blocks only, a footer repeating the size, so
 * that a block being freed finds a free predecessor (its header says PREV_INUSE is clear) and
 * merges with it. Free blocks sit in segregated doubly-linked lists: exact classes of 16 bytes
 * up to 512, then one list per power of two, searched best-fit with a bounded scan. The end of
 * the heap is the "top" (wilderness): a header-less run of free bytes from st->top to
 * st->heap_end that grows back whenever the block before it is freed. Invariants: no two
 * adjacent free blocks, no free block just before top, every free block in exactly the list of
 * its size class.
 *
 * Crash consistency: every 8-byte store to heap metadata goes through put(), which first
 * appends (offset, old value) to the undo log in the state and only then stores. The operation
 * ends by resetting the log count (the commit point). A process killed at any instruction
 * leaves either a complete operation or a log that rollback() replays in reverse to the state
 * before the operation. Ordering only has to hold for the killed process's own program order
 * (memory is not lost on SIGKILL; durability across power loss is sjmp_seg_sync's job), so
 * compiler fences are enough.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "lock.h"
#include "log.h"

#define ALIGN        16
#define HDR          16   /* block header bytes; user pointers are block + HDR */
#define MIN_BLOCK    32   /* header + next + prev + footer */
#define F_INUSE      1ULL /* this block is allocated */
#define F_PREV_INUSE 2ULL /* the block before this one is allocated (or this is the first) */
#define F_MASK       15ULL
#define SMALL_MAX    512                     /* largest exact size class */
#define NSMALL       (SMALL_MAX / ALIGN - 1) /* classes 32, 48, ..., 512 */
#define NSUB         4                       /* lists per power of two above SMALL_MAX */
#define NBINS        (NSMALL + 40 * NSUB)    /* then quarters of [2^k, 2^(k+1)) for k = 9..48 */
#define NMAPWORDS    ((NBINS + 63) / 64)
#define SCAN_LIMIT   16 /* nodes examined for a best fit before trying larger lists */
/*
 * The longest operation (a free merging on both sides, or a realloc that shrinks and merges)
 * logs at most 21 stores (4 for the block, 4 per list removal, 8 to list the merged block, 1 for
 * the successor's PREV_INUSE); the tests assert the high-water mark (log_peak) stays below.
 */
#define LOG_CAP     64
#define STATE_MAGIC 0x50414548504d4a53ULL /* "SJMPHEAP" little-endian */
#define TAG_SALT    0x5a17b10c00000000ULL /* tag = TAG_SALT ^ block offset (< 2^48) */

/* Block word offsets. */
#define W_HEAD 0
#define W_NEXT 8 /* free: next block in the list (0 = none); allocated: the tag */
#define W_PREV 16

struct undo {
	uint64_t off; /* byte offset from the segment base of the word stored to */
	uint64_t old; /* its value before the store */
};

/* The allocator state: follows struct sjmp_seg_header; offsets are from the segment base. */
struct heap_state {
	uint64_t magic;             /* STATE_MAGIC */
	uint32_t nbins;             /* NBINS, checked so a format change is noticed */
	uint32_t log_cap;           /* LOG_CAP, idem */
	uint64_t heap_start;        /* first block */
	uint64_t heap_end;          /* end of the heap (segment size rounded down to ALIGN) */
	uint64_t top;               /* start of the wilderness [top, heap_end) */
	uint64_t used_bytes;        /* allocated blocks, headers included */
	uint64_t used_blocks;       /* allocated blocks */
	uint64_t free_bytes;        /* free blocks in lists (top excluded) */
	uint64_t free_blocks;       /* free blocks in lists */
	uint64_t binmap[NMAPWORDS]; /* bit i set iff bins[i] != 0 */
	uint64_t bins[NBINS];       /* first free block of each size class, 0 = empty */
	uint64_t log_count;         /* valid entries of log[]; 0 outside an operation */
	uint64_t log_peak;          /* diagnostics: most entries any operation used (not logged) */
	struct undo log[LOG_CAP];
};

#define STATE_OFF  sizeof(struct sjmp_seg_header)
#define HEAP_START ((STATE_OFF + sizeof(struct heap_state) + 63) & ~(uint64_t)63)
_Static_assert(sizeof(struct sjmp_seg_header) == 64, "header layout is part of the format");
_Static_assert(HEAP_START + 2 * MIN_BLOCK <= SJMP__HEAP_MIN_SIZE, "state too big");

/* Test hook (heap.h): called at every point where a crash leaves a distinct state. */
void (*sjmp__heap_fault_hook)(void);

/* One operation in progress: the segment and the first corruption found. */
struct op {
	char *base;
	struct heap_state *st;
	int err;
};

static inline void barrier(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void fault_point(void)
{
	void (*hook)(void) = __atomic_load_n(&sjmp__heap_fault_hook, __ATOMIC_RELAXED);
	if (__builtin_expect(hook != NULL, 0))
		hook();
}

static inline struct heap_state *state_of(const void *base)
{
	return (struct heap_state *)((char *)base + STATE_OFF);
}

static inline uint64_t rd(const char *base, uint64_t off)
{
	return __atomic_load_n((const uint64_t *)(base + off), __ATOMIC_RELAXED);
}

static inline uint64_t bsize(uint64_t head)
{
	return head & ~F_MASK;
}

static inline uint64_t tag_of(uint64_t off)
{
	return TAG_SALT ^ off;
}

static unsigned bin_of(uint64_t size)
{
	if (size <= SMALL_MAX)
		return (unsigned)(size / ALIGN) - 2;
	unsigned lg = 63 - (unsigned)__builtin_clzll(size);
	unsigned sub = (unsigned)(size >> (lg - 2)) & (NSUB - 1);
	unsigned i = NSMALL + (lg - 9) * NSUB + sub;
	return i < NBINS ? i : NBINS - 1;
}

/* Block bytes needed for @size user bytes; 0 when it can never fit. */
static uint64_t block_need(size_t size, uint64_t heap_bytes)
{
	if (size > heap_bytes)
		return 0;
	uint64_t need = ((uint64_t)size + HDR + ALIGN - 1) & ~(uint64_t)(ALIGN - 1);
	return need < MIN_BLOCK ? MIN_BLOCK : need;
}

/* A logged store may only target the mutable part of the state or the heap. */
static bool log_target_ok(const struct heap_state *st, uint64_t off)
{
	uint64_t lo = STATE_OFF + offsetof(struct heap_state, top);
	uint64_t hi = STATE_OFF + offsetof(struct heap_state, log_count);
	if (off % 8)
		return false;
	if (off >= lo && off < hi)
		return true;
	return off >= st->heap_start && off <= st->heap_end - 8;
}

/*
 * put() - the only way metadata changes: log (offset, old value), then store. The log entry is
 * complete before the count covers it, and the count covers it before the store happens, so a
 * crash at any instruction leaves a log that undoes exactly the stores made.
 */
static void put(struct op *o, uint64_t off, uint64_t val)
{
	struct heap_state *st = o->st;
	if (o->err)
		return;
	/* The last line of defence against damaged links: never store outside the heap. */
	if (!log_target_ok(st, off)) {
		o->err = -EUCLEAN;
		return;
	}
	uint64_t *p = (uint64_t *)(o->base + off);
	uint64_t old = *p;
	if (old == val)
		return;
	uint64_t n = st->log_count;
	if (n >= LOG_CAP) {
		/* Cannot happen by construction (see LOG_CAP); refuse rather than lose atomicity.
		 */
		o->err = -EUCLEAN;
		return;
	}
	st->log[n].off = off;
	st->log[n].old = old;
	barrier();
	fault_point();
	__atomic_store_n(&st->log_count, n + 1, __ATOMIC_RELAXED);
	barrier();
	fault_point();
	__atomic_store_n(p, val, __ATOMIC_RELAXED);
	barrier();
	fault_point();
	if (n + 1 > st->log_peak)
		st->log_peak = n + 1;
}

/* Store into a field of the state. */
static void put_st(struct op *o, uint64_t *field, uint64_t val)
{
	put(o, (uint64_t)((char *)field - o->base), val);
}

static void commit(struct op *o)
{
	barrier();
	fault_point();
	__atomic_store_n(&o->st->log_count, 0, __ATOMIC_RELAXED);
	barrier();
}

/* The fields every operation relies on before following any offset. */
static bool state_sane(const void *base)
{
	const struct sjmp_seg_header *h = base;
	const struct heap_state *st = state_of(base);
	return h->magic == SJMP_SEG_HEADER_MAGIC && h->header_size == HEAP_START &&
	       st->magic == STATE_MAGIC && st->nbins == NBINS && st->log_cap == LOG_CAP &&
	       st->heap_start == HEAP_START && st->heap_end <= h->size &&
	       st->heap_end >= st->heap_start && st->heap_end % ALIGN == 0 &&
	       st->top >= st->heap_start && st->top <= st->heap_end && st->top % ALIGN == 0;
}

/* Undo the logged stores of an interrupted operation, newest first. */
static int rollback(void *base)
{
	struct heap_state *st = state_of(base);
	uint64_t n = st->log_count;
	if (n == 0)
		return 0;
	if (!state_sane(base) || n > LOG_CAP)
		return -EUCLEAN;
	for (uint64_t i = 0; i < n; i++)
		if (!log_target_ok(st, st->log[i].off))
			return -EUCLEAN;
	/*
	 * Replaying is idempotent (each word ends at its oldest logged value), so a crash in here
	 * is repaired by the next recovery.
	 */
	for (uint64_t i = n; i-- > 0;) {
		__atomic_store_n((uint64_t *)((char *)base + st->log[i].off), st->log[i].old,
		                 __ATOMIC_RELAXED);
		barrier();
		fault_point();
	}
	__atomic_store_n(&st->log_count, 0, __ATOMIC_RELAXED);
	barrier();
	return 0;
}

void sjmp__heap_recover(void *base)
{
	if (rollback(base) < 0)
		sjmp__log(SJMP_LOG_ERROR,
		          "heap_recover(%p): EUCLEAN: undo log or heap state damaged; the heap "
		          "cannot be repaired, copy the live data out",
		          base);
}

/* ---- free lists ------------------------------------------------------------------------ */

/* A link to a free block must point at a free block inside the heap. */
static bool free_link_ok(struct op *o, uint64_t off)
{
	struct heap_state *st = o->st;
	if (off % ALIGN || off < st->heap_start || off > st->top - MIN_BLOCK) {
		o->err = -EUCLEAN;
		return false;
	}
	uint64_t head = rd(o->base, off);
	if ((head & F_INUSE) || bsize(head) < MIN_BLOCK || bsize(head) > st->top - off) {
		o->err = -EUCLEAN;
		return false;
	}
	return true;
}

static void binmap_set(struct op *o, unsigned i, bool on)
{
	uint64_t *w = &o->st->binmap[i / 64];
	uint64_t bit = 1ULL << (i % 64);
	put_st(o, w, on ? (*w | bit) : (*w & ~bit));
}

static void bin_insert(struct op *o, uint64_t off, uint64_t size)
{
	unsigned i = bin_of(size);
	uint64_t head = o->st->bins[i];
	if (head && !free_link_ok(o, head))
		return;
	put(o, off + W_NEXT, head);
	put(o, off + W_PREV, 0);
	if (head)
		put(o, head + W_PREV, off);
	else
		binmap_set(o, i, true);
	put_st(o, &o->st->bins[i], off);
	put_st(o, &o->st->free_bytes, o->st->free_bytes + size);
	put_st(o, &o->st->free_blocks, o->st->free_blocks + 1);
}

static void bin_remove(struct op *o, uint64_t off, uint64_t size)
{
	unsigned i = bin_of(size);
	uint64_t next = rd(o->base, off + W_NEXT);
	uint64_t prev = rd(o->base, off + W_PREV);
	if ((next && !free_link_ok(o, next)) || (prev && !free_link_ok(o, prev)))
		return;
	if (!prev && o->st->bins[i] != off) {
		o->err = -EUCLEAN;
		return;
	}
	if (prev)
		put(o, prev + W_NEXT, next);
	else
		put_st(o, &o->st->bins[i], next);
	if (next)
		put(o, next + W_PREV, prev);
	if (!prev && !next)
		binmap_set(o, i, false);
	put_st(o, &o->st->free_bytes, o->st->free_bytes - size);
	put_st(o, &o->st->free_blocks, o->st->free_blocks - 1);
}

/* Best fit among the first SCAN_LIMIT (or @limit) nodes of list @i; 0 if none fits. */
static uint64_t scan_bin(struct op *o, unsigned i, uint64_t need, uint64_t limit)
{
	uint64_t best = 0, best_size = UINT64_MAX;
	uint64_t off = o->st->bins[i];
	for (uint64_t n = 0; off && n < limit; n++) {
		if (!free_link_ok(o, off))
			return 0;
		uint64_t size = bsize(rd(o->base, off));
		if (size >= need && size < best_size) {
			best = off;
			best_size = size;
			if (size == need)
				break;
		}
		off = rd(o->base, off + W_NEXT);
	}
	return best;
}

/* First non-empty list after @i, or NBINS. */
static unsigned next_bin(const struct heap_state *st, unsigned i)
{
	for (unsigned w = (i + 1) / 64; w < NMAPWORDS; w++) {
		uint64_t bits = st->binmap[w];
		if (w == (i + 1) / 64)
			bits &= ~0ULL << ((i + 1) % 64);
		if (bits)
			return w * 64 + (unsigned)__builtin_ctzll(bits);
	}
	return NBINS;
}

/*
 * Take a free block of at least @need bytes out of the lists; 0 if none. Its own list is
 * scanned only partly, so that a long list of near misses costs little; when top cannot serve
 * the request either (@full), the whole list is scanned before giving up.
 */
static uint64_t take_free(struct op *o, uint64_t need, bool full)
{
	struct heap_state *st = o->st;
	unsigned i = bin_of(need);
	uint64_t off = 0;
	if (i < NSMALL)
		off = st->bins[i];
	else
		off = scan_bin(o, i, need,
		               full ? (st->heap_end - st->heap_start) / MIN_BLOCK : SCAN_LIMIT);
	if (!off && !o->err) {
		unsigned j = next_bin(st, i);
		if (j < NBINS)
			off = st->bins[j];
	}
	if (!off || o->err || !free_link_ok(o, off))
		return 0;
	bin_remove(o, off, bsize(rd(o->base, off)));
	return o->err ? 0 : off;
}

/* Set or clear PREV_INUSE of the block at @off, unless @off is the top. */
static void set_prev_inuse(struct op *o, uint64_t off, bool inuse)
{
	if (off == o->st->top)
		return;
	uint64_t head = rd(o->base, off);
	put(o, off, inuse ? head | F_PREV_INUSE : head & ~F_PREV_INUSE);
}

/* Make [off, off+size) a free block (its predecessor is allocated) and list it. */
static void make_free(struct op *o, uint64_t off, uint64_t size)
{
	put(o, off + W_HEAD, size | F_PREV_INUSE);
	put(o, off + size - 8, size);
	bin_insert(o, off, size);
}

/* ---- operations (mutex held) ----------------------------------------------------------- */

/* Allocate a block of exactly @need bytes (or a little more); its offset, or 0. */
static uint64_t alloc_block(struct op *o, uint64_t need)
{
	struct heap_state *st = o->st;
	bool top_fits = st->heap_end - st->top >= need;
	uint64_t off = take_free(o, need, !top_fits);
	if (o->err)
		return 0;
	if (off) {
		uint64_t size = bsize(rd(o->base, off));
		if (size < need) {
			o->err = -EUCLEAN;
			return 0;
		}
		if (size - need >= MIN_BLOCK) {
			put(o, off + W_HEAD, need | F_INUSE | F_PREV_INUSE);
			make_free(o, off + need, size - need);
		} else {
			need = size;
			put(o, off + W_HEAD, need | F_INUSE | F_PREV_INUSE);
			set_prev_inuse(o, off + need, true);
		}
	} else {
		if (!top_fits)
			return 0;
		off = st->top;
		put(o, off + W_HEAD, need | F_INUSE | F_PREV_INUSE);
		put_st(o, &st->top, off + need);
	}
	put(o, off + W_NEXT, tag_of(off));
	put_st(o, &st->used_bytes, st->used_bytes + need);
	put_st(o, &st->used_blocks, st->used_blocks + 1);
	return o->err ? 0 : off;
}

/* Free the allocated block at @off (already validated): merge with free neighbours. */
static void free_block(struct op *o, uint64_t off)
{
	struct heap_state *st = o->st;
	uint64_t head = rd(o->base, off);
	uint64_t size = bsize(head);
	uint64_t start = off, end = off + size;

	/* Clear INUSE first so a stale pointer to this block is seen as a double free. */
	put(o, off + W_HEAD, head & ~F_INUSE);
	put(o, off + W_NEXT, 0);
	put_st(o, &st->used_bytes, st->used_bytes - size);
	put_st(o, &st->used_blocks, st->used_blocks - 1);
	if (!(head & F_PREV_INUSE)) {
		uint64_t psize = rd(o->base, off - 8);
		if (psize > off - st->heap_start || !free_link_ok(o, off - psize) ||
		    bsize(rd(o->base, off - psize)) != psize) {
			o->err = -EUCLEAN;
			return;
		}
		start = off - psize;
		bin_remove(o, start, psize);
	}
	if (end != st->top) {
		uint64_t nhead = rd(o->base, end);
		if (!(nhead & F_INUSE)) {
			if (!free_link_ok(o, end))
				return;
			bin_remove(o, end, bsize(nhead));
			end += bsize(nhead);
		}
	}
	if (o->err)
		return;
	if (end == st->top) {
		put_st(o, &st->top, start);
		return;
	}
	make_free(o, start, end - start);
	set_prev_inuse(o, end, false);
}

/* Offset of the allocated block whose user pointer is @p, or 0 if @p is not one. */
static uint64_t block_of(const void *base, const void *p)
{
	const struct heap_state *st = state_of(base);
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
	if (a % ALIGN || a < b + st->heap_start + HDR || a - b - HDR >= st->top)
		return 0;
	uint64_t off = a - b - HDR;
	uint64_t head = rd(base, off);
	uint64_t size = bsize(head);
	if (!(head & F_INUSE) || size < MIN_BLOCK || size > st->top - off ||
	    rd(base, off + W_NEXT) != tag_of(off))
		return 0;
	if (off + size < st->top && !(rd(base, off + size) & F_PREV_INUSE))
		return 0;
	return off;
}

/*
 * Resize the block at @off to @need bytes without moving it, if possible: shrink (and free the
 * tail), grow into the top, or grow into a free successor. Return: true if done.
 */
static bool resize_in_place(struct op *o, uint64_t off, uint64_t need)
{
	struct heap_state *st = o->st;
	uint64_t head = rd(o->base, off);
	uint64_t size = bsize(head), flags = head & F_MASK;
	uint64_t end = off + size;

	if (need <= size) {
		if (size - need < MIN_BLOCK)
			return true;
		/* Split off the tail as an allocated block and free it: free_block merges it. */
		put(o, off + W_HEAD, need | flags);
		put(o, off + need + W_HEAD, (size - need) | F_INUSE | F_PREV_INUSE);
		put(o, off + need + W_NEXT, tag_of(off + need));
		put_st(o, &st->used_blocks, st->used_blocks + 1);
		free_block(o, off + need);
		return true;
	}
	if (end == st->top) {
		if (st->heap_end - off < need)
			return false;
		put(o, off + W_HEAD, need | flags);
		put_st(o, &st->top, off + need);
		put_st(o, &st->used_bytes, st->used_bytes + need - size);
		return true;
	}
	uint64_t nhead = rd(o->base, end);
	if ((nhead & F_INUSE) || size + bsize(nhead) < need)
		return false;
	if (!free_link_ok(o, end))
		return false;
	uint64_t total = size + bsize(nhead);
	bin_remove(o, end, bsize(nhead));
	if (total - need >= MIN_BLOCK) {
		put(o, off + W_HEAD, need | flags);
		make_free(o, off + need, total - need);
	} else {
		need = total;
		put(o, off + W_HEAD, need | flags);
		set_prev_inuse(o, off + need, true);
	}
	put_st(o, &st->used_bytes, st->used_bytes + need - size);
	return true;
}

/*
 * Take the mutex and repair what a dead holder left. A non-empty log at the start of an
 * operation can only come from a holder that died, even if the lock did not say so.
 */
static int op_begin(struct op *o, void *base, const struct sjmp__heap_sync *sync)
{
	int r = sync ? sync->lock(sync->arg) : 0;
	if (r < 0)
		return r;
	o->base = base;
	o->st = state_of(base);
	o->err = 0;
	if (r == SJMP__OWNER_DIED || o->st->log_count != 0) {
		sjmp__log(SJMP_LOG_INFO,
		          "heap %p: rolling back an operation interrupted by a dead "
		          "process",
		          base);
		r = rollback(base);
	} else {
		r = 0;
	}
	if (r == 0 && !state_sane(base))
		r = -EUCLEAN;
	if (r < 0) {
		sjmp__fail(r, "heap", "segment %p: allocator state damaged; copy the live data out",
		           base);
		if (sync)
			sync->unlock(sync->arg);
	}
	return r;
}

/* Commit (or, after corruption was found midway, roll back) and release the mutex. */
static int op_end(struct op *o, const struct sjmp__heap_sync *sync)
{
	int err = o->err;
	if (err) {
		rollback(o->base);
		sjmp__fail(err, "heap",
		           "segment %p: corrupted free list or block header; run "
		           "sjmp_seg_heap_check and copy the live data out",
		           (void *)o->base);
	} else {
		commit(o);
	}
	if (sync)
		sync->unlock(sync->arg);
	return err;
}

int sjmp__heap_format(void *base, size_t size)
{
	if (!base || (uintptr_t)base % SJMP__HEAP_MIN_SIZE || size < SJMP__HEAP_MIN_SIZE)
		return -EINVAL;
	struct sjmp_seg_header *h = base;
	struct heap_state *st = state_of(base);
	memset(base, 0, HEAP_START);
	h->version = SJMP_SEG_HEADER_VERSION;
	h->header_size = HEAP_START;
	h->base = (uintptr_t)base;
	h->size = size;
	st->magic = STATE_MAGIC;
	st->nbins = NBINS;
	st->log_cap = LOG_CAP;
	st->heap_start = HEAP_START;
	st->heap_end = size & ~(uint64_t)(ALIGN - 1);
	st->top = HEAP_START;
	/* The magic last: a segment formatted only halfway never validates. */
	barrier();
	__atomic_store_n(&h->magic, SJMP_SEG_HEADER_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

int sjmp__heap_validate(const void *base, size_t size)
{
	const struct sjmp_seg_header *h = base;
	if (!base || size < SJMP__HEAP_MIN_SIZE)
		return -EBADMSG;
	if (h->magic != SJMP_SEG_HEADER_MAGIC || h->version != SJMP_SEG_HEADER_VERSION ||
	    h->header_size != HEAP_START || h->base != (uintptr_t)base || h->size != size)
		return -EBADMSG;
	return 0;
}

void *sjmp__heap_malloc(void *base, const struct sjmp__heap_sync *sync, size_t size)
{
	struct op o;
	int r = op_begin(&o, base, sync);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	uint64_t need = block_need(size, o.st->heap_end - o.st->heap_start);
	uint64_t off = need ? alloc_block(&o, need) : 0;
	r = op_end(&o, sync);
	if (r < 0 || !off) {
		errno = r < 0 ? -r : ENOMEM;
		return NULL;
	}
	return (char *)base + off + HDR;
}

void *sjmp__heap_calloc(void *base, const struct sjmp__heap_sync *sync, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	void *p = sjmp__heap_malloc(base, sync, total);
	if (p)
		memset(p, 0, total);
	return p;
}

int sjmp__heap_free(void *base, const struct sjmp__heap_sync *sync, void *p)
{
	if (!p)
		return 0;
	struct op o;
	int r = op_begin(&o, base, sync);
	if (r < 0)
		return r;
	uint64_t off = block_of(base, p);
	if (off)
		free_block(&o, off);
	r = op_end(&o, sync);
	return r < 0 ? r : off ? 0 : -EINVAL;
}

void *sjmp__heap_realloc(void *base, const struct sjmp__heap_sync *sync, void *p, size_t size)
{
	if (!p)
		return sjmp__heap_malloc(base, sync, size);
	if (size == 0) {
		int r = sjmp__heap_free(base, sync, p);
		if (r < 0)
			errno = -r;
		return NULL;
	}
	struct op o;
	int r = op_begin(&o, base, sync);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	void *q = NULL;
	int err = 0;
	uint64_t off = block_of(base, p);
	uint64_t need = block_need(size, o.st->heap_end - o.st->heap_start);
	if (!off) {
		err = EINVAL;
	} else if (need && resize_in_place(&o, off, need)) {
		q = p;
	} else if (!o.err) {
		uint64_t noff = need ? alloc_block(&o, need) : 0;
		if (noff && !o.err) {
			/* Two commits: a crash in between leaks only the new block. */
			commit(&o);
			uint64_t old_user = bsize(rd(base, off)) - HDR;
			memcpy((char *)base + noff + HDR, p, old_user < size ? old_user : size);
			free_block(&o, off);
			q = (char *)base + noff + HDR;
		} else {
			err = ENOMEM;
		}
	}
	r = op_end(&o, sync);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (err)
		errno = err;
	return q;
}

size_t sjmp__heap_usable_size(const void *base, const void *p)
{
	uint64_t off = p ? block_of(base, p) : 0;
	return off ? bsize(rd(base, off)) - HDR : 0;
}

/* ---- check ----------------------------------------------------------------------------- */

struct checker {
	const char *base;
	const struct heap_state *st;
	char *why;
	size_t whylen;
	uint8_t *marks; /* one bit per ALIGN bytes of heap: a free block starts here, unlisted */
	struct sjmp_heap_stats s;
};

static int bad(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct checker *c, const char *fmt, ...)
{
	if (c->why && c->whylen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->why, c->whylen, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static void mark(struct checker *c, uint64_t off, bool on)
{
	uint64_t bit = (off - c->st->heap_start) / ALIGN;
	if (on)
		c->marks[bit / 8] |= (uint8_t)(1u << (bit % 8));
	else
		c->marks[bit / 8] &= (uint8_t) ~(1u << (bit % 8));
}

static bool marked(const struct checker *c, uint64_t off)
{
	uint64_t bit = (off - c->st->heap_start) / ALIGN;
	return c->marks[bit / 8] & (1u << (bit % 8));
}

static int check_header(struct checker *c)
{
	const struct sjmp_seg_header *h = (const void *)c->base;
	const struct heap_state *st = c->st;
	if (h->magic != SJMP_SEG_HEADER_MAGIC || h->version != SJMP_SEG_HEADER_VERSION)
		return bad(c, "segment header: bad magic %#llx or version %u",
		           (unsigned long long)h->magic, h->version);
	if (h->header_size != HEAP_START || h->base != (uintptr_t)c->base ||
	    h->size < SJMP__HEAP_MIN_SIZE)
		return bad(c, "segment header: header_size %u, base %#llx or size %llu wrong",
		           h->header_size, (unsigned long long)h->base,
		           (unsigned long long)h->size);
	if (!state_sane(c->base))
		return bad(c,
		           "heap state: bad magic, parameters or bounds (start %#llx end %#llx "
		           "top %#llx)",
		           (unsigned long long)st->heap_start, (unsigned long long)st->heap_end,
		           (unsigned long long)st->top);
	if (st->log_count)
		return bad(c,
		           "undo log holds %llu entries: an operation was interrupted; run "
		           "sjmp__heap_recover",
		           (unsigned long long)st->log_count);
	if (st->log_peak > LOG_CAP)
		return bad(c, "undo log peak %llu exceeds its capacity %u",
		           (unsigned long long)st->log_peak, LOG_CAP);
	return 0;
}

/* Walk every block from heap_start to top; each step advances >= MIN_BLOCK, so it ends. */
static int check_blocks(struct checker *c)
{
	const struct heap_state *st = c->st;
	bool prev_inuse = true;
	uint64_t off = st->heap_start;
	while (off < st->top) {
		uint64_t head = rd(c->base, off);
		uint64_t size = bsize(head);
		if (size < MIN_BLOCK || size > st->top - off)
			return bad(c, "block %#llx: size %llu out of range",
			           (unsigned long long)off, (unsigned long long)size);
		if (head & F_MASK & ~(F_INUSE | F_PREV_INUSE))
			return bad(c, "block %#llx: unknown flags %#llx", (unsigned long long)off,
			           (unsigned long long)(head & F_MASK));
		if (!!(head & F_PREV_INUSE) != prev_inuse)
			return bad(c, "block %#llx: PREV_INUSE disagrees with the previous block",
			           (unsigned long long)off);
		if (head & F_INUSE) {
			if (rd(c->base, off + W_NEXT) != tag_of(off))
				return bad(c, "block %#llx: allocated block with a bad tag",
				           (unsigned long long)off);
			c->s.used_blocks++;
			c->s.used_bytes += size;
		} else {
			if (!prev_inuse)
				return bad(c, "block %#llx: two adjacent free blocks",
				           (unsigned long long)off);
			if (rd(c->base, off + size - 8) != size)
				return bad(c, "block %#llx: footer %llu differs from size %llu",
				           (unsigned long long)off,
				           (unsigned long long)rd(c->base, off + size - 8),
				           (unsigned long long)size);
			if (c->marks)
				mark(c, off, true);
			c->s.free_blocks++;
			c->s.free_bytes += size;
		}
		prev_inuse = head & F_INUSE;
		off += size;
	}
	if (!prev_inuse)
		return bad(c, "free block just before top %#llx was not merged into it",
		           (unsigned long long)st->top);
	if (c->s.used_bytes != st->used_bytes || c->s.used_blocks != st->used_blocks ||
	    c->s.free_bytes != st->free_bytes || c->s.free_blocks != st->free_blocks)
		return bad(c,
		           "counters (used %llu/%llu free %llu/%llu) differ from the blocks "
		           "(used %zu/%zu free %zu/%zu)",
		           (unsigned long long)st->used_bytes, (unsigned long long)st->used_blocks,
		           (unsigned long long)st->free_bytes, (unsigned long long)st->free_blocks,
		           c->s.used_bytes, c->s.used_blocks, c->s.free_bytes, c->s.free_blocks);
	return 0;
}

/* Each list: links within the heap, to free blocks of its class, listed once, prev coherent. */
static int check_bins(struct checker *c)
{
	const struct heap_state *st = c->st;
	uint64_t listed = 0;
	for (unsigned i = 0; i < NMAPWORDS * 64; i++) {
		bool bit = st->binmap[i / 64] & (1ULL << (i % 64));
		if (i >= NBINS) {
			if (bit)
				return bad(c, "bitmap bit %u set beyond the last list", i);
			continue;
		}
		if (bit != (st->bins[i] != 0))
			return bad(c, "list %u: bitmap bit %d disagrees with head %#llx", i, bit,
			           (unsigned long long)st->bins[i]);
		uint64_t prev = 0;
		for (uint64_t off = st->bins[i]; off; off = rd(c->base, off + W_NEXT)) {
			if (off % ALIGN || off < st->heap_start || off > st->top - MIN_BLOCK)
				return bad(c, "list %u: link %#llx outside the heap", i,
				           (unsigned long long)off);
			uint64_t head = rd(c->base, off);
			if (head & F_INUSE || bsize(head) < MIN_BLOCK ||
			    bsize(head) > st->top - off)
				return bad(c, "list %u: %#llx is not a free block", i,
				           (unsigned long long)off);
			if (c->marks && !marked(c, off))
				return bad(c,
				           "list %u: %#llx is not a free block start or is listed "
				           "twice",
				           i, (unsigned long long)off);
			if (c->marks)
				mark(c, off, false);
			if (bin_of(bsize(head)) != i)
				return bad(c,
				           "list %u: block %#llx of size %llu belongs to list %u",
				           i, (unsigned long long)off,
				           (unsigned long long)bsize(head), bin_of(bsize(head)));
			if (rd(c->base, off + W_PREV) != prev)
				return bad(c, "list %u: block %#llx has a bad prev link", i,
				           (unsigned long long)off);
			if (++listed > c->s.free_blocks)
				return bad(c,
				           "lists hold more blocks than the heap has free blocks "
				           "(cycle?)");
			prev = off;
		}
	}
	if (listed != c->s.free_blocks)
		return bad(c, "lists hold %llu blocks, the heap has %zu free blocks",
		           (unsigned long long)listed, c->s.free_blocks);
	return 0;
}

int sjmp__heap_check(const void *base, struct sjmp_heap_stats *stats, char *why, size_t whylen)
{
	struct checker c = {.base = base, .st = state_of(base), .why = why, .whylen = whylen};
	if (why && whylen)
		why[0] = '\0';
	int r = check_header(&c);
	if (r == 0) {
		/* Without memory for the marks the lists are still checked, less strictly. */
		c.marks = calloc((c.st->top - c.st->heap_start) / ALIGN / 8 + 1, 1);
		r = check_blocks(&c);
		if (r == 0)
			r = check_bins(&c);
		free(c.marks);
	}
	if (stats) {
		const struct heap_state *st = c.st;
		uint64_t top = r == 0 ? st->heap_end - st->top : 0;
		*stats = c.s;
		stats->heap_bytes = r == 0 ? st->heap_end - st->heap_start : 0;
		stats->free_bytes += top;
		stats->free_blocks += top ? 1 : 0;
	}
	return r;
}

uint64_t sjmp__heap_log_peak(const void *base)
{
	return state_of(base)->log_peak;
}
