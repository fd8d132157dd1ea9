/* SPDX-License-Identifier: MIT */
/*
 * pileup.c - the pileup of `samtools mpileup FILE` (samtools 1.16 on htslib 1.16, default
 * options, no reference), from records that are already in coordinate order in memory.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <htslib/khash.h>
#include <htslib/sam.h>

#include "pileup.h"

#define PLP_SKIP      (BAM_FUNMAP | BAM_FSECONDARY | BAM_FQCFAIL | BAM_FDUP)
#define PLP_MAX_DEPTH 8000 /* samtools' MPLP_MAX_DEPTH, given to bam_mplp_set_maxcnt */
#define PLP_MIN_BQ    13   /* samtools' default -Q */
#define NONE          UINT32_MAX

/* Work (listed entries) per candidate cut point at most. */
#define CUT_QUANTUM (1u << 18)

static int skip_rec(const struct sam_rec *r)
{
	if (r->tid < 0 || (r->flag & PLP_SKIP))
		return 1;
	return (r->flag & BAM_FPAIRED) && !(r->flag & BAM_FPROPER_PAIR);
}

static int op_ref(int op) /* consumes reference: M D N = X */
{
	return (bam_cigar_type(op) & 2) != 0;
}

static int op_aln(int op) /* an aligned base: M = X */
{
	return op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF;
}

/* One past the last reference base, from the CIGAR's raw reference length (htslib's pileup
 * uses bam_cigar2rlen, which may be 0; the stored endpos is bam_endpos, at least pos + 1). */
static hts_pos_t rec_end(const struct sam_rec *r)
{
	if (r->endpos != r->pos + 1)
		return r->endpos;
	hts_pos_t len = 0;
	for (uint32_t k = 0; k < r->n_cigar; k++)
		if (op_ref(bam_cigar_op(r->cigar[k])))
			len += bam_cigar_oplen(r->cigar[k]);
	return r->pos + len;
}

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

/*
 * Tweak the qualities of the overlapping mates @a (pushed first) and @b: @qa and @qb hold
 * their qualities (l_qseq bytes each) and are changed in place; NULL for a dry run that only
 * finds out whether htslib would fail. Return: 0, or -1 where htslib fails.
 */
static int tweak(const struct sam_rec *a, const struct sam_rec *b, uint8_t *qa, uint8_t *qb)
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

/* ---- the plan ------------------------------------------------------------------------- */

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
struct mate {
	const struct sam_rec *r; /* NULL: free slot */
	uint32_t hash;
	uint32_t kept; /* kept index, or NONE (a record with an empty span) */
};

struct mates {
	struct mate *slot;
	uint32_t mask, n;
};

static uint32_t mate_home(const struct mates *m, uint32_t hash)
{
	return (hash * 0x9e3779b1u) >> 7 & m->mask;
}

static struct mate *mates_find(struct mates *m, uint32_t hash, const char *name)
{
	for (uint32_t i = mate_home(m, hash);; i = (i + 1) & m->mask) {
		struct mate *e = &m->slot[i];
		if (!e->r)
			return NULL;
		if (e->hash == hash && !strcmp(e->r->qname, name))
			return e;
	}
}

static void mates_del(struct mates *m, struct mate *e)
{
	uint32_t i = (uint32_t)(e - m->slot), j = i;
	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->slot[j].r)
			break;
		uint32_t h = mate_home(m, m->slot[j].hash);
		/* Entry j may move to the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (h <= i || h > j)) || (j < i && h <= i && h > j)) {
			m->slot[i] = m->slot[j];
			i = j;
		}
	}
	m->slot[i].r = NULL;
	m->n--;
}

static int mates_put(struct mates *m, const struct sam_rec *r, uint32_t hash, uint32_t kept)
{
	if (2 * (m->n + 1) > m->mask + 1) {
		struct mates g = {calloc((size_t)(m->mask + 1) * 2, sizeof(struct mate)),
		                  (m->mask + 1) * 2 - 1, 0};
		if (!g.slot)
			return -1;
		for (uint32_t i = 0; i <= m->mask; i++)
			if (m->slot[i].r) {
				uint32_t j = mate_home(&g, m->slot[i].hash);
				while (g.slot[j].r)
					j = (j + 1) & g.mask;
				g.slot[j] = m->slot[i];
				g.n++;
			}
		free(m->slot);
		*m = g;
	}
	uint32_t j = mate_home(m, hash);
	while (m->slot[j].r)
		j = (j + 1) & m->mask;
	m->slot[j] = (struct mate){r, hash, kept};
	m->n++;
	return 0;
}

/* The table's hash of a name, never 0 (any hash will do; htslib's X31 is slower, a byte at a
 * time). */
static uint32_t name_hash(const char *s)
{
	size_t n = strlen(s);
	uint64_t h = n * 0x9e3779b97f4a7c15ull, w;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (n) {
		w = 0;
		memcpy(&w, s, n);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
	}
	return (uint32_t)(h ^ h >> 33) | 1; /* never 0 */
}

/* A record left the buffer or was dropped: htslib's overlap_remove deletes the entry of its
 * name (hash @hash), whichever record put it there. */
static void mates_forget(struct mates *m, const struct sam_rec *r, uint32_t hash)
{
	if (!m->n)
		return;
	struct mate *e = mates_find(m, hash, r->qname);
	if (e)
		mates_del(m, e);
}

/* The engine's buffer, as far as the plan needs it: how many records it holds, and which
 * leave it when. Records are bucketed by span end modulo a power of two that grows with their
 * number; a bucket may hold ends that are further apart (the spread of ends is unbounded). */
