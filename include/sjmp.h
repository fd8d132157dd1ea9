/* SPDX-License-Identifier: MIT */
/**
 * sjmp.h - SpaceJMP multiple virtual address spaces for unmodified Linux processes.
 *
 * The API of El Hajj, Merritt, Zellweger et al., "SpaceJMP: Programming with Multiple Virtual
 * Address Spaces", ASPLOS 2016 (Fig. 3, section 3). A VAS is a set of non-overlapping segments;
 * a segment is a named, contiguous region with a fixed virtual base inside the segment zone, a
 * size, permissions and backing memory in a file under SJMP_DIR. A process attaches a VAS
 * (getting a handle) and switches between attached VASes; the primary VAS (SJMP_PRIMARY) is the
 * address space the process started with.
 *
 * Conventions:
 * - Every call returns 0, a handle (>= 0) or a count on success and -errno on failure. Each
 *   failing call leaves nothing behind: no file, mapping, handle or lock.
 * - Diagnostics go through the log hook (sjmp_set_log); the library never prints or exits on
 *   its own except through that hook.
 * - Handles are process-local small integers, like file descriptors. Named objects live as
 *   files under SJMP_DIR and outlive the process; unnamed ones die with their last detach.
 * - Unless a function says otherwise it is thread-safe and NOT async-signal-safe.
 *   Async-signal-safe: sjmp_vas_current(), sjmp_backend(), sjmp_caps(), sjmp_strerror().
 */
#ifndef SJMP_H
#define SJMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SJMP_VERSION_MAJOR 0
#define SJMP_VERSION_MINOR 1
#define SJMP_VERSION_PATCH 0
#define SJMP_VERSION       ((SJMP_VERSION_MAJOR << 16) | (SJMP_VERSION_MINOR << 8) | SJMP_VERSION_PATCH)

#if defined(SJMP_BUILDING) && defined(__GNUC__)
#define SJMP_API __attribute__((visibility("default")))
#else
#define SJMP_API
#endif

/** Process-local handle of a VAS object (named or unnamed), as returned by sjmp_vas_create. */
typedef int sjmp_vid_t;
/** Process-local handle of an attached VAS: what sjmp_vas_switch takes. */
typedef int sjmp_vh_t;
/** Process-local handle of a segment object. */
typedef int sjmp_sid_t;

/** The primary VAS: the address space the process started with (paper section 3.1). */
#define SJMP_PRIMARY 0

/**
 * The segment zone: the band of virtual addresses that holds every segment. A constant of the
 * on-disk format (recorded in every segment's metadata), so a persistent segment comes back at
 * the same address on any machine. It lies above AddressSanitizer's shadow (which ends below
 * 0x100080000000), below where the kernel starts bottom-up mmap placement with an unlimited
 * stack (`ulimit -s unlimited`: from about 0x145500000000 on Linux 6.18, TASK_SIZE / 3 on older
 * kernels), far below the top-down mmap area and below the band where Criterion and similar
 * tools place randomised mappings (0x200000000000 and up), on 512 GiB boundaries (whole PML4
 * entries, SDM Vol. 3A 4.5): 3.5 TiB, which bounds one VAS, not the memory of all of them. The
 * library reserves it (PROT_NONE) at initialisation so that the host never places anything
 * there.
 */
#define SJMP_ZONE_BASE 0x108000000000UL
#define SJMP_ZONE_SIZE 0x038000000000UL

/** Longest object name, in bytes, without the terminating NUL. */
#define SJMP_NAME_MAX 63

/* Permission / attachment flags (sjmp_seg_alloc, sjmp_seg_attach). */
#define SJMP_READ  0x1 /**< map readable */
#define SJMP_WRITE 0x2 /**< map writable (implies readable) */
#define SJMP_EXEC  0x4 /**< map executable */

/* sjmp_seg_alloc flags. */
#define SJMP_SEG_LOCKABLE 0x100 /**< switching into a VAS that maps it takes its rwlock */

