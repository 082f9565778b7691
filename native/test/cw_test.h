/*
 * Assertions and small helpers for the C tests of the native layer. A failed check prints where it failed,
 * the expression and the values involved, then exits non-zero: CTest only needs the exit status, and the
 * first failure is the useful one. No framework, so the tests build anywhere CMake and a C compiler do.
 *
 * Every cw_* call returns -errno on failure, so the checks print negative values with their errno meaning.
 */
#ifndef CW_TEST_H
#define CW_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "capwire.h"

static inline const char *cw_test_describe(long long value) {
    return value < 0 && value > -4096 ? strerror((int)-value) : "";
}

static inline void cw_test_fail_values(const char *file, int line, const char *check, long long actual,
                                       long long expected) {
    fprintf(stderr, "%s:%d: %s failed: got %lld %s, expected %lld %s\n", file, line, check, actual,
            cw_test_describe(actual), expected, cw_test_describe(expected));
    exit(1);
}

#define CHECK(condition)                                                                                  \
    do {                                                                                                  \
        if (!(condition)) {                                                                               \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #condition);                 \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* Integers of any width; both sides are evaluated exactly once. */
#define CHECK_EQ(actual, expected)                                                                        \
    do {                                                                                                  \
        long long cw_actual_ = (long long)(actual), cw_expected_ = (long long)(expected);                 \
        if (cw_actual_ != cw_expected_)                                                                   \
            cw_test_fail_values(__FILE__, __LINE__, "CHECK_EQ(" #actual ", " #expected ")", cw_actual_,   \
                                cw_expected_);                                                            \
    } while (0)

/* The call failed with exactly this errno (given positive, as in errno.h). */
#define CHECK_ERRNO(call, errno_value)                                                                    \
    do {                                                                                                  \
        long long cw_actual_ = (long long)(call), cw_expected_ = -(long long)(errno_value);               \
        if (cw_actual_ != cw_expected_)                                                                   \
            cw_test_fail_values(__FILE__, __LINE__, "CHECK_ERRNO(" #call ", " #errno_value ")",           \
                                cw_actual_, cw_expected_);                                                \
    } while (0)

static inline long long cw_test_ok(long long rc, const char *expression, const char *file, int line) {
    if (rc < 0) {
        fprintf(stderr, "%s:%d: CHECK_OK(%s) failed: %lld %s\n", file, line, expression, rc,
                cw_test_describe(rc));
        exit(1);
    }
    return rc;
}

/* A call that must succeed; yields its (non-negative) result. */
#define CHECK_OK(call) cw_test_ok((long long)(call), #call, __FILE__, __LINE__)

static inline void cw_test_check_bytes(const void *actual, const void *expected, size_t len, const char *expression,
                                       const char *file, int line) {
    if (memcmp(actual, expected, len) == 0) return;
    fprintf(stderr, "%s:%d: CHECK_BYTES(%s) failed over %zu bytes\n  got:     ", file, line, expression, len);
    for (size_t i = 0; i < len; i++) fprintf(stderr, "%02x", ((const unsigned char *)actual)[i]);
    fprintf(stderr, "\n  expected: ");
    for (size_t i = 0; i < len; i++) fprintf(stderr, "%02x", ((const unsigned char *)expected)[i]);
    fprintf(stderr, "\n");
    exit(1);
}

#define CHECK_BYTES(actual, expected, len)                                                                \
    cw_test_check_bytes((actual), (expected), (len), #actual ", " #expected, __FILE__, __LINE__)

#define CHECK_STR(actual, expected)                                                                       \
    do {                                                                                                  \
        const char *cw_actual_ = (actual), *cw_expected_ = (expected);                                    \
        if (strcmp(cw_actual_, cw_expected_) != 0) {                                                      \
            fprintf(stderr, "%s:%d: CHECK_STR(%s) failed: got \"%s\", expected \"%s\"\n", __FILE__,       \
                    __LINE__, #actual ", " #expected, cw_actual_, cw_expected_);                          \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)

/* Runs one case and names it, so a failure's output says which case was running. */
#define RUN(test_case)                                                                                    \
    do {                                                                                                  \
        fprintf(stderr, "-- %s\n", #test_case);                                                           \
        test_case();                                                                                      \
    } while (0)

/*
 * A blocking call that hangs is a failure too: every test arms this watchdog, whose default action
 * (SIGALRM terminates) fails the test well before CTest's own timeout. Windows has no alarm(): a thread
 * sleeps out the same time and ends the process.
 */
#define CW_TEST_WATCHDOG_SECONDS 30

#ifdef _WIN32
static DWORD WINAPI cw_test_watchdog(LPVOID unused) {
    (void)unused;
    Sleep(CW_TEST_WATCHDOG_SECONDS * 1000);
    fprintf(stderr, "watchdog: still running after %d s\n", CW_TEST_WATCHDOG_SECONDS);
    ExitProcess(2);
}

static inline void cw_test_arm_watchdog(void) {
    HANDLE thread = CreateThread(NULL, 0, cw_test_watchdog, NULL, 0, NULL);
    CHECK(thread != NULL);
    CloseHandle(thread);
}
#else
static inline void cw_test_arm_watchdog(void) { alarm(CW_TEST_WATCHDOG_SECONDS); }
#endif

/*
 * Whether this Windows test runs under Wine (ntdll exports wine_get_version there): the few cases Wine is
 * known to get wrong say so and skip, rather than hang (docs/platforms.md lists them).
 */
static inline int cw_test_under_wine(void) {
#ifdef _WIN32
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
#else
    return 0;
#endif
}

/*
 * The emulator a cross-built test runs under, as ci/cross-build.sh says through CAPWIRE_TEST_EMULATOR
 * ("qemu"), or NULL when it runs natively. qemu-user receives SCM_RIGHTS into a control buffer of its own
 * and, when the guest's buffer is too small, drops the fds that do not fit without closing them and without
 * setting MSG_CTRUNC, so truncation cannot be tested there.
 */
static inline const char *cw_test_emulator(void) { return getenv("CAPWIRE_TEST_EMULATOR"); }

/* Threads and sleeps for the tests that need another thread (wake-ups): pthreads, or Windows threads. */
typedef void *(*cw_test_thread_fn)(void *);
#ifdef _WIN32
typedef HANDLE cw_test_thread;
typedef struct cw_test_thread_start {
    cw_test_thread_fn fn;
    void *arg;
} cw_test_thread_start;

static DWORD WINAPI cw_test_thread_main(LPVOID start) {
    cw_test_thread_start run = *(cw_test_thread_start *)start;
    free(start);
    run.fn(run.arg);
    return 0;
}

static inline cw_test_thread cw_test_start_thread(cw_test_thread_fn fn, void *arg) {
    cw_test_thread_start *start = malloc(sizeof(*start));
    CHECK(start != NULL);
    start->fn = fn;
    start->arg = arg;
    HANDLE thread = CreateThread(NULL, 0, cw_test_thread_main, start, 0, NULL);
    CHECK(thread != NULL);
    return thread;
}

static inline void cw_test_join_thread(cw_test_thread thread) {
    CHECK(WaitForSingleObject(thread, INFINITE) == WAIT_OBJECT_0);
    CloseHandle(thread);
}

static inline void cw_test_sleep_ms(int ms) { Sleep((DWORD)ms); }
#else
typedef pthread_t cw_test_thread;

static inline cw_test_thread cw_test_start_thread(cw_test_thread_fn fn, void *arg) {
    pthread_t thread;
    CHECK_EQ(pthread_create(&thread, NULL, fn, arg), 0);
    return thread;
}

static inline void cw_test_join_thread(cw_test_thread thread) { CHECK_EQ(pthread_join(thread, NULL), 0); }

static inline void cw_test_sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }
#endif

/* Reads exactly len bytes from a non-blocking fd, waiting for readiness as needed. */
static inline void cw_test_read_exactly(cw_fd fd, void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = cw_read(fd, (char *)buf + done, len - done);
        if (n == -EAGAIN) {
            CHECK_OK(cw_wait_ready(fd, CW_INTEREST_READ, -1));
            continue;
        }
        CHECK(CHECK_OK(n) > 0); /* EOF before len bytes */
        done += (size_t)n;
    }
}

/* Closes both ends of a socketpair or pipe, each exactly once. */
static inline void cw_test_close_pair(cw_fd fds[2]) {
    CHECK_OK(cw_close(fds[0]));
    CHECK_OK(cw_close(fds[1]));
}

/* Writes text into from and proves it comes out of to intact (sockets, pipes, passed fds alike). */
static inline void cw_test_check_transfer(cw_fd from, cw_fd to, const char *text) {
    size_t len = strlen(text);
    CHECK_EQ(cw_write(from, text, len), len);
    char received[64];
    CHECK(len <= sizeof(received));
    cw_test_read_exactly(to, received, len);
    CHECK_BYTES(received, text, len);
}

#ifdef _WIN32
/* 127.0.0.1, in network order. */
static inline const uint8_t *cw_test_loopback(void) {
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    return loopback;
}

/* A TCP listener on 127.0.0.1 at a port the system picks, written to *port. */
static inline cw_fd cw_test_loopback_listener(int *port) {
    cw_fd listener = (cw_fd)CHECK_OK(cw_socket_tcp(0));
    CHECK_OK(cw_bind_inet(listener, cw_test_loopback(), 4, 0, 0));
    CHECK_OK(cw_listen(listener, 1));
    uint8_t address[CW_ADDR_MAX_BYTES];
    CHECK_OK(cw_local_address(listener, address, sizeof(address)));
    memcpy(port, address + 4, sizeof(*port));
    return listener;
}

/* Starts a TCP connection to 127.0.0.1:port; cw_test_connected waits for it to complete. */
static inline cw_fd cw_test_connect_loopback(int port) {
    cw_fd fd = (cw_fd)CHECK_OK(cw_socket_tcp(0));
    int rc = cw_connect_inet(fd, cw_test_loopback(), 4, port, 0);
    CHECK(rc == 0 || rc == -EINPROGRESS);
    return fd;
}

static inline void cw_test_connected(cw_fd fd) {
    CHECK(CHECK_OK(cw_wait_ready(fd, CW_INTEREST_WRITE, 5000)) & CW_READY_WRITE);
    CHECK_EQ(cw_finish_connect(fd), 0);
}
#endif

/*
 * Two connected stream sockets: a Unix socketpair, or on Windows (no socketpair; and Wine has no AF_UNIX)
 * a TCP loopback connection made through a listener that is closed again.
 */
static inline void cw_test_stream_pair(cw_fd ends[2]) {
#ifdef _WIN32
    int port;
    cw_fd listener = cw_test_loopback_listener(&port);
    ends[0] = cw_test_connect_loopback(port);
    CHECK(CHECK_OK(cw_wait_ready(listener, CW_INTEREST_READ, 5000)) & CW_READY_READ);
    ends[1] = (cw_fd)CHECK_OK(cw_accept(listener));
    cw_test_connected(ends[0]);
    CHECK_OK(cw_close(listener));
#else
    CHECK_OK(cw_socketpair(ends));
#endif
}

#ifndef _WIN32
/* A Linux abstract socket name unique to this process: a leading NUL, no terminator. Returns its length. */
static inline size_t cw_test_abstract_name(char *out, size_t out_len, const char *label) {
    int len = snprintf(out + 1, out_len - 1, "capwire-test-%d-%s", (int)getpid(), label);
    CHECK(len > 0 && (size_t)len + 1 < out_len);
    out[0] = '\0';
    return (size_t)len + 1;
}

/* Proofs that a write raised no SIGPIPE are only worth something if SIGPIPE would end this process. */
static inline void cw_test_require_default_sigpipe(void) {
    struct sigaction action;
    CHECK_EQ(sigaction(SIGPIPE, NULL, &action), 0);
    CHECK(action.sa_handler == SIG_DFL);
    sigset_t blocked;
    CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &blocked), 0);
    CHECK(!sigismember(&blocked, SIGPIPE));
}

/* Waits for a forked child and requires that it exited with status 0 (its checks exit 1). */
static inline void cw_test_expect_child_success(pid_t child) {
    int status = 0;
    pid_t waited;
    do {
        waited = waitpid(child, &status, 0);
    } while (waited < 0 && errno == EINTR);
    CHECK_EQ(waited, child);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
}

/* Number of open descriptors of this process; the directory's own fd is counted every time alike. */
static inline int cw_test_count_open_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    CHECK(dir != NULL);
    int count = 0;
    for (struct dirent *entry = readdir(dir); entry != NULL; entry = readdir(dir)) {
        if (entry->d_name[0] != '.') count++;
    }
    closedir(dir);
    return count;
}
#endif

#endif
