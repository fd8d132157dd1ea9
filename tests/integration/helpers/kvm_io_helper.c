/* SPDX-License-Identifier: MIT */
/*
 * kvm_io_helper - exec'd by tests/integration/kvm_io_test.c with SJMP_BACKEND=kvm, so sjmp_init
 * enters guest mode. System calls whose buffers lie in segment memory. Prints "key=value" lines
 * (1 = the check held); argv[1] selects:
 *   io        read/pread/readv/write/recvfrom/sendto/recvmsg/sendmsg/getrandom/fstat into and
 *             from segments, after switches, across two adjacent segments
 *   threads   two threads in two VASes read two files into the same address at the same time
 *   readonly  a read into a read-only attachment fails EFAULT; a write from it works
 *   unmapped  zone addresses the current VAS does not map give EFAULT
 *   other     a call outside the translated family with a zone pointer fails EFAULT
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "sjmp.h"

#define BASE  (SJMP_ZONE_BASE + (16UL << 30))
#define SIZE  (2UL << 20)
#define DATA  (BASE + 8192) /* past the segment header */
#define FILEN 100000

static sjmp_vh_t vas_with(sjmp_sid_t *sids, int n, unsigned prot)
{
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	if (vid < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (sjmp_seg_attach_global(vid, sids[i], prot) < 0)
			return -1;
	return sjmp_vas_attach(vid);
}

/* A temporary file of FILEN bytes: byte i = (i * 7 + seed) & 0xff. */
static int make_file(int seed)
{
	char path[] = "/tmp/sjmp-io-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	unlink(path);
	static unsigned char buf[FILEN];
	for (int i = 0; i < FILEN; i++)
		buf[i] = (unsigned char)(i * 7 + seed);
	if (write(fd, buf, FILEN) != FILEN)
		return -1;
	return fd;
}

static int check_bytes(const unsigned char *p, size_t n, size_t off, int seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)((off + i) * 7 + seed))
			return 0;
	return 1;
}

#define SHOW(key, cond) printf("%s=%d\n", key, (cond) ? 1 : 0)

