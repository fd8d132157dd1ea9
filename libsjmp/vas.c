/* SPDX-License-Identifier: MIT */
/*
 * vas.c - VAS objects and attached instances (paper section 3.1): create, find, attach,
 * detach, clone, ctl, delete, enumeration, and segment attachment to one instance or to the
 * VAS object itself (global).
 *
 * On disk a named VAS is the directory SJMP_DIR/vas/NAME holding
 *   record  the list of global segments (records.h), replaced atomically on every change;
 *   gen     one page whose first 8 bytes count the changes. Every process attached to the VAS
 *           maps it shared and compares it at each switch, so a global attach reaches processes
 *           already attached without costing a system call on the switch path. Updates are
 *           serialised by flock(2) on this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"
#include "objdir.h"
#include "records.h"

#define GEN_FILE_SIZE 4096

/* ---- instances ---- */

struct sjmp__attachment *sjmp__inst_find_seg(struct sjmp__inst *in, const struct sjmp__seg *s)
{
	for (unsigned i = 0; i < in->natts; i++)
		if (in->atts[i].seg == s)
			return &in->atts[i];
	return NULL;
}

static bool overlaps(uintptr_t b1, size_t s1, uintptr_t b2, size_t s2)
{
	return b1 < b2 + s2 && b2 < b1 + s1;
}

int sjmp__inst_add(struct sjmp__inst *in, struct sjmp__seg *s, unsigned prot, bool global)
{
	for (unsigned i = 0; i < in->natts; i++) {
		const struct sjmp__seg *o = in->atts[i].seg;
		if (o == s)
			return -EEXIST;
		if (overlaps(o->base, o->size, s->base, s->size))
			return sjmp__fail(EADDRINUSE, "attaching a segment",
			                  "\"%s\" [%#lx, +%#zx) overlaps \"%s\" [%#lx, +%#zx) in "
			                  "the same VAS; segments of one VAS never overlap",
			                  s->name, (unsigned long)s->base, s->size, o->name,
			                  (unsigned long)o->base, o->size);
	}
	if (in->natts == in->capatts) {
		unsigned cap = in->capatts ? in->capatts * 2 : 8;
		void *p = realloc(in->atts, cap * sizeof(*in->atts));
		if (!p)
			return -ENOMEM;
		in->atts = p;
		in->capatts = cap;
	}
	in->atts[in->natts++] = (struct sjmp__attachment){.seg = s, .prot = prot, .global = global};
	sjmp__seg_ref(s);
	return 0;
}

void sjmp__inst_remove(struct sjmp__inst *in, unsigned i)
{
	struct sjmp__seg *s = in->atts[i].seg;
	memmove(&in->atts[i], &in->atts[i + 1], (in->natts - i - 1) * sizeof(*in->atts));
	in->natts--;
	sjmp__seg_unref(s);
}

/* The rights a process may map a segment with: its flags, less write if the file is not
 * writable for the caller. */
/* The rights a segment's flags allow (write implies read). */
static unsigned flag_rights(const struct sjmp__seg *s)
{
	unsigned r = s->flags & (SJMP_READ | SJMP_WRITE | SJMP_EXEC);
	return r & SJMP_WRITE ? r | SJMP_READ : r;
}

/* The rights this process may map a segment with: its flags, less write if the caller may not
 * write its file. */
static unsigned seg_rights(const struct sjmp__seg *s)
{
	unsigned r = flag_rights(s);
	return s->writable ? r : r & ~(unsigned)SJMP_WRITE;
}

/*
 * Normalises *@prot (write implies read) and checks it against @allowed: 0, or -EACCES with a
 * log line naming @op, the segment and what it may be mapped with.
 */
static int check_prot(const char *op, const struct sjmp__seg *s, unsigned *prot, unsigned allowed)
{
	if (*prot & SJMP_WRITE)
		*prot |= SJMP_READ;
	if (*prot && !(*prot & ~allowed))
		return 0;
	return sjmp__fail(EACCES, op, "\"%s\" may be mapped with at most %s%s%s here", s->name,
	                  allowed & SJMP_READ ? "R" : "", allowed & SJMP_WRITE ? "W" : "",
	                  allowed & SJMP_EXEC ? "X" : "");
}

