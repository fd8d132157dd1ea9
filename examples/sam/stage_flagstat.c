/* SPDX-License-Identifier: MIT */
/*
 * `samtools flagstat`: every counter has a QC-passed and a QC-failed column. The read-pair
 * counters look at primary records only; "mapped" and "duplicates" have an all-records and a
 * primary-only line.
 */
#include <inttypes.h>

#include <htslib/sam.h>

#include "stages.h"

struct flag_counts {
	uint64_t total, primary, secondary, supp, dup, pdup, mapped, pmapped;
	uint64_t paired, read1, read2, proper, both_mapped, singleton, diff_chr, diff_chr_q5;
};

static void count(struct flag_counts *c, const struct sam_rec *r)
{
	unsigned f = r->flag;
	int mapped = !(f & BAM_FUNMAP);
	c->total++;
	if (mapped)
		c->mapped++;
	if (f & BAM_FDUP)
		c->dup++;
	if (f & BAM_FSECONDARY) {
		c->secondary++;
		return;
	}
	if (f & BAM_FSUPPLEMENTARY) {
		c->supp++;
		return;
	}
	c->primary++;
	if (mapped)
		c->pmapped++;
	if (f & BAM_FDUP)
		c->pdup++;
	if (!(f & BAM_FPAIRED))
		return;
	c->paired++;
	if ((f & BAM_FPROPER_PAIR) && mapped)
		c->proper++;
	if (f & BAM_FREAD1)
		c->read1++;
	if (f & BAM_FREAD2)
		c->read2++;
	if ((f & BAM_FMUNMAP) && mapped)
		c->singleton++;
	if (mapped && !(f & BAM_FMUNMAP)) {
		c->both_mapped++;
		if (r->mtid != r->tid) {
			c->diff_chr++;
			if (r->mapq >= 5)
				c->diff_chr_q5++;
		}
	}
}

/* "NN.NN%" of @n in @total, or "N/A" when @total is 0. */
static const char *pct(char *buf, uint64_t n, uint64_t total)
{
	if (!total)
		return "N/A";
	snprintf(buf, 16, "%.2f%%", 100.0 * (double)n / (double)total);
	return buf;
}

int stage_flagstat(const struct sam_root *root, FILE *out)
{
	struct flag_counts c[2] = {0}; /* [0] QC-passed, [1] QC-failed */
	char a[16], b[16];
	/* The order does not matter: walk the records as they lie in memory. */
	for (uint64_t i = 0; i < root->n_recs; i++) {
		const struct sam_rec *r = &root->rec_array[i];
		count(&c[(r->flag & BAM_FQCFAIL) ? 1 : 0], r);
	}
#define LINE(field, text)                                                                          \
	fprintf(out, "%" PRIu64 " + %" PRIu64 " " text "\n", c[0].field, c[1].field)
#define LINE_PCT(field, of, text)                                                                  \
	fprintf(out, "%" PRIu64 " + %" PRIu64 " " text " (%s : %s)\n", c[0].field, c[1].field,     \
	        pct(a, c[0].field, c[0].of), pct(b, c[1].field, c[1].of))
	LINE(total, "in total (QC-passed reads + QC-failed reads)");
	LINE(primary, "primary");
	LINE(secondary, "secondary");
	LINE(supp, "supplementary");
	LINE(dup, "duplicates");
	LINE(pdup, "primary duplicates");
	LINE_PCT(mapped, total, "mapped");
	LINE_PCT(pmapped, primary, "primary mapped");
	LINE(paired, "paired in sequencing");
	LINE(read1, "read1");
	LINE(read2, "read2");
	LINE_PCT(proper, paired, "properly paired");
	LINE(both_mapped, "with itself and mate mapped");
	LINE_PCT(singleton, paired, "singletons");
	LINE(diff_chr, "with mate mapped to a different chr");
	LINE(diff_chr_q5, "with mate mapped to a different chr (mapQ>=5)");
#undef LINE
#undef LINE_PCT
	return ferror(out) ? 1 : 0;
}
