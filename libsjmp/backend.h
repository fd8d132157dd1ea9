/* SPDX-License-Identifier: MIT */
/*
 * backend.h - what differs between the mmap backend and the kvm backend.
 *
 * The API layer (seg.c, vas.c, switch.c) owns objects, names, locks and handles; a backend
 * only makes segment memory appear at its base for the threads that are in a VAS. All hooks
 * run with the library mutex held.
 */
#ifndef SJMP_BACKEND_H
#define SJMP_BACKEND_H

#include "internal.h"

struct sjmp__backend {
	const char *name;
	enum sjmp_backend_kind kind;
	unsigned caps; /* SJMP_CAP_* */

	/** init() - prepare the backend; -errno means "not available here" (the log says why). */
	int (*init)(void);
	/** seg_open() / seg_close() - per-segment state, e.g. a host mapping and a memslot. */
	int (*seg_open)(struct sjmp__seg *s);
	void (*seg_close)(struct sjmp__seg *s);
	/** inst_create() / inst_destroy() - per attached VAS, e.g. a page-table root. */
	int (*inst_create)(struct sjmp__inst *in);
	void (*inst_destroy)(struct sjmp__inst *in);
	/**
	 * inst_map() - @a was added to @in: make it visible to threads in @in now (they may be
	 * inside). inst_unmap() - @a is being removed from @in.
	 */
	int (*inst_map)(struct sjmp__inst *in, const struct sjmp__attachment *a);
	void (*inst_unmap)(struct sjmp__inst *in, const struct sjmp__attachment *a);
	/**
	 * activate() - make @to the calling thread's address space instead of @from.
	 * Return: 0, or -EBUSY when the backend cannot give this thread @to now (mmap backend:
	 * another thread of the process is in a different VAS), or -ENOMEM. On error the thread
	 * still sees @from.
	 */
	int (*activate)(struct sjmp__inst *from, struct sjmp__inst *to);
};

extern const struct sjmp__backend sjmp__backend_mmap;
extern struct sjmp__backend sjmp__backend_kvm; /* caps completed at init */

/** sjmp__zone_unmap() - return [base, base+size) of the zone to the PROT_NONE reservation. */
int sjmp__zone_unmap(uintptr_t base, size_t size);
/** sjmp__zone_contains() - whether [base, base+size) lies in the segment zone. */
bool sjmp__zone_contains(uintptr_t base, size_t size);

#endif
