/* SPDX-License-Identifier: MIT */
/*
 * rec.h - hand records and the header kept in a store to htslib, whose formatting the stages
 * use wherever samtools does, so their output is byte-identical to samtools'.
 */
#ifndef SAM_REC_H
#define SAM_REC_H

#include <htslib/sam.h>

#include "sam_model.h"

/**
 * rec_view() - make @b describe @r without copying: b->data points into the store.
 * @b must be a zeroed bam1_t that is never passed to bam_destroy1() or to a function that
 * writes its data (sam_format1 and bam_endpos only read it).
 */
void rec_view(const struct sam_rec *r, bam1_t *b);

/**
 * root_header() - rebuild the sam_hdr_t of the loaded file from the stored text.
 * Return: the header (sam_hdr_destroy() it), or NULL with a message printed.
 */
sam_hdr_t *root_header(const struct sam_root *root);

/**
 * root_check() - verify that @root is a sam_root of this format version.
 * Return: 0, or -EBADMSG with a message naming @what (the store) and the remedy.
 */
int root_check(const struct sam_root *root, const char *what);

/**
 * rec_write() - write @r to @out as samtools would (sam_write1 on a view of the record).
 * Return: 0, or -1 after printing a message.
 */
int rec_write(htsFile *out, sam_hdr_t *h, const struct sam_rec *r);

/* How far ahead rec_prefetch() reaches: a record's struct first, its data once the struct
 * (which holds the data's address) has had time to arrive. */
#define REC_AHEAD_STRUCT 16
#define REC_AHEAD_DATA   8

/**
 * rec_prefetch() - start loading the records that a walk over @v (@n pointers) will reach
 * after index @i. Sorted orders visit records in an order unrelated to where they lie, so
 * without this every record costs a few cache and TLB misses in a row.
 */
static inline void rec_prefetch(struct sam_rec *const *v, size_t i, size_t n)
{
	if (i + REC_AHEAD_STRUCT < n)
		__builtin_prefetch(v[i + REC_AHEAD_STRUCT]);
	if (i + REC_AHEAD_DATA < n) {
		const struct sam_rec *r = v[i + REC_AHEAD_DATA];
		for (uint32_t k = 0; k < r->l_data; k += 64)
			__builtin_prefetch(r->qname + k);
	}
}

#endif /* SAM_REC_H */
