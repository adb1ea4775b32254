/* abort_server HOST PORT: accept one connection, read what arrives (one read), then set
 * SO_LINGER {1,0} and close(): an abortive close, an RST and no FIN (seed 000's question:
 * "the server will send a RST immediately to the client. No FIN/ACK at all"). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listen_on(const char *host, const char *port)
{
    struct addrinfo hints, *res;
    int fd, on = 1, err;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    err = getaddrinfo(host, port, &hints, &res);
    if (err != 0) {
        fprintf(stderr, "abort_server: %s port %s: %s\n", host, port, gai_strerror(err));
        exit(2);
    }
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0)
        die("abort_server: socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
        die("abort_server: bind");
    if (listen(fd, 16) < 0)
        die("abort_server: listen");
    freeaddrinfo(res);
    return fd;
}

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
    setvbuf(stdout, NULL, _IOLBF, 0);
    lfd = listen_on(argv[1], argv[2]);
    fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die("abort_server: accept");
    n = read(fd, buf, sizeof buf);
    if (n < 0)
        die("abort_server: read");
    printf("read %zd bytes\n", n);
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &ling, sizeof ling) < 0)
        die("abort_server: setsockopt(SO_LINGER)");
    printf("SO_LINGER {1,0}; close() = %d\n", close(fd));
    close(lfd);
    return 0;
}