struct bnode {
	hts_pos_t end;
	const struct sam_rec *r;
	uint32_t next;
	uint32_t hash; /* of the name, 0 when not known yet */
};

struct buffer {
	uint32_t *bucket; /* first node per end modulo size, or NONE */
	hts_pos_t size;
	hts_pos_t done; /* every record ending before this has left */
	uint64_t alive;
	struct bnode *node;
	uint32_t n_node, cap_node, free_node;
};

static int buffer_init(struct buffer *g)
{
	memset(g, 0, sizeof(*g));
	g->size = 1024;
	g->bucket = malloc((size_t)g->size * sizeof(*g->bucket));
	if (!g->bucket)
		return -1;
	memset(g->bucket, 0xff, (size_t)g->size * sizeof(*g->bucket));
	g->free_node = NONE;
	return 0;
}

/* Take the records ending before @to out of bucket @b. */
static void buffer_drain(struct buffer *g, uint32_t *b, hts_pos_t to, struct mates *m)
{
	while (*b != NONE) {
		uint32_t x = *b;
		struct bnode *n = &g->node[x];
		if (n->end >= to) {
			b = &n->next;
			continue;
		}
		*b = n->next;
		if (m->n)
			mates_forget(m, n->r, n->hash ? n->hash : name_hash(n->r->qname));
		n->next = g->free_node;
		g->free_node = x;
		g->alive--;
	}
}

/* Records ending before @to leave the buffer (the engine visited the positions before @to). */
static void buffer_expire(struct buffer *g, hts_pos_t to, struct mates *m)
{
	if (to <= g->done)
		return;
	if (g->alive && to - g->done >= g->size) {
		for (hts_pos_t i = 0; i < g->size; i++)
			buffer_drain(g, &g->bucket[i], to, m);
	} else {
		for (hts_pos_t e = g->done; g->alive && e < to; e++)
			buffer_drain(g, &g->bucket[e & (g->size - 1)], to, m);
	}
	g->done = to;
}

/* Every record leaves (the engine moved on to the next reference): done = @to after. */
static void buffer_clear(struct buffer *g, hts_pos_t to, struct mates *m)
{
	buffer_expire(g, HTS_POS_MAX, m);
	g->done = to;
}

static int buffer_add(struct buffer *g, const struct sam_rec *r, hts_pos_t end, uint32_t hash)
{
	if (g->alive >= (uint64_t)g->size / 2) { /* grow and re-bucket */
		hts_pos_t size = g->size * 2;
		uint32_t *nb = malloc((size_t)size * sizeof(*nb));
		if (!nb)
			return -1;
		memset(nb, 0xff, (size_t)size * sizeof(*nb));
		for (hts_pos_t i = 0; i < g->size; i++)
			for (uint32_t x = g->bucket[i]; x != NONE;) {
				uint32_t next = g->node[x].next;
				uint32_t *b = &nb[g->node[x].end & (size - 1)];
				g->node[x].next = *b;
				*b = x;
				x = next;
			}
		free(g->bucket);
		g->bucket = nb;
		g->size = size;
	}
	uint32_t x = g->free_node;
	if (x != NONE) {
		g->free_node = g->node[x].next;
	} else {
		if (g->n_node == g->cap_node) {
			uint32_t cap = g->cap_node ? g->cap_node * 2 : 4096;
			struct bnode *n = realloc(g->node, (size_t)cap * sizeof(*n));
			if (!n)
				return -1;
			g->node = n;
			g->cap_node = cap;
		}
		x = g->n_node++;
	}
	uint32_t *b = &g->bucket[end & (g->size - 1)];
	g->node[x] = (struct bnode){end, r, *b, hash};
	*b = x;
	g->alive++;
	return 0;
}

static int add_pair(struct plp_plan *p, uint32_t a, uint32_t b, hts_pos_t vis)
{
	if (p->n_pairs == p->cap_pairs) {
		size_t cap = p->cap_pairs ? p->cap_pairs * 2 : 1024;
		struct plp_pair *n = realloc(p->pairs, cap * sizeof(*n));
		if (!n)
			return -1;
		p->pairs = n;
		p->cap_pairs = cap;
	}
	p->kept_pair[a] = p->kept_pair[b] = (uint32_t)p->n_pairs;
	p->pairs[p->n_pairs++] = (struct plp_pair){a, b, vis};
	return 0;
}

static int has_back_op(const struct sam_rec *r)
{
	for (uint32_t k = 0; k < r->n_cigar; k++)
		if (bam_cigar_op(r->cigar[k]) > BAM_CDIFF)
			return 1;
	return 0;
}

/* htslib's overlap_push for @r (kept index @kept or NONE, name hash @hash), joining the
 * buffer with the engine at @vis. Return: 0, -1 out of memory, -2 where htslib's tweak
 * fails. */
static int overlap_push(struct plp_plan *p, struct mates *m, const struct sam_rec *r, hts_pos_t end,
                        uint32_t kept, uint32_t *hash, hts_pos_t vis)
{
	if ((r->flag & BAM_FMUNMAP) || !(r->flag & BAM_FPROPER_PAIR))
		return 0;
	int64_t tlen = r->isize < 0 ? -(int64_t)r->isize : (int64_t)r->isize;
	if ((r->mtid >= 0 && r->tid != r->mtid) ||
	    (tlen >= 2 * (int64_t)r->l_qseq && r->mpos >= end))
		return 0;
	int later = r->mpos >= r->pos || ((r->flag & BAM_FPAIRED) && r->mpos == -1);
	if (!m->n && !later)
		return 0; /* nothing to find, nothing to add: no need for the name */
	*hash = name_hash(r->qname);
	struct mate *e = mates_find(m, *hash, r->qname);
	if (!e)
		return later ? mates_put(m, r, *hash, kept) : 0;
	const struct sam_rec *a = e->r;
	uint32_t ka = e->kept;
	mates_del(m, e);
	if ((a->l_qseq == 0 || r->l_qseq == 0 || has_back_op(a) || has_back_op(r)) &&
	    tweak(a, r, NULL, NULL) < 0)
		return -2;
	/* Nothing changes unless both have aligned bases and a reaches past r's start. */
	if (ka == NONE || kept == NONE || a->l_qseq == 0 || r->l_qseq == 0 || rec_end(a) <= r->pos)
		return 0;
	return add_pair(p, ka, kept, vis);
}

