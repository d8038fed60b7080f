/* The independent baseline of scripts/bench-probe.sh: MariaDB Connector/C
 * (libmariadb, the official client library) in a minimal loop of
 * connect + login, then close (COM_QUIT). Prints each connect's latency in
 * microseconds on one line. TLS off, as the probe's run in the same table.
 *   connect_loop N PORT USER PASSWORD */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: connect_loop N PORT USER PASSWORD\n");
        return 2;
    }
    long n = atol(argv[1]);
    unsigned port = (unsigned)atoi(argv[2]);
    for (long i = 0; i < n; i++) {
        MYSQL *m = mysql_init(NULL);
        double t = now_us();
        if (!mysql_real_connect(m, "127.0.0.1", argv[3], argv[4], NULL, port, NULL, 0)) {
            fprintf(stderr, "connect failed: %s\n", mysql_error(m));
            return 1;
        }
        printf("%.0f ", now_us() - t);
        mysql_close(m);
    }
    printf("\n");
    return 0;
}
