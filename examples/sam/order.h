/* SPDX-License-Identifier: MIT */
/*
 * order.h - the two record orders of `samtools sort`, as functions over arrays of record
 * pointers. Records that compare equal keep their input order, as with samtools' stable merge
 * and radix sorts, so the output is byte-identical to samtools'.
 */
#ifndef SAM_ORDER_H
#define SAM_ORDER_H

#include <stddef.h>

#include "sam_model.h"

/**
 * order_by_coord() - sort @recs (@n pointers) in place by reference index (records without a
 * reference last), then position, then strand (forward first).
 * Return: 0, or -ENOMEM.
 */
int order_by_coord(struct sam_rec **recs, size_t n);

/**
 * order_by_name() - sort @recs in place by read name, comparing runs of digits as numbers
 * ("r2" before "r10"), then READ1 before READ2 (flag bits 0x40, 0x80), then by input index
 * (->id), whatever the order of @recs: pass them in the order they lie in memory.
 * Return: 0, or -ENOMEM (also when @n exceeds 2^32 - 1).
 */
int order_by_name(struct sam_rec **recs, size_t n);

/** name_cmp() - the name comparison of order_by_name: <0, 0 or >0, like strcmp. */
int name_cmp(const char *a, const char *b);

#endif /* SAM_ORDER_H */
