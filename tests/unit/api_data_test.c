/* SPDX-License-Identifier: MIT */
/*
 * Segment data through the public API: bytes written in a VAS are there after switching out and
 * back, in another process, after detach and re-attach; two VASes can map two segments at the
 * same address; a deleted segment lives until detached; unnamed objects die with their last
 * handle and attachment.
 */
#include <dirent.h>

#include "api_util.h"

TestSuite(data, .init = api_setup, .fini = api_teardown, .timeout = 20);

#define MAGIC1 0x5350414345314a4dULL
#define MAGIC2 0x5350414345324a4dULL

static volatile uint64_t *word(int slot, size_t off)
{
	return (volatile uint64_t *)(API_BASE(slot) + off);
}

Test(data, survives_switching_out_and_back)
{
	char s[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(s, "sw"), 1, 4 * API_PAGE, API_RW, 0600);
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, sid, API_RW));
	api_switch(vh);
	*word(1, 3 * API_PAGE) = MAGIC1;
	api_switch(SJMP_PRIMARY);
	cr_expect_not(api_probe(API_BASE(1) + 3 * API_PAGE, false));
	api_switch(vh);
	cr_expect_eq(*word(1, 3 * API_PAGE), MAGIC1);
	api_switch(SJMP_PRIMARY);
}

Test(data, is_seen_by_another_process)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(s, "xproc"), 1, 2 * API_PAGE, API_RW, 0600);
	sjmp_vh_t vh = api_attach(api_vas_with(api_name(v, "xproc-vas"), sid, API_RW));
	api_switch(vh);
	*word(1, 8) = MAGIC1;
	api_switch(SJMP_PRIMARY);

	pid_t pid = api_fork();
	if (pid == 0) {
		/* A fresh find, attach and switch: read, then write for the parent. */
		sjmp_vid_t vid = sjmp_vas_find(v);
		sjmp_vh_t cvh = vid < 0 ? vid : sjmp_vas_attach(vid);
		if (cvh < 0 || sjmp_vas_switch(cvh) < 0)
			_exit(10);
		if (*word(1, 8) != MAGIC1)
			_exit(11);
		*word(1, API_PAGE) = MAGIC2;
		sjmp_vas_switch(SJMP_PRIMARY);
		_exit(0);
	}
	cr_assert_eq(api_reap(pid), 0, "the child did not see the parent's bytes");
	api_switch(vh);
	cr_expect_eq(*word(1, API_PAGE), MAGIC2, "the parent did not see the child's bytes");
	api_switch(SJMP_PRIMARY);
}

Test(data, survives_detach_and_reattach)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(s, "reatt"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "reatt-vas"), sid, API_RW);
	sjmp_vh_t vh = api_attach(vid);
	api_switch(vh);
	*word(1, 64) = MAGIC1;
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_vas_detach(vh), 0);
	cr_assert_eq(sjmp_vas_close(vid), 0);
	cr_assert_eq(sjmp_seg_close(sid), 0);
	api_assert_zone_clean();

	vh = api_attach(sjmp_vas_find(v));
	api_switch(vh);
	cr_expect_eq(*word(1, 64), MAGIC1);
	api_switch(SJMP_PRIMARY);
	/* Instance attach and detach too. */
	sid = sjmp_seg_find(s);
	cr_assert_geq(sid, 1);
	sjmp_vh_t other = api_attach(api_vas_with(NULL, 0, 0));
	cr_assert_eq(sjmp_seg_attach(other, sid, SJMP_READ), 0);
	cr_assert_eq(sjmp_seg_detach(other, sid), 0);
	cr_assert_eq(sjmp_seg_attach(other, sid, SJMP_READ), 0);
	api_switch(other);
	cr_expect_eq(*word(1, 64), MAGIC1);
	api_switch(SJMP_PRIMARY);
}

