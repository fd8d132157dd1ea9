/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include <htslib/hts_endian.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "fmt.h"
#include "rec.h"

/* Two SAM bases per packed byte. */
static char base_pairs[256][2];
/* "00", "01", ... "99". */
static char digit_pairs[100][2];
static const char cigar_chr[] = "MIDNSHP=XB??????";
/* Whether the CPU has SSSE3 (pshufb) for the sequence. */
static int have_ssse3;

static void tables_init(void)
{
	static int done;
	if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return;
	for (int i = 0; i < 256; i++) {
		base_pairs[i][0] = seq_nt16_str[i >> 4];
		base_pairs[i][1] = seq_nt16_str[i & 15];
	}
	for (int i = 0; i < 100; i++) {
		digit_pairs[i][0] = (char)('0' + i / 10);
		digit_pairs[i][1] = (char)('0' + i % 10);
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_ssse3 = __builtin_cpu_supports("ssse3");
#endif
	__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

int fmt_init(struct fmt *f, const sam_hdr_t *h)
{
	tables_init();
	f->h = h;
	f->names = NULL;
	size_t n = (size_t)(h->n_targets > 0 ? h->n_targets : 0), bytes = 0;
	f->name_len = malloc((n + 1) * sizeof(*f->name_len));
	f->name = malloc((n + 1) * sizeof(*f->name));
	if (!f->name_len || !f->name)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		f->name_len[i] = (uint32_t)strlen(h->target_name[i]);
		bytes += (f->name_len[i] + 15) / 16 * 16;
	}
	/* The names again, each padded to a multiple of 16 bytes, for copy16(). */
	f->names = calloc(1, bytes + 16);
	if (!f->names)
		goto fail;
	for (size_t i = 0, off = 0; i < n; i++) {
		f->name[i] = f->names + off;
		memcpy(f->names + off, h->target_name[i], f->name_len[i]);
		off += (f->name_len[i] + 15) / 16 * 16;
	}
	return 0;
fail:
	fmt_free(f);
	return -1;
}

void fmt_free(struct fmt *f)
{
	free(f->name_len);
	free(f->name);
	free(f->names);
	f->name_len = NULL;
	f->name = NULL;
	f->names = NULL;
}

/* Copy @n bytes from @s to @p in blocks of 16: reads and writes up to 15 bytes more, which the
 * caller knows to be readable (within the record, or padding) and writable (the bound). */
static inline void copy16(char *p, const void *s, size_t n)
{
	for (size_t k = 0; k < n; k += 16)
		memcpy(p + k, (const char *)s + k, 16);
}

/* Decimal digits of @v at @p; returns the end. Short numbers (most fields) take no loop. */
/* Write @v's decimal digits so that they end just before @e, two at a time; return @e. */
static inline char *digits_back(char *e, uint64_t v)
{
	char *q = e;
	while (v >= 100) {
		q -= 2;
		memcpy(q, digit_pairs[v % 100], 2);
		v /= 100;
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, digit_pairs[v], 2);
	} else {
		*--q = (char)('0' + v);
	}
	return e;
}

static inline char *put_u32(char *p, uint32_t v)
{
	if (v < 100) {
		if (v < 10) {
			*p = (char)('0' + v);
			return p + 1;
		}
		memcpy(p, digit_pairs[v], 2);
		return p + 2;
	}
	if (v < 10000) {
		if (v < 1000) {
			p[0] = (char)('0' + v / 100);
			memcpy(p + 1, digit_pairs[v % 100], 2);
			return p + 3;
		}
		memcpy(p, digit_pairs[v / 100], 2);
		memcpy(p + 2, digit_pairs[v % 100], 2);
		return p + 4;
	}
	if (v < 1000000) {
		uint32_t hi = v / 10000, lo = v % 10000;
		if (hi < 10) {
			*p++ = (char)('0' + hi);
		} else {
			memcpy(p, digit_pairs[hi], 2);
			p += 2;
		}
		memcpy(p, digit_pairs[lo / 100], 2);
		memcpy(p + 2, digit_pairs[lo % 100], 2);
		return p + 4;
	}
	unsigned n = 7;
	for (uint32_t t = v / 10000000; t; t /= 10)
		n++;
	return digits_back(p + n, v);
}

static inline char *put_u64(char *p, uint64_t v)
{
	if (v <= UINT32_MAX)
		return put_u32(p, (uint32_t)v);
	unsigned n = 11;
	for (uint64_t t = v / 100000000000ULL; t; t /= 10)
		n++;
	return digits_back(p + n, v);
}

