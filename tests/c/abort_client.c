/* abort_client HOST PORT: connect, then at once SO_LINGER {1,0} and close(): an RST right
 * after the handshake (seed 001's client). */
#include "net.h"

int main(int argc, char **argv)
{
    struct linger ling = {1, 0};
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: abort_client HOST PORT\n");
        return 2;
    }
    prog = "abort_client";
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = connect_to(argv[1], argv[2]);
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &ling, sizeof ling) < 0) {
        perror("abort_client: setsockopt(SO_LINGER)");
        return 1;
    }
    printf("connected; SO_LINGER {1,0}; close() = %d\n", close(fd));
    return 0;
}
