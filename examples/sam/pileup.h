/* SPDX-License-Identifier: MIT */
/*
 * pileup.h - `samtools mpileup` (1.16, default options, no reference) computed straight from a
 * store's coordinate-sorted records, without htslib's pileup engine.
 *
 * The work has two parts (pileup_internal.h explains every rule and which htslib or samtools
 * behaviour it follows): plp_plan()    one sequential pass over the records in coordinate order
 * deciding what depends on the order in which htslib's engine sees them: which records are kept
 * (samtools' read filters, the 8000-reads-per-position cap) and which overlapping mates have their
 * qualities adjusted (htslib's overlap detection). It also cuts the positions into chunks of
 * similar work. plp_format()  the text of one chunk of positions. A chunk starts from state that is
 *                 rebuilt exactly from the plan, so chunks can be formatted on any thread in
 *                 any order and written in order.
 */
#ifndef SAM_PILEUP_H
#define SAM_PILEUP_H

#include <stddef.h>

#include <htslib/kstring.h>

#include "sam_model.h"

struct plp_plan;
struct plp_worker;

/**
 * plp_plan() - decide which records the pileup keeps and how their qualities change, and cut
 * the output into chunks.
 * @root:   the loaded store (records in coordinate order).
 * @chunks: about how many chunks to cut,
 * @least:  but none with less work than this (entries listed), unless it is the only one.
 * @out:    the plan, for plp_format(); plp_plan_free() it.
 * Return: 0, or -1 after printing a message (out of memory, or an input on which samtools
 * mpileup fails too).
 */
int plp_plan(const struct sam_root *root, size_t chunks, size_t least, struct plp_plan **out);

/** plp_plan_chunks() - how many chunks plp_format() takes (0 when nothing is printed). */
size_t plp_plan_chunks(const struct plp_plan *plan);

void plp_plan_free(struct plp_plan *plan);

/** plp_worker_new() - per-thread scratch state for plp_format(); NULL when out of memory. */
struct plp_worker *plp_worker_new(const struct plp_plan *plan);

void plp_worker_free(struct plp_worker *w);

/**
 * plp_format() - append the mpileup lines of chunk @chunk to @out.
 * Return: 0, or -1 when out of memory.
 */
int plp_format(struct plp_worker *w, size_t chunk, kstring_t *out);

#endif /* SAM_PILEUP_H */
