/* SPDX-License-Identifier: MIT */
/*
 * `samtools mpileup` without a reference, with its defaults: records flagged UNMAP, SECONDARY,
 * QCFAIL or DUP and pairs that are not properly paired are left out; at most 8000 records per
 * position; overlapping mates are detected (htslib lowers one mate's qualities); bases under
 * quality 13 are not shown. Without a reference there is no BAQ, bases print as read (lower
 * case on the reverse strand) and deleted bases as N.
 *
 * htslib's pileup engine does the piling up, as in samtools; it is fed records from the
 * per-reference index instead of a file.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/kstring.h>

#include <htslib/sam.h>

#include "rec.h"
#include "stages.h"

#define MPILEUP_SKIP      (BAM_FUNMAP | BAM_FSECONDARY | BAM_FQCFAIL | BAM_FDUP)
#define MPILEUP_MIN_BQ    13
#define MPILEUP_MAX_DEPTH 8000

struct feed {
	const struct sam_root *root;
	uint32_t tid;
	uint64_t i;
};

static int skip(const struct sam_rec *r)
{
	if (r->tid < 0 || (r->flag & MPILEUP_SKIP))
		return 1;
	/* Anomalous pairs: paired but not properly paired (samtools' -A turns this off). */
	return (r->flag & BAM_FPAIRED) && !(r->flag & BAM_FPROPER_PAIR);
}

/* The pileup's read callback: the next kept record in coordinate order, copied into @b
 * because the pileup keeps it and may change its qualities. */
static int feed_next(void *data, bam1_t *b)
{
	struct feed *f = data;
	while (f->tid < f->root->n_refs) {
		const struct sam_ref *ref = &f->root->refs[f->tid];
		while (f->i < ref->n_recs) {
			rec_prefetch(ref->by_pos, f->i, ref->n_recs);
			const struct sam_rec *r = ref->by_pos[f->i++];
			if (skip(r))
				continue;
			return rec_copy(r, b) ? -2 : 0;
		}
		f->tid++;
		f->i = 0;
	}
	return -1;
}

static int qual_at(const bam_pileup1_t *p)
{
	return p->qpos < p->b->core.l_qseq ? bam_get_qual(p->b)[p->qpos] : 0;
}

/* Lookup tables: a base as printed on each strand, and a quality as printed. */
struct tables {
	char base[2][16]; /* [reverse][4-bit code] */
	char qual[256];
};

static void tables_init(struct tables *t)
{
	for (int c = 0; c < 16; c++) {
		t->base[0][c] = (char)toupper((unsigned char)seq_nt16_str[c]);
		t->base[1][c] = (char)tolower((unsigned char)seq_nt16_str[c]);
	}
	for (int q = 0; q < 256; q++)
		t->qual[q] = (char)(q + 33 < 126 ? q + 33 : 126);
}

/* One pileup entry as samtools prints it: read start (^ and the mapping quality), the base
 * (or * for a deletion, > < for a reference skip), an insertion or deletion that follows it
 * (+N/-N and its bases), read end ($). */
static int put_entry(const bam_pileup1_t *p, const struct tables *t, kstring_t *ins, kstring_t *o)
{
	const bam1_t *b = p->b;
	int rev = bam_is_rev(b);
	if (p->is_head) {
		kputc_('^', o);
		kputc_(b->core.qual > 93 ? 126 : b->core.qual + 33, o);
	}
	if (!p->is_del)
		kputc_(p->qpos < b->core.l_qseq ? t->base[rev][bam_seqi(bam_get_seq(b), p->qpos)]
		                                : (rev ? 'n' : 'N'),
		       o);
	else
		kputc_(p->is_refskip ? (rev ? '<' : '>') : '*', o);
	int del_len = -p->indel;
	if (p->indel > 0) {
		ins->l = 0;
		int len = bam_plp_insertion_mod(p, NULL, ins, &del_len);
		if (len < 0)
			return -1;
		kputc_('+', o);
		kputw(len, o);
		for (size_t k = 0; k < ins->l; k++)
			kputc_(rev ? tolower((unsigned char)ins->s[k])
			           : toupper((unsigned char)ins->s[k]),
			       o);
	}
	if (del_len > 0) {
		kputc_('-', o);
		kputw(del_len, o);
		for (int k = 0; k < del_len; k++)
			kputc_(rev ? 'n' : 'N', o);
	}
	if (p->is_tail)
		kputc_('$', o);
	return 0;
}

static int put_position(const struct sam_root *root, int tid, hts_pos_t pos, int n,
                        const bam_pileup1_t *plp, const struct tables *t, kstring_t *ins,
                        kstring_t *o)
{
	int cnt = 0;
	for (int j = 0; j < n; j++)
		if (qual_at(&plp[j]) >= MPILEUP_MIN_BQ)
			cnt++;
	kputs(root->refs[tid].name, o);
	kputc_('\t', o);
	kputll(pos + 1, o);
	kputsn_("\tN\t", 3, o);
	kputw(cnt, o);
	kputc_('\t', o);
	if (n == 0) {
		kputsn_("*\t*\n", 4, o);
		return 0;
	}
	for (int j = 0; j < n; j++)
		if (qual_at(&plp[j]) >= MPILEUP_MIN_BQ && put_entry(&plp[j], t, ins, o))
			return -1;
	if (!cnt)
		kputc_('*', o);
	kputc_('\t', o);
	for (int j = 0; j < n; j++) {
		int q = qual_at(&plp[j]);
		if (q >= MPILEUP_MIN_BQ)
			kputc_(t->qual[q], o);
	}
	if (!cnt)
		kputc_('*', o);
	kputc_('\n', o);
	return 0;
}

int stage_mpileup(const struct sam_root *root, FILE *out)
{
	struct feed f = {.root = root};
	void *data[1] = {&f};
	kstring_t ins = {0, 0, NULL};
	int ret = 1, tid, n;
	hts_pos_t pos;
	const bam_pileup1_t *plp[1];

	bam_mplp_t it = bam_mplp_init(1, feed_next, data);
	if (!it) {
		fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
		return 1;
	}
	if (bam_mplp_init_overlaps(it) < 0) {
		fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
		goto out;
	}
	bam_mplp_set_maxcnt(it, MPILEUP_MAX_DEPTH);
	int r;
	struct tables t;
	kstring_t o = {0, 0, NULL};
	tables_init(&t);
	while ((r = bam_mplp64_auto(it, &tid, &pos, &n, plp)) > 0) {
		if (put_position(root, tid, pos, n, plp[0], &t, &ins, &o)) {
			fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
			free(o.s);
			goto out;
		}
		if (o.l >= (1 << 20)) {
			fwrite(o.s, 1, o.l, out);
			o.l = 0;
		}
	}
	fwrite(o.s, 1, o.l, out);
	free(o.s);
	if (r < 0) {
		fprintf(stderr, "sjmp-sam: mpileup: the pileup failed (records out of order?)\n");
		goto out;
	}
	ret = ferror(out) ? 1 : 0;
out:
	free(ins.s);
	bam_mplp_destroy(it);
	return ret;
}