/* Adds and maps; on failure nothing remains. */
static int inst_attach(struct sjmp__inst *in, struct sjmp__seg *s, unsigned prot, bool global)
{
	int r = sjmp__inst_add(in, s, prot, global);
	if (r < 0)
		return r;
	r = sjmp__backend()->inst_map(in, &in->atts[in->natts - 1]);
	if (r < 0) {
		sjmp__inst_remove(in, in->natts - 1);
		return r;
	}
	return 0;
}

static void inst_detach_index(struct sjmp__inst *in, unsigned i)
{
	sjmp__backend()->inst_unmap(in, &in->atts[i]);
	if (in == sjmp__thread_inst()) /* the caller may hold its lock through this VAS */
		sjmp__thread_drop_lock(in->atts[i].seg);
	sjmp__inst_remove(in, i);
}

/*
 * A segment that appears in the VAS the calling thread is in (a global attach made from
 * inside) is mapped at once; its lock is taken if that needs no wait (the library mutex is
 * held), else the thread goes without it until its next switch into the VAS, and the log says
 * so. Other threads inside take it at their next switch.
 */
static void lock_if_inside(struct sjmp__inst *in, const struct sjmp__attachment *a)
{
	if (in != sjmp__thread_inst() || !(a->seg->flags & SJMP_SEG_LOCKABLE))
		return;
	if (sjmp__thread_take_lock(a->seg, a->prot & SJMP_WRITE) < 0)
		sjmp__log(SJMP_LOG_WARN,
		          "seg_attach_global: \"%s\" is mapped in the current VAS "
		          "but its lock is held elsewhere: it is taken at the next "
		          "switch into the VAS",
		          a->seg->name);
}

/* ---- named VAS records ---- */