Test(data, two_vases_map_two_segments_at_the_same_address)
{
	char a[SJMP_NAME_MAX + 1], b[SJMP_NAME_MAX + 1];

	sjmp_sid_t sa = api_seg(api_name(a, "same-a"), 1, 2 * API_PAGE, API_RW, 0600);
	sjmp_sid_t sb = api_seg(api_name(b, "same-b"), 1, 2 * API_PAGE, API_RW, 0600);
	sjmp_vh_t va = api_attach(api_vas_with(NULL, sa, API_RW));
	sjmp_vh_t vb = api_attach(api_vas_with(NULL, sb, API_RW));
	volatile uint64_t *p = word(1, API_PAGE);
	api_switch(va);
	*p = MAGIC1;
	api_switch(vb);
	cr_expect_neq(*p, MAGIC1, "VAS b sees VAS a's segment");
	*p = MAGIC2;
	api_switch(va);
	cr_expect_eq(*p, MAGIC1);
	api_switch(vb);
	cr_expect_eq(*p, MAGIC2);
	/* Directly from one non-primary VAS to another, many times. */
	for (int i = 0; i < 100; i++) {
		api_switch(i % 2 ? vb : va);
		cr_assert_eq(*p, i % 2 ? MAGIC2 : MAGIC1, "round %d", i);
	}
	api_switch(SJMP_PRIMARY);
	api_assert_zone_clean();
}

Test(data, deleted_segment_stays_usable_until_detached)
{
	char s[SJMP_NAME_MAX + 1];

	sjmp_sid_t sid = api_seg(api_name(s, "gone"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(NULL, sid, API_RW);
	sjmp_vh_t vh = api_attach(vid);
	api_switch(vh);
	*word(1, 128) = MAGIC1;
	cr_assert_eq(sjmp_seg_delete(s), 0);
	cr_expect_eq(sjmp_seg_find(s), -ENOENT);
	cr_expect_eq(*word(1, 128), MAGIC1);
	*word(1, 136) = MAGIC2;
	api_switch(SJMP_PRIMARY);
	api_switch(vh);
	cr_expect_eq(*word(1, 128), MAGIC1, "lost across a switch after delete");
	cr_expect_eq(*word(1, 136), MAGIC2);
	cr_expect(api_probe(API_BASE(1), true));
	/* A new segment may take the name meanwhile. */
	sjmp_sid_t fresh = api_seg(s, 1, API_PAGE, API_RW, 0600);
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_seg_detach_global(vid, sid), 0);
	api_switch(vh);
	cr_expect_not(api_probe(API_BASE(1), false), "mapped after the global detach");
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, fresh, API_RW), 0);
	cr_expect_neq(*word(1, 128), MAGIC1, "the new segment has the old one's bytes");
}

/* Entries of /proc/self/fd that point at a deleted file under the private SJMP_DIR. */
static int deleted_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		char link[PATH_MAX + 32], target[PATH_MAX + 32];
		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		if (!strncmp(target, api_dir, strlen(api_dir)) && strstr(target, "(deleted)"))
			n++;
	}
	closedir(d);
	return n;
}

/* Lines of /proc/self/maps naming a file under the private SJMP_DIR's seg/ (segment data). */
static int data_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 256], seg[PATH_MAX + 8];
	int n = 0;

	snprintf(seg, sizeof(seg), "%s/seg/", api_dir);
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, seg) && strstr(line, "/data"))
			n++;
	fclose(f);
	return n;
}

Test(data, unnamed_segment_is_freed_on_last_detach_then_close)
{
	cr_assert_eq(sjmp_init(), 0);
	int fds0 = deleted_fds();
	sjmp_sid_t sid = api_seg(NULL, 3, 4 * API_PAGE, API_RW, 0600);
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), 0);
	*word(3, 0x100) = MAGIC1;
	if (api_maps_show_vas())
		cr_expect_eq(data_mappings(), 1, "the unnamed segment's mapping");
	cr_expect_gt(deleted_fds(), fds0, "the unnamed segment lives as open files");
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), 0);
	cr_expect_not(api_probe(API_BASE(3), false), "still mapped after detach");
	cr_expect_gt(deleted_fds(), fds0, "freed while a handle is open");
	/* Still the same bytes while the handle lives. */
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, SJMP_READ), 0);
	cr_expect_eq(*word(3, 0x100), MAGIC1);
	cr_assert_eq(sjmp_seg_detach(SJMP_PRIMARY, sid), 0);
	cr_assert_eq(sjmp_seg_close(sid), 0);
	cr_expect_eq(deleted_fds(), fds0, "the last close did not free it");
	if (api_maps_show_vas())
		cr_expect_eq(data_mappings(), 0);
	api_assert_zone_clean();
}

