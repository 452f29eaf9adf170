/* echo.c — the floor for the UDP benchmarks: a responder that does no DNS work. It receives a
 * batch of datagrams with recvmmsg, sets the QR bit of each, and sends them back with sendmmsg
 * (batches of up to 64), on one socket in one thread. Whatever a DNS server costs per query
 * above this is its own work; what this costs is the kernel's. benches/dnsperf.sh builds and runs
 * it beside the servers.
 *
 *   cc -O2 -o echo benches/echo.c && ./echo PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64
#define SIZE 4096

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("bind");
        return 1;
    }
    static char bufs[BATCH][SIZE];
    static struct sockaddr_in peers[BATCH];
    static struct iovec iov[BATCH];
    static struct mmsghdr msgs[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = SIZE};
            msgs[i].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                              .msg_iov = &iov[i], .msg_iovlen = 1};
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_len >= 3)
                bufs[i][2] |= 0x80; /* QR: a response */
            iov[i].iov_len = msgs[i].msg_len;
        }
        sendmmsg(fd, msgs, n, 0);
    }
}
