/* SPDX-License-Identifier: MIT */
/*
 * VASes through the public API: create, find, attach, detach, switch, switch_timed, current,
 * clone, ctl, close, delete and list; every documented error, and that a failing call leaves
 * nothing behind.
 */
#include "api_util.h"

TestSuite(vas_create, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(vas_find, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(vas_attach, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(vas_switch, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(vas_misc, .init = api_setup, .fini = api_teardown, .timeout = 20);

/* ---- create ---- */

Test(vas_create, makes_a_named_vas_with_its_record)
{
	char name[SJMP_NAME_MAX + 1];
	struct sjmp_vas_info info;

	umask(022);
	sjmp_vid_t vid = sjmp_vas_create(api_name(name, "mk"), 0664);
	cr_assert_geq(vid, 1, "%s", sjmp_strerror(vid));
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_STAT, &info), 0);
	cr_expect_str_eq(info.name, name);
	cr_expect_eq(info.nsegs, 0u);
	cr_expect_eq(info.mode, 0644, "mode %o: 0664 filtered by umask 022", info.mode);
	cr_expect_eq(info.uid, getuid());
	cr_expect_eq(info.gid, getgid());
	char path[PATH_MAX + 128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/vas/%s", api_dir, name);
	cr_expect_eq(stat(path, &st), 0);
	cr_expect_eq(sjmp_vas_list(NULL, 0), 1);
}

Test(vas_create, makes_an_unnamed_vas_without_files)
{
	struct sjmp_vas_info info;

	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	cr_assert_geq(vid, 1);
	api_assert_dir_unchanged(before);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_STAT, &info), 0);
	cr_expect_str_eq(info.name, "");
	cr_expect_eq(sjmp_vas_list(NULL, 0), 0);
}

Test(vas_create, refuses_bad_names_and_modes_with_einval_and_leaves_nothing)
{
	char long_name[SJMP_NAME_MAX + 2];
	const char *bad[] = {"", ".dot", "..", "sl/ash", "sp ace", "star*", "nl\n"};

	memset(long_name, 'v', sizeof(long_name) - 1);
	long_name[SJMP_NAME_MAX + 1] = 0;
	api_capture_log();
	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(sjmp_vas_create(bad[i], 0600), -EINVAL, "create \"%s\"", bad[i]);
		cr_expect_eq(sjmp_vas_find(bad[i]), -EINVAL, "find \"%s\"", bad[i]);
		cr_expect_eq(sjmp_vas_delete(bad[i]), -EINVAL, "delete \"%s\"", bad[i]);
	}
	cr_expect_eq(sjmp_vas_create(long_name, 0600), -EINVAL);
	cr_expect_eq(sjmp_vas_find(long_name), -EINVAL);
	cr_expect_eq(sjmp_vas_find(NULL), -EINVAL);
	cr_expect_eq(sjmp_vas_delete(NULL), -EINVAL);
	cr_expect_eq(sjmp_vas_create("fine", 01600), -EINVAL, "mode outside 0777");
	cr_expect_eq(sjmp_vas_create(NULL, 01600), -EINVAL, "mode outside 0777, unnamed");
	api_assert_dir_unchanged(before);
	/* No handle was consumed. */
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	cr_expect_eq(vid, 1);
}

Test(vas_create, refuses_a_duplicate_name_with_eexist_and_leaves_nothing)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_vid_t vid = sjmp_vas_create(api_name(name, "dupvas"), 0600);
	cr_assert_geq(vid, 1);
	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_vas_create(name, 0644), -EEXIST);
	cr_expect_not_null(strstr(api_log_last, "EEXIST"), "%s", api_log_last);
	api_assert_dir_unchanged(before);
	cr_expect_eq(sjmp_vas_create(NULL, 0600), vid + 1, "a failed create kept a handle");
}

/* ---- find ---- */

Test(vas_find, opens_a_named_vas_with_its_segments)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];
	struct sjmp_vas_info info;

	sjmp_sid_t sid = api_seg(api_name(s, "fseg"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "fvas"), sid, API_RW);
	sjmp_vid_t f = sjmp_vas_find(v);
	cr_assert_geq(f, 1);
	cr_expect_neq(f, vid);
	cr_assert_eq(sjmp_vas_ctl(f, SJMP_VAS_STAT, &info), 0);
	cr_expect_str_eq(info.name, v);
	cr_expect_eq(info.nsegs, 1u);
	cr_expect_eq(sjmp_vas_find(api_name(v, "nosuchvas")), -ENOENT);
}

