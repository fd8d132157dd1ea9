/* SPDX-License-Identifier: MIT */
/*
 * store_sjmp.c - a SAM workflow's store as a SpaceJMP VAS (paper section 5.4): a named VAS
 * NAME whose segments NAME.s0, NAME.s1, ... lie back to back from SAM_STORE_BASE. The loader
 * creates them and switches into the VAS to build; each stage finds the VAS, attaches it,
 * switches in, reads the root pointer from segment 0's header, and switches back at the end.
 * Blocks come from the segments' own heaps (sjmp_seg_malloc); when the last segment is full
 * another is added after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sjmp.h>

#include "store.h"

#define SEG_MAX   256
#define SEG_GRAIN (2UL << 20)

struct sam_store {
	char name[SJMP_NAME_MAX + 1];
	sjmp_vid_t vid;
	sjmp_vh_t vh;
	unsigned nsegs;
	sjmp_sid_t sid[SEG_MAX];
	uintptr_t end;   /* first address after the last segment */
	size_t seg_size; /* size of segments added while building */
};

/* The store this process has open, for threads that must switch into it. */
static struct sam_store *current;

const char *store_kind(void)
{
	static char buf[32];
	sjmp_init();
	snprintf(buf, sizeof(buf), "sjmp:%s", sjmp_backend_name());
	return buf;
}

static int seg_name(const char *name, unsigned k, char *buf)
{
	if (snprintf(buf, SJMP_NAME_MAX + 1, "%s.s%u", name, k) > SJMP_NAME_MAX) {
		fprintf(stderr, "sjmp-sam: VAS name '%s' too long: at most %d bytes\n", name,
		        SJMP_NAME_MAX - 6);
		return -ENAMETOOLONG;
	}
	return 0;
}

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/* Add segment number s->nsegs of @size bytes after the last one, to the VAS object. */
static int add_segment(struct sam_store *s, size_t size)
{
	char sname[SJMP_NAME_MAX + 1];
	int err;
	if (s->nsegs == SEG_MAX) {
		fprintf(stderr, "sjmp-sam: VAS %s: more than %d segments needed\n", s->name,
		        SEG_MAX);
		return -ENOSPC;
	}
	if ((err = seg_name(s->name, s->nsegs, sname)))
		return err;
	sjmp_sid_t sid = sjmp_seg_alloc(sname, s->end, size, SJMP_READ | SJMP_WRITE, 0600);
	if (sid < 0) {
		fprintf(stderr, "sjmp-sam: sjmp_seg_alloc %s (%zu bytes at %#lx): %s%s\n", sname,
		        size, (unsigned long)s->end, sjmp_strerror(sid),
		        sid == -EEXIST   ? ": drop the old store first (sjmp-sam drop --vas NAME)"
		        : sid == -ENOSPC ? ": free memory in SJMP_DIR's filesystem"
		                         : "");
		return sid;
	}
	err = sjmp_seg_attach_global(s->vid, sid, SJMP_READ | SJMP_WRITE);
	if (err) {
		fprintf(stderr, "sjmp-sam: sjmp_seg_attach_global %s to %s: %s\n", sname, s->name,
		        sjmp_strerror(err));
		sjmp_seg_close(sid);
		sjmp_seg_delete(sname);
		return err;
	}
	s->sid[s->nsegs++] = sid;
	s->end += size;
	return 0;
}

static int enter(struct sam_store *s)
{
	s->vh = sjmp_vas_attach(s->vid);
	if (s->vh < 0) {
		fprintf(stderr, "sjmp-sam: sjmp_vas_attach %s: %s\n", s->name,
		        sjmp_strerror(s->vh));
		return s->vh;
	}
	int err = sjmp_vas_switch(s->vh);
	if (err) {
		fprintf(stderr, "sjmp-sam: sjmp_vas_switch into %s: %s\n", s->name,
		        sjmp_strerror(err));
		sjmp_vas_detach(s->vh);
		s->vh = -1;
	}
	return err;
}

int store_create(const char *name, size_t size_hint, struct sam_store **out)
{
	struct sam_store *s = calloc(1, sizeof(*s));
	int err;
	if (!s)
		return -ENOMEM;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->vh = -1;
	s->end = SAM_STORE_BASE;
	s->seg_size = round_up(size_hint, SEG_GRAIN);
	s->vid = sjmp_vas_create(name, 0600);
	if (s->vid < 0) {
		err = s->vid;
		fprintf(stderr, "sjmp-sam: sjmp_vas_create %s: %s%s\n", name, sjmp_strerror(err),
		        err == -EEXIST ? ": drop it first (sjmp-sam drop --vas NAME)" : "");
		free(s);
		return err;
	}
	if ((err = add_segment(s, s->seg_size)) || (err = enter(s))) {
		store_close(s);
		store_drop(name);
		return err;
	}
	current = s;
	*out = s;
	return 0;
}

