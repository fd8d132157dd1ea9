/* SPDX-License-Identifier: MIT */
/*
 * Segments through the public API: every call's happy path and every documented error, and
 * that a failing call leaves nothing behind (no file or hidden temporary under SJMP_DIR, no
 * mapping in the zone, no handle).
 */
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <xxhash.h>

#include "api_util.h"
#include "records.h" /* the on-disk format, to forge foreign metadata */

TestSuite(seg_alloc, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(seg_find, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(seg_attach, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(seg_global, .init = api_setup, .fini = api_teardown, .timeout = 20);
TestSuite(seg_misc, .init = api_setup, .fini = api_teardown, .timeout = 20);

/* ---- sjmp_seg_alloc ---- */

Test(seg_alloc, creates_a_named_segment_with_its_header)
{
	char name[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info info;

	umask(022);
	api_name(name, "alloc");
	sjmp_sid_t sid = api_seg(name, 1, 4 * API_PAGE, API_RW, 0664);
	cr_expect_eq(sjmp_seg_ctl(sid, SJMP_SEG_STAT, &info), 0);
	cr_expect_str_eq(info.name, name);
	cr_expect_eq(info.base, API_BASE(1));
	cr_expect_eq(info.size, 4 * API_PAGE);
	cr_expect_eq(info.flags, (unsigned)API_RW);
	cr_expect_eq(info.mode, 0644, "mode %o: 0664 filtered by umask 022", info.mode);
	cr_expect_eq(info.uid, getuid());
	cr_expect_eq(info.gid, getgid());
	cr_expect_eq(sjmp_seg_base(sid), (void *)API_BASE(1));

	char path[PATH_MAX + 128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/seg/%s", api_dir, name);
	cr_expect_eq(stat(path, &st), 0, "no directory for the segment");

	/* The header, seen through a mapping in the primary VAS. */
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
	const struct sjmp_seg_header *h = (const void *)API_BASE(1);
	cr_expect_eq(h->magic, SJMP_SEG_HEADER_MAGIC);
	cr_expect_eq(h->version, (uint32_t)SJMP_SEG_HEADER_VERSION);
	cr_expect_eq(h->base, (uint64_t)API_BASE(1));
	cr_expect_eq(h->size, (uint64_t)(4 * API_PAGE));
	cr_expect_null(h->root);
	cr_expect_geq(h->header_size, sizeof(*h));
}

Test(seg_alloc, accepts_a_name_of_exactly_name_max_bytes)
{
	char name[SJMP_NAME_MAX + 1];

	memset(name, 'a', SJMP_NAME_MAX);
	name[SJMP_NAME_MAX] = 0;
	snprintf(name, 12, "max%08d", (int)getpid());
	name[11] = 'x';
	cr_assert_eq(strlen(name), SJMP_NAME_MAX);
	sjmp_sid_t sid = api_seg(name, 1, API_PAGE, API_RW, 0600);
	cr_expect_geq(sjmp_seg_find(name), 1);
	cr_expect_eq(sjmp_seg_close(sid), 0);
}

Test(seg_alloc, makes_an_unnamed_segment_without_a_name_in_sjmp_dir)
{
	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	sjmp_sid_t sid = api_seg(NULL, 2, 2 * API_PAGE, API_RW, 0600);
	api_assert_dir_unchanged(before);
	struct sjmp_seg_info info;
	cr_expect_eq(sjmp_seg_ctl(sid, SJMP_SEG_STAT, &info), 0);
	cr_expect_str_eq(info.name, "");
	cr_expect_eq(info.base, API_BASE(2));
	cr_expect_eq(sjmp_seg_list(NULL, 0), 0, "unnamed segments are not listed");
}

/* Asserts that seg_alloc(@name) fails with -EINVAL and leaves SJMP_DIR as it was. */
static void refuse_name(const char *name)
{
	char *before = api_dir_snapshot();
	int r = sjmp_seg_alloc(name, API_BASE(1), API_PAGE, API_RW, 0600);
	cr_expect_eq(r, -EINVAL, "seg_alloc(\"%s\"): %d", name, r);
	cr_expect_eq(sjmp_seg_find(name), -EINVAL, "seg_find(\"%s\")", name);
	cr_expect_eq(sjmp_seg_delete(name), -EINVAL, "seg_delete(\"%s\")", name);
	api_assert_dir_unchanged(before);
}

Test(seg_alloc, refuses_bad_names_with_einval)
{
	char long_name[SJMP_NAME_MAX + 2];

	memset(long_name, 'b', sizeof(long_name) - 1);
	long_name[SJMP_NAME_MAX + 1] = 0;
	api_capture_log();
	cr_assert_eq(sjmp_init(), 0);
	refuse_name("");
	refuse_name(long_name);
	refuse_name(".hidden");
	refuse_name("..");
	refuse_name("a/b");
	refuse_name("a b");
	refuse_name("caf\xc3\xa9");
	refuse_name("tab\t");
	cr_expect_eq(sjmp_seg_find(NULL), -EINVAL);
	cr_expect_eq(sjmp_seg_delete(NULL), -EINVAL);
	cr_expect_eq(sjmp_seg_clone(1, "x/y", 0600), -EINVAL);
}

Test(seg_alloc, refuses_a_duplicate_name_with_eexist_and_leaves_nothing)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	api_name(name, "dup");
	sjmp_sid_t sid = api_seg(name, 1, API_PAGE, API_RW, 0600);
	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(5), 2 * API_PAGE, API_RW, 0600), -EEXIST);
	cr_expect_not_null(strstr(api_log_last, "EEXIST"), "%s", api_log_last);
	api_assert_dir_unchanged(before);
	/* The original is unchanged. */
	struct sjmp_seg_info info;
	sjmp_sid_t again = sjmp_seg_find(name);
	cr_assert_geq(again, 1);
	cr_expect_eq(sjmp_seg_ctl(again, SJMP_SEG_STAT, &info), 0);
	cr_expect_eq(info.base, API_BASE(1));
	cr_expect_eq(info.size, API_PAGE);
	(void)sid;
}

Test(seg_alloc, refuses_base_outside_zone_with_erange)
{
	char name[SJMP_NAME_MAX + 1];
	const uintptr_t end = SJMP_ZONE_BASE + SJMP_ZONE_SIZE;

	api_capture_log();
	api_name(name, "range");
	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_seg_alloc(name, SJMP_ZONE_BASE - API_PAGE, API_PAGE, API_RW, 0600),
	             -ERANGE, "below the zone");
	cr_expect_eq(sjmp_seg_alloc(name, SJMP_ZONE_BASE - API_PAGE, 2 * API_PAGE, API_RW, 0600),
	             -ERANGE, "straddling the start");
	cr_expect_eq(sjmp_seg_alloc(name, end, API_PAGE, API_RW, 0600), -ERANGE, "at the end");
	cr_expect_eq(sjmp_seg_alloc(name, end - API_PAGE, 2 * API_PAGE, API_RW, 0600), -ERANGE,
	             "straddling the end");
	cr_expect_eq(sjmp_seg_alloc(name, 0x10000, API_PAGE, API_RW, 0600), -ERANGE, "low");
	cr_expect_eq(
	    sjmp_seg_alloc(name, SJMP_ZONE_BASE + API_PAGE, (size_t)-API_PAGE, API_RW, 0600),
	    -ERANGE, "size wrapping around");
	cr_expect_eq(sjmp_seg_alloc(NULL, end, API_PAGE, API_RW, 0600), -ERANGE, "unnamed");
	api_assert_dir_unchanged(before);
	api_assert_zone_clean();
	/* The last page of the zone is fine. */
	cr_expect_geq(sjmp_seg_alloc(name, end - API_PAGE, API_PAGE, API_RW, 0600), 1);
}

Test(seg_alloc, refuses_misaligned_base_or_size_with_einval)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	api_name(name, "align");
	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1) + 8, API_PAGE, API_RW, 0600), -EINVAL);
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), API_PAGE + 1, API_RW, 0600), -EINVAL);
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), API_PAGE / 2, API_RW, 0600), -EINVAL);
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), 0, API_RW, 0600), -EINVAL, "zero size");
	api_assert_dir_unchanged(before);
}