/* A named VAS with one global segment, closed; returns nothing, names in @v and @s. */
static void make_vas(char v[SJMP_NAME_MAX + 1], char s[SJMP_NAME_MAX + 1])
{
	sjmp_sid_t sid = api_seg(api_name(s, "rseg"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "rvas"), sid, API_RW);
	cr_assert_eq(sjmp_vas_close(vid), 0);
	cr_assert_eq(sjmp_seg_close(sid), 0);
	api_capture_log();
}

static int vas_file(const char *name, const char *file, int flags)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/vas/%s/%s", api_dir, name, file);
	return open(path, flags);
}

/* Asserts that finding VAS @name fails with -EBADMSG, says why and keeps no handle. */
static void refuse_damaged(const char *name, const char *what)
{
	int n = api_log_count;
	cr_expect_eq(sjmp_vas_find(name), -EBADMSG, "%s", what);
	cr_expect_gt(api_log_count, n, "%s: not logged", what);
	cr_expect_not_null(strstr(api_log_last, "EBADMSG"), "%s: %s", what, api_log_last);
	sjmp_vid_t probe = sjmp_vas_create(NULL, 0600);
	cr_expect_eq(probe, 1, "%s: a failed find kept a handle", what);
	sjmp_vas_close(probe);
}

Test(vas_find, refuses_a_damaged_record_with_ebadmsg)
{
	char v[SJMP_NAME_MAX + 1], s[SJMP_NAME_MAX + 1];

	make_vas(v, s);
	int fd = vas_file(v, "record", O_RDWR);
	cr_assert_geq(fd, 0);
	struct stat st;
	cr_assert_eq(fstat(fd, &st), 0);
	char *good = malloc((size_t)st.st_size), c;
	cr_assert_eq(pread(fd, good, (size_t)st.st_size, 0), st.st_size);

	c = good[st.st_size - 20] ^ 1; /* a byte of the segment entry */
	cr_assert_eq(pwrite(fd, &c, 1, st.st_size - 20), 1);
	refuse_damaged(v, "entry bit flipped");
	cr_assert_eq(pwrite(fd, good, (size_t)st.st_size, 0), st.st_size);
	c = good[0] ^ 1; /* the magic */
	cr_assert_eq(pwrite(fd, &c, 1, 0), 1);
	refuse_damaged(v, "magic");
	cr_assert_eq(pwrite(fd, good, (size_t)st.st_size, 0), st.st_size);
	cr_assert_eq(ftruncate(fd, st.st_size - 1), 0);
	refuse_damaged(v, "truncated entry");
	cr_assert_eq(ftruncate(fd, 10), 0);
	refuse_damaged(v, "truncated header");
	cr_assert_eq(ftruncate(fd, 0), 0);
	refuse_damaged(v, "empty");
	/* Restored, it is accepted again. */
	cr_assert_eq(pwrite(fd, good, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	free(good);
	cr_expect_geq(sjmp_vas_find(v), 1);
}

Test(vas_find, refuses_a_vas_without_its_gen_file_with_ebadmsg)
{
	char v[SJMP_NAME_MAX + 1], s[SJMP_NAME_MAX + 1], path[PATH_MAX + 128];

	make_vas(v, s);
	snprintf(path, sizeof(path), "%s/vas/%s/gen", api_dir, v);
	cr_assert_eq(unlink(path), 0);
	cr_expect_eq(sjmp_vas_find(v), -EBADMSG);
}

/* ---- attach / detach ---- */

Test(vas_attach, gives_distinct_instances_and_detach_drops_them)
{
	char v[SJMP_NAME_MAX + 1];

	sjmp_vid_t vid = api_vas_with(api_name(v, "att"), 0, 0);
	sjmp_vh_t a = api_attach(vid), b = api_attach(vid);
	cr_expect_neq(a, b);
	cr_expect_neq(a, SJMP_PRIMARY);
	cr_expect_eq(sjmp_vas_detach(a), 0);
	cr_expect_eq(sjmp_vas_detach(a), -EBADF, "detached twice");
	cr_expect_eq(sjmp_vas_switch(a), -EBADF, "switch into a detached handle");
	cr_expect_eq(sjmp_vas_detach(b), 0);
	/* The VAS handle outlives its instances, and the instances outlive the VAS handle. */
	sjmp_vh_t c = api_attach(vid);
	cr_assert_eq(sjmp_vas_close(vid), 0);
	api_switch(c);
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(sjmp_vas_detach(c), 0);
}

Test(vas_attach, refuses_bad_handles_with_ebadf)
{
	api_capture_log();
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_eq(sjmp_vas_attach(0), -EBADF);
	cr_expect_eq(sjmp_vas_attach(42), -EBADF);
	cr_expect_eq(sjmp_vas_attach(-1), -EBADF);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	cr_assert_eq(sjmp_vas_close(vid), 0);
	cr_expect_eq(sjmp_vas_attach(vid), -EBADF, "a closed VAS handle");
	cr_expect_eq(sjmp_vas_detach(SJMP_PRIMARY), -EBADF, "the primary VAS");
	cr_expect_eq(sjmp_vas_detach(42), -EBADF);
}

Test(vas_attach, refuses_a_vas_whose_segment_metadata_is_damaged_with_ebadmsg)
{
	char v[SJMP_NAME_MAX + 1], s[SJMP_NAME_MAX + 1], path[PATH_MAX + 128];

	make_vas(v, s);
	sjmp_vid_t vid = sjmp_vas_find(v);
	cr_assert_geq(vid, 1);
	snprintf(path, sizeof(path), "%s/seg/%s/meta", api_dir, s);
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	char c = 'X';
	cr_assert_eq(pwrite(fd, &c, 1, 60), 1);
	close(fd);
	cr_expect_eq(sjmp_vas_attach(vid), -EBADMSG);
	api_assert_zone_clean();
	/* No instance handle was consumed: the next unnamed VAS gets the first one. */
	sjmp_vh_t vh = sjmp_vas_attach(sjmp_vas_create(NULL, 0600));
	cr_expect_eq(vh, 1);
}

Test(vas_attach, refuses_detach_while_switched_in_with_ebusy)
{
	char s[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(s, "busy"), 1, API_PAGE, API_RW, 0600);
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, sid, API_RW));
	api_switch(vh);
	cr_expect_eq(sjmp_vas_detach(vh), -EBUSY);
	cr_expect_eq(sjmp_vas_current(), vh, "a failed detach moved the thread");
	cr_expect(api_probe(API_BASE(1), true), "a failed detach unmapped the segment");
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(sjmp_vas_detach(vh), 0);
	api_assert_zone_clean();
}

