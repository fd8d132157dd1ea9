/* SPDX-License-Identifier: MIT */
/*
 * objdir.h - named objects as directories under SJMP_DIR/seg and SJMP_DIR/vas.
 *
 * An object is built in a hidden temporary directory and renamed into place with
 * RENAME_NOREPLACE, so other processes see either no object or a complete one, a duplicate name
 * fails atomically with EEXIST, and a failed creation leaves nothing behind. Deletion renames the
 * object away first (the name is free at once) and then removes its files; processes that have
 * the files open or mapped keep them.
 */
#ifndef SJMP_OBJDIR_H
#define SJMP_OBJDIR_H

#include <sys/types.h>

/** Longest hidden temporary name used by this module, with its NUL. */
#define SJMP__TMPNAME_MAX 96

/**
 * sjmp__objdir_begin() - make a hidden temporary directory in @parentfd (mode 0700 until
 * commit) and return its descriptor; its name goes to @tmpname.
 */
int sjmp__objdir_begin(int parentfd, char tmpname[SJMP__TMPNAME_MAX]);
/**
 * sjmp__objdir_commit() - chmod the directory to @mode and rename it to @name.
 * Return: 0, or -EEXIST (name taken: the temporary directory is removed), or -errno.
 */
int sjmp__objdir_commit(int parentfd, int dirfd, const char *tmpname, const char *name,
                        mode_t mode);
/** sjmp__objdir_abort() - remove a temporary directory and its files. */
void sjmp__objdir_abort(int parentfd, const char *tmpname);
/** sjmp__objdir_remove() - delete object @name. Return 0, -ENOENT, -EACCES, -errno. */
int sjmp__objdir_remove(int parentfd, const char *name);
/**
 * sjmp__objdir_list() - call @fn for every object name in @parentfd (hidden names skipped).
 * Return: the number of names, or -errno.
 */
int sjmp__objdir_list(int parentfd, void (*fn)(const char *name, void *arg), void *arg);
/** sjmp__dir_mode() - directory mode for object files of @mode: x wherever r. */
mode_t sjmp__dir_mode(mode_t mode);
/** sjmp__umask() - the process umask, read without changing it (/proc/self/status). */
mode_t sjmp__umask(void);

#endif
