/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <htslib/sam.h>

#include "arena.h"
#include "load.h"
#include "order.h"
#include "sam_model.h"
#include "store.h"

/* Arena blocks: large enough that refills are rare, small enough to waste little at the end. */
#define LOAD_BLOCK (16UL << 20)

size_t load_size_hint(const char *path)
{
	struct stat st;
	size_t size = 0;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		size = (size_t)st.st_size;
	/* SAM text shrinks when parsed (4-bit bases, binary numbers) but gains a record struct;
	 * BAM and CRAM are compressed, typically 3-4x. The store grows if this is short. */
	htsFile *fp = hts_open(path, "r");
	int compressed = fp && hts_get_format(fp)->format != sam;
	if (fp)
		hts_close(fp);
	return (compressed ? size * 4 : size + size / 4) + (32UL << 20);
}

/* Where the parser stopped, for messages: SAM counts lines, BAM and CRAM count records. */
static void where(htsFile *fp, const char *path, uint64_t nrec, char *buf, size_t n)
{
	if (hts_get_format(fp)->format == sam)
		snprintf(buf, n, "%s:%lld", path, (long long)fp->lineno);
	else
		snprintf(buf, n, "%s: record %llu", path, (unsigned long long)nrec + 1);
}

/* A parsed record, in this process's memory until place_records() lays it out in the store:
 * structs and data from separate arenas. */
static struct sam_rec *copy_rec(struct arena *recs, struct arena *data, const bam1_t *b)
{
	struct sam_rec *r = arena_alloc(recs, sizeof(*r));
	uint8_t *d = arena_alloc(data, b->l_data);
	if (!r || !d)
		return NULL;
	memcpy(d, b->data, b->l_data);
	r->pos = b->core.pos;
	r->endpos = bam_endpos(b);
	r->mpos = b->core.mpos;
	r->isize = b->core.isize;
	r->tid = b->core.tid;
	r->mtid = b->core.mtid;
	r->flag = b->core.flag;
	r->bin = b->core.bin;
	r->mapq = b->core.qual;
	r->l_extranul = b->core.l_extranul;
	r->l_qname = b->core.l_qname;
	r->n_cigar = b->core.n_cigar;
	r->l_qseq = (uint32_t)b->core.l_qseq;
	r->l_data = (uint32_t)b->l_data;
	r->qname = (char *)d;
	r->cigar = (uint32_t *)(d + ((uint8_t *)bam_get_cigar(b) - b->data));
	r->seq = d + (bam_get_seq(b) - b->data);
	r->qual = d + (bam_get_qual(b) - b->data);
	r->aux = d + (bam_get_aux(b) - b->data);
	r->l_aux = (uint32_t)bam_get_l_aux(b);
	r->id = 0;
	r->contiguous = 0;
	if (!(b->core.flag & BAM_FUNMAP) && r->endpos > r->pos) {
		const uint32_t *cig = bam_get_cigar(b);
		hts_pos_t bases = 0;
		for (uint32_t k = 0; k < b->core.n_cigar; k++) {
			int op = bam_cigar_op(cig[k]);
			if (op == BAM_CMATCH || op == BAM_CEQUAL || op == BAM_CDIFF)
				bases += bam_cigar_oplen(cig[k]);
		}
		r->contiguous = bases == r->endpos - r->pos;
	}
	return r;
}

/* Copy the parsed records (@list, input order, in this process's memory) into the store in
 * coordinate order: the structs into one array, their data blocks after one another in the
 * same order; then the input-order pointer array. */
static int place_records(struct arena *a, struct sam_root *root, struct sam_rec **list, size_t n)
{
	struct sam_rec **ord = malloc((n ? n : 1) * sizeof(*ord));
	if (!ord)
		return -ENOMEM;
	memcpy(ord, list, n * sizeof(*ord));
	if (order_by_coord(ord, n)) {
		free(ord);
		return -ENOMEM;
	}
	root->n_recs = n;
	root->rec_array = store_alloc(a->store, (n ? n : 1) * sizeof(*root->rec_array));
	root->recs = arena_alloc(a, (n ? n : 1) * sizeof(*root->recs));
	if (!root->rec_array || !root->recs) {
		free(ord);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		const struct sam_rec *from = ord[k];
		struct sam_rec *to = &root->rec_array[k];
		uint8_t *d = arena_alloc(a, from->l_data);
		if (!d) {
			free(ord);
			return -ENOMEM;
		}
		memcpy(d, from->qname, from->l_data);
		*to = *from;
		to->qname = (char *)d;
		to->cigar =
		    (uint32_t *)(d + ((const uint8_t *)from->cigar - (uint8_t *)from->qname));
		to->seq = d + (from->seq - (uint8_t *)from->qname);
		to->qual = d + (from->qual - (uint8_t *)from->qname);
		to->aux = d + (from->aux - (uint8_t *)from->qname);
		root->recs[from->id] = to;
	}
	free(ord);
	return 0;
}

