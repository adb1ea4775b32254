/* abort_client HOST PORT: connect, then at once SO_LINGER {1,0} and close(): an RST right
 * after the handshake (seed 001's client). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct addrinfo hints, *res;
    struct linger ling = {1, 0};
    int fd, err;

    if (argc != 3) {
        fprintf(stderr, "usage: abort_client HOST PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    err = getaddrinfo(argv[1], argv[2], &hints, &res);
    if (err != 0) {
        fprintf(stderr, "abort_client: %s port %s: %s\n", argv[1], argv[2], gai_strerror(err));
        return 2;
    }
    fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        perror("abort_client: connect");
        return 1;
    }
    freeaddrinfo(res);
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &ling, sizeof ling) < 0) {
        perror("abort_client: setsockopt(SO_LINGER)");
        return 1;
    }
    printf("connected; SO_LINGER {1,0}; close() = %d\n", close(fd));
    return 0;
}
