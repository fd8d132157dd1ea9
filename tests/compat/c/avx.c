/* AVX2 arithmetic across system calls and signals: vector registers survive exits. */
#include <immintrin.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static void h(int s)
{
	(void)s;
}
__attribute__((target("avx2"))) static double run(void)
{
	__m256d acc = _mm256_set1_pd(1.0), inc = _mm256_set_pd(0.5, 0.25, 0.125, 0.0625);
	for (int i = 0; i < 2000; i++) {
		acc = _mm256_add_pd(acc, inc);
		if (i % 100 == 0) {
			(void)getppid();
			raise(SIGUSR1);
		}
	}
	double o[4];
	_mm256_storeu_pd(o, acc);
	return o[0] + o[1] + o[2] + o[3];
}
int main(void)
{
	signal(SIGUSR1, h);
	if (!__builtin_cpu_supports("avx2")) {
		printf("no avx2\n");
		return 0;
	}
	printf("sum %.4f\n", run());
	return 0;
}
