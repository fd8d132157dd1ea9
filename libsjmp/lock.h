/* SPDX-License-Identifier: MIT */
/*
 * lock.h - recoverable cross-process locks kept outside the program's bytes.
 *
 * Each segment has a small lock file (SJMP_DIR/seg/NAME/lock) mapped MAP_SHARED by every process
 * that opens the segment. It holds the lockable segment's reader/writer lock (paper section 3.2:
 * shared when a VAS maps the segment read-only, exclusive when writable) and the heap mutex.
 * The file is writable by everyone who may read the segment, so a read-only attacher can still
 * take a shared lock, and a stray store into segment memory cannot corrupt a lock word.
 *
 * Rules:
 * - The uncontended acquire and release make no system call (in guest mode each one is an
 *   exit to the VMM).
 * - A lock whose holder process exited, exec'd or was killed does not stay held: each process
 *   owns one slot of the file, marked by an OFD lock (F_OFD_SETLK) on the slot's byte through a
 *   close-on-exec descriptor, which the kernel drops at exit, exec or kill. A waiter that finds a
 *   slot's OFD lock gone reclaims what that slot held.
 * - After fork the child holds nothing: call sjmp__lockfile_forget() on every open lock file
 *   in the child.
 */
#ifndef SJMP_LOCK_H
#define SJMP_LOCK_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

struct sjmp__lockfile;

/** Result of sjmp__mutex_lock when the previous owner died holding the mutex. */
#define SJMP__OWNER_DIED 1

/**
 * sjmp__lockfile_init() - write a new lock file's contents (one page: header, free locks,
 * free slots).
 * @fd: descriptor of an empty, writable file (mode already set by the caller). Not closed.
 * Context: the creator, before the file is visible to others (create it under a temporary
 * name and rename it into place).
 * Return: 0, or -EINVAL (the file is not empty: it may be in use), -ENOMEM, -ENOSPC (the file
 * cannot be sized: its blocks are reserved now so that a later store cannot fault with SIGBUS), or
 * another -errno of fstat/pwrite.
 */
int sjmp__lockfile_init(int fd);

/**
 * sjmp__lockfile_open() - map a lock file and claim a holder slot for this process.
 * @fd: descriptor opened O_RDWR (O_CLOEXEC is set here if missing, since exec must release the
 *      slot); the lock file takes ownership of it (closed by sjmp__lockfile_close, also on
 *      error). Each open file description is a separate holder, even within one process.
 * Context: any thread; makes system calls (fstat, mmap, one fcntl per slot tried).
 * Return: 0 and *@out (NULL on error), or
 * -EBADMSG: not a regular file of at least one page, bad magic, other format version, or a
 *           slot count out of range (logged with what was found; remove and recreate it);
 * -EUSERS:  every slot is held by a live process;
 * -ENOMEM:  no memory for the handle or the mapping;
 * -EINVAL:  F_OFD_SETLK unsupported (Linux < 3.15, or a filesystem without POSIX locks; logged);
 * other -errno of fstat/mmap/fcntl.
 */
int sjmp__lockfile_open(int fd, struct sjmp__lockfile **out);

/**
 * sjmp__lockfile_close() - release everything this process holds through @lf, close its
 * descriptor and unmap. A held heap mutex is released as unlocked, not as died. NULL is a
 * no-op. Context: no other thread may be using @lf.
 */
void sjmp__lockfile_close(struct sjmp__lockfile *lf);

/**
 * sjmp__lockfile_forget() - in a fork child: forget the parent's holds without touching the
 * shared words (they remain the parent's), and give the child its own open file description
 * (reopened through /proc/self/fd) and mapping, so that neither keeps the parent's slot alive
 * after the parent dies. The child claims a fresh slot lazily on next use.
 * Context: the child, before it uses @lf, typically right after fork (or in a
 * pthread_atfork child handler). If /proc is not mounted the reopen fails (logged) and every
 * later lock call on @lf returns -ENOLCK.
 */
void sjmp__lockfile_forget(struct sjmp__lockfile *lf);

/**
 * sjmp__rw_lock() - take the segment's reader/writer lock.
 * @lf:        an open lock file.
 * @exclusive: true for the writer lock.
 * @nonblock:  fail with -EBUSY instead of waiting (takes precedence over @deadline).
 * @deadline:  absolute CLOCK_MONOTONIC deadline, or NULL to wait for ever.
 * Context: any thread. The uncontended call makes no system call. Waiting writers keep new
 * readers out (writers are not starved; a stream of writers can delay readers).
 * Return: 0, or
 * -EBUSY:     @nonblock and the lock is held by a live process (holders found dead were
 *             reclaimed first);
 * -ETIMEDOUT: @deadline passed (checked after a last look for dead holders);
 * -ENOLCK:    after sjmp__lockfile_forget, no descriptor could be had (see there).
 * Never -EINTR: signals only make the wait look again. In a fork child whose first use finds
 * every slot taken, the call waits (or fails -EBUSY/-ETIMEDOUT) as for a busy lock.
 * Holds are per process slot with counts, so several threads of one process may each hold a
 * shared lock; a thread must not take a lock it already holds exclusively, nor upgrade a shared
 * hold (both wait for ever, or until @deadline).
 */
int sjmp__rw_lock(struct sjmp__lockfile *lf, bool exclusive, bool nonblock,
                  const struct timespec *deadline);

/**
 * sjmp__rw_unlock() - release one hold taken by sjmp__rw_lock with the same @exclusive.
 * Context: any thread of the holding process (holds belong to the process, not the thread).
 * No system call unless somebody is waiting.
 */
void sjmp__rw_unlock(struct sjmp__lockfile *lf, bool exclusive);

/**
 * sjmp__mutex_lock() - take the heap mutex (blocking; not recursive: a second lock from the
 * same process waits for the first unlock).
 * Context: any thread. The uncontended call makes no system call.
 * Return: 0, or SJMP__OWNER_DIED when it was taken over from a holder that exited, exec'd or
 * was killed holding it (reported to exactly one locker per death; the caller must repair the
 * protected state before relying on it, and now owns the mutex), or -ENOLCK (after a failed
 * sjmp__lockfile_forget). Never -EINTR.
 */
int sjmp__mutex_lock(struct sjmp__lockfile *lf);

/** sjmp__mutex_unlock() - release the heap mutex; any thread of the owning process may. */
void sjmp__mutex_unlock(struct sjmp__lockfile *lf);

#endif
