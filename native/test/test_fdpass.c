/* SCM_RIGHTS passing: fds arrive usable and close-on-exec, across processes, and never leak on truncation. */
#include "cw_test.h"

#include <fcntl.h>

enum { MOST_FDS = 253 }; /* the kernel's SCM_MAX_FD, which capwire.h's callers may use in full */

static void send_one_fd(void) {
    int link[2], pipe_fds[2];
    CHECK_OK(cw_socketpair(link));
    CHECK_OK(cw_pipe(pipe_fds));
    CHECK_EQ(cw_send_fds(link[0], "m", 1, &pipe_fds[1], 1), 1);

    char byte = 0;
    int received[4] = {-1, -1, -1, -1}, count = -1;
    CHECK_EQ(cw_recv_fds(link[1], &byte, 1, received, 4, &count), 1);
    CHECK_EQ(byte, 'm');
    CHECK_EQ(count, 1);
    CHECK(received[0] >= 0 && received[0] != pipe_fds[1]);
    CHECK_EQ(received[1], -1); /* nothing written past the count */
    CHECK_EQ(cw_fd_flags(received[0]), FD_CLOEXEC);
    CHECK_OK(cw_close(pipe_fds[1])); /* the received copy alone keeps the pipe open */
    /* A received fd is a new number for the same open file: bytes written through it come out of the pipe. */
    cw_test_check_transfer(received[0], pipe_fds[0], "through one passed fd");

    CHECK_OK(cw_close(received[0]));
    CHECK_OK(cw_close(pipe_fds[0]));
    cw_test_close_pair(link);
}

static void send_several_fds_in_order(void) {
    enum { PIPES = 4 };
    int link[2], pipes[PIPES][2], write_ends[PIPES];
    CHECK_OK(cw_socketpair(link));
    for (int i = 0; i < PIPES; i++) {
        CHECK_OK(cw_pipe(pipes[i]));
        write_ends[i] = pipes[i][1];
    }
    CHECK_EQ(cw_send_fds(link[0], "several", 7, write_ends, PIPES), 7);

    char buf[16];
    int received[MOST_FDS], count = -1;
    CHECK_EQ(cw_recv_fds(link[1], buf, sizeof(buf), received, MOST_FDS, &count), 7);
    CHECK_BYTES(buf, "several", 7);
    CHECK_EQ(count, PIPES);
    for (int i = 0; i < PIPES; i++) {
        CHECK_EQ(cw_fd_flags(received[i]), FD_CLOEXEC);
        /* Distinct text per pipe proves each fd kept its place in the message. */
        char text[16];
        snprintf(text, sizeof(text), "pipe %d", i);
        cw_test_check_transfer(received[i], pipes[i][0], text);
        CHECK_OK(cw_close(received[i]));
        cw_test_close_pair(pipes[i]);
    }

    /* A message without fds reports none. */
    CHECK_EQ(cw_send_fds(link[0], "plain", 5, NULL, 0), 5);
    count = -1;
    CHECK_EQ(cw_recv_fds(link[1], buf, sizeof(buf), received, MOST_FDS, &count), 5);
    CHECK_EQ(count, 0);
    CHECK_ERRNO(cw_recv_fds(link[1], buf, sizeof(buf), received, MOST_FDS, &count), EAGAIN);
    CHECK_EQ(count, 0);

    cw_test_close_pair(link);
}

/* Receives one fd on a blocking-style wait; the message must be exactly one byte with one fd. */
static int receive_one_fd(int link) {
    char byte;
    int fd = -1, count = 0;
    CHECK_OK(cw_wait_ready(link, CW_INTEREST_READ, -1));
    CHECK_EQ(cw_recv_fds(link, &byte, 1, &fd, 1, &count), 1);
    CHECK_EQ(count, 1);
    CHECK_EQ(cw_fd_flags(fd), FD_CLOEXEC);
    return fd;
}

/*
 * Both directions across fork(): the parent hands the child a pipe's write end to write into, and the
 * child hands back the read end of a pipe that exists only in the child.
 */
static void fds_across_fork(void) {
    int link[2], parent_pipe[2];
    CHECK_OK(cw_socketpair(link));
    CHECK_OK(cw_pipe(parent_pipe));

    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        CHECK_OK(cw_close(link[0]));
        CHECK_OK(cw_close(parent_pipe[0]));
        CHECK_OK(cw_close(parent_pipe[1])); /* only the passed copy may reach the parent's pipe */
        int to_parent = receive_one_fd(link[1]);
        CHECK_EQ(cw_write(to_parent, "child wrote this", 16), 16);
        CHECK_OK(cw_close(to_parent));

        int child_pipe[2];
        CHECK_OK(cw_pipe(child_pipe));
        CHECK_EQ(cw_write(child_pipe[1], "child's own pipe", 16), 16);
        CHECK_OK(cw_close(child_pipe[1]));
        CHECK_EQ(cw_send_fds(link[1], "r", 1, &child_pipe[0], 1), 1);
        CHECK_OK(cw_close(child_pipe[0]));
        CHECK_OK(cw_close(link[1]));
        _exit(0);
    }
    CHECK_OK(cw_close(link[1]));
    CHECK_EQ(cw_send_fds(link[0], "w", 1, &parent_pipe[1], 1), 1);
    CHECK_OK(cw_close(parent_pipe[1]));

    int from_child = receive_one_fd(link[0]);
    cw_test_expect_child_success(child);

    char buf[32];
    CHECK_EQ(cw_read(parent_pipe[0], buf, sizeof(buf)), 16);
    CHECK_BYTES(buf, "child wrote this", 16);
    CHECK_EQ(cw_read(parent_pipe[0], buf, sizeof(buf)), 0); /* the child's copy is closed: end of pipe */
    CHECK_EQ(cw_read(from_child, buf, sizeof(buf)), 16);
    CHECK_BYTES(buf, "child's own pipe", 16);
    CHECK_EQ(cw_read(from_child, buf, sizeof(buf)), 0);

    CHECK_OK(cw_close(from_child));
    CHECK_OK(cw_close(parent_pipe[0]));
    CHECK_OK(cw_close(link[0]));
}