static int vas_dirfd(const char *name)
{
	int fd = openat(sjmp__vasdirfd(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int read_record(const char *name, struct sjmp__vas_entry **out)
{
	int dfd = vas_dirfd(name);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, "record", O_RDONLY | O_CLOEXEC);
	int e = errno;
	close(dfd);
	if (fd < 0)
		return -e;
	char what[SJMP_NAME_MAX + 16];
	snprintf(what, sizeof(what), "VAS \"%s\"", name);
	int n = sjmp__vas_rec_read(fd, what, out);
	close(fd);
	return n;
}

/* Replaces the record of VAS @name with @n entries (the caller holds the gen file's flock). */
static int write_record(const char *name, const struct sjmp__vas_entry *e, unsigned n)
{
	int dfd = vas_dirfd(name);
	if (dfd < 0)
		return dfd;
	struct stat st;
	int r = fstatat(dfd, "record", &st, 0) < 0 ? -errno : 0;
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".record-%d", (int)getpid());
	int fd = r < 0 ? r : openat(dfd, tmp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		close(dfd);
		return fd == r ? r : -errno;
	}
	r = sjmp__vas_rec_write(fd, e, n);
	if (r == 0 && fchmod(fd, st.st_mode & 0777) < 0)
		r = -errno;
	close(fd);
	if (r == 0 && renameat(dfd, tmp, dfd, "record") < 0)
		r = -errno;
	if (r < 0)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return r;
}

static int open_gen(const char *name, int *fd_out, volatile uint64_t **gen_out)
{
	int dfd = vas_dirfd(name);
	if (dfd < 0)
		return dfd;
	bool rw = true;
	int fd = openat(dfd, "gen", O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == EACCES) {
		rw = false;
		fd = openat(dfd, "gen", O_RDONLY | O_CLOEXEC);
	}
	int e = errno;
	close(dfd);
	if (fd < 0)
		return e == ENOENT ? -EBADMSG : -e;
	void *p =
	    mmap(NULL, GEN_FILE_SIZE, rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		e = errno;
		close(fd);
		return -e;
	}
	*fd_out = fd;
	*gen_out = p;
	return 0;
}

/* ---- VAS objects ---- */

static struct sjmp__vasobj *vasobj_new(const char *name)
{
	struct sjmp__vasobj *v = calloc(1, sizeof(*v));
	if (v) {
		v->refs = 1;
		snprintf(v->name, sizeof(v->name), "%s", name ? name : "");
	}
	return v;
}

void sjmp__vasobj_unref(struct sjmp__vasobj *v)
{
	if (!v || --v->refs > 0)
		return;
	for (unsigned i = 0; i < v->nglobals; i++)
		sjmp__seg_unref(v->globals[i].seg);
	free(v->globals);
	if (v->gen)
		munmap((void *)v->gen, GEN_FILE_SIZE);
	free(v);
}

static int vasobj_open_named(const char *name, struct sjmp__vasobj **out)
{
	struct sjmp__vas_entry *e;
	int n = read_record(name, &e);
	if (n < 0)
		return n;
	free(e);
	struct sjmp__vasobj *v = vasobj_new(name);
	if (!v)
		return -ENOMEM;
	int fd;
	int r = open_gen(name, &fd, &v->gen);
	if (r < 0) {
		free(v);
		return r;
	}
	close(fd);
	*out = v;
	return 0;
}

static int create_named(const char *op, const char *name, mode_t mode,
                        const struct sjmp__vas_entry *e, unsigned n)
{
	int parent = sjmp__vasdirfd();
	char tmp[SJMP__TMPNAME_MAX];
	int dfd = sjmp__objdir_begin(parent, tmp);
	if (dfd < 0)
		return sjmp__fail(dfd, op,
		                  "cannot create a directory in %s/vas; check its "
		                  "permissions",
		                  sjmp_dir());
	int r = 0;
	int fd = openat(dfd, "record", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		r = -errno;
	if (r == 0)
		r = sjmp__vas_rec_write(fd, e, n);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	fd = r < 0 ? -1 : openat(dfd, "gen", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (r == 0 && fd < 0)
		r = -errno;
	if (r == 0 && ftruncate(fd, GEN_FILE_SIZE) < 0)
		r = -errno;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		sjmp__objdir_abort(parent, tmp);
		close(dfd);
		return r;
	}
	r = sjmp__objdir_commit(parent, dfd, tmp, name, mode);
	close(dfd);
	if (r == -EEXIST)
		return sjmp__fail(EEXIST, op,
		                  "a VAS named \"%s\" exists; pick another name or "
		                  "delete it",
		                  name);
	return r;
}

static int new_vid(struct sjmp__vasobj *v)
{
	int r = sjmp__vid_new(v);
	if (r < 0)
		sjmp__vasobj_unref(v);
	return r;
}

sjmp_vid_t sjmp_vas_create(const char *name, mode_t mode)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	char op[SJMP_NAME_MAX + 32];
	snprintf(op, sizeof(op), "vas_create(\"%s\")", name ? name : "(unnamed)");
	if (name && (r = sjmp__name_check(op, name)) < 0)
		return r;
	if (mode & ~0777u)
		return sjmp__fail(EINVAL, op, "mode %#o has bits outside 0777", (unsigned)mode);
	mode &= ~sjmp__umask();
	sjmp__lock();
	struct sjmp__vasobj *v = NULL;
	if (name) {
		r = create_named(op, name, mode, NULL, 0);
		if (r == 0) {
			r = vasobj_open_named(name, &v);
			if (r < 0)
				sjmp__objdir_remove(sjmp__vasdirfd(), name);
		}
	} else {
		v = vasobj_new(NULL);
		r = v ? 0 : -ENOMEM;
	}
	if (r == 0) {
		r = new_vid(v);
		if (r < 0 && name)
			sjmp__objdir_remove(sjmp__vasdirfd(), name);
	}
	sjmp__unlock();
	return r;
}

sjmp_vid_t sjmp_vas_find(const char *name)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	if ((r = sjmp__name_check("vas_find", name)) < 0)
		return r;
	sjmp__lock();
	struct sjmp__vasobj *v;
	r = vasobj_open_named(name, &v);
	if (r == 0)
		r = new_vid(v);
	sjmp__unlock();
	return r;
}

