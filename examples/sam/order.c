/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "order.h"
#include "rec.h"

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
#define RADIX_BITS   11
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
		if (ta > tb ||
		    (ta == tb && (pa > pb || (pa == pb && (a->flag & 0x10) > (b->flag & 0x10)))))
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
		 * and numbers of one length compare by their first differing digit. Equal
		 * numbers written with more leading zeros sort first (samtools 1.16 does so). */
		const unsigned char *a0 = a, *b0 = b;
		while (*a == '0')
			a++;
		while (*b == '0')
			b++;
		while (is_digit(*a) && *a == *b)
			a++, b++;
		int first = (int)*a - (int)*b;
		int more_a = is_digit(*a), more_b = is_digit(*b);
		while (is_digit(*a) && is_digit(*b))
			a++, b++;
		if (is_digit(*a))
			return 1;
		if (is_digit(*b))
			return -1;
		if (more_a && more_b)
			return first;
		if (a - a0 != b - b0)
			return a - a0 > b - b0 ? -1 : 1;
	}
	return *a ? 1 : *b ? -1 : 0;
}

/*
 * Name order, fast: each name is rewritten once into a key whose plain byte order (memcmp) is
 * name_cmp's order. A run of digits becomes its length without leading zeros (one byte
 * '0' + L for L <= 8, else '9' and a byte L) followed by those digits: the length byte lies in
 * '0'..'9', so it compares with any other character as a digit would, and a longer number
 * sorts after a shorter one; a byte 255 - (leading zeros) after the digits puts equal numbers
 * with more leading zeros first. A NUL ends the name; the READ1/READ2 bits follow, so ties fall to
 * them and then to the input index.
 *
 * The keys are then sorted most-significant part first: 16 key bytes at a time are cached in
 * the sort items as two integers, the items sorted on them, and each group of equal items
 * sorted again on the next 16 bytes after the prefix the group shares. Real read names share
 * long prefixes (an instrument and run, a contig name), so comparing whole names costs a
 * cache miss and a long byte loop each time; this way almost every comparison is two integers.
 */
struct name_key {
	uint64_t hi, lo;    /* key bytes [depth, depth + 16), big-endian, zero-padded */
	const uint8_t *key; /* the whole key */
	uint32_t tie;       /* the record's input index (->id): the last tie-break */
	uint32_t pos;       /* index in the array being sorted */
};

/* Encodes @name (+ @flag's pair bits) at @out; returns the key's length. @out needs
 * 3 * strlen(name) + 2 bytes (a one-digit run becomes three bytes). */
static size_t name_key_make(const char *name, unsigned flag, uint8_t *out)
{
	const unsigned char *p = (const unsigned char *)name;
	uint8_t *o = out;
	while (*p) {
		if (!is_digit(*p)) {
			*o++ = *p++;
			continue;
		}
		const unsigned char *z = p;
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
		*o++ = (uint8_t)(255 - (d - z)); /* names are < 255 bytes: never 0 */
	}
	*o++ = 0;
	*o++ = (uint8_t)(flag & 0xc0);
	return (size_t)(o - out);
}

/* 8 key bytes at @p as a big-endian integer; keys are followed by 16 zero bytes, so a window
 * past a key's end reads zeros. */