Test(seg_alloc, refuses_unknown_flags_and_bad_modes_with_einval)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	api_name(name, "flags");
	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), API_PAGE, API_RW | 0x80000, 0600), -EINVAL);
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), API_PAGE, 0, 0600), -EINVAL, "no access");
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), API_PAGE, API_RW, 04600), -EINVAL);
	api_assert_dir_unchanged(before);
}

/*
 * A filesystem too small for the segment: a private 8 MiB tmpfs mounted in a mount namespace
 * of this test process only. Without the privilege to do that, a size beyond the whole of the
 * filesystem under SJMP_DIR.
 */
Test(seg_alloc, fails_with_enospc_when_the_filesystem_is_too_small_and_leaves_nothing)
{
	char mnt[PATH_MAX + 16];
	size_t too_big = 16UL << 20;
	bool mounted = false;

	snprintf(mnt, sizeof(mnt), "%s/small", api_dir);
	cr_assert_eq(mkdir(mnt, 0700), 0);
	if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
	    mount("tmpfs", mnt, "tmpfs", 0, "size=8m,mode=0700") == 0) {
		mounted = true;
		setenv("SJMP_DIR", mnt, 1);
	} else {
		struct statvfs sv;
		cr_assert_eq(statvfs(api_dir, &sv), 0);
		too_big = ((size_t)sv.f_blocks * sv.f_frsize + (64UL << 20)) & ~(API_PAGE - 1);
	}
	api_capture_log();
	cr_assert_eq(sjmp_init(), 0);
	char *save = api_dir_snapshot();
	char name[SJMP_NAME_MAX + 1];
	api_name(name, "nospc");
	cr_expect_eq(sjmp_seg_alloc(name, API_BASE(1), too_big, API_RW, 0600), -ENOSPC);
	cr_expect_not_null(strstr(api_log_last, "ENOSPC"), "%s", api_log_last);
	cr_expect_eq(sjmp_seg_alloc(NULL, API_BASE(1), too_big, API_RW, 0600), -ENOSPC);
	cr_expect_eq(sjmp_seg_find(name), -ENOENT);
	api_assert_dir_unchanged(save);
	api_assert_zone_clean();
	if (mounted) {
		/* Nothing was left holding space: a segment of most of the filesystem fits. */
		sjmp_sid_t sid = sjmp_seg_alloc(name, API_BASE(1), 6UL << 20, API_RW, 0600);
		cr_expect_geq(sid, 1, "6 MiB on an empty 8 MiB tmpfs: %s", sjmp_strerror(sid));
		sjmp_seg_close(sid);
		sjmp_seg_delete(name);
		umount2(mnt, MNT_DETACH);
	}
}

