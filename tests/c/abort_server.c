/* abort_server HOST PORT: accept one connection, read what arrives (one read), then set
 * SO_LINGER {1,0} and close(): an abortive close, an RST and no FIN (seed 000's question:
 * "the server will send a RST immediately to the client. No FIN/ACK at all"). */
#include "net.h"

int main(int argc, char **argv)
{
    struct linger ling = {1, 0};
    char buf[4096];
    ssize_t n;
    int lfd, fd;

    if (argc != 3) {
        fprintf(stderr, "usage: abort_server HOST PORT\n");
        return 2;
    }
    prog = "abort_server";
    setvbuf(stdout, NULL, _IOLBF, 0);
    lfd = listen_on(argv[1], argv[2]);
    fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    n = read(fd, buf, sizeof buf);
    if (n < 0)
        die("read");
    printf("read %zd bytes\n", n);
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &ling, sizeof ling) < 0)
        die("setsockopt(SO_LINGER)");
    printf("SO_LINGER {1,0}; close() = %d\n", close(fd));
    close(lfd);
    return 0;
}