int sjmp_vas_close(sjmp_vid_t vid)
{
	sjmp__lock();
	struct sjmp__vasobj *v = sjmp__vid_get(vid);
	if (v) {
		sjmp__vid_clear(vid);
		sjmp__vasobj_unref(v);
	}
	sjmp__unlock();
	return v ? 0 : -EBADF;
}

int sjmp_vas_delete(const char *name)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	char op[SJMP_NAME_MAX + 32];
	snprintf(op, sizeof(op), "vas_delete(\"%s\")", name ? name : "");
	if ((r = sjmp__name_check(op, name)) < 0)
		return r;
	r = sjmp__objdir_remove(sjmp__vasdirfd(), name);
	if (r < 0 && r != -ENOENT)
		return sjmp__fail(r, op, "SJMP_DIR/vas must be writable by the caller");
	return r;
}

/* ---- loading the global segments into an instance ---- */

/* Makes @in's global attachments equal the VAS's current list. */
static int load_globals(struct sjmp__inst *in)
{
	struct sjmp__vasobj *v = in->vas;
	struct sjmp__vas_entry *e = NULL;
	int n;
	uint64_t gen = 0;
	if (v->gen) {
		gen = __atomic_load_n(v->gen, __ATOMIC_ACQUIRE);
		n = read_record(v->name, &e);
		if (n < 0)
			return n;
	} else {
		n = (int)v->nglobals;
	}
	/* Drop the globals that are gone. */
	for (unsigned i = in->natts; i-- > 0;) {
		struct sjmp__attachment *a = &in->atts[i];
		if (!a->global)
			continue;
		bool keep = false;
		for (int j = 0; j < n && !keep; j++)
			keep =
			    v->gen ? !strcmp(e[j].name, a->seg->name) : v->globals[j].seg == a->seg;
		if (!keep)
			inst_detach_index(in, i);
	}
	/* Add the new ones. */
	int r = 0;
	for (int j = 0; j < n && r == 0; j++) {
		struct sjmp__seg *s;
		unsigned prot;
		if (v->gen) {
			r = sjmp__seg_open_name(e[j].name, &s);
			if (r == -ENOENT) { /* deleted since: the VAS no longer has it */
				r = 0;
				continue;
			}
			if (r < 0)
				break;
			prot = e[j].prot;
		} else {
			s = v->globals[j].seg;
			sjmp__seg_ref(s);
			prot = v->globals[j].prot;
		}
		if (!sjmp__inst_find_seg(in, s)) {
			r = inst_attach(in, s, prot & seg_rights(s), true);
			if (r == 0)
				lock_if_inside(in, &in->atts[in->natts - 1]);
		}
		sjmp__seg_unref(s);
	}
	free(e);
	if (r == 0)
		in->gen_seen = gen;
	return r;
}

int sjmp__inst_refresh(struct sjmp__inst *in)
{
	if (!in->vas || !in->vas->gen)
		return 0;
	if (__atomic_load_n(in->vas->gen, __ATOMIC_ACQUIRE) == in->gen_seen)
		return 0;
	return load_globals(in);
}

static void inst_release(struct sjmp__inst *in)
{
	while (in->natts)
		inst_detach_index(in, in->natts - 1);
	free(in->atts);
	sjmp__backend()->inst_destroy(in);
	sjmp__vasobj_unref(in->vas);
	*in = (struct sjmp__inst){0};
}

sjmp_vh_t sjmp_vas_attach(sjmp_vid_t vid)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	sjmp__lock();
	struct sjmp__vasobj *v = sjmp__vid_get(vid);
	struct sjmp__inst *in;
	if (!v) {
		r = -EBADF;
		goto out;
	}
	r = sjmp__inst_new(&in);
	if (r < 0)
		goto out;
	int vh = r;
	in->vas = v;
	v->refs++;
	r = sjmp__backend()->inst_create(in);
	if (r < 0) {
		sjmp__vasobj_unref(v);
		*in = (struct sjmp__inst){0};
		goto out;
	}
	r = load_globals(in);
	if (r < 0) {
		inst_release(in);
		goto out;
	}
	r = vh;
out:
	sjmp__unlock();
	return r;
}

