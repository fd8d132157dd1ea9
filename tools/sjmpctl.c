/* SPDX-License-Identifier: MIT */
/*
 * sjmpctl - inspect and manage sjmp's named objects.
 *
 *   sjmpctl info                 backend, capabilities, SJMP_DIR (and whether its files get
 *                                2 MiB pages), segment zone
 *   sjmpctl ls                   every named VAS and segment
 *   sjmpctl show VAS             the segments of one VAS
 *   sjmpctl check SEGMENT        attach read-only and verify the segment's heap
 *   sjmpctl rm-vas NAME...       delete VASes
 *   sjmpctl rm-seg NAME...       delete segments
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sjmp.h>

#include "large_pages.h"

static void usage(FILE *f)
{
	fputs("usage: sjmpctl info | ls | show VAS | check SEGMENT | rm-vas NAME... | "
	      "rm-seg NAME...\n",
	      f);
}

static void prot_str(unsigned f, char out[8])
{
	snprintf(out, 8, "%c%c%c%s", f & SJMP_READ || f & SJMP_WRITE ? 'r' : '-',
	         f & SJMP_WRITE ? 'w' : '-', f & SJMP_EXEC ? 'x' : '-',
	         f & SJMP_SEG_LOCKABLE ? "L" : "");
}

static int info(void)
{
	int r = sjmp_init();
	if (r < 0) {
		fprintf(stderr, "sjmpctl: sjmp_init: %s\n", sjmp_strerror(r));
		return 1;
	}
	unsigned c = sjmp_caps();
	printf("backend: %s\n", sjmp_backend_name());
	printf("per-thread VAS: %s\n", c & SJMP_CAP_PER_THREAD_VAS ? "yes" : "no");
	printf("PCID: %s\n", c & SJMP_CAP_PCID ? "yes" : "no");
	printf("switch without system call: %s\n", c & SJMP_CAP_NO_SYSCALL_SWITCH ? "yes" : "no");
	printf("SJMP_DIR: %s\n", sjmp_dir());
	char why[256];
	int lp = large_pages_in(sjmp_dir(), why, sizeof(why));
	if (lp < 0)
		printf("2 MiB pages for segment files: unknown (%s)\n", strerror(-lp));
	else
		printf("2 MiB pages for segment files: %s (%s)\n", lp ? "yes" : "no", why);
	printf("segment zone: [%#lx, %#lx)\n", SJMP_ZONE_BASE, SJMP_ZONE_BASE + SJMP_ZONE_SIZE);
	return 0;
}

static int ls(void)
{
	int nv = sjmp_vas_list(NULL, 0), ns = sjmp_seg_list(NULL, 0);
	if (nv < 0 || ns < 0) {
		fprintf(stderr, "sjmpctl: listing: %s\n", sjmp_strerror(nv < 0 ? nv : ns));
		return 1;
	}
	struct sjmp_vas_info *v = calloc((size_t)nv + 1, sizeof(*v));
	struct sjmp_seg_info *s = calloc((size_t)ns + 1, sizeof(*s));
	nv = sjmp_vas_list(v, (unsigned)nv);
	ns = sjmp_seg_list(s, (unsigned)ns);
	printf("%-4s %-32s %-6s %-6s %-6s %-18s %s\n", "kind", "name", "mode", "uid", "prot",
	       "base", "size/segments");
	for (int i = 0; i < nv; i++)
		printf("%-4s %-32s %04o   %-6u %-6s %-18s %u\n", "vas", v[i].name,
		       (unsigned)v[i].mode, (unsigned)v[i].uid, "", "", v[i].nsegs);
	for (int i = 0; i < ns; i++) {
		char p[8];
		prot_str(s[i].flags, p);
		printf("%-4s %-32s %04o   %-6u %-6s %#-18lx %zu\n", "seg", s[i].name,
		       (unsigned)s[i].mode, (unsigned)s[i].uid, p, (unsigned long)s[i].base,
		       s[i].size);
	}
	free(v);
	free(s);
	return 0;
}

static int show(const char *name)
{
	sjmp_vid_t vid = sjmp_vas_find(name);
	if (vid < 0) {
		fprintf(stderr, "sjmpctl: vas_find(\"%s\"): %s\n", name, sjmp_strerror(vid));
		return 1;
	}
	struct sjmp_vas_segs q = {0};
	sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q);
	q.segs = calloc(q.count + 1, sizeof(*q.segs));
	q.cap = q.count;
	int r = sjmp_vas_ctl(vid, SJMP_VAS_SEGS, &q);
	if (r < 0) {
		fprintf(stderr, "sjmpctl: vas_ctl(\"%s\"): %s\n", name, sjmp_strerror(r));
		return 1;
	}
	printf("VAS %s: %u segment(s)\n", name, q.count);
	for (unsigned i = 0; i < q.count && i < q.cap; i++) {
		char p[8];
		prot_str(q.segs[i].flags, p);
		printf("  %-32s %-4s [%#lx, %#lx)\n", q.segs[i].name, p,
		       (unsigned long)q.segs[i].base,
		       (unsigned long)(q.segs[i].base + q.segs[i].size));
	}
	free(q.segs);
	return 0;
}

static int check(const char *name)
{
	sjmp_sid_t sid = sjmp_seg_find(name);
	if (sid < 0) {
		fprintf(stderr, "sjmpctl: seg_find(\"%s\"): %s\n", name, sjmp_strerror(sid));
		return 1;
	}
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	sjmp_vh_t vh = vid < 0 ? vid : sjmp_vas_attach(vid);
	int r = vh < 0 ? vh : sjmp_seg_attach(vh, sid, SJMP_READ);
	if (r == 0)
		r = sjmp_vas_switch(vh);
	struct sjmp_heap_stats st;
	if (r == 0)
		r = sjmp_seg_heap_check(sid, &st);
	sjmp_vas_switch(SJMP_PRIMARY);
	if (r < 0) {
		fprintf(stderr, "sjmpctl: check \"%s\": %s\n", name, sjmp_strerror(r));
		return 1;
	}
	printf("segment %s: heap clean: %zu bytes, %zu used in %zu blocks, %zu free in %zu "
	       "blocks\n",
	       name, st.heap_bytes, st.used_bytes, st.used_blocks, st.free_bytes, st.free_blocks);
	return 0;
}

static int rm(int (*del)(const char *), const char *what, int n, char **names)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int r = del(names[i]);
		if (r < 0) {
			fprintf(stderr, "sjmpctl: deleting %s \"%s\": %s\n", what, names[i],
			        sjmp_strerror(r));
			bad = 1;
		}
	}
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "info"))
		return info();
	if (!strcmp(cmd, "ls"))
		return ls();
	if (!strcmp(cmd, "show") && argc == 3)
		return show(argv[2]);
	if (!strcmp(cmd, "check") && argc == 3)
		return check(argv[2]);
	if (!strcmp(cmd, "rm-vas") && argc >= 3)
		return rm(sjmp_vas_delete, "VAS", argc - 2, argv + 2);
	if (!strcmp(cmd, "rm-seg") && argc >= 3)
		return rm(sjmp_seg_delete, "segment", argc - 2, argv + 2);
	usage(stderr);
	return 2;
}
