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
 * sjmp__lockfile_init() - initialise a new lock file's contents.
 * @fd: descriptor of an empty, writable file (mode already set by the caller).
 * Return: 0 or -errno (ENOSPC if the file cannot be sized).
 */
int sjmp__lockfile_init(int fd);

/**
 * sjmp__lockfile_open() - map a lock file and claim a holder slot for this process.
 * @fd: descriptor opened O_RDWR|O_CLOEXEC; the lock file takes ownership of it (closed by
 *      sjmp__lockfile_close, also on error).
 * Return: 0 and *@out, or -EBADMSG (not a lock file / wrong version), -EUSERS (every slot taken
 * by a live process), -ENOMEM.
 */
int sjmp__lockfile_open(int fd, struct sjmp__lockfile **out);

/** sjmp__lockfile_close() - release everything this process holds and unmap. NULL is a no-op. */
void sjmp__lockfile_close(struct sjmp__lockfile *lf);

/**
 * sjmp__lockfile_forget() - in a fork child: forget the parent's holds without touching the
 * shared words (they remain the parent's), close the inherited descriptor and claim a fresh
 * slot lazily on next use.
 */
void sjmp__lockfile_forget(struct sjmp__lockfile *lf);

/**
 * sjmp__rw_lock() - take the segment's reader/writer lock.
 * @exclusive: true for the writer lock.
 * @nonblock:  fail with -EBUSY instead of waiting.
 * @deadline:  absolute CLOCK_MONOTONIC deadline, or NULL to wait for ever.
 * Return: 0, -EBUSY, -ETIMEDOUT. Never -EINTR.
 * Holds are per process slot with counts, so several threads of one process may each hold a
 * shared lock; a thread must not take a lock it already holds exclusively.
 */
int sjmp__rw_lock(struct sjmp__lockfile *lf, bool exclusive, bool nonblock,
		  const struct timespec *deadline);

/** sjmp__rw_unlock() - release one hold taken by sjmp__rw_lock with the same @exclusive. */
void sjmp__rw_unlock(struct sjmp__lockfile *lf, bool exclusive);

/**
 * sjmp__mutex_lock() - take the heap mutex (blocking).
 * Return: 0, or SJMP__OWNER_DIED when it was taken over from a dead holder (the caller must
 * repair the protected state before relying on it).
 */
int sjmp__mutex_lock(struct sjmp__lockfile *lf);

/** sjmp__mutex_unlock() - release the heap mutex. */
void sjmp__mutex_unlock(struct sjmp__lockfile *lf);

#endif
