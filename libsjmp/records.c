/* SPDX-License-Identifier: MIT */
/* records.c - encode and verify segment metadata and VAS records (docs/format.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "records.h"

void sjmp__seg_meta_seal(struct sjmp__seg_meta *m)
{
	m->magic = SJMP__SEG_META_MAGIC;
	m->version = SJMP__FORMAT_VERSION;
	m->record_size = sizeof(*m);
	m->checksum = XXH64(m, offsetof(struct sjmp__seg_meta, checksum), 0);
}

int sjmp__seg_meta_check(const struct sjmp__seg_meta *m, size_t len, const char *what)
{
	const char *why = NULL;
	if (len != sizeof(*m))
		why = "its size is not that of a segment record";
	else if (m->magic != SJMP__SEG_META_MAGIC)
		why = "it is not an sjmp segment record (bad magic)";
	else if (m->version != SJMP__FORMAT_VERSION)
		why = "it was written by another format version";
	else if (m->checksum != XXH64(m, offsetof(struct sjmp__seg_meta, checksum), 0))
		why = "its checksum does not match (damaged)";
	else if (m->zone_base != SJMP_ZONE_BASE || m->zone_size != SJMP_ZONE_SIZE)
		why = "it was made for another segment zone layout";
	else if (m->base < SJMP_ZONE_BASE || m->size == 0 || m->size > SJMP_ZONE_SIZE ||
	         m->base - SJMP_ZONE_BASE > SJMP_ZONE_SIZE - m->size)
		why = "its range lies outside the segment zone";
	else if (memchr(m->name, 0, sizeof(m->name)) == NULL)
		why = "its name is not terminated";
	if (!why)
		return 0;
	return sjmp__fail(EBADMSG, what, "refusing segment metadata: %s; delete the object", why);
}

static uint64_t vas_rec_sum(const struct sjmp__vas_head *h, const struct sjmp__vas_entry *e)
{
	struct sjmp__vas_head copy = *h;
	copy.checksum = 0;
	XXH64_state_t *st = XXH64_createState();
	if (!st)
		return 0;
	XXH64_reset(st, 0);
	XXH64_update(st, &copy, sizeof(copy));
	XXH64_update(st, e, (size_t)h->nsegs * sizeof(*e));
	uint64_t sum = XXH64_digest(st);
	XXH64_freeState(st);
	return sum;
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG; /* short file */
		done += (size_t)n;
	}
	return 0;
}

#define MAX_VAS_SEGS 65536

int sjmp__vas_rec_read(int fd, const char *what, struct sjmp__vas_entry **out)
{
	struct sjmp__vas_head h;
	const char *why = NULL;
	int r = read_full(fd, &h, sizeof(h));
	if (r == -EBADMSG)
		why = "it is shorter than a record header";
	else if (r < 0)
		return sjmp__fail(r, what, "cannot read the VAS record");
	else if (h.magic != SJMP__VAS_REC_MAGIC)
		why = "it is not an sjmp VAS record (bad magic)";
	else if (h.version != SJMP__FORMAT_VERSION)
		why = "it was written by another format version";
	else if (h.entry_size != sizeof(struct sjmp__vas_entry) || h.nsegs > MAX_VAS_SEGS)
		why = "its sizes are impossible";
	if (why)
		return sjmp__fail(EBADMSG, what, "refusing VAS record: %s; delete the VAS", why);

	struct sjmp__vas_entry *e = calloc(h.nsegs ? h.nsegs : 1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	size_t len = (size_t)h.nsegs * sizeof(*e);
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)e + done, len - done, (off_t)(sizeof(h) + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	if (done < len)
		why = "it is shorter than its entries";
	else if (vas_rec_sum(&h, e) != h.checksum)
		why = "its checksum does not match (damaged)";
	for (unsigned i = 0; !why && i < h.nsegs; i++)
		if (!memchr(e[i].name, 0, sizeof(e[i].name)) || e[i].name[0] == 0)
			why = "an entry has a bad segment name";
	if (why) {
		free(e);
		return sjmp__fail(EBADMSG, what, "refusing VAS record: %s; delete the VAS", why);
	}
	*out = e;
	return (int)h.nsegs;
}

int sjmp__vas_rec_write(int fd, const struct sjmp__vas_entry *e, unsigned n)
{
	struct sjmp__vas_head h = {
	    .magic = SJMP__VAS_REC_MAGIC,
	    .version = SJMP__FORMAT_VERSION,
	    .nsegs = n,
	    .entry_size = sizeof(struct sjmp__vas_entry),
	};
	h.checksum = vas_rec_sum(&h, e);
	size_t len = sizeof(h) + (size_t)n * sizeof(*e);
	char *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	if (n)
		memcpy(buf + sizeof(h), e, (size_t)n * sizeof(*e));
	size_t done = 0;
	int r = 0;
	while (done < len) {
		ssize_t w = pwrite(fd, buf + done, len - done, (off_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		done += (size_t)w;
	}
	free(buf);
	return r;
}
