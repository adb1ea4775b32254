/* slow_accept_server HOST PORT DELAY_MS: seed 001's select() server, slow to accept.
 * It waits in select() until the listening socket is readable, then waits DELAY_MS more (or
 * until a line arrives on stdin, whichever comes first; end of file on stdin is ignored)
 * before it calls accept(). It reports what accept() and two reads on the connection
 * return, then closes it and exits 0. */
#include <errno.h>
#include "net.h"
#include <sys/select.h>
#include <sys/time.h>

/* Wait up to ms milliseconds, or until a line arrives on stdin. */
static void delay(long ms)
{
    struct timeval end, now, left;
    int watch_stdin = 1;
    char buf[256];
    fd_set rset;

    gettimeofday(&now, NULL);
    left.tv_sec = ms / 1000;
    left.tv_usec = (ms % 1000) * 1000;
    timeradd(&now, &left, &end);
    for (;;) {
        gettimeofday(&now, NULL);
        if (!timercmp(&now, &end, <))
            return;
        timersub(&end, &now, &left);
        FD_ZERO(&rset);
        if (watch_stdin)
            FD_SET(0, &rset);
        if (select(watch_stdin ? 1 : 0, &rset, NULL, NULL, &left) < 0 && errno != EINTR)
            die("select");
        if (watch_stdin && FD_ISSET(0, &rset)) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n > 0) {
                printf("a line on stdin: accepting now\n");
                return;
            }
            watch_stdin = 0; /* end of file (or no stdin): wait out the delay */
        }
    }
}

static void report_read(int fd)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);

    if (n < 0)
        printf("read() = -1 %s\n", strerror(errno));
    else
        printf("read() = %zd\n", n);
}

int main(int argc, char **argv)
{
    fd_set rset;
    int lfd, fd;

    if (argc != 4) {
        fprintf(stderr, "usage: slow_accept_server HOST PORT DELAY_MS\n");
        return 2;
    }
    prog = "slow_accept_server";
    setvbuf(stdout, NULL, _IOLBF, 0);
    lfd = listen_on(argv[1], argv[2]);
    FD_ZERO(&rset);
    FD_SET(lfd, &rset);
    if (select(lfd + 1, &rset, NULL, NULL, NULL) < 0)
        die("select");
    printf("listening socket readable\n");
    delay(atol(argv[3]));
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        printf("accept() = -1 %s\n", strerror(errno));
        return 1;
    }
    printf("accept() returned a connection\n");
    report_read(fd);
    report_read(fd);
    close(fd);
    close(lfd);
    return 0;
}
