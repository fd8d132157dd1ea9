/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/*
 * The common case, fast: when every reference index fits 30 bits and every pos + 1 fits 32,
 * (tid, pos + 1, strand) packs into one 64-bit key, and a least-significant-digit radix sort
 * (stable by construction) orders (key, record) pairs in 6 passes of 11 bits.
 * Return: 0 when done, 1 when a key does not fit (the caller sorts another way), -ENOMEM.
 */
#define RADIX_BITS 11
#define RADIX_PASSES 6 /* 66 bits >= 63 used */
struct radix_item {
	uint64_t key;
	struct sam_rec *rec;
};

static int order_by_coord_radix(struct sam_rec **recs, size_t n)
{
	struct radix_item *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
	static size_t count[RADIX_PASSES][1 << RADIX_BITS];
	int ret = 1;
	if (!a || !b) {
		ret = -ENOMEM;
		goto out;
	}
	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < n; i++) {
		const struct sam_rec *r = recs[i];
		/* No reference (-1) sorts after all: 2^30 - 1, larger than any tid kept here. */
		uint64_t tid = r->tid < 0 ? (1u << 30) - 1 : (uint64_t)r->tid;
		uint64_t pos = (uint64_t)(r->pos + 1);
		if (tid >= (1u << 30) - 1 && r->tid >= 0)
			goto out;
		if (pos >> 32)
			goto out;
		uint64_t key = tid << 33 | pos << 1 | ((r->flag & 0x10) ? 1 : 0);
		a[i].key = key;
		a[i].rec = recs[i];
		for (int p = 0; p < RADIX_PASSES; p++)
			count[p][(key >> (p * RADIX_BITS)) & ((1 << RADIX_BITS) - 1)]++;
	}
	for (int p = 0; p < RADIX_PASSES; p++) {
		size_t sum = 0, *c = count[p];
		/* A digit that is the same in every key moves nothing: skip its pass. */
		if (c[(a[0].key >> (p * RADIX_BITS)) & ((1 << RADIX_BITS) - 1)] == n)
			continue;
		for (size_t d = 0; d < (1 << RADIX_BITS); d++) {
			size_t t = c[d];
			c[d] = sum;
			sum += t;
		}
		for (size_t i = 0; i < n; i++)
			b[c[(a[i].key >> (p * RADIX_BITS)) & ((1 << RADIX_BITS) - 1)]++] = a[i];
		struct radix_item *t = a;
		a = b;
		b = t;
	}
	for (size_t i = 0; i < n; i++)
		recs[i] = a[i].rec;
	ret = 0;
out:
	free(a);
	free(b);
	return ret;
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

	if (!order_by_coord_radix(recs, n))
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

/*
 * Name order, fast: each name is rewritten once into a key whose plain byte order (memcmp) is
 * name_cmp's order. A run of digits becomes its length without leading zeros (one byte
 * '0' + L for L <= 8, else '9' and a byte L) followed by those digits: the length byte lies in
 * '0'..'9', so it compares with any other character as a digit would, and a longer number
 * sorts after a shorter one. A NUL ends the name; the READ1/READ2 bits follow, so ties fall to
 * them and then to the input index. The sort compares 16 cached key bytes that follow the
 * prefix common to all keys and touches the key itself only on a tie there.
 */
struct name_key {
	uint64_t hi, lo;   /* key bytes [lcp, lcp + 16), big-endian, zero-padded */
	const uint8_t *key; /* the whole key, at its byte lcp */
	uint64_t idx;
};

/* Encodes @name (+ @flag's pair bits) at @out; returns the key's length. @out needs
 * 2 * strlen(name) + 3 bytes. */
static size_t name_key_make(const char *name, unsigned flag, uint8_t *out)
{
	const unsigned char *p = (const unsigned char *)name;
	uint8_t *o = out;
	while (*p) {
		if (!is_digit(*p)) {
			*o++ = *p++;
			continue;
		}
		while (*p == '0')
			p++;
		const unsigned char *d = p;
		while (is_digit(*p))
			p++;
		size_t len = (size_t)(p - d);
		if (len <= 8) {
			*o++ = (uint8_t)('0' + len);
		} else {
			*o++ = '9';
			*o++ = (uint8_t)len;
		}
		memcpy(o, d, len);
		o += len;
		/* A zero-only run ("00") is a number of length 0: skipped zeros end the run. */
	}
	*o++ = 0;
	*o++ = (uint8_t)(flag & 0xc0);
	return (size_t)(o - out);
}

static uint64_t load_be(const uint8_t *p, const uint8_t *end)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | (p + i < end ? p[i] : 0);
	return v;
}

static int name_key_cmp(const void *pa, const void *pb)
{
	const struct name_key *a = pa, *b = pb;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	/* Compare the rest: up to the NUL, then the pair byte. */
	const uint8_t *x = a->key, *y = b->key;
	for (;; x++, y++) {
		if (*x != *y)
			return (int)*x - (int)*y;
		if (!*x) {
			if (x[1] != y[1])
				return (int)x[1] - (int)y[1];
			break;
		}
	}
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

int order_by_name(struct sam_rec **recs, size_t n)
{
	if (n < 2)
		return 0;
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += 2 * (size_t)recs[i]->l_qname + 3;
	struct name_key *k = malloc(n * sizeof(*k));
	uint8_t *buf = malloc(bytes), *o = buf;
	size_t *len = malloc(n * sizeof(*len));
	if (!k || !buf || !len) {
		free(k);
		free(buf);
		free(len);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		k[i].key = o;
		k[i].idx = i;
		len[i] = name_key_make(recs[i]->qname, recs[i]->flag, o);
		o += len[i];
	}
	/* The prefix every key shares (before its NUL) decides nothing. */
	size_t lcp = 0;
	while (1) {
		uint8_t c = k[0].key[lcp];
		size_t i;
		if (!c)
			break;
		for (i = 1; i < n && k[i].key[lcp] == c; i++)
			;
		if (i < n)
			break;
		lcp++;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = k[i].key + lcp, *end = k[i].key + len[i];
		k[i].hi = load_be(p, end);
		k[i].lo = load_be(p + 8, end);
		k[i].key = p;
	}
	free(len);
	qsort(k, n, sizeof(*k), name_key_cmp);
	struct sam_rec **tmp = malloc(n * sizeof(*tmp));
	if (!tmp) {
		free(k);
		free(buf);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		tmp[i] = recs[k[i].idx];
	memcpy(recs, tmp, n * sizeof(*tmp));
	free(tmp);
	free(k);
	free(buf);
	return 0;
}
