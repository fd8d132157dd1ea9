/* SPDX-License-Identifier: MIT */
/*
 * `samtools idxstats`: per reference, its name, length, and the records placed on it without
 * and with the unmapped flag; then "*" with the records that have no reference. The loader
 * counted these while building the per-reference index, as `samtools index` does.
 */
#include <inttypes.h>

#include "stages.h"

int stage_idxstats(const struct sam_root *root, FILE *out)
{
	for (uint32_t t = 0; t < root->n_refs; t++) {
		const struct sam_ref *r = &root->refs[t];
		fprintf(out, "%s\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\n", r->name,
		        (int64_t)r->len, r->n_mapped, r->n_unmapped);
	}
	fprintf(out, "*\t0\t0\t%" PRIu64 "\n", root->n_unplaced);
	return ferror(out) ? 1 : 0;
}
