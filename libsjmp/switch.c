/* SPDX-License-Identifier: MIT */
/*
 * switch.c - sjmp_vas_switch: the calling thread's current VAS and the segment locks it holds
 * (paper section 3.2: switching into a VAS takes the lock of each lockable segment in it, shared
 * where the VAS maps it read-only and exclusive where writable; switching out releases them).
 *
 * Locks are taken without the library mutex (they may wait), in one global order (the data
 * file's device and inode) so that two threads or processes entering overlapping VASes never
 * deadlock. A segment held in both VASes in the same mode is kept across the switch; one held in
 * the other mode is released first (a thread cannot upgrade its own lock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "internal.h"
#include "lock.h"

struct held {
	struct sjmp__seg *seg;
	bool excl;
};

struct thread_state {
	struct sjmp__inst *cur; /* NULL: the primary VAS */
	struct held *held;
	unsigned nheld, capheld;
};

static __thread struct thread_state ts;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

struct sjmp__inst *sjmp__thread_inst(void)
{
	return ts.cur ? ts.cur : sjmp__inst_get(SJMP_PRIMARY);
}

sjmp_vh_t sjmp_vas_current(void)
{
	return ts.cur ? sjmp__inst_vh(ts.cur) : SJMP_PRIMARY;
}

static struct held *find_held(const struct sjmp__seg *s)
{
	for (unsigned i = 0; i < ts.nheld; i++)
		if (ts.held[i].seg == s)
			return &ts.held[i];
	return NULL;
}

static int push_held(struct sjmp__seg *s, bool excl)
{
	if (ts.nheld == ts.capheld) {
		unsigned cap = ts.capheld ? ts.capheld * 2 : 8;
		void *p = realloc(ts.held, cap * sizeof(*ts.held));
		if (!p)
			return -ENOMEM;
		ts.held = p;
		ts.capheld = cap;
	}
	ts.held[ts.nheld++] = (struct held){s, excl};
	sjmp__seg_ref(s);
	return 0;
}

/* Releases hold @i and forgets it (library mutex held). */
static void drop_held(unsigned i)
{
	struct held h = ts.held[i];
	sjmp__rw_unlock(h.seg->lf, h.excl);
	ts.held[i] = ts.held[--ts.nheld];
	sjmp__seg_unref(h.seg);
}

int sjmp__thread_take_lock(struct sjmp__seg *s, bool exclusive)
{
	struct sjmp__lockfile *lf;
	if (find_held(s))
		return 0;
	int r = sjmp__seg_lockfile(s, &lf);
	if (r < 0)
		return r;
	r = sjmp__rw_lock(lf, exclusive, true, NULL);
	if (r < 0)
		return r == -EBUSY ? sjmp__fail(EBUSY, "seg_attach",
		                                "the lock of \"%s\" is held "
		                                "elsewhere; attach outside the VAS "
		                                "and switch in to wait for it",
		                                s->name)
		                   : r;
	r = push_held(s, exclusive);
	if (r < 0)
		sjmp__rw_unlock(lf, exclusive);
	return r;
}

void sjmp__thread_drop_lock(struct sjmp__seg *s)
{
	struct held *h = find_held(s);
	if (h)
		drop_held((unsigned)(h - ts.held));
}

/* ---- the switch ---- */

struct want {
	struct sjmp__seg *seg;
	bool excl;
	bool regain; /* the thread held it in the other mode before this switch */
};

/*
 * A failed switch gives back the holds it dropped for a change of mode, in their old mode. This
 * cannot wait (the library mutex is held): if another holder took the lock in the gap, the
 * thread stays in its VAS without it, and the log says so.
 */
static int push_held(struct sjmp__seg *s, bool excl);

static void regain_holds(const struct want *w, unsigned nw)
{
	for (unsigned i = 0; i < nw; i++) {
		if (!w[i].regain)
			continue;
		bool old_excl = !w[i].excl;
		if (sjmp__rw_lock(w[i].seg->lf, old_excl, true, NULL) == 0) {
			if (push_held(w[i].seg, old_excl) < 0)
				sjmp__rw_unlock(w[i].seg->lf, old_excl);
		} else {
			sjmp__log(SJMP_LOG_WARN,
			          "vas_switch: the switch failed and the lock of \"%s\" "
			          "was taken by another holder meanwhile: this thread no "
			          "longer holds it",
			          w[i].seg->name);
		}
	}
}

