/* SPDX-License-Identifier: MIT */
/*
 * Segment locks through sjmp_vas_switch (paper section 3.2), between processes: switching into
 * a VAS takes the lock of each SJMP_SEG_LOCKABLE segment it maps, shared where read-only and
 * exclusive where writable; switching out releases it; a killed holder does not block the next.
 * Also fork (the child is in the primary VAS and holds nothing) and the mmap backend's rule of
 * one VAS per process (documented at sjmp_vas_switch in sjmp.h).
 */
#include <pthread.h>

#include "api_util.h"

TestSuite(locks, .init = api_setup, .fini = api_teardown, .timeout = 30);
TestSuite(fork, .init = api_setup, .fini = api_teardown, .timeout = 30);
TestSuite(threads, .init = api_setup, .fini = api_teardown, .timeout = 30);

/* A lockable segment in two named VASes: wvas maps it writable, rvas read-only. */
struct fixture {
	char seg[SJMP_NAME_MAX + 1], wvas[SJMP_NAME_MAX + 1], rvas[SJMP_NAME_MAX + 1];
	sjmp_sid_t sid;
	sjmp_vid_t wvid, rvid;
	sjmp_vh_t w, r;
};

static void fixture_quiet(void)
{
	api_capture_log();
}

static void fixture(struct fixture *f, unsigned seg_flags)
{
	api_capture_log(); /* expected EBUSY lines stay quiet */
	f->sid = api_seg(api_name(f->seg, "lk"), 1, 2 * API_PAGE, seg_flags, 0600);
	f->wvid = api_vas_with(api_name(f->wvas, "lk-w"), f->sid, API_RW);
	f->rvid = api_vas_with(api_name(f->rvas, "lk-r"), f->sid, SJMP_READ);
	f->w = api_attach(f->wvid);
	f->r = api_attach(f->rvid);
}

#define LOCKABLE (API_RW | SJMP_SEG_LOCKABLE)

Test(locks, readers_hold_the_lock_together)
{
	struct fixture f;

	fixture(&f, LOCKABLE);
	api_switch(f.r);
	cr_expect_eq(api_child_switch(f.rvas, SJMP_SWITCH_NONBLOCK, 0), 0,
	             "a second reader was refused");
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY,
	             "a writer got in with a reader inside");
	api_switch(SJMP_PRIMARY);
}

