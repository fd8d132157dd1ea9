/* SPDX-License-Identifier: MIT */
/* handles.c - process-local handle tables, like a file-descriptor table: the lowest free
 * number is reused. Callers hold the library mutex. */
#include <errno.h>
#include <stddef.h>

#include "internal.h"

#define MAX_HANDLES 4096

static struct sjmp__seg *sids[MAX_HANDLES];
static struct sjmp__vasobj *vids[MAX_HANDLES];
static struct sjmp__inst insts[MAX_HANDLES]; /* [0] is the primary VAS */

static int slot_new(void **table, void *obj)
{
	for (int i = 1; i < MAX_HANDLES; i++) {
		if (!table[i]) {
			table[i] = obj;
			return i;
		}
	}
	return -EMFILE;
}

int sjmp__sid_new(struct sjmp__seg *s)
{
	return slot_new((void **)sids, s);
}

struct sjmp__seg *sjmp__sid_get(sjmp_sid_t sid)
{
	return sid > 0 && sid < MAX_HANDLES ? sids[sid] : NULL;
}

void sjmp__sid_clear(sjmp_sid_t sid)
{
	if (sid > 0 && sid < MAX_HANDLES)
		sids[sid] = NULL;
}

int sjmp__vid_new(struct sjmp__vasobj *v)
{
	return slot_new((void **)vids, v);
}

struct sjmp__vasobj *sjmp__vid_get(sjmp_vid_t vid)
{
	return vid > 0 && vid < MAX_HANDLES ? vids[vid] : NULL;
}

void sjmp__vid_clear(sjmp_vid_t vid)
{
	if (vid > 0 && vid < MAX_HANDLES)
		vids[vid] = NULL;
}

int sjmp__inst_new(struct sjmp__inst **out)
{
	for (int i = 1; i < MAX_HANDLES; i++) {
		if (!insts[i].in_use) {
			insts[i] = (struct sjmp__inst){.in_use = true};
			*out = &insts[i];
			return i;
		}
	}
	return -EMFILE;
}

struct sjmp__inst *sjmp__inst_get(sjmp_vh_t vh)
{
	if (vh == SJMP_PRIMARY) {
		insts[0].in_use = true;
		return &insts[0];
	}
	return vh > 0 && vh < MAX_HANDLES && insts[vh].in_use ? &insts[vh] : NULL;
}

sjmp_vh_t sjmp__inst_vh(const struct sjmp__inst *in)
{
	return (sjmp_vh_t)(in - insts);
}

struct sjmp__inst *sjmp__inst_next(sjmp_vh_t *vh)
{
	for (int i = *vh + 1; i < MAX_HANDLES; i++) {
		if (insts[i].in_use) {
			*vh = i;
			return &insts[i];
		}
	}
	return NULL;
}