/* ---- sjmp_seg_find ---- */

Test(seg_find, opens_a_named_segment)
{
	char name[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info a, b;

	api_name(name, "find");
	sjmp_sid_t sid = api_seg(name, 3, 2 * API_PAGE, API_RW | SJMP_SEG_LOCKABLE, 0640);
	sjmp_sid_t f1 = sjmp_seg_find(name), f2 = sjmp_seg_find(name);
	cr_assert_geq(f1, 1);
	cr_assert_geq(f2, 1);
	cr_expect(f1 != sid && f2 != f1, "each find gives a new handle");
	cr_expect_eq(sjmp_seg_ctl(sid, SJMP_SEG_STAT, &a), 0);
	cr_expect_eq(sjmp_seg_ctl(f1, SJMP_SEG_STAT, &b), 0);
	cr_expect_eq(memcmp(&a, &b, sizeof(a)), 0, "STAT differs between handles");
	cr_expect_eq(b.flags, (unsigned)(API_RW | SJMP_SEG_LOCKABLE));
	/* Two handles, one object: memory written through one is seen through the other. */
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, f1, API_RW), 0);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, f2, API_RW), -EEXIST);
	cr_expect_eq(sjmp_seg_close(f1), 0);
	cr_expect_eq(sjmp_seg_close(f1), -EBADF);
	cr_expect_eq(sjmp_seg_root_set(f2, (void *)0x1234), 0);
	cr_expect_eq(sjmp_seg_root_get(sid), (void *)0x1234);
}

Test(seg_find, reports_a_missing_segment_with_enoent)
{
	char name[SJMP_NAME_MAX + 1];

	cr_expect_eq(sjmp_seg_find(api_name(name, "missing")), -ENOENT);
	cr_expect_eq(sjmp_seg_delete(name), -ENOENT);
}

/* Opens a file of segment @name's directory. */
static int seg_file(const char *name, const char *file, int flags)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/seg/%s/%s", api_dir, name, file);
	return open(path, flags);
}

/* A new segment @name; returns the handle that the next find would get. */
static void damaged_segment(const char *name)
{
	sjmp_sid_t sid = api_seg(name, 4, 2 * API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_close(sid), 0);
	api_capture_log();
}

/* Asserts that finding @name fails with -EBADMSG, logs why and leaves no handle. */
static void refuse_damaged(const char *name, const char *what)
{
	int before = api_log_count;
	cr_expect_eq(sjmp_seg_find(name), -EBADMSG, "%s", what);
	cr_expect_gt(api_log_count, before, "%s: the reason must be logged", what);
	cr_expect_not_null(strstr(api_log_last, "EBADMSG"), "%s: %s", what, api_log_last);
	/* No handle was used: the lowest free one is still 1. */
	sjmp_sid_t probe = sjmp_seg_alloc(NULL, API_BASE(9), API_PAGE, API_RW, 0600);
	cr_expect_eq(probe, 1, "%s: a failed find kept a handle", what);
	sjmp_seg_close(probe);
}

