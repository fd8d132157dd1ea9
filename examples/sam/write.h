/* SPDX-License-Identifier: MIT */
/*
 * write.h - write many records as SAM text, formatting on two threads.
 *
 * Formatting (fmt.h: byte-identical to htslib's sam_format1, which samtools uses) is most of
 * the sort and view stages' time once the records need no parsing; it is independent per
 * record, so two threads format chunks of records, and the first writes them in order.
 */
#ifndef SAM_WRITE_H
#define SAM_WRITE_H

#include <stddef.h>

#include <htslib/sam.h>

#include "sam_model.h"

/**
 * write_recs() - write the records of @v[0..@n) that end after @min_end (endpos > @min_end;
 * HTS_POS_MIN for all) to @out (opened for SAM text, header already written), byte for byte
 * what sam_write1 would write for each.
 * Return: 0, or -1 after printing a message.
 */
int write_recs(htsFile *out, sam_hdr_t *h, struct sam_rec *const *v, size_t n, hts_pos_t min_end);

#endif /* SAM_WRITE_H */