static int io(void)
{
	sjmp_sid_t a = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_sid_t b = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_sid_t c = sjmp_seg_alloc(NULL, BASE + SIZE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	if (a < 0 || b < 0 || c < 0)
		return 2;
	sjmp_sid_t xa[] = {a, c}, yb[] = {b};
	sjmp_vh_t x = vas_with(xa, 2, SJMP_READ | SJMP_WRITE),
	          y = vas_with(yb, 1, SJMP_READ | SJMP_WRITE);
	int fd1 = make_file(1), fd2 = make_file(2);
	if (x < 0 || y < 0 || fd1 < 0 || fd2 < 0)
		return 3;
	unsigned char *d = (unsigned char *)DATA;

	/* read and pread, each VAS its own segment, after switches. */
	sjmp_vas_switch(x);
	ssize_t n1 = pread(fd1, d, FILEN, 0);
	sjmp_vas_switch(y);
	ssize_t n2 = pread(fd2, d, FILEN, 0);
	int y_ok = check_bytes(d, FILEN, 0, 2);
	sjmp_vas_switch(SJMP_PRIMARY);
	sjmp_vas_switch(x);
	SHOW("pread", n1 == FILEN && n2 == FILEN && y_ok && check_bytes(d, FILEN, 0, 1));
	lseek(fd2, 100, SEEK_SET);
	ssize_t r = read(fd2, d, 1000);
	SHOW("read", r == 1000 && check_bytes(d, 1000, 100, 2));

	/* A buffer across the end of segment a and the start of segment c (two host ranges). */
	unsigned char *cross = (unsigned char *)(BASE + SIZE - 3000);
	r = pread(fd1, cross, 10000, 0);
	SHOW("read_across_segments", r == 10000 && check_bytes(cross, 10000, 0, 1));

	/* readv with the iovec array itself in the segment. */
	struct iovec *iov = (struct iovec *)(BASE + 4096);
	iov[0] = (struct iovec){cross, 5000};
	iov[1] = (struct iovec){d + 20000, 3000};
	r = preadv(fd2, iov, 2, 50);
	SHOW("preadv",
	     r == 8000 && check_bytes(cross, 5000, 50, 2) && check_bytes(d + 20000, 3000, 5050, 2));

	/* write/writev from segment memory into a pipe, read back into primary memory. */
	int p[2];
	if (pipe(p))
		return 4;
	static unsigned char back[20000];
	r = write(p[1], cross, 5000);
	ssize_t rb = read(p[0], back, sizeof(back));
	SHOW("write", r == 5000 && rb == 5000 && check_bytes(back, 5000, 50, 2));
	iov[0] = (struct iovec){d, 100};
	iov[1] = (struct iovec){cross, 200};
	r = writev(p[1], iov, 2);
	rb = read(p[0], back, sizeof(back));
	SHOW("writev", r == 300 && rb == 300 && check_bytes(back, 100, 100, 2) &&
	                   check_bytes(back + 100, 200, 50, 2));

	/* Sockets: sendto from a segment, recvfrom into the other VAS's segment. */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		return 5;
	memset(d, 0x5a, 4000);
	r = sendto(sv[0], cross, 4000, 0, NULL, 0); /* crosses a -> c */
	sjmp_vas_switch(y);
	memset(d, 0, 4000);
	rb = recvfrom(sv[1], d, 4000, 0, NULL, NULL);
	/* The bytes sent were cross[0..4000) of VAS x: file 2 from offset 50 (written by preadv).
	 */
	int ok = r == 4000 && rb == 4000 && check_bytes(d, 4000, 50, 2);
	SHOW("sendto_recvfrom", ok);

	/* sendmsg with iovecs and the msghdr in segment y, recvmsg into segment y's memory. */
	struct msghdr *m = (struct msghdr *)(BASE + 4096);
	struct iovec *miov = (struct iovec *)(BASE + 4096 + 256);
	miov[0] = (struct iovec){d, 64};
	miov[1] = (struct iovec){d + 64, 64};
	*m = (struct msghdr){.msg_iov = miov, .msg_iovlen = 2};
	r = sendmsg(sv[0], m, 0);
	memset(d + 100000, 0, 256);
	miov[0] = (struct iovec){d + 100000, 128};
	*m = (struct msghdr){.msg_iov = miov, .msg_iovlen = 1};
	rb = recvmsg(sv[1], m, 0);
	SHOW("sendmsg_recvmsg",
	     r == 128 && rb == 128 && !memcmp(d, d + 100000, 128) && m->msg_flags == 0);

	/* getrandom and fstat into segment memory. */
	memset(d, 0, 64);
	r = getrandom(d, 64, 0);
	int nz = 0;
	for (int i = 0; i < 64; i++)
		nz += d[i] != 0;
	SHOW("getrandom", r == 64 && nz > 8);
	struct stat *st = (struct stat *)(BASE + 4096);
	SHOW("fstat", fstat(fd1, st) == 0 && st->st_size == FILEN);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("backend=%s\n", sjmp_backend_name());
	return 0;
}

/* ---- two threads, two VASes, one address ---- */

static pthread_barrier_t barrier;

struct worker {
	sjmp_vh_t vh;
	int fd, seed, ok, rounds;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	w->ok = sjmp_vas_switch(w->vh) == 0;
	for (int i = 0; i < w->rounds && w->ok; i++) {
		pthread_barrier_wait(&barrier); /* both read at the same time */
		size_t off = (size_t)(i * 997) % (FILEN - 50000);
		ssize_t r = pread(w->fd, (void *)DATA, 50000, (off_t)off);
		w->ok &= r == 50000 && check_bytes((unsigned char *)DATA, 50000, off, w->seed);
	}
	pthread_barrier_wait(&barrier);
	w->ok &= check_bytes((unsigned char *)DATA, 100,
	                     (size_t)((w->rounds - 1) * 997) % (FILEN - 50000), w->seed);
	sjmp_vas_switch(SJMP_PRIMARY);
	return NULL;
}

static int threads(void)
{
	sjmp_sid_t a = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_sid_t b = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_vh_t x = vas_with(&a, 1, SJMP_READ | SJMP_WRITE),
	          y = vas_with(&b, 1, SJMP_READ | SJMP_WRITE);
	int fd1 = make_file(1), fd2 = make_file(2);
	if (a < 0 || b < 0 || x < 0 || y < 0 || fd1 < 0 || fd2 < 0)
		return 2;
	pthread_barrier_init(&barrier, NULL, 2);
	struct worker wa = {x, fd1, 1, 0, 200}, wb = {y, fd2, 2, 0, 200};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, work, &wa);
	pthread_create(&tb, NULL, work, &wb);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	printf("backend=%s\nthread_a_ok=%d\nthread_b_ok=%d\n", sjmp_backend_name(), wa.ok, wb.ok);
	return 0;
}

