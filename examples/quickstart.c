/* SPDX-License-Identifier: MIT */
/*
 * quickstart.c - paper Fig. 4, end to end: pointer-rich data that outlives its process.
 *
 *   quickstart build   creates segment "qs-tree" and VAS "qs", switches in, builds a binary
 *                      search tree of 100,000 nodes with sjmp_seg_malloc, stores its root in the
 *                      segment header, prints a checksum of an in-order walk, and exits.
 *   quickstart walk    a new process: finds the VAS, attaches, switches in, walks the very same
 *                      pointers and prints the checksum again.
 *   quickstart clean   deletes both objects.
 *   quickstart         runs build and walk as two processes and compares their checksums.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <sjmp.h>

#define SEG_NAME "qs-tree"
#define VAS_NAME "qs"
#define SEG_BASE (SJMP_ZONE_BASE + (1UL << 30)) /* any fixed, page-aligned address in the zone */
#define SEG_SIZE (64UL << 20)
#define NODES    100000

struct node {
	uint64_t key;
	struct node *left, *right; /* plain pointers into the segment */
};

static int die(const char *what, int err)
{
	fprintf(stderr, "quickstart: %s: %s\n", what, sjmp_strerror(err));
	return 1;
}

/* Iterative in-order walk (the tree is not balanced: no recursion). */
static uint64_t checksum(const struct node *root, size_t *count)
{
	XXH64_state_t *st = XXH64_createState();
	XXH64_reset(st, 0);
	const struct node **stack = malloc(NODES * sizeof(*stack));
	size_t sp = 0, n = 0;
	const struct node *cur = root;
	while (cur || sp) {
		while (cur) {
			stack[sp++] = cur;
			cur = cur->left;
		}
		cur = stack[--sp];
		XXH64_update(st, &cur->key, sizeof(cur->key));
		n++;
		cur = cur->right;
	}
	free(stack);
	*count = n;
	uint64_t h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

static int build(void)
{
	sjmp_vid_t vid = sjmp_vas_create(VAS_NAME, 0660);
	if (vid < 0)
		return die("vas_create(\"" VAS_NAME "\") (run 'quickstart clean' first?)", vid);
	sjmp_sid_t sid = sjmp_seg_alloc(SEG_NAME, SEG_BASE, SEG_SIZE, SJMP_READ | SJMP_WRITE, 0660);
	if (sid < 0)
		return die("seg_alloc", sid);
	int r = sjmp_seg_attach_global(vid, sid, SJMP_READ | SJMP_WRITE);
	if (r < 0)
		return die("seg_attach_global", r);
	sjmp_vh_t vh = sjmp_vas_attach(vid);
	if (vh < 0)
		return die("vas_attach", vh);
	if ((r = sjmp_vas_switch(vh)) < 0)
		return die("vas_switch", r);

	struct node *root = NULL;
	uint64_t x = 88172645463325252ULL; /* xorshift64: the same tree every run */
	for (int i = 0; i < NODES; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		struct node *n = sjmp_seg_malloc(sid, sizeof(*n));
		if (!n)
			return die("seg_malloc", -errno);
		*n = (struct node){.key = x};
		struct node **link = &root;
		while (*link)
			link = x < (*link)->key ? &(*link)->left : &(*link)->right;
		*link = n;
	}
	sjmp_seg_root_set(sid, root);
	size_t count;
	uint64_t sum = checksum(root, &count);
	struct sjmp_heap_stats hs;
	if ((r = sjmp_seg_heap_check(sid, &hs)) < 0)
		return die("seg_heap_check", r);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("build: pid %d, backend %s, %zu nodes at %p, heap %zu bytes used, checksum "
	       "%016" PRIx64 "\n",
	       (int)getpid(), sjmp_backend_name(), count, (void *)root, hs.used_bytes, sum);
	return 0;
}

static int walk(void)
{
	sjmp_vid_t vid = sjmp_vas_find(VAS_NAME);
	if (vid < 0)
		return die("vas_find(\"" VAS_NAME "\") (run 'quickstart build' first)", vid);
	sjmp_vh_t vh = sjmp_vas_attach(vid);
	if (vh < 0)
		return die("vas_attach", vh);
	int r = sjmp_vas_switch(vh);
	if (r < 0)
		return die("vas_switch", r);
	sjmp_sid_t sid = sjmp_seg_find(SEG_NAME);
	if (sid < 0)
		return die("seg_find", sid);
	const struct node *root = sjmp_seg_root_get(sid);
	size_t count;
	uint64_t sum = checksum(root, &count);
	sjmp_vas_switch(SJMP_PRIMARY);
	printf("walk:  pid %d, backend %s, %zu nodes at %p, checksum %016" PRIx64 "\n",
	       (int)getpid(), sjmp_backend_name(), count, (void *)root, sum);
	return count == NODES ? 0 : 1;
}

static int clean(void)
{
	int a = sjmp_vas_delete(VAS_NAME), b = sjmp_seg_delete(SEG_NAME);
	return (a < 0 && a != -ENOENT) || (b < 0 && b != -ENOENT);
}

/* Runs "self CMD" as a separate process and captures its last checksum. */
static int run_stage(const char *self, const char *cmd, char *sum, size_t len)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		execl(self, self, cmd, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char out[512] = "";
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = 0;
	fputs(out, stdout);
	int st;
	waitpid(pid, &st, 0);
	const char *c = strstr(out, "checksum ");
	snprintf(sum, len, "%.16s", c ? c + 9 : "");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && c ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "build"))
		return build();
	if (argc > 1 && !strcmp(argv[1], "walk"))
		return walk();
	if (argc > 1 && !strcmp(argv[1], "clean"))
		return clean();
	if (argc > 1) {
		fprintf(stderr, "usage: quickstart [build|walk|clean]\n");
		return 2;
	}
	char a[32], b[32];
	clean();
	if (run_stage("/proc/self/exe", "build", a, sizeof(a)) < 0 ||
	    run_stage("/proc/self/exe", "walk", b, sizeof(b)) < 0) {
		clean();
		return 1;
	}
	int same = !strcmp(a, b);
	printf("%s: the second process walked the first one's pointers %s\n", same ? "OK" : "FAIL",
	       same ? "unchanged" : "and got another checksum");
	clean();
	return same ? 0 : 1;
}
