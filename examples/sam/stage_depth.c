/* SPDX-License-Identifier: MIT */
/*
 * `samtools depth` with its defaults: records flagged UNMAP, SECONDARY, QCFAIL or DUP are left
 * out; a position is printed when some record's span (pos up to htslib's end position, which
 * is at least pos + 1) covers it, with the number of records that have a base there (CIGAR
 * M, = or X; deletions and reference skips count 0), and positions past the reference's end
 * are printed too, as samtools does.
 *
 * Records come from the per-reference index in coordinate order, so every position before the
 * current record's start is final: two difference arrays over a sliding window (bases, spans)
 * make each record cost one update per CIGAR operation instead of one per base.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/sam.h>

#include "rec.h"
#include "stages.h"

#define DEPTH_SKIP (BAM_FUNMAP | BAM_FSECONDARY | BAM_FQCFAIL | BAM_FDUP)

struct window {
	hts_pos_t base; /* position of slot 0 */
	size_t cap;     /* slots */
	int32_t *bases; /* difference array of the base count */
	int32_t *spans; /* difference array of the records spanning */
	int64_t depth;  /* running values at position base */
	int64_t covered;
};

/* Print positions [w->base, to) and slide the window so that slot 0 is @to. Every span ends
 * inside the window, so slots past it (a gap before the next record) print nothing. */
static void flush(struct window *w, hts_pos_t to, const char *name, FILE *out)
{
	size_t n = (size_t)(to - w->base), m = n < w->cap ? n : w->cap;
	for (size_t i = 0; i < m; i++) {
		w->depth += w->bases[i];
		w->covered += w->spans[i];
		if (w->covered > 0)
			fprintf(out, "%s\t%" PRId64 "\t%" PRId64 "\n", name,
			        (int64_t)(w->base + i + 1), w->depth);
	}
	memmove(w->bases, w->bases + m, (w->cap - m) * sizeof(*w->bases));
	memmove(w->spans, w->spans + m, (w->cap - m) * sizeof(*w->spans));
	memset(w->bases + w->cap - m, 0, m * sizeof(*w->bases));
	memset(w->spans + w->cap - m, 0, m * sizeof(*w->spans));
	w->base = to;
}

static int grow(struct window *w, size_t need)
{
	size_t cap = w->cap;
	while (cap < need)
		cap *= 2;
	int32_t *b = realloc(w->bases, cap * sizeof(*b));
	if (b)
		w->bases = b;
	int32_t *s = realloc(w->spans, cap * sizeof(*s));
	if (s)
		w->spans = s;
	if (!b || !s)
		return -1;
	memset(w->bases + w->cap, 0, (cap - w->cap) * sizeof(*b));
	memset(w->spans + w->cap, 0, (cap - w->cap) * sizeof(*s));
	w->cap = cap;
	return 0;
}

static int depth_ref(struct window *w, const struct sam_ref *ref, FILE *out)
{
	hts_pos_t hi = -1; /* end of the furthest span so far */
	for (uint64_t i = 0; i < ref->n_recs; i++) {
		const struct sam_rec *r = ref->by_pos[i];
		/* Prefetch structs ahead, and the CIGAR only of reads that will need it. */
		if (i + REC_AHEAD_STRUCT < ref->n_recs)
			__builtin_prefetch(ref->by_pos[i + REC_AHEAD_STRUCT]);
		if (i + REC_AHEAD_DATA < ref->n_recs &&
		    !ref->by_pos[i + REC_AHEAD_DATA]->contiguous)
			__builtin_prefetch(ref->by_pos[i + REC_AHEAD_DATA]->cigar);
		if ((r->flag & DEPTH_SKIP) || r->pos < 0)
			continue;
		if (hi < 0) {
			w->base = r->pos;
			w->depth = w->covered = 0;
		}
		/* Slide when the record would not fit: everything before it is final. */
		if ((size_t)(r->endpos - w->base) >= w->cap) {
			flush(w, r->pos, ref->name, out);
			if ((size_t)(r->endpos - w->base) >= w->cap &&
			    grow(w, (size_t)(r->endpos - w->base) + 1))
				return -1;
		}
		int32_t *bases = w->bases - w->base; /* indexable by position */
		w->spans[r->pos - w->base]++;
		w->spans[r->endpos - w->base]--;
		if (r->contiguous) {
			bases[r->pos]++;
			bases[r->endpos]--;
			if (r->endpos > hi)
				hi = r->endpos;
			continue;
		}
		hts_pos_t p = r->pos;
		for (uint32_t k = 0; k < r->n_cigar; k++) {
			int op = bam_cigar_op(r->cigar[k]);
			hts_pos_t len = bam_cigar_oplen(r->cigar[k]);
			if (op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF) {
				bases[p]++;
				bases[p + len]--;
			}
			if (bam_cigar_type(op) & 2)
				p += len;
		}
		if (r->endpos > hi)
			hi = r->endpos;
	}
	if (hi >= 0) {
		flush(w, hi, ref->name, out);
		/* Only position hi's slot can still hold a difference (the last span's end). */
		w->bases[0] = w->spans[0] = 0;
	}
	return 0;
}

int stage_depth(const struct sam_root *root, FILE *out)
{
	struct window w = {.cap = 1 << 16};
	w.bases = calloc(w.cap, sizeof(*w.bases));
	w.spans = calloc(w.cap, sizeof(*w.spans));
	int ret = 1;
	if (!w.bases || !w.spans)
		goto nomem;
	for (uint32_t t = 0; t < root->n_refs; t++)
		if (depth_ref(&w, &root->refs[t], out))
			goto nomem;
	ret = ferror(out) ? 1 : 0;
	goto out;
nomem:
	fprintf(stderr, "sjmp-sam: depth: out of memory\n");
out:
	free(w.bases);
	free(w.spans);
	return ret;
}
