/* SPDX-License-Identifier: MIT */
/*
 * lock.c - recoverable cross-process locks in a segment's lock file (see lock.h).
 *
 * File layout (one page, struct lock_page): a header {magic, version, nslots, hwm}, the
 * reader/writer lock, the heap mutex, then nslots holder slots {readers, pid}.
 *
 * Ownership is by slot, not by pid: a process claims slot i by taking an OFD write lock on byte
 * SLOT_BYTE_BASE + i through its close-on-exec descriptor. The kernel drops that lock when the
 * open file description is released: when its last descriptor is closed and its last mapping
 * (a mapping pins the description too) is gone, which is at exit, SIGKILL and exec;
 * so "F_OFD_SETLK on byte i succeeds" means "slot i's owner is gone". Whoever then holds that
 * byte (a new claimer or a recovering waiter) owns the slot's leftovers and cleans them; nobody
 * else can touch them meanwhile, because only the holder of byte i writes slot i's words.
 *
 * - readers[i] counts slot i's shared holds. Reader: readers[i]++, then if writer != 0 undo and
 *   wait. Writer: CAS writer 0 -> i+1, then wait for every readers[] to be 0. Both sides use
 *   seq_cst, so at least one sees the other (Dekker); writers win, so writers do not starve.
 * - hwm is one past the highest slot ever claimed: a writer scans only readers[0, hwm), so the
 *   uncontended writer costs a few cache lines, not the whole array.
 * - The mutex word is 0, the owner's slot+1, or MUTEX_DEAD once recovery found its owner dead:
 *   the next locker takes MUTEX_DEAD over and returns SJMP__OWNER_DIED, exactly once per death.
 *
 * Waiting (the contended path only) uses a wait queue {wanted, seq}: a waiter reads seq, sets
 * wanted, re-checks its condition and sleeps in FUTEX_WAIT on seq; a releaser that finds wanted
 * set clears it, bumps seq and wakes everybody. Departure from the recommended design: wanted
 * is a flag, not a count of waiters. A count incremented by a waiter that is then SIGKILLed
 * stays > 0 for ever, and from then on every release would make a FUTEX_WAKE system call;
 * a flag is cleared by the next release, so a dead waiter costs one spurious wake-up at most.
 * Reading seq before setting the flag closes the lost-wake-up window with a concurrent
 * releaser that clears a flag set by someone else (it bumps seq after our read, so our
 * FUTEX_WAIT returns at once). Futexes are shared (no FUTEX_PRIVATE_FLAG): the words live in a
 * MAP_SHARED file mapping used by several processes.
 *
 * Sleeps are bounded (POLL_MIN_MS doubling to POLL_MAX_MS); each time one expires the waiter
 * probes the slots that hold something and reclaims those whose owner is gone, since a dead
 * holder never wakes anybody.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"
#include "log.h"

#define LOCK_MAGIC   0x4b4c4a53u /* "SJLK" little-endian */
#define LOCK_VERSION 1u
#define LOCK_NSLOTS  128u
#define LOCK_SIZE    4096u
/* Slot bytes lie past the page so the slot locks never overlap anything else in the file. */
#define SLOT_BYTE_BASE LOCK_SIZE
#define MUTEX_DEAD     UINT32_MAX
#define POLL_MIN_MS    10
#define POLL_MAX_MS    100

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct waitq {
	_Atomic uint32_t wanted; /* 1: someone may sleep on seq; cleared by the next release */
	_Atomic uint32_t seq;    /* futex word, bumped by every wake */
};

struct slot {
	_Atomic uint32_t readers; /* shared holds of this slot's process */
	_Atomic uint32_t pid;     /* owner's pid, for diagnostics only */
};

struct lock_page {
	uint32_t magic;
	uint32_t version;
	uint32_t nslots;
	_Atomic uint32_t hwm;    /* one past the highest slot ever claimed */
	_Atomic uint32_t writer; /* 0 or writer's slot+1 */
	struct waitq rwq;
	_Atomic uint32_t mutex; /* 0, owner's slot+1, or MUTEX_DEAD */
	struct waitq mq;
	uint32_t reserved[6];
	struct slot slots[];
};

_Static_assert(sizeof(struct lock_page) == 64, "lock page header is part of the file format");
_Static_assert(sizeof(struct lock_page) + LOCK_NSLOTS * sizeof(struct slot) <= LOCK_SIZE,
               "slots must fit in the lock page");

