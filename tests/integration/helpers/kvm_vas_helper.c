/* SPDX-License-Identifier: MIT */
/*
 * kvm_vas_helper - exec'd by tests/integration/kvm_vas_test.c in a fresh process, which the kvm
 * backend puts into guest mode at sjmp_init. Prints "key=value" lines; argv[1] selects:
 *   exits      100,000 switches between two VASes; KVM's exit counters before and after
 *   perthread  two threads in two VASes that map different segments at one address, at once
 *   contention four threads switch in and out of VASes sharing one writable lockable segment,
 *              each time incrementing a counter in it non-atomically (with a yield in the
 *              middle): the exclusive lock must make the final count exact
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sjmp.h"
#include "vmm.h"

#define BASE (SJMP_ZONE_BASE + (8UL << 30))
#define SIZE (4UL << 20)

static sjmp_vh_t vas_with_segment(unsigned flags, uint64_t fill)
{
	sjmp_sid_t sid = sjmp_seg_alloc(NULL, BASE, SIZE, flags, 0600);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	if (sid < 0 || vid < 0 || sjmp_seg_attach_global(vid, sid, SJMP_READ | SJMP_WRITE) < 0)
		return -1;
	sjmp_vh_t vh = sjmp_vas_attach(vid);
	if (vh < 0 || sjmp_vas_switch(vh) < 0)
		return -1;
	/* Past the segment header: the program's own bytes. */
	for (size_t off = 4096; off < SIZE; off += 8)
		*(volatile uint64_t *)(BASE + off) = fill;
	sjmp_vas_switch(SJMP_PRIMARY);
	return vh;
}

struct counters {
	uint64_t exits, io, mmio, hlt;
};

static int read_counters(struct counters *c)
{
	int r = vmm_kvm_stat("exits", &c->exits);
	if (!r)
		r = vmm_kvm_stat("io_exits", &c->io);
	if (!r)
		r = vmm_kvm_stat("mmio_exits", &c->mmio);
	if (!r)
		r = vmm_kvm_stat("halt_exits", &c->hlt);
	return r;
}

static int exits(unsigned flags)
{
	sjmp_vh_t a = vas_with_segment(flags, 0xaaaa), b = vas_with_segment(flags, 0xbbbb);
	if (a < 0 || b < 0)
		return 2;
	struct counters c0, c1, c2;
	/* Reading the counters costs exits of its own: measure that with nothing in between. */
	if (read_counters(&c0) || read_counters(&c1))
		return 3;
	const int n = 100000;
	uint64_t seen_a = 0, seen_b = 0;
	for (int i = 0; i < n; i++) {
		sjmp_vas_switch(i & 1 ? b : a);
		uint64_t v = *(volatile uint64_t *)(BASE + 8192);
		seen_a += v == 0xaaaa;
		seen_b += v == 0xbbbb;
	}
	if (read_counters(&c2))
		return 3;
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("backend=%s\nswitches=%d\nseen_a=%llu\nseen_b=%llu\n", sjmp_backend_name(), n,
	       (unsigned long long)seen_a, (unsigned long long)seen_b);
	printf("read_exits=%llu\nexits=%llu\nio=%llu\nmmio=%llu\nhlt=%llu\n",
	       (unsigned long long)(c1.exits - c0.exits), (unsigned long long)(c2.exits - c1.exits),
	       (unsigned long long)(c2.io - c1.io), (unsigned long long)(c2.mmio - c1.mmio),
	       (unsigned long long)(c2.hlt - c1.hlt));
	printf("read_io=%llu\n", (unsigned long long)(c1.io - c0.io));
	return 0;
}

static pthread_barrier_t barrier;

struct worker {
	sjmp_vh_t vh;
	uint64_t expect;
	int ok;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	w->ok = sjmp_vas_switch(w->vh) == 0;
	pthread_barrier_wait(&barrier); /* both threads are inside their VAS now */
	for (int round = 0; round < 1000 && w->ok; round++)
		for (size_t off = 4096; off < SIZE; off += 65536)
			w->ok &= *(volatile uint64_t *)(BASE + off) == w->expect;
	pthread_barrier_wait(&barrier);
	w->ok &= sjmp_vas_current() == w->vh;
	sjmp_vas_switch(SJMP_PRIMARY);
	return NULL;
}

