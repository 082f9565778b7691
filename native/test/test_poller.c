/*
 * The poller over real connected sockets: tokens, readiness kinds, registration changes, wake-up, bounds.
 * The same cases run against every back end: epoll here, kqueue where built for macOS, IOCP under Wine
 * (where the sockets are a TCP loopback pair: cw_test_stream_pair).
 */
#include "cw_test.h"

#include <stdint.h>

enum { EVENT_CAPACITY = 16 };

/* A poller plus one socketpair; the poller watches (or not) ends[0], tests poke ends[1]. */
typedef struct fixture {
    cw_poller *poller;
    cw_fd ends[2];
} fixture;

static fixture open_fixture(void) {
    fixture f;
    CHECK_OK(cw_poller_create(&f.poller));
    CHECK(f.poller != NULL);
    cw_test_stream_pair(f.ends);
    return f;
}

static void close_fixture(fixture *f) {
    CHECK_OK(cw_poller_close(f->poller));
    if (f->ends[0] >= 0) CHECK_OK(cw_close(f->ends[0]));
    if (f->ends[1] >= 0) CHECK_OK(cw_close(f->ends[1]));
}

/* The ready bits reported for token, failing if the token appears twice; 0 if it is absent. */
static uint32_t ready_for(const cw_event *events, int count, uint64_t token) {
    uint32_t ready = 0;
    int seen = 0;
    for (int i = 0; i < count; i++) {
        CHECK_EQ(events[i].reserved, 0);
        if (events[i].token == token) {
            seen++;
            ready = events[i].ready;
        }
    }
    CHECK(seen <= 1);
    return ready;
}

/* Waits for readiness and requires exactly one event, for token; returns its ready bits. */
static uint32_t single_event(cw_poller *poller, uint64_t token) {
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_wait(poller, events, EVENT_CAPACITY, -1), 1);
    CHECK_EQ(events[0].token, token);
    CHECK_EQ(events[0].reserved, 0);
    return events[0].ready;
}

static void close_peer(fixture *f) {
    CHECK_OK(cw_close(f->ends[1]));
    f->ends[1] = -1;
}

static void create_and_close(void) {
    cw_poller *poller = NULL;
    CHECK_EQ(cw_poller_create(&poller), 0);
    CHECK(poller != NULL);
    /* On Linux, epoll's fds are counted; kqueue there is libkqueue's emulation (ci/kqueue-on-linux.sh), whose
     * own fds are its business. */
#ifdef __linux__
    int counted = cw_poller_backend() == CW_BACKEND_EPOLL;
    int before = counted ? cw_test_count_open_fds() : 0;
#endif
    cw_poller *second = NULL;
    CHECK_EQ(cw_poller_create(&second), 0);
    CHECK(second != poller);
#ifdef __linux__
    if (counted) CHECK_EQ(cw_test_count_open_fds(), before + 2); /* the epoll fd and the wake-up eventfd */
#endif
    CHECK_EQ(cw_poller_close(second), 0);
#ifdef __linux__
    if (counted) CHECK_EQ(cw_test_count_open_fds(), before);
#endif
    CHECK_EQ(cw_poller_close(poller), 0);
    CHECK_ERRNO(cw_poller_close(NULL), EBADF);
}

static void readable_for_its_token(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, 42), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);

    CHECK_EQ(cw_write(f.ends[1], "x", 1), 1);
    CHECK_EQ(single_event(f.poller, 42), CW_READY_READ);

    /* Level-triggered: still reported while unread, gone once drained. */
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 1);
    char byte;
    CHECK_EQ(cw_read(f.ends[0], &byte, 1), 1);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);
    close_fixture(&f);
}

static void writable_and_readable_tokens_kept_apart(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    /* Tokens at both ends of the range are the caller's, not sentinels. */
    const uint64_t reader = 0, writer = UINT64_MAX;
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, reader), 0);
    CHECK_EQ(cw_poller_add(f.poller, f.ends[1], CW_INTEREST_WRITE, writer), 0);

    CHECK_EQ(single_event(f.poller, writer), CW_READY_WRITE);

    CHECK_EQ(cw_write(f.ends[1], "ab", 2), 2);
    /* Over TCP (Windows) the bytes arrive a moment later; both tokens are due only once they have. */
    CHECK(CHECK_OK(cw_wait_ready(f.ends[0], CW_INTEREST_READ, 5000)) & CW_READY_READ);
    int n = (int)CHECK_OK(cw_poller_wait(f.poller, events, EVENT_CAPACITY, -1));
    CHECK_EQ(n, 2);
    CHECK_EQ(ready_for(events, n, reader), CW_READY_READ);
    CHECK_EQ(ready_for(events, n, writer), CW_READY_WRITE);
    close_fixture(&f);
}