struct sjmp__lockfile {
	struct lock_page *page;
	int fd;           /* our own open file description; -1 if it could not be had */
	_Atomic int slot; /* claimed slot, -1 until claimed; written under ofd_lock */
	/*
	 * Serialises this process's byte locks on fd. Locks of one open file description never
	 * conflict with each other, so without it two threads could both "win" a byte: a lazy
	 * claim could take the byte a recovering thread holds (which then unlocks our own slot),
	 * or a recoverer could clean a slot that another thread's recovery already released to
	 * a new owner.
	 */
	pthread_mutex_t ofd_lock;
	uint32_t nslots; /* validated copy: never trust the shared header after open */
};

/* ---- system calls (contended path only) ---- */

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* F_OFD_SETLK on slot @i's byte: 0, or -EAGAIN when another open file description holds it. */
static int slot_ofd(int fd, uint32_t i, short type)
{
	struct flock fl = {
	    .l_type = type,
	    .l_whence = SEEK_SET,
	    .l_start = SLOT_BYTE_BASE + i,
	    .l_len = 1,
	};

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	if (errno == EACCES || errno == EAGAIN)
		return -EAGAIN;
	return -errno;
}

/* ---- wait queue ---- */

/* Wake sleepers if any announced themselves. Reading before exchanging keeps an idle release
 * from writing a shared cache line. */
static inline void waitq_wake(struct waitq *q)
{
	if (likely(atomic_load(&q->wanted) == 0))
		return;
	if (atomic_exchange(&q->wanted, 0) == 0)
		return;
	atomic_fetch_add(&q->seq, 1);
	futex_wake_all(&q->seq);
}

/* First half of a wait: the returned sequence must be read before the flag is set (see top). */
static uint32_t waitq_prepare(struct waitq *q)
{
	uint32_t seq = atomic_load(&q->seq);

	atomic_store(&q->wanted, 1);
	return seq;
}

/*
 * Sleep on @q unless its sequence moved from @seq, for at most *@poll_ms and never past
 * @deadline. Return: 0 woken (or spurious), 1 the poll interval expired (time to look for dead
 * holders), -ETIMEDOUT the deadline has passed. EINTR is just a wake-up.
 */
static int waitq_sleep(struct waitq *q, uint32_t seq, const struct timespec *deadline, int *poll_ms)
{
	int64_t wait_ns = (int64_t)*poll_ms * 1000000;
	bool capped = false;
	struct timespec ts;

	if (deadline) {
		int64_t left =
		    (int64_t)deadline->tv_sec * 1000000000 + deadline->tv_nsec - mono_ns();

		if (left <= 0)
			return -ETIMEDOUT;
		if (left < wait_ns) {
			wait_ns = left;
			capped = true;
		}
	}
	ts.tv_sec = wait_ns / 1000000000;
	ts.tv_nsec = wait_ns % 1000000000;
	if (syscall(SYS_futex, &q->seq, FUTEX_WAIT, seq, &ts, NULL, 0) == 0 || errno != ETIMEDOUT)
		return 0;
	if (capped)
		return -ETIMEDOUT;
	if (*poll_ms < POLL_MAX_MS)
		*poll_ms *= 2;
	return 1;
}

/* ---- slots ---- */

/* Acquire pairs with the claimer's release: a thread that sees the slot sees it set up. */
static inline int slot_of(struct sjmp__lockfile *lf)
{
	return atomic_load_explicit(&lf->slot, memory_order_acquire);
}

static struct slot *my_slot(struct sjmp__lockfile *lf)
{
	return &lf->page->slots[slot_of(lf)];
}

/*
 * Drop everything slot @i holds. The caller owns byte i's OFD lock (or is slot i's live owner
 * letting go), so nobody else changes these words meanwhile. @died: the holder is gone rather
 * than closing, so a mutex it held becomes MUTEX_DEAD. Return: whether anything was held.
 */
static bool clean_slot(struct lock_page *p, uint32_t i, bool died)
{
	struct slot *s = &p->slots[i];
	uint32_t me = i + 1;
	uint32_t w = me;
	uint32_t m = me;
	bool held = false;

	if (atomic_exchange(&s->readers, 0) != 0)
		held = true;
	if (atomic_compare_exchange_strong(&p->writer, &w, 0))
		held = true;
	if (atomic_compare_exchange_strong(&p->mutex, &m, died ? MUTEX_DEAD : 0))
		held = true;
	if (held) {
		waitq_wake(&p->rwq);
		waitq_wake(&p->mq);
	}
	return held;
}

