/* SPDX-License-Identifier: MIT */
/*
 * Permissions between users through the public API. Tests run as root; a forked child drops to
 * nobody (65534) and checks what the files' modes allow it: nothing for 0600 objects, read-only
 * for 0644 segments (including the shared lock of a lockable segment, which blocks a writer).
 */
#include <grp.h>

#include "api_util.h"

TestSuite(perm, .init = api_setup, .fini = api_teardown, .timeout = 30);

#define NOBODY 65534
#define MAGIC  0x4f4e4c59524541ULL

/* Lets nobody traverse SJMP_DIR (mkdtemp made it, and its parent, 0700). */
static void open_sjmp_dir(void)
{
	char path[PATH_MAX + 16], parent[PATH_MAX];

	snprintf(parent, sizeof(parent), "%s", api_dir);
	*strrchr(parent, '/') = 0;
	struct stat st;
	if (stat(parent, &st) == 0 && st.st_uid == getuid())
		chmod(parent, (st.st_mode & 0777) | 0011);
	cr_assert_eq(chmod(api_dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/seg", api_dir);
	cr_assert_eq(chmod(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/vas", api_dir);
	cr_assert_eq(chmod(path, 0755), 0);
}

static bool become_nobody(void)
{
	return setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 && setuid(NOBODY) == 0 &&
	       geteuid() == NOBODY;
}

/* The child's side: runs as nobody; exits with the number of the first check that failed. */
__attribute__((noreturn)) static void nobody_checks(const char *priv, const char *pub,
                                                    const char *wv, const char *hv, const char *pv,
                                                    int to_parent, int from_parent)
{
	/* The library starts while still root: on the kvm backend that opens /dev/kvm, which is
	 * root's on the test machines (a user of group kvm needs no such step). No segment is
	 * opened yet, so nothing of root's access is carried over. */
	if (sjmp_init() != 0)
		_exit(18);
	if (!become_nobody())
		_exit(19);
	if (sjmp_seg_find(priv) != -EACCES)
		_exit(20);
	sjmp_sid_t sid = sjmp_seg_find(pub);
	if (sid < 1)
		_exit(21);
	if (sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW) != -EACCES)
		_exit(22);
	if (sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ) != 0)
		_exit(23);
	if (*(volatile uint64_t *)(API_BASE(2) + API_PAGE) != MAGIC)
		_exit(24);
	if (api_probe(API_BASE(2) + API_PAGE, true))
		_exit(25);
	errno = 0;
	if (sjmp_seg_malloc(sid, 16) != NULL || errno != EROFS)
		_exit(26);
	if (sjmp_seg_root_set(sid, NULL) != -EROFS)
		_exit(27);
	if (sjmp_seg_heap_check(sid, NULL) != 0)
		_exit(28);
	if (sjmp_seg_detach(SJMP_PRIMARY, sid) != 0)
		_exit(29);
	mode_t m = 0666;
	if (sjmp_seg_ctl(sid, SJMP_SEG_CHMOD, &m) != -EPERM)
		_exit(30);
	if (sjmp_seg_delete(pub) != -EACCES)
		_exit(31);
	if (sjmp_seg_alloc("mine", API_BASE(5), API_PAGE, API_RW, 0600) != -EACCES)
		_exit(32);
	if (sjmp_vas_create("mine", 0600) != -EACCES)
		_exit(33);
	if (sjmp_vas_find(pv) != -EACCES)
		_exit(34);
	sjmp_vid_t hid = sjmp_vas_find(hv);
	if (hid < 1)
		_exit(35);
	if (sjmp_vas_attach(hid) != -EACCES)
		_exit(36);
	if (sjmp_vas_delete(wv) != -EACCES)
		_exit(37);
	sjmp_vid_t vid = sjmp_vas_find(wv);
	if (vid < 1)
		_exit(38);
	if (sjmp_seg_attach_global(vid, sid, SJMP_READ) != -EACCES)
		_exit(39);
	if (sjmp_vas_ctl(vid, SJMP_VAS_CHMOD, &m) != -EPERM)
		_exit(40);
	sjmp_vh_t vh = sjmp_vas_attach(vid);
	if (vh < 1)
		_exit(41);
	/* Read-only mapping of a lockable segment: the shared lock. */
	if (sjmp_vas_switch(vh) != 0)
		_exit(42);
	if (*(volatile uint64_t *)(API_BASE(2) + API_PAGE) != MAGIC)
		_exit(43);
	if (api_probe(API_BASE(2), true))
		_exit(44);
	api_send(to_parent, 'i');
	if (api_recv(from_parent, 10000) != 'q')
		_exit(45);
	sjmp_vas_switch(SJMP_PRIMARY);
	api_send(to_parent, 'o');
	if (api_recv(from_parent, 10000) != 'x')
		_exit(46);
	_exit(0);
}

Test(perm, other_users_get_what_the_modes_allow)
{
	char priv[SJMP_NAME_MAX + 1], pub[SJMP_NAME_MAX + 1], wv[SJMP_NAME_MAX + 1];
	char pv[SJMP_NAME_MAX + 1], hv[SJMP_NAME_MAX + 1];
	int sync_c[2], sync_p[2];

	if (getuid() != 0)
		cr_skip_test("needs root to switch to user nobody");
	api_capture_log();
	umask(022);
	api_name(priv, "priv");
	api_name(pub, "pub");
	api_name(wv, "pub-vas");
	api_name(hv, "hides");
	api_name(pv, "priv-vas");
	cr_assert_eq(pipe(sync_c), 0);
	cr_assert_eq(pipe(sync_p), 0);
	/*
	 * The child is forked before this process uses the library: a child forked later would
	 * inherit root's open segments (find returns the already open object, with root's
	 * read-write descriptor), as any process keeps its descriptors across setuid.
	 */
	pid_t pid = api_fork();
	if (pid == 0) {
		if (api_recv(sync_p[0], 10000) != 'g')
			_exit(18);
		nobody_checks(priv, pub, wv, hv, pv, sync_c[1], sync_p[0]);
	}
	close(sync_c[1]);
	close(sync_p[0]);
	cr_assert_eq(sjmp_init(), 0);
	open_sjmp_dir();
	sjmp_sid_t sp = api_seg(priv, 1, API_PAGE, API_RW | SJMP_SEG_LOCKABLE, 0600);
	sjmp_sid_t sr = api_seg(pub, 2, 2 * API_PAGE, API_RW | SJMP_SEG_LOCKABLE, 0644);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sr, API_RW), 0);
	*(volatile uint64_t *)(API_BASE(2) + API_PAGE) = MAGIC;
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sr), 0);
	/* A readable VAS that maps the public segment writable: nobody gets it read-only. */
	sjmp_vid_t w = sjmp_vas_create(wv, 0644);
	cr_assert_geq(w, 1);
	cr_assert_eq(sjmp_seg_attach_global(w, sr, API_RW), 0);
	sjmp_vh_t wvh = api_attach(w);
	/* A readable VAS holding the private segment; a private VAS. */
	sjmp_vid_t h = sjmp_vas_create(hv, 0644);
	cr_assert_eq(sjmp_seg_attach_global(h, sp, API_RW), 0);
	cr_assert_geq(sjmp_vas_create(pv, 0600), 1);

	api_send(sync_p[1], 'g');
	int got = api_recv(sync_c[0], 10000);
	if (got != 'i') {
		int st = api_reap(pid);
		cr_assert_fail("the child failed at step %d", st);
	}
	/* nobody's shared lock keeps root's writer out. */
	cr_expect_eq(sjmp_vas_switch_timed(wvh, SJMP_SWITCH_NONBLOCK, NULL), -EBUSY);
	api_send(sync_p[1], 'q');
	cr_expect_eq(api_recv(sync_c[0], 10000), 'o');
	struct timespec dl = api_in_ms(5000);
	cr_expect_eq(sjmp_vas_switch_timed(wvh, 0, &dl), 0, "nobody's switch out released nothing");
	api_switch(SJMP_PRIMARY);
	api_send(sync_p[1], 'x');
	cr_expect_eq(api_reap(pid), 0, "the child failed at step (exit code)");
}