/* ---- switch ---- */

Test(vas_switch, enters_and_leaves_and_reports_current)
{
	char s[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(s, "sw"), 1, API_PAGE, API_RW, 0600);
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, sid, API_RW));
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
	cr_expect_not(api_probe(API_BASE(1), false), "mapped outside its VAS");
	api_switch(vh);
	cr_expect_eq(sjmp_vas_current(), vh);
	cr_expect(api_probe(API_BASE(1), true));
	api_switch(vh); /* switching to where we are is fine */
	cr_expect_eq(sjmp_vas_current(), vh);
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
	cr_expect_not(api_probe(API_BASE(1), false), "still mapped after switching out");
	api_assert_zone_clean();
	cr_expect_eq(sjmp_vas_switch_timed(vh, SJMP_SWITCH_NONBLOCK, NULL), 0);
	struct timespec dl = api_in_ms(1000);
	cr_expect_eq(sjmp_vas_switch_timed(SJMP_PRIMARY, 0, &dl), 0);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
}

Test(vas_switch, refuses_detached_or_never_attached_handles_with_ebadf)
{
	char s[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(s, "swbad"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(NULL, sid, API_RW);
	sjmp_vh_t vh = api_attach(vid);
	api_switch(vh);
	cr_expect_eq(sjmp_vas_switch(77), -EBADF, "never attached");
	cr_expect_eq(sjmp_vas_switch(-2), -EBADF);
	cr_expect_eq(sjmp_vas_switch(vid + 100), -EBADF);
	cr_expect_eq(sjmp_vas_current(), vh, "a failed switch moved the thread");
	cr_expect(api_probe(API_BASE(1), true), "a failed switch unmapped the current VAS");
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_vas_detach(vh), 0);
	cr_expect_eq(sjmp_vas_switch(vh), -EBADF, "detached");
	cr_expect_eq(sjmp_vas_switch_timed(vh, SJMP_SWITCH_NONBLOCK, NULL), -EBADF);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
	api_assert_zone_clean();
}

Test(vas_switch, refuses_unknown_flags_with_einval)
{
	api_capture_log();
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, 0, 0));
	cr_expect_eq(sjmp_vas_switch_timed(vh, 0x40, NULL), -EINVAL);
	cr_expect_eq(sjmp_vas_current(), SJMP_PRIMARY);
}