static int claim_slot(struct sjmp__lockfile *lf)
{
	struct lock_page *p = lf->page;
	uint32_t i;
	int r;

	if (lf->fd < 0)
		return -ENOLCK;
	for (i = 0; i < lf->nslots; i++) {
		r = slot_ofd(lf->fd, i, F_WRLCK);
		if (r == -EAGAIN)
			continue;
		if (r < 0)
			return sjmp__fail(r, "lock file: F_OFD_SETLK",
			                  "needs Linux >= 3.15 and a filesystem with POSIX locks");
		/* Whatever the slot's previous owner left is ours to drop. */
		if (clean_slot(p, i, true))
			sjmp__log(SJMP_LOG_WARN,
			          "lock file: dropped the locks of dead pid %u (slot %u)",
			          atomic_load(&p->slots[i].pid), i);
		atomic_store(&p->slots[i].pid, (uint32_t)getpid());
		/* Raise hwm before any use of the slot, so writers scan it (see top). */
		uint32_t h = atomic_load(&p->hwm);
		while (h < i + 1 && !atomic_compare_exchange_weak(&p->hwm, &h, i + 1))
			;
		atomic_store_explicit(&lf->slot, (int)i, memory_order_release);
		return 0;
	}
	return -EUSERS;
}

/*
 * Reclaim what dead processes hold. For each other slot that holds anything, F_OFD_SETLK on its
 * byte succeeds only if its owner is gone; holding the byte, clean it, then let it go.
 */
static void recover(struct sjmp__lockfile *lf)
{
	struct lock_page *p = lf->page;
	uint32_t n = atomic_load(&p->hwm);
	uint32_t i;

	if (lf->fd < 0)
		return;
	if (n > lf->nslots)
		n = lf->nslots;
	pthread_mutex_lock(&lf->ofd_lock);
	for (i = 0; i < n; i++) {
		uint32_t me = i + 1;

		/* Our own byte would "succeed" through our own description: never probe it. */
		if ((int)i == slot_of(lf))
			continue;
		if (atomic_load(&p->slots[i].readers) == 0 && atomic_load(&p->writer) != me &&
		    atomic_load(&p->mutex) != me)
			continue;
		if (slot_ofd(lf->fd, i, F_WRLCK) != 0)
			continue;
		if (clean_slot(p, i, true))
			sjmp__log(SJMP_LOG_WARN,
			          "lock file: dropped the locks of dead pid %u (slot %u)",
			          atomic_load(&p->slots[i].pid), i);
		slot_ofd(lf->fd, i, F_UNLCK);
	}
	pthread_mutex_unlock(&lf->ofd_lock);
}

/*
 * Get a slot on the slow path (after sjmp__lockfile_forget). Return: 0, 1 if every slot is
 * taken (wait like for a busy lock: slots free up as processes go), or -errno.
 */
static int ensure_slot(struct sjmp__lockfile *lf)
{
	int r;

	if (slot_of(lf) >= 0)
		return 0;
	pthread_mutex_lock(&lf->ofd_lock);
	r = slot_of(lf) >= 0 ? 0 : claim_slot(lf);
	pthread_mutex_unlock(&lf->ofd_lock);
	return r == -EUSERS ? 1 : r;
}

/* ---- file ---- */

int sjmp__lockfile_init(int fd)
{
	struct lock_page *p;
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size != 0)
		return -EINVAL;
	/* Reserve the blocks now: a store into a sparse page of a full tmpfs would be SIGBUS. */
	r = posix_fallocate(fd, 0, LOCK_SIZE);
	if (r != 0 && r != EOPNOTSUPP && r != EINVAL)
		return -r;
	p = calloc(1, LOCK_SIZE);
	if (!p)
		return -ENOMEM;
	p->magic = LOCK_MAGIC;
	p->version = LOCK_VERSION;
	p->nslots = LOCK_NSLOTS;
	n = pwrite(fd, p, LOCK_SIZE, 0);
	r = n == (ssize_t)LOCK_SIZE ? 0 : n < 0 ? -errno : -ENOSPC;
	free(p);
	return r;
}

