/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/hfile.h>
#include <htslib/kstring.h>

#include "fmt.h"
#include "rec.h"
#include "store.h"
#include "write.h"

#define CHUNK 2048 /* records per chunk */
#define SLOTS 8    /* chunks the helper may run ahead */

struct slot {
	kstring_t text;
	int ready; /* formatted, not yet written */
	int failed;
};

struct job {
	sam_hdr_t *h;
	struct sam_rec *const *v;
	size_t n, nchunks;
	struct slot slot[SLOTS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;
	int helper_gone; /* the helper could not enter the store: the main thread does all */
};

/* Format chunk @c into @ks. */
static int format_chunk(struct job *j, size_t c, kstring_t *ks)
{
	size_t beg = c * CHUNK, end = beg + CHUNK < j->n ? beg + CHUNK : j->n;
	ks->l = 0;
	for (size_t i = beg; i < end; i++) {
		rec_prefetch(j->v, i, end);
		if (fmt_rec(j->h, j->v[i], ks) < 0)
			return -1;
	}
	return 0;
}

/* The helper formats the odd chunks into slot (c / 2) % SLOTS. */
static void *helper(void *arg)
{
	struct job *j = arg;
	if (store_thread_enter()) {
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
		int failed = format_chunk(j, c, &s->text) < 0;
		pthread_mutex_lock(&j->lock);
		s->ready = 1;
		s->failed = failed;
		pthread_cond_broadcast(&j->cond);
		pthread_mutex_unlock(&j->lock);
	}
	store_thread_leave();
	return NULL;
}

static int put(htsFile *out, const kstring_t *ks)
{
	if (ks->l && hwrite(out->fp.hfile, ks->s, ks->l) != (ssize_t)ks->l) {
		fprintf(stderr, "sjmp-sam: writing SAM: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int write_recs(htsFile *out, sam_hdr_t *h, struct sam_rec *const *v, size_t n)
{
	struct job j = {.h = h, .v = v, .n = n, .nchunks = (n + CHUNK - 1) / CHUNK};
	kstring_t mine = {0, 0, NULL};
	pthread_t tid;
	int ret = 0, threaded = 0;
	pthread_mutex_init(&j.lock, NULL);
	pthread_cond_init(&j.cond, NULL);
	/* Without a helper (one chunk, or no thread to be had) the even loop below does all. */
	if (j.nchunks > 1 && pthread_create(&tid, NULL, helper, &j) == 0)
		threaded = 1;
	for (size_t c = 0; c < j.nchunks && !ret; c++) {
		if (!threaded || c % 2 == 0) {
			if (format_chunk(&j, c, &mine) < 0) {
				fprintf(stderr, "sjmp-sam: formatting record %zu as SAM failed\n",
				        c * CHUNK);
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
			s->failed = format_chunk(&j, c, &s->text) < 0;
			s->ready = 1;
		}
		if (s->failed) {
			fprintf(stderr, "sjmp-sam: formatting record %zu as SAM failed\n",
			        c * CHUNK);
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
	pthread_mutex_destroy(&j.lock);
	pthread_cond_destroy(&j.cond);
	return ret;
}
