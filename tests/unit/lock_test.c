/*
 * Behaviour of the lock file's reader/writer lock and heap mutex across processes: sharing,
 * exclusion, timeouts, recovery from holders that were killed or exec'd, fork, slot
 * exhaustion, damaged files, and that the uncontended path makes no system call.
 *
 * Other processes are forked children that report through exit codes and pipes; a child never
 * calls Criterion's asserts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

enum kind { SHARED, EXCL, MUTEX };

static char dir[PATH_MAX];
static char path[PATH_MAX + 64];
static bool own_dir;

static void make_lockfile(void)
{
	const char *env = getenv("SJMP_DIR");
	int fd;

	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		snprintf(dir, sizeof(dir), "/tmp/sjmp-lock-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
		own_dir = true;
	}
	snprintf(path, sizeof(path), "%s/lock-test-%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "create %s: %s", path, strerror(errno));
	cr_assert_eq(sjmp__lockfile_init(fd), 0);
	close(fd);
}

static void remove_lockfile(void)
{
	unlink(path);
	if (own_dir)
		rmdir(dir);
}

TestSuite(lock, .init = make_lockfile, .fini = remove_lockfile, .timeout = 30);

/* Open the test's lock file; returns sjmp__lockfile_open's result. */
static int try_open(struct sjmp__lockfile **lf)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return sjmp__lockfile_open(fd, lf);
}

static struct sjmp__lockfile *open_lf(void)
{
	struct sjmp__lockfile *lf = NULL;
	int r = try_open(&lf);

	cr_assert_eq(r, 0, "sjmp__lockfile_open: %d", r);
	return lf;
}

static struct timespec in_ms(long ms)
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

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int take(struct sjmp__lockfile *lf, enum kind k)
{
	if (k == MUTEX)
		return sjmp__mutex_lock(lf);
	return sjmp__rw_lock(lf, k == EXCL, false, NULL);
}

static void give(struct sjmp__lockfile *lf, enum kind k)
{
	if (k == MUTEX)
		sjmp__mutex_unlock(lf);
	else
		sjmp__rw_unlock(lf, k == EXCL);
}

/* Whether @fd becomes readable within @ms. */
static bool readable_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/* Exit status of @pid, or 128 + signal. */
static int reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child process that holds one lock until told to let go (or is killed). */
struct holder {
	pid_t pid;
	int ready;   /* read end: one byte when the lock is held */
	int release; /* write end: one byte to unlock and exit */
};

static struct holder start_holder(enum kind k)
{
	int rp[2], up[2];
	struct holder h;
	char c = 'x';

	cr_assert_eq(pipe2(rp, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(up, O_CLOEXEC), 0);
	h.pid = fork();
	cr_assert_geq(h.pid, 0);
	if (h.pid == 0) {
		struct sjmp__lockfile *lf;

		alarm(30); /* never outlive a broken test */
		if (try_open(&lf) != 0)
			_exit(10);
		if (take(lf, k) < 0)
			_exit(11);
		if (write(rp[1], &c, 1) != 1)
			_exit(12);
		if (read(up[0], &c, 1) != 1)
			_exit(13);
		give(lf, k);
		sjmp__lockfile_close(lf);
		_exit(0);
	}
	close(rp[1]);
	close(up[0]);
	h.ready = rp[0];
	h.release = up[1];
	cr_assert(readable_within(h.ready, 10000), "holder never took its lock");
	cr_assert_eq(read(h.ready, &c, 1), 1);
	return h;
}

static void release_holder(struct holder *h)
{
	char c = 'x';

	cr_assert_eq(write(h->release, &c, 1), 1);
	cr_assert_eq(reap(h->pid), 0, "holder failed");
	close(h->ready);
	close(h->release);
}

static void kill_holder(struct holder *h)
{
	kill(h->pid, SIGKILL);
	cr_assert_eq(reap(h->pid), 128 + SIGKILL);
	close(h->ready);
	close(h->release);
}

/* A child that takes @k (blocking) and writes one byte to the returned fd when it has it. */
static pid_t start_waiter(enum kind k, int *got)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sjmp__lockfile *lf;
		char c = 'x';
		int r;