static int add_cut(struct plp_cut **cuts, size_t *n, size_t *cap, uint32_t tid, hts_pos_t pos,
                   uint64_t work)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct plp_cut *v = realloc(*cuts, c * sizeof(*v));
		if (!v)
			return -1;
		*cuts = v;
		*cap = c;
	}
	(*cuts)[(*n)++] = (struct plp_cut){tid, pos, work};
	return 0;
}

/* Pick chunk boundaries among the candidate cuts so that chunks hold similar work. */
static int choose_chunks(struct plp_plan *p, struct plp_cut *cand, size_t n_cand, uint64_t total,
                         size_t want, size_t least)
{
	uint64_t target = want ? total / want : total;
	if (target < least)
		target = least;
	p->cuts = malloc((n_cand + 2) * sizeof(*p->cuts));
	if (!p->cuts)
		return -1;
	size_t n = 0;
	p->cuts[n++] = (struct plp_cut){0, 0, 0};
	for (size_t i = 0; i < n_cand; i++) {
		const struct plp_cut *c = &cand[i], *last = &p->cuts[n - 1];
		if (c->work - last->work >= target && total - c->work >= target / 2 &&
		    (c->tid != last->tid || c->pos > last->pos))
			p->cuts[n++] = *c;
	}
	p->cuts[n++] = (struct plp_cut){p->root->n_refs, 0, total};
	p->n_chunks = total ? n - 1 : 0;
	return 0;
}

void plp_plan_free(struct plp_plan *p)
{
	if (!p)
		return;
	free(p->kept);
	free(p->kept_pair);
	free(p->pairs);
	free(p->refs);
	free(p->cuts);
	free(p);
}

size_t plp_plan_chunks(const struct plp_plan *p)
{
	return p->n_chunks;
}

int plp_plan(const struct sam_root *root, size_t chunks, size_t least, struct plp_plan **out)
{
	uint64_t quantum = least / 4 < CUT_QUANTUM ? least / 4 : CUT_QUANTUM;
	struct plp_plan *p = calloc(1, sizeof(*p));
	struct mates m = {calloc(1024, sizeof(struct mate)), 1023, 0};
	struct buffer g;
	struct plp_cut *cand = NULL;
	size_t n_cand = 0, cap_cand = 0;
	int ret = -1, bad = 0;
	int buffered = buffer_init(&g) == 0;
	size_t n_all = 0;
	for (uint32_t t = 0; t < root->n_refs; t++)
		n_all += root->refs[t].n_recs;
	if (!p || !m.slot || !buffered)
		goto out;
	p->root = root;
	p->kept = malloc((n_all ? n_all : 1) * sizeof(*p->kept));
	p->kept_pair = malloc((n_all ? n_all : 1) * sizeof(*p->kept_pair));
	p->refs = calloc(root->n_refs ? root->n_refs : 1, sizeof(*p->refs));
	if (!p->kept || !p->kept_pair || !p->refs)
		goto out;

	/* The engine's position: where the previous pushed record was (initially 0:0). */
	int32_t cur_tid = 0;
	hts_pos_t cur_pos = 0;
	uint64_t work = 0, last_cand = 0;
	for (uint32_t t = 0; t < root->n_refs; t++) {
		const struct sam_ref *ref = &root->refs[t];
		struct plp_ref_plan *rp = &p->refs[t];
		rp->first = p->n_kept;
		for (uint64_t i = 0; i < ref->n_recs; i++) {
			if (i + 16 < ref->n_recs)
				__builtin_prefetch(ref->by_pos[i + 16]);
			const struct sam_rec *r = ref->by_pos[i];
			if (skip_rec(r))
				continue;
			hts_pos_t end = rec_end(r);
			int here = r->tid == cur_tid && r->pos == cur_pos;
			int new_tid = r->tid != cur_tid;
			buffer_expire(&g, cur_pos, &m);
			if (here && g.alive >= PLP_MAX_DEPTH) { /* the depth cap drops it */
				if (m.n)
					mates_forget(&m, r, name_hash(r->qname));
				continue;
			}
			hts_pos_t vis = cur_pos;
			cur_tid = r->tid;
			cur_pos = r->pos;
			if (here && end <= r->pos)
				continue; /* an empty span where the engine already is: not buffered
				           */
			uint32_t kept = NONE;
			if (end > r->pos) {
				if (work - last_cand >= quantum) {
					if (add_cut(&cand, &n_cand, &cap_cand, t, r->pos, work))
						goto out;
					last_cand = work;
				}
				kept = (uint32_t)p->n_kept++;
				p->kept[kept] = r;
				p->kept_pair[kept] = NONE;
				work += (uint64_t)(end - r->pos);
				if (end - r->pos > rp->maxspan)
					rp->maxspan = end - r->pos;
			}
			uint32_t hash = 0;
			int e = overlap_push(p, &m, r, end, kept, &hash, vis);
			if (e == -2) {
				bad = 1;
				goto out;
			}
			if (e)
				goto out;
			/* On a new reference the engine leaves the old one after this push. */
			if (new_tid)
				buffer_clear(&g, r->pos, &m);
			if (buffer_add(&g, r, end, hash))
				goto out;
		}
		rp->n = p->n_kept - rp->first;
	}
	if (choose_chunks(p, cand, n_cand, work, chunks, least))
		goto out;
	ret = 0;
out:
	if (ret) {
		if (bad)
			fprintf(stderr,
			        "sjmp-sam: mpileup: overlapping mates whose CIGAR does not fit "
			        "their sequence (samtools mpileup fails on this input too)\n");
		else
			fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
		plp_plan_free(p);
		p = NULL;
	}
	free(m.slot);
	free(g.bucket);
	free(g.node);
	free(cand);
	*out = p;
	return ret;
}

