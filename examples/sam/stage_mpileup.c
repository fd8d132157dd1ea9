/* SPDX-License-Identifier: MIT */
/*
 * `samtools mpileup` without a reference, with its defaults, byte for byte (pileup_internal.h has
 * the rules). The plan is one pass over the records; then the output, chunk by chunk, is formatted
 * on two threads and written in order: each thread takes the next chunk when its slot is free, and
 * the main thread writes every chunk as soon as it and those before it are done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pileup.h"
#include "stages.h"
#include "store.h"

#define CHUNKS      48           /* chunks to cut the work into, */
#define CHUNK_LEAST (1 << 21)    /* each with this much work at least (entries listed) */
#define SLOTS       6            /* chunks formatted and not yet written, at most */
#define SLOT_HINT   (24UL << 20) /* bytes of text a slot starts with room for */
#define HUGE_PAGE   (2UL << 20)

enum { FREE, BUSY, READY, FAILED };

struct job {
	const struct plp_plan *plan;
	size_t nchunks;
	size_t next;    /* the next chunk to format */
	size_t written; /* chunks written so far */
	int state[SLOTS];
	kstring_t text[SLOTS]; /* chunk c goes to slot c % SLOTS */
	int stop;              /* the main thread gave up */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Format chunks while there are some and a slot is free; the main thread (@out set) also
 * writes them in order, and returns when all are written. Called with the lock held.
 * Return: 0, or -1 after printing a message (main thread). */
static int work(struct job *j, struct plp_worker *w, FILE *out)
{
	for (;;) {
		kstring_t *t = &j->text[j->written % SLOTS];
		int *st = &j->state[j->written % SLOTS];
		if (out && j->written < j->nchunks && (*st == READY || *st == FAILED)) {
			if (*st == FAILED) {
				fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
				return -1;
			}
			pthread_mutex_unlock(&j->lock);
			size_t n = t->l ? fwrite(t->s, 1, t->l, out) : 0;
			pthread_mutex_lock(&j->lock);
			if (n != t->l) {
				fprintf(stderr, "sjmp-sam: mpileup: writing: %s\n",
				        strerror(errno));
				return -1;
			}
			*st = FREE;
			j->written++;
			pthread_cond_broadcast(&j->cond);
			continue;
		}
		if (out && j->written == j->nchunks)
			return 0;
		if (j->stop || (!out && j->next == j->nchunks))
			return 0;
		size_t c = j->next;
		if (c < j->nchunks && j->state[c % SLOTS] == FREE) {
			j->next++;
			j->state[c % SLOTS] = BUSY;
			pthread_mutex_unlock(&j->lock);
			j->text[c % SLOTS].l = 0;
			int failed = plp_format(w, c, &j->text[c % SLOTS]) < 0;
			pthread_mutex_lock(&j->lock);
			j->state[c % SLOTS] = failed ? FAILED : READY;
			pthread_cond_broadcast(&j->cond);
			continue;
		}
		pthread_cond_wait(&j->cond, &j->lock);
	}
}

/*
 * Give each slot room for a typical chunk up front, advised for transparent huge pages: the
 * slots are filled and refilled with hundreds of MB of text, and in guest mode on a host
 * without TDP each 4 KiB page touched for the first time is a KVM page fault (36 k of them on
 * the large set before this). Only a hint: a slot still grows by ks_resize when it must.
 */
static void slots_prepare(struct job *j)
{
	for (int i = 0; i < SLOTS && j->nchunks > 1; i++) {
		if (ks_resize(&j->text[i], SLOT_HINT) < 0)
			return;
		uintptr_t a = ((uintptr_t)j->text[i].s + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
		uintptr_t e = ((uintptr_t)j->text[i].s + j->text[i].m) & ~(HUGE_PAGE - 1);
		if (e > a)
			(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
	}
}

static void *helper(void *arg)
{
	struct job *j = arg;
	if (store_thread_enter())
		return NULL; /* the main thread does all */
	struct plp_worker *w = plp_worker_new(j->plan);
	if (w) {
		pthread_mutex_lock(&j->lock);
		work(j, w, NULL);
		pthread_mutex_unlock(&j->lock);
		plp_worker_free(w);
	}
	store_thread_leave();
	return NULL;
}

int stage_mpileup(const struct sam_root *root, FILE *out)
{
	/* Tests make chunks tiny, so that every chunk boundary rebuilds the pileup's state. */
	const char *least = getenv("SJMP_SAM_MPILEUP_CHUNK");
	struct plp_plan *plan;
	if (least ? plp_plan(root, SIZE_MAX, strtoull(least, NULL, 10), &plan)
	          : plp_plan(root, CHUNKS, CHUNK_LEAST, &plan))
		return 1;
	struct job j = {.plan = plan, .nchunks = plp_plan_chunks(plan)};
	struct plp_worker *w = plp_worker_new(plan);
	if (!w) {
		fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
		plp_plan_free(plan);
		return 1;
	}
	slots_prepare(&j);
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	pthread_t tid;
	int threaded = j.nchunks > 1 && pthread_create(&tid, NULL, helper, &j) == 0;
	pthread_mutex_lock(&j.lock);
	int ret = work(&j, w, out);
	j.stop = 1;
	pthread_cond_broadcast(&j.cond);
	pthread_mutex_unlock(&j.lock);
	if (threaded)
		pthread_join(tid, NULL);
	for (int i = 0; i < SLOTS; i++)
		free(j.text[i].s);
	plp_worker_free(w);
	plp_plan_free(plan);
	pthread_mutex_destroy(&j.lock);
	pthread_cond_destroy(&j.cond);
	if (!ret && (fflush(out) || ferror(out))) {
		fprintf(stderr, "sjmp-sam: mpileup: writing: %s\n", strerror(errno));
		ret = -1;
	}
	return ret ? 1 : 0;
}
