/* SPDX-License-Identifier: MIT */
/*
 * init.c - library state: the backend, SJMP_DIR, the segment zone reservation, the library
 * mutex and the fork handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"
#include "vmm.h"

static pthread_mutex_t lib_mutex;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_result = -EAGAIN;
static const struct sjmp__backend *backend;
static int dir_fd = -1, seg_fd = -1, vas_fd = -1;
static char dir_path[4096];
static bool zone_reserved;

void sjmp__lock(void)
{
	pthread_mutex_lock(&lib_mutex);
}

void sjmp__unlock(void)
{
	pthread_mutex_unlock(&lib_mutex);
}

int sjmp__dirfd(void)
{
	return dir_fd;
}

int sjmp__segdirfd(void)
{
	return seg_fd;
}

int sjmp__vasdirfd(void)
{
	return vas_fd;
}

const struct sjmp__backend *sjmp__backend(void)
{
	return backend;
}

bool sjmp__zone_contains(uintptr_t base, size_t size)
{
	return base >= SJMP_ZONE_BASE && size <= SJMP_ZONE_SIZE &&
	       base - SJMP_ZONE_BASE <= SJMP_ZONE_SIZE - size;
}

int sjmp__zone_unmap(uintptr_t base, size_t size)
{
	/* Replacing the range with a fresh PROT_NONE reservation (rather than munmap) keeps the
	 * host from ever placing its own mappings inside the zone. */
	void *p = mmap((void *)base, size, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	return p == MAP_FAILED ? -errno : 0;
}