int sjmp_vas_detach(sjmp_vh_t vh)
{
	sjmp__lock();
	struct sjmp__inst *in = vh == SJMP_PRIMARY ? NULL : sjmp__inst_get(vh);
	int r = 0;
	if (!in)
		r = -EBADF;
	else if (in->threads_inside + in->switching > 0)
		r = sjmp__fail(EBUSY, "vas_detach",
		               "%d thread(s) of this process are switched into it; switch them "
		               "out first",
		               in->threads_inside);
	else
		inst_release(in);
	sjmp__unlock();
	return r;
}

/* ---- segment attachment ---- */

int sjmp_seg_attach(sjmp_vh_t vh, sjmp_sid_t sid, unsigned prot)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	sjmp__lock();
	struct sjmp__inst *in = sjmp__inst_get(vh);
	struct sjmp__seg *s = sjmp__sid_get(sid);
	if (!in || !s) {
		r = -EBADF;
		goto out;
	}
	r = check_prot("seg_attach", s, &prot, seg_rights(s));
	if (r < 0)
		goto out;
	r = inst_attach(in, s, prot, false);
	if (r == -EEXIST)
		r = sjmp__fail(EEXIST, "seg_attach", "\"%s\" is already attached to that VAS",
		               s->name);
	if (r == 0 && in == sjmp__thread_inst() && (s->flags & SJMP_SEG_LOCKABLE)) {
		r = sjmp__thread_take_lock(s, prot & SJMP_WRITE); /* never waits */
		if (r < 0)
			inst_detach_index(in, in->natts - 1);
	}
out:
	sjmp__unlock();
	return r;
}

int sjmp_seg_detach(sjmp_vh_t vh, sjmp_sid_t sid)
{
	sjmp__lock();
	struct sjmp__inst *in = sjmp__inst_get(vh);
	struct sjmp__seg *s = sjmp__sid_get(sid);
	int r = -EBADF;
	if (in && s) {
		struct sjmp__attachment *a = sjmp__inst_find_seg(in, s);
		r = a ? 0 : -ENOENT;
		if (a)
			inst_detach_index(in, (unsigned)(a - in->atts));
	}
	sjmp__unlock();
	return r;
}

/* Brings every instance of this process attached to @v up to date. */
static int refresh_instances(struct sjmp__vasobj *v)
{
	sjmp_vh_t vh = 0;
	struct sjmp__inst *in;
	int r = 0;
	while ((in = sjmp__inst_next(&vh)) != NULL) {
		if (in->vas == v ||
		    (v->gen && in->vas && in->vas->gen && !strcmp(in->vas->name, v->name))) {
			int e = load_globals(in);
			if (e < 0 && r == 0)
				r = e;
		}
	}
	return r;
}

/* Runs @edit on the named VAS's entries under its update lock, then publishes them. */
static int update_named(struct sjmp__vasobj *v, const char *op,
                        int (*edit)(struct sjmp__vas_entry **e, unsigned *n, void *arg), void *arg)
{
	int dfd = vas_dirfd(v->name);
	if (dfd < 0)
		return dfd;
	int writable = faccessat(dfd, "record", W_OK, AT_EACCESS) == 0 &&
	               faccessat(dfd, "gen", W_OK, AT_EACCESS) == 0;
	close(dfd);
	if (!writable)
		return sjmp__fail(EACCES, op,
		                  "the record of VAS \"%s\" is not writable by this "
		                  "user",
		                  v->name);
	int fd;
	volatile uint64_t *gen;
	int r = open_gen(v->name, &fd, &gen);
	if (r < 0)
		return r;
	flock(fd, LOCK_EX);
	struct sjmp__vas_entry *e;
	int n = read_record(v->name, &e);
	r = n;
	if (n >= 0) {
		unsigned un = (unsigned)n;
		r = edit(&e, &un, arg);
		if (r == 0)
			r = write_record(v->name, e, un);
		if (r == 0)
			__atomic_add_fetch(gen, 1, __ATOMIC_RELEASE);
		free(e);
	}
	flock(fd, LOCK_UN);
	munmap((void *)gen, GEN_FILE_SIZE);
	close(fd);
	return r;
}

