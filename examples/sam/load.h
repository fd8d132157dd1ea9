/* SPDX-License-Identifier: MIT */
/*
 * load.h - parse a SAM/BAM/CRAM file with htslib into the structures of sam_model.h.
 */
#ifndef SAM_LOAD_H
#define SAM_LOAD_H

#include <stddef.h>

struct sam_store;
struct sam_root;

/**
 * load_size_hint() - bytes of store a file of this kind and size will probably need.
 * @path: the input; its size and compression decide the estimate.
 */
size_t load_size_hint(const char *path);

/**
 * load_file() - parse @path into store @s, which must be open for building.
 * @root: out: the finished root, allocated in @s.
 *
 * Everything htslib can read is loaded, and what it refuses (as `samtools view` does) is
 * refused with one message naming the file and the line (SAM) or record (BAM) at fault.
 * Return: 0, -EINVAL (bad input; message printed), -ENOMEM (store full; message printed), or
 * -errno from opening @path.
 */
int load_file(const char *path, struct sam_store *s, struct sam_root **root);

#endif /* SAM_LOAD_H */
