/* SPDX-License-Identifier: MIT */
/*
 * pileup_internal.h - what the parts of the pileup engine share (pileup.h is its interface):
 * the plan, the CIGAR helpers and the overlap tweak.
 *   pileup_tweak.c   htslib's overlap quality tweak of two mates
 *   pileup_plan.c    plp_plan(): the push-time decisions, in one pass over the records
 *   pileup_format.c  plp_format(): the text of a chunk of positions
 *
 * The pileup of `samtools mpileup FILE` (samtools 1.16 on htslib 1.16, default options, no
 * reference), from records that are already in coordinate order in memory.
 *
 * What samtools prints, and where each rule comes from:
 *
 * Read filters (samtools bam_plcmd.c, mplp_func, with the defaults of bam_mpileup): a record is
 * left out when it has no reference or is flagged UNMAP, SECONDARY, QCFAIL or DUP, or when it
 * is paired but not properly paired (an "anomalous" pair; -A would keep it). Minimum mapping
 * quality is 0. Without a reference there is no BAQ and no mapping-quality cap. Records that
 * pass are "pushed" into htslib's engine in file order.
 *
 * The engine (htslib sam.c: bam_plp_push, bam_plp64_next) keeps a buffer of pushed records.
 * A record's span is [pos, pos + reference length of its CIGAR) (the raw length: a CIGAR that
 * covers no reference gives an empty span, unlike bam_endpos). Positions are visited in order;
 * a position is printed when at least one buffered record's span covers it, listing those
 * records in push order. Every record whose span covers the position is listed, even when
 * nothing of it is shown (a base under the quality threshold, a read without sequence).
 * What the engine does at the moment of each push matters:
 *   - The engine's position: when a record is pushed, the engine has visited every position
 *     before the previous pushed record's position (cur), and no other. Records whose span
 *     ends before cur have left the buffer; the others are still in it.
 *   - The depth cap (bam_plp_set_maxcnt, 8000 in samtools): a record pushed when the engine
 *     stands at its own position (same reference, same position as the previous pushed
 *     record; initially reference 0, position 0) is dropped when 8000 or more records are
 *     buffered (mp->cnt counts them plus one spare node; the test is cnt > maxcnt). The first
 *     record at a position is never dropped, so more than 8000 records can cover a position.
 *   - A record that is not dropped joins the buffer unless its span is empty and the engine
 *     already stands at its position.
 *   - Overlapping mates (bam_plp_init_overlaps, on in samtools unless -x; overlap_push): a
 *     record joining the buffer that is properly paired, whose mate is mapped and on the same
 *     reference, and that may overlap its mate (not: |TLEN| >= 2 * length and mate position
 *     >= its end), looks its name up in a table. Found: the two are "tweaked" (below) and the
 *     entry leaves the table. Not found: the record enters the table under its name when its
 *     mate is still to come (mate position >= its position, or paired with mate position -1).
 *     A record leaving the buffer, or dropped by the cap, removes the entry of its name.
 *   - The tweak (tweak_overlap_quality): over the reference positions, from the later
 *     record's start, where both records have an aligned base (CIGAR M, = or X): equal bases
 *     give the sum of both qualities capped at 200 to one of them and 0 to the other (which
 *     one: bit 0 of the hash of the earlier record's name); different bases keep 80% of the
 *     higher quality and zero the lower one (equal qualities: 80% to the one chosen by the
 *     hash, 0 to the other). Each record is tweaked at most once, from its original values.
 *     The changed qualities are seen by positions printed after the later record's push: all
 *     positions from its start on, and also positions from cur on, which matters for
 *     deletions (they show the quality of the base after them, which may lie in the tweaked
 *     stretch).
 *
 * Each listed record (htslib resolve_cigar2) is at some CIGAR operation covering the position:
 * an aligned base (its query index), or a deletion / reference skip (the query index of the
 * next base). htslib advances that operation by at most one per position, which this code
 * does the same way, so that zero-length operations behave as they do there. At the last
 * reference base of an operation it looks at the next one: D gives a deletion length, I an
 * insertion length, P followed by I the I lengths after the pads. The first position of the
 * span is a read start, the last a read end.
 *
 * Each entry is printed (samtools pileup_seq) only when its quality (the quality of its query
 * index, 0 past the end of the sequence) is at least 13: "^" and the mapping quality + 33 (at
 * most 126) at a read start; the base (upper case on the forward strand, lower case on the
 * reverse, "=" as "." or ","), or "*" for a deletion, ">" or "<" for a reference skip; an
 * insertion as "+" and its length counting pads, then the pads as "*" and the inserted bases
 * (htslib bam_plp_insertion_mod; an insertion followed by a deletion also prints "-" and the
 * deletion's length with that many "N"); a deletion following the base as "-", its length and
 * as many "N" (lower case on the reverse strand); "$" at a read end. A line reads: reference
 * name, position (1-based), "N", the number of entries printed, the entries ("*" if none),
 * their qualities + 33 (at most 126) ("*" if none).
 *
 * Known differences, all on inputs htslib itself handles with undefined behaviour: a CIGAR of
 * one operation that is not M, = or X (htslib reads the word before the CIGAR); overlapping
 * proper mates of which one has no sequence and they share exactly one aligned base (htslib
 * reads past that record's data; here the qualities are left alone). Where samtools fails
 * (a tweak walks off the end of a record without sequence, or meets a B operation), so does
 * this code, without printing.
 *
 * How the work is split: plp_plan() replays the push-time decisions above in one pass over
 * the records (a buffer of ends bucketed by position, the name table), and notes which
 * records are kept and which pairs are tweaked, with the position from which each tweak is
 * seen. Then any stretch of positions can be printed on its own: the records covering its
 * first position are found from the plan, their CIGAR state is advanced to it, and tweaks
 * are recomputed from the original qualities.
 */
