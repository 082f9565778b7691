/*
 * Readiness poller over epoll, level-triggered. Level-triggered is deliberate: the event loop may stop
 * reading a socket before it drains (fairness, backpressure), and edge-triggered mode would then never
 * report it again. Netty dropped its edge-triggered mode for the same class of bugs.
 *
 * Each poller owns an eventfd registered under a reserved token; cw_poller_wake writes it, and
 * cw_poller_wait consumes that event internally so callers only ever see their own tokens.
 */
#if defined(__linux__) && !defined(CW_POLLER_KQUEUE) /* CW_POLLER_KQUEUE: kqueue on libkqueue instead */
#define _GNU_SOURCE
#include "capwire.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct cw_poller {
    int epoll_fd;
    int wake_fd;
};

/* The wake-up handle is registered with epoll's data.ptr pointing at the poller itself, never a token. */
#define WAKE_TOKEN_MARKER(p) ((uint64_t)(uintptr_t)(p))

static uint32_t to_epoll_events(int interest) {
    uint32_t events = 0;
    if (interest & CW_INTEREST_READ) events |= EPOLLIN | EPOLLRDHUP;
    if (interest & CW_INTEREST_WRITE) events |= EPOLLOUT;
    return events;
}

static uint32_t to_ready(uint32_t events) {
    uint32_t ready = 0;
    if (events & EPOLLIN) ready |= CW_READY_READ;
    if (events & EPOLLOUT) ready |= CW_READY_WRITE;
    if (events & (EPOLLHUP | EPOLLRDHUP)) ready |= CW_READY_HANGUP;
    if (events & EPOLLERR) ready |= CW_READY_ERROR;
    return ready;
}

int cw_poller_create(cw_poller **out) {
    cw_poller *poller = calloc(1, sizeof(*poller));
    if (poller == NULL) return -ENOMEM;
    poller->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (poller->epoll_fd < 0) {
        int err = errno;
        free(poller);
        return -err;
    }
    poller->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (poller->wake_fd < 0) {
        int err = errno;
        close(poller->epoll_fd);
        free(poller);
        return -err;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TOKEN_MARKER(poller)};
    if (epoll_ctl(poller->epoll_fd, EPOLL_CTL_ADD, poller->wake_fd, &ev) < 0) {
        int err = errno;
        close(poller->wake_fd);
        close(poller->epoll_fd);
        free(poller);
        return -err;
    }
    *out = poller;
    return 0;
}

static int control(cw_poller *poller, int op, cw_fd fd, int interest, uint64_t token) {
    if (token == WAKE_TOKEN_MARKER(poller)) return -EINVAL;
    struct epoll_event ev = {.events = to_epoll_events(interest), .data.u64 = token};
    return epoll_ctl(poller->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

int cw_poller_add(cw_poller *poller, cw_fd fd, int interest, uint64_t token) {
    return control(poller, EPOLL_CTL_ADD, fd, interest, token);
}

int cw_poller_modify(cw_poller *poller, cw_fd fd, int interest, uint64_t token) {
    return control(poller, EPOLL_CTL_MOD, fd, interest, token);
}

int cw_poller_remove(cw_poller *poller, cw_fd fd) {
    struct epoll_event ignored = {0};
    return epoll_ctl(poller->epoll_fd, EPOLL_CTL_DEL, fd, &ignored) < 0 ? -errno : 0;
}

int cw_poller_wait(cw_poller *poller, cw_event *events, int max_events, int timeout_ms) {
    if (max_events <= 0 || max_events > 4096) return -EINVAL;
    /* epoll_event is packed on x86_64 (12 bytes) and cw_event is 16, so gather into a stack array first. */
    struct epoll_event ready[max_events > 256 ? 256 : max_events];
    int n = epoll_wait(poller->epoll_fd, ready, max_events > 256 ? 256 : max_events, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    int written = 0;
    for (int i = 0; i < n; i++) {
        if (ready[i].data.u64 == WAKE_TOKEN_MARKER(poller)) {
            uint64_t count;
            while (read(poller->wake_fd, &count, sizeof(count)) > 0) {
            }
            continue;
        }
        events[written].token = ready[i].data.u64;
        events[written].ready = to_ready(ready[i].events);
        events[written].reserved = 0;
        written++;
    }
    return written;
}

int cw_poller_wake(cw_poller *poller) {
    uint64_t one = 1;
    ssize_t n = write(poller->wake_fd, &one, sizeof(one));
    /* EAGAIN means the counter is already saturated: a wake-up is pending, which is all we need. */
    if (n < 0 && errno != EAGAIN) return -errno;
    return 0;
}

int cw_poller_close(cw_poller *poller) {
    if (poller == NULL) return -EBADF;
    close(poller->wake_fd);
    int rc = close(poller->epoll_fd) < 0 ? -errno : 0;
    free(poller);
    return rc;
}

int cw_poller_backend(void) { return CW_BACKEND_EPOLL; }
#endif