static void hangup_when_peer_closes(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, 7), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);
    close_peer(&f);
    uint32_t ready = single_event(f.poller, 7);
    CHECK(ready & CW_READY_HANGUP);
    CHECK(ready & CW_READY_READ); /* the EOF is readable, so a reader sees it through read */

    /* Registered with no interest (write interest dropped after a drain), a dead peer must still show. */
    if (cw_test_under_wine()) {
        /* Wine sets AFD_POLL_DISCONNECT only once the receive buffer is empty: with a byte unread it never comes. */
        fprintf(stderr, "   skipped under Wine: hang-up with unread bytes\n");
        close_fixture(&f);
        return;
    }
    const char *emulator = cw_test_emulator();
    if (emulator != NULL && strcmp(emulator, "libkqueue") == 0) {
        /* libkqueue ignores NOTE_LOWAT: the unread byte fires the hang-up watch, which the wait then silences. */
        fprintf(stderr, "   skipped under libkqueue: hang-up with unread bytes and no read interest\n");
        close_fixture(&f);
        return;
    }
    fixture idle = open_fixture();
    CHECK_EQ(cw_poller_add(idle.poller, idle.ends[0], 0, 8), 0);
    CHECK_EQ(cw_write(idle.ends[1], "x", 1), 1);
    CHECK(CHECK_OK(cw_wait_ready(idle.ends[0], CW_INTEREST_READ, 5000)) & CW_READY_READ);
    CHECK_EQ(cw_poller_wait(idle.poller, events, EVENT_CAPACITY, 0), 0);
    close_peer(&idle);
    CHECK(single_event(idle.poller, 8) & CW_READY_HANGUP);
    close_fixture(&idle);
    close_fixture(&f);
}

static void modify_changes_interest_and_token(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, 1), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);

    CHECK_EQ(cw_poller_modify(f.poller, f.ends[0], CW_INTEREST_WRITE, 2), 0);
    CHECK_EQ(single_event(f.poller, 2), CW_READY_WRITE);

    CHECK_EQ(cw_write(f.ends[1], "x", 1), 1);
    CHECK(CHECK_OK(cw_wait_ready(f.ends[0], CW_INTEREST_READ, 5000)) & CW_READY_READ);
    CHECK_EQ(cw_poller_modify(f.poller, f.ends[0], CW_INTEREST_READ | CW_INTEREST_WRITE, 3), 0);
    CHECK_EQ(single_event(f.poller, 3), CW_READY_READ | CW_READY_WRITE);

    CHECK_EQ(cw_poller_modify(f.poller, f.ends[0], 0, 4), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);
    close_fixture(&f);
}

static void remove_stops_events(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_WRITE, 5), 0);
    CHECK_ERRNO(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_WRITE, 5), EEXIST);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 1);
    CHECK_EQ(cw_poller_remove(f.poller, f.ends[0]), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);
    CHECK_ERRNO(cw_poller_remove(f.poller, f.ends[0]), ENOENT);
    CHECK_ERRNO(cw_poller_modify(f.poller, f.ends[0], CW_INTEREST_READ, 5), ENOENT);
    /* Registered again after removal, it reports again. */
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_WRITE, 6), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 1);
    CHECK_EQ(events[0].token, 6);
    CHECK_ERRNO(cw_poller_add(f.poller, -1, CW_INTEREST_READ, 9), EBADF);
    close_fixture(&f);
}

static void wait_times_out_with_zero(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, 1), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 0), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, 20), 0);
    close_fixture(&f);
}

typedef struct blocked_wait {
    cw_poller *poller;
    int result;
} blocked_wait;

static void *wait_forever(void *arg) {
    blocked_wait *wait = arg;
    cw_event events[EVENT_CAPACITY];
    wait->result = cw_poller_wait(wait->poller, events, EVENT_CAPACITY, -1);
    return NULL;
}

static void wake_releases_a_blocked_wait(void) {
    fixture f = open_fixture();
    /* An idle registration, so the only thing that can end the wait is the wake-up. */
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, 1), 0);
    for (int round = 0; round < 3; round++) {
        blocked_wait wait = {.poller = f.poller, .result = -1};
        cw_test_thread waiter = cw_test_start_thread(wait_forever, &wait);
        /* Gives the waiter time to block; the outcome must be the same if it has not yet (see next case). */
        cw_test_sleep_ms(20);
        CHECK_EQ(cw_poller_wake(f.poller), 0);
        cw_test_join_thread(waiter);
        CHECK_EQ(wait.result, 0);
    }
    close_fixture(&f);
}