		alarm(30);
		if (try_open(&lf) != 0)
			_exit(10);
		r = take(lf, k);
		if (r < 0)
			_exit(11);
		if (write(p[1], &c, 1) != 1)
			_exit(12);
		give(lf, k);
		sjmp__lockfile_close(lf);
		_exit(r); /* 1 tells the parent it saw SJMP__OWNER_DIED */
	}
	close(p[1]);
	*got = p[0];
	return pid;
}

Test(lock, readers_hold_together)
{
	struct holder a = start_holder(SHARED);
	struct holder b = start_holder(SHARED);
	struct sjmp__lockfile *lf = open_lf();

	cr_expect_eq(sjmp__rw_lock(lf, false, true, NULL), 0, "third reader refused");
	sjmp__rw_unlock(lf, false);
	release_holder(&a);
	release_holder(&b);
	sjmp__lockfile_close(lf);
}

Test(lock, writer_excludes_writer_and_reader_nonblock)
{
	struct holder w = start_holder(EXCL);
	struct sjmp__lockfile *lf = open_lf();

	cr_expect_eq(sjmp__rw_lock(lf, true, true, NULL), -EBUSY);
	cr_expect_eq(sjmp__rw_lock(lf, false, true, NULL), -EBUSY);
	release_holder(&w);
	cr_expect_eq(sjmp__rw_lock(lf, true, true, NULL), 0, "free after the writer left");
	sjmp__rw_unlock(lf, true);
	sjmp__lockfile_close(lf);
}

Test(lock, writer_excludes_until_deadline)
{
	struct holder w = start_holder(EXCL);
	struct sjmp__lockfile *lf = open_lf();
	struct timespec t0, dl;

	for (int excl = 0; excl < 2; excl++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		dl = in_ms(200);
		cr_expect_eq(sjmp__rw_lock(lf, excl, false, &dl), -ETIMEDOUT);
		cr_expect_geq(ms_since(&t0), 199, "returned before the deadline");
		cr_expect_lt(ms_since(&t0), 5000, "returned long after the deadline");
	}
	release_holder(&w);
	sjmp__lockfile_close(lf);
}

Test(lock, reader_excludes_writer_and_failed_writer_leaves_nothing)
{
	struct holder r = start_holder(SHARED);
	struct sjmp__lockfile *lf = open_lf();
	struct timespec dl = in_ms(100);

	cr_expect_eq(sjmp__rw_lock(lf, true, true, NULL), -EBUSY);
	cr_expect_eq(sjmp__rw_lock(lf, true, false, &dl), -ETIMEDOUT);
	/* A writer that gave up must not keep the writer word: readers still get in. */
	cr_expect_eq(sjmp__rw_lock(lf, false, true, NULL), 0);
	sjmp__rw_unlock(lf, false);
	release_holder(&r);
	sjmp__lockfile_close(lf);
}

Test(lock, blocked_writer_proceeds_when_readers_leave)
{
	struct holder a = start_holder(SHARED);
	struct holder b = start_holder(SHARED);
	int got;
	pid_t w = start_waiter(EXCL, &got);

	cr_expect_not(readable_within(got, 200), "writer got in past two readers");
	release_holder(&a);
	cr_expect_not(readable_within(got, 200), "writer got in past a reader");
	release_holder(&b);
	cr_expect(readable_within(got, 10000), "writer still blocked after the readers left");
	cr_expect_eq(reap(w), 0);
	close(got);
}

Test(lock, blocked_reader_proceeds_when_writer_leaves)
{
	struct holder w = start_holder(EXCL);
	int got;
	pid_t r = start_waiter(SHARED, &got);

	cr_expect_not(readable_within(got, 200), "reader got in past a writer");
	release_holder(&w);
	cr_expect(readable_within(got, 10000), "reader still blocked after the writer left");
	cr_expect_eq(reap(r), 0);
	close(got);
}

Test(lock, mutex_excludes_and_hands_over)
{
	struct holder m = start_holder(MUTEX);
	int got;
	pid_t w = start_waiter(MUTEX, &got);

	cr_expect_not(readable_within(got, 200), "two mutex owners");
	release_holder(&m);
	cr_expect(readable_within(got, 10000), "mutex waiter still blocked");
	cr_expect_eq(reap(w), 0, "a clean handover must not report OWNER_DIED");
	close(got);
}

