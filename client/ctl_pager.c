/* ctl_pager.c — long lists through a pager when stdout is a terminal, as git
 * does: $PAGER (default "less -FRX": quits at once when the output fits a
 * screen, keeps colours, leaves the text on screen), never when stdout is a
 * pipe or a file, never with --no-pager or an empty PAGER. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_PAGER_DEFAULT "less -FRX"

static pid_t ctl_pager_pid = -1;

int ctl_pager_start(const ctl_ctx *ctx)
{
    const char *pager = getenv("PAGER");
    int fds[2];
    pid_t pid;

    (void)ctx;
    if (!isatty(STDOUT_FILENO))
        return -1;
    if (pager == NULL)
        pager = CTL_PAGER_DEFAULT;
    if (pager[0] == '\0' || strcmp(pager, "cat") == 0)
        return -1;
    fflush(stdout);
    if (pipe(fds) != 0)
        return -1;
    if ((pid = fork()) < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        /* less: keep the user's LESS if any, else the options named above */
        if (getenv("LESS") == NULL)
            setenv("LESS", "FRX", 1);
        if (dup2(fds[0], STDIN_FILENO) < 0)
            _exit(127);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", pager, (char *)NULL);
        _exit(127);
    }
    close(fds[0]);
    if (dup2(fds[1], STDOUT_FILENO) < 0) {
        close(fds[1]);
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        return -1;
    }
    close(fds[1]);
    /* a pager quit early makes writes fail with EPIPE instead of killing us */
    signal(SIGPIPE, SIG_IGN);
    ctl_pager_pid = pid;
    return 0;
}

int ctl_pager_finish(void)
{
    int failed = fflush(stdout) != 0 || ferror(stdout), saved = errno, status;

    if (ctl_pager_pid < 0)
        return failed ? -1 : 0;
    close(STDOUT_FILENO); /* end of input: the pager may exit */
    while (waitpid(ctl_pager_pid, &status, 0) < 0 && errno == EINTR)
        ;
    ctl_pager_pid = -1;
    if (failed && saved != EPIPE) {
        errno = saved;
        return -1;
    }
    return 0;
}