static void wake_before_wait_is_kept(void) {
    fixture f = open_fixture();
    cw_event events[EVENT_CAPACITY];
    CHECK_EQ(cw_poller_wake(f.poller), 0);
    CHECK_EQ(cw_poller_wait(f.poller, events, EVENT_CAPACITY, -1), 0);
    /* Pending wake-ups never surface as events: a wait that consumes them still reports the caller's token. */
    CHECK_EQ(cw_poller_wake(f.poller), 0);
    CHECK_EQ(cw_poller_wake(f.poller), 0);
    CHECK_EQ(cw_poller_add(f.poller, f.ends[1], CW_INTEREST_WRITE, 77), 0);
    CHECK_EQ(single_event(f.poller, 77), CW_READY_WRITE);
    CHECK_EQ(single_event(f.poller, 77), CW_READY_WRITE);
    close_fixture(&f);
}

static void reserved_token_rejected(void) {
    if (cw_poller_backend() != CW_BACKEND_EPOLL) return; /* kqueue and IOCP wake without a token */
    fixture f = open_fixture();
    /* poller_epoll.c registers its wake-up handle under the poller's own address. */
    const uint64_t reserved = (uint64_t)(uintptr_t)f.poller;
    CHECK_ERRNO(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, reserved), EINVAL);
    CHECK_EQ(cw_poller_add(f.poller, f.ends[0], CW_INTEREST_READ, reserved + 1), 0);
    CHECK_ERRNO(cw_poller_modify(f.poller, f.ends[0], CW_INTEREST_READ, reserved), EINVAL);
    CHECK_EQ(cw_poller_modify(f.poller, f.ends[0], CW_INTEREST_READ, reserved - 1), 0);
    close_fixture(&f);
}

static void max_events_bounds(void) {
    enum { WATCHED = 5 };
    cw_poller *poller;
    CHECK_OK(cw_poller_create(&poller));
    cw_fd pairs[WATCHED][2];
    for (int i = 0; i < WATCHED; i++) {
        cw_test_stream_pair(pairs[i]);
        CHECK_EQ(cw_poller_add(poller, pairs[i][0], CW_INTEREST_WRITE, 100 + i), 0);
    }
    /* Exactly-sized heap arrays, so AddressSanitizer catches a write past max_events. */
    cw_event *two = calloc(2, sizeof(cw_event));
    CHECK(two != NULL);
    CHECK_EQ(cw_poller_wait(poller, two, 2, -1), 2);
    CHECK(two[0].token != two[1].token);
    free(two);

    cw_event *one = calloc(1, sizeof(cw_event));
    CHECK(one != NULL);
    CHECK_EQ(cw_poller_wait(poller, one, 1, -1), 1);
    CHECK(one[0].token >= 100 && one[0].token < 100 + WATCHED);
    free(one);

    cw_event *most = calloc(4096, sizeof(cw_event));
    CHECK(most != NULL);
    CHECK_EQ(cw_poller_wait(poller, most, 4096, -1), WATCHED);
    for (int i = 0; i < WATCHED; i++) CHECK_EQ(ready_for(most, WATCHED, 100 + i), CW_READY_WRITE);
    CHECK_ERRNO(cw_poller_wait(poller, most, 4097, 0), EINVAL);
    CHECK_ERRNO(cw_poller_wait(poller, most, 0, 0), EINVAL);
    CHECK_ERRNO(cw_poller_wait(poller, most, -1, 0), EINVAL);
    free(most);

    for (int i = 0; i < WATCHED; i++) {
        cw_test_close_pair(pairs[i]);
    }
    CHECK_OK(cw_poller_close(poller));
}

int main(void) {
    cw_test_arm_watchdog();
    fprintf(stderr, "poller back end %d\n", cw_poller_backend());
    RUN(create_and_close);
    RUN(readable_for_its_token);
    RUN(writable_and_readable_tokens_kept_apart);
    RUN(hangup_when_peer_closes);
    RUN(modify_changes_interest_and_token);
    RUN(remove_stops_events);
    RUN(wait_times_out_with_zero);
    RUN(wake_releases_a_blocked_wait);
    RUN(wake_before_wait_is_kept);
    RUN(reserved_token_rejected);
    RUN(max_events_bounds);
    return 0;
}
