/* SPDX-License-Identifier: MIT */
/*
 * pileup_plan.c - plp_plan(): which records the pileup lists and which mates are tweaked, decided
 * in one pass over the records in push order, and the cut of the positions into chunks. The rules
 * and where each comes from: pileup_internal.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pileup_internal.h"

/* Work (listed entries) per candidate cut point at most. */
#define CUT_QUANTUM (1u << 18)

static int skip_rec(const struct sam_rec *r)
{
	if (r->tid < 0 || (r->flag & PLP_SKIP))
		return 1;
	return (r->flag & BAM_FPAIRED) && !(r->flag & BAM_FPROPER_PAIR);
}

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
	    plp_tweak(a, r, NULL, NULL) < 0)
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
