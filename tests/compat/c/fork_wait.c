/* fork + wait, several generations, exit statuses and a signal death. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void)
{
	for (int i = 0; i < 5; i++) {
		pid_t p = fork();
		if (p == 0) {
			if (i == 4)
				raise(SIGTERM);
			pid_t q = fork();
			if (q == 0)
				_exit(10 + i);
			int st;
			waitpid(q, &st, 0);
			_exit(WEXITSTATUS(st) + 1);
		}
		int st;
		waitpid(p, &st, 0);
		if (WIFEXITED(st))
			printf("child %d exited %d\n", i, WEXITSTATUS(st));
		else
			printf("child %d killed by %d\n", i, WTERMSIG(st));
	}
	return 3;
}
