/* SPDX-License-Identifier: MIT */
/*
 * switch_bench - what a VAS switch costs next to the paper's MAP baseline, in one run.
 *
 * The program runs twice in one invocation: first on the backend SJMP_BACKEND selects (auto:
 * kvm where guest mode works), then it re-executes itself in host mode (SJMP_BACKEND=mmap, the
 * paper's MAP baseline, measured natively so it pays no guest-mode exits).
 *
 * Cases (each a median and p99 over many samples, one line per case):
 *   switch            sjmp_vas_switch between two VASes that map different 64 MiB segments at
 *                     the same address.
 *   switch_lockable   the same with lockable segments (shared locks taken and released).
 *   switch_touch64    a switch followed by 64 reads at random lines of the segment.
 *   raw_cr3_load      (kvm) `mov %cr3` of the same root, nothing else: the floor of a switch.
 *   map_window_64M    (host) mmap a 64 MiB window of a tmpfs file, read 64 random lines,
 *                     munmap (paper section 5.2, "MAP").
 *   map_window_1G     (host) the same with a 1 GiB window.
 * Final lines give the ratios the project's targets are stated in, from this run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm.h"

#include <sjmp.h>

#include "bench.h"

#define SAMPLES  2000
#define SEG_BASE (SJMP_ZONE_BASE + (16UL << 30))
#define SEG_SIZE (64UL << 20)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static inline uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static volatile uint64_t sink;

static void touch64(const char *base, size_t size)
{
	for (int i = 0; i < 64; i++)
		sink += *(const volatile uint64_t *)(base + (next_rand() % (size / 64)) * 64);
}

static int make_vas(const char *tag, unsigned flags, sjmp_sid_t *sid_out)
{
	char name[64];
	snprintf(name, sizeof(name), "bench-%s-%d", tag, (int)getpid());
	sjmp_sid_t sid = sjmp_seg_alloc(NULL, SEG_BASE, SEG_SIZE, flags, 0600);
	sjmp_vid_t vid = sjmp_vas_create(NULL, 0600);
	if (sid < 0 || vid < 0)
		return sid < 0 ? sid : vid;
	int r = sjmp_seg_attach_global(vid, sid, SJMP_READ);
	if (r < 0)
		return r;
	*sid_out = sid;
	return sjmp_vas_attach(vid);
}

/* Returns the median in ns, or 0 on failure. */
static uint64_t bench_switch(const char *name, unsigned flags, bool touch)
{
	sjmp_sid_t s1, s2;
	int a = make_vas("a", flags, &s1), b = make_vas("b", flags, &s2);
	if (a < 0 || b < 0) {
		fprintf(stderr, "switch_bench: setup: %s\n", sjmp_strerror(a < 0 ? a : b));
		return 0;
	}
	static uint64_t t[SAMPLES];
	for (int i = -100; i < SAMPLES; i++) { /* 100 warm-up rounds */
		int target = (i & 1) ? a : b;
		uint64_t t0 = bench_ns();
		int r = sjmp_vas_switch(target);
		if (touch)
			touch64((const char *)SEG_BASE, SEG_SIZE);
		uint64_t t1 = bench_ns();
		if (r < 0) {
			fprintf(stderr, "switch_bench: switch: %s\n", sjmp_strerror(r));
			return 0;
		}
		if (i >= 0)
			t[i] = t1 - t0;
	}
	sjmp_vas_switch(SJMP_PRIMARY);
	sjmp_vas_detach(a);
	sjmp_vas_detach(b);
	char extra[64];
	snprintf(extra, sizeof(extra), "backend=%s", sjmp_backend_name());
	bench_report("switch_bench", name, t, SAMPLES, extra);
	return t[SAMPLES / 2] ? t[SAMPLES / 2] : 1;
}

/* The cost of loading CR3 alone, in guest mode (kvm backend). */
static uint64_t bench_raw_cr3(void)
{
	struct vmm *vm = vmm_get();
	if (!vm || !vmm_self())
		return 0;
	static uint64_t t[SAMPLES];
	for (int i = -100; i < SAMPLES; i++) {
		uint64_t t0 = bench_ns();
		vmm_root_load(vm->root, 0, false);
		uint64_t t1 = bench_ns();
		if (i >= 0)
			t[i] = t1 - t0;
	}
	bench_report("switch_bench", "raw_cr3_load", t, SAMPLES, "backend=kvm");
	return t[SAMPLES / 2];
}