Test(lock, killed_reader_does_not_block_writer)
{
	struct holder r = start_holder(SHARED);
	struct sjmp__lockfile *lf = open_lf();
	struct timespec dl = in_ms(5000);

	cr_assert_eq(sjmp__rw_lock(lf, true, true, NULL), -EBUSY);
	kill_holder(&r);
	cr_expect_eq(sjmp__rw_lock(lf, true, false, &dl), 0);
	sjmp__rw_unlock(lf, true);
	sjmp__lockfile_close(lf);
}

Test(lock, killed_writer_does_not_block_readers_or_writers)
{
	struct holder w = start_holder(EXCL);
	struct sjmp__lockfile *lf = open_lf();
	struct timespec dl = in_ms(5000);

	cr_assert_eq(sjmp__rw_lock(lf, false, true, NULL), -EBUSY);
	kill_holder(&w);
	cr_expect_eq(sjmp__rw_lock(lf, false, false, &dl), 0);
	sjmp__rw_unlock(lf, false);
	cr_expect_eq(sjmp__rw_lock(lf, true, true, NULL), 0);
	sjmp__rw_unlock(lf, true);
	sjmp__lockfile_close(lf);
}

Test(lock, killed_nonblock_holder_is_reclaimed_without_waiting)
{
	struct holder w = start_holder(EXCL);
	struct sjmp__lockfile *lf = open_lf();

	kill_holder(&w);
	cr_expect_eq(sjmp__rw_lock(lf, true, true, NULL), 0, "busy only with a dead holder");
	sjmp__rw_unlock(lf, true);
	sjmp__lockfile_close(lf);
}

Test(lock, killed_mutex_owner_reports_owner_died_once)
{
	struct holder m = start_holder(MUTEX);
	struct sjmp__lockfile *lf = open_lf();

	kill_holder(&m);
	cr_expect_eq(sjmp__mutex_lock(lf), SJMP__OWNER_DIED);
	sjmp__mutex_unlock(lf);
	cr_expect_eq(sjmp__mutex_lock(lf), 0, "OWNER_DIED reported twice for one death");
	sjmp__mutex_unlock(lf);
	sjmp__lockfile_close(lf);
}

/* Waiters already asleep when the holder dies must notice by themselves. */
Test(lock, sleeping_waiters_take_over_from_killed_holders)
{
	enum kind held[] = {SHARED, EXCL, MUTEX};
	enum kind wants[] = {EXCL, SHARED, MUTEX};

	for (int i = 0; i < 3; i++) {
		struct holder h = start_holder(held[i]);
		int got;
		pid_t w = start_waiter(wants[i], &got);

		cr_expect_not(readable_within(got, 100), "case %d: waiter did not wait", i);
		kill_holder(&h);
		cr_expect(readable_within(got, 10000), "case %d: waiter still blocked", i);
		cr_expect_eq(reap(w), wants[i] == MUTEX ? SJMP__OWNER_DIED : 0, "case %d", i);
		close(got);
	}
}

Test(lock, exec_releases_holds_of_a_live_process)
{
	struct sjmp__lockfile *lf;
	struct timespec dl;
	int rp[2];
	char c = 'x';
	pid_t pid;

	if (access("/bin/sleep", X_OK) != 0)
		cr_skip_test("no /bin/sleep to exec");
	cr_assert_eq(pipe(rp), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(rp[0]);
		if (try_open(&lf) != 0 || sjmp__rw_lock(lf, true, false, NULL) != 0 ||
		    sjmp__mutex_lock(lf) != 0)
			_exit(10);
		if (write(rp[1], &c, 1) != 1)
			_exit(12);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(13);
	}
	close(rp[1]);
	cr_assert(readable_within(rp[0], 10000));
	cr_assert_eq(read(rp[0], &c, 1), 1);
	lf = open_lf();
	dl = in_ms(5000);
	cr_expect_eq(sjmp__rw_lock(lf, false, false, &dl), 0, "exec did not release the writer");
	sjmp__rw_unlock(lf, false);
	cr_expect_eq(sjmp__mutex_lock(lf), SJMP__OWNER_DIED);
	sjmp__mutex_unlock(lf);
	cr_expect_eq(waitpid(pid, NULL, WNOHANG), 0, "the exec'd process should still be alive");
	kill(pid, SIGKILL);
	reap(pid);
	close(rp[0]);
	sjmp__lockfile_close(lf);
}