Test(locks, writer_is_alone_nonblock_gives_ebusy_and_deadline_gives_etimedout)
{
	struct fixture f;

	fixture(&f, LOCKABLE);
	api_switch(f.w);
	*(volatile int *)(API_BASE(1) + 0x900) = 1;
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY);
	cr_expect_eq(api_child_switch(f.rvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_expect_eq(api_child_switch(f.wvas, 0, 300), ETIMEDOUT);
	long ms = api_ms_since(&t0);
	cr_expect_geq(ms, 250, "gave up after %ld ms of a 300 ms deadline", ms);
	cr_expect_lt(ms, 5000, "waited %ld ms for a 300 ms deadline", ms);
	/* The holder is undisturbed. */
	cr_expect_eq(sjmp_vas_current(), f.w);
	cr_expect_eq(*(volatile int *)(API_BASE(1) + 0x900), 1);
	api_switch(SJMP_PRIMARY);
}

Test(locks, failed_nonblocking_switch_leaves_the_thread_where_it_was)
{
	struct fixture f;

	fixture(&f, LOCKABLE);
	pid_t pid = api_fork();
	if (pid == 0) { /* hold the writer lock for a while */
		sjmp_vh_t vh = sjmp_vas_attach(sjmp_vas_find(f.wvas));
		if (vh < 0 || sjmp_vas_switch(vh) < 0)
			_exit(10);
		usleep(1500 * 1000);
		_exit(0);
	}
	usleep(300 * 1000);
	cr_expect_eq(sjmp_vas_switch_timed(f.w, SJMP_SWITCH_NONBLOCK, NULL), -EBUSY);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
	cr_expect_not(api_probe(API_BASE(1), false), "mapped after a failed switch");
	struct timespec dl = api_in_ms(100);
	cr_expect_eq(sjmp_vas_switch_timed(f.r, 0, &dl), -ETIMEDOUT);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
	api_assert_zone_clean();
	/* Blocking waits for the holder to exit. */
	dl = api_in_ms(10000);
	cr_expect_eq(sjmp_vas_switch_timed(f.w, 0, &dl), 0);
	cr_expect_eq(api_reap(pid), 0);
	api_switch(SJMP_PRIMARY);
}

Test(locks, blocked_writer_proceeds_when_the_readers_switch_out)
{
	struct fixture f;
	int ready[2];

	fixture(&f, LOCKABLE);
	cr_assert_eq(pipe(ready), 0);
	api_switch(f.r);
	pid_t pid = api_fork();
	if (pid == 0) {
		sjmp_vh_t vh = sjmp_vas_attach(sjmp_vas_find(f.wvas));
		if (vh < 0)
			_exit(10);
		api_send(ready[1], 'w'); /* about to wait */
		if (sjmp_vas_switch(vh) < 0)
			_exit(11);
		api_send(ready[1], 'i'); /* inside */
		*(volatile int *)(API_BASE(1) + 0x100) = 7;
		sjmp_vas_switch(SJMP_PRIMARY);
		_exit(0);
	}
	cr_assert_eq(api_recv(ready[0], 5000), 'w');
	cr_expect_eq(api_recv(ready[0], 300), -1, "the writer got in beside a reader");
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(api_recv(ready[0], 5000), 'i', "the writer did not proceed");
	cr_expect_eq(api_reap(pid), 0);
	api_switch(f.r);
	cr_expect_eq(*(volatile int *)(API_BASE(1) + 0x100), 7);
	api_switch(SJMP_PRIMARY);
}

Test(locks, a_holder_killed_with_sigkill_does_not_block_the_next)
{
	struct fixture f;
	int ready[2];

	fixture(&f, LOCKABLE);
	cr_assert_eq(pipe(ready), 0);
	pid_t pid = api_fork();
	if (pid == 0) {
		sjmp_vh_t vh = sjmp_vas_attach(sjmp_vas_find(f.wvas));
		if (vh < 0 || sjmp_vas_switch(vh) < 0)
			_exit(10);
		api_send(ready[1], 'i');
		for (;;)
			pause();
	}
	cr_assert_eq(api_recv(ready[0], 5000), 'i');
	cr_expect_eq(sjmp_vas_switch_timed(f.w, SJMP_SWITCH_NONBLOCK, NULL), -EBUSY);
	kill(pid, SIGKILL);
	cr_expect_eq(api_reap(pid), 128 + SIGKILL);
	struct timespec dl = api_in_ms(5000);
	cr_expect_eq(sjmp_vas_switch_timed(f.w, 0, &dl), 0, "the dead holder's lock stayed");
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(api_child_switch(f.rvas, SJMP_SWITCH_NONBLOCK, 0), 0);
}

Test(locks, switching_out_releases)
{
	struct fixture f;
	char v2[SJMP_NAME_MAX + 1];

	fixture(&f, LOCKABLE);
	api_switch(f.w);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY);
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), 0,
	             "switching to the primary VAS kept the lock");
	/* Leaving for another VAS that does not map the segment releases too. */
	sjmp_vh_t other = api_attach(api_vas_with(api_name(v2, "lk-other"), 0, 0));
	api_switch(f.w);
	api_switch(other);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), 0,
	             "switching to another VAS kept the lock");
	/* Going from writer to reader downgrades: readers may come in, writers may not. */
	api_switch(f.w);
	api_switch(f.r);
	cr_expect_eq(api_child_switch(f.rvas, SJMP_SWITCH_NONBLOCK, 0), 0);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY);
	api_switch(SJMP_PRIMARY);
	/* Detaching the segment from the VAS one is in releases it. */
	api_switch(f.w);
	cr_assert_eq(sjmp_seg_detach(f.w, f.sid), 0);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), 0,
	             "detaching the segment kept its lock");
	api_switch(SJMP_PRIMARY);
}