/* ---- formatting ----------------------------------------------------------------------- */

/*
 * Positions are formatted a block at a time: each listed record, in push order, writes its
 * entries for the whole block into per-position columns, then the block's lines are put
 * together. A record's sequence and qualities are then read front to back once per block
 * instead of a byte per position, which keeps thousands of records' data from thrashing the
 * cache. An entry in a column is 16 bits, its base's character and its quality's character,
 * looked up together from the base code and the quality; an entry of more than one
 * character (a read start or end, an indel) is a mark there and its text is kept apart.
 */
#define BLOCK 32
#define MARK  1 /* low byte of a column entry whose text is kept apart */

struct extra {
	uint32_t at;       /* index in the column */
	uint32_t off, len; /* its text in the block's text buffer */
};

/* A listed record's state, read once per block. */
struct act {
	const uint8_t *seq;
	const uint8_t *qual; /* qualities of aligned bases: the tweaked copy, if any */
	hts_pos_t beg;
	uint32_t qpos; /* query index at the next position, in a run of aligned bases */
	/* Positions from the next one that need no CIGAR work: aligned bases short of their
	 * operation's last, or the inside of a deletion or skip (in_del), which all show dent. */
	uint32_t run;
	uint32_t ci; /* its cold state, NONE once it has left */
	uint8_t rev; /* 16 on the reverse strand: offset in the base tables */
	uint8_t in_del;
	uint16_t dent;
};

/* The rest, used at read starts and ends, CIGAR operation boundaries, deletions. */
struct cold {
	const struct sam_rec *r;
	hts_pos_t end;
	hts_pos_t x;   /* reference position where operation k starts */
	hts_pos_t vis; /* deletions before this show the original qualities */
	int64_t y;     /* query index where operation k starts */
	int32_t k;     /* current CIGAR operation */
	uint32_t next_free;
	uint8_t *copy;  /* tweaked qualities, owned */
	uint8_t fresh;  /* state already resolved for the next position */
	uint8_t silent; /* no sequence: listed, never shown */
};

struct plp_worker {
	const struct plp_plan *plan;
	struct act *act;
	size_t h, n, cap; /* act[h..n) in push order, some gone (ci == NONE) */
	size_t live, gone;
	struct cold *cold;
	uint32_t n_cold, cap_cold, free_cold;
	uint8_t **stash;   /* per pair: b's tweaked qualities, computed with a's */
	uint32_t *stashed; /* pairs with a stash, to free what is left at the chunk's end */
	size_t n_stashed, cap_stashed;
	/* The block's columns: entries shown, room for them, texts kept apart; records listed
	 * per column as differences. */
	uint16_t *col[BLOCK];
	uint32_t cnt[BLOCK];
	size_t ccap[BLOCK];
	struct extra *xs[BLOCK];
	size_t nx[BLOCK], xcap[BLOCK];
	char *xt;
	size_t xtl, xtcap;
	int32_t diff[BLOCK + 1];
	/* An entry by [rev][base code << 8 | quality]: base and quality characters, 0 when the
	 * quality is under the threshold. */
	uint16_t ent[2][16 << 8];
	char btab[32]; /* base as printed: [rev + 4-bit code] */
	char itab[32]; /* inserted base as printed */
	char qtab[256];
};

struct plp_worker *plp_worker_new(const struct plp_plan *plan)
{
	struct plp_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->plan = plan;
	w->free_cold = NONE;
	w->stash = calloc(plan->n_pairs ? plan->n_pairs : 1, sizeof(*w->stash));
	if (!w->stash) {
		free(w);
		return NULL;
	}
	static const char nt16[] = "=ACMGRSVTWYHKDBN";
	for (int c = 0; c < 16; c++) {
		char u = nt16[c], l = (char)(u == '=' ? '=' : u - 'A' + 'a');
		w->btab[c] = u == '=' ? '.' : u;
		w->btab[16 + c] = u == '=' ? ',' : l;
		w->itab[c] = u;
		w->itab[16 + c] = l;
	}
	for (int q = 0; q < 256; q++)
		w->qtab[q] = (char)(q + 33 < 126 ? q + 33 : 126);
	for (int c = 0; c < 32; c++)
		for (int q = 0; q < 256; q++)
			w->ent[c >> 4][(c & 15) << 8 | q] =
			    q < PLP_MIN_BQ
			        ? 0
			        : (uint16_t)((uint8_t)w->btab[c] | (uint8_t)w->qtab[q] << 8);
	return w;
}

void plp_worker_free(struct plp_worker *w)
{
	if (!w)
		return;
	free(w->act);
	free(w->cold);
	free(w->stash);
	free(w->stashed);
	for (int i = 0; i < BLOCK; i++) {
		free(w->col[i]);
		free(w->xs[i]);
	}
	free(w->xt);
	free(w);
}

/* @buf (room for *@cap elements of @size bytes) made to hold @need at least: the buffer, or
 * NULL when out of memory (@buf is still valid then). */