Test(seg_find, refuses_a_corrupted_meta_file_with_ebadmsg)
{
	char name[SJMP_NAME_MAX + 1];

	damaged_segment(api_name(name, "badmeta"));
	int fd = seg_file(name, "meta", O_RDWR);
	cr_assert_geq(fd, 0);
	char c;
	cr_assert_eq(pread(fd, &c, 1, 40), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, 40), 1);
	close(fd);
	refuse_damaged(name, "one flipped bit");
}

Test(seg_find, refuses_a_truncated_or_extended_meta_file_with_ebadmsg)
{
	char name[SJMP_NAME_MAX + 1];

	damaged_segment(api_name(name, "shortmeta"));
	int fd = seg_file(name, "meta", O_RDWR);
	cr_assert_geq(fd, 0);
	struct stat st;
	fstat(fd, &st);
	cr_assert_eq(ftruncate(fd, st.st_size + 1), 0);
	refuse_damaged(name, "one byte too long");
	cr_assert_eq(ftruncate(fd, st.st_size - 8), 0);
	refuse_damaged(name, "8 bytes short");
	cr_assert_eq(ftruncate(fd, 0), 0);
	refuse_damaged(name, "empty");
	close(fd);
}

Test(seg_find, refuses_a_missing_meta_file_with_ebadmsg)
{
	char name[SJMP_NAME_MAX + 1];
	char path[PATH_MAX + 128];

	damaged_segment(api_name(name, "nometa"));
	snprintf(path, sizeof(path), "%s/seg/%s/meta", api_dir, name);
	cr_assert_eq(unlink(path), 0);
	refuse_damaged(name, "meta missing");
}

Test(seg_find, refuses_a_data_file_of_the_wrong_size_with_ebadmsg)
{
	char name[SJMP_NAME_MAX + 1];

	damaged_segment(api_name(name, "baddata"));
	int fd = seg_file(name, "data", O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, API_PAGE), 0);
	close(fd);
	refuse_damaged(name, "data shorter than the record says");
}

Test(seg_find, refuses_metadata_of_another_zone_layout_or_name_with_ebadmsg)
{
	char name[SJMP_NAME_MAX + 1];
	struct sjmp__seg_meta m;

	damaged_segment(api_name(name, "foreign"));
	int fd = seg_file(name, "meta", O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &m, sizeof(m), 0), (ssize_t)sizeof(m));
	struct sjmp__seg_meta good = m;
	/* A well-formed record (valid checksum) from another zone layout. */
	m.zone_base = 0x100000000000UL;
	sjmp__seg_meta_seal(&m);
	cr_assert_eq(pwrite(fd, &m, sizeof(m), 0), (ssize_t)sizeof(m));
	refuse_damaged(name, "another zone");
	/* A well-formed record of another segment (copied directory). */
	m = good;
	snprintf(m.name, sizeof(m.name), "someone-else");
	sjmp__seg_meta_seal(&m);
	cr_assert_eq(pwrite(fd, &m, sizeof(m), 0), (ssize_t)sizeof(m));
	refuse_damaged(name, "another name");
	/* Another format version. */
	m = good;
	m.version = good.version + 1; /* seal would reset it: checksum by hand */
	m.checksum = XXH64(&m, offsetof(struct sjmp__seg_meta, checksum), 0);
	cr_assert_eq(pwrite(fd, &m, sizeof(m), 0), (ssize_t)sizeof(m));
	refuse_damaged(name, "another version");
	/* And the original is accepted again. */
	cr_assert_eq(pwrite(fd, &good, sizeof(good), 0), (ssize_t)sizeof(good));
	close(fd);
	cr_expect_geq(sjmp_seg_find(name), 1);
}

/* ---- sjmp_seg_attach / sjmp_seg_detach (one instance) ---- */

