/* SPDX-License-Identifier: MIT */
/*
 * sjmp-sam: the SAM workflow of the SpaceJMP paper (section 5.4, Fig. 11 and 12). `load` parses
 * a SAM/BAM file once into pointer-rich structures in a named, persistent store; every other
 * command is a separate process that enters the store and runs one samtools stage on the
 * records as they are, never opening the input again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load.h"
#include "sam_model.h"
#include "rec.h"
#include "stages.h"
#include "store.h"

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
	        "usage: %s COMMAND --vas NAME [ARGS]\n"
	        "  load FILE.{sam,bam,cram} --vas NAME   parse FILE into a new store NAME\n"
	        "  flagstat --vas NAME                   as samtools flagstat\n"
	        "  idxstats --vas NAME                   as samtools idxstats\n"
	        "  sort [-n] --vas NAME                  as samtools sort [-n] -O sam; keeps the "
	        "order\n"
	        "  view --vas NAME [REGION]              as samtools view (sorted, indexed input)\n"
	        "  depth --vas NAME                      as samtools depth\n"
	        "  mpileup --vas NAME                    as samtools mpileup (no reference)\n"
	        "  info --vas NAME                       what the store holds\n"
	        "  drop --vas NAME                       delete the store\n"
	        "Options: --time prints the command's own wall time (after start-up) to stderr.\n"
	        "Store: %s\n",
	        prog, store_kind());
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmd_load(const char *name, const char *path)
{
	struct sam_store *s;
	struct sam_root *root = NULL;
	int err = store_create(name, load_size_hint(path), &s);
	if (err)
		return 1;
	err = load_file(path, s, &root);
	if (!err)
		err = store_set_root(s, root);
	if (!err) {
		fprintf(stderr, "sjmp-sam: loaded %s: %llu records, %u references into %s (%s)\n",
		        path, (unsigned long long)root->n_recs, root->n_refs, name, store_kind());
	}
	store_close(s);
	if (err) {
		store_drop(name);
		return 1;
	}
	return 0;
}

static int cmd_info(const struct sam_root *root, const char *name)
{
	printf("store\t%s\nkind\t%s\nsource\t%s\nrecords\t%llu\nreferences\t%u\n"
	       "unplaced\t%llu\ncoordinate order\t%s\nname order\t%s\n",
	       name, store_kind(), root->source, (unsigned long long)root->n_recs, root->n_refs,
	       (unsigned long long)root->n_unplaced, root->order[SAM_ORDER_COORD] ? "kept" : "none",
	       root->order[SAM_ORDER_NAME] ? "kept" : "none");
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	/* Stages print megabytes: write them in 1 MiB blocks, not stdio's 4 KiB. In guest mode
	 * every write is forwarded to the host (about 25 us on kvm_pvm): depth made 460 writes. */
	static char out_buf[1 << 20];
	setvbuf(stdout, out_buf, _IOFBF, sizeof(out_buf));
	const char *name = NULL, *cmd = NULL, *arg = NULL;
	int by_name = 0, timed = 0, order = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--vas") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(argv[i], "--order") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "coord")) {
				order = SAM_ORDER_COORD;
			} else if (!strcmp(argv[i], "name")) {
				order = SAM_ORDER_NAME;
			} else {
				fprintf(stderr, "%s: --order takes coord or name, not '%s'\n", prog,
				        argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "-n")) {
			by_name = 1;
		} else if (!strcmp(argv[i], "--time")) {
			timed = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout, prog);
			return 0;
		} else if (!cmd) {
			cmd = argv[i];
		} else if (!arg) {
			arg = argv[i];
		} else {
			fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[i]);
			usage(stderr, prog);
			return 2;
		}
	}
	if (!cmd || (!name && !(cmd && !strcmp(cmd, "drop") && arg))) {
		usage(stderr, prog);
		return 2;
	}
	if (!name)
		name = arg;

	double t0 = now();
	int ret;
	if (!strcmp(cmd, "load")) {
		if (!arg) {
			fprintf(stderr, "%s: load needs a FILE\n", prog);
			return 2;
		}
		ret = cmd_load(name, arg);
	} else if (!strcmp(cmd, "drop")) {
		ret = store_drop(name) ? 1 : 0;
	} else {
		static const char *const stages[] = {"flagstat", "idxstats", "sort", "view",
		                                     "depth",    "mpileup",  "info"};
		size_t k;
		for (k = 0; k < sizeof(stages) / sizeof(*stages); k++)
			if (!strcmp(cmd, stages[k]))
				break;
		if (k == sizeof(stages) / sizeof(*stages)) {
			fprintf(stderr, "%s: unknown command '%s'\n", prog, cmd);
			usage(stderr, prog);
			return 2;
		}
		struct sam_store *s;
		struct sam_root *root;
		int writable = !strcmp(cmd, "sort");
		if (store_open(name, writable, &s, &root))
			return 1;
		if (root_check(root, name)) {
			store_close(s);
			return 1;
		}
		if (!strcmp(cmd, "flagstat"))
			ret = stage_flagstat(root, stdout);
		else if (!strcmp(cmd, "idxstats"))
			ret = stage_idxstats(root, stdout);
		else if (!strcmp(cmd, "sort"))
			ret = stage_sort(root, s, by_name);
		else if (!strcmp(cmd, "view"))
			ret = stage_view(root, arg, order);
		else if (!strcmp(cmd, "depth"))
			ret = stage_depth(root, stdout);
		else if (!strcmp(cmd, "mpileup"))
			ret = stage_mpileup(root, stdout);
		else
			ret = cmd_info(root, name);
		/* Flush while the store is still mapped: nothing in stdio's buffer points into
		 * it, but a write error belongs to this stage. */
		if (fflush(stdout) != 0 && !ret) {
			fprintf(stderr, "%s: writing stdout: %s\n", prog, strerror(errno));
			ret = 1;
		}
		store_close(s);
	}
	if (timed)
		fprintf(stderr, "%s %s: %.3f s\n", prog, cmd, now() - t0);
	return ret;
}