static int perthread(void)
{
	sjmp_vh_t a = vas_with_segment(SJMP_READ | SJMP_WRITE, 0x1111);
	sjmp_vh_t b = vas_with_segment(SJMP_READ | SJMP_WRITE, 0x2222);
	if (a < 0 || b < 0)
		return 2;
	pthread_barrier_init(&barrier, NULL, 2);
	struct worker wa = {a, 0x1111, 0}, wb = {b, 0x2222, 0};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, work, &wa);
	pthread_create(&tb, NULL, work, &wb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	printf("backend=%s\nthread_a_ok=%d\nthread_b_ok=%d\n", sjmp_backend_name(), wa.ok, wb.ok);
	return 0;
}

#define CONTENDERS 4
#define ROUNDS     2000

struct contender {
	sjmp_vh_t vh;
	int errors;
	int max_inside;
};

static volatile int inside; /* threads inside right now (common region: seen by all VASes) */

static void *contend(void *arg)
{
	struct contender *c = arg;
	volatile uint64_t *counter = (volatile uint64_t *)(BASE + 4096);
	for (int i = 0; i < ROUNDS; i++) {
		if (sjmp_vas_switch(c->vh) < 0) {
			c->errors++;
			continue;
		}
		int now = __atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
		if (now > c->max_inside)
			c->max_inside = now;
		uint64_t v = *counter;
		if (i % 16 == 0)
			sched_yield(); /* invite another thread in while the count is in flight */
		*counter = v + 1;
		__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
		if (sjmp_vas_switch(SJMP_PRIMARY) < 0)
			c->errors++;
	}
	return NULL;
}

/* Each thread gets its own attached instance of one VAS; the segment is writable and lockable,
 * so switching in takes its exclusive lock (paper section 3.2). */
static int contention(void)
{
	sjmp_sid_t sid =
	    sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE | SJMP_SEG_LOCKABLE, 0600);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	if (sid < 0 || vid < 0 || sjmp_seg_attach_global(vid, sid, SJMP_READ | SJMP_WRITE) < 0)
		return 2;
	struct contender c[CONTENDERS] = {0};
	pthread_t t[CONTENDERS];
	for (int i = 0; i < CONTENDERS; i++) {
		c[i].vh = sjmp_vas_attach(vid);
		if (c[i].vh < 0)
			return 2;
	}
	for (int i = 0; i < CONTENDERS; i++)
		pthread_create(&t[i], NULL, contend, &c[i]);
	int errors = 0, max_inside = 0;
	for (int i = 0; i < CONTENDERS; i++) {
		pthread_join(t[i], NULL);
		errors += c[i].errors;
		if (c[i].max_inside > max_inside)
			max_inside = c[i].max_inside;
	}
	if (sjmp_vas_switch(c[0].vh) < 0)
		return 3;
	uint64_t count = *(volatile uint64_t *)(BASE + 4096);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("backend=%s\ncount=%llu\nexpected=%d\nerrors=%d\nmax_inside=%d\n",
	       sjmp_backend_name(), (unsigned long long)count, CONTENDERS * ROUNDS, errors,
	       max_inside);
	return 0;
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	int r = sjmp_init();
	if (r < 0) {
		printf("init=%d\n", r);
		return 2;
	}
	printf("init=0\n");
	fflush(stdout);
	if (!strcmp(what, "exits"))
		return exits(SJMP_READ | SJMP_WRITE);
	if (!strcmp(what, "exits_lockable"))
		return exits(SJMP_READ | SJMP_WRITE | SJMP_SEG_LOCKABLE);
	if (!strcmp(what, "contention"))
		return contention();
	if (!strcmp(what, "perthread"))
		return perthread();
	fprintf(stderr, "kvm_vas_helper: unknown scenario \"%s\"\n", what);
	return 64;
}