Test(seg_attach, maps_into_the_current_vas_at_once_and_detach_unmaps)
{
	char name[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(name, "att"), 1, 2 * API_PAGE, API_RW, 0600);
	cr_expect_not(api_probe(API_BASE(1), false), "mapped before attach");
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), 0);
	cr_expect(api_probe(API_BASE(1), true));
	cr_expect(api_probe(API_BASE(1) + 2 * API_PAGE - 1, true));
	*(volatile uint64_t *)(API_BASE(1) + API_PAGE) = 0xfeedULL;
	if (api_maps_show_vas()) {
		char perms[8];
		api_maps_perms(API_BASE(1), perms);
		cr_expect_str_eq(perms, "rw-s");
	}
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), 0);
	cr_expect_not(api_probe(API_BASE(1), false), "still mapped after detach");
	api_assert_zone_clean();
	cr_expect_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), -ENOENT);
	/* The bytes are in the segment, not in the mapping. */
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
	cr_expect_eq(*(volatile uint64_t *)(API_BASE(1) + API_PAGE), 0xfeedULL);
	cr_expect_not(api_probe(API_BASE(1), true), "a read-only attach must not be writable");
}

Test(seg_attach, refuses_attaching_twice_with_eexist)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(name, "twice"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(NULL, 0, 0);
	sjmp_vh_t vh = api_attach(vid);
	cr_assert_eq(sjmp_seg_attach(vh, sid, API_RW), 0);
	cr_expect_eq(sjmp_seg_attach(vh, sid, SJMP_READ), -EEXIST);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), -EEXIST);
	/* The failed attach did not change the existing one's protection. */
	cr_expect(api_probe(API_BASE(1), false));
	cr_expect_not(api_probe(API_BASE(1), true));
}

Test(seg_attach, refuses_an_overlapping_segment_with_eaddrinuse_and_maps_nothing)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sa = api_seg(api_name(a, "ovl-a"), 1, 4 * API_PAGE, API_RW, 0600);
	sjmp_sid_t sb = sjmp_seg_alloc(api_name(b, "ovl-b"), API_BASE(1) + 3 * API_PAGE,
	                               4 * API_PAGE, API_RW, 0600);
	cr_assert_geq(sb, 1);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sa, API_RW), 0);
	*(volatile uint64_t *)(API_BASE(1) + 3 * API_PAGE) = 77;
	char before[4096], after[4096];
	api_zone_maps(before, sizeof(before));
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, sb, API_RW), -EADDRINUSE);
	cr_expect_not_null(strstr(api_log_last, "EADDRINUSE"), "%s", api_log_last);
	api_zone_maps(after, sizeof(after));
	cr_expect_str_eq(after, before, "a failed attach changed the mappings");
	cr_expect_eq(*(volatile uint64_t *)(API_BASE(1) + 3 * API_PAGE), 77,
	             "the attached segment's bytes were replaced");
	cr_expect(api_probe(API_BASE(1) + 6 * API_PAGE, false) == false,
	          "the overlapping segment's tail got mapped");
	/* The same in a VAS that is not current. */
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, 0, 0));
	cr_assert_eq(sjmp_seg_attach(vh, sb, SJMP_READ), 0);
	cr_expect_eq(sjmp_seg_attach(vh, sa, SJMP_READ), -EADDRINUSE);
	cr_expect_eq(sjmp_seg_detach(vh, sa), -ENOENT, "nothing was attached");
}

Test(seg_attach, refuses_prot_beyond_the_segment_flags_with_eacces)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(name, "ro"), 1, API_PAGE, SJMP_READ, 0600);
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), -EACCES);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ | SJMP_EXEC), -EACCES);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, 0), -EACCES, "no access at all");
	api_assert_zone_clean();
	cr_expect_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), -ENOENT);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
}

Test(seg_attach, refuses_bad_handles_with_ebadf)
{
	char name[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_sid_t sid = api_seg(api_name(name, "badf"), 1, API_PAGE, API_RW, 0600);
	cr_expect_eq(sjmp_seg_attach(77, sid, API_RW), -EBADF, "never-attached vh");
	cr_expect_eq(sjmp_seg_attach(-1, sid, API_RW), -EBADF);
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, 99, API_RW), -EBADF, "bad sid");
	cr_expect_eq(sjmp_seg_attach(SJMP_PRIMARY, -3, API_RW), -EBADF);
	cr_expect_eq(sjmp_seg_detach(77, sid), -EBADF);
	cr_expect_eq(sjmp_seg_detach(SJMP_PRIMARY, 99), -EBADF);
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, 0, 0));
	cr_assert_eq(sjmp_vas_detach(vh), 0);
	cr_expect_eq(sjmp_seg_attach(vh, sid, API_RW), -EBADF, "detached vh");
	api_assert_zone_clean();
}

Test(seg_attach, keeps_the_attachment_after_the_handle_is_closed)
{
	char name[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(name, "closed"), 1, API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), 0);
	cr_assert_eq(sjmp_seg_close(sid), 0);
	cr_expect(api_probe(API_BASE(1), true), "closing the handle unmapped the segment");
	cr_expect_eq(sjmp_seg_base(sid), NULL);
}

