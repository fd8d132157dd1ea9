/* SPDX-License-Identifier: MIT */
/*
 * backend_mmap.c - the mmap backend, which is also the paper's MAP baseline (section 5.2):
 * switching unmaps the segments of the VAS being left and maps those of the VAS being entered
 * with MAP_FIXED, only ever over the zone reservation that the library owns.
 *
 * Address spaces are per process here: one instance at a time is mapped. A thread may switch
 * to another VAS only when no other thread is inside the mapped one (else -EBUSY). Threads in
 * the primary VAS see whatever the process has mapped (documented in sjmp.h).
 */
#include <errno.h>
#include <sys/mman.h>

#include "backend.h"

static struct sjmp__inst *mapped; /* NULL until init: then the primary instance */

static int prot_bits(unsigned prot)
{
	return (prot & SJMP_READ ? PROT_READ : 0) | (prot & SJMP_WRITE ? PROT_WRITE : 0) |
	       (prot & SJMP_EXEC ? PROT_EXEC : 0);
}

static int map_one(const struct sjmp__attachment *a)
{
	const struct sjmp__seg *s = a->seg;
	void *p = mmap((void *)s->base, s->size, prot_bits(a->prot), MAP_SHARED | MAP_FIXED,
	               s->data_fd, 0);
	if (p == MAP_FAILED)
		return sjmp__fail(errno, "mapping a segment",
		                  "mmap of \"%s\" (%zu bytes) failed; check memory limits", s->name,
		                  s->size);
	return 0;
}

static void unmap_one(const struct sjmp__attachment *a)
{
	sjmp__zone_unmap(a->seg->base, a->seg->size);
}

static int mmap_init(void)
{
	mapped = sjmp__inst_get(SJMP_PRIMARY);
	return 0;
}

static int seg_open(struct sjmp__seg *s)
{
	(void)s;
	return 0;
}

static void seg_close(struct sjmp__seg *s)
{
	(void)s;
}

static int inst_create(struct sjmp__inst *in)
{
	(void)in;
	return 0;
}

static void inst_destroy(struct sjmp__inst *in)
{
	if (mapped == in)
		mapped = sjmp__inst_get(SJMP_PRIMARY);
}

static int inst_map(struct sjmp__inst *in, const struct sjmp__attachment *a)
{
	return in == mapped ? map_one(a) : 0;
}

static void inst_unmap(struct sjmp__inst *in, const struct sjmp__attachment *a)
{
	if (in == mapped)
		unmap_one(a);
}

/* Replaces the mapped instance's segments with @to's; on failure puts the old ones back. */
static int remap(struct sjmp__inst *to)
{
	struct sjmp__inst *old = mapped;
	for (unsigned i = 0; i < old->natts; i++)
		unmap_one(&old->atts[i]);
	unsigned done = 0;
	int r = 0;
	for (; done < to->natts && r == 0; done++)
		r = map_one(&to->atts[done]);
	if (r == 0) {
		mapped = to;
		return 0;
	}
	for (unsigned i = 0; i < done; i++)
		unmap_one(&to->atts[i]);
	for (unsigned i = 0; i < old->natts; i++)
		map_one(&old->atts[i]);
	return r;
}

static int activate(struct sjmp__inst *from, struct sjmp__inst *to)
{
	struct sjmp__inst *primary = sjmp__inst_get(SJMP_PRIMARY);
	if (to == mapped)
		return 0;
	int others = mapped == primary ? 0 : mapped->threads_inside - (from == mapped);
	if (others > 0)
		return to == primary ? 0 : -EBUSY; /* to primary: keep the others' mapping */
	return remap(to);
}

const struct sjmp__backend sjmp__backend_mmap = {
    .name = "mmap",
    .kind = SJMP_BACKEND_MMAP,
    .caps = 0,
    .init = mmap_init,
    .seg_open = seg_open,
    .seg_close = seg_close,
    .inst_create = inst_create,
    .inst_destroy = inst_destroy,
    .inst_map = inst_map,
    .inst_unmap = inst_unmap,
    .activate = activate,
};
