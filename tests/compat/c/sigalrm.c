/* setitimer/SIGALRM storm while computing and making failing system calls. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>
static volatile sig_atomic_t n;
static void h(int s)
{
	(void)s;
	n++;
}
int main(void)
{
	signal(SIGALRM, h);
	struct itimerval it = {{0, 2000}, {0, 2000}};
	setitimer(ITIMER_REAL, &it, NULL);
	long bad = 0;
	while (n < 100) {
		errno = 0;
		if (close(-1) != -1 || errno != EBADF)
			bad++;
	}
	struct itimerval z = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &z, NULL);
	printf("alarms>=100 %d errno errors %ld\n", n >= 100, bad);
	return 0;
}