Test(locks, segments_that_are_not_lockable_take_no_lock)
{
	struct fixture f;

	fixture(&f, API_RW);
	api_switch(f.w);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), 0);
	api_switch(SJMP_PRIMARY);
}

Test(locks, attach_into_the_current_vas_gives_ebusy_when_the_lock_is_held_elsewhere)
{
	struct fixture f;

	fixture(&f, LOCKABLE);
	api_switch(f.w);
	pid_t pid = api_fork();
	if (pid == 0) {
		sjmp_sid_t sid = sjmp_seg_find(f.seg);
		if (sid < 0)
			_exit(10);
		int r = sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ);
		if (r != -EBUSY)
			_exit(11);
		if (api_probe(API_BASE(1), false))
			_exit(12); /* mapped although refused */
		if (sjmp_seg_detach(SJMP_PRIMARY, sid) != -ENOENT)
			_exit(13); /* attached although refused */
		_exit(0);
	}
	cr_expect_eq(api_reap(pid), 0);
	api_switch(SJMP_PRIMARY);
	/* Free now: attaching into the current VAS takes the lock at once. */
	sjmp_sid_t sid = sjmp_seg_find(f.seg);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY);
	cr_expect_eq(api_child_switch(f.rvas, SJMP_SWITCH_NONBLOCK, 0), 0);
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), 0);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), 0);
}

/* ---- fork ---- */

Test(fork, child_starts_in_the_primary_vas_holding_no_lock)
{
	struct fixture f;

	fixture(&f, LOCKABLE);
	api_switch(f.w);
	*(volatile int *)(API_BASE(1) + 0x200) = 99;
	pid_t pid = api_fork();
	if (pid == 0) {
		if (sjmp_vas_current() != SJMP_PRIMARY)
			_exit(10);
		if (api_probe(API_BASE(1), false))
			_exit(11); /* still sees the parent's VAS */
		/* The inherited handle is attached, but the parent holds the lock. */
		if (sjmp_vas_switch_timed(f.w, SJMP_SWITCH_NONBLOCK, NULL) != -EBUSY)
			_exit(12);
		if (sjmp_vas_switch_timed(f.r, SJMP_SWITCH_NONBLOCK, NULL) != -EBUSY)
			_exit(13);
		if (sjmp_vas_current() != SJMP_PRIMARY)
			_exit(14);
		_exit(0);
	}
	cr_expect_eq(api_reap(pid), 0, "child status");
	/* The child's exit did not release the parent's lock. */
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), EBUSY);
	cr_expect_eq(sjmp_vas_current(), f.w);
	cr_expect_eq(*(volatile int *)(API_BASE(1) + 0x200), 99);
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(api_child_switch(f.wvas, SJMP_SWITCH_NONBLOCK, 0), 0);
}

Test(fork, child_can_switch_into_inherited_handles_once_free)
{
	struct fixture f;

	fixture(&f, LOCKABLE);
	api_switch(f.w);
	*(volatile int *)(API_BASE(1) + 0x300) = 5;
	api_switch(SJMP_PRIMARY);
	pid_t pid = api_fork();
	if (pid == 0) {
		if (sjmp_vas_switch(f.w) < 0)
			_exit(10);
		int ok = *(volatile int *)(API_BASE(1) + 0x300) == 5;
		*(volatile int *)(API_BASE(1) + 0x300) = 6;
		if (sjmp_vas_switch(SJMP_PRIMARY) < 0 || sjmp_vas_detach(f.w) < 0)
			_exit(11);
		_exit(ok ? 0 : 12);
	}
	cr_expect_eq(api_reap(pid), 0);
	api_switch(f.w);
	cr_expect_eq(*(volatile int *)(API_BASE(1) + 0x300), 6);
	api_switch(SJMP_PRIMARY);
}