static int reserve_zone(void)
{
	void *p = mmap((void *)SJMP_ZONE_BASE, SJMP_ZONE_SIZE, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		return sjmp__fail(errno, "sjmp_init: reserving the segment zone",
		                  "something is already mapped in [%#lx, %#lx): do not map there "
		                  "before sjmp_init",
		                  SJMP_ZONE_BASE, SJMP_ZONE_BASE + SJMP_ZONE_SIZE);
	if (p != (void *)SJMP_ZONE_BASE) { /* kernels before 4.17 ignore the flag */
		munmap(p, SJMP_ZONE_SIZE);
		return sjmp__fail(EEXIST, "sjmp_init: reserving the segment zone",
		                  "the kernel placed it elsewhere; Linux 4.17 or later is needed");
	}
	zone_reserved = true;
	return 0;
}

static int open_subdir(int parent, const char *name, mode_t mode)
{
	if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int open_dir(void)
{
	const char *env = getenv("SJMP_DIR");
	if (env && *env)
		snprintf(dir_path, sizeof(dir_path), "%s", env);
	else
		snprintf(dir_path, sizeof(dir_path), "/dev/shm/sjmp-%u", (unsigned)getuid());
	if (mkdir(dir_path, 0755) < 0 && errno != EEXIST)
		return sjmp__fail(errno, "sjmp_init: creating SJMP_DIR",
		                  "cannot create %s; set SJMP_DIR to a writable directory",
		                  dir_path);
	dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return sjmp__fail(errno, "sjmp_init: opening SJMP_DIR",
		                  "%s must be a directory the user can search", dir_path);
	/* The subdirectories take the directory's own mode, so a group-shared SJMP_DIR stays
	 * shared. */
	struct stat st;
	mode_t mode = fstat(dir_fd, &st) == 0 ? (st.st_mode & 07777) : 0755;
	seg_fd = open_subdir(dir_fd, "seg", mode);
	vas_fd = open_subdir(dir_fd, "vas", mode);
	if (seg_fd < 0 || vas_fd < 0)
		return sjmp__fail(seg_fd < 0 ? seg_fd : vas_fd, "sjmp_init: opening SJMP_DIR",
		                  "cannot create seg/ and vas/ in %s; check its permissions",
		                  dir_path);
	return 0;
}

/*
 * SJMP_BACKEND=kvm|mmap|auto (default auto): auto takes the kvm backend when guest mode works
 * here and falls back to the mmap backend with one line saying why.
 */
static int choose_backend(void)
{
	const char *want = getenv("SJMP_BACKEND");
	bool is_auto = !want || !*want || !strcmp(want, "auto");
	if (want && *want && !is_auto && strcmp(want, "kvm") && strcmp(want, "mmap"))
		return sjmp__fail(EINVAL, "sjmp_init: SJMP_BACKEND",
		                  "unknown value \"%s\": use kvm, mmap or auto", want);
	if (is_auto || !strcmp(want, "kvm")) {
		int r = sjmp__backend_kvm.init();
		if (r == 0) {
			backend = &sjmp__backend_kvm;
			return 0;
		}
		if (!is_auto)
			return sjmp__fail(ENODEV, "sjmp_init: SJMP_BACKEND=kvm",
			                  "guest mode is unavailable (%s, see the line above); use "
			                  "SJMP_BACKEND=mmap or auto",
			                  sjmp__errname(r));
		sjmp__log(SJMP_LOG_WARN, "kvm backend unavailable (%s): using the mmap backend",
		          sjmp__errname(r));
	}
	/* In guest mode the zone belongs to the page-table roots: host mappings there are
	 * invisible to the guest, so the mmap backend cannot show segments. */
	if (vmm_self() || vmm_other_copy_entered())
		return sjmp__fail(vmm_self() ? EINVAL : ENOTSUP, "sjmp_init: the mmap backend",
		                  vmm_self()
		                      ? "the process is in guest mode, where segments are "
		                        "mapped by page-table roots: use SJMP_BACKEND=kvm or "
		                        "auto"
		                      : "another copy of libsjmp in this process entered guest "
		                        "mode; link libsjmp once");
	backend = &sjmp__backend_mmap;
	return backend->init();
}

static void atfork_prepare(void)
{
	sjmp__lock();
}

static void atfork_parent(void)
{
	sjmp__unlock();
}

void sjmp__fork_child(void); /* switch.c: the child holds nothing, in the primary VAS */

static void init_lib_mutex(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&lib_mutex, &a);
	pthread_mutexattr_destroy(&a);
}

/*
 * The child cannot unlock the mutex taken in atfork_prepare: a recursive mutex belongs to the
 * parent's thread id, which the child's only thread does not have (pthread_mutex_unlock fails
 * with EPERM and every later sjmp call in the child would block for ever). The child is single
 * threaded here, so it starts over with a fresh, unlocked mutex.
 */
static void atfork_child(void)
{
	init_lib_mutex();
	sjmp__lock();
	sjmp__fork_child();
	sjmp__unlock();
}

static void do_init(void)
{
	init_lib_mutex();

	/* The zone is reserved before guest mode starts, so the host never places anything
	 * there and the common region never covers it. */
	int r = open_dir();
	if (r == 0 && !vmm_self() && !vmm_other_copy_entered())
		r = reserve_zone(); /* in guest mode, vmm_init reserved it before entering */
	if (r == 0)
		r = choose_backend();
	if (r == 0)
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	if (r < 0) {
		backend = NULL;
		if (zone_reserved)
			munmap((void *)SJMP_ZONE_BASE, SJMP_ZONE_SIZE);
		if (dir_fd >= 0)
			close(dir_fd);
		if (seg_fd >= 0)
			close(seg_fd);
		if (vas_fd >= 0)
			close(vas_fd);
		dir_fd = seg_fd = vas_fd = -1;
	}
	init_result = r;
}

int sjmp_init(void)
{
	pthread_once(&once, do_init);
	return init_result;
}

int sjmp__ensure_init(void)
{
	return sjmp_init();
}

enum sjmp_backend_kind sjmp_backend(void)
{
	return backend ? backend->kind : SJMP_BACKEND_NONE;
}

const char *sjmp_backend_name(void)
{
	return backend ? backend->name : "none";
}

unsigned sjmp_caps(void)
{
	return backend ? backend->caps : 0;
}

const char *sjmp_dir(void)
{
	return init_result == 0 ? dir_path : NULL;
}

bool sjmp__copy_is_preload;

/*
 * sjmp-run sets SJMP_RUN_ENTER=1: the program's own copy of libsjmp (static or libsjmp.so) enters
 * guest mode here, before main, and sjmp-run's preload stands aside (tools/preload.c), so the
 * process has one copy of the library that knows it is in guest mode. As with the preload, a
 * failure ends the process with status 125: the user asked for guest mode.
 */
__attribute__((constructor(102))) static void sjmp__run_enter(void)
{
	const char *want = getenv("SJMP_RUN_ENTER"), *off = getenv("SJMP_RUN_DISABLE");
	if (sjmp__copy_is_preload || !want || strcmp(want, "1") || (off && *off == '1'))
		return;
	int r = sjmp_enter();
	if (r == -ENOTSUP && vmm_other_copy_entered()) {
		sjmp__log(SJMP_LOG_WARN, "sjmp-run: guest mode was entered by another copy of "
		                         "libsjmp; this copy's sjmp_init() will fail with ENOTSUP");
		return;
	}
	if (r < 0) {
		sjmp__log(SJMP_LOG_ERROR, "sjmp-run: cannot enter guest mode (%s): %s",
		          sjmp__errname(r), sjmp_strerror(r));
		_exit(125);
	}
}
