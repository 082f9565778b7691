/*
 * The floor for a one-way stream on this host: one process writes Capwire-shaped frames (a 24-byte header whose
 * first four bytes, little-endian, are the frame's length, then the payload) over a Unix stream socket pair to
 * another that reads as much as there is and walks every complete frame's header, as the JDK sink in the bench
 * module does. The writer copies frames into a 64 KiB batch and writes it with one blocking write when the next
 * frame would not fit: the same method as the JDK batch writer, with no JVM in the way.
 *
 * The writer stops after the given seconds and shuts its side down; the reader, at end of stream, sends back the
 * number of frames it decoded, so the rate counts only frames that arrived.
 *
 * A frame larger than the batch (a bulk message: 1 MiB, say) is written straight from its buffer with one blocking
 * write, and the reader counts it once its last byte has arrived, though it never holds the whole frame.
 *
 * Usage: capwire_stream_probe [payload_bytes] [seconds]. Prints "frames_per_s=<x> mb_per_s=<y> frames=<n>
 * writer_cpu_ns_per_frame=<w> reader_cpu_ns_per_frame=<r>": the CPU time (user + system) each side spent per frame,
 * a cost that, unlike the rate, does not fall when other work on a shared host takes the cores.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER_BYTES 24
#define BATCH_BYTES (64 * 1024)
#define READ_BYTES (256 * 1024)

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const char *buf, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, buf, length);
        if (n < 0) {
            exit(3);
        }
        buf += n;
        length -= (size_t)n;
    }
}

static double cpu_ns(const struct rusage *usage) {
    return ((double)usage->ru_utime.tv_sec + (double)usage->ru_stime.tv_sec) * 1e9
           + ((double)usage->ru_utime.tv_usec + (double)usage->ru_stime.tv_usec) * 1e3;
}

static uint32_t frame_length(const unsigned char *at) {
    /* Little-endian on every host, as the wire format says. */
    return (uint32_t)at[0] | (uint32_t)at[1] << 8 | (uint32_t)at[2] << 16 | (uint32_t)at[3] << 24;
}

static void sink(int fd) {
    unsigned char *in = malloc(READ_BYTES);
    size_t end = 0;
    uint64_t frames = 0;
    size_t skip = 0; /* bytes still to come of a frame larger than the read buffer */
    if (in == NULL) {
        exit(4);
    }
    for (;;) {
        ssize_t n = read(fd, in + end, READ_BYTES - end);
        if (n < 0) {
            exit(5);
        }
        if (n == 0) {
            break;
        }
        end += (size_t)n;
        size_t at = skip < end ? skip : end;
        skip -= at;
        if (at > 0 && skip == 0) {
            frames++;
        }
        while (skip == 0 && end - at >= HEADER_BYTES) {
            size_t length = frame_length(in + at);
            if (end - at >= length) {
                at += length;
                frames++;
            } else if (length > READ_BYTES) {
                skip = length - (end - at);
                at = end;
            } else {
                break;
            }
        }
        memmove(in, in + at, end - at);
        end -= at;
    }
    write_all(fd, (const char *)&frames, sizeof frames);
    free(in);
}

int main(int argc, char **argv) {
    size_t payload = argc > 1 ? (size_t)atol(argv[1]) : 64;
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    size_t length = HEADER_BYTES + payload;
    if (length > UINT32_MAX || seconds <= 0) {
        fprintf(stderr, "usage: capwire_stream_probe [payload_bytes] [seconds]\n");
        return 1;
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        perror("socketpair");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        close(pair[0]);
        sink(pair[1]);
        _exit(0);
    }
    close(pair[1]);
    unsigned char *frame = calloc(1, length);
    char *batch = malloc(BATCH_BYTES);
    if (frame == NULL || batch == NULL) {
        return 1;
    }
    frame[0] = (unsigned char)length;
    frame[1] = (unsigned char)(length >> 8);
    frame[2] = (unsigned char)(length >> 16);
    frame[3] = (unsigned char)(length >> 24);
    double start = now_seconds();
    double stop = start + seconds;
    size_t used = 0;
    unsigned batches = 0;
    while (length > BATCH_BYTES) {
        write_all(pair[0], (const char *)frame, length);
        if ((++batches & 15) == 0 && now_seconds() >= stop) {
            break;
        }
    }
    while (length <= BATCH_BYTES) {
        if (used + length > BATCH_BYTES) {
            write_all(pair[0], batch, used);
            used = 0;
            /* The clock is read every 16 batches: often enough, and off the per-frame path. */
            if ((++batches & 15) == 0 && now_seconds() >= stop) {
                break;
            }
        }
        memcpy(batch + used, frame, length);
        used += length;
    }
    shutdown(pair[0], SHUT_WR);
    uint64_t frames = 0;
    size_t got = 0;
    while (got < sizeof frames) {
        ssize_t n = read(pair[0], (char *)&frames + got, sizeof frames - got);
        if (n <= 0) {
            return 2;
        }
        got += (size_t)n;
    }
    double elapsed = now_seconds() - start;
    waitpid(child, NULL, 0);
    struct rusage writer;
    struct rusage reader;
    getrusage(RUSAGE_SELF, &writer);
    getrusage(RUSAGE_CHILDREN, &reader);
    double per_frame = frames > 0 ? 1.0 / (double)frames : 0;
    printf("frames_per_s=%.0f mb_per_s=%.1f frames=%llu writer_cpu_ns_per_frame=%.1f reader_cpu_ns_per_frame=%.1f\n",
           (double)frames / elapsed, (double)frames * (double)length / elapsed / 1e6, (unsigned long long)frames,
           cpu_ns(&writer) * per_frame, cpu_ns(&reader) * per_frame);
    return 0;
}