Test(lock, fork_child_holds_nothing_and_leaves_parent_holds_alone)
{
	struct sjmp__lockfile *lf = open_lf();
	struct sjmp__lockfile *other;
	pid_t pid;

	cr_assert_eq(sjmp__rw_lock(lf, true, false, NULL), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		sjmp__lockfile_forget(lf);
		/* The child is a new holder: the parent's writer lock excludes it. */
		if (sjmp__rw_lock(lf, true, true, NULL) != -EBUSY)
			_exit(10);
		if (sjmp__rw_lock(lf, false, true, NULL) != -EBUSY)
			_exit(11);
		sjmp__lockfile_close(lf);
		_exit(0);
	}
	cr_expect_eq(reap(pid), 0, "fork child saw itself as holder");
	/* Neither the child's forget nor its close released the parent's lock. */
	other = open_lf();
	cr_expect_eq(sjmp__rw_lock(other, false, true, NULL), -EBUSY);
	sjmp__rw_unlock(lf, true);
	cr_expect_eq(sjmp__rw_lock(other, false, true, NULL), 0);
	sjmp__rw_unlock(other, false);
	sjmp__lockfile_close(other);
	sjmp__lockfile_close(lf);
}

Test(lock, fork_child_takes_locks_after_forget)
{
	struct sjmp__lockfile *lf = open_lf();
	int go[2];
	char c = 'x';
	pid_t pid;

	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(sjmp__mutex_lock(lf), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct timespec dl;

		close(go[1]);
		sjmp__lockfile_forget(lf);
		if (read(go[0], &c, 1) != 1)
			_exit(9);
		dl = in_ms(5000);
		if (sjmp__rw_lock(lf, true, false, &dl) != 0)
			_exit(10);
		sjmp__rw_unlock(lf, true);
		if (sjmp__mutex_lock(lf) != 0) /* waits for the parent's unlock */
			_exit(11);
		sjmp__mutex_unlock(lf);
		_exit(0);
	}
	close(go[0]);
	cr_assert_eq(write(go[1], &c, 1), 1);
	usleep(100000);
	sjmp__mutex_unlock(lf);
	cr_expect_eq(reap(pid), 0);
	close(go[1]);
	sjmp__lockfile_close(lf);
}

