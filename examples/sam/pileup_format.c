/* SPDX-License-Identifier: MIT */
/*
 * pileup_format.c - plp_format(): the mpileup lines of one chunk of positions.
 * The rules and where each comes from: pileup_internal.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "pileup_internal.h"

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
	plp_tweak(a, b, *qa, *qb);
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