static int want_order(const void *a, const void *b)
{
	const struct sjmp__seg *x = ((const struct want *)a)->seg,
	                       *y = ((const struct want *)b)->seg;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* The locks @in needs that the thread does not already hold in that mode; references taken. */
static int wanted_locks(struct sjmp__inst *in, struct want **out, unsigned *n)
{
	struct want *w = calloc(in->natts ? in->natts : 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	unsigned k = 0;
	for (unsigned i = 0; i < in->natts; i++) {
		struct sjmp__seg *s = in->atts[i].seg;
		bool excl = in->atts[i].prot & SJMP_WRITE;
		if (!(s->flags & SJMP_SEG_LOCKABLE))
			continue;
		struct held *h = find_held(s);
		if (h && h->excl == excl)
			continue;
		struct sjmp__lockfile *lf;
		int r = sjmp__seg_lockfile(s, &lf);
		if (r < 0) {
			for (unsigned j = 0; j < k; j++)
				sjmp__seg_unref(w[j].seg);
			free(w);
			return r;
		}
		sjmp__seg_ref(s);
		w[k++] = (struct want){s, excl, false};
	}
	qsort(w, k, sizeof(*w), want_order);
	*out = w;
	*n = k;
	return 0;
}

static void thread_exit(void *arg);

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

/* Library mutex held. Moves the thread's bookkeeping from @from to @to. */
static void enter(struct sjmp__inst *from, struct sjmp__inst *to)
{
	struct sjmp__inst *primary = sjmp__inst_get(SJMP_PRIMARY);
	if (from != primary)
		from->threads_inside--;
	if (to != primary)
		to->threads_inside++;
	ts.cur = to == primary ? NULL : to;
	if (ts.cur) {
		pthread_once(&exit_key_once, make_exit_key);
		pthread_setspecific(exit_key, &ts);
	}
}

/* Library mutex held: releases the holds that @to does not map in the same mode. */
static void release_unwanted(struct sjmp__inst *to)
{
	for (unsigned i = ts.nheld; i-- > 0;) {
		struct sjmp__attachment *a = sjmp__inst_find_seg(to, ts.held[i].seg);
		if (!a || !!(a->prot & SJMP_WRITE) != ts.held[i].excl)
			drop_held(i);
	}
}

int sjmp_vas_switch_timed(sjmp_vh_t vh, int flags, const struct timespec *deadline)
{
	int r = sjmp__ensure_init();
	if (r < 0)
		return r;
	if (flags & ~SJMP_SWITCH_NONBLOCK)
		return sjmp__fail(EINVAL, "vas_switch", "unknown flags %#x", (unsigned)flags);
	sjmp__lock();
	struct sjmp__inst *from = sjmp__thread_inst();
	struct sjmp__inst *to = sjmp__inst_get(vh);
	if (!to) {
		sjmp__unlock();
		return sjmp__fail(EBADF, "vas_switch",
		                  "handle %d is not an attached VAS; "
		                  "sjmp_vas_attach it first",
		                  vh);
	}
	if (to == from) {
		sjmp__unlock();
		return 0;
	}
	r = sjmp__inst_refresh(to);
	struct want *w = NULL;
	unsigned nw = 0;
	if (r == 0)
		r = wanted_locks(to, &w, &nw);
	if (r < 0) {
		sjmp__unlock();
		return r;
	}
	/* Holds in the wrong mode go first: a thread cannot upgrade or downgrade in place.
	 * w[i].regain remembers them, to take them back if the switch fails. */
	for (unsigned i = 0; i < nw; i++) {
		struct held *h = find_held(w[i].seg);
		if (h) {
			w[i].regain = true;
			drop_held((unsigned)(h - ts.held));
		}
	}
	to->switching++;
	sjmp__unlock();

	bool nonblock = flags & SJMP_SWITCH_NONBLOCK;
	unsigned got = 0;
	for (; got < nw; got++) {
		r = sjmp__rw_lock(w[got].seg->lf, w[got].excl, nonblock,
		                  nonblock ? NULL : deadline);
		if (r < 0)
			break;
	}

	sjmp__lock();
	to->switching--;
	if (r == 0)
		r = sjmp__backend()->activate(from, to);
	if (r == 0) {
		for (unsigned i = 0; i < nw && r == 0; i++)
			r = push_held(w[i].seg, w[i].excl);
		/* push_held cannot fail for long: on ENOMEM give everything back. */
		if (r < 0)
			sjmp__backend()->activate(to, from);
	}
	if (r < 0) {
		for (unsigned i = 0; i < got; i++)
			if (!find_held(w[i].seg))
				sjmp__rw_unlock(w[i].seg->lf, w[i].excl);
		regain_holds(w, nw);
	} else {
		release_unwanted(to);
		enter(from, to);
	}
	for (unsigned i = 0; i < nw; i++)
		sjmp__seg_unref(w[i].seg);
	free(w);
	sjmp__unlock();
	if (r == -EBUSY && !nonblock)
		sjmp__log(SJMP_LOG_DEBUG,
		          "vas_switch: EBUSY: another thread is in another VAS "
		          "(the %s backend has one VAS per process)",
		          sjmp_backend_name());
	return r;
}

int sjmp_vas_switch(sjmp_vh_t vh)
{
	return sjmp_vas_switch_timed(vh, 0, NULL);
}

/* A thread that exits inside a VAS leaves it: its locks must not outlive it. */
static void thread_exit(void *arg)
{
	(void)arg;
	if (!ts.cur && !ts.nheld)
		return;
	sjmp__lock();
	struct sjmp__inst *primary = sjmp__inst_get(SJMP_PRIMARY);
	if (ts.cur && sjmp__backend()->activate(ts.cur, primary) == 0)
		enter(ts.cur, primary);
	else if (ts.cur)
		enter(ts.cur, primary); /* bookkeeping only: the mapping stays for the others */
	while (ts.nheld)
		drop_held(ts.nheld - 1);
	free(ts.held);
	ts = (struct thread_state){0};
	sjmp__unlock();
}

void sjmp__fork_child(void)
{
	/* The child holds no segment lock and is in the primary VAS (DESIGN.md section 2). */
	sjmp__seg_forget_locks();
	for (unsigned i = 0; i < ts.nheld; i++)
		sjmp__seg_unref(ts.held[i].seg);
	ts.nheld = 0;
	struct sjmp__inst *primary = sjmp__inst_get(SJMP_PRIMARY);
	struct sjmp__inst *cur = sjmp__thread_inst();
	sjmp_vh_t vh = 0;
	struct sjmp__inst *in;
	while ((in = sjmp__inst_next(&vh)) != NULL)
		in->threads_inside = in->switching = 0;
	if (cur != primary)
		cur->threads_inside = 1; /* only this thread survives the fork */
	if (sjmp__backend()->activate(cur, primary) == 0 || cur == primary)
		ts.cur = NULL;
	if (cur != primary)
		cur->threads_inside = 0;
}
