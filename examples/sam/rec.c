/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rec.h"

static void rec_core(const struct sam_rec *r, bam1_t *b)
{
	b->core.pos = r->pos;
	b->core.tid = r->tid;
	b->core.bin = r->bin;
	b->core.qual = r->mapq;
	b->core.l_extranul = r->l_extranul;
	b->core.flag = r->flag;
	b->core.l_qname = r->l_qname;
	b->core.n_cigar = r->n_cigar;
	b->core.l_qseq = (int32_t)r->l_qseq;
	b->core.mtid = r->mtid;
	b->core.mpos = r->mpos;
	b->core.isize = r->isize;
	b->l_data = (int)r->l_data;
}

void rec_view(const struct sam_rec *r, bam1_t *b)
{
	rec_core(r, b);
	b->data = (uint8_t *)r->qname;
	b->m_data = r->l_data;
	bam_set_mempolicy(b, BAM_USER_OWNS_DATA | BAM_USER_OWNS_STRUCT);
}

sam_hdr_t *root_header(const struct sam_root *root)
{
	sam_hdr_t *h = sam_hdr_parse(root->header_len, root->header_text);
	if (!h) {
		fprintf(stderr, "sjmp-sam: the stored header of %s does not parse: load it again\n",
		        root->source);
		return NULL;
	}
	if ((uint32_t)sam_hdr_nref(h) != root->n_refs) {
		fprintf(stderr,
		        "sjmp-sam: the stored header of %s lists %d references, the records %u: "
		        "load it again\n",
		        root->source, sam_hdr_nref(h), root->n_refs);
		sam_hdr_destroy(h);
		return NULL;
	}
	return h;
}

int root_check(const struct sam_root *root, const char *what)
{
	if (!root || root->magic != SAM_ROOT_MAGIC || root->version != SAM_ROOT_VERSION) {
		fprintf(stderr,
		        "sjmp-sam: %s does not hold a SAM workflow of format %d: drop it and load "
		        "the file again\n",
		        what, SAM_ROOT_VERSION);
		return -EBADMSG;
	}
	return 0;
}

int rec_write(htsFile *out, sam_hdr_t *h, const struct sam_rec *r)
{
	bam1_t b;
	memset(&b, 0, sizeof(b));
	rec_view(r, &b);
	if (sam_write1(out, h, &b) < 0) {
		fprintf(stderr, "sjmp-sam: writing record %s: %s\n", r->qname, strerror(errno));
		return -1;
	}
	return 0;
}