static uint64_t load_be(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

static int cmp_cached(const void *pa, const void *pb)
{
	const struct name_key *a = pa, *b = pb;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

/* Whole keys (up to the NUL, then the pair byte), then input order: for small groups. */
static int cmp_whole(const struct name_key *a, const struct name_key *b)
{
	const uint8_t *x = a->key, *y = b->key;
	while (*x && *x == *y)
		x++, y++;
	if (*x != *y)
		return (int)*x - (int)*y;
	if (x[1] != y[1])
		return (int)x[1] - (int)y[1];
	return a->tie < b->tie ? -1 : a->tie > b->tie;
}

static int cmp_tie(const void *pa, const void *pb)
{
	const struct name_key *a = pa, *b = pb;
	return a->tie < b->tie ? -1 : a->tie > b->tie;
}

/* Does the 8-byte word hold a zero byte? (The key's NUL: only its end has one.) */
static int has_zero(uint64_t v)
{
	return ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL) != 0;
}

#define NAME_SMALL     12
#define NAME_RADIX_MIN 4096 /* below this, a comparison sort of the cached windows */

/* The part of name_sort_range that sorts on the cached windows and recurses into the groups
 * of equal windows. */
static void name_sort_cached(struct name_key *k, size_t n, size_t depth, struct name_key *tmp);

/* @k (@n items) all have the same window at @depth: finish them. */
static void name_sort_group(struct name_key *k, size_t n, size_t depth, struct name_key *tmp);

/* Sort @k (@n items) whose keys are known equal before byte @depth; @tmp: room for @n items.
 * Large ranges are split by the window's first two bytes (a most-significant-digit radix
 * pass: it keeps the later comparison sorts within the cache), after skipping whatever the
 * whole range shares. */
static void name_sort_range(struct name_key *k, size_t n, size_t depth, struct name_key *tmp)
{
	if (n <= NAME_SMALL) {
		for (size_t i = 1; i < n; i++) {
			struct name_key t = k[i];
			size_t j = i;
			for (; j > 0 && cmp_whole(&t, &k[j - 1]) < 0; j--)
				k[j] = k[j - 1];
			k[j] = t;
		}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		k[i].hi = load_be(k[i].key + depth);
		k[i].lo = load_be(k[i].key + depth + 8);
	}
	if (n < NAME_RADIX_MIN) {
		name_sort_cached(k, n, depth, tmp);
		return;
	}
	size_t i;
	for (i = 1; i < n && !cmp_cached(&k[0], &k[i]); i++)
		;
	if (i == n) { /* one window for all */
		name_sort_group(k, n, depth, tmp);
		return;
	}
	size_t *count = calloc(1 << 16, sizeof(*count));
	if (!count) { /* no room for the counts: the comparison sort needs none */
		name_sort_cached(k, n, depth, tmp);
		return;
	}
	for (i = 0; i < n; i++)
		count[k[i].hi >> 48]++;
	size_t sum = 0;
	for (size_t d = 0; d < (1 << 16); d++) {
		size_t c = count[d];
		count[d] = sum;
		sum += c;
	}
	for (i = 0; i < n; i++)
		tmp[count[k[i].hi >> 48]++] = k[i];
	memcpy(k, tmp, n * sizeof(*k));
	/* count[d] is now the end of bucket d. */
	for (size_t d = 0, s = 0; d < (1 << 16); s = count[d], d++) {
		size_t e = count[d];
		if (e - s < 2)
			continue;
		if ((d >> 8) == 0) /* the keys' NUL comes first: they end here, all equal */
			qsort(k + s, e - s, sizeof(*k), cmp_tie);
		else
			name_sort_range(k + s, e - s, depth + 2, tmp + s);
	}
	free(count);
}

static void name_sort_cached(struct name_key *k, size_t n, size_t depth, struct name_key *tmp)
{
	qsort(k, n, sizeof(*k), cmp_cached);
	for (size_t s = 0, e; s < n; s = e) {
		for (e = s + 1; e < n && !cmp_cached(&k[s], &k[e]); e++)
			;
		if (e - s > 1)
			name_sort_group(k + s, e - s, depth, tmp + s);
	}
}

static void name_sort_group(struct name_key *k, size_t n, size_t depth, struct name_key *tmp)
{
	/* Keys whose NUL lies in the window's first 15 bytes end there, the pair byte after it
	 * included, so they are all equal: only the input order is left. (A NUL in the last
	 * byte leaves the pair byte to the next window.) */
	if (has_zero(k[0].hi) || has_zero(k[0].lo | 0xff)) {
		qsort(k, n, sizeof(*k), cmp_tie);
		return;
	}
	/* Skip what the whole group shares after the window. */
	const uint8_t *x = k[0].key + depth + 16;
	size_t lcp = SIZE_MAX;
	for (size_t j = 1; j < n && lcp; j++) {
		const uint8_t *y = k[j].key + depth + 16;
		size_t m = 0;
		while (m < lcp && x[m] && x[m] == y[m])
			m++;
		lcp = m;
	}
	name_sort_range(k, n, depth + 16 + lcp, tmp);
}

int order_by_name(struct sam_rec **recs, size_t n)
{
	if (n < 2)
		return 0;
	if (n > UINT32_MAX) /* the sort items hold 32-bit indexes */
		return -ENOMEM;
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += 3 * (size_t)recs[i]->l_qname + 2 + 16;
	struct name_key *k = malloc(n * sizeof(*k));
	uint8_t *buf = malloc(bytes), *o = buf;
	struct sam_rec **tmp = malloc(n * sizeof(*tmp));
	struct name_key *scratch = malloc(n * sizeof(*scratch));
	if (!k || !buf || !tmp || !scratch) {
		free(k);
		free(buf);
		free(tmp);
		free(scratch);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		k[i].key = o;
		k[i].pos = (uint32_t)i;
		k[i].tie = (uint32_t)recs[i]->id;
		rec_prefetch(recs, i, n);
		size_t len = name_key_make(recs[i]->qname, recs[i]->flag, o);
		memset(o + len, 0, 16);
		o += len + 16;
	}
	name_sort_range(k, n, 0, scratch);
	free(scratch);
	for (size_t i = 0; i < n; i++)
		tmp[i] = recs[k[i].pos];
	memcpy(recs, tmp, n * sizeof(*tmp));
	free(tmp);
	free(k);
	free(buf);
	return 0;
}