struct global_edit {
	struct sjmp__seg *seg;
	unsigned prot;
};

static int edit_add(struct sjmp__vas_entry **e, unsigned *n, void *arg)
{
	struct global_edit *g = arg;
	for (unsigned i = 0; i < *n; i++) {
		if (!strcmp((*e)[i].name, g->seg->name))
			return -EEXIST;
		if (overlaps((*e)[i].base, (*e)[i].size, g->seg->base, g->seg->size))
			return sjmp__fail(EADDRINUSE, "seg_attach_global",
			                  "\"%s\" overlaps \"%s\" in the VAS", g->seg->name,
			                  (*e)[i].name);
	}
	void *p = realloc(*e, (*n + 1) * sizeof(**e));
	if (!p)
		return -ENOMEM;
	*e = p;
	struct sjmp__vas_entry *x = &(*e)[(*n)++];
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", g->seg->name);
	x->base = g->seg->base;
	x->size = g->seg->size;
	x->prot = g->prot;
	return 0;
}

static int edit_remove(struct sjmp__vas_entry **e, unsigned *n, void *arg)
{
	struct global_edit *g = arg;
	for (unsigned i = 0; i < *n; i++) {
		if (!strcmp((*e)[i].name, g->seg->name)) {
			memmove(&(*e)[i], &(*e)[i + 1], (*n - i - 1) * sizeof(**e));
			(*n)--;
			return 0;
		}
	}
	return -ENOENT;
}

static int unnamed_add(struct sjmp__vasobj *v, struct sjmp__seg *s, unsigned prot)
{
	for (unsigned i = 0; i < v->nglobals; i++) {
		const struct sjmp__seg *o = v->globals[i].seg;
		if (o == s)
			return -EEXIST;
		if (overlaps(o->base, o->size, s->base, s->size))
			return sjmp__fail(EADDRINUSE, "seg_attach_global",
			                  "the segment overlaps another one of the VAS");
	}
	void *p = realloc(v->globals, (v->nglobals + 1) * sizeof(*v->globals));
	if (!p)
		return -ENOMEM;
	v->globals = p;
	v->globals[v->nglobals++] = (struct sjmp__attachment){s, prot, true};
	sjmp__seg_ref(s);
	return 0;
}

int sjmp_seg_attach_global(sjmp_vid_t vid, sjmp_sid_t sid, unsigned prot)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	sjmp__lock();
	struct sjmp__vasobj *v = sjmp__vid_get(vid);
	struct sjmp__seg *s = sjmp__sid_get(sid);
	if (!v || !s) {
		r = -EBADF;
		goto out;
	}
	/* The VAS records what the segment allows; each process maps what its own rights allow. */
	r = check_prot("seg_attach_global", s, &prot, flag_rights(s));
	if (r < 0)
		goto out;
	struct global_edit g = {s, prot};
	if (v->gen) {
		if (!s->name[0]) {
			r = sjmp__fail(EINVAL, "seg_attach_global",
			               "a named VAS outlives this process, so its segments must be "
			               "named too");
			goto out;
		}
		r = update_named(v, "seg_attach_global", edit_add, &g);
	} else {
		r = unnamed_add(v, s, prot);
	}
	if (r == -EEXIST)
		r = sjmp__fail(EEXIST, "seg_attach_global", "the segment is already in the VAS");
	if (r == 0)
		r = refresh_instances(v);
out:
	sjmp__unlock();
	return r;
}

int sjmp_seg_detach_global(sjmp_vid_t vid, sjmp_sid_t sid)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	sjmp__lock();
	struct sjmp__vasobj *v = sjmp__vid_get(vid);
	struct sjmp__seg *s = sjmp__sid_get(sid);
	if (!v || !s) {
		r = -EBADF;
		goto out;
	}
	struct global_edit g = {s, 0};
	if (v->gen) {
		r = update_named(v, "seg_detach_global", edit_remove, &g);
	} else {
		r = -ENOENT;
		for (unsigned i = 0; i < v->nglobals; i++) {
			if (v->globals[i].seg == s) {
				memmove(&v->globals[i], &v->globals[i + 1],
				        (v->nglobals - i - 1) * sizeof(*v->globals));
				v->nglobals--;
				sjmp__seg_unref(s);
				r = 0;
				break;
			}
		}
	}
	if (r == 0)
		r = refresh_instances(v);
