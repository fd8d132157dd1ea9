/* SPDX-License-Identifier: MIT */
/*
 * api_util.h - shared by the api_*.c tests of the public API (include/sjmp.h).
 *
 * - Every test runs with its own SJMP_DIR: a fresh subdirectory of the one scripts/test.sh
 *   made, set before the library's lazy initialisation (each Criterion test is a process of its
 *   own). Listings are therefore exact, and names never collide with a test running in
 *   parallel; names still carry the pid so that they are unique even without it.
 * - "Leaves nothing behind" is checked three ways: a recursive listing of SJMP_DIR, hidden
 *   temporary entries included (api_dir_snapshot); the segment zone in /proc/self/maps holding
 *   only the PROT_NONE reservation (api_zone_clean); and another process taking the segment
 *   lock (api_child_switch).
 * - Other processes are forked children that report through exit codes (a negative errno as
 *   its absolute value) and pipes; a child never calls Criterion's asserts and leaves with
 *   _exit.
 * - What differs between backends is decided by sjmp_caps(): with SJMP_CAP_PER_THREAD_VAS a
 *   VAS is per thread (kvm backend) and /proc/self/maps does not show the guest's mappings, so
 *   the maps checks apply only to per-process backends. Access probes (api_probe) apply to all.
 */
#ifndef SJMP_TEST_API_UTIL_H
#define SJMP_TEST_API_UTIL_H

#include <criterion/criterion.h>

#include "kvm_skip.h"
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sjmp.h>

#define API_PAGE 4096UL
/** Base of the test's n-th segment slot: 16 MiB apart, well inside the zone. */
#define API_BASE(n) (SJMP_ZONE_BASE + ((uintptr_t)(n) << 24))
#define API_RW      (SJMP_READ | SJMP_WRITE)

static char api_dir[PATH_MAX];

/* ---- keeping Criterion out of the segment zone ---- */

/*
 * Criterion's sandbox (BoxFort) maps its shared arena in the runner at a random 16 MiB slot of
 * [0x200000000000, 0x600000000000) and every test process maps it again at the same address:
 * one run in eight it lands in the segment zone, and then sjmp_init fails with -EEXIST in every
 * test of the executable. BoxFort skips occupied addresses, so this constructor reserves the
 * zone before Criterion's main runs (in the runner and in each test process); api_setup gives
 * it back just before the test, so that the library reserves it itself. Every suite of a file
 * that includes this header must therefore use .init = api_setup.
 */
static bool api_zone_guarded;

