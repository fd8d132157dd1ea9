/* SPDX-License-Identifier: MIT */
/*
 * records.h - the on-disk metadata (docs/format.md): a segment's "meta" file and a VAS's
 * "record" file. Both carry a magic, the format version, their sizes and an XXH64 checksum, so
 * a damaged or foreign file is refused (-EBADMSG) instead of being mapped.
 */
#ifndef SJMP_RECORDS_H
#define SJMP_RECORDS_H

#include <stdint.h>

#include "internal.h"

#define SJMP__SEG_META_MAGIC 0x4154454d47455353ULL /* "SSEGMETA" */
#define SJMP__VAS_REC_MAGIC  0x5243455341564a53ULL /* "SJVASREC" */

/** A segment's meta file: immutable after creation. */
struct sjmp__seg_meta {
	uint64_t magic;
	uint32_t version;
	uint32_t record_size; /* sizeof(struct sjmp__seg_meta) */
	uint64_t zone_base;   /* SJMP_ZONE_BASE when written: the zone is part of the format */
	uint64_t zone_size;
	uint64_t base;
	uint64_t size;
	uint32_t flags;
	uint32_t reserved;
	char name[SJMP_NAME_MAX + 1];
	uint64_t checksum; /* XXH64 (seed 0) of every byte before it */
};

/** One global segment of a VAS, by name. */
struct sjmp__vas_entry {
	char name[SJMP_NAME_MAX + 1];
	uint64_t base;
	uint64_t size;
	uint32_t prot;
	uint32_t reserved;
};

/** A VAS record: this header, then nsegs entries; checksum covers both (with checksum = 0). */
struct sjmp__vas_head {
	uint64_t magic;
	uint32_t version;
	uint32_t nsegs;
	uint32_t entry_size; /* sizeof(struct sjmp__vas_entry) */
	uint32_t reserved;
	uint64_t checksum;
};

void sjmp__seg_meta_seal(struct sjmp__seg_meta *m);
/** sjmp__seg_meta_check() - 0 or -EBADMSG with the reason logged (naming @what). */
int sjmp__seg_meta_check(const struct sjmp__seg_meta *m, size_t len, const char *what);

/**
 * sjmp__vas_rec_read() - read and verify a VAS record from @fd.
 * Return: the number of entries and *@out (malloc'd, caller frees), or -EBADMSG, -EIO, -ENOMEM.
 */
int sjmp__vas_rec_read(int fd, const char *what, struct sjmp__vas_entry **out);
/** sjmp__vas_rec_write() - write a sealed record of @n entries to @fd. Return 0 or -errno. */
int sjmp__vas_rec_write(int fd, const struct sjmp__vas_entry *e, unsigned n);

#endif