static uint64_t bench_map_window(const char *name, size_t window, int samples)
{
	int fd = memfd_create("sjmp-bench-window", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)window) < 0) {
		perror("switch_bench: memfd");
		return 0;
	}
	/* The window's pages exist in the file, as the paper's pre-allocated table did. */
	void *w = mmap(NULL, window, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	memset(w, 1, window);
	munmap(w, window);
	uint64_t *t = calloc((size_t)samples, sizeof(*t));
	for (int i = -10; i < samples; i++) {
		uint64_t t0 = bench_ns();
		char *p = mmap(NULL, window, PROT_READ, MAP_SHARED, fd, 0);
		touch64(p, window);
		munmap(p, window);
		uint64_t t1 = bench_ns();
		if (i >= 0)
			t[i] = t1 - t0;
	}
	close(fd);
	bench_report("switch_bench", name, t, (size_t)samples, "backend=host");
	uint64_t med = t[samples / 2];
	free(t);
	return med;
}

/* Host mode: the mmap backend's switch and the MAP baselines. */
static int host_part(void)
{
	if (!bench_switch("switch", SJMP_READ, false) ||
	    !bench_switch("switch_touch64", SJMP_READ, true))
		return 1;
	if (!bench_map_window("map_window_64M", 64UL << 20, 500) ||
	    !bench_map_window("map_window_1G", 1UL << 30, 100))
		return 1;
	return 0;
}

/* Runs this program again with SJMP_BACKEND=mmap; echoes its lines and keeps two medians. */
static int run_host_part(const char *self, uint64_t *map64, uint64_t *mmap_switch)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	char dir[4200];
	snprintf(dir, sizeof(dir), "SJMP_DIR=%s", sjmp_dir());
	char *argv[] = {(char *)self, "--host", NULL};
	char *envp[] = {"SJMP_BACKEND=mmap", dir, NULL};
	pid_t pid;
	int r = posix_spawn(&pid, self, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r) {
		close(fds[0]);
		return -1;
	}
	FILE *f = fdopen(fds[0], "r");
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		fputs(line, stdout);
		unsigned long long v;
		char *m = strstr(line, "median_ns=");
		if (!m || sscanf(m, "median_ns=%llu", &v) != 1)
			continue;
		if (strstr(line, "case=map_window_64M "))
			*map64 = v;
		else if (strstr(line, "case=switch "))
			*mmap_switch = v;
	}
	fclose(f);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int r = sjmp_init();
	if (r < 0) {
		fprintf(stderr, "switch_bench: sjmp_init: %s\n", sjmp_strerror(r));
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--host"))
		return host_part();
	printf("switch_bench: backend=%s samples=%d\n", sjmp_backend_name(), SAMPLES);
	uint64_t sw = bench_switch("switch", SJMP_READ, false);
	if (!sw || !bench_switch("switch_lockable", SJMP_READ | SJMP_SEG_LOCKABLE, false))
		return 1;
	uint64_t st = bench_switch("switch_touch64", SJMP_READ, true);
	uint64_t cr3 = sjmp_backend() == SJMP_BACKEND_KVM ? bench_raw_cr3() : 0;
	uint64_t map64 = 0, mmap_switch = 0;
	if (run_host_part("/proc/self/exe", &map64, &mmap_switch) < 0 || !map64) {
		fprintf(stderr, "switch_bench: the host-mode part failed\n");
		return 1;
	}
	if (cr3)
		printf("switch_bench: ratio switch/raw_cr3_load=%.2f backend=%s\n",
		       (double)sw / (double)cr3, sjmp_backend_name());
	printf("switch_bench: ratio map_window_64M/switch=%.1f map_window_64M/switch_touch64=%.1f "
	       "backend=%s\n",
	       (double)map64 / (double)sw, (double)map64 / (double)st, sjmp_backend_name());
	return 0;
}
