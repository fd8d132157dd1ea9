/* The shared library exports the public API and nothing else (symbol visibility hidden). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(abi, shared_library_exports_only_sjmp_symbols)
{
	FILE *p = popen("nm -D --defined-only " SJMP_TEST_BINDIR "/libsjmp/libsjmp.so", "r");
	cr_assert(p != NULL);
	char line[512];
	int exported = 0, foreign = 0;
	while (fgets(line, sizeof(line), p)) {
		char addr[64], type[8], name[400];
		if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3)
			continue;
		if (!strcmp(type, "A"))
			continue; /* the version node of libsjmp.map, not a symbol */
		exported++;
		if (strncmp(name, "sjmp_", 5) != 0) {
			foreign++;
			cr_log_error("exported without the sjmp_ prefix: %s", name);
		}
		cr_expect(strncmp(name, "sjmp__", 6) != 0, "internal symbol exported: %s", name);
	}
	cr_assert_eq(pclose(p), 0, "nm failed on libsjmp.so");
	cr_expect_gt(exported, 30, "only %d symbols exported", exported);
	cr_expect_eq(foreign, 0);
}