/* ---- sjmp_seg_attach_global / sjmp_seg_detach_global ---- */

Test(seg_global, adds_and_removes_a_segment_of_a_vas_object)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info segs[4];
	struct sjmp_vas_segs q = {segs, 4, 0};

	sjmp_sid_t sid = api_seg(api_name(s, "glob"), 2, 2 * API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "globvas"), sid, SJMP_READ);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	cr_assert_eq(q.count, 1u);
	cr_expect_str_eq(segs[0].name, s);
	cr_expect_eq(segs[0].base, API_BASE(2));
	cr_expect_eq(segs[0].size, 2 * API_PAGE);
	cr_expect_eq(segs[0].flags, (unsigned)SJMP_READ);
	/* An instance maps it read-only as asked. */
	sjmp_vh_t vh = api_attach(vid);
	api_switch(vh);
	cr_expect(api_probe(API_BASE(2), false));
	cr_expect_not(api_probe(API_BASE(2), true));
	api_switch(SJMP_PRIMARY);
	cr_expect_eq(sjmp_seg_detach_global(vid, sid), 0);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 0u);
	cr_expect_eq(sjmp_seg_detach_global(vid, sid), -ENOENT);
	/* The attached instance drops it too. */
	api_switch(vh);
	cr_expect_not(api_probe(API_BASE(2), false), "a globally detached segment stays mapped");
	api_switch(SJMP_PRIMARY);
}

/* Runs the global attach errors against @vid (named or unnamed). */
static void global_errors(sjmp_vid_t vid, bool named)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1], c[SJMP_NAME_MAX + 1];

	snprintf(a, sizeof(a), "ga-%d-%d", named, (int)getpid());
	snprintf(b, sizeof(b), "gb-%d-%d", named, (int)getpid());
	snprintf(c, sizeof(c), "gc-%d-%d", named, (int)getpid());
	sjmp_sid_t sa = api_seg(a, 1, 4 * API_PAGE, API_RW, 0600);
	sjmp_sid_t sb = sjmp_seg_alloc(b, API_BASE(1) + 2 * API_PAGE, 4 * API_PAGE, API_RW, 0600);
	sjmp_sid_t sc = api_seg(c, 3, API_PAGE, SJMP_READ, 0600);
	cr_assert_geq(sb, 1);
	cr_assert_eq(sjmp_seg_attach_global(vid, sa, API_RW), 0);
	char *before = api_dir_snapshot();
	struct sjmp_vas_segs q = {NULL, 0, 0};
	cr_expect_eq(sjmp_seg_attach_global(vid, sa, SJMP_READ), -EEXIST);
	cr_expect_eq(sjmp_seg_attach_global(vid, sb, API_RW), -EADDRINUSE);
	cr_expect_eq(sjmp_seg_attach_global(vid, sc, API_RW), -EACCES, "write on a RO segment");
	cr_expect_eq(sjmp_seg_attach_global(vid, sc, 0), -EACCES, "no access at all");
	cr_expect_eq(sjmp_seg_attach_global(vid, 999, SJMP_READ), -EBADF);
	cr_expect_eq(sjmp_seg_attach_global(999, sa, SJMP_READ), -EBADF);
	cr_expect_eq(sjmp_seg_detach_global(vid, sc), -ENOENT);
	cr_expect_eq(sjmp_seg_detach_global(vid, 999), -EBADF);
	cr_expect_eq(sjmp_seg_detach_global(999, sa), -EBADF);
	api_assert_dir_unchanged(before);
	cr_assert_eq(sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q), 0);
	cr_expect_eq(q.count, 1u, "a failed global attach changed the VAS");
}

Test(seg_global, reports_errors_on_a_named_vas_and_changes_nothing)
{
	char v[SJMP_NAME_MAX + 1];

	api_capture_log();
	global_errors(api_vas_with(api_name(v, "gerr"), 0, 0), true);
}

Test(seg_global, reports_errors_on_an_unnamed_vas_and_changes_nothing)
{
	api_capture_log();
	global_errors(api_vas_with(NULL, 0, 0), false);
}

Test(seg_global, refuses_an_unnamed_segment_in_a_named_vas_with_einval)
{
	char v[SJMP_NAME_MAX + 1];

	api_capture_log();
	sjmp_vid_t vid = api_vas_with(api_name(v, "unn"), 0, 0);
	sjmp_sid_t sid = api_seg(NULL, 1, API_PAGE, API_RW, 0600);
	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_seg_attach_global(vid, sid, API_RW), -EINVAL);
	api_assert_dir_unchanged(before);
	/* An unnamed VAS takes it. */
	cr_expect_eq(sjmp_seg_attach_global(api_vas_with(NULL, 0, 0), sid, API_RW), 0);
}

