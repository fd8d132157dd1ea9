/* SPDX-License-Identifier: MIT */
/*
 * store.h - where a SAM workflow's structures live: memory at a fixed virtual address that
 * outlives the process. Two implementations share every other file of sjmp-sam:
 *   store_sjmp.c      a named VAS with one or more segments (sjmp-sam)
 *   store_mmapfile.c  a file on /dev/shm mapped at a fixed address, no VAS (sjmp-sam-mmapfile,
 *                     the paper's "mmap" variant of section 5.4)
 * Every function returns 0 or a pointer on success; on failure it prints one message to stderr
 * naming the object and the remedy, and returns -errno or NULL.
 */
#ifndef SAM_STORE_H
#define SAM_STORE_H

#include <stddef.h>

struct sam_root;
struct sam_store;

/** Fixed virtual address of a workflow's memory: 64 GiB into sjmp's segment zone. */
#define SAM_STORE_BASE (SJMP_ZONE_BASE + (64UL << 30))

/**
 * store_create() - create the named store and enter it for building.
 * @name:      the VAS (or file) name, as sjmp names go ([A-Za-z0-9._-], <= 60 bytes).
 * @size_hint: bytes the structures will probably need; the store grows past it if needed.
 * @out:       the open store.
 * Return: 0, -EEXIST (a store of that name exists: `sjmp-sam drop NAME` first), or -errno.
 */
int store_create(const char *name, size_t size_hint, struct sam_store **out);

/**
 * store_open() - enter an existing store and find its root.
 * @writable: 1 when the caller will change the structures (the sort stage).
 * Return: 0 with *@root set, -ENOENT (no such store: run `sjmp-sam load` first), -EBADMSG
 * (no root: the load that made it did not finish), or -errno.
 */
int store_open(const char *name, int writable, struct sam_store **out, struct sam_root **root);

/**
 * store_alloc() - a block of at least @size bytes in the store, 64-byte aligned.
 * Large blocks are the norm: callers sub-allocate with an arena (arena.h).
 * Return: the block, or NULL (message printed) when the store cannot grow.
 */
void *store_alloc(struct sam_store *s, size_t size);

/** store_free() - give back a block from store_alloc (may be a no-op). */
void store_free(struct sam_store *s, void *p);

/** store_set_root() - record @root as the store's root for later store_open() calls. */
int store_set_root(struct sam_store *s, struct sam_root *root);

/**
 * store_close() - leave the store (back to the process's own address space) and free the
 * handle. The data stays for later processes. NULL is a no-op.
 */
int store_close(struct sam_store *s);

/** store_drop() - delete the named store and its memory. Return: 0, -ENOENT or -errno. */
int store_drop(const char *name);

/**
 * store_thread_enter() - make the calling thread (not the one that opened the store) see the
 * open store: a backend whose address spaces are per thread switches it in.
 * Return: 0, or -errno (message printed): the thread must then not touch the store.
 */
int store_thread_enter(void);

/** store_thread_leave() - undo store_thread_enter() before the thread exits. */
void store_thread_leave(void);

/** store_kind() - "sjmp:<backend>" or "mmapfile": for messages and benchmarks. */
const char *store_kind(void);

#endif /* SAM_STORE_H */
