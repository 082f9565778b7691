/* Kernel-verified peer credentials (SO_PEERCRED), in one process and across fork(). */
#include "cw_test.h"

#include <fcntl.h>

static void check_credentials(int fd, pid_t pid) {
    int64_t credentials[3] = {0, 0, 0};
    CHECK_EQ(cw_peer_credentials(fd, credentials), 0);
    CHECK_EQ(credentials[0], pid);
    CHECK_EQ(credentials[1], getuid());
    CHECK_EQ(credentials[2], getgid());
}

static void socketpair_peer_is_this_process(void) {
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    check_credentials(ends[0], getpid());
    check_credentials(ends[1], getpid());
    cw_test_close_pair(ends);
}

static void unknown_when_not_a_socket(void) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    int64_t credentials[3] = {0, 0, 0};
    CHECK_ERRNO(cw_peer_credentials(fd, credentials), ENOTSOCK);
    /* A failed call leaves nothing that could be mistaken for root (0). */
    for (int i = 0; i < 3; i++) CHECK_EQ(credentials[i], CW_CRED_UNKNOWN);
    CHECK_OK(cw_close(fd));
}

/*
 * A socketpair's credentials are its creator's on both ends, so the fork case goes through connect and
 * accept: the kernel records the connecting child on the server side and the listener on the client side.
 */
static void peer_across_fork_is_the_child(void) {
    char name[108];
    size_t name_len = cw_test_abstract_name(name, sizeof(name), "credentials");
    int listener = (int)CHECK_OK(cw_socket_unix());
    CHECK_EQ(cw_bind_unix(listener, name, name_len), 0);
    CHECK_EQ(cw_listen(listener, 1), 0);
    pid_t parent = getpid();

    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int fd = (int)CHECK_OK(cw_socket_unix());
        CHECK_EQ(cw_connect_unix(fd, name, name_len), 0);
        check_credentials(fd, parent);
        /* Stay connected until the parent has looked, so the check runs against a live peer. */
        char done;
        cw_test_read_exactly(fd, &done, 1);
        _exit(0);
    }
    CHECK_OK(cw_wait_ready(listener, CW_INTEREST_READ, -1));
    int server = (int)CHECK_OK(cw_accept(listener));
    check_credentials(server, child);
    CHECK(child != getpid());
    CHECK_EQ(cw_write(server, "k", 1), 1);
    cw_test_expect_child_success(child);
    CHECK_OK(cw_close(server));
    CHECK_OK(cw_close(listener));
}

int main(void) {
    cw_test_arm_watchdog();
    RUN(socketpair_peer_is_this_process);
    RUN(unknown_when_not_a_socket);
    RUN(peer_across_fork_is_the_child);
    return 0;
}
