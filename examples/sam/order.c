/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "order.h"

/* Sort keys are copied next to the pointer so that comparisons touch one array, not the
 * records scattered over the store; the input index breaks ties, which makes qsort stable. */
struct coord_key {
	uint64_t tid; /* (uint32_t)tid: -1 (no reference) sorts after every reference */
	uint64_t pos; /* pos + 1 as unsigned: -1 (no position) first within a reference */
	uint64_t idx; /* input index << 1 | reverse-strand bit */
	struct sam_rec *rec;
};

static int coord_cmp(const void *pa, const void *pb)
{
	const struct coord_key *a = pa, *b = pb;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	if (a->pos != b->pos)
		return a->pos < b->pos ? -1 : 1;
	int ra = a->idx & 1, rb = b->idx & 1;
	if (ra != rb)
		return ra - rb;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int order_by_coord(struct sam_rec **recs, size_t n)
{
	/* Already in order (a coordinate-sorted input, or per-reference lists of one): done. */
	size_t i;
	for (i = 1; i < n; i++) {
		const struct sam_rec *a = recs[i - 1], *b = recs[i];
		uint64_t ta = (uint32_t)a->tid, tb = (uint32_t)b->tid;
		uint64_t pa = (uint64_t)(a->pos + 1), pb = (uint64_t)(b->pos + 1);
		if (ta > tb || (ta == tb && (pa > pb || (pa == pb && (a->flag & 0x10) >
									 (b->flag & 0x10)))))
			break;
	}
	if (i >= n)
		return 0;

	struct coord_key *k = malloc(n * sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct sam_rec *r = recs[i];
		k[i].tid = (uint32_t)r->tid;
		k[i].pos = (uint64_t)(r->pos + 1);
		k[i].idx = (uint64_t)i << 1 | ((r->flag & 0x10) ? 1 : 0);
		k[i].rec = recs[i];
	}
	qsort(k, n, sizeof(*k), coord_cmp);
	for (i = 0; i < n; i++)
		recs[i] = k[i].rec;
	free(k);
	return 0;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

int name_cmp(const char *sa, const char *sb)
{
	const unsigned char *a = (const unsigned char *)sa, *b = (const unsigned char *)sb;
	while (*a && *b) {
		if (!is_digit(*a) || !is_digit(*b)) {
			if (*a != *b)
				return (int)*a - (int)*b;
			a++, b++;
			continue;
		}
		/* Two numbers: leading zeros do not count; then the longer number is the larger,
		 * and numbers of one length compare by their first differing digit. */
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (is_digit(*a) && *a == *b)
			a++, b++;
		int first = (int)*a - (int)*b;
		while (is_digit(*a) && is_digit(*b))
			a++, b++;
		if (is_digit(*a))
			return 1;
		if (is_digit(*b))
			return -1;
		if (first)
			return first;
	}
	return *a ? 1 : *b ? -1 : 0;
}

struct name_key {
	struct sam_rec *rec;
	uint64_t idx;
};

static int name_key_cmp(const void *pa, const void *pb)
{
	const struct name_key *a = pa, *b = pb;
	int c = name_cmp(a->rec->qname, b->rec->qname);
	if (c)
		return c;
	c = (int)(a->rec->flag & 0xc0) - (int)(b->rec->flag & 0xc0);
	if (c)
		return c;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int order_by_name(struct sam_rec **recs, size_t n)
{
	struct name_key *k = malloc(n * sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		k[i].rec = recs[i];
		k[i].idx = i;
	}
	qsort(k, n, sizeof(*k), name_key_cmp);
	for (size_t i = 0; i < n; i++)
		recs[i] = k[i].rec;
	free(k);
	return 0;
}
