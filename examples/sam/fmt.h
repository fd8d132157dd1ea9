/* SPDX-License-Identifier: MIT */
/*
 * fmt.h - a record as a SAM text line, byte for byte what htslib's sam_format1 (and so
 * samtools) prints, but faster: the common fields and tags (A, integers, Z, H) are written
 * straight from the stored record with table lookups; a record with any other tag type (f, d,
 * B) or damaged tags is handed to sam_format1 itself.
 */
#ifndef SAM_FMT_H
#define SAM_FMT_H

#include <htslib/kstring.h>
#include <htslib/sam.h>

#include "sam_model.h"

/**
 * fmt_rec() - append @r as one SAM line, with its newline, to @out.
 * @h: the header (reference names), as for sam_format1.
 * Return: 0, or -1 (out of memory, or a record sam_format1 refuses too).
 */
int fmt_rec(const sam_hdr_t *h, const struct sam_rec *r, kstring_t *out);

#endif /* SAM_FMT_H */