int sjmp__lockfile_open(int fd, struct sjmp__lockfile **out)
{
	struct sjmp__lockfile *lf;
	struct lock_page *p;
	struct stat st;
	int r;

	*out = NULL;
	/* The slot's liveness rests on exec closing this descriptor. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)LOCK_SIZE) {
		r = sjmp__fail(EBADMSG, "lock file: open",
		               "not a lock file (%lld bytes); remove it", (long long)st.st_size);
		goto out_close;
	}
	p = mmap(NULL, LOCK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		goto out_close;
	}
	if (p->magic != LOCK_MAGIC || p->version != LOCK_VERSION || p->nslots == 0 ||
	    p->nslots > LOCK_NSLOTS) {
		r = sjmp__fail(
		    EBADMSG, "lock file: open",
		    "magic %#x version %u slots %u: not a version %u lock file; remove it",
		    p->magic, p->version, p->nslots, LOCK_VERSION);
		goto out_unmap;
	}
	lf = calloc(1, sizeof(*lf));
	if (!lf) {
		r = -ENOMEM;
		goto out_unmap;
	}
	lf->page = p;
	lf->fd = fd;
	lf->slot = -1;
	lf->nslots = p->nslots;
	pthread_mutex_init(&lf->ofd_lock, NULL);
	r = claim_slot(lf);
	if (r < 0) {
		pthread_mutex_destroy(&lf->ofd_lock);
		free(lf);
		goto out_unmap;
	}
	*out = lf;
	return 0;

out_unmap:
	munmap(p, LOCK_SIZE);
out_close:
	close(fd);
	return r;
}

void sjmp__lockfile_close(struct sjmp__lockfile *lf)
{
	if (!lf)
		return;
	/* Clean while still owning the byte: after close a new claimer may take the slot. */
	if (slot_of(lf) >= 0)
		clean_slot(lf->page, (uint32_t)slot_of(lf), false);
	if (lf->fd >= 0)
		close(lf->fd);
	munmap(lf->page, LOCK_SIZE);
	pthread_mutex_destroy(&lf->ofd_lock);
	free(lf);
}