/* A fork child that keeps running must not keep its dead parent's locks alive. */
Test(lock, fork_child_does_not_keep_dead_parent_holds)
{
	struct sjmp__lockfile *lf;
	struct timespec dl;
	int rp[2];
	pid_t pid, grandchild = 0;

	cr_assert_eq(pipe(rp), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		pid_t q;

		alarm(30);
		close(rp[0]);
		if (try_open(&lf) != 0 || sjmp__rw_lock(lf, true, false, NULL) != 0)
			_exit(10);
		q = fork();
		if (q == 0) {
			alarm(30);
			sjmp__lockfile_forget(lf);
			q = getpid();
			if (write(rp[1], &q, sizeof(q)) != sizeof(q))
				_exit(12);
			for (;;)
				pause();
		}
		for (;;)
			pause();
	}
	close(rp[1]);
	cr_assert(readable_within(rp[0], 10000));
	cr_assert_eq(read(rp[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	cr_assert_gt(grandchild, 0);
	kill(pid, SIGKILL);
	cr_assert_eq(reap(pid), 128 + SIGKILL);
	lf = open_lf();
	dl = in_ms(5000);
	cr_expect_eq(sjmp__rw_lock(lf, false, false, &dl), 0, "writer kept by the fork child");
	cr_expect_eq(kill(grandchild, 0), 0, "the fork child should still be alive");
	kill(grandchild, SIGKILL);
	sjmp__lockfile_close(lf);
	close(rp[0]);
}

Test(lock, slots_run_out_with_eusers_and_come_back)
{
	enum { CAP = 4096 };
	static struct sjmp__lockfile *lfs[CAP];
	struct sjmp__lockfile *extra = NULL;
	int n = 0, r;
	pid_t pid;

	/* Each open is a separate description, hence a separate holder. */
	while (n < CAP && (r = try_open(&lfs[n])) == 0)
		n++;
	cr_assert_lt(n, CAP, "slots never ran out");
	cr_assert_eq(r, -EUSERS);
	cr_assert_geq(n, 2);

	/* A closed holder's slot is free again. */
	sjmp__lockfile_close(lfs[--n]);
	cr_expect_eq(try_open(&lfs[n]), 0);
	cr_expect_eq(try_open(&extra), -EUSERS);

	/* So is a killed holder's. */
	sjmp__lockfile_close(lfs[--n]);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sjmp__lockfile *mine;

		if (try_open(&mine) != 0)
			_exit(10);
		raise(SIGKILL);
	}
	cr_assert_eq(reap(pid), 128 + SIGKILL);
	cr_expect_eq(try_open(&lfs[n]), 0, "a killed holder's slot was not reclaimed");
	n++;
	while (n > 0)
		sjmp__lockfile_close(lfs[--n]);
}

/* A fork child that finds no free slot waits as for a busy lock, and gets one when it frees. */
Test(lock, fork_child_without_a_free_slot_waits_for_one)
{
	enum { CAP = 4096 };
	static struct sjmp__lockfile *lfs[CAP];
	int n = 0, ready[2];
	char c = 'x';
	pid_t pid;

	while (n < CAP && try_open(&lfs[n]) == 0)
		n++;
	cr_assert(n > 0 && n < CAP);
	cr_assert_eq(pipe(ready), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct timespec dl = in_ms(100);

		alarm(30);
		/* All of them: an inherited one would keep its parent's slot taken. */
		for (int i = 0; i < n; i++)
			sjmp__lockfile_forget(lfs[i]);
		if (sjmp__rw_lock(lfs[0], false, true, NULL) != -EBUSY)
			_exit(10);
		if (sjmp__rw_lock(lfs[0], true, false, &dl) != -ETIMEDOUT)
			_exit(11);
		if (write(ready[1], &c, 1) != 1)
			_exit(12);
		if (sjmp__mutex_lock(lfs[0]) != 0) /* blocks until the parent frees a slot */
			_exit(13);
		sjmp__mutex_unlock(lfs[0]);
		_exit(0);
	}
	cr_assert(readable_within(ready[0], 10000), "child failed early: %d", reap(pid));
	usleep(100000);
	cr_expect_eq(waitpid(pid, NULL, WNOHANG), 0, "mutex_lock returned without a slot");
	sjmp__lockfile_close(lfs[--n]);
	cr_expect_eq(reap(pid), 0);
	while (n > 0)
		sjmp__lockfile_close(lfs[--n]);
	close(ready[0]);
	close(ready[1]);
}

static int open_damaged(const void *bytes, size_t len, off_t at, size_t size)
{
	struct sjmp__lockfile *lf = NULL;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int r;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	if (len)
		cr_assert_eq(pwrite(fd, bytes, len, at), (ssize_t)len);
	r = sjmp__lockfile_open(fd, &lf);
	if (r == 0) {
		sjmp__lockfile_close(lf);
		return 0;
	}
	cr_expect_null(lf);
	/* The descriptor is the lock file's, also on error. */
	cr_expect_eq(fcntl(fd, F_GETFD), -1, "descriptor left open on error");
	return r;
}

Test(lock, damaged_or_foreign_file_is_refused)
{
	struct sjmp__lockfile *lf = open_lf();
	uint32_t v;
	char junk[4096];

	sjmp__lockfile_close(lf); /* the file was valid */
	memset(junk, 0xa5, sizeof(junk));
	v = 2; /* version */
	cr_expect_eq(open_damaged(&v, 4, 4, 4096), -EBADMSG, "wrong version accepted");
	v = 1;
	cr_assert_eq(open_damaged(&v, 4, 4, 4096), 0, "the test itself corrupted too much");
	v = 0; /* no slots */
	cr_expect_eq(open_damaged(&v, 4, 8, 4096), -EBADMSG, "zero slots accepted");
	v = 1u << 20; /* more slots than fit */
	cr_expect_eq(open_damaged(&v, 4, 8, 4096), -EBADMSG, "oversized slot count accepted");
	cr_expect_eq(open_damaged(junk, sizeof(junk), 0, 4096), -EBADMSG, "garbage accepted");
	cr_expect_eq(open_damaged(NULL, 0, 0, 16), -EBADMSG, "short file accepted");
	cr_expect_eq(open_damaged(NULL, 0, 0, 0), -EBADMSG, "empty file accepted");
}

Test(lock, init_refuses_a_file_in_use)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_expect_eq(sjmp__lockfile_init(fd), -EINVAL);
	close(fd);
}

Test(lock, close_releases_what_the_process_holds)
{
	struct sjmp__lockfile *a = open_lf();
	struct sjmp__lockfile *b = open_lf();

	cr_assert_eq(sjmp__rw_lock(a, true, true, NULL), 0);
	cr_assert_eq(sjmp__mutex_lock(a), 0);
	cr_expect_eq(sjmp__rw_lock(b, false, true, NULL), -EBUSY);
	sjmp__lockfile_close(a);
	cr_expect_eq(sjmp__rw_lock(b, true, true, NULL), 0);
	cr_expect_eq(sjmp__mutex_lock(b), 0, "close is a release, not a death");
	sjmp__mutex_unlock(b);
	sjmp__rw_unlock(b, true);
	sjmp__lockfile_close(b);
}

struct thread_arg {
	struct sjmp__lockfile *lf;
	bool exclusive;
	int result;
};

static void *try_in_thread(void *p)
{
	struct thread_arg *a = p;

	a->result = sjmp__rw_lock(a->lf, a->exclusive, true, NULL);
	if (a->result == 0)
		sjmp__rw_unlock(a->lf, a->exclusive);
	return NULL;
}

static int try_from_thread(struct sjmp__lockfile *lf, bool exclusive)
{
	struct thread_arg a = {.lf = lf, .exclusive = exclusive, .result = 99};
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, try_in_thread, &a), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	return a.result;
}

