/* SPDX-License-Identifier: MIT */
/*
 * pileup_tweak.c - the overlap quality tweak of two mates (htslib tweak_overlap_quality).
 * The rules and where each comes from: pileup_internal.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/khash.h>

#include "pileup_internal.h"

/* ---- the overlap tweak (htslib tweak_overlap_quality) ---------------------------------- */

/* A walk over a record's aligned bases: the CIGAR operation it is in, the offset in that
 * operation, and the query index and reference offset (from the record's position) of the
 * base. The stepping rules are htslib's cigar_iref2iseq_set/_next. */
struct walk {
	const uint32_t *cig, *cend;
	hts_pos_t icig, iseq, iref;
};

enum { W_BASE = 1, W_NONE = 0, W_ERR = -1 };

/* Move to the first aligned base at reference offset >= @off (a base inside a deletion or
 * skip gives the first base after it). */
static int walk_set(struct walk *w, hts_pos_t off)
{
	if (off < 0)
		return W_NONE;
	w->icig = w->iseq = w->iref = 0;
	for (; w->cig < w->cend; w->cig++) {
		int op = bam_cigar_op(*w->cig);
		hts_pos_t n = bam_cigar_oplen(*w->cig);
		w->icig = 0;
		switch (op) {
		case BAM_CSOFT_CLIP:
		case BAM_CINS:
			w->iseq += n;
			break;
		case BAM_CHARD_CLIP:
		case BAM_CPAD:
			break;
		case BAM_CMATCH:
		case BAM_CEQUAL:
		case BAM_CDIFF:
			off -= n;
			if (off < 0) {
				w->icig = n + off;
				w->iseq += w->icig;
				w->iref += w->icig;
				return W_BASE;
			}
			w->iseq += n;
			w->iref += n;
			break;
		case BAM_CDEL:
		case BAM_CREF_SKIP:
			off -= n;
			if (off < 0)
				off = 0;
			w->iref += n;
			break;
		default:
			return W_ERR;
		}
	}
	w->iseq = -1;
	return W_NONE;
}

/* Move to the next aligned base. */
static int walk_next(struct walk *w)
{
	for (; w->cig < w->cend; w->cig++) {
		int op = bam_cigar_op(*w->cig);
		hts_pos_t n = bam_cigar_oplen(*w->cig);
		switch (op) {
		case BAM_CMATCH:
		case BAM_CEQUAL:
		case BAM_CDIFF:
			if (w->icig >= n - 1)
				break; /* on to the next operation */
			w->iseq++;
			w->icig++;
			w->iref++;
			return W_BASE;
		case BAM_CDEL:
		case BAM_CREF_SKIP:
			w->iref += n;
			break;
		case BAM_CINS:
		case BAM_CSOFT_CLIP:
			w->iseq += n;
			break;
		case BAM_CHARD_CLIP:
		case BAM_CPAD:
			break;
		default:
			return W_ERR;
		}
		w->icig = -1;
	}
	w->iseq = w->iref = -1;
	return W_NONE;
}

/* Which of the two records keeps the quality (htslib hashes the earlier record's name). */
static int tweak_keeps_a(const struct sam_rec *a)
{
	return __ac_Wang_hash(__ac_X31_hash_string(a->qname)) & 1;
}

static void tweak_base(uint8_t *qa, uint8_t *qb, int same, int amul)
{
	int bmul = !amul;
	if (same) {
		int q = *qa + *qb;
		if (q > 200)
			q = 200;
		*qa = (uint8_t)(amul * q);
		*qb = (uint8_t)(bmul * q);
	} else if (*qa > *qb) {
		*qa = (uint8_t)(0.8 * *qa);
		*qb = 0;
	} else if (*qa < *qb) {
		*qb = (uint8_t)(0.8 * *qb);
		*qa = 0;
	} else {
		*qa = (uint8_t)(amul * 0.8 * *qa);
		*qb = (uint8_t)(bmul * 0.8 * *qb);
	}
}

/* Query offset of the first aligned base when the CIGAR is clips, pads or insertions, then
 * aligned operations only, then clips: its aligned bases are then one run on the reference
 * and in the query. -1 otherwise. */
static hts_pos_t simple_offset(const struct sam_rec *r)
{
	uint32_t k = 0;
	hts_pos_t off = 0;
	for (; k < r->n_cigar && !op_aln(bam_cigar_op(r->cigar[k])); k++) {
		int op = bam_cigar_op(r->cigar[k]);
		if (op == BAM_CSOFT_CLIP || op == BAM_CINS)
			off += bam_cigar_oplen(r->cigar[k]);
		else if (op != BAM_CHARD_CLIP && op != BAM_CPAD)
			return -1;
	}
	if (k == r->n_cigar)
		return -1;
	for (; k < r->n_cigar && op_aln(bam_cigar_op(r->cigar[k])); k++)
		;
	for (; k < r->n_cigar; k++) {
		int op = bam_cigar_op(r->cigar[k]);
		if (op != BAM_CSOFT_CLIP && op != BAM_CHARD_CLIP)
			return -1;
	}
	return off;
}

int plp_tweak(const struct sam_rec *a, const struct sam_rec *b, uint8_t *qa, uint8_t *qb)
{
	int amul = tweak_keeps_a(a);
	hts_pos_t aoff, boff;
	if (qa && a->tid == b->tid && (aoff = simple_offset(a)) >= 0 &&
	    (boff = simple_offset(b)) >= 0) {
		hts_pos_t aend = rec_end(a), bend = rec_end(b);
		hts_pos_t end = aend < bend ? aend : bend;
		for (hts_pos_t p = b->pos; p < end; p++) {
			hts_pos_t ia = aoff + p - a->pos, ib = boff + p - b->pos;
			tweak_base(qa + ia, qb + ib, bam_seqi(a->seq, ia) == bam_seqi(b->seq, ib),
			           amul);
		}
		return 0;
	}
	struct walk wa = {a->cigar, a->cigar + a->n_cigar, 0, 0, 0};
	struct walk wb = {b->cigar, b->cigar + b->n_cigar, 0, 0, 0};
	hts_pos_t iref = b->pos;
	int ra = walk_set(&wa, iref - a->pos);
	if (ra != W_BASE)
		return ra == W_ERR ? -1 : 0;
	int rb = walk_set(&wb, iref - b->pos);
	if (rb != W_BASE)
		return rb == W_ERR ? -1 : 0;
	for (;;) {
		while (ra == W_BASE && wa.iref >= 0 && wa.iref < iref - a->pos)
			ra = walk_next(&wa);
		if (ra != W_BASE)
			return ra == W_ERR ? -1 : 0;
		if (iref < wa.iref + a->pos)
			iref = wa.iref + a->pos;
		while (rb == W_BASE && wb.iref >= 0 && wb.iref < iref - b->pos)
			rb = walk_next(&wb);
		if (rb != W_BASE)
			return rb == W_ERR ? -1 : 0;
		if (iref < wb.iref + b->pos)
			iref = wb.iref + b->pos;
		iref++;
		if (wa.iref + a->pos != wb.iref + b->pos)
			continue;
		if (wa.iseq > (hts_pos_t)a->l_qseq || wb.iseq > (hts_pos_t)b->l_qseq)
			return -1;
		if (qa)
			tweak_base(qa + wa.iseq, qb + wb.iseq,
			           bam_seqi(a->seq, wa.iseq) == bam_seqi(b->seq, wb.iseq), amul);
	}
}