__attribute__((constructor)) static void api_zone_guard(void)
{
	void *p = mmap((void *)SJMP_ZONE_BASE, SJMP_ZONE_SIZE, PROT_NONE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	api_zone_guarded = p == (void *)SJMP_ZONE_BASE;
}

static inline void api_zone_unguard(void)
{
	if (api_zone_guarded)
		munmap((void *)SJMP_ZONE_BASE, SJMP_ZONE_SIZE);
	api_zone_guarded = false;
}

/* ---- the private SJMP_DIR ---- */

static inline int api_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void api_rm_tree(const char *path)
{
	nftw(path, api_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/** Suite .init: a private SJMP_DIR for this test process. */
static inline void api_setup(void)
{
	const char *env = getenv("SJMP_DIR");
	const char *parent = env && *env ? env : "/tmp";

	api_zone_unguard();
	const char *backend = getenv("SJMP_BACKEND");
	if (backend && !strcmp(backend, "kvm"))
		sjmp_test_require_kvm(); /* and then a fall-back to mmap fails the test */
	mkdir(parent, 0700);
	snprintf(api_dir, sizeof(api_dir), "%s/api-XXXXXX", parent);
	cr_assert_not_null(mkdtemp(api_dir), "mkdtemp in %s: %s", parent, strerror(errno));
	setenv("SJMP_DIR", api_dir, 1);
}

/** Suite .fini: remove the private SJMP_DIR. */
static inline void api_teardown(void)
{
	if (api_dir[0])
		api_rm_tree(api_dir);
}

/** api_name() - "tag-PID": a name unique to this test process. */
static inline const char *api_name(char buf[SJMP_NAME_MAX + 1], const char *tag)
{
	snprintf(buf, SJMP_NAME_MAX + 1, "%s-%d", tag, (int)getpid());
	return buf;
}

/* ---- directory snapshots ---- */

static char *api_snap_buf;
static size_t api_snap_len, api_snap_cap;
static size_t api_snap_root;

static inline int api_snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	const char *rel = path + api_snap_root;
	size_t need = strlen(rel) + 32;

	if (api_snap_len + need >= api_snap_cap) {
		api_snap_cap = (api_snap_cap + need) * 2;
		api_snap_buf = realloc(api_snap_buf, api_snap_cap);
	}
	api_snap_len +=
	    (size_t)snprintf(api_snap_buf + api_snap_len, api_snap_cap - api_snap_len, "%s %o\n",
	                     *rel ? rel : ".", (unsigned)(st->st_mode & 0777));
	return 0;
}

static inline int api_cmp_lines(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/**
 * api_dir_snapshot() - every entry under SJMP_DIR (hidden temporaries included) with its mode,
 * one per line, sorted. The caller frees it.
 */
static inline char *api_dir_snapshot(void)
{
	api_snap_buf = NULL;
	api_snap_len = api_snap_cap = 0;
	api_snap_root = strlen(api_dir);
	nftw(api_dir, api_snap_one, 16, FTW_PHYS);
	if (!api_snap_buf)
		return strdup("");
	/* sort the lines */
	size_t n = 0;
	for (size_t i = 0; i < api_snap_len; i++)
		n += api_snap_buf[i] == '\n';
	char **lines = calloc(n + 1, sizeof(*lines));
	size_t k = 0;
	for (char *save = NULL, *l = strtok_r(api_snap_buf, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		lines[k++] = l;
	qsort(lines, k, sizeof(*lines), api_cmp_lines);
	char *out = calloc(1, api_snap_len + 2);
	size_t pos = 0;
	for (size_t i = 0; i < k; i++)
		pos += (size_t)sprintf(out + pos, "%s\n", lines[i]);
	free(lines);
	free(api_snap_buf);
	api_snap_buf = NULL;
	return out;
}

/** Asserts that SJMP_DIR looks exactly as in @before (which it frees). */
#define api_assert_dir_unchanged(before)                                                           \
	do {                                                                                       \
		char *after_ = api_dir_snapshot();                                                 \
		cr_assert_str_eq(after_, (before), "SJMP_DIR changed:\nbefore:\n%s\nafter:\n%s",   \
		                 (before), after_);                                                \
		free(after_);                                                                      \
		free(before);                                                                      \
	} while (0)

/* ---- the segment zone in /proc/self/maps ---- */

/** Whether /proc/self/maps shows the VAS's segments (a per-process backend). */
static inline bool api_maps_show_vas(void)
{
	return !(sjmp_caps() & SJMP_CAP_PER_THREAD_VAS);
}

/**
 * api_zone_maps() - the mappings of /proc/self/maps inside the zone that are not the PROT_NONE
 * reservation, one "start-end perms path" per line into @buf; returns how many. Returns -1 when
 * some part of the zone is not mapped at all (the reservation has a hole).
 */
static inline int api_zone_maps(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;
	uintptr_t covered = SJMP_ZONE_BASE;
	bool hole = false;

	if (buf && len)
		buf[0] = 0;
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		char perms[8];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) != 3)
			continue;
		if (hi <= SJMP_ZONE_BASE || lo >= SJMP_ZONE_BASE + SJMP_ZONE_SIZE)
			continue;
		if (lo > covered)
			hole = true;
		covered = hi;
		if (strcmp(perms, "---p") != 0) {
			n++;
			if (buf && strlen(buf) + strlen(line) < len)
				strcat(buf, line);
		}
	}
	fclose(f);
	if (covered < SJMP_ZONE_BASE + SJMP_ZONE_SIZE)
		hole = true;
	return hole ? -1 : n;
}

/** Asserts that the zone holds only the PROT_NONE reservation (per-process backends). */
#define api_assert_zone_clean()                                                                    \
	do {                                                                                       \
		if (api_maps_show_vas()) {                                                         \
			char zm_[4096];                                                            \
			int zn_ = api_zone_maps(zm_, sizeof(zm_));                                 \
			cr_assert_eq(zn_, 0, "segment zone not clean (%d):\n%s", zn_, zm_);        \
		}                                                                                  \
	} while (0)

/** The permissions ("rw-s"...) of the mapping holding @addr, or "" when none. */
static inline void api_maps_perms(uintptr_t addr, char perms[8])
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];

	perms[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;
		char p[8];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, p) == 3 && lo <= addr &&
		    addr < hi) {
			memcpy(perms, p, 8);
			break;
		}
	}
	fclose(f);
}

/* ---- access probes ---- */

static sigjmp_buf api_probe_jmp;

static inline void api_probe_handler(int sig)
{
	siglongjmp(api_probe_jmp, sig);
}

/**
 * api_probe() - whether @addr can be read (and, with @write, written: the byte is written back
 * unchanged). Faults are caught, so this works whatever the backend.
 */
