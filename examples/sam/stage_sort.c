/* SPDX-License-Identifier: MIT */
/*
 * `samtools sort -O sam` and `samtools sort -n -O sam`. The sorted order is an array of record
 * pointers kept in the store (root->order[]), so the next stage can walk it without sorting
 * again; the records themselves do not move.
 */
#include <errno.h>
#include <string.h>

#include <htslib/sam.h>

#include "order.h"
#include "rec.h"
#include "stages.h"
#include "store.h"
#include "write.h"

int stage_sort(struct sam_root *root, struct sam_store *s, int by_name)
{
	enum sam_order k = by_name ? SAM_ORDER_NAME : SAM_ORDER_COORD;
	size_t n = root->n_recs;
	struct sam_rec **ord = root->order[k];
	if (!ord) {
		ord = store_alloc(s, (n ? n : 1) * sizeof(*ord));
		if (!ord)
			return 1;
	}
	/* Start from the order in memory (coordinate order): the coordinate sort then has
	 * nothing to do, and the name sort reads the names front to back; both break ties
	 * by input order. */
	for (size_t i = 0; i < n; i++)
		ord[i] = &root->rec_array[i];
	int err = by_name ? order_by_name(ord, n) : order_by_coord(ord, n);
	if (err) {
		fprintf(stderr, "sjmp-sam: sort: %s\n", strerror(-err));
		return 1;
	}
	root->order[k] = ord;

	/* The header says how the records are sorted, as samtools sort's does. */
	sam_hdr_t *h = root_header(root);
	if (!h)
		return 1;
	int ret = 1;
	const char *so = by_name ? "queryname" : "coordinate";
	int hd = sam_hdr_count_lines(h, "HD") > 0;
	if ((hd ? sam_hdr_change_HD(h, "SO", so)
	        : sam_hdr_add_line(h, "HD", "VN", SAM_FORMAT_VERSION, "SO", so, NULL)) < 0 ||
	    sam_hdr_change_HD(h, "GO", NULL) < 0) {
		fprintf(stderr, "sjmp-sam: sort: cannot update the @HD header line\n");
		goto out_hdr;
	}
	htsFile *out = hts_open("-", "w");
	if (!out) {
		fprintf(stderr, "sjmp-sam: sort: cannot write to stdout: %s\n", strerror(errno));
		goto out_hdr;
	}
	if (sam_hdr_write(out, h) < 0) {
		fprintf(stderr, "sjmp-sam: sort: writing the header: %s\n", strerror(errno));
		goto out_close;
	}
	if (write_recs(out, h, ord, n, HTS_POS_MIN))
		goto out_close;
	ret = 0;
out_close:
	if (hts_close(out) < 0 && !ret) {
		fprintf(stderr, "sjmp-sam: sort: closing stdout: %s\n", strerror(errno));
		ret = 1;
	}
out_hdr:
	sam_hdr_destroy(h);
	return ret;
}
