/* A few assertion macros for the C tests: print where and what failed, then exit non-zero. */
#ifndef CW_TEST_H
#define CW_TEST_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

#define CHECK_EQ(expected, actual)                                                                     \
    do {                                                                                               \
        long long cw_e = (long long)(expected), cw_a = (long long)(actual);                            \
        if (cw_e != cw_a) {                                                                            \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #expected,   \
                    #actual, cw_e, cw_a);                                                              \
            exit(1);                                                                                   \
        }                                                                                              \
    } while (0)

/* Open fds of this process, to prove a test closed everything it opened. */
static inline int cw_open_fd_count(void) {
    DIR *dir = opendir("/proc/self/fd");
    int count = 0;
    if (dir == NULL) return -1;
    while (readdir(dir) != NULL) count++;
    closedir(dir);
    return count - 3; /* ".", ".." and the directory's own fd */
}

#endif