/* sjmp_vas_switch_timed flags. */
#define SJMP_SWITCH_NONBLOCK 0x1 /**< fail with -EBUSY instead of waiting for a segment lock */

/** Backends (sjmp_backend()). */
enum sjmp_backend_kind {
	SJMP_BACKEND_NONE = 0, /**< not initialised yet */
	SJMP_BACKEND_MMAP = 1, /**< switching remaps segments with mmap (per process) */
	SJMP_BACKEND_KVM = 2,  /**< guest mode: switching loads CR3 (per thread) */
};

/** Capability bits (sjmp_caps()). */
#define SJMP_CAP_PER_THREAD_VAS    0x1 /**< threads of one process may be in different VASes */
#define SJMP_CAP_PCID              0x2 /**< switches keep TLB entries tagged by PCID */
#define SJMP_CAP_NO_SYSCALL_SWITCH 0x4 /**< a switch makes no system call */

/** Record returned by enumeration and sjmp_seg_ctl(SJMP_SEG_STAT). */
struct sjmp_seg_info {
	char name[SJMP_NAME_MAX + 1]; /**< "" for an unnamed segment */
	uintptr_t base;               /**< fixed virtual base, page aligned, inside the zone */
	size_t size;                  /**< bytes, a multiple of the page size */
	unsigned flags;               /**< SJMP_READ/WRITE/EXEC | SJMP_SEG_LOCKABLE as created */
	mode_t mode;                  /**< permission bits of the data file */
	uid_t uid;                    /**< owner of the data file */
	gid_t gid;                    /**< group of the data file */
};