/* ---- threads ---- */

struct thread_arg {
	sjmp_vh_t vh;
	int result;
};

static void *switch_thread(void *p)
{
	struct thread_arg *a = p;
	a->result = sjmp_vas_switch(a->vh);
	if (a->result == 0)
		sjmp_vas_switch(SJMP_PRIMARY);
	return NULL;
}

static int switch_in_thread(sjmp_vh_t vh)
{
	pthread_t t;
	struct thread_arg a = {vh, 1};

	cr_assert_eq(pthread_create(&t, NULL, switch_thread, &a), 0);
	pthread_join(t, NULL);
	return a.result;
}

/*
 * The mmap backend has one VAS per process: while thread A (this one) is in VAS X, thread B's
 * switch into VAS Y fails with -EBUSY, and succeeds once A has switched out. With
 * SJMP_CAP_PER_THREAD_VAS, B gets Y at once while A stays in X.
 */
Test(threads, one_vas_per_process_unless_per_thread_vas)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sa = api_seg(api_name(a, "thr-a"), 1, API_PAGE, API_RW, 0600);
	sjmp_sid_t sb = api_seg(api_name(b, "thr-b"), 1, API_PAGE, API_RW, 0600);
	sjmp_vh_t x = api_attach(api_vas_with(NULL, sa, API_RW));
	sjmp_vh_t y = api_attach(api_vas_with(NULL, sb, API_RW));
	api_switch(x);
	*(volatile int *)(API_BASE(1) + 64) = 1;
	int r = switch_in_thread(y);
	if (sjmp_caps() & SJMP_CAP_PER_THREAD_VAS) {
		cr_expect_eq(r, 0, "per-thread VASes: B must get Y while A is in X");
	} else {
		cr_expect_eq(r, -EBUSY, "mmap backend: B switched into Y while A is in X");
		/* A is unaffected. */
		cr_expect_eq(sjmp_vas_current(), x);
		cr_expect_eq(*(volatile int *)(API_BASE(1) + 64), 1);
		/* Switching to the VAS the process is in is allowed. */
		cr_expect_eq(switch_in_thread(x), 0);
		cr_expect_eq(sjmp_vas_current(), x);
		cr_expect_eq(*(volatile int *)(API_BASE(1) + 64), 1,
		             "B's leaving unmapped A's VAS");
		cr_expect_eq(sjmp_vas_detach(y), 0, "B left Y, so Y is free");
		y = api_attach(api_vas_with(NULL, sb, API_RW));
	}
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(switch_in_thread(y), 0, "B must succeed once A is out");
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
}

static void *enter_and_exit(void *p)
{
	struct thread_arg *a = p;
	a->result = sjmp_vas_switch(a->vh);
	return NULL; /* exits inside the VAS */
}

Test(threads, a_thread_that_exits_inside_a_vas_leaves_it)
{
	char a[SJMP_NAME_MAX + 1];
	pthread_t t;

	fixture_quiet();
	sjmp_sid_t sa = api_seg(api_name(a, "thr-d"), 1, API_PAGE, LOCKABLE, 0600);
	char v[SJMP_NAME_MAX + 1];
	sjmp_vh_t x = api_attach(api_vas_with(api_name(v, "thr-dv"), sa, API_RW));
	struct thread_arg arg = {x, 1};
	cr_assert_eq(pthread_create(&t, NULL, enter_and_exit, &arg), 0);
	pthread_join(t, NULL);
	cr_assert_eq(arg.result, 0);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
	cr_expect_eq(api_child_switch(v, SJMP_SWITCH_NONBLOCK, 0), 0,
	             "the exited thread's lock stayed held");
	cr_expect_eq(sjmp_vas_detach(x), 0, "the exited thread still counts as inside");
}