/* ---- clone, ctl, close, delete, list ---- */

Test(vas_misc, clone_shares_the_segments)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1], c[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info segs[2];
	struct sjmp_vas_segs q = {segs, 2, 0};

	api_capture_log();
	umask(022);
	sjmp_sid_t sid = api_seg(api_name(s, "cseg"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "cvas"), sid, API_RW);
	sjmp_vid_t copy = sjmp_vas_clone(vid, api_name(c, "cvas-copy"), 0640);
	cr_assert_geq(copy, 1, "%s", sjmp_strerror(copy));
	cr_assert_eq(sjmp_vas_ctl(copy, SJMP_VAS_SEGS, &q), 0);
	cr_assert_eq(q.count, 1u);
	cr_expect_str_eq(segs[0].name, s);
	cr_expect_eq(segs[0].flags, (unsigned)API_RW);
	struct sjmp_vas_info info;
	cr_assert_eq(sjmp_vas_ctl(copy, SJMP_VAS_STAT, &info), 0);
	cr_expect_eq(info.mode, 0640);
	cr_expect_eq(sjmp_vas_list(NULL, 0), 2);

	/* Shared, not copied: a byte written through the original is seen through the copy. */
	sjmp_vh_t a = api_attach(vid), b = api_attach(copy);
	api_switch(a);
	*(volatile int *)(API_BASE(1) + 2048) = 4242;
	api_switch(b);
	cr_expect_eq(*(volatile int *)(API_BASE(1) + 2048), 4242);
	api_switch(SJMP_PRIMARY);

	/* Changing the copy leaves the original alone. */
	cr_assert_eq(sjmp_seg_detach_global(copy, sid), 0);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 1u);

	/* Unnamed clones of named and unnamed VASes. */
	sjmp_vid_t anon = sjmp_vas_clone(vid, NULL, 0600);
	cr_assert_geq(anon, 1);
	cr_assert_eq(sjmp_vas_ctl(anon, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 1u);
	sjmp_vid_t anon2 = sjmp_vas_clone(anon, NULL, 0600);
	cr_assert_geq(anon2, 1);
	cr_assert_eq(sjmp_vas_ctl(anon2, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 1u);

	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_vas_clone(vid, c, 0600), -EEXIST);
	cr_expect_eq(sjmp_vas_clone(vid, "", 0600), -EINVAL);
	cr_expect_eq(sjmp_vas_clone(vid, "fine-name", 02000), -EINVAL);
	cr_expect_eq(sjmp_vas_clone(999, "fine-name", 0600), -EBADF);
	/* A named copy of a VAS holding an unnamed segment cannot exist. */
	sjmp_sid_t un = api_seg(NULL, 5, API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_attach_global(anon2, un, API_RW), 0);
	cr_expect_eq(sjmp_vas_clone(anon2, "fine-name", 0600), -EINVAL);
	api_assert_dir_unchanged(before);
}

