/* SPDX-License-Identifier: MIT */
/*
 * stages.h - the workflow's stages. Each takes the root of a loaded store (whichever way its
 * memory was obtained), reads only the store, and writes to stdout exactly what
 * `samtools STAGE` writes for the same input (@PG header lines aside). Each returns 0, or
 * non-zero after printing a message.
 */
#ifndef SAM_STAGES_H
#define SAM_STAGES_H

#include <stdio.h>

#include "sam_model.h"

struct sam_store;

/** stage_flagstat() - `samtools flagstat`: counts by flag class, QC-passed + QC-failed. */
int stage_flagstat(const struct sam_root *root, FILE *out);

/** stage_idxstats() - `samtools idxstats` on the indexed sorted file: per-reference counts. */
int stage_idxstats(const struct sam_root *root, FILE *out);

/**
 * stage_sort() - `samtools sort -O sam` (coordinate) or `samtools sort -n -O sam` (@by_name):
 * sorts, keeps the order in the store (root->order[]) for later stages, prints SAM.
 * @s: the store, opened writable: the order array is allocated there.
 */
int stage_sort(struct sam_root *root, struct sam_store *s, int by_name);

/**
 * stage_view() - `samtools view FILE [REGION]`: records overlapping @region, found through the
 * per-reference index, as SAM without header; with no region every record, in input order,
 * or with @order (SAM_ORDER_COORD or SAM_ORDER_NAME, -1 for input order) in the order an
 * earlier `sort` stage kept in the store: the next stage of a workflow reusing it.
 */
int stage_view(const struct sam_root *root, const char *region, int order);

/** stage_depth() - `samtools depth` with its defaults (no UNMAP/SECONDARY/QCFAIL/DUP). */
int stage_depth(const struct sam_root *root, FILE *out);

/** stage_mpileup() - `samtools mpileup` with its defaults and no reference. */
int stage_mpileup(const struct sam_root *root, FILE *out);

#endif /* SAM_STAGES_H */
