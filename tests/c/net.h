/* What every test program needs: a listening or a connected TCP socket for HOST PORT (IPv4
 * or IPv6, as getaddrinfo resolves it), and an exit that says which call failed. Each
 * program sets `prog` to its own name for its messages. */
#ifndef TESTS_C_NET_H
#define TESTS_C_NET_H

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *prog = "test-program";

static inline void die(const char *what)
{
    fprintf(stderr, "%s: ", prog);
    perror(what);
    exit(1);
}

static inline struct addrinfo *resolve(const char *host, const char *port, int passive)
{
    struct addrinfo hints, *res;
    int err;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    err = getaddrinfo(host, port, &hints, &res);
    if (err != 0) {
        fprintf(stderr, "%s: %s port %s: %s\n", prog, host, port, gai_strerror(err));
        exit(2);
    }
    return res;
}

static inline int listen_on(const char *host, const char *port)
{
    struct addrinfo *res = resolve(host, port, 1);
    int fd, on = 1;

    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0)
        die("bind");
    if (listen(fd, 16) < 0)
        die("listen");
    freeaddrinfo(res);
    return fd;
}

static inline int connect_to(const char *host, const char *port)
{
    struct addrinfo *res = resolve(host, port, 0);
    int fd;

    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0)
        die("connect");
    freeaddrinfo(res);
    return fd;
}

#endif
