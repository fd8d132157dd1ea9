/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the library's in-process objects and the functions the modules share.
 *
 * Objects (paper section 3):
 * - struct sjmp__seg: one opened segment (data file descriptor, lock file, metadata). Opened
 *   once per process per file: finding the same name twice gives two handles to one object.
 * - struct sjmp__vasobj: one VAS object, named (a directory under SJMP_DIR/vas) or unnamed
 *   (memory only). Holds the list of global segments.
 * - struct sjmp__inst: one attached VAS (what a vh names): the VAS's global segments plus the
 *   segments attached to this instance only. Instance 0 is the primary VAS.
 * All of them are reference counted and protected by the library mutex (sjmp__lock()).
 */
#ifndef SJMP_INTERNAL_H
#define SJMP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sjmp.h"
#include "log.h"

struct sjmp__lockfile;
struct sjmp__backend;

/** Format version of segment metadata and VAS records; bump on any layout change. */
#define SJMP__FORMAT_VERSION 1

struct sjmp__seg {
	int refs;                     /* handles + attachments + held locks */
	char name[SJMP_NAME_MAX + 1]; /* "" when unnamed */
	uintptr_t base;
	size_t size;
	unsigned flags; /* SJMP_READ/WRITE/EXEC | SJMP_SEG_LOCKABLE */
	int data_fd;    /* O_RDWR when writable, else O_RDONLY; close-on-exec */
	bool writable;  /* the caller may write the data file */
	dev_t dev;      /* identity of the data file */
	ino_t ino;
	struct sjmp__lockfile *lf;
	void *backend_priv;     /* the backend's per-segment state (kvm: host mapping) */
	struct sjmp__seg *next; /* in the list of open segments */
};

/** One segment in a VAS: global (from the VAS record) or local to one instance. */
struct sjmp__attachment {
	struct sjmp__seg *seg;
	unsigned prot; /* SJMP_READ/WRITE/EXEC actually mapped */
	bool global;
};

struct sjmp__vasobj {
	int refs;                     /* handles + instances */
	char name[SJMP_NAME_MAX + 1]; /* "" when unnamed */
	/* Unnamed VASes keep their global segments here; named ones in their record. */
	struct sjmp__attachment *globals;
	unsigned nglobals;
	/* Named VASes: a shared page whose counter changes on every record update, so an
	 * instance notices a global attach at its next switch without a system call. */
	volatile uint64_t *gen;
};

struct sjmp__inst {
	bool in_use;
	struct sjmp__vasobj *vas; /* NULL for the primary VAS */
	struct sjmp__attachment *atts;
	unsigned natts, capatts;
	uint64_t gen_seen;  /* vas->gen value the globals were loaded at */
	int threads_inside; /* threads whose current VAS this is */
	int switching;      /* threads on their way in (waiting for locks) */
	void *backend_priv;
};

/* ---- library state (init.c) ---- */

/** sjmp__ensure_init() - sjmp_init() once; return its result. */
int sjmp__ensure_init(void);
/** The library mutex (recursive: API calls nest). */
void sjmp__lock(void);
void sjmp__unlock(void);
/** Descriptor of SJMP_DIR and of its "seg" and "vas" subdirectories. */
int sjmp__dirfd(void);
int sjmp__segdirfd(void);
int sjmp__vasdirfd(void);
/** The backend chosen at init. */
const struct sjmp__backend *sjmp__backend(void);

/* ---- names (names.c) ---- */

/** sjmp__name_check() - 0 if @name is a valid object name, else -EINVAL with a logged reason. */
int sjmp__name_check(const char *op, const char *name);