static inline bool api_probe(uintptr_t addr, bool write)
{
	struct sigaction sa = {.sa_handler = api_probe_handler}, old_segv, old_bus;
	volatile bool ok = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	if (sigsetjmp(api_probe_jmp, 1) == 0) {
		volatile uint8_t *p = (volatile uint8_t *)addr;
		uint8_t v = *p;
		if (write)
			*p = v;
		ok = true;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return ok;
}

/* ---- children ---- */

/** Exit status of @pid, or 128 + signal, or -1. */
static inline int api_reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/** fork() whose child dies with the test process (so a stuck child never outlives it). */
static inline pid_t api_fork(void)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
	}
	return pid;
}

/** An exit code for a library result: 0, or the errno of a negative result. */
static inline int api_code(int r)
{
	return r < 0 ? (-r & 0xff) : 0;
}

/** Whether @fd becomes readable within @ms. */
static inline bool api_readable_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/** Sends one byte. */
static inline void api_send(int fd, char c)
{
	ssize_t n = write(fd, &c, 1);
	(void)n;
}

/** Receives one byte within @ms, or -1. */
static inline int api_recv(int fd, int ms)
{
	char c;

	if (!api_readable_within(fd, ms) || read(fd, &c, 1) != 1)
		return -1;
	return (unsigned char)c;
}

/** An absolute CLOCK_MONOTONIC time @ms from now. */
static inline struct timespec api_in_ms(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static inline long api_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/**
 * api_child_switch() - in a new process: find VAS @vas, attach it and switch in with @flags
 * (SJMP_SWITCH_NONBLOCK, or 0 with a deadline of @ms); switch out and exit. Returns the
 * child's exit code: 0 when the switch succeeded, else the errno.
 */
static inline int api_child_switch(const char *vas, int flags, long ms)
{
	pid_t pid = api_fork();

	if (pid == 0) {
		sjmp_vid_t vid = sjmp_vas_find(vas);
		if (vid < 0)
			_exit(200);
		sjmp_vh_t vh = sjmp_vas_attach(vid);
		if (vh < 0)
			_exit(201);
		struct timespec dl = api_in_ms(ms);
		int r = sjmp_vas_switch_timed(vh, flags, flags ? NULL : &dl);
		if (r == 0)
			r = sjmp_vas_switch(SJMP_PRIMARY);
		_exit(api_code(r));
	}
	return api_reap(pid);
}

/* ---- log capture ---- */

static char api_log_last[512];
static int api_log_count;
static enum sjmp_log_level api_log_level;

static inline void api_log_hook(enum sjmp_log_level level, const char *line, void *arg)
{
	(void)arg;
	api_log_count++;
	api_log_level = level;
	snprintf(api_log_last, sizeof(api_log_last), "%s", line);
}

/** Captures the library's log from now on (quiet expected failures, check messages). */
static inline void api_capture_log(void)
{
	api_log_count = 0;
	api_log_last[0] = 0;
	sjmp_set_log(api_log_hook, NULL);
}

/* ---- common objects ---- */

/** A named segment at slot @slot; asserts success. */
static inline sjmp_sid_t api_seg(const char *name, int slot, size_t size, unsigned flags,
                                 mode_t mode)
{
	sjmp_sid_t sid = sjmp_seg_alloc(name, API_BASE(slot), size, flags, mode);

	cr_assert_geq(sid, 1, "seg_alloc(%s): %s", name ? name : "(unnamed)", sjmp_strerror(sid));
	return sid;
}

/** A named VAS holding @sid globally with @prot; asserts success. */
static inline sjmp_vid_t api_vas_with(const char *name, sjmp_sid_t sid, unsigned prot)
{
	sjmp_vid_t vid = sjmp_vas_create(name, 0660);

	cr_assert_geq(vid, 1, "vas_create(%s): %s", name ? name : "(unnamed)", sjmp_strerror(vid));
	if (sid > 0) {
		int r = sjmp_seg_attach_global(vid, sid, prot);
		cr_assert_eq(r, 0, "seg_attach_global: %s", sjmp_strerror(r));
	}
	return vid;
}

/** Attaches @vid; asserts success. */
static inline sjmp_vh_t api_attach(sjmp_vid_t vid)
{
	sjmp_vh_t vh = sjmp_vas_attach(vid);

	cr_assert_geq(vh, 1, "vas_attach: %s", sjmp_strerror(vh));
	return vh;
}

/** Switches to @vh; asserts success. */
#define api_switch(vh)                                                                             \
	do {                                                                                       \
		int sw_ = sjmp_vas_switch(vh);                                                     \
		cr_assert_eq(sw_, 0, "vas_switch(%d): %s", (int)(vh), sjmp_strerror(sw_));         \
	} while (0)

#endif
