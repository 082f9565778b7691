/*
 * The floor for a socket round trip on this host: two processes (fork) bounce a 64-byte message over a
 * Unix stream socket pair, both busy-polling non-blocking reads, with no JVM, JNI or framing in the way.
 * Capwire's spinning event loops are measured against this (bench/QuickRun, docs/benchmarks.md).
 *
 * Usage: capwire_pingpong_probe [round_trips]. Prints "p50_us=<x> p99_us=<y> round_trips=<n>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE_BYTES 64

static void read_spin(int fd, char *buf) {
    size_t got = 0;
    while (got < MESSAGE_BYTES) {
        ssize_t n = recv(fd, buf + got, MESSAGE_BYTES - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            exit(2);
        }
    }
}

static void write_all(int fd, const char *buf) {
    size_t put = 0;
    while (put < MESSAGE_BYTES) {
        ssize_t n = send(fd, buf + put, MESSAGE_BYTES - put, MSG_NOSIGNAL);
        if (n > 0) {
            put += (size_t)n;
        } else if (errno != EAGAIN && errno != EINTR) {
            exit(3);
        }
    }
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long round_trips = argc > 1 ? atol(argv[1]) : 200000;
    int fds[2];
    if (round_trips <= 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) return 1;
    char buf[MESSAGE_BYTES];
    memset(buf, 7, sizeof(buf));
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
        close(fds[0]);
        for (long i = 0; i < round_trips; i++) {
            read_spin(fds[1], buf);
            write_all(fds[1], buf);
        }
        _exit(0);
    }
    close(fds[1]);
    int64_t *samples = malloc(sizeof(int64_t) * (size_t)round_trips);
    if (samples == NULL) return 1;
    for (long i = 0; i < round_trips; i++) {
        int64_t start = now_ns();
        write_all(fds[0], buf);
        read_spin(fds[0], buf);
        samples[i] = now_ns() - start;
    }
    waitpid(child, NULL, 0);
    /* The first tenth is warm-up (page faults, scheduler placement). */
    long skip = round_trips / 10;
    qsort(samples + skip, (size_t)(round_trips - skip), sizeof(int64_t), compare);
    long n = round_trips - skip;
    printf("p50_us=%.2f p99_us=%.2f round_trips=%ld\n", samples[skip + n / 2] / 1000.0,
           samples[skip + (n * 99) / 100] / 1000.0, n);
    free(samples);
    return 0;
}
