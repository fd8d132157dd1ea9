/* SPDX-License-Identifier: MIT */
/*
 * mixed_backend_helper - one process of tests/integration/kvm_mixed_test.c, on whichever backend
 * SJMP_BACKEND names. Commands (NAME is a VAS; its first segment is NAME-s1, at BASE1):
 *   create NAME TEXT       make VAS NAME with segment NAME-s1 and write TEXT into it
 *   check NAME TEXT WRITE  switch in, print "match=1" if the segment holds TEXT, then write WRITE
 *   add NAME TEXT          make segment NAME-s2 at BASE2 holding TEXT and attach it globally
 *   wait NAME              attach, print "attached", wait for the file SJMP_DIR/NAME.go, switch
 *                          in again and print the text found in NAME-s2 as "s2=TEXT"
 * Every command prints "backend=NAME" first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sjmp.h"

#define BASE1   (SJMP_ZONE_BASE + (32UL << 30))
#define BASE2   (SJMP_ZONE_BASE + (33UL << 30))
#define SIZE    (1UL << 20)
#define TEXT_AT 8192 /* past the segment header */

static int fail(const char *what, int r)
{
	printf("error=%s:%s\n", what, sjmp_strerror(r));
	return 1;
}

static int seg_with_text(const char *name, uintptr_t base, const char *text, sjmp_sid_t *out)
{
	sjmp_sid_t sid = sjmp_seg_alloc(name, base, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	if (sid < 0)
		return sid;
	/* Write through an instance of our own, on either backend. */
	sjmp_vid_t tmp = sjmp_vas_create(NULL, 0600);
	sjmp_vh_t vh = tmp < 0 ? tmp : sjmp_vas_attach(tmp);
	int r = vh < 0 ? vh : sjmp_seg_attach(vh, sid, SJMP_READ | SJMP_WRITE);
	if (r == 0)
		r = sjmp_vas_switch(vh);
	if (r == 0)
		strcpy((char *)base + TEXT_AT, text);
	sjmp_vas_switch(SJMP_PRIMARY);
	if (vh >= 0)
		sjmp_vas_detach(vh);
	*out = sid;
	return r;
}

static sjmp_vh_t enter(const char *vas)
{
	sjmp_vid_t vid = sjmp_vas_find(vas);
	sjmp_vh_t vh = vid < 0 ? vid : sjmp_vas_attach(vid);
	if (vh < 0)
		return vh;
	int r = sjmp_vas_switch(vh);
	return r < 0 ? r : vh;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 64;
	int r = sjmp_init();
	printf("backend=%s\n", sjmp_backend_name());
	if (r < 0)
		return fail("init", r);
	const char *cmd = argv[1], *vas = argv[2];
	char s1[80], s2[80];
	snprintf(s1, sizeof(s1), "%s-s1", vas);
	snprintf(s2, sizeof(s2), "%s-s2", vas);
	sjmp_sid_t sid;
	if (!strcmp(cmd, "create") && argc == 4) {
		sjmp_vid_t vid = sjmp_vas_create(vas, 0600);
		if (vid < 0)
			return fail("vas_create", vid);
		if ((r = seg_with_text(s1, BASE1, argv[3], &sid)) < 0)
			return fail("segment", r);
		if ((r = sjmp_seg_attach_global(vid, sid, SJMP_READ | SJMP_WRITE)) < 0)
			return fail("attach_global", r);
		return 0;
	}
	if (!strcmp(cmd, "check") && argc == 5) {
		sjmp_vh_t vh = enter(vas);
		if (vh < 0)
			return fail("enter", vh);
		char *text = (char *)BASE1 + TEXT_AT;
		printf("match=%d\n", strcmp(text, argv[3]) == 0);
		strcpy(text, argv[4]);
		return sjmp_vas_switch(SJMP_PRIMARY) < 0;
	}
	if (!strcmp(cmd, "add") && argc == 4) {
		sjmp_vid_t vid = sjmp_vas_find(vas);
		if (vid < 0)
			return fail("vas_find", vid);
		if ((r = seg_with_text(s2, BASE2, argv[3], &sid)) < 0)
			return fail("segment", r);
		if ((r = sjmp_seg_attach_global(vid, sid, SJMP_READ)) < 0)
			return fail("attach_global", r);
		return 0;
	}
	if (!strcmp(cmd, "wait")) {
		sjmp_vh_t vh = enter(vas);
		if (vh < 0)
			return fail("enter", vh);
		sjmp_vas_switch(SJMP_PRIMARY);
		printf("attached\n");
		fflush(stdout);
		char go[4200];
		snprintf(go, sizeof(go), "%s/%s.go", sjmp_dir(), vas);
		for (int i = 0; i < 2000 && access(go, F_OK) != 0; i++)
			usleep(10000);
		if ((r = sjmp_vas_switch(vh)) < 0)
			return fail("switch", r);
		printf("s2=%s\n", (char *)BASE2 + TEXT_AT);
		return sjmp_vas_switch(SJMP_PRIMARY) < 0;
	}
	return 64;
}
