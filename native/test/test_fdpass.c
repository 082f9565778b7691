/*
 * Fd passing and peer credentials across a real fork: descriptors proved by moving bytes through them,
 * truncation closing everything that arrived, and SO_PEERCRED naming the real processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capwire.h"
#include "cw_test.h"

static void wait_readable(int fd) { CHECK(cw_wait_ready(fd, CW_INTEREST_READ, 5000) & CW_READY_READ); }

static void test_credentials(void) {
    int pair[2];
    CHECK_EQ(0, cw_socketpair(pair));
    int64_t cred[3];
    CHECK_EQ(0, cw_peer_credentials(pair[0], cred));
    CHECK_EQ(getpid(), cred[0]);
    CHECK_EQ(getuid(), cred[1]);
    CHECK_EQ(getgid(), cred[2]);
    CHECK_EQ(0, cw_close(pair[0]));
    CHECK_EQ(0, cw_close(pair[1]));

    /* Across processes: a listener sees the connecting child's pid, and the child sees ours. */
    char path[] = "/tmp/capwire-cred-XXXXXX";
    CHECK(mkdtemp(path) != NULL);
    char sock[64];
    int length = snprintf(sock, sizeof(sock), "%s/s", path);
    int listener = cw_socket_unix();
    CHECK_EQ(0, cw_bind_unix(listener, sock, (size_t)length));
    CHECK_EQ(0, cw_listen(listener, 1));
    pid_t parent = getpid();
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int fd = cw_socket_unix();
        int64_t seen[3];
        if (cw_connect_unix(fd, sock, (size_t)length) != 0 || cw_peer_credentials(fd, seen) != 0) _exit(2);
        _exit(seen[0] == parent ? 0 : 3);
    }
    wait_readable(listener);
    int server = cw_accept(listener);
    CHECK(server >= 0);
    CHECK_EQ(0, cw_peer_credentials(server, cred));
    CHECK_EQ(child, cred[0]);
    CHECK_EQ(getuid(), cred[1]);
    int status;
    CHECK_EQ(child, waitpid(child, &status, 0));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cw_close(server);
    cw_close(listener);
    unlink(sock);
    rmdir(path);

    /* Not a socket: an error, and the record says unknown (-1), never 0. */
    int pipe_fds[2];
    CHECK_EQ(0, cw_pipe(pipe_fds));
    CHECK_EQ(-ENOTSOCK, cw_peer_credentials(pipe_fds[0], cred));
    CHECK_EQ(CW_CRED_UNKNOWN, cred[0]);
    CHECK_EQ(CW_CRED_UNKNOWN, cred[1]);
    cw_close(pipe_fds[0]);
    cw_close(pipe_fds[1]);
}

static void test_pass_to_child(void) {
    int pair[2];
    CHECK_EQ(0, cw_socketpair(pair));
    int pipes[3][2];
    for (int i = 0; i < 3; i++) CHECK_EQ(0, cw_pipe(pipes[i]));
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        /* Receive three write ends in one message and write a distinct byte through each. */
        int fds[8], count = 0;
        char byte;
        if (cw_wait_ready(pair[1], CW_INTEREST_READ, 5000) <= 0) _exit(2);
        if (cw_recv_fds(pair[1], &byte, 1, fds, 8, &count) != 1 || count != 3) _exit(3);
        for (int i = 0; i < count; i++) {
            if (!(cw_fd_flags(fds[i]) & FD_CLOEXEC)) _exit(4);
            char mark = (char)('A' + i);
            if (cw_write(fds[i], &mark, 1) != 1) _exit(5);
        }
        _exit(0);
    }
    int write_ends[3] = {pipes[0][1], pipes[1][1], pipes[2][1]};
    CHECK_EQ(1, cw_send_fds(pair[0], "m", 1, write_ends, 3));
    int status;
    CHECK_EQ(child, waitpid(child, &status, 0));
    CHECK(WIFEXITED(status));
    CHECK_EQ(0, WEXITSTATUS(status));
    for (int i = 0; i < 3; i++) {
        char mark = 0;
        CHECK_EQ(1, cw_read(pipes[i][0], &mark, 1));
        CHECK_EQ('A' + i, mark);
        cw_close(pipes[i][0]);
        cw_close(pipes[i][1]);
    }
    cw_close(pair[0]);
    cw_close(pair[1]);
}

static void test_truncation_closes_everything(void) {
    int pair[2];
    CHECK_EQ(0, cw_socketpair(pair));
    int pipe_fds[2];
    CHECK_EQ(0, cw_pipe(pipe_fds));
    int three[3] = {pipe_fds[0], pipe_fds[0], pipe_fds[1]};
    int before = cw_open_fd_count();

    /* Three fds sent, room for one: the call fails and nothing that arrived stays open. */
    CHECK_EQ(1, cw_send_fds(pair[0], "t", 1, three, 3));
    int fds[4], count = -1;
    char byte;
    wait_readable(pair[1]);
    CHECK_EQ(-EMSGSIZE, cw_recv_fds(pair[1], &byte, 1, fds, 1, &count));
    CHECK_EQ(0, count);
    CHECK_EQ(before, cw_open_fd_count());

    /* No room at all while fds were sent: the same. */
    CHECK_EQ(1, cw_send_fds(pair[0], "u", 1, three, 2));
    wait_readable(pair[1]);
    CHECK_EQ(-EMSGSIZE, cw_recv_fds(pair[1], &byte, 1, fds, 0, &count));
    CHECK_EQ(before, cw_open_fd_count());

    /* Limits are checked before any syscall. */
    CHECK_EQ(-EINVAL, cw_send_fds(pair[0], "v", 1, three, 254));
    CHECK_EQ(-EINVAL, cw_send_fds(pair[0], "v", 0, three, 1));
    CHECK_EQ(-EINVAL, cw_recv_fds(pair[1], &byte, 1, fds, 254, &count));

    cw_close(pipe_fds[0]);
    cw_close(pipe_fds[1]);
    cw_close(pair[0]);
    cw_close(pair[1]);
}

int main(void) {
    int fds_before = cw_open_fd_count();
    test_credentials();
    test_pass_to_child();
    test_truncation_closes_everything();
    CHECK_EQ(fds_before, cw_open_fd_count());
    puts("test_fdpass: ok");
    return 0;
}