static int readonly(void)
{
	sjmp_sid_t a = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_vh_t w = vas_with(&a, 1, SJMP_READ | SJMP_WRITE), ro = vas_with(&a, 1, SJMP_READ);
	int fd = make_file(3);
	if (a < 0 || w < 0 || ro < 0 || fd < 0)
		return 2;
	sjmp_vas_switch(w);
	memset((void *)DATA, 0x77, 4096);
	sjmp_vas_switch(ro);
	errno = 0;
	ssize_t r = pread(fd, (void *)DATA, 100, 0);
	SHOW("read_into_readonly_efault", r == -1 && errno == EFAULT);
	int p[2];
	if (pipe(p))
		return 3;
	r = write(p[1], (void *)DATA, 100);
	unsigned char back[100];
	ssize_t rb = read(p[0], back, 100);
	SHOW("write_from_readonly", r == 100 && rb == 100 && back[0] == 0x77 && back[99] == 0x77);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("backend=%s\n", sjmp_backend_name());
	return 0;
}

static int unmapped(void)
{
	sjmp_sid_t a = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_vh_t x = vas_with(&a, 1, SJMP_READ | SJMP_WRITE);
	int fd = make_file(4);
	if (a < 0 || x < 0 || fd < 0)
		return 2;
	errno = 0;
	ssize_t r = pread(fd, (void *)DATA, 100, 0); /* primary VAS: nothing mapped there */
	SHOW("primary_efault", r == -1 && errno == EFAULT);
	sjmp_vas_switch(x);
	errno = 0;
	r = pread(fd, (void *)(BASE + 4 * SIZE), 100, 0); /* past the segment */
	SHOW("hole_efault", r == -1 && errno == EFAULT);
	/* Straddling the segment's end: a short read up to the hole, as natively. */
	r = pread(fd, (void *)(BASE + SIZE - 100), 1000, 0);
	SHOW("short_at_hole", r == 100 && check_bytes((void *)(BASE + SIZE - 100), 100, 0, 4));
	int p[2];
	if (pipe(p))
		return 3;
	errno = 0;
	r = write(p[1], (void *)(BASE + 4 * SIZE), 10);
	SHOW("write_from_hole_efault", r == -1 && errno == EFAULT);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("backend=%s\n", sjmp_backend_name());
	return 0;
}

static int other(void)
{
	sjmp_sid_t a = sjmp_seg_alloc(NULL, BASE, SIZE, SJMP_READ | SJMP_WRITE, 0600);
	sjmp_vh_t x = vas_with(&a, 1, SJMP_READ | SJMP_WRITE);
	if (a < 0 || x < 0)
		return 2;
	sjmp_vas_switch(x);
	errno = 0;
	long r = syscall(SYS_uname, (void *)DATA);
	SHOW("uname_efault", r == -1 && errno == EFAULT);
	errno = 0;
	r = syscall(SYS_uname, (void *)DATA);
	SHOW("uname_efault_again", r == -1 && errno == EFAULT);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("backend=%s\n", sjmp_backend_name());
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
	if (!strcmp(what, "io"))
		return io();
	if (!strcmp(what, "threads"))
		return threads();
	if (!strcmp(what, "readonly"))
		return readonly();
	if (!strcmp(what, "unmapped"))
		return unmapped();
	if (!strcmp(what, "other"))
		return other();
	fprintf(stderr, "kvm_io_helper: unknown scenario \"%s\"\n", what);
	return 64;
}