Test(vas_misc, ctl_stat_chmod_segs_and_errors)
{
	char v[SJMP_NAME_MAX + 1], a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];
	struct sjmp_vas_info info;
	struct sjmp_seg_info segs[2];
	mode_t m = 0600;

	api_capture_log();
	umask(022);
	sjmp_sid_t sa = api_seg(api_name(a, "ctl-a"), 1, API_PAGE, API_RW, 0600);
	sjmp_sid_t sb = api_seg(api_name(b, "ctl-b"), 2, 2 * API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "ctlvas"), sa, API_RW);
	cr_assert_eq(sjmp_seg_attach_global(vid, sb, SJMP_READ), 0);

	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_STAT, &info), 0);
	cr_expect_eq(info.nsegs, 2u);
	cr_expect_eq(info.mode, 0640);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_CHMOD, &m), 0);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_STAT, &info), 0);
	cr_expect_eq(info.mode, 0600);
	struct sjmp_vas_info listed;
	cr_assert_eq(sjmp_vas_list(&listed, 1), 1);
	cr_expect_eq(listed.mode, 0600);
	cr_expect_eq(listed.nsegs, 2u);
	cr_expect_str_eq(listed.name, v);

	struct sjmp_vas_segs q = {segs, 1, 0};
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 2u, "the total, even beyond cap");
	q = (struct sjmp_vas_segs){NULL, 0, 0};
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 2u);
	q = (struct sjmp_vas_segs){segs, 2, 0};
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	int ib = !strcmp(segs[0].name, b) ? 0 : 1;
	cr_expect_str_eq(segs[ib].name, b);
	cr_expect_eq(segs[ib].base, API_BASE(2));
	cr_expect_eq(segs[ib].size, 2 * API_PAGE);
	cr_expect_eq(segs[ib].flags, (unsigned)SJMP_READ);

	m = 010000;
	cr_expect_eq(sjmp_vas_ctl(vid, SJMP_VAS_CHMOD, &m), -EINVAL);
	cr_expect_eq(sjmp_vas_ctl(vid, 99, &info), -EINVAL);
	cr_expect_eq(sjmp_vas_ctl(vid, SJMP_VAS_STAT, NULL), -EINVAL);
	q = (struct sjmp_vas_segs){NULL, 3, 0};
	cr_expect_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), -EINVAL);
	cr_expect_eq(sjmp_vas_ctl(99, SJMP_VAS_STAT, &info), -EBADF);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_STAT, &info), 0);
	cr_expect_eq(info.mode, 0600, "a failed chmod changed the mode");

	/* Unnamed VASes: stat reports the global segments. */
	sjmp_vid_t un = api_vas_with(NULL, sb, API_RW);
	cr_assert_eq(sjmp_vas_ctl(un, SJMP_VAS_STAT, &info), 0);
	cr_expect_str_eq(info.name, "");
	cr_expect_eq(info.nsegs, 1u);
	cr_expect_eq(sjmp_vas_ctl(un, SJMP_VAS_CHMOD, &m), -EINVAL);
}

Test(vas_misc, close_refuses_bad_handles_with_ebadf)
{
	cr_assert_eq(sjmp_init(), 0);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	cr_expect_eq(sjmp_vas_close(vid), 0);
	cr_expect_eq(sjmp_vas_close(vid), -EBADF);
	cr_expect_eq(sjmp_vas_close(0), -EBADF);
	cr_expect_eq(sjmp_vas_close(-5), -EBADF);
	cr_expect_eq(sjmp_vas_close(100000), -EBADF);
}

Test(vas_misc, delete_frees_the_name_but_keeps_attached_instances)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];

	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	sjmp_sid_t sid = api_seg(api_name(s, "dseg"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "dvas"), sid, API_RW);
	sjmp_vh_t vh = api_attach(vid);
	cr_expect_eq(sjmp_vas_delete(v), 0);
	cr_expect_eq(sjmp_vas_find(v), -ENOENT);
	cr_expect_eq(sjmp_vas_delete(v), -ENOENT);
	cr_expect_eq(sjmp_vas_list(NULL, 0), 0);
	/* The instance keeps working. */
	api_switch(vh);
	*(volatile int *)(API_BASE(1) + 512) = 5;
	api_switch(SJMP_PRIMARY);
	api_switch(vh);
	cr_expect_eq(*(volatile int *)(API_BASE(1) + 512), 5);
	api_switch(SJMP_PRIMARY);
	/* The name is free again. */
	sjmp_vid_t again = sjmp_vas_create(v, 0600);
	cr_expect_geq(again, 1);
	sjmp_vas_close(again);
	cr_expect_eq(sjmp_vas_delete(v), 0);
	cr_expect_eq(sjmp_vas_detach(vh), 0);
	cr_expect_eq(sjmp_vas_close(vid), 0);
	cr_expect_eq(sjmp_seg_close(sid), 0);
	cr_expect_eq(sjmp_seg_delete(s), 0);
	api_assert_dir_unchanged(before);
	api_assert_zone_clean();
}

Test(vas_misc, list_reports_every_named_vas)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];
	struct sjmp_vas_info out[3];

	api_capture_log();
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_eq(sjmp_vas_list(NULL, 0), 0);
	sjmp_vas_create(api_name(a, "la"), 0600);
	sjmp_vas_create(api_name(b, "lb"), 0600);
	sjmp_vas_create(NULL, 0600);
	cr_expect_eq(sjmp_vas_list(NULL, 0), 2);
	cr_expect_eq(sjmp_vas_list(out, 1), 2);
	cr_assert_eq(sjmp_vas_list(out, 3), 2);
	cr_expect(!strcmp(out[0].name, a) || !strcmp(out[1].name, a));
	cr_expect(!strcmp(out[0].name, b) || !strcmp(out[1].name, b));
	cr_expect_eq(sjmp_vas_list(NULL, 2), -EINVAL);
}