#ifndef SAM_PILEUP_INTERNAL_H
#define SAM_PILEUP_INTERNAL_H

#include <stdint.h>

#include <htslib/sam.h>

#include "pileup.h"

#define PLP_SKIP      (BAM_FUNMAP | BAM_FSECONDARY | BAM_FQCFAIL | BAM_FDUP)
#define PLP_MAX_DEPTH 8000 /* samtools' MPLP_MAX_DEPTH, given to bam_mplp_set_maxcnt */
#define PLP_MIN_BQ    13   /* samtools' default -Q */
#define NONE          UINT32_MAX

struct plp_pair {
	uint32_t a, b; /* kept indices: a pushed first */
	hts_pos_t vis; /* positions of a from here on see the tweak (cur at b's push) */
};

struct plp_cut {
	uint32_t tid;
	hts_pos_t pos;
	uint64_t work; /* listed entries before this point */
};

struct plp_ref_plan {
	size_t first, n;   /* kept[first .. first + n) */
	hts_pos_t maxspan; /* longest span of a kept record */
};

struct plp_plan {
	const struct sam_root *root;
	const struct sam_rec **kept; /* records that are listed, in push order */
	uint32_t *kept_pair;         /* their tweak pair, or NONE */
	size_t n_kept;
	struct plp_pair *pairs;
	size_t n_pairs, cap_pairs;
	struct plp_ref_plan *refs;
	struct plp_cut *cuts; /* chunk c is [cuts[c], cuts[c + 1]) */
	size_t n_chunks;
};

/* The name table of overlap detection (htslib's olap_hash): open addressing, linear probing,
 * deletion by moving later entries back. */

static inline int op_ref(int op) /* consumes reference: M D N = X */
{
	return (bam_cigar_type(op) & 2) != 0;
}

static inline int op_aln(int op) /* an aligned base: M = X */
{
	return op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF;
}

/* One past the last reference base, from the CIGAR's raw reference length (htslib's pileup
 * uses bam_cigar2rlen, which may be 0; the stored endpos is bam_endpos, at least pos + 1). */
static inline hts_pos_t rec_end(const struct sam_rec *r)
{
	if (r->endpos != r->pos + 1)
		return r->endpos;
	hts_pos_t len = 0;
	for (uint32_t k = 0; k < r->n_cigar; k++)
		if (op_ref(bam_cigar_op(r->cigar[k])))
			len += bam_cigar_oplen(r->cigar[k]);
	return r->pos + len;
}

/*
 * plp_tweak() - tweak the qualities of the overlapping mates @a (pushed first) and @b: @qa and
 * @qb hold their qualities (l_qseq bytes each) and are changed in place; NULL for a dry run that
 * only finds out whether htslib would fail. Return: 0, or -1 where htslib fails.
 */
int plp_tweak(const struct sam_rec *a, const struct sam_rec *b, uint8_t *qa, uint8_t *qb);

#endif /* SAM_PILEUP_INTERNAL_H */
