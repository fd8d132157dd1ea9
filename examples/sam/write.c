/* SPDX-License-Identifier: MIT */
/*
 * The records are cut into chunks of about CHUNK_MAX bytes of text (fewer at the end, so the
 * two threads finish together). Each thread takes the next chunk (one atomic add), formats
 * it into the slot that chunk number maps to, and marks it ready; the main thread also writes
 * the ready chunks in order, one write() each. Waiting spins briefly before it sleeps on a
 * futex, and a thread that finishes something wakes the other only when it sleeps: in guest
 * mode every system call is forwarded to the host (tens of microseconds), so the handoffs cost
 * none in the common case. The slots are one anonymous mapping, reserved once, aligned and
 * advised for transparent huge pages: touching it for the first time costs a few 2 MiB faults
 * rather than thousands of 4 KiB ones (each a shadow page fault in guest mode).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <htslib/hfile.h>
#include <htslib/kstring.h>

#include "fmt.h"
#include "rec.h"
#include "store.h"
#include "write.h"

#define SLOTS      3             /* chunks formatted but not yet written, at most */
#define CHUNK_MAX  (4UL << 20)   /* text bytes per chunk (and write) aimed at */
#define CHUNK_MIN  (256UL << 10) /* ... even for short outputs */
#define SLOT_SPACE (64UL << 20)  /* address space reserved per slot; grows if needed */
#define HUGE_PAGE  (2UL << 20)
#define SPIN       2000 /* polls before sleeping */

enum { FREE, READY };

struct slot {
	char *s;
	size_t l, cap;
	int moved;  /* s was moved out of the shared mapping by a growth */
	int state;  /* FREE or READY (atomic) */
	int failed; /* when READY: formatting failed at record fail_at */
	size_t fail_at;
};

