/* SPDX-License-Identifier: MIT */
/*
 * The fast name order (keys rewritten for memcmp) agrees with the plain comparison name_cmp,
 * on names made to hit its corner cases: digit runs with leading zeros, zero-only runs, long
 * numbers, digits next to punctuation that sorts just below or above the digits.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "order.h"

static const char alphabet[] = "0000123456789/:a_|.";

static void random_name(char *buf, unsigned *seed)
{
	int len = 1 + rand_r(seed) % 24;
	for (int i = 0; i < len; i++)
		buf[i] = alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
	buf[len] = 0;
}

Test(sam_order, name_order_agrees_with_name_cmp_and_is_stable)
{
	enum { N = 20000 };
	static char names[N][32];
	static struct sam_rec recs[N];
	static struct sam_rec *v[N];
	unsigned seed = 42;
	for (int i = 0; i < N; i++) {
		/* Few distinct names, so ties (and the pair bits, and stability) are exercised. */
		if (i > 0 && rand_r(&seed) % 3 == 0)
			strcpy(names[i], names[rand_r(&seed) % i]);
		else
			random_name(names[i], &seed);
		recs[i].qname = names[i];
		recs[i].l_qname = (uint16_t)(strlen(names[i]) + 1);
		recs[i].flag = (uint16_t)((rand_r(&seed) % 3) << 6);
		recs[i].id = (uint64_t)(N - 1 - i); /* input order: the reverse of the array's */
		v[N - 1 - i] = &recs[i];
	}
	cr_assert_eq(order_by_name(v, N), 0);
	for (int i = 1; i < N; i++) {
		const struct sam_rec *a = v[i - 1], *b = v[i];
		int c = name_cmp(a->qname, b->qname);
		cr_assert_leq(c, 0, "%s before %s", a->qname, b->qname);
		if (c == 0) {
			cr_assert_leq(a->flag & 0xc0, b->flag & 0xc0, "%s: pair bits out of order",
			              a->qname);
			if ((a->flag & 0xc0) == (b->flag & 0xc0))
				cr_assert_lt(a->id, b->id,
				             "%s: equal records lost their input order", a->qname);
		}
	}
}

Test(sam_order, name_cmp_compares_numbers_by_value)
{
	cr_assert_lt(name_cmp("r2", "r10"), 0);
	cr_assert_lt(name_cmp("r007", "r7"), 0, "more leading zeros first, as samtools 1.16");
	cr_assert_lt(name_cmp("x1a00", "x1a0"), 0);
	cr_assert_lt(name_cmp("x00z", "x0b"), 0);
	cr_assert_lt(name_cmp("r9", "r:"), 0);
	cr_assert_gt(name_cmp("r0a", "r/"), 0);
	cr_assert_lt(name_cmp("a", "a1"), 0);
	cr_assert_lt(name_cmp("x99999999999", "x100000000000"), 0);
}
