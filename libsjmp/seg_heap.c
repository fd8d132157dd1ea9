/* SPDX-License-Identifier: MIT */
/*
 * seg_heap.c - the public per-segment heap (sjmp_seg_malloc and friends): finds the segment in
 * the calling thread's current VAS, checks the mapping's rights, and runs the allocator
 * (heap.c) under the segment's recoverable heap mutex (lock.c).
 */
#include <errno.h>
#include <stdio.h>

#include "heap.h"
#include "internal.h"
#include "lock.h"

static int heap_lock(void *arg)
{
	return sjmp__mutex_lock(arg);
}

static void heap_unlock(void *arg)
{
	sjmp__mutex_unlock(arg);
}

/*
 * Resolves @sid to the segment's base and its lock file, requiring it to be mapped in the
 * calling thread's VAS, writable when @write, with a header that matches the segment (so a
 * damaged size field cannot send the allocator past the mapping).
 * Return 0 or -EBADF, -ENXIO, -EROFS, -EUCLEAN.
 */
static int resolve(sjmp_sid_t sid, bool write, void **base, struct sjmp__lockfile **lf)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	sjmp__lock();
	struct sjmp__seg *s = sjmp__sid_get(sid);
	struct sjmp__attachment *a = s ? sjmp__inst_find_seg(sjmp__thread_inst(), s) : NULL;
	if (!s)
		r = -EBADF;
	else if (!a)
		r = -ENXIO;
	else if (write && !(a->prot & SJMP_WRITE))
		r = -EROFS;
	else if (sjmp__heap_validate((void *)s->base, s->size) < 0)
		r = sjmp__fail(EUCLEAN, "segment heap",
		               "the header of \"%s\" does not describe this segment; it was "
		               "overwritten: restore it from a copy",
		               s->name);
	else if (lf)
		r = sjmp__seg_lockfile(s, lf);
	if (r == 0)
		*base = (void *)s->base;
	sjmp__unlock();
	return r;
}

/* The heap of a segment mapped writable in the caller's VAS; errno set and -1 if there is none. */
static int heap_for(sjmp_sid_t sid, void **base, struct sjmp__heap_sync *sync)
{
	struct sjmp__lockfile *lf;
	int r = resolve(sid, true, base, &lf);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	*sync = (struct sjmp__heap_sync){heap_lock, heap_unlock, lf};
	return 0;
}

void *sjmp_seg_malloc(sjmp_sid_t sid, size_t size)
{
	void *base;
	struct sjmp__heap_sync sync;
	return heap_for(sid, &base, &sync) ? NULL : sjmp__heap_malloc(base, &sync, size);
}

void *sjmp_seg_calloc(sjmp_sid_t sid, size_t n, size_t size)
{
	void *base;
	struct sjmp__heap_sync sync;
	return heap_for(sid, &base, &sync) ? NULL : sjmp__heap_calloc(base, &sync, n, size);
}

void *sjmp_seg_realloc(sjmp_sid_t sid, void *p, size_t size)
{
	void *base;
	struct sjmp__heap_sync sync;
	return heap_for(sid, &base, &sync) ? NULL : sjmp__heap_realloc(base, &sync, p, size);
}

void sjmp_seg_free(sjmp_sid_t sid, void *p)
{
	void *base;
	struct sjmp__heap_sync sync;
	if (!p || heap_for(sid, &base, &sync) < 0)
		return;
	if (sjmp__heap_free(base, &sync, p) < 0)
		sjmp__log(SJMP_LOG_ERROR,
		          "seg_free: EINVAL: %p is not an allocated block of the "
		          "segment's heap (double free or foreign pointer)",
		          p);
}

int sjmp_seg_root_set(sjmp_sid_t sid, void *root)
{
	void *base;
	int r = resolve(sid, true, &base, NULL);
	if (r < 0)
		return r;
	__atomic_store_n(&((struct sjmp_seg_header *)base)->root, root, __ATOMIC_RELEASE);
	return 0;
}

void *sjmp_seg_root_get(sjmp_sid_t sid)
{
	void *base;
	if (resolve(sid, false, &base, NULL) < 0)
		return NULL;
	return __atomic_load_n(&((struct sjmp_seg_header *)base)->root, __ATOMIC_ACQUIRE);
}

int sjmp_seg_heap_check(sjmp_sid_t sid, struct sjmp_heap_stats *stats)
{
	void *base;
	struct sjmp__lockfile *lf;
	int r = resolve(sid, false, &base, &lf);
	if (r < 0)
		return r;
	char why[256] = "";
	int died = sjmp__mutex_lock(lf);
	if (died == SJMP__OWNER_DIED)
		sjmp__log(SJMP_LOG_WARN, "seg_heap_check: the heap's last user died holding its "
		                         "mutex; checking as it was left");
	r = sjmp__heap_check(base, stats, why, sizeof(why));
	sjmp__mutex_unlock(lf);
	if (r < 0)
		sjmp__log(SJMP_LOG_ERROR, "seg_heap_check: EUCLEAN: %s", why);
	return r;
}