struct job {
	struct fmt f;
	struct sam_rec *const *v;
	size_t n;
	hts_pos_t min_end;
	size_t *start; /* chunk c is records [start[c], start[c + 1]) */
	size_t nchunks;
	size_t next;    /* next chunk to take (atomic) */
	size_t written; /* chunks written so far (atomic) */
	int stop;       /* the main thread gave up (atomic) */
	uint32_t epoch; /* futex word: bumped whenever something changes (atomic) */
	int sleepers;   /* threads in futex_wait on epoch (atomic) */
	char *region;   /* the slots' mapping */
	size_t region_len;
	struct slot slot[SLOTS];
};

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Tell a sleeping thread that something changed (after changing it). */
static void wake(struct job *j)
{
	__atomic_add_fetch(&j->epoch, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&j->sleepers, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, &j->epoch, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Wait until @cond holds: poll SPIN times, then sleep until a wake(). */
#define WAIT_UNTIL(j, cond)                                                                        \
	for (unsigned spin_ = 0;; spin_++) {                                                       \
		uint32_t e_ = __atomic_load_n(&(j)->epoch, __ATOMIC_SEQ_CST);                      \
		if (cond)                                                                          \
			break;                                                                     \
		if (spin_ < SPIN) {                                                                \
			cpu_relax();                                                               \
			continue;                                                                  \
		}                                                                                  \
		__atomic_add_fetch(&(j)->sleepers, 1, __ATOMIC_SEQ_CST);                           \
		if (!(cond))                                                                       \
			syscall(SYS_futex, &(j)->epoch, FUTEX_WAIT_PRIVATE, e_, NULL, NULL, 0);    \
		__atomic_sub_fetch(&(j)->sleepers, 1, __ATOMIC_SEQ_CST);                           \
	}

/* Make room for @need more bytes in @s. */
static int reserve(struct slot *s, size_t need)
{
	if (s->cap - s->l >= need)
		return 0;
	size_t cap = (s->l + need > 2 * s->cap ? s->l + need : 2 * s->cap);
	cap = (cap + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	void *p = mremap(s->s, s->cap, cap, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -1;
	s->s = p;
	s->cap = cap;
	s->moved = 1;
	return 0;
}

/* Format chunk @c into its slot; a record sam_format1 must do goes through @line. */
static void format_chunk(struct job *j, size_t c, kstring_t *line)
{
	struct slot *s = &j->slot[c % SLOTS];
	size_t beg = j->start[c], end = j->start[c + 1];
	s->l = 0;
	s->failed = 0;
	for (size_t i = beg; i < end; i++) {
		rec_prefetch(j->v, i, end);
		const struct sam_rec *r = j->v[i];
		if (r->endpos <= j->min_end)
			continue;
		size_t need = fmt_bound(&j->f, r);
		if (s->cap - s->l < need && reserve(s, need) < 0)
			goto fail;
		char *e = fmt_put(&j->f, r, s->s + s->l);
		if (e) {
			s->l = (size_t)(e - s->s);
			continue;
		}
		if (fmt_slow(&j->f, r, line) < 0 || reserve(s, line->l) < 0)
			goto fail;
		memcpy(s->s + s->l, line->s, line->l);
		s->l += line->l;
		continue;
	fail:
		s->failed = 1;
		s->fail_at = i;
		break;
	}
	__atomic_store_n(&s->state, READY, __ATOMIC_SEQ_CST);
	wake(j);
}

/* The helper takes chunks until none is left or the main thread stops. */
static void *helper(void *arg)
{
	struct job *j = arg;
	kstring_t line = {0, 0, NULL};
	if (store_thread_enter())
		return NULL; /* took no chunk: the main thread formats them all */
	for (;;) {
		size_t c = __atomic_fetch_add(&j->next, 1, __ATOMIC_SEQ_CST);
		if (c >= j->nchunks)
			break;
		/* Its slot is free once the chunk SLOTS before it is written. */
		WAIT_UNTIL(j, c < __atomic_load_n(&j->written, __ATOMIC_SEQ_CST) + SLOTS ||
		                  __atomic_load_n(&j->stop, __ATOMIC_SEQ_CST));
		if (__atomic_load_n(&j->stop, __ATOMIC_SEQ_CST))
			break;
		format_chunk(j, c, &line);
	}
	store_thread_leave();
	free(line.s);
	return NULL;
}

/* About how many bytes of text a record makes, from a sample of @j's records. */
static size_t bytes_per_rec(const struct job *j)
{
	size_t step = j->n / 64 + 1, sum = 0, k = 0;
	for (size_t i = 0; i < j->n; i += step, k++) {
		const struct sam_rec *r = j->v[i];
		sum += r->l_qname + 2 * (size_t)r->l_qseq + 2 * (size_t)r->l_aux +
		       4 * (size_t)r->n_cigar + 40;
	}
	return k ? sum / k : 1;
}

/* Cut the records into chunks: start[] and nchunks. */
static int plan(struct job *j)
{
	size_t per = bytes_per_rec(j), total = per * j->n;
	size_t bytes = total / 8 < CHUNK_MIN   ? CHUNK_MIN
	               : total / 8 > CHUNK_MAX ? CHUNK_MAX
	                                       : total / 8;
	size_t k = bytes / per ? bytes / per : 1, tail = k / 8 ? k / 8 : 1;
	j->start = malloc((j->n / k + 64) * sizeof(*j->start));
	if (!j->start)
		return -1;
	size_t pos = 0, c = 0;
	j->start[c++] = 0;
	while (pos < j->n) {
		/* Full chunks, then halves of what is left, so both threads end about together. */
		size_t left = j->n - pos, len = left < 2 * k ? left / 2 : k;
		if (len < tail)
			len = tail;
		if (left - (len < left ? len : left) < tail)
			len = left;
		pos += len;
		j->start[c++] = pos;
	}
	j->nchunks = c - 1;
	return 0;
}

/* Reserve the slots' address space, 2 MiB aligned, for transparent huge pages. */
static int slots_map(struct job *j)
{
	j->region_len = SLOTS * SLOT_SPACE + HUGE_PAGE;
	j->region = mmap(NULL, j->region_len, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (j->region == MAP_FAILED) {
		j->region = NULL;
		return -1;
	}
	char *base = (char *)(((uintptr_t)j->region + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	madvise(base, SLOTS * SLOT_SPACE, MADV_HUGEPAGE); /* only a hint */
	for (int i = 0; i < SLOTS; i++) {
		j->slot[i].s = base + i * SLOT_SPACE;
		j->slot[i].cap = SLOT_SPACE;
	}
	return 0;
}

static void slots_unmap(struct job *j)
{
	for (int i = 0; i < SLOTS; i++)
		if (j->slot[i].moved)
			munmap(j->slot[i].s, j->slot[i].cap);
	if (j->region)
		munmap(j->region, j->region_len);
}

int write_recs(htsFile *out, sam_hdr_t *h, struct sam_rec *const *v, size_t n, hts_pos_t min_end)
{
	struct job j = {.v = v, .n = n, .min_end = min_end};
	kstring_t line = {0, 0, NULL};
	pthread_t tid;
	int ret = 0, threaded = 0;
	if (!n)
		return 0;
	if (fmt_init(&j.f, h) < 0 || plan(&j) < 0 || slots_map(&j) < 0) {
		fprintf(stderr, "sjmp-sam: out of memory for formatting\n");
		ret = -1;
		goto out;
	}
	/* Without a helper (one chunk, or no thread to be had) the main thread does all. */
	if (j.nchunks > 1 && pthread_create(&tid, NULL, helper, &j) == 0)
		threaded = 1;
	for (size_t w = 0; w < j.nchunks;) {
		struct slot *s = &j.slot[w % SLOTS];
		if (__atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == READY) {
			if (s->failed) {
				fprintf(stderr, "sjmp-sam: formatting record %zu as SAM failed\n",
				        s->fail_at);
				ret = -1;
				break;
			}
			if (s->l && hwrite(out->fp.hfile, s->s, s->l) != (ssize_t)s->l) {
				fprintf(stderr, "sjmp-sam: writing SAM: %s\n", strerror(errno));
				ret = -1;
				break;
			}
			__atomic_store_n(&s->state, FREE, __ATOMIC_SEQ_CST);
			__atomic_store_n(&j.written, ++w, __ATOMIC_SEQ_CST);
			wake(&j);
			continue;
		}
		/* Not ready: take the next chunk if its slot is free, else wait for the helper,
		 * which then holds chunk w (it holds one at a time, and took every chunk up to
		 * j.next that is not ready; without a helper j.next is w here). */
		size_t c = __atomic_load_n(&j.next, __ATOMIC_SEQ_CST);
		if (c < j.nchunks && c < w + SLOTS) {
			if (__atomic_compare_exchange_n(&j.next, &c, c + 1, 0, __ATOMIC_SEQ_CST,
			                                __ATOMIC_SEQ_CST))
				format_chunk(&j, c, &line);
			continue;
		}
		WAIT_UNTIL(&j, __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == READY);
	}
	if (threaded) {
		__atomic_store_n(&j.stop, 1, __ATOMIC_SEQ_CST);
		wake(&j);
		pthread_join(tid, NULL);
	}
out:
	slots_unmap(&j);
	free(j.start);
	fmt_free(&j.f);
	free(line.s);
	return ret;
}