/* ---- close, delete, list, ctl, sync, base, clone ---- */

Test(seg_misc, close_refuses_bad_handles_with_ebadf)
{
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_eq(sjmp_seg_close(0), -EBADF);
	cr_expect_eq(sjmp_seg_close(5), -EBADF);
	cr_expect_eq(sjmp_seg_close(-1), -EBADF);
	cr_expect_eq(sjmp_seg_close(1 << 20), -EBADF);
}

Test(seg_misc, delete_frees_the_name_at_once)
{
	char name[SJMP_NAME_MAX + 1];

	cr_assert_eq(sjmp_init(), 0);
	char *before = api_dir_snapshot();
	sjmp_sid_t sid = api_seg(api_name(name, "del"), 1, API_PAGE, API_RW, 0600);
	cr_expect_eq(sjmp_seg_delete(name), 0);
	cr_expect_eq(sjmp_seg_find(name), -ENOENT);
	cr_expect_eq(sjmp_seg_delete(name), -ENOENT);
	cr_expect_eq(sjmp_seg_list(NULL, 0), 0);
	sjmp_seg_close(sid);
	api_assert_dir_unchanged(before);
	/* The name can be reused right away, at another base. */
	sid = api_seg(name, 2, API_PAGE, API_RW, 0600);
	cr_expect_eq(sjmp_seg_base(sid), (void *)API_BASE(2));
}

Test(seg_misc, list_reports_every_named_segment)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info out[4];

	umask(022);
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_eq(sjmp_seg_list(NULL, 0), 0);
	api_seg(api_name(a, "list-a"), 1, API_PAGE, API_RW, 0640);
	api_seg(api_name(b, "list-b"), 2, 2 * API_PAGE, SJMP_READ | SJMP_SEG_LOCKABLE, 0600);
	api_seg(NULL, 3, API_PAGE, API_RW, 0600);
	cr_expect_eq(sjmp_seg_list(NULL, 0), 2);
	cr_expect_eq(sjmp_seg_list(out, 1), 2, "the total even when cap is smaller");
	cr_assert_eq(sjmp_seg_list(out, 4), 2);
	int ia = !strcmp(out[0].name, a) ? 0 : 1, ib = 1 - ia;
	cr_expect_str_eq(out[ia].name, a);
	cr_expect_str_eq(out[ib].name, b);
	cr_expect_eq(out[ia].base, API_BASE(1));
	cr_expect_eq(out[ia].size, API_PAGE);
	cr_expect_eq(out[ia].flags, (unsigned)API_RW);
	cr_expect_eq(out[ia].mode, 0640);
	cr_expect_eq(out[ib].base, API_BASE(2));
	cr_expect_eq(out[ib].size, 2 * API_PAGE);
	cr_expect_eq(out[ib].flags, (unsigned)(SJMP_READ | SJMP_SEG_LOCKABLE));
	cr_expect_eq(out[ib].mode, 0600);
	cr_expect_eq(out[ib].uid, getuid());
}

Test(seg_misc, ctl_stat_chmod_and_errors)
{
	char name[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info info;
	mode_t m = 0640;

	api_capture_log();
	umask(022);
	sjmp_sid_t sid = api_seg(api_name(name, "ctl"), 1, API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_ctl(sid, SJMP_SEG_CHMOD, &m), 0);
	cr_assert_eq(sjmp_seg_ctl(sid, SJMP_SEG_STAT, &info), 0);
	cr_expect_eq(info.mode, 0640);
	/* Every file follows: data as asked, meta read-only, lock writable by readers. */
	char path[PATH_MAX + 128];
	struct stat st;
	snprintf(path, sizeof(path), "%s/seg/%s/data", api_dir, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0640);
	snprintf(path, sizeof(path), "%s/seg/%s/meta", api_dir, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0222, 0, "meta must not be writable");
	cr_expect_eq(st.st_mode & 0040, 0040, "meta must be readable by the group");
	snprintf(path, sizeof(path), "%s/seg/%s/lock", api_dir, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0060, 0060, "the group may take the lock");
	cr_expect_eq(sjmp_seg_list(&info, 1), 1);
	cr_expect_eq(info.mode, 0640);

	m = 01777;
	cr_expect_eq(sjmp_seg_ctl(sid, SJMP_SEG_CHMOD, &m), -EINVAL);
	cr_expect_eq(sjmp_seg_ctl(sid, 42, &info), -EINVAL, "unknown command");
	cr_expect_eq(sjmp_seg_ctl(sid, SJMP_SEG_STAT, NULL), -EINVAL);
	cr_expect_eq(sjmp_seg_ctl(99, SJMP_SEG_STAT, &info), -EBADF);
	cr_assert_eq(sjmp_seg_ctl(sid, SJMP_SEG_STAT, &info), 0);
	cr_expect_eq(info.mode, 0640, "a failed chmod changed the mode");
}

Test(seg_misc, sync_makes_the_data_reach_the_file)
{
	char name[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(name, "sync"), 1, 2 * API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), 0);
	memcpy((void *)(API_BASE(1) + API_PAGE), "durable", 8);
	cr_expect_eq(sjmp_seg_sync(sid), 0);
	int fd = seg_file(name, "data", O_RDONLY);
	char buf[8] = "";
	cr_assert_eq(pread(fd, buf, 8, API_PAGE), 8);
	close(fd);
	cr_expect_str_eq(buf, "durable");
	cr_expect_eq(sjmp_seg_sync(99), -EBADF);
	/* Unmapped segments sync too. */
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), 0);
	cr_expect_eq(sjmp_seg_sync(sid), 0);
}