Test(data, unnamed_segment_is_freed_on_close_then_last_detach)
{
	cr_assert_eq(sjmp_init(), 0);
	int fds0 = deleted_fds();
	sjmp_sid_t sid = api_seg(NULL, 2, 4 * API_PAGE, API_RW, 0600);
	sjmp_vh_t vh = api_attach(api_vas_with(NULL, 0, 0));
	cr_assert_eq(sjmp_seg_attach(vh, sid, API_RW), 0);
	cr_assert_eq(sjmp_seg_close(sid), 0);
	cr_expect_gt(deleted_fds(), fds0, "freed while attached");
	api_switch(vh);
	*word(2, 0x100) = MAGIC1;
	cr_expect_eq(*word(2, 0x100), MAGIC1);
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_vas_detach(vh), 0);
	cr_expect_eq(deleted_fds(), fds0, "the last detach did not free it");
	if (api_maps_show_vas())
		cr_expect_eq(data_mappings(), 0);
	api_assert_zone_clean();
}

Test(data, unnamed_vas_is_freed_on_last_close_and_detach)
{
	cr_assert_eq(sjmp_init(), 0);
	int fds0 = deleted_fds();
	sjmp_sid_t sid = api_seg(NULL, 4, 2 * API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(NULL, sid, API_RW);
	sjmp_vh_t vh = api_attach(vid);
	cr_assert_eq(sjmp_seg_close(sid), 0); /* only the VAS holds the segment now */
	api_switch(vh);
	*word(4, 0) = MAGIC2;
	if (api_maps_show_vas())
		cr_expect_eq(data_mappings(), 1);
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_vas_close(vid), 0);
	cr_expect_gt(deleted_fds(), fds0, "freed while still attached");
	api_switch(vh); /* the instance outlives the VAS handle */
	cr_expect_eq(*word(4, 0), MAGIC2);
	api_switch(SJMP_PRIMARY);
	cr_assert_eq(sjmp_vas_detach(vh), 0);
	cr_expect_eq(deleted_fds(), fds0, "the unnamed VAS's segment outlived it");
	if (api_maps_show_vas())
		cr_expect_eq(data_mappings(), 0);
	api_assert_zone_clean();
}

Test(data, global_attach_reaches_an_attached_process_at_its_next_switch)
{
	char s[SJMP_NAME_MAX + 1], v[SJMP_NAME_MAX + 1];
	int go[2], done[2];

	sjmp_sid_t sid = api_seg(api_name(s, "late"), 1, API_PAGE, API_RW, 0600);
	sjmp_vid_t vid = api_vas_with(api_name(v, "late-vas"), 0, 0);
	cr_assert_eq(pipe(go), 0);
	cr_assert_eq(pipe(done), 0);
	pid_t pid = api_fork();
	if (pid == 0) {
		sjmp_vh_t cvh = sjmp_vas_attach(sjmp_vas_find(v));
		if (cvh < 0)
			_exit(10);
		api_send(done[1], 'a'); /* attached, without the segment */
		if (api_recv(go[0], 5000) != 'g')
			_exit(11);
		if (sjmp_vas_switch(cvh) < 0)
			_exit(12);
		int r = *word(1, 0x800) == MAGIC1 ? 0 : 13;
		sjmp_vas_switch(SJMP_PRIMARY);
		_exit(r);
	}
	cr_assert_eq(api_recv(done[0], 5000), 'a');
	cr_assert_eq(sjmp_seg_attach(SJMP_PRIMARY, sid, API_RW), 0);
	*word(1, 0x800) = MAGIC1;
	cr_assert_eq(sjmp_seg_attach_global(vid, sid, API_RW), 0);
	api_send(go[1], 'g');
	cr_expect_eq(api_reap(pid), 0);
}
