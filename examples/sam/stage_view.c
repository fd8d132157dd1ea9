/* SPDX-License-Identifier: MIT */
/*
 * `samtools view FILE [REGION]`: with a region, the records of the coordinate-sorted file that
 * overlap it (start before its end, end after its start), in sorted order, found through the
 * per-reference index instead of a scan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/sam.h>

#include "order.h"
#include "rec.h"
#include "stages.h"
#include "write.h"

/* First index whose running maximum end passes @beg: no record before it can overlap. */
static uint64_t first_overlap(const struct sam_ref *ref, hts_pos_t beg)
{
	uint64_t lo = 0, hi = ref->n_recs;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (ref->max_end[mid] > beg)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Region "*": the records without a reference, in the order of the sorted file. */
static int write_unplaced(htsFile *out, sam_hdr_t *h, const struct sam_root *root)
{
	struct sam_rec **v = malloc((root->n_unplaced + 1) * sizeof(*v));
	uint64_t n = 0;
	int ret = -1;
	if (!v)
		goto out;
	for (uint64_t i = 0; i < root->n_recs; i++)
		if (root->recs[i]->tid < 0)
			v[n++] = root->recs[i];
	if (order_by_coord(v, n))
		goto out;
	for (uint64_t i = 0; i < n; i++)
		if (rec_write(out, h, v[i]))
			goto out;
	ret = 0;
out:
	if (!v || ret)
		fprintf(stderr, "sjmp-sam: view: out of memory\n");
	free(v);
	return ret;
}

static int write_region(htsFile *out, sam_hdr_t *h, const struct sam_root *root, const char *region)
{
	int tid;
	hts_pos_t beg, end;
	if (!strcmp(region, "*"))
		return write_unplaced(out, h, root);
	if (!sam_parse_region(h, region, &tid, &beg, &end, 0)) {
		fprintf(stderr,
		        "sjmp-sam: view: region \"%s\" names no reference of %s: use NAME, "
		        "NAME:BEG-END or {NAME}:BEG-END\n",
		        region, root->source);
		return -1;
	}
	if (tid == HTS_IDX_NOCOOR)
		return write_unplaced(out, h, root);
	if (tid < 0) {
		fprintf(stderr,
		        "sjmp-sam: view: region \"%s\" is not supported: name one reference\n",
		        region);
		return -1;
	}
	/* The overlapping records are a run of the index (from the first whose running maximum
	 * end passes @beg to the last that starts before @end) with a few ending too early mixed
	 * in, which write_recs skips: no copy of the run is made. */
	const struct sam_ref *ref = &root->refs[tid];
	uint64_t first = first_overlap(ref, beg), lo = first, hi = ref->n_recs;
	while (lo < hi) { /* first record starting at or after @end: positions never decrease */
		uint64_t mid = lo + (hi - lo) / 2;
		if (ref->by_pos[mid]->pos < end)
			lo = mid + 1;
		else
			hi = mid;
	}
	return write_recs(out, h, ref->by_pos + first, lo - first, beg);
}

int stage_view(const struct sam_root *root, const char *region, int order)
{
	struct sam_rec *const *v = root->recs;
	if (order >= 0) {
		v = root->order[order];
		if (!v) {
			fprintf(stderr,
			        "sjmp-sam: view --order %s: no %s order is kept in this store: run "
			        "`sjmp-sam sort%s` first\n",
			        order == SAM_ORDER_NAME ? "name" : "coord",
			        order == SAM_ORDER_NAME ? "name" : "coordinate",
			        order == SAM_ORDER_NAME ? " -n" : "");
			return 1;
		}
	}
	sam_hdr_t *h = root_header(root);
	if (!h)
		return 1;
	int ret = 1;
	htsFile *out = hts_open("-", "w");
	if (!out) {
		fprintf(stderr, "sjmp-sam: view: cannot write to stdout: %s\n", strerror(errno));
		goto out_hdr;
	}
	if (region) {
		if (write_region(out, h, root, region))
			goto out_close;
	} else if (write_recs(out, h, v, root->n_recs, HTS_POS_MIN)) {
		goto out_close;
	}
	ret = 0;
out_close:
	if (hts_close(out) < 0 && !ret) {
		fprintf(stderr, "sjmp-sam: view: closing stdout: %s\n", strerror(errno));
		ret = 1;
	}
out_hdr:
	sam_hdr_destroy(h);
	return ret;
}
