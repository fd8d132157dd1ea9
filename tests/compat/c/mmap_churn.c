/* mmap/munmap/mremap/mprotect churn, with large and scattered mappings. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
int main(void)
{
	unsigned long sum = 0;
	for (int i = 0; i < 300; i++) {
		size_t len = (size_t)(i % 17 + 1) << 16;
		char *p =
		    mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		memset(p, i, len);
		p = mremap(p, len, len * 2, MREMAP_MAYMOVE);
		p[len * 2 - 1] = 1;
		mprotect(p, 4096, PROT_READ);
		sum += (unsigned char)p[len / 2] + (unsigned char)p[len * 2 - 1];
		munmap(p, len * 2);
	}
	/* A mapping far from everything else: a new chunk of the common region. */
	char *far = mmap((void *)0x300000000000UL, 1 << 20, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (far != MAP_FAILED) {
		far[12345] = 7;
		sum += far[12345];
	}
	printf("sum %lu\n", sum);
	return 0;
}