static inline char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(p, (uint64_t)v);
}

static inline char *put_i32(char *p, int32_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u32(p, (uint32_t)0 - (uint32_t)v);
	}
	return put_u32(p, (uint32_t)v);
}

/* The tags, if every one is of a type written here and well formed; else NULL (the caller
 * falls back to sam_format1, which also reports damaged tags as samtools would). */
static char *put_aux(char *p, const uint8_t *s, const uint8_t *end)
{
	while (end - s >= 4) {
		p[0] = '\t';
		p[1] = (char)s[0];
		p[2] = (char)s[1];
		p[3] = ':';
		p += 4;
		uint8_t type = s[2];
		s += 3;
		switch (type) {
		case 'A':
			p[0] = 'A';
			p[1] = ':';
			p[2] = (char)*s++;
			p += 3;
			break;
		case 'c':
		case 'C':
			p[0] = 'i';
			p[1] = ':';
			p = type == 'c' ? put_i32(p + 2, (int8_t)*s) : put_u32(p + 2, *s);
			s += 1;
			break;
		case 's':
		case 'S':
			if (end - s < 2)
				return NULL;
			p[0] = 'i';
			p[1] = ':';
			p = type == 's' ? put_i32(p + 2, (int16_t)le_to_u16(s))
			                : put_u32(p + 2, le_to_u16(s));
			s += 2;
			break;
		case 'i':
		case 'I':
			if (end - s < 4)
				return NULL;
			p[0] = 'i';
			p[1] = ':';
			p = type == 'i' ? put_i32(p + 2, (int32_t)le_to_u32(s))
			                : put_u32(p + 2, le_to_u32(s));
			s += 4;
			break;
		case 'Z':
		case 'H': {
			p[0] = (char)type;
			p[1] = ':';
			p += 2;
#if defined(__SSE2__)
			/* 16 bytes at a time while they are within the tags: copy them all, then
			 * keep those before the NUL. */
			while (end - s >= 16) {
				__m128i x = _mm_loadu_si128((const __m128i *)s);
				_mm_storeu_si128((__m128i *)p, x);
				unsigned nul = (unsigned)_mm_movemask_epi8(
				    _mm_cmpeq_epi8(x, _mm_setzero_si128()));
				if (nul) {
					unsigned k = (unsigned)__builtin_ctz(nul);
					p += k;
					s += k + 1;
					goto next;
				}
				p += 16;
				s += 16;
			}
#endif
			const uint8_t *z = memchr(s, 0, (size_t)(end - s));
			if (!z)
				return NULL;
			memcpy(p, s, (size_t)(z - s));
			p += z - s;
			s = z + 1;
			break;
		}
		default:
			return NULL;
		}
	next:;
	}
	return p;
}

#if defined(__x86_64__)
/* 16 packed bytes at @s as 32 bases at @p. */
__attribute__((target("ssse3"))) static inline void seq16_ssse3(char *p, const uint8_t *s,
                                                                __m128i table)
{
	const __m128i low = _mm_set1_epi8(0x0f);
	__m128i x = _mm_loadu_si128((const __m128i *)s);
	__m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), low);
	__m128i lo = _mm_and_si128(x, low);
	__m128i a = _mm_shuffle_epi8(table, _mm_unpacklo_epi8(hi, lo));
	__m128i b = _mm_shuffle_epi8(table, _mm_unpackhi_epi8(hi, lo));
	_mm_storeu_si128((__m128i *)p, a);
	_mm_storeu_si128((__m128i *)(p + 16), b);
}

/* The @m packed bytes at @s (m >= 16) as 2 * @m bases at @p: blocks of 16, the last one
 * overlapping its predecessor (rewriting the same characters) rather than reading past @s. */
__attribute__((target("ssse3"))) static void seq_ssse3(char *p, const uint8_t *s, uint32_t m)
{
	const __m128i table = _mm_loadu_si128((const __m128i *)seq_nt16_str);
	uint32_t k = 0;
	for (; k + 16 <= m; k += 16)
		seq16_ssse3(p + 2 * k, s + k, table);
	if (k < m)
		seq16_ssse3(p + 2 * (m - 16), s + m - 16, table);
}
#endif

