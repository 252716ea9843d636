/* The pod sandbox ("pause") process of the local real node, built by hack/node/build-pause.sh.
 *
 * Why our own: these machines pull no images, so the sandbox image is built here from this file.
 * It holds the pod's namespaces open and does nothing else: it blocks until SIGINT or SIGTERM
 * (then exits 0), and as PID 1 of a pod that shares its PID namespace it reaps every child that
 * gets reparented to it, so no zombie piles up.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static void handle(int sig, void (*handler)(int), int flags) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    action.sa_flags = flags;
    sigemptyset(&action.sa_mask);
    if (sigaction(sig, &action, NULL) < 0) {
        perror("pause: sigaction");
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "-v") == 0) {
        puts("modeldeploy pause");
        return 0;
    }
    if (getpid() != 1) {
        fputs("pause: warning: not running as PID 1\n", stderr);
    }
    handle(SIGINT, on_stop, 0);
    handle(SIGTERM, on_stop, 0);
    handle(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART);
    for (;;) {
        pause();
    }
}
