/* SPDX-License-Identifier: MIT */
/*
 * fmt.h - a record as a SAM text line, byte for byte what htslib's sam_format1 (and so
 * samtools) prints, but faster: the common fields and tags (A, integers, Z, H) are written
 * straight from the stored record into the caller's buffer, with no per-field growth checks
 * (the caller reserves fmt_bound() bytes once per record), table lookups for integers and
 * SIMD for the sequence and qualities; a record with any other tag type (f, d, B) or damaged
 * tags is handed to sam_format1 itself (fmt_slow).
 */
#ifndef SAM_FMT_H
#define SAM_FMT_H

#include <stddef.h>
#include <stdint.h>

#include <htslib/kstring.h>
#include <htslib/sam.h>

#include "sam_model.h"

/* What the formatter keeps of the header: reference names and their lengths. Read-only once
 * made, so threads share one. */
struct fmt {
	const sam_hdr_t *h;
	uint32_t *name_len; /* strlen of each reference name */
	const char **name;  /* each reference name, followed by padding to 16 bytes */
	char *names;        /* where those copies are */
};

/** fmt_init() - prepare @f for records of @h. Return: 0, or -1 when out of memory. */
int fmt_init(struct fmt *f, const sam_hdr_t *h);

/** fmt_free() - free what fmt_init() allocated. */
void fmt_free(struct fmt *f);

/* Bytes fmt_put() may write past the line it returns (vector stores), within the bound. */
#define FMT_SLACK 64

/**
 * fmt_bound() - an upper bound of the bytes fmt_put() writes for @r, FMT_SLACK included:
 * fixed fields, 11 characters per CIGAR operation, one per base and quality (plus one), and at
 * most 4 per tag byte plus 8 per possible tag.
 */
static inline size_t fmt_bound(const struct fmt *f, const struct sam_rec *r)
{
	size_t lr = r->tid >= 0 ? f->name_len[r->tid] : 1;
	size_t lm = r->mtid >= 0 && r->mtid != r->tid ? f->name_len[r->mtid] : 1;
	return (size_t)r->l_qname + lr + lm + 128 + FMT_SLACK + 11 * (size_t)r->n_cigar +
	       2 * (size_t)r->l_qseq + 4 * (size_t)r->l_aux + 8 * ((size_t)r->l_aux / 4 + 1);
}

/**
 * fmt_put() - write @r as one SAM line, with its newline, at @p, which has room for
 * fmt_bound(@f, @r) bytes.
 * Return: the end of the line; NULL when the record needs fmt_slow() (tags of type f, d or B,
 * damaged tags, or no name), in which case the bytes at @p are garbage.
 */
char *fmt_put(const struct fmt *f, const struct sam_rec *r, char *p);

/**
 * fmt_slow() - @r as one SAM line with its newline, by sam_format1, into @line (replacing
 * what it held).
 * Return: 0, or -1 (out of memory, or a record sam_format1 refuses).
 */
int fmt_slow(const struct fmt *f, const struct sam_rec *r, kstring_t *line);

#endif /* SAM_FMT_H */
