/* SPDX-License-Identifier: MIT */
/*
 * `samtools mpileup` without a reference, with its defaults, byte for byte (pileup.c has the
 * rules). The plan is one pass over the records; then the output, chunk by chunk, is
 * formatted on two threads (the main thread the even chunks, a helper the odd ones, a few
 * chunks ahead at most) and written in order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pileup.h"
#include "stages.h"
#include "store.h"

#define CHUNKS      48        /* chunks to cut the work into, */
#define CHUNK_LEAST (1 << 21) /* each with this much work at least (entries listed) */
#define SLOTS       4         /* chunks the helper may run ahead */

struct slot {
	kstring_t text;
	int ready; /* formatted, not yet written */
	int failed;
};

struct job {
	const struct plp_plan *plan;
	size_t nchunks;
	struct slot slot[SLOTS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	int helper_gone; /* the helper could not start: the main thread does all */
};

static void *helper(void *arg)
{
	struct job *j = arg;
	struct plp_worker *w = NULL;
	if (store_thread_enter() == 0) {
		w = plp_worker_new(j->plan);
		if (!w)
			store_thread_leave();
	}
	if (!w) {
		pthread_mutex_lock(&j->lock);
		j->helper_gone = 1;
		pthread_cond_broadcast(&j->cond);
		pthread_mutex_unlock(&j->lock);
		return NULL;
	}
	for (size_t c = 1; c < j->nchunks; c += 2) {
		struct slot *s = &j->slot[(c / 2) % SLOTS];
		pthread_mutex_lock(&j->lock);
		while (s->ready && !j->stop)
			pthread_cond_wait(&j->cond, &j->lock);
		int stop = j->stop;
		pthread_mutex_unlock(&j->lock);
		if (stop)
			break;
		s->text.l = 0;
		int failed = plp_format(w, c, &s->text) < 0;
		pthread_mutex_lock(&j->lock);
		s->ready = 1;
		s->failed = failed;
		pthread_cond_broadcast(&j->cond);
		pthread_mutex_unlock(&j->lock);
	}
	plp_worker_free(w);
	store_thread_leave();
	return NULL;
}

static int put(FILE *out, const kstring_t *ks)
{
	if (ks->l && fwrite(ks->s, 1, ks->l, out) != ks->l) {
		fprintf(stderr, "sjmp-sam: mpileup: writing: %s\n", strerror(errno));
		return -1;
	}
	return 0;
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
	kstring_t mine = {0, 0, NULL};
	pthread_t tid;
	int ret = 0, threaded = 0;
	if (!w) {
		fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
		plp_plan_free(plan);
		return 1;
	}
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	if (j.nchunks > 1 && pthread_create(&tid, NULL, helper, &j) == 0)
		threaded = 1;
	for (size_t c = 0; c < j.nchunks && !ret; c++) {
		if (!threaded || c % 2 == 0) {
			mine.l = 0;
			if (plp_format(w, c, &mine) < 0) {
				fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
				ret = -1;
				break;
			}
			ret = put(out, &mine);
			continue;
		}
		struct slot *s = &j.slot[(c / 2) % SLOTS];
		pthread_mutex_lock(&j.lock);
		while (!s->ready && !j.helper_gone)
			pthread_cond_wait(&j.cond, &j.lock);
		int gone = !s->ready;
		pthread_mutex_unlock(&j.lock);
		if (gone) { /* the helper never started: format this chunk here */
			s->text.l = 0;
			s->failed = plp_format(w, c, &s->text) < 0;
			s->ready = 1;
		}
		if (s->failed) {
			fprintf(stderr, "sjmp-sam: mpileup: out of memory\n");
			ret = -1;
		} else {
			ret = put(out, &s->text);
		}
		pthread_mutex_lock(&j.lock);
		s->ready = 0;
		pthread_cond_broadcast(&j.cond);
		pthread_mutex_unlock(&j.lock);
	}
	if (threaded) {
		pthread_mutex_lock(&j.lock);
		j.stop = 1;
		pthread_cond_broadcast(&j.cond);
		pthread_mutex_unlock(&j.lock);
		pthread_join(tid, NULL);
	}
	for (int i = 0; i < SLOTS; i++)
		free(j.slot[i].text.s);
	free(mine.s);
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