void sjmp__lockfile_forget(struct sjmp__lockfile *lf)
{
	char path[32];
	void *p;
	int fd;

	if (!lf)
		return;
	lf->slot = -1;
	/* Another thread of the parent may have held it at fork; no such thread exists here. */
	pthread_mutex_init(&lf->ofd_lock, NULL);
	if (lf->fd < 0)
		return;
	/*
	 * The inherited descriptor shares the parent's open file description, hence its slot
	 * lock: keeping it would keep the parent "alive" after it dies. So does the inherited
	 * mapping, which holds a reference to the same description. A fresh open of the same
	 * file (through /proc, which also works once the file is unlinked) gives this process a
	 * description of its own, and MAP_FIXED swaps the mapping over at the same address.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", lf->fd);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		sjmp__fail(errno, "lock file: reopen after fork",
		           "mount /proc; this process cannot take the segment's locks");
	} else {
		p = mmap(lf->page, LOCK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		         0);
		if (p == MAP_FAILED) {
			sjmp__fail(errno, "lock file: remap after fork",
			           "raise the mapping limit; this process cannot take the "
			           "segment's locks");
			close(fd);
			fd = -1;
		}
	}
	close(lf->fd);
	lf->fd = fd;
}

/* ---- reader/writer lock ---- */

static bool readers_gone(struct lock_page *p, uint32_t nslots)
{
	uint32_t n = atomic_load(&p->hwm);
	uint32_t i;

	if (n > nslots)
		n = nslots;
	for (i = 0; i < n; i++)
		if (atomic_load(&p->slots[i].readers) != 0)
			return false;
	return true;
}

/* Take back a reader increment that met a writer; the writer may be waiting for it. */
static void reader_back_off(struct sjmp__lockfile *lf)
{
	atomic_fetch_sub(&my_slot(lf)->readers, 1);
	waitq_wake(&lf->page->rwq);
}

/*
 * Contended reader/writer acquisition. @have_writer: the fast path already owns the writer word
 * and only waits for readers to leave. A caller that cannot wait (nonblock, or deadline passed)
 * gets one more attempt after a recovery pass, so a lock held only by the dead is never
 * reported busy.
 */
static int rw_lock_slow(struct sjmp__lockfile *lf, bool exclusive, bool nonblock,
                        const struct timespec *deadline, bool have_writer)
{
	struct lock_page *p = lf->page;
	bool last_try = false;
	int poll_ms = POLL_MIN_MS;
	uint32_t seq;
	int r;

	for (;;) {
		seq = waitq_prepare(&p->rwq);
		r = ensure_slot(lf);
		if (r < 0)
			goto fail;
		if (r == 0 && !exclusive && atomic_load(&p->writer) == 0) {
			atomic_fetch_add(&my_slot(lf)->readers, 1);
			if (atomic_load(&p->writer) == 0)
				return 0;
			reader_back_off(lf);
		} else if (r == 0 && exclusive) {
			uint32_t zero = 0;

			if (!have_writer)
				have_writer = atomic_compare_exchange_strong(
				    &p->writer, &zero, (uint32_t)slot_of(lf) + 1);
			if (have_writer && readers_gone(p, lf->nslots))
				return 0;
		}
		if (last_try) {
			r = nonblock ? -EBUSY : -ETIMEDOUT;
			goto fail;
		}
		r = nonblock ? -ETIMEDOUT : waitq_sleep(&p->rwq, seq, deadline, &poll_ms);
		if (r == -ETIMEDOUT)
			last_try = true;
		if (r != 0)
			recover(lf);
	}
fail:
	if (have_writer) {
		atomic_store(&p->writer, 0);
		waitq_wake(&p->rwq);
	}
	return r;
}

int sjmp__rw_lock(struct sjmp__lockfile *lf, bool exclusive, bool nonblock,
                  const struct timespec *deadline)
{
	struct lock_page *p = lf->page;
	int slot = slot_of(lf);
	uint32_t zero = 0;

	if (unlikely(slot < 0))
		return rw_lock_slow(lf, exclusive, nonblock, deadline, false);
	if (!exclusive) {
		atomic_fetch_add(&p->slots[slot].readers, 1);
		if (likely(atomic_load(&p->writer) == 0))
			return 0;
		reader_back_off(lf);
		return rw_lock_slow(lf, false, nonblock, deadline, false);
	}
	if (unlikely(!atomic_compare_exchange_strong(&p->writer, &zero, (uint32_t)slot + 1)))
		return rw_lock_slow(lf, true, nonblock, deadline, false);
	if (likely(readers_gone(p, lf->nslots)))
		return 0;
	return rw_lock_slow(lf, true, nonblock, deadline, true);
}

void sjmp__rw_unlock(struct sjmp__lockfile *lf, bool exclusive)
{
	struct lock_page *p = lf->page;

	if (exclusive)
		atomic_store(&p->writer, 0);
	else
		atomic_fetch_sub(&my_slot(lf)->readers, 1);
	waitq_wake(&p->rwq);
}

/* ---- heap mutex ---- */

static int mutex_lock_slow(struct sjmp__lockfile *lf)
{
	struct lock_page *p = lf->page;
	int poll_ms = POLL_MIN_MS;
	uint32_t seq;
	int r;

	for (;;) {
		seq = waitq_prepare(&p->mq);
		r = ensure_slot(lf);
		if (r < 0)
			return r;
		if (r == 0) {
			uint32_t me = (uint32_t)slot_of(lf) + 1;
			uint32_t v = atomic_load(&p->mutex);

			if (v == 0 && atomic_compare_exchange_strong(&p->mutex, &v, me))
				return 0;
			if (v == MUTEX_DEAD && atomic_compare_exchange_strong(&p->mutex, &v, me))
				return SJMP__OWNER_DIED;
		}
		if (waitq_sleep(&p->mq, seq, NULL, &poll_ms) == 1)
			recover(lf);
	}
}

int sjmp__mutex_lock(struct sjmp__lockfile *lf)
{
	int slot = slot_of(lf);
	uint32_t zero = 0;

	if (likely(slot >= 0) &&
	    likely(atomic_compare_exchange_strong(&lf->page->mutex, &zero, (uint32_t)slot + 1)))
		return 0;
	return mutex_lock_slow(lf);
}

void sjmp__mutex_unlock(struct sjmp__lockfile *lf)
{
	atomic_store(&lf->page->mutex, 0);
	waitq_wake(&lf->page->mq);
}