Test(lock, threads_of_one_process_share_readers_and_exclude_writers)
{
	struct sjmp__lockfile *lf = open_lf();

	cr_assert_eq(sjmp__rw_lock(lf, false, true, NULL), 0);
	cr_expect_eq(try_from_thread(lf, false), 0, "second reader thread refused");
	cr_expect_eq(try_from_thread(lf, true), -EBUSY, "writer thread past a reader thread");
	sjmp__rw_unlock(lf, false);
	cr_assert_eq(sjmp__rw_lock(lf, true, true, NULL), 0);
	cr_expect_eq(try_from_thread(lf, true), -EBUSY, "two writer threads");
	cr_expect_eq(try_from_thread(lf, false), -EBUSY, "reader thread past a writer thread");
	sjmp__rw_unlock(lf, true);
	cr_expect_eq(try_from_thread(lf, true), 0);
	sjmp__lockfile_close(lf);
}

static volatile sig_atomic_t ticks;

static void on_alarm(int sig)
{
	(void)sig;
	ticks++;
}

Test(lock, waits_are_not_cut_short_by_signals)
{
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
	struct itimerval it = {{0, 2000}, {0, 2000}};
	struct itimerval off = {{0, 0}, {0, 0}};
	struct holder w = start_holder(EXCL);
	struct sjmp__lockfile *lf = open_lf();
	struct timespec dl = in_ms(300);

	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	cr_expect_eq(sjmp__rw_lock(lf, false, false, &dl), -ETIMEDOUT);
	setitimer(ITIMER_REAL, &off, NULL);
	cr_expect_gt(ticks, 10, "the signals did not arrive during the wait");
	release_holder(&w);
	sjmp__lockfile_close(lf);
}

/* Two processes bump a non-atomic counter under each lock; lost updates show broken exclusion. */
Test(lock, exclusion_holds_under_contention)
{
	enum { ROUNDS = 20000, PROCS = 2 };
	volatile long *shared =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[PROCS];

	cr_assert_neq((void *)shared, MAP_FAILED);
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			struct sjmp__lockfile *lf;

			alarm(30);
			if (try_open(&lf) != 0)
				_exit(10);
			for (int n = 0; n < ROUNDS; n++) {
				long v;

				if (sjmp__mutex_lock(lf) != 0)
					_exit(11);
				v = shared[0];
				shared[0] = v + 1;
				sjmp__mutex_unlock(lf);
				if (sjmp__rw_lock(lf, n % 4 == 0, false, NULL) != 0)
					_exit(12);
				if (n % 4 == 0) {
					v = shared[1];
					shared[2] = v + 1;
					shared[1] = v + 1;
				} else if (shared[1] != shared[2]) {
					_exit(13); /* a reader saw a write in progress */
				}
				sjmp__rw_unlock(lf, n % 4 == 0);
			}
			sjmp__lockfile_close(lf);
			_exit(0);
		}
	}
	for (int i = 0; i < PROCS; i++)
		cr_expect_eq(reap(pids[i]), 0, "worker %d", i);
	cr_expect_eq(shared[0], (long)PROCS * ROUNDS, "mutex lost updates");
	cr_expect_eq(shared[1], (long)PROCS * ROUNDS / 4, "writer lock lost updates");
	munmap((void *)shared, 4096);
}

