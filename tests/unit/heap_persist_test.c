/* SPDX-License-Identifier: MIT */
/* The heap lives in the segment: unmap, map again (in this or another process), carry on. */
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heap_util.h"

#define SEG_SIZE (1u << 20)

static char path[64];

static int seg_file(void)
{
	snprintf(path, sizeof(path), "/dev/shm/sjmp-heap-test.XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, SEG_SIZE), 0);
	return fd;
}

/* Map the segment file at its fixed base, as every process does. */
static void *map_seg(const char *file)
{
	int fd = open(file, O_RDWR | O_CLOEXEC);
	TASSERT(fd >= 0, "open %s: %s", file, strerror(errno));
	void *b = mmap(TEST_HEAP_ADDR, SEG_SIZE, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	TASSERT(b == TEST_HEAP_ADDR, "mmap at %p: %s", TEST_HEAP_ADDR, strerror(errno));
	close(fd);
	return b;
}

Test(heap_persist, state_survives_unmap_and_remap, .timeout = 20)
{
	close(seg_file());
	void *base = map_seg(path);
	cr_assert_eq(sjmp__heap_format(base, SEG_SIZE), 0);
	struct model m = {.name = "persist"};
	uint64_t rng = 2024;

	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 4000; i++)
			model_step(&m, base, NULL, &rng, 8192);
		struct sjmp_heap_stats before = test_check(base);
		cr_assert_eq(munmap(base, SEG_SIZE), 0);
		/* Nothing of the heap is left in this process's memory... */
		cr_assert_eq(mmap(TEST_HEAP_ADDR, SEG_SIZE, PROT_NONE,
		                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
		             TEST_HEAP_ADDR);
		cr_assert_eq(munmap(TEST_HEAP_ADDR, SEG_SIZE), 0);
		/* ...and all of it comes back from the file. */
		base = map_seg(path);
		cr_assert_eq(sjmp__heap_validate(base, SEG_SIZE), 0);
		struct sjmp_heap_stats after = test_check(base);
		cr_assert_eq(memcmp(&before, &after, sizeof(before)), 0);
		model_verify(&m, base, SEG_SIZE);
	}
	model_free_all(&m, base, NULL);
	cr_assert_eq(test_check(base).used_blocks, 0);
	free(m.v);
	munmap(base, SEG_SIZE);
	unlink(path);
}

/* What a process leaves for the next: a list hanging off the header's root pointer. */
struct node {
	struct node *next;
	uint64_t value;
	char text[40];
};

static void build_list(void *base, int from, int to)
{
	struct sjmp_seg_header *h = base;
	for (int i = from; i < to; i++) {
		struct node *n = sjmp__heap_malloc(base, NULL, sizeof(*n));
		TASSERT(n != NULL, "malloc node %d", i);
		n->value = (uint64_t)i * 1000003;
		snprintf(n->text, sizeof(n->text), "node %d", i);
		n->next = h->root;
		h->root = n;
	}
}

static int walk_list(const void *base)
{
	const struct sjmp_seg_header *h = base;
	int count = 0;
	for (const struct node *n = h->root; n; n = n->next, count++) {
		char want[40];
		int i = (int)(n->value / 1000003);
		snprintf(want, sizeof(want), "node %d", i);
		TASSERT(strcmp(n->text, want) == 0, "node %d damaged", i);
		TASSERT(sjmp__heap_usable_size(base, n) >= sizeof(*n), "node %d not a block", i);
	}
	return count;
}

Test(heap_persist, another_process_continues_where_the_last_stopped, .timeout = 20)
{
	close(seg_file());
	void *base = map_seg(path);
	cr_assert_eq(sjmp__heap_format(base, SEG_SIZE), 0);
	build_list(base, 0, 100);
	cr_assert_eq(munmap(base, SEG_SIZE), 0);

	/* Three processes in turn: each maps the file afresh, checks, adds 100 nodes, frees 10. */
	for (int gen = 1; gen <= 3; gen++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			test_fail_hard = true;
			void *b = map_seg(path);
			TASSERT(sjmp__heap_validate(b, SEG_SIZE) == 0, "validate");
			test_check(b);
			TASSERT(walk_list(b) == 100 * gen - 10 * (gen - 1), "gen %d list", gen);
			build_list(b, 1000 * gen, 1000 * gen + 100);
			struct sjmp_seg_header *h = b;
			for (int i = 0; i < 10; i++) {
				struct node *n = h->root;
				h->root = n->next;
				TASSERT(sjmp__heap_free(b, NULL, n) == 0, "free");
			}
			test_check(b);
			_exit(0);
		}
		int st;
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "generation %d failed", gen);
	}
	base = map_seg(path);
	cr_assert_eq(walk_list(base), 400 - 30);
	cr_assert_eq(test_check(base).used_blocks, 370);
	munmap(base, SEG_SIZE);
	unlink(path);
}
