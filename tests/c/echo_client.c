/* echo_client HOST PORT [TEXT]: connect, send TEXT (default "hello\n"), read until end of
 * file or an error, close() normally. Exits 0 on end of file, 1 on a read error. */
#include <errno.h>
#include "net.h"

int main(int argc, char **argv)
{
    const char *text = argc > 3 ? argv[3] : "hello\n";
    char buf[4096];
    long total = 0;
    ssize_t n;
    int fd, err;

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: echo_client HOST PORT [TEXT]\n");
        return 2;
    }
    prog = "echo_client";
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = connect_to(argv[1], argv[2]);
    if (write(fd, text, strlen(text)) < 0) {
        perror("echo_client: write");
        return 1;
    }
    printf("sent %zu bytes\n", strlen(text));
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += n;
    if (n < 0) {
        err = errno;
        printf("read %ld bytes, then an error\n", total);
        fprintf(stderr, "echo_client: read: %s\n", strerror(err));
        close(fd);
        return 1;
    }
    printf("read %ld bytes, then end of file\n", total);
    close(fd);
    return 0;
}