/* Killing one of several contending processes at an arbitrary instruction stalls nobody. */
Test(lock, survivors_finish_after_a_contender_is_killed)
{
	enum { PROCS = 3, ROUNDS = 3000 };
	volatile long *in_cs =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[PROCS];

	cr_assert_neq((void *)in_cs, MAP_FAILED);
	for (int i = 0; i < PROCS; i++) {
		pids[i] = fork();
		cr_assert_geq(pids[i], 0);
		if (pids[i] == 0) {
			struct sjmp__lockfile *lf;
			int died = 0;

			alarm(30);
			if (try_open(&lf) != 0)
				_exit(10);
			/* The victim runs until killed; the others a fixed number of rounds. */
			for (int n = 0; i == 0 || n < ROUNDS; n++) {
				int r = sjmp__mutex_lock(lf);

				if (r < 0)
					_exit(11);
				died |= r == SJMP__OWNER_DIED;
				sjmp__mutex_unlock(lf);
				if (sjmp__rw_lock(lf, n % 2, false, NULL) != 0)
					_exit(12);
				if (n % 2) {
					/* A writer alone: only a mark the killed victim left may be
					 * seen. */
					long v = in_cs[0];

					if (v != 0 && v != 1)
						_exit(13);
					in_cs[0] = i + 1;
					if (in_cs[0] != i + 1)
						_exit(14);
					in_cs[0] = 0;
				}
				sjmp__rw_unlock(lf, n % 2);
			}
			_exit(died ? 1 : 0);
		}
	}
	usleep(20000);
	kill(pids[0], SIGKILL);
	cr_expect_eq(reap(pids[0]), 128 + SIGKILL);
	for (int i = 1; i < PROCS; i++) {
		int st = reap(pids[i]);

		cr_expect(st == 0 || st == 1, "survivor %d: status %d", i, st);
	}
	munmap((void *)in_cs, 4096);
}

/* Allow exit_group only; any other system call kills the process with SIGSYS. */
static int forbid_syscalls(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

#define FILTER_UNAVAILABLE 77

/* The check below is only worth something if the filter does kill: prove it. */
Test(lock, syscall_filter_kills_a_system_call)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (forbid_syscalls() != 0)
			_exit(FILTER_UNAVAILABLE);
		syscall(SYS_getppid);
		syscall(SYS_exit_group, 0);
	}
	int st = reap(pid);
	if (st == FILTER_UNAVAILABLE)
		cr_skip_test("seccomp filters are not available here");
	cr_expect_eq(st, 128 + SIGSYS);
}

Test(lock, uncontended_path_makes_no_system_call)
{
	struct sjmp__lockfile *lf = open_lf(); /* opening claims the slot */
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (forbid_syscalls() != 0)
			_exit(FILTER_UNAVAILABLE);
		for (int i = 0; i < 1000; i++) {
			if (sjmp__rw_lock(lf, false, false, NULL) != 0 ||
			    sjmp__rw_lock(lf, false, true, NULL) != 0)
				syscall(SYS_exit_group, 10);
			sjmp__rw_unlock(lf, false);
			sjmp__rw_unlock(lf, false);
			if (sjmp__rw_lock(lf, true, false, NULL) != 0)
				syscall(SYS_exit_group, 11);
			sjmp__rw_unlock(lf, true);
			if (sjmp__mutex_lock(lf) != 0)
				syscall(SYS_exit_group, 12);
			sjmp__mutex_unlock(lf);
		}
		syscall(SYS_exit_group, 0);
	}
	int st = reap(pid);
	if (st == FILTER_UNAVAILABLE)
		cr_skip_test("seccomp filters are not available here");
	cr_expect_eq(st, 0, "uncontended lock path: status %d (%d is SIGSYS: a system call)", st,
	             128 + SIGSYS);
	sjmp__lockfile_close(lf);
}