/* ---- handle tables (handles.c) ---- */
int sjmp__sid_new(struct sjmp__seg *s);
struct sjmp__seg *sjmp__sid_get(sjmp_sid_t sid);
void sjmp__sid_clear(sjmp_sid_t sid);
int sjmp__vid_new(struct sjmp__vasobj *v);
struct sjmp__vasobj *sjmp__vid_get(sjmp_vid_t vid);
void sjmp__vid_clear(sjmp_vid_t vid);
/** sjmp__inst_new() - a free instance slot (>= 1) or -EMFILE. */
int sjmp__inst_new(struct sjmp__inst **out);
/** sjmp__inst_get() - instance for @vh (0 = primary), or NULL if not attached. */
struct sjmp__inst *sjmp__inst_get(sjmp_vh_t vh);
/** sjmp__inst_slot() - the vh of an instance. */
sjmp_vh_t sjmp__inst_vh(const struct sjmp__inst *in);
/** Iterate over attached instances: returns the next in-use instance after @vh, or NULL. */
struct sjmp__inst *sjmp__inst_next(sjmp_vh_t *vh);

/* ---- segments (seg.c) ---- */
void sjmp__seg_ref(struct sjmp__seg *s);
void sjmp__seg_unref(struct sjmp__seg *s);
/** sjmp__seg_open_name() - open (or find already open) the named segment. */
int sjmp__seg_open_name(const char *name, struct sjmp__seg **out);
/** sjmp__seg_lockfile() - the segment's lock file, opened lazily; -errno on failure. */
int sjmp__seg_lockfile(struct sjmp__seg *s, struct sjmp__lockfile **out);
/** sjmp__seg_forget_locks() - fork child: forget every lock hold inherited from the parent. */
void sjmp__seg_forget_locks(void);
/** sjmp__seg_info() - fill a public info record from an open segment. */
void sjmp__seg_info(const struct sjmp__seg *s, struct sjmp_seg_info *out);

/* ---- VAS objects and instances (vas.c) ---- */
void sjmp__vasobj_unref(struct sjmp__vasobj *v);
/** sjmp__inst_refresh() - reload a named VAS's global segments if its record changed. */
int sjmp__inst_refresh(struct sjmp__inst *in);
/** sjmp__inst_find_seg() - the attachment of @s in @in, or NULL. */
struct sjmp__attachment *sjmp__inst_find_seg(struct sjmp__inst *in, const struct sjmp__seg *s);
/** sjmp__inst_add() - add an attachment (checks EEXIST / EADDRINUSE); no mapping. */
int sjmp__inst_add(struct sjmp__inst *in, struct sjmp__seg *s, unsigned prot, bool global);
/** sjmp__inst_remove() - drop attachment at index @i; no unmapping. */
void sjmp__inst_remove(struct sjmp__inst *in, unsigned i);

/* ---- switching (switch.c) ---- */
/** sjmp__thread_inst() - the calling thread's current instance (primary if none). */
struct sjmp__inst *sjmp__thread_inst(void);
/**
 * sjmp__thread_take_lock() - take @s's lock for the calling thread, which is in a VAS that now
 * maps @s. Never waits (the library mutex is held): -EBUSY when the lock is taken elsewhere.
 */
int sjmp__thread_take_lock(struct sjmp__seg *s, bool exclusive);
/** sjmp__thread_drop_lock() - release a lock the calling thread holds on @s, if any. */
void sjmp__thread_drop_lock(struct sjmp__seg *s);

/* ---- one copy of the library per process under sjmp-run (elf_probe.c, init.c) ---- */

/**
 * sjmp__elf_defines() - whether the 64-bit ELF file @path defines symbol @name (in .symtab or
 * .dynsym, not undefined). Return 1, 0 (not defined, stripped, or not ELF), or -errno (open or
 * mmap failed).
 */
int sjmp__elf_defines(const char *path, const char *name);

/**
 * sjmp__program_has_copy() - whether the process holds a copy of libsjmp besides the preload:
 * libsjmp.so loaded, or the main program defines sjmp_enter (linked statically).
 */
bool sjmp__program_has_copy(void);

/** Set by libsjmp-preload.so's constructor: this copy is sjmp-run's preload. */
extern bool sjmp__copy_is_preload;

#endif
