/* SPDX-License-Identifier: MIT */
/*
 * store_mmapfile.c - the paper's "mmap" variant of the SAM workflow (section 5.4): the same
 * structures, built in a file on /dev/shm that every process maps at the same fixed address
 * (MAP_FIXED_NOREPLACE, so a clash fails instead of silently replacing a mapping). No VAS, no
 * libsjmp: the only difference from store_sjmp.c is how the memory is obtained.
 *
 * The file starts with struct mf_header; blocks are bump-allocated after it and the file grows
 * (ftruncate + fallocate + one more fixed mapping right after the last) when it is full.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sjmp.h>

#include "store.h"

#define MF_MAGIC 0x3250414d4d4d4153ULL /* "SAMMMAP2" */
#define MF_ALIGN 64
#define MF_GRAIN (2UL << 20)

struct mf_header {
	uint64_t magic;
	uint64_t base; /* SAM_STORE_BASE of the build that made it: every pointer assumes it */
	uint64_t size; /* bytes of the file, all mapped from SAM_STORE_BASE */
	uint64_t used; /* bump pointer: bytes from the base in use */
	void *root;
};

struct sam_store {
	int fd;
	int writable;
	char path[256];
	struct mf_header *hdr; /* == SAM_STORE_BASE */
	size_t mapped;         /* bytes mapped by this process */
};

const char *store_kind(void)
{
	return "mmapfile";
}

static int mf_path(const char *name, char *buf, size_t n)
{
	const char *dir = getenv("SJMP_SAM_MMAPDIR");
	if (!dir || !*dir)
		dir = "/dev/shm";
	if ((size_t)snprintf(buf, n, "%s/sjmp-sam-%s.map", dir, name) >= n) {
		fprintf(stderr, "sjmp-sam: store name '%s' too long\n", name);
		return -ENAMETOOLONG;
	}
	return 0;
}

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

/* Map [off, off + len) of the file at SAM_STORE_BASE + off. */
static int mf_map(struct sam_store *s, size_t off, size_t len)
{
	int prot = PROT_READ | (s->writable ? PROT_WRITE : 0);
	void *want = (void *)(SAM_STORE_BASE + off);
	void *p = mmap(want, len, prot, MAP_SHARED | MAP_FIXED_NOREPLACE, s->fd, (off_t)off);
	if (p == MAP_FAILED || p != want) {
		int err = p == MAP_FAILED ? errno : EEXIST;
		if (p != MAP_FAILED)
			munmap(p, len);
		fprintf(
		    stderr,
		    "sjmp-sam: mmap %s at %p (+%zu bytes): %s: the fixed address range is taken "
		    "in this process\n",
		    s->path, want, len, strerror(err));
		return -err;
	}
	s->mapped = off + len;
	return 0;
}

static int mf_grow(struct sam_store *s, size_t size)
{
	int err = posix_fallocate(s->fd, (off_t)s->mapped, (off_t)(size - s->mapped));
	if (err) {
		fprintf(stderr,
		        "sjmp-sam: growing %s to %zu bytes: %s: free space on its filesystem\n",
		        s->path, size, strerror(err));
		return -err;
	}
	err = mf_map(s, s->mapped, size - s->mapped);
	if (err)
		return err;
	s->hdr = (struct mf_header *)SAM_STORE_BASE;
	s->hdr->size = size;
	return 0;
}

int store_create(const char *name, size_t size_hint, struct sam_store **out)
{
	struct sam_store *s = calloc(1, sizeof(*s));
	int err = -ENOMEM;
	if (!s)
		goto fail;
	s->writable = 1;
	err = mf_path(name, s->path, sizeof(s->path));
	if (err)
		goto fail_free;
	s->fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		err = -errno;
		fprintf(stderr, "sjmp-sam: create %s: %s%s\n", s->path, strerror(errno),
		        errno == EEXIST ? ": drop it first (sjmp-sam-mmapfile drop NAME)" : "");
		goto fail_free;
	}
	size_t size = round_up(size_hint + sizeof(struct mf_header), MF_GRAIN);
	s->mapped = 0;
	err = mf_grow(s, size);
	if (err)
		goto fail_unlink;
	s->hdr = (struct mf_header *)SAM_STORE_BASE;
	s->hdr->magic = MF_MAGIC;
	s->hdr->base = SAM_STORE_BASE;
	s->hdr->size = size;
	s->hdr->used = round_up(sizeof(struct mf_header), MF_ALIGN);
	s->hdr->root = NULL;
	*out = s;
	return 0;

