/*
 * Readiness poller over kqueue (macOS, FreeBSD), level-triggered like the epoll one: no EV_CLEAR on
 * sockets, so a socket left unread keeps being reported. Each fd has an EVFILT_READ knote for as long as it
 * is registered (that knote is also what tells add from modify) and an EVFILT_WRITE knote while write
 * interest is on. Without read interest the read knote only watches for hang-up: NOTE_LOWAT set beyond any
 * buffer, so data alone does not fire it but EV_EOF does. The kernel clamps that mark to the buffer's size,
 * so a full receive buffer still fires it; the wait then disables the knote until the next modify, rather
 * than report it again and again (a caller that stopped reading reads the hang-up when it reads again).
 *
 * The two filters of one fd come back as two kevents; the wait merges them into one event per token. The
 * wake-up is an EVFILT_USER knote (EV_CLEAR, so one wait consumes any number of triggers).
 *
 * Registration changes go through EV_RECEIPT, so each change reports its own error and none of them
 * consumes a pending event.
 */
/* CW_POLLER_KQUEUE builds it on Linux against libkqueue's emulation instead of epoll (ci/kqueue-on-linux.sh). */
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(CW_POLLER_KQUEUE)
#include "platform.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WAKE_IDENT 0

/* Per fd: whether read interest is on (so a read knote firing is data, not just a hang-up watch). */
struct cw_poller {
    int kq;
    unsigned char *wants_read;
    size_t wants_read_len;
};

int cw_poller_backend(void) { return CW_BACKEND_KQUEUE; }