int store_open(const char *name, int writable, struct sam_store **out, struct sam_root **root)
{
	struct sam_store *s = calloc(1, sizeof(*s));
	char sname[SJMP_NAME_MAX + 1];
	int err;
	(void)writable; /* the attachment is as writable as the caller's rights on the files */
	if (!s)
		return -ENOMEM;
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->vh = -1;
	s->vid = sjmp_vas_find(name);
	if (s->vid < 0) {
		err = s->vid;
		fprintf(stderr, "sjmp-sam: sjmp_vas_find %s: %s%s\n", name, sjmp_strerror(err),
		        err == -ENOENT ? ": load a file first (sjmp-sam load FILE --vas NAME)"
		                       : "");
		free(s);
		return err;
	}
	/* The segments, for the heap (sort allocates its order) and for closing. */
	for (;;) {
		if ((err = seg_name(name, s->nsegs, sname)))
			goto fail;
		sjmp_sid_t sid = sjmp_seg_find(sname);
		if (sid == -ENOENT)
			break;
		if (sid < 0) {
			err = sid;
			fprintf(stderr, "sjmp-sam: sjmp_seg_find %s: %s\n", sname,
			        sjmp_strerror(sid));
			goto fail;
		}
		struct sjmp_seg_info info;
		s->sid[s->nsegs++] = sid;
		if (sjmp_seg_ctl(sid, SJMP_SEG_STAT, &info) == 0) {
			s->end = info.base + info.size;
			s->seg_size = info.size;
		}
		if (s->nsegs == SEG_MAX)
			break;
	}
	if (!s->nsegs) {
		err = -EBADMSG;
		fprintf(stderr, "sjmp-sam: VAS %s has no segment %s.s0: drop it and load again\n",
		        name, name);
		goto fail;
	}
	if ((err = enter(s)))
		goto fail;
	current = s;
	*root = sjmp_seg_root_get(s->sid[0]);
	if (!*root) {
		err = -EBADMSG;
		fprintf(stderr,
		        "sjmp-sam: VAS %s has no root (its load did not finish): drop it and "
		        "load again\n",
		        name);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	store_close(s);
	return err;
}

void *store_alloc(struct sam_store *s, size_t size)
{
	void *p = sjmp_seg_malloc(s->sid[s->nsegs - 1], size);
	if (p)
		return p;
	if (errno != ENOMEM) {
		fprintf(stderr, "sjmp-sam: sjmp_seg_malloc in %s: %s\n", s->name, strerror(errno));
		return NULL;
	}
	/* Full: one more segment, picked up by switching out and back in. */
	size_t want = round_up(size + (4UL << 20), SEG_GRAIN);
	if (add_segment(s, want > s->seg_size ? want : s->seg_size))
		return NULL;
	int err = sjmp_vas_switch(SJMP_PRIMARY);
	if (!err)
		err = sjmp_vas_switch(s->vh);
	if (err) {
		fprintf(stderr, "sjmp-sam: switching to %s after adding a segment: %s\n", s->name,
		        sjmp_strerror(err));
		return NULL;
	}
	p = sjmp_seg_malloc(s->sid[s->nsegs - 1], size);
	if (!p)
		fprintf(stderr,
		        "sjmp-sam: sjmp_seg_malloc of %zu bytes in a new segment of %s: %s\n", size,
		        s->name, strerror(errno));
	return p;
}

void store_free(struct sam_store *s, void *p)
{
	for (unsigned k = 0; k < s->nsegs; k++) {
		uintptr_t base = (uintptr_t)sjmp_seg_base(s->sid[k]);
		struct sjmp_seg_info info;
		if (sjmp_seg_ctl(s->sid[k], SJMP_SEG_STAT, &info) == 0 && (uintptr_t)p >= base &&
		    (uintptr_t)p < base + info.size) {
			sjmp_seg_free(s->sid[k], p);
			return;
		}
	}
}

int store_set_root(struct sam_store *s, struct sam_root *root)
{
	int err = sjmp_seg_root_set(s->sid[0], root);
	if (err)
		fprintf(stderr, "sjmp-sam: sjmp_seg_root_set in %s: %s\n", s->name,
		        sjmp_strerror(err));
	return err;
}

int store_close(struct sam_store *s)
{
	if (!s)
		return 0;
	if (current == s)
		current = NULL;
	if (s->vh >= 0) {
		sjmp_vas_switch(SJMP_PRIMARY);
		sjmp_vas_detach(s->vh);
	}
	for (unsigned k = 0; k < s->nsegs; k++)
		sjmp_seg_close(s->sid[k]);
	if (s->vid >= 0)
		sjmp_vas_close(s->vid);
	free(s);
	return 0;
}

int store_thread_enter(void)
{
	/* On the mmap backend the VAS is the process's: a new thread is already in it. */
	if (!current || !(sjmp_caps() & SJMP_CAP_PER_THREAD_VAS))
		return 0;
	int err = sjmp_vas_switch(current->vh);
	if (err)
		fprintf(stderr, "sjmp-sam: a helper thread cannot switch into %s: %s\n",
		        current->name, sjmp_strerror(err));
	return err;
}

void store_thread_leave(void)
{
	if (current && (sjmp_caps() & SJMP_CAP_PER_THREAD_VAS))
		sjmp_vas_switch(SJMP_PRIMARY);
}

int store_drop(const char *name)
{
	char sname[SJMP_NAME_MAX + 1];
	int err = sjmp_vas_delete(name), found = err == 0;
	if (err && err != -ENOENT)
		fprintf(stderr, "sjmp-sam: sjmp_vas_delete %s: %s\n", name, sjmp_strerror(err));
	for (unsigned k = 0; k < SEG_MAX; k++) {
		if (seg_name(name, k, sname))
			break;
		int e = sjmp_seg_delete(sname);
		if (e == -ENOENT)
			break;
		if (e) {
			fprintf(stderr, "sjmp-sam: sjmp_seg_delete %s: %s\n", sname,
			        sjmp_strerror(e));
			err = e;
		} else {
			found = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "sjmp-sam: no store named %s\n", name);
		return -ENOENT;
	}
	return err == -ENOENT ? 0 : err;
}