static void *grow(void *buf, size_t size, size_t *cap, size_t need)
{
	if (need <= *cap)
		return buf;
	size_t c = *cap ? *cap : 1024;
	while (c < need)
		c *= 2;
	void *n = realloc(buf, c * size);
	if (n)
		*cap = c;
	return n;
}

static char *put_uint(char *o, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

/* htslib's first resolve_cigar2 of a record: the first operation on the reference. */
static void cigar_start(struct cold *c)
{
	const struct sam_rec *r = c->r;
	c->x = r->pos;
	c->y = 0;
	if (r->n_cigar == 1) {
		c->k = 0;
		if (!op_aln(bam_cigar_op(r->cigar[0])))
			c->silent = 1; /* htslib would read before the CIGAR; no sequence anyway */
		return;
	}
	for (c->k = 0; c->k < (int32_t)r->n_cigar; c->k++) {
		int op = bam_cigar_op(r->cigar[c->k]);
		if (op_ref(op))
			break;
		if (op == BAM_CINS || op == BAM_CSOFT_CLIP)
			c->y += bam_cigar_oplen(r->cigar[c->k]);
	}
}

/* htslib moves to the next operation on the reference, one per position at most. */
static void cigar_step(struct cold *c)
{
	const uint32_t *cig = c->r->cigar;
	uint32_t n = c->r->n_cigar;
	int op = bam_cigar_op(cig[c->k]);
	hts_pos_t l = bam_cigar_oplen(cig[c->k]);
	if (op_aln(op))
		c->y += l;
	c->x += l;
	for (c->k++; c->k < (int32_t)n; c->k++) {
		op = bam_cigar_op(cig[c->k]);
		if (op_ref(op))
			break;
		if (op == BAM_CINS || op == BAM_CSOFT_CLIP)
			c->y += bam_cigar_oplen(cig[c->k]);
	}
}

static uint32_t cold_get(struct plp_worker *w)
{
	uint32_t i = w->free_cold;
	if (i != NONE) {
		w->free_cold = w->cold[i].next_free;
		return i;
	}
	if (w->n_cold == w->cap_cold) {
		uint32_t cap = w->cap_cold ? w->cap_cold * 2 : 1024;
		struct cold *c = realloc(w->cold, (size_t)cap * sizeof(*c));
		if (!c)
			return NONE;
		w->cold = c;
		w->cap_cold = cap;
	}
	return w->n_cold++;
}

static void leave(struct plp_worker *w, struct act *a)
{
	struct cold *c = &w->cold[a->ci];
	free(c->copy);
	c->copy = NULL;
	c->next_free = w->free_cold;
	w->free_cold = a->ci;
	a->ci = NONE;
	a->run = 0;
	w->live--;
	w->gone++;
}

/* Both tweaked copies of pair @pi. */
static int tweak_pair(const struct plp_plan *p, uint32_t pi, uint8_t **qa, uint8_t **qb)
{
	const struct sam_rec *a = p->kept[p->pairs[pi].a], *b = p->kept[p->pairs[pi].b];
	*qa = malloc(a->l_qseq);
	*qb = malloc(b->l_qseq);
	if (!*qa || !*qb) {
		free(*qa);
		free(*qb);
		return -1;
	}
	memcpy(*qa, a->qual, a->l_qseq);
	memcpy(*qb, b->qual, b->l_qseq);
	tweak(a, b, *qa, *qb);
	return 0;
}

/* The tweaked qualities of kept record @ki, and from where its deletions see them. */
static int tweaked(struct plp_worker *w, uint32_t ki, struct cold *c)
{
	const struct plp_plan *p = w->plan;
	uint32_t pi = p->kept_pair[ki];
	const struct plp_pair *pr = &p->pairs[pi];
	uint8_t *qa, *qb;
	if (pr->a == ki) {
		if (w->n_stashed == w->cap_stashed) {
			size_t cap = w->cap_stashed ? w->cap_stashed * 2 : 256;
			uint32_t *s = realloc(w->stashed, cap * sizeof(*s));
			if (!s)
				return -1;
			w->stashed = s;
			w->cap_stashed = cap;
		}
		if (tweak_pair(p, pi, &qa, &qb))
			return -1;
		free(w->stash[pi]);
		w->stash[pi] = qb;
		w->stashed[w->n_stashed++] = pi;
		c->copy = qa;
		c->vis = pr->vis;
	} else {
		if (w->stash[pi]) {
			qb = w->stash[pi];
			w->stash[pi] = NULL;
		} else {
			if (tweak_pair(p, pi, &qa, &qb))
				return -1;
			free(qa);
		}
		c->copy = qb;
		c->vis = c->r->pos;
	}
	return 0;
}

/* Kept record @ki joins the listed records at position @P (its start, or the start of a
 * chunk it already covers). */
static int enter(struct plp_worker *w, uint32_t ki, hts_pos_t P)
{
	const struct sam_rec *r = w->plan->kept[ki];
	uint32_t ci = cold_get(w);
	if (ci == NONE)
		return -1;
	struct cold *c = &w->cold[ci];
	*c = (struct cold){
	    .r = r, .end = rec_end(r), .vis = r->pos, .fresh = 1, .silent = r->l_qseq == 0};
	if (!c->silent) {
		cigar_start(c);
		/* Catch up with @P as htslib would have, one operation per position at most. */
		for (hts_pos_t last = r->pos; !c->silent;) {
			hts_pos_t j = c->x + bam_cigar_oplen(r->cigar[c->k]);
			if (j < last + 1)
				j = last + 1;
			if (j > P)
				break;
			cigar_step(c);
			last = j;
		}
	}
	if (w->plan->kept_pair[ki] != NONE && tweaked(w, ki, c)) {
		c->next_free = w->free_cold;
		w->free_cold = ci;
		return -1;
	}
	if (w->n == w->cap) {
		if (w->h) {
			memmove(w->act, w->act + w->h, (w->n - w->h) * sizeof(*w->act));
			w->n -= w->h;
			w->h = 0;
		} else {
			size_t cap = w->cap ? w->cap * 2 : 4096;
			struct act *a = realloc(w->act, cap * sizeof(*a));
			if (!a) {
				free(c->copy);
				c->next_free = w->free_cold;
				w->free_cold = ci;
				return -1;
			}
			w->act = a;
			w->cap = cap;
		}
	}
	w->act[w->n++] = (struct act){.seq = r->seq,
	                              .qual = c->copy ? c->copy : r->qual,
	                              .beg = r->pos,
	                              .ci = ci,
	                              .rev = (r->flag & BAM_FREVERSE) ? 16 : 0};
	w->live++;
	return 0;
}

/*
 * The entry of @a at position @P (column @col) when it is not a plain aligned base: resolve
 * the CIGAR as htslib does, print what samtools prints, and work out how many plain
 * positions follow. Return: 0, or -1 when out of memory.
 */
static int slow(struct plp_worker *w, struct act *a, hts_pos_t P, size_t col)
{
	struct cold *c = &w->cold[a->ci];
	const struct sam_rec *r = c->r;
	if (c->silent) {
		if (P == c->end - 1)
			leave(w, a);
		return 0;
	}
	const uint32_t *cig = r->cigar;
	uint32_t n = r->n_cigar;
	if (c->fresh)
		c->fresh = 0;
	else if (P - c->x >= (hts_pos_t)bam_cigar_oplen(cig[c->k]))
		cigar_step(c);
	int op = bam_cigar_op(cig[c->k]);
	hts_pos_t l = bam_cigar_oplen(cig[c->k]);
	int64_t indel = 0;
	if (c->x + l - 1 == P && c->k + 1 < (int32_t)n) { /* what follows this operation */
		int op2 = bam_cigar_op(cig[c->k + 1]);
		int64_t l2 = bam_cigar_oplen(cig[c->k + 1]);
		if (op2 == BAM_CDEL) {
			indel = -l2;
		} else if (op2 == BAM_CINS) {
			indel = l2;
		} else if (op2 == BAM_CPAD && c->k + 2 < (int32_t)n) {
			int64_t l3 = 0;
			for (uint32_t k = (uint32_t)c->k + 2; k < n; k++) {
				int o = bam_cigar_op(cig[k]);
				if (o == BAM_CINS)
					l3 += bam_cigar_oplen(cig[k]);
				else if (op_ref(o))
					break;
			}
			if (l3 > 0)
				indel = l3;
		}
	}
	int is_del = !op_aln(op), is_tail = P == c->end - 1;
	int64_t qpos = is_del ? c->y : c->y + (P - c->x);
	/* Deletions show the next base's quality: tweaked only where the tweak is seen. */
	const uint8_t *qual = (!is_del || P >= c->vis) ? a->qual : r->qual;
	int qv = qpos < (int64_t)r->l_qseq ? qual[qpos] : 0;
	if (qv >= PLP_MIN_BQ) {
		int64_t del_len = indel < 0 ? -indel : 0, ins_len = 0;
		if (indel > 0) { /* htslib's bam_plp_insertion_mod: pads and inserted bases */
			del_len = 0;
			for (uint32_t k = (uint32_t)c->k + 1; k < n; k++) {
				int o = bam_cigar_op(cig[k]);
				if (o == BAM_CPAD || o == BAM_CINS) {
					ins_len += bam_cigar_oplen(cig[k]);
					continue;
				}
				if (o == BAM_CDEL)
					del_len = bam_cigar_oplen(cig[k]);
				break;
			}
		}
		/* The text goes apart unless it is one character. */
		size_t need = w->xtl + (size_t)(ins_len + del_len) + 64;
		char *xt = grow(w->xt, 1, &w->xtcap, need);
		if (!xt)
			return -1;
		w->xt = xt;
		char *o0 = xt + w->xtl, *o = o0;
		if (P == a->beg) {
			*o++ = '^';
			*o++ = (char)(r->mapq > 93 ? 126 : r->mapq + 33);
		}
		if (!is_del)
			*o++ = w->btab[a->rev + bam_seqi(r->seq, qpos)];
		else if (op == BAM_CREF_SKIP)
			*o++ = a->rev ? '<' : '>';
		else
			*o++ = '*';
		if (indel > 0) {
			*o++ = '+';
			o = put_uint(o, (uint64_t)ins_len);
			int64_t j = qpos + 1 - is_del;
			for (uint32_t k = (uint32_t)c->k + 1; k < n; k++) {
				int op3 = bam_cigar_op(cig[k]);
				uint32_t l3 = bam_cigar_oplen(cig[k]);
				if (op3 == BAM_CPAD) {
					memset(o, '*', l3);
					o += l3;
				} else if (op3 == BAM_CINS) {
					for (uint32_t i = 0; i < l3; i++, j++)
						*o++ = w->itab[a->rev + bam_seqi(r->seq, j)];
				} else {
					break;
				}
			}
		}
		if (del_len > 0) {
			*o++ = '-';
			o = put_uint(o, (uint64_t)del_len);
			memset(o, a->rev ? 'n' : 'N', (size_t)del_len);
			o += del_len;
		}
		if (is_tail)
			*o++ = '$';
		uint16_t qc = (uint16_t)((uint8_t)w->qtab[qv] << 8);
		if (o - o0 == 1) {
			w->col[col][w->cnt[col]++] = (uint16_t)((uint8_t)*o0 | qc);
		} else {
			struct extra *x =
			    grow(w->xs[col], sizeof(*x), &w->xcap[col], w->nx[col] + 1);
			if (!x)
				return -1;
			w->xs[col] = x;
			x[w->nx[col]++] =
			    (struct extra){w->cnt[col], (uint32_t)w->xtl, (uint32_t)(o - o0)};
			w->xtl += (size_t)(o - o0);
			w->col[col][w->cnt[col]++] = (uint16_t)(MARK | qc);
		}
	}
	if (is_tail) {
		leave(w, a);
		return 0;
	}
	/* The positions that follow up to the operation's last but one look the same. */
	hts_pos_t last = c->x + l - 2 < c->end - 2 ? c->x + l - 2 : c->end - 2;
	a->in_del = (uint8_t)is_del;
	if (!is_del) {
		a->qpos = (uint32_t)qpos + 1;
	} else {
		if (P < c->vis && c->vis - 1 < last)
			last = c->vis - 1; /* the qualities shown change there */
		char d = op == BAM_CREF_SKIP ? (a->rev ? '<' : '>') : '*';
		a->dent = qv >= PLP_MIN_BQ ? (uint16_t)((uint8_t)d | (uint8_t)w->qtab[qv] << 8) : 0;
	}
	a->run = last > P ? (uint32_t)(last - P) : 0;
	return 0;
}

/* Plain aligned bases: @m entries of @a into columns @col on, two bases (a byte of the
 * sequence) at a time. */
static void plain(struct plp_worker *w, struct act *a, size_t col, uint32_t m)
{
	const uint8_t *seq = a->seq, *qual = a->qual;
	const uint16_t *ent = w->ent[a->rev >> 4];
	uint16_t **cols = w->col + col;
	uint32_t *cnt = w->cnt + col;
	uint32_t qp = a->qpos, j = 0;
	if (qp & 1 && m) { /* the low half of a byte first */
		uint16_t v = ent[(seq[qp >> 1] & 15) << 8 | qual[qp]];
		uint32_t c = cnt[0];
		cols[0][c] = v;
		cnt[0] = c + (v != 0);
		j = 1;
	}
	for (; j + 2 <= m; j += 2) {
		uint32_t q = qp + j, s2 = seq[q >> 1];
		uint16_t v0 = ent[(s2 & 0xf0) << 4 | qual[q]];
		uint16_t v1 = ent[(s2 & 15) << 8 | qual[q + 1]];
		uint32_t c0 = cnt[j], c1 = cnt[j + 1];
		cols[j][c0] = v0;
		cols[j + 1][c1] = v1;
		cnt[j] = c0 + (v0 != 0);
		cnt[j + 1] = c1 + (v1 != 0);
	}
	if (j < m) { /* the high half of a last byte */
		uint32_t q = qp + j;
		uint16_t v = ent[(seq[q >> 1] & 0xf0) << 4 | qual[q]];
		uint32_t c = cnt[j];
		cols[j][c] = v;
		cnt[j] = c + (v != 0);
	}
	a->qpos = qp + m;
	a->run -= m;
}

/* The inside of a deletion or skip: @m times the same entry of @a into columns @col on. */
static void plain_del(struct plp_worker *w, struct act *a, size_t col, uint32_t m)
{
	uint16_t v = a->dent;
	uint16_t **cols = w->col + col;
	uint32_t *cnt = w->cnt + col;
	for (uint32_t j = 0; j < m; j++) {
		uint32_t c = cnt[j];
		cols[j][c] = v;
		cnt[j] = c + (v != 0);
	}
	a->run -= m;
}

/* The bases (low bytes) of @n column entries. */
static char *put_low(char *o, const uint16_t *v, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	const __m128i lo = _mm_set1_epi16(0xff);
	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(v + i));
		__m128i y = _mm_loadu_si128((const __m128i *)(v + i + 8));
		_mm_storeu_si128((__m128i *)(o + i),
		                 _mm_packus_epi16(_mm_and_si128(x, lo), _mm_and_si128(y, lo)));
	}
