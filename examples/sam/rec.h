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
 * rec_copy() - copy @r into @b, which owns its data (from bam_init1 or a pileup): for htslib
 * code that modifies records, such as the pileup's overlap handling.
 * Return: 0, or -1 when out of memory.
 */
int rec_copy(const struct sam_rec *r, bam1_t *b);

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

#endif /* SAM_REC_H */
