/* SPDX-License-Identifier: MIT */
/*
 * seg.c - segments (paper section 3.2): creation with their backing file, lookup, handles,
 * clone, ctl, delete, sync and enumeration.
 *
 * On disk a named segment is the directory SJMP_DIR/seg/NAME holding
 *   meta  the immutable record (records.h), mode = the segment's mode without write bits;
 *   data  the segment's bytes, fully allocated at creation, mode = the segment's mode;
 *   lock  the lock file (lock.h), writable by everyone who may read the data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "heap.h"
#include "internal.h"
#include "lock.h"
#include "objdir.h"
#include "records.h"

static struct sjmp__seg *open_segs; /* every segment object of this process */

#define KNOWN_FLAGS (SJMP_READ | SJMP_WRITE | SJMP_EXEC | SJMP_SEG_LOCKABLE)

void sjmp__seg_ref(struct sjmp__seg *s)
{
	s->refs++;
}

void sjmp__seg_unref(struct sjmp__seg *s)
{
	if (--s->refs > 0)
		return;
	for (struct sjmp__seg **pp = &open_segs; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	sjmp__backend()->seg_close(s);
	sjmp__lockfile_close(s->lf);
	close(s->data_fd);
	free(s);
}

static struct sjmp__seg *find_open(dev_t dev, ino_t ino)
{
	for (struct sjmp__seg *s = open_segs; s; s = s->next)
		if (s->dev == dev && s->ino == ino)
			return s;
	return NULL;
}

/* Builds the object for an opened data file; takes ownership of data_fd in every case. */
static int seg_object(int data_fd, bool writable, const struct sjmp__seg_meta *m,
                      struct sjmp__seg **out)
{
	struct stat st;
	if (fstat(data_fd, &st) < 0) {
		int e = -errno;
		close(data_fd);
		return e;
	}
	if ((uint64_t)st.st_size != m->size) {
		close(data_fd);
		return sjmp__fail(EBADMSG, "opening segment data",
		                  "the data file of \"%s\" has %lld bytes, its record says %llu; "
		                  "delete the segment",
		                  m->name, (long long)st.st_size, (unsigned long long)m->size);
	}
	struct sjmp__seg *s = find_open(st.st_dev, st.st_ino);
	if (s) { /* the same segment opened twice: one object */
		close(data_fd);
		s->refs++;
		*out = s;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(data_fd);
		return -ENOMEM;
	}
	s->refs = 1;
	snprintf(s->name, sizeof(s->name), "%s", m->name);
	s->base = m->base;
	s->size = m->size;
	s->flags = m->flags;
	s->data_fd = data_fd;
	s->writable = writable;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	int r = sjmp__backend()->seg_open(s);
	if (r < 0) {
		close(data_fd);
		free(s);
		return r;
	}
	s->next = open_segs;
	open_segs = s;
	*out = s;
	return 0;
}

static int open_data(int dirfd, bool *writable)
{
	int fd = openat(dirfd, "data", O_RDWR | O_CLOEXEC);
	*writable = fd >= 0;
	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM))
		fd = openat(dirfd, "data", O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int read_meta(int dirfd, const char *name, struct sjmp__seg_meta *m)
{
	char what[SJMP_NAME_MAX + 32];
	snprintf(what, sizeof(what), "segment \"%s\"", name);
	int fd = openat(dirfd, "meta", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? sjmp__fail(EBADMSG, what,
		                                    "its meta file is missing; "
		                                    "delete the segment")
		                       : -errno;
	ssize_t n = pread(fd, m, sizeof(*m), 0);
	int e = errno;
	char extra;
	ssize_t more = n == (ssize_t)sizeof(*m) ? pread(fd, &extra, 1, (off_t)sizeof(*m)) : 0;
	close(fd);
	if (n < 0)
		return -e;
	return sjmp__seg_meta_check(m, more > 0 ? 0 : (size_t)n, what);
}

int sjmp__seg_open_name(const char *name, struct sjmp__seg **out)
{
	int dirfd = openat(sjmp__segdirfd(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	struct sjmp__seg_meta m;
	int r = read_meta(dirfd, name, &m);
	if (r == 0 && strcmp(m.name, name) != 0)
		r = sjmp__fail(EBADMSG, name,
		               "its record names another segment (\"%s\"); delete it", m.name);
	bool writable = false;
	int fd = r < 0 ? r : open_data(dirfd, &writable);
	close(dirfd);
	if (fd < 0)
		return fd;
	return seg_object(fd, writable, &m, out);
}

void sjmp__seg_forget_locks(void)
{
	for (struct sjmp__seg *s = open_segs; s; s = s->next)
		if (s->lf)
			sjmp__lockfile_forget(s->lf);
}

int sjmp__seg_lockfile(struct sjmp__seg *s, struct sjmp__lockfile **out)
{
	if (s->lf) {
		*out = s->lf;
		return 0;
	}
	if (!s->name[0])
		return -ENOENT; /* unnamed segments get their lock file at creation */
	char path[SJMP_NAME_MAX + 8];
	snprintf(path, sizeof(path), "%s/lock", s->name);
	int fd = openat(sjmp__segdirfd(), path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return sjmp__fail(errno, "opening a segment lock file",
		                  "SJMP_DIR/seg/%s must be writable by every user who may read the "
		                  "segment",
		                  path);
	int r = sjmp__lockfile_open(fd, &s->lf);
	if (r < 0)
		return r;
	*out = s->lf;
	return 0;
}

void sjmp__seg_info(const struct sjmp__seg *s, struct sjmp_seg_info *out)
{
	struct stat st;
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", s->name);
	out->base = s->base;
	out->size = s->size;
	out->flags = s->flags;
	if (fstat(s->data_fd, &st) == 0) {
		out->mode = st.st_mode & 07777;
		out->uid = st.st_uid;
		out->gid = st.st_gid;
	}
}

static int check_range(const char *op, uintptr_t base, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	if (size == 0 || size % (size_t)page)
		return sjmp__fail(EINVAL, op, "the size must be a non-zero multiple of %ld bytes",
		                  page);
	if (base % (uintptr_t)page)
		return sjmp__fail(EINVAL, op, "the base must be aligned to %ld bytes", page);
	if (!sjmp__zone_contains(base, size))
		return sjmp__fail(
		    ERANGE, op, "[%#lx, +%#zx) must lie inside the segment zone [%#lx, %#lx)",
		    (unsigned long)base, size, SJMP_ZONE_BASE, SJMP_ZONE_BASE + SJMP_ZONE_SIZE);
	return 0;
}

/* Writes the segment header and the empty heap through a temporary mapping. */
static int format_data(int fd, uintptr_t base, size_t size, const void *copy_from)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	int r = 0;
	if (copy_from) {
		memcpy(p, copy_from, size);
	} else {
		r = sjmp__heap_format(p, size);
		/* The heap's links are offsets, so formatting away from the base is fine; the
		 * header records where the segment really lives. */
		((struct sjmp_seg_header *)p)->base = base;
	}
	munmap(p, size);
	return r;
}

static int write_file(int dirfd, const char *name, mode_t mode, const void *buf, size_t len)
{
	int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (pwrite(fd, buf, len, 0) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Builds every file of a segment in a temporary directory, then names it (or, unnamed, removes
 * the directory entries and keeps the open files). @copy_from: bytes of a segment to clone.
 */
static int create_segment(const char *op, const char *name, uintptr_t base, size_t size,
                          unsigned flags, mode_t mode, const void *copy_from,
                          struct sjmp__seg **out)
{
	int parent = sjmp__segdirfd();
	char tmp[SJMP__TMPNAME_MAX];
	int dirfd = sjmp__objdir_begin(parent, tmp);
	if (dirfd < 0)
		return sjmp__fail(dirfd, op,
		                  "cannot create a directory in %s/seg; check its "
		                  "permissions",
		                  sjmp_dir());
	mode &= ~sjmp__umask() & 0777;
	int r, data_fd = -1, lock_fd = -1;

	data_fd = openat(dirfd, "data", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (data_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = posix_fallocate(data_fd, 0, (off_t)size);
	if (r) {
		r = sjmp__fail(r, op,
		               "cannot allocate %zu bytes under %s; free space or point "
		               "SJMP_DIR at a larger filesystem",
		               size, sjmp_dir());
		goto fail;
	}
	r = format_data(data_fd, base, size, copy_from);
	if (r < 0) {
		r = sjmp__fail(r, op, "cannot write the segment header");
		goto fail;
	}
	if (fchmod(data_fd, mode) < 0) {
		r = -errno;
		goto fail;
	}

	lock_fd = openat(dirfd, "lock", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = sjmp__lockfile_init(lock_fd);
	if (r < 0)
		goto fail;
	/* Everyone who may read the segment must be able to take its shared lock. */
	if (fchmod(lock_fd, mode | ((mode & 0444) >> 1)) < 0) {
		r = -errno;
		goto fail;
	}

	struct sjmp__seg_meta m = {
	    .zone_base = SJMP_ZONE_BASE,
	    .zone_size = SJMP_ZONE_SIZE,
	    .base = base,
	    .size = size,
	    .flags = flags,
	};
	snprintf(m.name, sizeof(m.name), "%s", name ? name : "");
	sjmp__seg_meta_seal(&m);
	r = write_file(dirfd, "meta", mode & 0444, &m, sizeof(m));
	if (r < 0)
		goto fail;

	if (name) {
		r = sjmp__objdir_commit(parent, dirfd, tmp, name, mode);
		if (r == -EEXIST) {
			r = sjmp__fail(EEXIST, op,
			               "a segment named \"%s\" exists; pick another "
			               "name or delete it",
			               name);
			goto fail_committed;
		}
		if (r < 0)
			goto fail_committed;
	} else {
		sjmp__objdir_abort(parent, tmp); /* the open files live on */
	}
	close(dirfd);

	r = seg_object(data_fd, true, &m, out);
	if (r < 0) {
		close(lock_fd);
		if (name)
			sjmp__objdir_remove(parent, name);
		return r;
	}
	if (!name) { /* an unnamed segment's lock file exists only as this descriptor */
		r = sjmp__lockfile_open(lock_fd, &(*out)->lf);
		if (r < 0) {
			sjmp__seg_unref(*out);
			return r;
		}
	} else {
		close(lock_fd);
	}
	return 0;

fail:
	sjmp__objdir_abort(parent, tmp);
fail_committed:
	close(dirfd);
	if (data_fd >= 0)
		close(data_fd);
	if (lock_fd >= 0)
		close(lock_fd);
	return r;
}

/* A handle for a segment just created; on failure the segment is undone entirely. */
static int new_sid(struct sjmp__seg *s, const char *name)
{
	int r = sjmp__sid_new(s);
	if (r < 0) {
		sjmp__seg_unref(s);
		if (name)
			sjmp__objdir_remove(sjmp__segdirfd(), name);
	}
	return r;
}

sjmp_sid_t sjmp_seg_alloc(const char *name, uintptr_t base, size_t size, unsigned flags,
                          mode_t mode)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	char op[SJMP_NAME_MAX + 32];
	snprintf(op, sizeof(op), "seg_alloc(\"%s\")", name ? name : "(unnamed)");
	if (name && (r = sjmp__name_check(op, name)) < 0)
		return r;
	if ((r = check_range(op, base, size)) < 0)
		return r;
	if (flags & ~KNOWN_FLAGS)
		return sjmp__fail(EINVAL, op, "unknown flag bits %#x", flags & ~KNOWN_FLAGS);
	if (!(flags & (SJMP_READ | SJMP_WRITE)))
		return sjmp__fail(EINVAL, op, "a segment needs SJMP_READ or SJMP_WRITE");
	if (mode & ~0777u)
		return sjmp__fail(EINVAL, op, "mode %#o has bits outside 0777", (unsigned)mode);
	if (size < SJMP__HEAP_MIN_SIZE)
		return sjmp__fail(EINVAL, op, "a segment has at least %d bytes",
		                  SJMP__HEAP_MIN_SIZE);

	sjmp__lock();
	struct sjmp__seg *s;
	r = create_segment(op, name, base, size, flags, mode, NULL, &s);
	if (r == 0)
		r = new_sid(s, name);
	sjmp__unlock();
	return r;
}

sjmp_sid_t sjmp_seg_find(const char *name)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	if ((r = sjmp__name_check("seg_find", name)) < 0)
		return r;
	sjmp__lock();
	struct sjmp__seg *s;
	r = sjmp__seg_open_name(name, &s);
	if (r == 0) {
		r = sjmp__sid_new(s);
		if (r < 0)
			sjmp__seg_unref(s);
	}
	sjmp__unlock();
	return r;
}

int sjmp_seg_close(sjmp_sid_t sid)
{
	sjmp__lock();
	struct sjmp__seg *s = sjmp__sid_get(sid);
	if (s) {
		sjmp__sid_clear(sid);
		sjmp__seg_unref(s);
	}
	sjmp__unlock();
	return s ? 0 : -EBADF;
}

int sjmp_seg_delete(const char *name)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	char op[SJMP_NAME_MAX + 32];
	snprintf(op, sizeof(op), "seg_delete(\"%s\")", name ? name : "");
	if ((r = sjmp__name_check(op, name)) < 0)
		return r;
	r = sjmp__objdir_remove(sjmp__segdirfd(), name);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return sjmp__fail(r, op, "SJMP_DIR/seg must be writable by the caller");
	return 0;
}

sjmp_sid_t sjmp_seg_clone(sjmp_sid_t sid, const char *name, mode_t mode)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	char op[SJMP_NAME_MAX + 32];
	snprintf(op, sizeof(op), "seg_clone(\"%s\")", name ? name : "(unnamed)");
	if (name && (r = sjmp__name_check(op, name)) < 0)
		return r;
	if (mode & ~0777u)
		return sjmp__fail(EINVAL, op, "mode %#o has bits outside 0777", (unsigned)mode);
	sjmp__lock();
	struct sjmp__seg *src = sjmp__sid_get(sid), *s;
	if (!src) {
		sjmp__unlock();
		return -EBADF;
	}
	/* Copy through a private read-only mapping of the source file: the copy sees the
	 * bytes as they are in the file, whichever VAS is current. */
	void *p = mmap(NULL, src->size, PROT_READ, MAP_SHARED, src->data_fd, 0);
	if (p == MAP_FAILED) {
		r = -errno;
		sjmp__unlock();
		return r;
	}
	r = create_segment(op, name, src->base, src->size, src->flags, mode, p, &s);
	munmap(p, src->size);
	if (r == 0)
		r = new_sid(s, name);
	sjmp__unlock();
	return r;
}

static int chmod_segment(struct sjmp__seg *s, mode_t mode)
{
	if (mode & ~0777u)
		return -EINVAL;
	if (fchmod(s->data_fd, mode) < 0)
		return -errno;
	if (!s->name[0])
		return 0;
	/* The other files follow the data file's rules (see the top of this file). */
	char path[SJMP_NAME_MAX + 8];
	int fd = sjmp__segdirfd();
	snprintf(path, sizeof(path), "%s/lock", s->name);
	if (fchmodat(fd, path, mode | ((mode & 0444) >> 1), 0) < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/meta", s->name);
	if (fchmodat(fd, path, mode & 0444, 0) < 0)
		return -errno;
	if (fchmodat(fd, s->name, sjmp__dir_mode(mode), 0) < 0)
		return -errno;
	return 0;
}

int sjmp_seg_ctl(sjmp_sid_t sid, int cmd, void *arg)
{
	sjmp__lock();
	struct sjmp__seg *s = sjmp__sid_get(sid);
	int r = 0;
	if (!s)
		r = -EBADF;
	else if (!arg)
		r = sjmp__fail(EINVAL, "seg_ctl", "the argument is NULL");
	else if (cmd == SJMP_SEG_STAT)
		sjmp__seg_info(s, arg);
	else if (cmd == SJMP_SEG_CHMOD)
		r = chmod_segment(s, *(mode_t *)arg);
	else
		r = sjmp__fail(EINVAL, "seg_ctl", "unknown command %d", cmd);
	sjmp__unlock();
	return r;
}

int sjmp_seg_sync(sjmp_sid_t sid)
{
	sjmp__lock();
	struct sjmp__seg *s = sjmp__sid_get(sid);
	int fd = s ? dup(s->data_fd) : -1;
	sjmp__unlock();
	if (!s)
		return -EBADF;
	if (fd < 0)
		return -errno;
	/* Segments are MAP_SHARED mappings of the file, so fsync covers every mapping's
	 * stores (the page cache is shared). */
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	if (r == -EINVAL) /* tmpfs and other filesystems without fsync: already durable as far
	                     as they go */
		r = 0;
	return r ? sjmp__fail(r, "seg_sync", "the filesystem under SJMP_DIR reported an error") : 0;
}

void *sjmp_seg_base(sjmp_sid_t sid)
{
	sjmp__lock();
	struct sjmp__seg *s = sjmp__sid_get(sid);
	void *p = s ? (void *)s->base : NULL;
	sjmp__unlock();
	return p;
}

struct list_ctx {
	struct sjmp_seg_info *out;
	unsigned cap, n;
};

static void list_one(const char *name, void *arg)
{
	struct list_ctx *c = arg;
	if (c->n < c->cap) {
		struct sjmp__seg_meta m;
		memset(&c->out[c->n], 0, sizeof(c->out[c->n]));
		snprintf(c->out[c->n].name, sizeof(c->out[c->n].name), "%s", name);
		int dirfd = openat(sjmp__segdirfd(), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd >= 0) {
			struct stat st;
			/* Unreadable or damaged objects are listed by name only. */
			int fd = openat(dirfd, "meta", O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && pread(fd, &m, sizeof(m), 0) == (ssize_t)sizeof(m) &&
			    m.magic == SJMP__SEG_META_MAGIC) {
				c->out[c->n].base = m.base;
				c->out[c->n].size = m.size;
				c->out[c->n].flags = m.flags;
			}
			if (fd >= 0)
				close(fd);
			if (fstatat(dirfd, "data", &st, 0) == 0) {
				c->out[c->n].mode = st.st_mode & 07777;
				c->out[c->n].uid = st.st_uid;
				c->out[c->n].gid = st.st_gid;
			}
			close(dirfd);
		}
	}
	c->n++;
}

int sjmp_seg_list(struct sjmp_seg_info *out, unsigned cap)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	if (!out && cap)
		return -EINVAL;
	struct list_ctx c = {out, cap, 0};
	r = sjmp__objdir_list(sjmp__segdirfd(), list_one, &c);
	return r < 0 ? r : (int)c.n;
}