out:
	sjmp__unlock();
	return r;
}

/* ---- clone, ctl, list ---- */

static int entries_of(struct sjmp__vasobj *v, struct sjmp__vas_entry **out)
{
	if (v->gen)
		return read_record(v->name, out);
	struct sjmp__vas_entry *e = calloc(v->nglobals ? v->nglobals : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (unsigned i = 0; i < v->nglobals; i++) {
		snprintf(e[i].name, sizeof(e[i].name), "%s", v->globals[i].seg->name);
		e[i].base = v->globals[i].seg->base;
		e[i].size = v->globals[i].seg->size;
		e[i].prot = v->globals[i].prot;
	}
	*out = e;
	return (int)v->nglobals;
}

sjmp_vid_t sjmp_vas_clone(sjmp_vid_t vid, const char *name, mode_t mode)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	char op[SJMP_NAME_MAX + 32];
	snprintf(op, sizeof(op), "vas_clone(\"%s\")", name ? name : "(unnamed)");
	if (name && (r = sjmp__name_check(op, name)) < 0)
		return r;
	if (mode & ~0777u)
		return sjmp__fail(EINVAL, op, "mode %#o has bits outside 0777", (unsigned)mode);
	mode &= ~sjmp__umask();
	sjmp__lock();
	struct sjmp__vasobj *src = sjmp__vid_get(vid), *v = NULL;
	if (!src) {
		sjmp__unlock();
		return -EBADF;
	}
	if (name) {
		struct sjmp__vas_entry *e;
		int n = entries_of(src, &e);
		r = n;
		for (int i = 0; i < n && r >= 0; i++)
			if (!e[i].name[0])
				r = sjmp__fail(EINVAL, op,
				               "the source VAS has unnamed segments, "
				               "which a named VAS cannot hold");
		if (r >= 0)
			r = create_named(op, name, mode, e, (unsigned)n);
		if (n >= 0)
			free(e);
		if (r >= 0) {
			r = vasobj_open_named(name, &v);
			if (r < 0)
				sjmp__objdir_remove(sjmp__vasdirfd(), name);
		}
	} else {
		v = vasobj_new(NULL);
		r = v ? 0 : -ENOMEM;
		if (r == 0 && src->gen) {
			struct sjmp__vas_entry *e;
			int n = read_record(src->name, &e);
			r = n < 0 ? n : 0;
			for (int i = 0; i < n && r == 0; i++) {
				struct sjmp__seg *s;
				r = sjmp__seg_open_name(e[i].name, &s);
				if (r == 0) {
					r = unnamed_add(v, s, e[i].prot);
					sjmp__seg_unref(s);
				}
			}
			if (n >= 0)
				free(e);
		} else {
			for (unsigned i = 0; r == 0 && i < src->nglobals; i++)
				r = unnamed_add(v, src->globals[i].seg, src->globals[i].prot);
		}
		if (r < 0) {
			sjmp__vasobj_unref(v);
			v = NULL;
		}
	}
	if (r >= 0) {
		r = new_vid(v);
		if (r < 0 && name)
			sjmp__objdir_remove(sjmp__vasdirfd(), name);
	}
	sjmp__unlock();
	return r;
}

static int vas_stat(struct sjmp__vasobj *v, struct sjmp_vas_info *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", v->name);
	struct sjmp__vas_entry *e;
	int n = entries_of(v, &e);
	if (n < 0)
		return n;
	free(e);
	out->nsegs = (unsigned)n;
	if (v->gen) {
		char path[SJMP_NAME_MAX + 16];
		struct stat st;
		snprintf(path, sizeof(path), "%s/record", v->name);
		if (fstatat(sjmp__vasdirfd(), path, &st, 0) < 0)
			return -errno;
		out->mode = st.st_mode & 07777;
		out->uid = st.st_uid;
		out->gid = st.st_gid;
	} else {
		out->mode = 0600;
		out->uid = getuid();
		out->gid = getgid();
	}
	return 0;
}