/* The per-reference index: every placed record in samtools' coordinate order (a run of
 * rec_array), plus the running maximum of end positions for region queries, plus idxstats'
 * counts. */
static int build_refs(struct arena *a, struct sam_root *root)
{
	uint64_t *count = calloc(root->n_refs + 1, sizeof(*count));
	if (!count)
		return -ENOMEM;
	for (uint64_t i = 0; i < root->n_recs; i++) {
		const struct sam_rec *r = &root->rec_array[i];
		if (r->tid >= 0)
			count[r->tid]++;
		else
			root->n_unplaced++;
	}
	for (uint32_t t = 0; t < root->n_refs; t++) {
		struct sam_ref *ref = &root->refs[t];
		ref->by_pos = arena_alloc(a, (count[t] ? count[t] : 1) * sizeof(*ref->by_pos));
		ref->max_end = arena_alloc(a, (count[t] ? count[t] : 1) * sizeof(*ref->max_end));
		if (!ref->by_pos || !ref->max_end) {
			free(count);
			return -ENOMEM;
		}
	}
	free(count);
	for (uint64_t i = 0; i < root->n_recs; i++) {
		struct sam_rec *r = &root->rec_array[i];
		if (r->tid < 0)
			continue;
		struct sam_ref *ref = &root->refs[r->tid];
		hts_pos_t m = ref->n_recs ? ref->max_end[ref->n_recs - 1] : 0;
		ref->max_end[ref->n_recs] = r->endpos > m ? r->endpos : m;
		ref->by_pos[ref->n_recs++] = r;
		if (r->flag & BAM_FUNMAP)
			ref->n_unmapped++;
		else
			ref->n_mapped++;
	}
	return 0;
}

static int load_header(struct arena *a, const sam_hdr_t *h, const char *path, struct sam_root *root)
{
	const char *text = sam_hdr_str((sam_hdr_t *)h);
	root->header_len = text ? sam_hdr_length((sam_hdr_t *)h) : 0;
	root->header_text = arena_alloc(a, root->header_len + 1);
	root->source = arena_strdup(a, path);
	if (!root->header_text || !root->source)
		return -ENOMEM;
	memcpy(root->header_text, text ? text : "", root->header_len);
	root->header_text[root->header_len] = 0;
	int n = sam_hdr_nref(h);
	root->n_refs = n > 0 ? (uint32_t)n : 0;
	root->refs = arena_alloc(a, (root->n_refs + 1) * sizeof(*root->refs));
	if (!root->refs)
		return -ENOMEM;
	memset(root->refs, 0, (root->n_refs + 1) * sizeof(*root->refs));
	for (uint32_t t = 0; t < root->n_refs; t++) {
		root->refs[t].name = arena_strdup(a, sam_hdr_tid2name(h, (int)t));
		root->refs[t].len = sam_hdr_tid2len(h, (int)t);
		if (!root->refs[t].name)
			return -ENOMEM;
	}
	return 0;
}

/* The header's first line htslib cannot parse into records (1-based), by bisection over
 * prefixes of the text: htslib says what is wrong but not in which file. */
static long bad_header_line(const char *text, size_t len)
{
	size_t nl = 0, *ends = NULL;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			nl++;
	ends = malloc((nl + 1) * sizeof(*ends));
	if (!ends)
		return 0;
	nl = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n')
			ends[nl++] = i + 1;
	if (!nl || ends[nl - 1] != len)
		ends[nl++] = len;
	/* Find the fewest lines whose parse fails; the messages of the probes are not needed. */
	enum htsLogLevel lvl = hts_get_log_level();
	hts_set_log_level(HTS_LOG_OFF);
	size_t lo = 1, hi = nl;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		sam_hdr_t *h = sam_hdr_parse(ends[mid - 1], text);
		int bad = !h || sam_hdr_count_lines(h, "SQ") < 0;
		sam_hdr_destroy(h);
		if (bad)
			hi = mid;
		else
			lo = mid + 1;
	}
	hts_set_log_level(lvl);
	free(ends);
	return (long)lo;
}