/* The @n bases packed at @s, at @p; may write one more character (the padding nibble). */
static inline void put_seq(char *p, const uint8_t *s, uint32_t n)
{
	uint32_t m = (n + 1) / 2, k = 0;
#if defined(__x86_64__)
	if (m >= 16 && have_ssse3) {
		seq_ssse3(p, s, m);
		return;
	}
#endif
	for (; k + 4 <= m; k += 4) {
		uint64_t w = 0;
		for (int j = 3; j >= 0; j--) {
			uint16_t two;
			memcpy(&two, base_pairs[s[k + j]], 2);
			w = w << 16 | two;
		}
		memcpy(p + 2 * k, &w, 8);
	}
	for (; k < m; k++)
		memcpy(p + 2 * k, base_pairs[s[k]], 2);
}

/* The @n qualities at @q plus 33, at @p. Bytes wrap as (char)(q + 33) does. */
static inline void put_qual(char *p, const uint8_t *q, uint32_t n)
{
	uint32_t k = 0;
#if defined(__SSE2__)
	if (n >= 16) {
		const __m128i add = _mm_set1_epi8(33);
		for (; k + 16 <= n; k += 16) {
			__m128i x = _mm_loadu_si128((const __m128i *)(q + k));
			_mm_storeu_si128((__m128i *)(p + k), _mm_add_epi8(x, add));
		}
		if (k < n) { /* the last 16, overlapping */
			__m128i x = _mm_loadu_si128((const __m128i *)(q + n - 16));
			_mm_storeu_si128((__m128i *)(p + n - 16), _mm_add_epi8(x, add));
		}
		return;
	}
#endif
	/* Eight per add while none is 128 or more (then no byte carries into the next). */
	for (; k + 8 <= n; k += 8) {
		uint64_t w;
		memcpy(&w, q + k, 8);
		if (w & 0x8080808080808080ULL)
			break;
		w += 0x2121212121212121ULL;
		memcpy(p + k, &w, 8);
	}
	for (; k < n; k++)
		p[k] = (char)(q[k] + 33);
}

char *fmt_put(const struct fmt *f, const struct sam_rec *r, char *p)
{
	if (r->l_qname < 1 + (unsigned)r->l_extranul)
		return NULL;
	size_t ln = r->l_qname - 1 - r->l_extranul;
	if ((ln + 15) / 16 * 16 <= r->l_data) /* the name is the start of the record's data */
		copy16(p, r->qname, ln);
	else
		memcpy(p, r->qname, ln);
	p += ln;
	*p++ = '\t';
	p = put_u32(p, r->flag);
	*p++ = '\t';
	if (r->tid >= 0) {
		copy16(p, f->name[r->tid], f->name_len[r->tid]);
		p += f->name_len[r->tid];
	} else {
		*p++ = '*';
	}
	*p++ = '\t';
	p = put_i64(p, r->pos + 1);
	*p++ = '\t';
	p = put_u32(p, r->mapq);
	*p++ = '\t';
	if (r->n_cigar) {
		for (uint32_t k = 0; k < r->n_cigar; k++) {
			p = put_u32(p, bam_cigar_oplen(r->cigar[k]));
			*p++ = cigar_chr[bam_cigar_op(r->cigar[k])];
		}
	} else {
		*p++ = '*';
	}
	*p++ = '\t';
	if (r->mtid < 0) {
		*p++ = '*';
	} else if (r->mtid == r->tid) {
		*p++ = '=';
	} else {
		copy16(p, f->name[r->mtid], f->name_len[r->mtid]);
		p += f->name_len[r->mtid];
	}
	*p++ = '\t';
	p = put_i64(p, r->mpos + 1);
	*p++ = '\t';
	p = put_i64(p, r->isize);
	*p++ = '\t';
	if (r->l_qseq) {
		uint32_t n = r->l_qseq;
		put_seq(p, r->seq, n);
		p += n;
		*p++ = '\t';
		if (r->qual[0] == 0xff) {
			*p++ = '*';
		} else {
			put_qual(p, r->qual, n);
			p += n;
		}
	} else {
		memcpy(p, "*\t*", 3);
		p += 3;
	}
	p = put_aux(p, r->aux, r->aux + r->l_aux);
	if (!p)
		return NULL;
	*p++ = '\n';
	return p;
}

int fmt_slow(const struct fmt *f, const struct sam_rec *r, kstring_t *line)
{
	bam1_t b;
	memset(&b, 0, sizeof(b));
	rec_view(r, &b);
	line->l = 0;
	return sam_format1(f->h, &b, line) < 0 || kputc('\n', line) < 0 ? -1 : 0;
}