static int vas_chmod(struct sjmp__vasobj *v, mode_t mode)
{
	if (mode & ~0777u)
		return sjmp__fail(EINVAL, "vas_ctl(CHMOD)", "mode %#o has bits outside 0777",
		                  (unsigned)mode);
	if (!v->gen)
		return 0; /* an unnamed VAS has no files */
	int fd = sjmp__vasdirfd();
	char path[SJMP_NAME_MAX + 16];
	snprintf(path, sizeof(path), "%s/record", v->name);
	if (fchmodat(fd, path, mode, 0) < 0)
		return errno == EPERM ? sjmp__fail(EPERM, "vas_ctl(CHMOD)",
		                                   "only the owner of the VAS may change its mode")
		                      : -errno;
	snprintf(path, sizeof(path), "%s/gen", v->name);
	if (fchmodat(fd, path, mode, 0) < 0 || fchmodat(fd, v->name, sjmp__dir_mode(mode), 0) < 0)
		return -errno;
	return 0;
}

static int vas_segs(struct sjmp__vasobj *v, struct sjmp_vas_segs *q)
{
	struct sjmp__vas_entry *e;
	int n = entries_of(v, &e);
	if (n < 0)
		return n;
	for (int i = 0; i < n && (unsigned)i < q->cap; i++) {
		struct sjmp_seg_info *o = &q->segs[i];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", e[i].name);
		o->base = e[i].base;
		o->size = e[i].size;
		o->flags = e[i].prot;
	}
	q->count = (unsigned)n;
	free(e);
	return 0;
}

int sjmp_vas_ctl(sjmp_vid_t vid, int cmd, void *arg)
{
	sjmp__lock();
	struct sjmp__vasobj *v = sjmp__vid_get(vid);
	int r;
	if (!v)
		r = -EBADF;
	else if (!arg)
		r = sjmp__fail(EINVAL, "vas_ctl", "the argument is NULL");
	else if (cmd == SJMP_VAS_STAT)
		r = vas_stat(v, arg);
	else if (cmd == SJMP_VAS_CHMOD)
		r = vas_chmod(v, *(mode_t *)arg);
	else if (cmd == SJMP_VAS_SEGS)
		r = ((struct sjmp_vas_segs *)arg)->cap && !((struct sjmp_vas_segs *)arg)->segs
		        ? -EINVAL
		        : vas_segs(v, arg);
	else
		r = sjmp__fail(EINVAL, "vas_ctl", "unknown command %d", cmd);
	sjmp__unlock();
	return r;
}

struct vas_list_ctx {
	struct sjmp_vas_info *out;
	unsigned cap, n;
};

static void vas_list_one(const char *name, void *arg)
{
	struct vas_list_ctx *c = arg;
	if (c->n < c->cap) {
		struct sjmp_vas_info *o = &c->out[c->n];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", name);
		char path[SJMP_NAME_MAX + 16];
		struct stat st;
		snprintf(path, sizeof(path), "%s/record", name);
		if (fstatat(sjmp__vasdirfd(), path, &st, 0) == 0) {
			o->mode = st.st_mode & 07777;
			o->uid = st.st_uid;
			o->gid = st.st_gid;
			/* The entry count is the header's; a damaged record shows as 0. */
			int fd = openat(sjmp__vasdirfd(), path, O_RDONLY | O_CLOEXEC);
			struct sjmp__vas_head h;
			if (fd >= 0 && pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			    h.magic == SJMP__VAS_REC_MAGIC)
				o->nsegs = h.nsegs;
			if (fd >= 0)
				close(fd);
		}
	}
	c->n++;
}

int sjmp_vas_list(struct sjmp_vas_info *out, unsigned cap)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	if (!out && cap)
		return -EINVAL;
	struct vas_list_ctx c = {out, cap, 0};
	r = sjmp__objdir_list(sjmp__vasdirfd(), vas_list_one, &c);
	return r < 0 ? r : (int)c.n;
}