/*
 * Sends `sent` copies of one fd and receives with room for only `room`: the call must fail with -EMSGSIZE,
 * report no fds, and leave the process with exactly the descriptors it had before.
 */
static void check_truncated(int link[2], int payload_fd, int sent, int room) {
    int copies[MOST_FDS];
    for (int i = 0; i < sent; i++) copies[i] = payload_fd;
    CHECK_EQ(cw_send_fds(link[0], "t", 1, copies, sent), 1);

    int before = cw_test_count_open_fds();
    char byte;
    int received[MOST_FDS], count = -1;
    long long rc = cw_recv_fds(link[1], &byte, 1, received, room, &count);
    if (rc != -EMSGSIZE) fprintf(stderr, "   sent %d fds, room for %d\n", sent, room);
    CHECK_ERRNO(rc, EMSGSIZE);
    CHECK_EQ(count, 0);
    CHECK_EQ(cw_test_count_open_fds(), before);
}

static void truncation_closes_every_arrived_fd(void) {
    if (cw_test_emulator() != NULL) {
        /* qemu-user truncates the control data itself, without MSG_CTRUNC, and leaks the fds it dropped. */
        fprintf(stderr, "   skipped under %s: it hides truncation from the guest\n", cw_test_emulator());
        return;
    }
    int link[2];
    CHECK_OK(cw_socketpair(link));
    int payload = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(payload >= 0);

    check_truncated(link, payload, 3, 1);
    check_truncated(link, payload, 1, 0);
    check_truncated(link, payload, 3, 0);
    /* Every shortfall, including those the control buffer's alignment padding would have room for. */
    for (int sent = 2; sent <= 9; sent++) check_truncated(link, payload, sent, sent - 1);
    check_truncated(link, payload, MOST_FDS, MOST_FDS - 1);

    /* The stream is still usable after a truncated message. */
    CHECK_EQ(cw_send_fds(link[0], "ok", 2, &payload, 1), 2);
    char buf[2];
    int received = -1, count = 0;
    CHECK_EQ(cw_recv_fds(link[1], buf, 2, &received, 1, &count), 2);
    CHECK_EQ(count, 1);
    CHECK_OK(cw_close(received));

    CHECK_OK(cw_close(payload));
    cw_test_close_pair(link);
}

static void most_fds_per_message(void) {
    int link[2];
    CHECK_OK(cw_socketpair(link));
    int payload = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHECK(payload >= 0);
    int copies[MOST_FDS + 1];
    for (int i = 0; i <= MOST_FDS; i++) copies[i] = payload;

    CHECK_ERRNO(cw_send_fds(link[0], "x", 1, copies, MOST_FDS + 1), EINVAL);
    CHECK_ERRNO(cw_send_fds(link[0], "x", 1, copies, -1), EINVAL);
    CHECK_ERRNO(cw_send_fds(link[0], "x", 0, copies, 1), EINVAL); /* fds need a byte to travel with */

    int before = cw_test_count_open_fds();
    CHECK_EQ(cw_send_fds(link[0], "x", 1, copies, MOST_FDS), 1);
    char byte;
    int received[MOST_FDS + 1], count = -1;
    CHECK_ERRNO(cw_recv_fds(link[1], &byte, 1, received, MOST_FDS + 1, &count), EINVAL);
    CHECK_ERRNO(cw_recv_fds(link[1], &byte, 1, received, -1, &count), EINVAL);
    CHECK_ERRNO(cw_recv_fds(link[1], &byte, 0, received, 1, &count), EINVAL);
    CHECK_EQ(cw_recv_fds(link[1], &byte, 1, received, MOST_FDS, &count), 1);
    CHECK_EQ(count, MOST_FDS);
    CHECK_EQ(cw_test_count_open_fds(), before + MOST_FDS);
    for (int i = 0; i < MOST_FDS; i++) CHECK_OK(cw_close(received[i]));
    CHECK_EQ(cw_test_count_open_fds(), before);

    CHECK_OK(cw_close(payload));
    cw_test_close_pair(link);
}

static void send_to_closed_peer_is_epipe(void) {
    int link[2];
    CHECK_OK(cw_socketpair(link));
    CHECK_OK(cw_close(link[1]));
    cw_test_require_default_sigpipe(); /* so that surviving this call proves MSG_NOSIGNAL */
    CHECK_ERRNO(cw_send_fds(link[0], "x", 1, &link[0], 1), EPIPE);
    CHECK_OK(cw_close(link[0]));
}

int main(void) {
    cw_test_arm_watchdog();
    RUN(send_one_fd);
    RUN(send_several_fds_in_order);
    RUN(fds_across_fork);
    RUN(truncation_closes_every_arrived_fd);
    RUN(most_fds_per_message);
    RUN(send_to_closed_peer_is_epipe);
    return 0;
}