fail_unlink:
	if (s->mapped)
		munmap((void *)SAM_STORE_BASE, s->mapped);
	unlink(s->path);
	close(s->fd);
fail_free:
	free(s);
fail:
	return err;
}

int store_open(const char *name, int writable, struct sam_store **out, struct sam_root **root)
{
	struct sam_store *s = calloc(1, sizeof(*s));
	struct stat st;
	int err = -ENOMEM;
	if (!s)
		return err;
	s->writable = writable;
	err = mf_path(name, s->path, sizeof(s->path));
	if (err)
		goto fail_free;
	s->fd = open(s->path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (s->fd < 0) {
		err = -errno;
		fprintf(stderr, "sjmp-sam: open %s: %s%s\n", s->path, strerror(errno),
		        errno == ENOENT ? ": run `sjmp-sam-mmapfile load FILE --vas NAME` first"
		                        : "");
		goto fail_free;
	}
	if (fstat(s->fd, &st) < 0 || st.st_size < (off_t)sizeof(struct mf_header)) {
		err = -EBADMSG;
		fprintf(stderr, "sjmp-sam: %s: too short to be a store: drop it and load again\n",
		        s->path);
		goto fail_close;
	}
	err = mf_map(s, 0, (size_t)st.st_size);
	if (err)
		goto fail_close;
	s->hdr = (struct mf_header *)SAM_STORE_BASE;
	if (s->hdr->magic == MF_MAGIC && s->hdr->base != SAM_STORE_BASE) {
		err = -EBADMSG;
		fprintf(stderr,
		        "sjmp-sam: %s was made for address %#lx, this build uses %#lx (another "
		        "segment zone): drop it and load again\n",
		        s->path, (unsigned long)s->hdr->base, (unsigned long)SAM_STORE_BASE);
		goto fail_unmap;
	}
	if (s->hdr->magic != MF_MAGIC || s->hdr->size != (uint64_t)st.st_size || !s->hdr->root) {
		err = -EBADMSG;
		fprintf(stderr,
		        "sjmp-sam: %s: not a finished store (the load failed?): drop it and "
		        "load again\n",
		        s->path);
		goto fail_unmap;
	}
	*root = s->hdr->root;
	*out = s;
	return 0;

fail_unmap:
	munmap((void *)SAM_STORE_BASE, s->mapped);
fail_close:
	close(s->fd);
fail_free:
	free(s);
	return err;
}

void *store_alloc(struct sam_store *s, size_t size)
{
	struct mf_header *h = s->hdr;
	size = round_up(size, MF_ALIGN);
	if (h->used + size > h->size) {
		size_t grow = h->size > size ? h->size : size;
		if (mf_grow(s, round_up(h->size + grow, MF_GRAIN)))
			return NULL;
	}
	void *p = (uint8_t *)h + h->used;
	h->used += size;
	return p;
}

void store_free(struct sam_store *s, void *p)
{
	(void)s;
	(void)p; /* bump allocation: space is reclaimed when the store is dropped */
}

int store_set_root(struct sam_store *s, struct sam_root *root)
{
	s->hdr->root = root;
	return 0;
}

int store_close(struct sam_store *s)
{
	if (!s)
		return 0;
	if (s->mapped)
		munmap((void *)SAM_STORE_BASE, s->mapped);
	close(s->fd);
	free(s);
	return 0;
}

int store_thread_enter(void)
{
	return 0; /* a mapping is the whole process's */
}

void store_thread_leave(void)
{
}

int store_drop(const char *name)
{
	char path[256];
	int err = mf_path(name, path, sizeof(path));
	if (err)
		return err;
	if (unlink(path) < 0) {
		err = -errno;
		fprintf(stderr, "sjmp-sam: drop %s: %s\n", path, strerror(-err));
		return err;
	}
	return 0;
}