int load_file(const char *path, struct sam_store *s, struct sam_root **out)
{
	struct arena a, pa; /* the store's; this process's, for parsing */
	char at[512];
	int err = 0;
	struct sam_rec **list = NULL;
	bam1_t *b = NULL;
	size_t cap = 1 << 16, n = 0;
	arena_init(&a, s, LOAD_BLOCK);
	arena_init(&pa, NULL, LOAD_BLOCK);

	htsFile *fp = hts_open(path, "r");
	if (!fp) {
		err = errno ? -errno : -EINVAL;
		fprintf(stderr, "sjmp-sam: %s: cannot open: %s\n", path, strerror(-err));
		return err;
	}
	/* Read the input in 4 MiB blocks, not htslib's 4 KiB ones: in guest mode every read is
	 * forwarded to the host (about 25 us on kvm_pvm): 321,000 reads of the 1.2 GiB set. A
	 * refusal only costs speed. */
	(void)hts_set_opt(fp, HTS_OPT_BLOCK_SIZE, 4 << 20);
	sam_hdr_t *h = sam_hdr_read(fp);
	if (!h) {
		/* A SAM header fails at a line; anything else is not an alignment file at all. */
		if (hts_get_format(fp)->format == sam)
			where(fp, path, 0, at, sizeof(at));
		else
			snprintf(at, sizeof(at), "%s", path);
		fprintf(stderr,
		        "sjmp-sam: %s: bad header: not a SAM, BAM or CRAM file htslib can read "
		        "(samtools view refuses it too)\n",
		        at);
		err = -EINVAL;
		goto out_close;
	}
	/* htslib parses header lines lazily; samtools view refuses a header whose lines do not
	 * parse (it adds its @PG line), so refuse it too, and say where. */
	if (sam_hdr_count_lines(h, "SQ") < 0) {
		const char *text = sam_hdr_str(h);
		fprintf(
		    stderr,
		    "sjmp-sam: %s:%ld: bad header line (htslib's message above says why; samtools "
		    "view refuses it too): fix or remove it\n",
		    path, text ? bad_header_line(text, strlen(text)) : 1L);
		err = -EINVAL;
		goto out_list;
	}
	struct sam_root *root = arena_alloc(&a, sizeof(*root));
	if (!root)
		goto nomem_list;
	memset(root, 0, sizeof(*root));
	root->magic = SAM_ROOT_MAGIC;
	root->version = SAM_ROOT_VERSION;
	if (load_header(&a, h, path, root))
		goto nomem_list;

	/* Record pointers go to this process's heap first: the count is unknown until the end. */
	list = malloc(cap * sizeof(*list));
	b = bam_init1();
	if (!list || !b)
		goto nomem_list;
	int ret;
	while ((ret = sam_read1(fp, h, b)) >= 0) {
		if (n == cap) {
			struct sam_rec **bigger = realloc(list, 2 * cap * sizeof(*list));
			if (!bigger)
				goto nomem_list;
			list = bigger;
			cap *= 2;
		}
		if (!(list[n] = copy_rec(&pa, &pa, b)))
			goto nomem_list;
		list[n]->id = n;
		n++;
	}
	if (ret < -1) {
		where(fp, path, n, at, sizeof(at));
		fprintf(stderr,
		        "sjmp-sam: %s: cannot parse this record (htslib's message above says why; "
		        "samtools view refuses it too): fix or remove it\n",
		        at);
		err = -EINVAL;
		goto out_list;
	}
	/* Parsed first, laid out second: the coordinate order is known only at the end. */
	if (place_records(&a, root, list, n))
		goto nomem_list;
	if (build_refs(&a, root))
		goto nomem_list;
	*out = root;
	goto out_list;

nomem_list:
	fprintf(stderr, "sjmp-sam: %s: out of memory while loading\n", path);
	err = -ENOMEM;
out_list:
	arena_free_private(&pa);
	bam_destroy1(b);
	free(list);
	sam_hdr_destroy(h);
out_close:
	hts_close(fp);
	return err;
}
