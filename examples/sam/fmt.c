/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include <htslib/hts_endian.h>

#include "fmt.h"
#include "rec.h"

/* Two SAM bases per packed byte. */
static char base_pairs[256][2];
static const char cigar_chr[] = "MIDNSHP=XB??????";

static void tables_init(void)
{
	static int done;
	if (done)
		return;
	for (int i = 0; i < 256; i++) {
		base_pairs[i][0] = seq_nt16_str[i >> 4];
		base_pairs[i][1] = seq_nt16_str[i & 15];
	}
	done = 1;
}

/* Decimal digits of @v at @p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(p, (uint64_t)v);
}

/* The tags, if every one is of a type written here and well formed; else NULL (the caller
 * falls back to sam_format1, which also reports damaged tags as samtools would). */
static char *put_aux(char *p, const uint8_t *s, const uint8_t *end)
{
	while (end - s >= 4) {
		*p++ = '\t';
		*p++ = (char)s[0];
		*p++ = (char)s[1];
		*p++ = ':';
		uint8_t type = s[2];
		s += 3;
		switch (type) {
		case 'A':
			*p++ = 'A';
			*p++ = ':';
			*p++ = (char)*s++;
			break;
		case 'c':
		case 'C':
			*p++ = 'i';
			*p++ = ':';
			p = type == 'c' ? put_i64(p, (int8_t)*s) : put_u64(p, *s);
			s += 1;
			break;
		case 's':
		case 'S':
			if (end - s < 2)
				return NULL;
			*p++ = 'i';
			*p++ = ':';
			p = type == 's' ? put_i64(p, (int16_t)le_to_u16(s))
			                : put_u64(p, le_to_u16(s));
			s += 2;
			break;
		case 'i':
		case 'I':
			if (end - s < 4)
				return NULL;
			*p++ = 'i';
			*p++ = ':';
			p = type == 'i' ? put_i64(p, (int32_t)le_to_u32(s))
			                : put_u64(p, le_to_u32(s));
			s += 4;
			break;
		case 'Z':
		case 'H': {
			const uint8_t *z = memchr(s, 0, (size_t)(end - s));
			if (!z)
				return NULL;
			*p++ = (char)type;
			*p++ = ':';
			memcpy(p, s, (size_t)(z - s));
			p += z - s;
			s = z + 1;
			break;
		}
		default:
			return NULL;
		}
	}
	return p;
}

static int fallback(const sam_hdr_t *h, const struct sam_rec *r, kstring_t *out)
{
	kstring_t line = {0, 0, NULL};
	bam1_t b;
	memset(&b, 0, sizeof(b));
	rec_view(r, &b);
	int ret =
	    sam_format1(h, &b, &line) < 0 || kputsn(line.s, line.l, out) < 0 || kputc('\n', out) < 0
	        ? -1
	        : 0;
	free(line.s);
	return ret;
}

int fmt_rec(const sam_hdr_t *h, const struct sam_rec *r, kstring_t *out)
{
	tables_init();
	if (r->l_qname == 0)
		return -1;
	const char *rname = r->tid >= 0 ? h->target_name[r->tid] : "*";
	const char *mname = r->mtid < 0 ? "*" : r->mtid == r->tid ? "=" : h->target_name[r->mtid];
	size_t lr = strlen(rname), lm = strlen(mname);
	/* An upper bound of the line: fixed fields, 11 characters per CIGAR operation, two per
	 * base, and per tag byte at most 4 characters (a 1-byte integer: "-128"), plus 5 per
	 * tag header. */
	size_t need = r->l_qname + lr + lm + 128 + 11 * (size_t)r->n_cigar + 2 * (size_t)r->l_qseq +
	              4 * (size_t)r->l_aux + 8 * ((size_t)r->l_aux / 4 + 1);
	if (ks_resize(out, out->l + need) < 0)
		return -1;
	char *start = out->s + out->l, *p = start;

	size_t ln = r->l_qname - 1 - r->l_extranul;
	memcpy(p, r->qname, ln);
	p += ln;
	*p++ = '\t';
	p = put_u64(p, r->flag);
	*p++ = '\t';
	memcpy(p, rname, lr);
	p += lr;
	*p++ = '\t';
	p = put_i64(p, r->pos + 1);
	*p++ = '\t';
	p = put_u64(p, r->mapq);
	*p++ = '\t';
	if (r->n_cigar) {
		for (uint32_t k = 0; k < r->n_cigar; k++) {
			p = put_u64(p, bam_cigar_oplen(r->cigar[k]));
			*p++ = cigar_chr[bam_cigar_op(r->cigar[k])];
		}
	} else {
		*p++ = '*';
	}
	*p++ = '\t';
	memcpy(p, mname, lm);
	p += lm;
	*p++ = '\t';
	p = put_i64(p, r->mpos + 1);
	*p++ = '\t';
	p = put_i64(p, r->isize);
	*p++ = '\t';
	if (r->l_qseq) {
		uint32_t n = r->l_qseq, k = 0;
		/* Eight bases (four packed bytes) per store. */
		for (; k + 4 <= n / 2; k += 4) {
			uint64_t w = 0;
			for (int j = 3; j >= 0; j--) {
				uint16_t two;
				memcpy(&two, base_pairs[r->seq[k + j]], 2);
				w = w << 16 | two;
			}
			memcpy(p, &w, 8);
			p += 8;
		}
		for (; k < n / 2; k++) {
			memcpy(p, base_pairs[r->seq[k]], 2);
			p += 2;
		}
		if (n & 1)
			*p++ = base_pairs[r->seq[n / 2]][0];
		*p++ = '\t';
		if (r->qual[0] == 0xff) {
			*p++ = '*';
		} else {
			/* Eight qualities per add while none is 128 or more (then no byte carries
			 * into the next); the rest one by one. */
			const uint8_t *q = r->qual;
			for (k = 0; k + 8 <= n; k += 8) {
				uint64_t w;
				memcpy(&w, q + k, 8);
				if (w & 0x8080808080808080ULL)
					break;
				w += 0x2121212121212121ULL;
				memcpy(p + k, &w, 8);
			}
			for (; k < n; k++)
				p[k] = (char)(q[k] + 33);
			p += n;
		}
	} else {
		memcpy(p, "*\t*", 3);
		p += 3;
	}
	p = put_aux(p, r->aux, r->aux + r->l_aux);
	if (!p)
		return fallback(h, r, out);
	*p++ = '\n';
	out->l += (size_t)(p - start);
	return 0;
}