int cw_poller_create(cw_poller **out) {
    cw_poller *poller = calloc(1, sizeof(*poller));
    if (poller == NULL) return -ENOMEM;
    poller->kq = kqueue();
    if (poller->kq < 0) {
        int err = errno;
        free(poller);
        return -err;
    }
    struct kevent wake;
    EV_SET(&wake, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    int rc = cw_cloexec(poller->kq);
    if (rc == 0 && kevent(poller->kq, &wake, 1, NULL, 0, NULL) < 0) rc = -errno;
    if (rc < 0) {
        close(poller->kq);
        free(poller);
        return rc;
    }
    *out = poller;
    return 0;
}

static int remember_read_interest(cw_poller *poller, int fd, int interest) {
    if ((size_t)fd >= poller->wants_read_len) {
        size_t len = poller->wants_read_len ? poller->wants_read_len : 64;
        while (len <= (size_t)fd) len *= 2;
        unsigned char *grown = realloc(poller->wants_read, len);
        if (grown == NULL) return -ENOMEM;
        memset(grown + poller->wants_read_len, 0, len - poller->wants_read_len);
        poller->wants_read = grown;
        poller->wants_read_len = len;
    }
    poller->wants_read[fd] = (interest & CW_INTEREST_READ) != 0;
    return 0;
}

/* Applies changes (each with EV_RECEIPT) and stores each one's errno (0: done) in errors[]. */
static int apply(cw_poller *poller, struct kevent *changes, int count, int *errors) {
    struct kevent results[4];
    struct timespec zero = {0, 0};
    for (int i = 0; i < count; i++) changes[i].flags |= EV_RECEIPT;
    int got = kevent(poller->kq, changes, count, results, count, &zero);
    if (got < 0) return -errno;
    for (int i = 0; i < count; i++) errors[i] = i < got && (results[i].flags & EV_ERROR) ? (int)results[i].data : 0;
    return 0;
}

static void interest_changes(struct kevent *read, struct kevent *write, int fd, int interest, uint64_t token) {
    void *udata = (void *)(uintptr_t)token;
    if (interest & CW_INTEREST_READ) {
        EV_SET(read, fd, EVFILT_READ, EV_ADD | EV_ENABLE, 0, 0, udata);
    } else {
        EV_SET(read, fd, EVFILT_READ, EV_ADD | EV_ENABLE, NOTE_LOWAT, INT_MAX, udata);
    }
    if (interest & CW_INTEREST_WRITE) {
        EV_SET(write, fd, EVFILT_WRITE, EV_ADD | EV_ENABLE, 0, 0, udata);
    } else {
        EV_SET(write, fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    }
}

static void forget(cw_poller *poller, int fd) {
    struct kevent changes[2];
    int errors[2];
    EV_SET(&changes[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&changes[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    (void)apply(poller, changes, 2, errors);
}

/*
 * Add or modify. The read knote exists exactly while the fd is registered, so enabling it without EV_ADD
 * (which fails with ENOENT when it does not exist) tells add from modify, as epoll's EEXIST and ENOENT do.
 */
static int control(cw_poller *poller, cw_fd fd, int interest, uint64_t token, int adding) {
    if (fd < 0) return -EBADF;
    struct kevent changes[2];
    int errors[2];
    EV_SET(&changes[0], fd, EVFILT_READ, EV_ENABLE, 0, 0, NULL); /* fails with ENOENT when not registered */
    int rc = apply(poller, changes, 1, errors);
    if (rc < 0) return rc;
    if (errors[0] != 0 && errors[0] != ENOENT) return -errors[0]; /* EBADF: not an open fd */
    int registered = errors[0] == 0;
    if (adding && registered) return -EEXIST;
    if (!adding && !registered) return -ENOENT;
    rc = remember_read_interest(poller, fd, interest);
    if (rc < 0) return rc;
    /* A modify drops the fd's knotes and adds them anew rather than re-adding over them: the same on BSD
     * (level-triggered, a new knote reports the present state), and libkqueue, on which ci/kqueue-on-linux.sh
     * runs this file, does not re-declare a socket knote without EV_CLEAR (its token would stay the old one). */
    if (!adding) forget(poller, fd);
    interest_changes(&changes[0], &changes[1], fd, interest, token);
    rc = apply(poller, changes, 2, errors);
    if (rc < 0) return rc;
    int failed = errors[0] ? errors[0] : (errors[1] && errors[1] != ENOENT ? errors[1] : 0);
    if (failed) {
        if (adding) forget(poller, fd);
        return -failed;
    }
    return 0;
}

int cw_poller_add(cw_poller *poller, cw_fd fd, int interest, uint64_t token) {
    return control(poller, fd, interest, token, 1);
}

int cw_poller_modify(cw_poller *poller, cw_fd fd, int interest, uint64_t token) {
    return control(poller, fd, interest, token, 0);
}

int cw_poller_remove(cw_poller *poller, cw_fd fd) {
    struct kevent changes[2];
    int errors[2];
    EV_SET(&changes[0], fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EV_SET(&changes[1], fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    int rc = apply(poller, changes, 2, errors);
    if (rc < 0) return rc;
    return errors[0] ? -errors[0] : 0;
}

static uint32_t to_ready(const cw_poller *poller, const struct kevent *ev, int *quiet) {
    uint32_t ready = 0;
    *quiet = 0;
    if (ev->flags & EV_ERROR) return CW_READY_ERROR;
    if (ev->flags & EV_EOF) ready |= CW_READY_HANGUP | (ev->fflags != 0 ? CW_READY_ERROR : 0);
    if (ev->filter == EVFILT_WRITE) return ready | CW_READY_WRITE;
    size_t fd = (size_t)ev->ident;
    int wants_read = fd < poller->wants_read_len && poller->wants_read[fd];
    if (wants_read) return ready | CW_READY_READ;
    if (ready == 0) *quiet = 1; /* the hang-up watch fired on a full buffer: silence it until modified */
    return ready;
}

int cw_poller_wait(cw_poller *poller, cw_event *events, int max_events, int timeout_ms) {
    if (max_events <= 0 || max_events > 4096) return -EINVAL;
    int capacity = max_events > 256 ? 256 : max_events;
    struct kevent ready[capacity];
    struct timespec timeout, *until = NULL;
    if (timeout_ms >= 0) {
        timeout.tv_sec = timeout_ms / 1000;
        timeout.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        until = &timeout;
    }
    int n = kevent(poller->kq, NULL, 0, ready, capacity, until);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    int written = 0;
    for (int i = 0; i < n; i++) {
        if (ready[i].filter == EVFILT_USER) continue;
        int quiet;
        uint32_t bits = to_ready(poller, &ready[i], &quiet);
        if (quiet) {
            struct kevent off;
            EV_SET(&off, ready[i].ident, EVFILT_READ, EV_DISABLE, 0, 0, NULL);
            (void)kevent(poller->kq, &off, 1, NULL, 0, NULL);
            continue;
        }
        uint64_t token = (uint64_t)(uintptr_t)ready[i].udata;
        int merged = 0;
        for (int j = 0; j < written && !merged; j++) {
            if (events[j].token == token) {
                events[j].ready |= bits;
                merged = 1;
            }
        }
        if (merged) continue;
        events[written].token = token;
        events[written].ready = bits;
        events[written].reserved = 0;
        written++;
    }
    return written;
}

int cw_poller_wake(cw_poller *poller) {
    struct kevent trigger;
    EV_SET(&trigger, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    return kevent(poller->kq, &trigger, 1, NULL, 0, NULL) < 0 ? -errno : 0;
}

int cw_poller_close(cw_poller *poller) {
    if (poller == NULL) return -EBADF;
    int rc = close(poller->kq) < 0 ? -errno : 0;
    free(poller->wants_read);
    free(poller);
    return rc;
}
#endif