Test(seg_misc, base_is_null_for_a_bad_handle)
{
	cr_assert_eq(sjmp_init(), 0);
	cr_expect_null(sjmp_seg_base(0));
	cr_expect_null(sjmp_seg_base(12));
	sjmp_sid_t sid = api_seg(NULL, 7, API_PAGE, API_RW, 0600);
	cr_expect_eq(sjmp_seg_base(sid), (void *)API_BASE(7));
}

Test(seg_misc, clone_copies_the_bytes_at_the_same_base)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];
	struct sjmp_seg_info ia, ib;

	api_capture_log();
	umask(022);
	sjmp_sid_t src =
	    api_seg(api_name(a, "orig"), 1, 2 * API_PAGE, API_RW | SJMP_SEG_LOCKABLE, 0600);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, src, API_RW), 0);
	char *str = sjmp_seg_malloc(src, 32);
	cr_assert_not_null(str);
	strcpy(str, "original bytes");
	cr_assert_eq(sjmp_seg_root_set(src, str), 0);
	sjmp_sid_t dst = sjmp_seg_clone(src, api_name(b, "copy"), 0640);
	cr_assert_geq(dst, 1, "%s", sjmp_strerror(dst));
	cr_assert_eq(sjmp_seg_ctl(src, SJMP_SEG_STAT, &ia), 0);
	cr_assert_eq(sjmp_seg_ctl(dst, SJMP_SEG_STAT, &ib), 0);
	cr_expect_str_eq(ib.name, b);
	cr_expect_eq(ib.base, ia.base);
	cr_expect_eq(ib.size, ia.size);
	cr_expect_eq(ib.flags, ia.flags);
	cr_expect_eq(ib.mode, 0640);
	/* Modify the original, then look at the copy in its place. */
	strcpy(str, "changed after");
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, src), 0);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, dst, API_RW), 0);
	cr_expect_str_eq(str, "original bytes");
	cr_expect_eq(sjmp_seg_root_get(dst), str);
	struct sjmp_heap_stats hs;
	cr_expect_eq(sjmp_seg_heap_check(dst, &hs), 0);
	cr_expect_eq(hs.used_blocks, 1u, "the copy has the original's allocation");
	sjmp_seg_free(dst, str);
	cr_expect_eq(sjmp_seg_heap_check(dst, &hs), 0);
	cr_expect_eq(hs.used_blocks, 0u);

	char *before = api_dir_snapshot();
	cr_expect_eq(sjmp_seg_clone(src, b, 0600), -EEXIST);
	cr_expect_eq(sjmp_seg_clone(src, ".bad", 0600), -EINVAL);
	cr_expect_eq(sjmp_seg_clone(src, "ok-name", 07777), -EINVAL);
	cr_expect_eq(sjmp_seg_clone(99, "ok-name", 0600), -EBADF);
	api_assert_dir_unchanged(before);
	sjmp_sid_t anon = sjmp_seg_clone(src, NULL, 0600);
	cr_assert_geq(anon, 1);
	cr_assert_eq(sjmp_seg_ctl(anon, SJMP_SEG_STAT, &ib), 0);
	cr_expect_str_eq(ib.name, "");
	cr_expect_eq(sjmp_seg_list(NULL, 0), 2, "an unnamed clone has no name in SJMP_DIR");
}