/** Record returned by enumeration and sjmp_vas_ctl(SJMP_VAS_STAT). */
struct sjmp_vas_info {
	char name[SJMP_NAME_MAX + 1]; /**< "" for an unnamed VAS */
	unsigned nsegs;               /**< segments attached globally to the VAS */
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

/* sjmp_seg_ctl commands. */
#define SJMP_SEG_STAT  1 /**< arg: struct sjmp_seg_info * */
#define SJMP_SEG_CHMOD 2 /**< arg: mode_t * ; changes the mode of every file of the segment */

/* sjmp_vas_ctl commands. */
#define SJMP_VAS_STAT  1 /**< arg: struct sjmp_vas_info * */
#define SJMP_VAS_CHMOD 2 /**< arg: mode_t * */
#define SJMP_VAS_SEGS  3 /**< arg: struct sjmp_vas_segs * ; lists the VAS's global segments */

/** Argument of SJMP_VAS_SEGS: fill up to cap entries, set count to the total. */
struct sjmp_vas_segs {
	struct sjmp_seg_info *segs; /**< caller's array */
	unsigned cap;               /**< entries in segs */
	unsigned count;             /**< out: segments in the VAS (may exceed cap) */
};

/** Log levels for the log hook. */
enum sjmp_log_level {
	SJMP_LOG_ERROR = 0,
	SJMP_LOG_WARN = 1,
	SJMP_LOG_INFO = 2,
	SJMP_LOG_DEBUG = 3
};

/** Log hook: receives one line without trailing newline. */
typedef void (*sjmp_log_fn)(enum sjmp_log_level level, const char *line, void *arg);

/**
 * sjmp_set_log() - route the library's diagnostics.
 * @fn:  hook, or NULL to restore the default (stderr, "sjmp: " prefix, levels <= WARN, or
 *       <= DEBUG when the environment sets SJMP_DEBUG=1).
 * @arg: passed to @fn unchanged.
 * Context: any thread, any time; not async-signal-safe.
 */
SJMP_API void sjmp_set_log(sjmp_log_fn fn, void *arg);

/**
 * sjmp_init() - initialise the library explicitly (every other call does it on first use).
 *
 * Chooses the backend from SJMP_BACKEND (kvm | mmap | auto, default auto: kvm when /dev/kvm
 * works and guest mode is available, otherwise mmap with one log line saying so), creates
 * SJMP_DIR (default /dev/shm/sjmp-UID) and reserves the segment zone.
 *
 * Return: 0, or
 * -EEXIST: something already occupies the segment zone (a mapping made before sjmp); the log
 *          names the range. Remedy: do not map inside [SJMP_ZONE_BASE, +SJMP_ZONE_SIZE).
 * -EINVAL: SJMP_BACKEND has an unknown value.
 * -ENODEV: SJMP_BACKEND=kvm but the kvm backend cannot run here (the log says why).
 * -EACCES, -ENOTDIR, -EROFS: SJMP_DIR cannot be created or used.
 * Context: any thread; idempotent; safe to race with itself.
 */
SJMP_API int sjmp_init(void);

/**
 * sjmp_enter() - move the calling process into guest mode (link-time opt-in).
 *
 * The process gets a KVM virtual machine (stock /dev/kvm API, no kernel module) and every thread
 * continues its own code, unchanged, in guest ring 0 on a vCPU of its own: same registers, same
 * stack, same memory (guest-virtual == host-virtual), system calls forwarded to the host by the
 * same thread. Threads created later start in guest mode on their own vCPU; a fork child builds
 * its own VM and continues in guest mode. Programs that cannot call this themselves run under
 * `sjmp-run`, which calls it before main.
 *
 * Threads: all or nothing. Every other existing thread is brought in too, wherever it is: the
 * call borrows signal 32 (glibc's SIGCANCEL, which glibc never lets a thread block) and each
 * thread's temporary handler moves the interrupted context (registers, FPU state, FS base,
 * signal mask) onto a vCPU prepared for it. Only when every thread has acknowledged do they all
 * continue in guest mode; if any cannot, every thread resumes in host mode and nothing changed.
 * A thread interrupted in a system call resumes it: calls the kernel restarts after a SA_RESTART
 * handler (read, write, futex without timeout, ...) restart, and calls that return EINTR to any
 * handler (nanosleep, clock_nanosleep, poll, select, epoll_wait, futex with a timeout) are
 * resumed by the library: through restart_syscall(2) where the kernel keeps the remaining time
 * (nanosleep, relative clock_nanosleep, futex, poll with a timeout), otherwise issued again with
 * the same arguments (ppoll, pselect and select carry the remaining time in their arguments; an
 * epoll_wait timeout starts again). A call the library cannot identify (made through an
 * unusual instruction sequence and entered just as the signal came) returns EINTR, as after any
 * signal. Threads created while the call runs are brought in too; threads that exit are dropped.
 * A pthread_cancel() that arrives during the call is passed on to glibc.
 *
 * Return: 0 in guest mode (also when the thread already was), or
 * -EBUSY:  a thread blocks signal 32 through a raw rt_sigprocmask, or is stopped or traced (the
 *          log names it); nothing changed.
 * -ETIMEDOUT: a thread did not take the signal within 2 s (uninterruptible sleep); nothing
 *          changed.
 * -EAGAIN: more than 255 threads.
 * -ENOTSUP: guest mode is refused here (AddressSanitizer, valgrind or a debugger: the log names
 *          it; use SJMP_BACKEND=mmap), or another copy of libsjmp in the process already
 *          entered guest mode.
 * -ENODEV: /dev/kvm does not exist (load kvm_intel, kvm_amd or kvm_pvm).
 * -EACCES: /dev/kvm is not accessible (add the user to group kvm).
 * -ENOSYS: the kernel's KVM lacks the API version or KVM_CAP_SYNC_REGS.
 * -ENOSPC: the process's mappings are too scattered for the guest-physical space.
 * -ENOMEM, -EMFILE: memory or descriptors exhausted.
 * -EINVAL, -EIO: KVM refused a vCPU state (the log names the ioctl and thread; see dmesg).
 * The log says which operation failed and what to do.
 * Context: any thread; not async-signal-safe; do not call pthread_cancel, setuid-family calls or
 * fork concurrently from other threads. Costs about 1-5 ms plus 30 us per GiB chunk of mappings
 * (platform.md: memslot creation), plus about 50 us per other thread.
 */
SJMP_API int sjmp_enter(void);

/** sjmp_backend() - the backend in use (SJMP_BACKEND_NONE before initialisation). */
SJMP_API enum sjmp_backend_kind sjmp_backend(void);

/** sjmp_backend_name() - "mmap", "kvm" or "none": for messages. */
SJMP_API const char *sjmp_backend_name(void);

/** sjmp_caps() - SJMP_CAP_* bits of the backend in use (0 before initialisation). */
SJMP_API unsigned sjmp_caps(void);

/** sjmp_dir() - the directory holding named objects (after sjmp_init), or NULL. */
SJMP_API const char *sjmp_dir(void);

/* ---------------------------------------------------------------------------------------- */
/* VASes (paper Fig. 3, section 3.1)                                                          */

/**
 * sjmp_vas_create() - create a VAS object.
 * @name: name (1..SJMP_NAME_MAX bytes of [A-Za-z0-9._-], not starting with '.'), or NULL for
 *        an unnamed VAS, freed on its handle's last detach.
 * @mode: permission bits of its record (e.g. 0660), filtered by the umask.
 *
 * Return: a VAS handle (>= 1), or
 * -EINVAL: bad name (length or characters) or mode has bits outside 0777.
 * -EEXIST: a VAS of that name exists.
 * -EACCES: SJMP_DIR is not writable for the caller.
 * -ENOSPC, -EMFILE, -ENOMEM: resources exhausted.
 */
SJMP_API sjmp_vid_t sjmp_vas_create(const char *name, mode_t mode);

/**
 * sjmp_vas_find() - open a named VAS.
 * Return: a VAS handle (>= 1), or -EINVAL (bad name), -ENOENT (no such VAS), -EACCES (record not
 * readable), -EBADMSG (record damaged or of another format version; the log says which).
 */
SJMP_API sjmp_vid_t sjmp_vas_find(const char *name);

/**
 * sjmp_vas_attach() - make an instance of a VAS that this process can switch into.
 * @vid: VAS handle.
 *
 * The instance maps the VAS's global segments (read-only where the caller may only read the
 * segment's file) plus, as in every VAS, the process's common region (code, heap, stacks).
 * Return: an attached-VAS handle (>= 1), or -EBADF (@vid is not an open VAS handle), -EACCES
 * (a segment of the VAS is not readable by the caller), -EBADMSG (damaged metadata), -ENOMEM.
 */
SJMP_API sjmp_vh_t sjmp_vas_attach(sjmp_vid_t vid);

/**
 * sjmp_vas_detach() - drop an attached VAS.
 * Return: 0, or -EBADF (not an attached handle, or SJMP_PRIMARY), -EBUSY (a thread of this
 * process is switched into it: switch out first).
 */
SJMP_API int sjmp_vas_detach(sjmp_vh_t vh);

/**
 * sjmp_vas_switch() - make @vh the calling thread's address space (paper section 3.1).
 * @vh: attached-VAS handle, or SJMP_PRIMARY.
 *
 * Releases the segment locks of the VAS being left and takes those of the VAS being entered:
 * shared for a lockable segment mapped read-only, exclusive for one mapped writable; blocks
 * until they are free. Registers and the stack are unchanged: only pointers into the common
 * region stay valid across a switch (paper section 3.3).
 *
 * On the mmap backend the VAS is per process: switching changes the mappings for every thread,
 * and fails with -EBUSY while another thread of the process is switched into a different
 * non-primary VAS. On the kvm backend each thread has its own VAS (SJMP_CAP_PER_THREAD_VAS).
 *
 * Return: 0, or -EBADF (@vh not attached), -EBUSY (mmap backend: another thread is in another
 * VAS), -EINTR never (waits restart). A lock is never taken twice by one thread: a segment
 * mapped in another mode by the VAS being entered is released before it is taken again.
 * On error the thread stays in the VAS it was in, with its locks; the one exception is a lock
 * it held in the other mode, which it takes back if it can without waiting (if another holder
 * took it in between, the log says so and the thread no longer holds it).
 */
SJMP_API int sjmp_vas_switch(sjmp_vh_t vh);

/**
 * sjmp_vas_switch_timed() - sjmp_vas_switch with a bound on waiting for segment locks.
 * @flags:    0 or SJMP_SWITCH_NONBLOCK.
 * @deadline: absolute CLOCK_MONOTONIC time, or NULL for no limit; ignored with NONBLOCK.
 * Return: as sjmp_vas_switch, plus -EBUSY (NONBLOCK and a lock is held), -ETIMEDOUT
 * (deadline passed) and -EINVAL (unknown @flags). On error the thread stays where it was, holding
 * what it held.
 */
SJMP_API int sjmp_vas_switch_timed(sjmp_vh_t vh, int flags, const struct timespec *deadline);

/**
 * sjmp_vas_current() - the calling thread's current attached-VAS handle (SJMP_PRIMARY if none).
 * Context: async-signal-safe.
 */
SJMP_API sjmp_vh_t sjmp_vas_current(void);

/**
 * sjmp_vas_clone() - copy a VAS object: a new VAS with the same global segments (the segments
 * are shared, not copied). To change permissions, clone then ctl (paper section 3.2).
 * @name: name of the copy, or NULL for unnamed. @mode: its permission bits.
 * Return: the new VAS handle, or the errors of sjmp_vas_create, or -EBADF.
 */
SJMP_API sjmp_vid_t sjmp_vas_clone(sjmp_vid_t vid, const char *name, mode_t mode);

/**
 * sjmp_vas_ctl() - inspect or change a VAS object.
 * @cmd: SJMP_VAS_STAT, SJMP_VAS_CHMOD or SJMP_VAS_SEGS; @arg: as the command says.
 * Return: 0, or -EBADF, -EINVAL (unknown command, NULL arg, bad mode), -EPERM (chmod by a
 * non-owner).
 */
SJMP_API int sjmp_vas_ctl(sjmp_vid_t vid, int cmd, void *arg);

/**
 * sjmp_vas_close() - release a VAS handle returned by create/find/clone. An unnamed VAS is
 * freed when its last handle is closed and no attachment remains.
 * Return: 0 or -EBADF.
 */
SJMP_API int sjmp_vas_close(sjmp_vid_t vid);

/**
 * sjmp_vas_delete() - remove a named VAS. Processes that have it attached keep their instances.
 * Return: 0, or -EINVAL (bad name), -ENOENT, -EACCES (SJMP_DIR or the record not writable).
 */
SJMP_API int sjmp_vas_delete(const char *name);

/**
 * sjmp_vas_list() - enumerate named VASes.
 * @out: array of @cap records (may be NULL when @cap is 0).
 * Return: the number of named VASes (may exceed @cap; only @cap are filled), or -errno.
 */
SJMP_API int sjmp_vas_list(struct sjmp_vas_info *out, unsigned cap);

/* ---------------------------------------------------------------------------------------- */
/* Segments (paper Fig. 3, section 3.2)                                                       */

/**
 * sjmp_seg_alloc() - create a segment with its backing memory.
 * @name:  name as for VASes, or NULL for an unnamed segment freed on its last detach.
 * @base:  fixed virtual base, page aligned, with [base, base+size) inside the segment zone.
 * @size:  bytes, a non-zero multiple of the page size. The backing file's space is allocated
 *         now, so a full filesystem fails here with -ENOSPC and never later.
 * @flags: SJMP_READ | SJMP_WRITE | SJMP_EXEC, plus SJMP_SEG_LOCKABLE.
 * @mode:  permission bits of the segment's files (0600, 0660, ...), filtered by the umask.
 *
 * The segment starts with a struct sjmp_seg_header (see sjmp_seg_malloc) initialised here.
 * Return: a segment handle (>= 1), or
 * -EINVAL: bad name, base or size misaligned, zero size, unknown flags, neither SJMP_READ nor
 *          SJMP_WRITE, or @mode has bits outside 0777.
 * -ERANGE: [base, base+size) is not inside the segment zone.
 * -EEXIST: a segment of that name exists.
 * -ENOSPC: the filesystem under SJMP_DIR cannot hold @size bytes.
 * -EACCES: SJMP_DIR is not writable.
 */
SJMP_API sjmp_sid_t sjmp_seg_alloc(const char *name, uintptr_t base, size_t size, unsigned flags,
                                   mode_t mode);

/**
 * sjmp_seg_find() - open a named segment: read-write when the caller may write its file,
 * read-only when it may only read it.
 * Return: a segment handle, or -EINVAL, -ENOENT, -EACCES (not even readable), -EBADMSG
 * (metadata damaged, foreign, or from another zone layout).
 */
SJMP_API sjmp_sid_t sjmp_seg_find(const char *name);

/**
 * sjmp_seg_attach() - map a segment into one attached VAS of this process only.
 * @vh:   attached-VAS handle, or SJMP_PRIMARY.
 * @prot: SJMP_READ [| SJMP_WRITE] [| SJMP_EXEC]; at most what the segment and the caller's
 *        access to its file allow.
 * If @vh is the current VAS the segment is mapped at once (and its lock taken if lockable).
 * Return: 0, or -EBADF (bad handle), -EEXIST (already attached there), -EADDRINUSE (overlaps
 * another segment of that VAS), -EACCES (@prot exceeds the segment's or the caller's rights),
 * -EBUSY (@vh is the caller's current VAS, the segment is lockable and its lock is held
 * elsewhere: nothing is attached; attach it while outside the VAS and switch in instead).
 */
SJMP_API int sjmp_seg_attach(sjmp_vh_t vh, sjmp_sid_t sid, unsigned prot);

/** sjmp_seg_detach() - undo sjmp_seg_attach. Return: 0, -EBADF, -ENOENT (not attached there). */
SJMP_API int sjmp_seg_detach(sjmp_vh_t vh, sjmp_sid_t sid);

/**
 * sjmp_seg_attach_global() - add a segment to a VAS object (paper: seg_attach(vid, sid)): every
 * process attached to the VAS, now or later, gets it (processes already attached pick it up at
 * their next switch into the VAS).
 * Return: 0, or -EBADF, -EEXIST, -EADDRINUSE (overlap), -EACCES (VAS record not writable, or
 * @prot beyond the segment's flags), -EINVAL (unnamed segment in a named VAS).
 */
SJMP_API int sjmp_seg_attach_global(sjmp_vid_t vid, sjmp_sid_t sid, unsigned prot);

/** sjmp_seg_detach_global() - remove a segment from a VAS object. Return: 0, -EBADF, -ENOENT,
 * -EACCES. */
SJMP_API int sjmp_seg_detach_global(sjmp_vid_t vid, sjmp_sid_t sid);

/**
 * sjmp_seg_clone() - copy a segment's bytes into a new segment at the same base.
 * Return: the new segment handle, or the errors of sjmp_seg_alloc, or -EBADF.
 */
SJMP_API sjmp_sid_t sjmp_seg_clone(sjmp_sid_t sid, const char *name, mode_t mode);

/**
 * sjmp_seg_ctl() - inspect or change a segment (SJMP_SEG_STAT, SJMP_SEG_CHMOD).
 * Return: 0, or -EBADF, -EINVAL, -EPERM.
 */
SJMP_API int sjmp_seg_ctl(sjmp_sid_t sid, int cmd, void *arg);

/** sjmp_seg_close() - release a segment handle (it stays attached where it is attached). */
SJMP_API int sjmp_seg_close(sjmp_sid_t sid);

/**
 * sjmp_seg_delete() - remove a named segment. Memory stays valid for processes that have it
 * attached until they detach it; the name is free at once.
 * Return: 0, or -EINVAL, -ENOENT, -EACCES.
 */
SJMP_API int sjmp_seg_delete(const char *name);

/**
 * sjmp_seg_list() - enumerate named segments; as sjmp_vas_list.
 */
SJMP_API int sjmp_seg_list(struct sjmp_seg_info *out, unsigned cap);

/**
 * sjmp_seg_sync() - make a segment's data durable in its file (msync + fsync).
 * Return: 0, or -EBADF, -EIO.
 */
SJMP_API int sjmp_seg_sync(sjmp_sid_t sid);

/**
 * sjmp_seg_base() - the segment's fixed base address, or 0 for a bad handle.
 */
SJMP_API void *sjmp_seg_base(sjmp_sid_t sid);

/* ---------------------------------------------------------------------------------------- */
/* The per-segment heap (paper section 4.1: one allocator space per segment)                  */

/**
 * struct sjmp_seg_header - the first bytes of every segment (format version
 * SJMP_SEG_HEADER_VERSION), documented in docs/format.md. The allocator's state follows it, up to
 * @header_size, then the heap; so any process that maps the segment at its base continues
 * allocating and freeing where the last one stopped (paper section 4.1).
 */
struct sjmp_seg_header {
	uint64_t magic;       /**< SJMP_SEG_HEADER_MAGIC */
	uint32_t version;     /**< SJMP_SEG_HEADER_VERSION */
	uint32_t header_size; /**< bytes from the base to the first heap block */
	uint64_t base;        /**< the segment's base, as a check */
	uint64_t size;        /**< the segment's size in bytes */
	void *root;           /**< the program's root pointer (sjmp_seg_root_set) */
	uint64_t reserved[3]; /**< zero */
};
#define SJMP_SEG_HEADER_MAGIC   0x314745534a4d4a53ULL /* "SJMJSEG1" little-endian */
#define SJMP_SEG_HEADER_VERSION 1

/**
 * sjmp_seg_malloc() - allocate @size bytes in the segment's heap, 16-byte aligned.
 * The segment must be mapped writable in the calling thread's current VAS.
 * Return: the block, or NULL with errno set: ENOMEM (heap full), EROFS (mapped read-only),
 * ENXIO (not mapped in the current VAS), EBADF (bad handle), EUCLEAN (heap corrupted).
 * Context: thread-safe and safe between processes sharing the segment.
 */
SJMP_API void *sjmp_seg_malloc(sjmp_sid_t sid, size_t size);
/** sjmp_seg_calloc() - as sjmp_seg_malloc, zeroed, with overflow checking of @n * @size. */
SJMP_API void *sjmp_seg_calloc(sjmp_sid_t sid, size_t n, size_t size);
/** sjmp_seg_realloc() - resize a block of the segment's heap; as realloc(3). */
SJMP_API void *sjmp_seg_realloc(sjmp_sid_t sid, void *p, size_t size);
/** sjmp_seg_free() - free a block of the segment's heap (NULL is a no-op). */
SJMP_API void sjmp_seg_free(sjmp_sid_t sid, void *p);

/**
 * sjmp_seg_root_set() - store the program's root pointer in the segment header, so a later
 * process finds its data. Return: 0, -EBADF, -ENXIO, -EROFS.
 */
SJMP_API int sjmp_seg_root_set(sjmp_sid_t sid, void *root);
/** sjmp_seg_root_get() - the root pointer (NULL if never set, or on a bad handle). */
SJMP_API void *sjmp_seg_root_get(sjmp_sid_t sid);

/** Heap statistics (sjmp_seg_heap_check). */
struct sjmp_heap_stats {
	size_t heap_bytes;  /**< bytes managed by the heap */
	size_t used_bytes;  /**< bytes in allocated blocks, headers included */
	size_t free_bytes;  /**< bytes in free blocks */
	size_t used_blocks; /**< allocated blocks */
	size_t free_blocks; /**< free blocks */
};

/**
 * sjmp_seg_heap_check() - walk the whole heap and verify every invariant.
 * @stats: filled when not NULL.
 * Return: 0, or -EUCLEAN (corruption; the log says where), -EBADF, -ENXIO.
 */
SJMP_API int sjmp_seg_heap_check(sjmp_sid_t sid, struct sjmp_heap_stats *stats);

/** sjmp_strerror() - a short description of a -errno returned by this library. */
SJMP_API const char *sjmp_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* SJMP_H */
