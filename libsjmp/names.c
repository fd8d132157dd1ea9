/* SPDX-License-Identifier: MIT */
/* names.c - the rules for object names: 1..SJMP_NAME_MAX bytes of [A-Za-z0-9._-], not
 * starting with '.', so a name is always one safe path component and never hidden. */
#include <errno.h>
#include <string.h>

#include "internal.h"

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int sjmp__name_check(const char *op, const char *name)
{
	if (!name)
		return sjmp__fail(EINVAL, op,
		                  "the name is NULL; pass a name or use the unnamed form");
	size_t n = strnlen(name, SJMP_NAME_MAX + 1);
	if (n == 0 || n > SJMP_NAME_MAX)
		return sjmp__fail(EINVAL, op, "a name has 1 to %d bytes", SJMP_NAME_MAX);
	if (name[0] == '.')
		return sjmp__fail(EINVAL, op, "a name may not start with '.'");
	for (size_t i = 0; i < n; i++)
		if (!name_char_ok(name[i]))
			return sjmp__fail(EINVAL, op,
			                  "byte %zu of the name is not one of [A-Za-z0-9._-]", i);
	return 0;
}
