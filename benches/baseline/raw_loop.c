/* The physical floor of scripts/bench-probe.sh: the same work as a probe
 * handshake with nothing else, on raw sockets. Per connection: socket,
 * setsockopt(TCP_NODELAY), connect, read the greeting (header, then body),
 * a mysql_native_password login (SHA1 via libcrypto), read the OK (header,
 * then body), COM_QUIT, close. Prints each handshake's latency in
 * microseconds (connect to OK) on one line, as connect_loop.c does.
 *   raw_loop N PORT USER PASSWORD */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int read_full(int fd, unsigned char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* One MySQL packet's payload into buf (at most cap bytes); its length. */
static long read_packet(int fd, unsigned char *buf, size_t cap) {
    unsigned char h[4];
    if (read_full(fd, h, 4)) return -1;
    size_t len = h[0] | (h[1] << 8) | (h[2] << 16);
    if (len > cap || read_full(fd, buf, len)) return -1;
    return (long)len;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: raw_loop N PORT USER PASSWORD\n");
        return 2;
    }
    long n = atol(argv[1]);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    const char *user = argv[3], *pw = argv[4];
    unsigned char stage1[20], stage2[20];
    SHA1((const unsigned char *)pw, strlen(pw), stage1);
    SHA1(stage1, 20, stage2);
    unsigned char buf[4096], out[512];
    for (long i = 0; i < n; i++) {
        double t = now_us();
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) { perror("connect"); return 1; }
        long len = read_packet(fd, buf, sizeof buf);
        if (len < 0 || buf[0] != 10) { fprintf(stderr, "no greeting\n"); return 1; }
        /* protocol 10: version\0, id(4), scramble 1 (8), filler, caps(2),
         * charset, status(2), caps(2), auth len, reserved(10), scramble 2. */
        unsigned char *p = buf + 1 + strlen((char *)buf + 1) + 1 + 4;
        unsigned char scramble[20];
        memcpy(scramble, p, 8);
        p += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
        memcpy(scramble + 8, p, 12);
        /* token = SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))) */
        SHA_CTX ctx;
        unsigned char mix[20];
        SHA1_Init(&ctx);
        SHA1_Update(&ctx, scramble, 20);
        SHA1_Update(&ctx, stage2, 20);
        SHA1_Final(mix, &ctx);
        /* HandshakeResponse41, sequence id 1. */
        unsigned char *q = out + 4;
        unsigned caps = 0x00000001 | 0x00000200 | 0x00002000 | 0x00008000 | 0x00080000;
        memcpy(q, &caps, 4); q += 4;
        unsigned maxp = 16777216; memcpy(q, &maxp, 4); q += 4;
        *q++ = 33;
        memset(q, 0, 23); q += 23;
        size_t ul = strlen(user) + 1; memcpy(q, user, ul); q += ul;
        *q++ = 20;
        for (int k = 0; k < 20; k++) *q++ = stage1[k] ^ mix[k];
        memcpy(q, "mysql_native_password", 22); q += 22;
        size_t body = (size_t)(q - out - 4);
        out[0] = body & 0xff; out[1] = (body >> 8) & 0xff; out[2] = (body >> 16) & 0xff; out[3] = 1;
        if (write(fd, out, body + 4) != (ssize_t)(body + 4)) { perror("write"); return 1; }
        len = read_packet(fd, buf, sizeof buf);
        if (len < 1 || buf[0] != 0) { fprintf(stderr, "login not OK (0x%02x)\n", len > 0 ? buf[0] : 0); return 1; }
        double took = now_us() - t;
        static const unsigned char quit[5] = {1, 0, 0, 0, 1};
        if (write(fd, quit, 5) != 5) { perror("write"); return 1; }
        close(fd);
        printf("%.0f%s", took, i + 1 < n ? " " : "\n");
    }
    return 0;
}
