/* EINTR vs SA_RESTART: a blocking read restarted with SA_RESTART, interrupted without it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static void h(int s)
{
	(void)s;
}
static void one(int flags)
{
	struct sigaction sa = {.sa_handler = h, .sa_flags = flags};
	sigaction(SIGUSR1, &sa, NULL);
	int p[2];
	pipe(p);
	pid_t parent = getpid(), k = fork();
	if (k == 0) {
		usleep(50000);
		kill(parent, SIGUSR1);
		usleep(50000);
		write(p[1], "x", 1);
		_exit(0);
	}
	char c;
	errno = 0;
	ssize_t n = read(p[0], &c, 1);
	printf("%s: read %zd errno %s\n", flags ? "SA_RESTART" : "no SA_RESTART", n,
	       n < 0 && errno == EINTR ? "EINTR" : "0");
	waitpid(k, NULL, 0);
	close(p[0]);
	close(p[1]);
}
int main(void)
{
	one(SA_RESTART);
	one(0);
	return 0;
}