#endif
	for (; i < n; i++)
		o[i] = (char)(v[i] & 0xff);
	return o + n;
}

/* The qualities (high bytes) of @n column entries. */
static char *put_high(char *o, const uint16_t *v, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(v + i));
		__m128i y = _mm_loadu_si128((const __m128i *)(v + i + 8));
		_mm_storeu_si128((__m128i *)(o + i),
		                 _mm_packus_epi16(_mm_srli_epi16(x, 8), _mm_srli_epi16(y, 8)));
	}
#endif
	for (; i < n; i++)
		o[i] = (char)(v[i] >> 8);
	return o + n;
}

/* Print positions [P0, P1) of the reference named @name. */
static int block(struct plp_worker *w, const char *name, size_t nlen, hts_pos_t P0, hts_pos_t P1,
                 kstring_t *out)
{
	size_t W = (size_t)(P1 - P0), todo = w->n - w->h;
	for (size_t k = 0; k < W; k++) {
		uint16_t *c = grow(w->col[k], sizeof(*c), &w->ccap[k], todo);
		if (!c)
			return -1;
		w->col[k] = c;
		w->cnt[k] = 0;
		w->nx[k] = 0;
	}
	w->xtl = 0;
	memset(w->diff, 0, sizeof(w->diff));
	struct act *A = w->act;
	for (size_t i = w->h, n = w->n; i < n; i++) {
		struct act *a = &A[i];
		if (a->ci == NONE)
			continue;
		hts_pos_t p = a->beg > P0 ? a->beg : P0;
		size_t c0 = (size_t)(p - P0);
		while (p < P1) {
			if (a->run) {
				uint32_t m = a->run < P1 - p ? a->run : (uint32_t)(P1 - p);
				if (a->in_del)
					plain_del(w, a, (size_t)(p - P0), m);
				else
					plain(w, a, (size_t)(p - P0), m);
				p += m;
				continue;
			}
			if (slow(w, a, p, (size_t)(p - P0)))
				return -1;
			p++;
			if (a->ci == NONE)
				break;
		}
		w->diff[c0]++;
		w->diff[p - P0]--;
	}

	size_t need = w->xtl + W * (nlen + 48);
	for (size_t k = 0; k < W; k++)
		need += 2 * (size_t)w->cnt[k];
	if (ks_resize(out, out->l + need) < 0)
		return -1;
	char *o = out->s + out->l;
	int32_t listed = 0;
	for (size_t k = 0; k < W; k++) {
		listed += w->diff[k];
		if (!listed)
			continue;
		size_t cnt = w->cnt[k];
		memcpy(o, name, nlen);
		o += nlen;
		*o++ = '\t';
		o = put_uint(o, (uint64_t)(P0 + (hts_pos_t)k) + 1);
		memcpy(o, "\tN\t", 3);
		o += 3;
		o = put_uint(o, cnt);
		*o++ = '\t';
		if (cnt) {
			const uint16_t *col = w->col[k];
			size_t at = 0;
			for (size_t x = 0; x < w->nx[k]; x++) {
				const struct extra *e = &w->xs[k][x];
				o = put_low(o, col + at, e->at - at);
				memcpy(o, w->xt + e->off, e->len);
				o += e->len;
				at = e->at + 1;
			}
			o = put_low(o, col + at, cnt - at);
			*o++ = '\t';
			o = put_high(o, col, cnt);
		} else {
			memcpy(o, "*\t*", 3);
			o += 3;
		}
		*o++ = '\n';
	}
	out->l = (size_t)(o - out->s);

	/* Forget records that left: from the front for free, elsewhere now and then. */
	while (w->h < w->n && A[w->h].ci == NONE) {
		w->h++;
		w->gone--;
	}
	if (w->gone > 64 && w->gone * 8 > w->n - w->h) {
		size_t j = w->h;
		for (size_t i = w->h; i < w->n; i++)
			if (A[i].ci != NONE)
				A[j++] = A[i];
		w->n = j;
		w->gone = 0;
	}
	return 0;
}

