/* SPDX-License-Identifier: MIT */
/*
 * write.h - write many records as SAM text, formatting on two threads.
 *
 * Formatting (fmt.h: byte-identical to htslib's sam_format1, which samtools uses) is most of
 * the sort and view stages' time once the records need no parsing; it is independent per
 * record, so a second thread formats every other chunk while the first formats its own and
 * writes both in order.
 */
#ifndef SAM_WRITE_H
#define SAM_WRITE_H

#include <stddef.h>

#include <htslib/sam.h>

#include "sam_model.h"

/**
 * write_recs() - write @v[0..@n) to @out (opened for SAM text, header already written), byte
 * for byte what sam_write1 would write for each.
 * Return: 0, or -1 after printing a message.
 */
int write_recs(htsFile *out, sam_hdr_t *h, struct sam_rec *const *v, size_t n);

#endif /* SAM_WRITE_H */
