/* The epoll poller: events for the right tokens, interest changes, and wake-ups across threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "capwire.h"
#include "cw_test.h"

static int find(cw_event *events, int n, uint64_t token) {
    for (int i = 0; i < n; i++) {
        if (events[i].token == token) return (int)events[i].ready;
    }
    return -1;
}

static void *wake_later(void *arg) {
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK_EQ(0, cw_poller_wake((cw_poller *)arg));
    return NULL;
}

static long long elapsed_ms(struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000LL + (now.tv_nsec - start->tv_nsec) / 1000000;
}

int main(void) {
    int fds_before = cw_open_fd_count();
    cw_poller *poller;
    CHECK_EQ(0, cw_poller_create(&poller));
    cw_event events[16];

    int a[2], b[2];
    CHECK_EQ(0, cw_socketpair(a));
    CHECK_EQ(0, cw_socketpair(b));

    /* Nothing registered is ready: a short wait times out with no events. */
    CHECK_EQ(0, cw_poller_wait(poller, events, 16, 10));

    CHECK_EQ(0, cw_poller_add(poller, a[0], CW_INTEREST_READ, 111));
    CHECK_EQ(0, cw_poller_add(poller, b[0], CW_INTEREST_READ | CW_INTEREST_WRITE, 222));
    CHECK_EQ(-EEXIST, cw_poller_add(poller, a[0], CW_INTEREST_READ, 111));

    /* b[0] is writable at once; a[0] is not readable until its peer writes. */
    int n = cw_poller_wait(poller, events, 16, 100);
    CHECK_EQ(1, n);
    CHECK_EQ(222, (long long)events[0].token);
    CHECK(events[0].ready & CW_READY_WRITE);

    CHECK_EQ(1, cw_write(a[1], "x", 1));
    n = cw_poller_wait(poller, events, 16, 100);
    CHECK(find(events, n, 111) > 0 && (find(events, n, 111) & CW_READY_READ));

    /* Dropping write interest silences b[0]; removing a[0] silences it too. */
    CHECK_EQ(0, cw_poller_modify(poller, b[0], CW_INTEREST_READ, 333));
    CHECK_EQ(0, cw_poller_remove(poller, a[0]));
    CHECK_EQ(0, cw_poller_wait(poller, events, 16, 10));
    CHECK_EQ(-ENOENT, cw_poller_remove(poller, a[0]));

    /* The peer closing is a hang-up (with read readiness: EOF is readable), under the new token. */
    CHECK_EQ(0, cw_close(b[1]));
    n = cw_poller_wait(poller, events, 16, 100);
    CHECK(find(events, n, 333) > 0);
    CHECK(find(events, n, 333) & CW_READY_HANGUP);

    /* The wake-up's own token is reserved: a caller cannot register it. */
    CHECK_EQ(-EINVAL, cw_poller_add(poller, a[1], CW_INTEREST_READ, (uint64_t)(uintptr_t)poller));
    CHECK_EQ(-EINVAL, cw_poller_wait(poller, events, 0, 0));

    /* A wake before the wait makes the next wait return at once, with no events. */
    CHECK_EQ(0, cw_poller_remove(poller, b[0]));
    CHECK_EQ(0, cw_poller_wake(poller));
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK_EQ(0, cw_poller_wait(poller, events, 16, 10000));
    CHECK(elapsed_ms(&start) < 5000);

    /* A wait with no timeout is released by a wake from another thread. */
    pthread_t waker;
    CHECK_EQ(0, pthread_create(&waker, NULL, wake_later, poller));
    clock_gettime(CLOCK_MONOTONIC, &start);
    CHECK_EQ(0, cw_poller_wait(poller, events, 16, -1));
    CHECK(elapsed_ms(&start) < 5000);
    pthread_join(waker, NULL);

    CHECK_EQ(0, cw_close(a[0]));
    CHECK_EQ(0, cw_close(a[1]));
    CHECK_EQ(0, cw_close(b[0]));
    CHECK_EQ(0, cw_poller_close(poller));
    CHECK_EQ(fds_before, cw_open_fd_count());
    puts("test_poller: ok");
    return 0;
}