/* Drop every listed record and leftover stash (the end of a chunk). */
static void reset(struct plp_worker *w)
{
	for (size_t i = w->h; i < w->n; i++)
		if (w->act[i].ci != NONE)
			leave(w, &w->act[i]);
	w->h = w->n = w->live = w->gone = 0;
	for (size_t i = 0; i < w->n_stashed; i++) {
		free(w->stash[w->stashed[i]]);
		w->stash[w->stashed[i]] = NULL;
	}
	w->n_stashed = 0;
}

/* First kept index in [lo, hi) whose record starts at or after @pos. */
static size_t first_at(const struct plp_plan *p, size_t lo, size_t hi, hts_pos_t pos)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->kept[mid]->pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Positions [S, E) of reference @t. */
static int format_ref(struct plp_worker *w, uint32_t t, hts_pos_t S, hts_pos_t E, kstring_t *out)
{
	const struct plp_plan *p = w->plan;
	const struct plp_ref_plan *rp = &p->refs[t];
	const char *name = p->root->refs[t].name;
	size_t nlen = strlen(name), lo = rp->first, hi = rp->first + rp->n;
	size_t ki = first_at(p, lo, hi, S);
	int ret = 0;
	/* The records already covering S, rebuilt as they stand there. */
	for (size_t i = first_at(p, lo, ki, S - rp->maxspan); i < ki; i++)
		if (rec_end(p->kept[i]) > S && enter(w, (uint32_t)i, S)) {
			ret = -1;
			goto out;
		}
	for (hts_pos_t P = S;;) {
		if (!w->live) { /* skip to the next record */
			if (ki >= hi || p->kept[ki]->pos >= E)
				break;
			if (p->kept[ki]->pos > P)
				P = p->kept[ki]->pos;
		}
		if (P >= E)
			break;
		hts_pos_t P1 = E - P > BLOCK ? P + BLOCK : E;
		for (; ki < hi && p->kept[ki]->pos < P1; ki++) {
			if (ki + 8 < hi) {
				const struct sam_rec *r = p->kept[ki + 8];
				__builtin_prefetch(r->cigar);
				__builtin_prefetch(r->qual);
			}
			if (ki + 16 < hi)
				__builtin_prefetch(p->kept[ki + 16]);
			if (enter(w, (uint32_t)ki, p->kept[ki]->pos)) {
				ret = -1;
				goto out;
			}
		}
		if (block(w, name, nlen, P, P1, out)) {
			ret = -1;
			goto out;
		}
		P = P1;
	}
out:
	reset(w);
	return ret;
}

int plp_format(struct plp_worker *w, size_t chunk, kstring_t *out)
{
	const struct plp_plan *p = w->plan;
	const struct plp_cut *from = &p->cuts[chunk], *to = &p->cuts[chunk + 1];
	for (uint32_t t = from->tid; t < p->root->n_refs && t <= to->tid; t++) {
		if (t == to->tid && to->pos == 0)
			break;
		hts_pos_t S = t == from->tid ? from->pos : 0;
		hts_pos_t E = t == to->tid ? to->pos : HTS_POS_MAX;
		if (p->refs[t].n && format_ref(w, t, S, E, out))
			return -1;
	}
	return 0;
}
