/* Socket primitives over real Unix and TCP sockets: errors come back as -errno, never as signals. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "capwire.h"
#include "cw_test.h"

static int read_int(const uint8_t *record, int offset) {
    int value;
    memcpy(&value, record + offset, sizeof(value));
    return value;
}

static void test_unix_path(const char *dir) {
    char path[256];
    snprintf(path, sizeof(path), "%s/s", dir);
    int listener = cw_socket_unix();
    CHECK(listener >= 0);
    CHECK(cw_fd_flags(listener) & FD_CLOEXEC);
    CHECK_EQ(0, cw_bind_unix(listener, path, strlen(path)));
    CHECK_EQ(0, cw_listen(listener, 8));
    CHECK_EQ(-EAGAIN, cw_accept(listener)); /* non-blocking: nobody waiting yet */

    /* A second bind on the same path is refused. */
    int other = cw_socket_unix();
    CHECK_EQ(-EADDRINUSE, cw_bind_unix(other, path, strlen(path)));
    CHECK_EQ(0, cw_close(other));

    int client = cw_socket_unix();
    CHECK_EQ(0, cw_connect_unix(client, path, strlen(path)));
    CHECK(cw_wait_ready(listener, CW_INTEREST_READ, 5000) & CW_READY_READ);
    int server = cw_accept(listener);
    CHECK(server >= 0);
    CHECK(cw_fd_flags(server) & FD_CLOEXEC);

    uint8_t record[CW_ADDR_MAX_BYTES];
    int length = cw_local_address(listener, record, sizeof(record));
    CHECK_EQ(CW_ADDR_HEADER_BYTES + (int)strlen(path), length);
    CHECK_EQ(CW_ADDR_UNIX, read_int(record, 0));
    CHECK(memcmp(record + CW_ADDR_HEADER_BYTES, path, strlen(path)) == 0);
    CHECK_EQ(CW_ADDR_HEADER_BYTES + (int)strlen(path), cw_remote_address(client, record, sizeof(record)));

    /* writev gathers several buffers into one stream. */
    struct iovec iov[3] = {{"ab", 2}, {"cde", 3}, {"f", 1}};
    CHECK_EQ(6, cw_writev(client, iov, 3));
    char buf[16] = {0};
    CHECK(cw_wait_ready(server, CW_INTEREST_READ, 5000) & CW_READY_READ);
    CHECK_EQ(6, cw_read(server, buf, sizeof(buf)));
    CHECK(memcmp(buf, "abcdef", 6) == 0);
    CHECK_EQ(-EAGAIN, cw_read(server, buf, sizeof(buf)));

    /* Shutting down our write side is end-of-input for the peer; closing makes writes fail EPIPE. */
    CHECK_EQ(0, cw_shutdown(client, 0, 1));
    CHECK(cw_wait_ready(server, CW_INTEREST_READ, 5000) != 0);
    CHECK_EQ(0, cw_read(server, buf, sizeof(buf)));
    CHECK_EQ(0, cw_close(client));
    /* SIGPIPE is not ignored here: surviving the next writes proves MSG_NOSIGNAL. */
    ssize_t rc = cw_write(server, "x", 1);
    CHECK(rc == -EPIPE || rc == -ECONNRESET || rc == 1);
    if (rc == 1) CHECK(cw_write(server, "x", 1) == -EPIPE);
    CHECK_EQ(-EPIPE, cw_writev(server, iov, 1));

    CHECK_EQ(0, cw_close(server));
    CHECK_EQ(0, cw_close(listener));
    unlink(path);

    /* Nobody listening: connect fails ENOENT, and paths longer than sun_path are refused up front. */
    client = cw_socket_unix();
    CHECK_EQ(-ENOENT, cw_connect_unix(client, path, strlen(path)));
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath));
    CHECK_EQ(-ENAMETOOLONG, cw_connect_unix(client, longpath, sizeof(longpath)));
    CHECK_EQ(0, cw_close(client));
}

static void test_unix_abstract(void) {
    char name[64];
    int length = snprintf(name, sizeof(name), "%ccapwire-ctest-%d", 0, (int)getpid());
    int listener = cw_socket_unix();
    CHECK_EQ(0, cw_bind_unix(listener, name, (size_t)length));
    CHECK_EQ(0, cw_listen(listener, 8));
    int client = cw_socket_unix();
    CHECK_EQ(0, cw_connect_unix(client, name, (size_t)length));
    uint8_t record[CW_ADDR_MAX_BYTES];
    CHECK_EQ(CW_ADDR_HEADER_BYTES + length, cw_remote_address(client, record, sizeof(record)));
    CHECK_EQ(0, record[CW_ADDR_HEADER_BYTES]); /* abstract names keep their leading NUL */
    CHECK_EQ(0, cw_close(client));
    CHECK_EQ(0, cw_close(listener));
}

static void test_tcp(int ipv6) {
    uint8_t loopback[16] = {0};
    int addr_len = ipv6 ? 16 : 4;
    if (ipv6) {
        loopback[15] = 1;
    } else {
        loopback[0] = 127;
        loopback[3] = 1;
    }
    int listener = cw_socket_tcp(ipv6);
    CHECK(listener >= 0);
    CHECK_EQ(0, cw_set_option(listener, CW_OPT_REUSEADDR, 1));
    int rc = cw_bind_inet(listener, loopback, addr_len, 0, 0);
    if (ipv6 && rc == -EADDRNOTAVAIL) {
        puts("test_socket: no IPv6 loopback on this host, IPv6 case not run");
        cw_close(listener);
        return;
    }
    CHECK_EQ(0, rc);
    CHECK_EQ(0, cw_listen(listener, 8));
    uint8_t record[CW_ADDR_MAX_BYTES];
    CHECK_EQ(CW_ADDR_HEADER_BYTES + addr_len, cw_local_address(listener, record, sizeof(record)));
    CHECK_EQ(ipv6 ? CW_ADDR_INET6 : CW_ADDR_INET4, read_int(record, 0));
    int port = read_int(record, 4);
    CHECK(port > 0);

    int client = cw_socket_tcp(ipv6);
    rc = cw_connect_inet(client, loopback, addr_len, port, 0);
    CHECK(rc == 0 || rc == -EINPROGRESS);
    CHECK(cw_wait_ready(client, CW_INTEREST_WRITE, 5000) & CW_READY_WRITE);
    CHECK_EQ(0, cw_finish_connect(client));
    CHECK(cw_wait_ready(listener, CW_INTEREST_READ, 5000) & CW_READY_READ);
    int server = cw_accept(listener);
    CHECK(server >= 0);

    CHECK_EQ(0, cw_set_option(client, CW_OPT_TCP_NODELAY, 1));
    CHECK(cw_get_option(client, CW_OPT_TCP_NODELAY) != 0);
    CHECK_EQ(0, cw_set_option(client, CW_OPT_SNDBUF, 65536));
    CHECK(cw_get_option(client, CW_OPT_SNDBUF) >= 65536); /* Linux doubles what it is given */
    CHECK_EQ(0, cw_set_option(client, CW_OPT_RCVBUF, 65536));
    CHECK(cw_get_option(client, CW_OPT_RCVBUF) >= 65536);
    CHECK_EQ(-ENOPROTOOPT, cw_set_option(client, 99, 1));

    CHECK_EQ(5, cw_write(client, "hello", 5));
    char buf[8];
    CHECK(cw_wait_ready(server, CW_INTEREST_READ, 5000) & CW_READY_READ);
    CHECK_EQ(5, cw_read(server, buf, sizeof(buf)));
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(CW_ADDR_HEADER_BYTES + addr_len, cw_remote_address(server, record, sizeof(record)));
    CHECK(memcmp(record + CW_ADDR_HEADER_BYTES, loopback, (size_t)addr_len) == 0);

    CHECK_EQ(0, cw_close(client));
    CHECK_EQ(0, cw_close(server));
    CHECK_EQ(0, cw_close(listener));

    /* A port nobody listens on refuses the connection (reported by finish_connect or connect itself). */
    client = cw_socket_tcp(ipv6);
    rc = cw_connect_inet(client, loopback, addr_len, port, 0);
    if (rc == -EINPROGRESS) {
        cw_wait_ready(client, CW_INTEREST_WRITE, 5000);
        rc = cw_finish_connect(client);
    }
    CHECK_EQ(-ECONNREFUSED, rc);
    CHECK_EQ(0, cw_close(client));
    CHECK_EQ(-EINVAL, cw_connect_inet(client, loopback, 5, port, 0));
}

static void test_files_and_pipes(const char *dir) {
    char path[256];
    int length = snprintf(path, sizeof(path), "%s/f", dir);
    int fd = cw_open(path, (size_t)length, 1);
    CHECK(fd >= 0);
    CHECK(cw_fd_flags(fd) & FD_CLOEXEC);
    CHECK_EQ(4, cw_write(fd, "data", 4));
    CHECK_EQ(0, cw_close(fd));
    fd = cw_open(path, (size_t)length, 0);
    char buf[8];
    CHECK_EQ(4, cw_read(fd, buf, sizeof(buf)));
    CHECK_EQ(0, cw_read(fd, buf, sizeof(buf)));
    int copy = cw_dup(fd);
    CHECK(copy >= 0 && copy != fd);
    CHECK(cw_fd_flags(copy) & FD_CLOEXEC);
    CHECK_EQ(0, cw_close(copy));
    CHECK_EQ(0, cw_close(fd));
    unlink(path);
    CHECK_EQ(-ENOENT, cw_open(path, (size_t)length, 0));

    int pipe_fds[2];
    CHECK_EQ(0, cw_pipe(pipe_fds));
    CHECK(cw_fd_flags(pipe_fds[0]) & FD_CLOEXEC);
    CHECK_EQ(3, cw_write(pipe_fds[1], "abc", 3)); /* a pipe is not a socket: write falls back to write(2) */
    CHECK_EQ(3, cw_read(pipe_fds[0], buf, sizeof(buf)));
    CHECK_EQ(0, cw_close(pipe_fds[0]));
    CHECK_EQ(0, cw_close(pipe_fds[1]));
    CHECK_EQ(-EBADF, cw_wait_ready(pipe_fds[0], CW_INTEREST_READ, 0));
}

int main(void) {
    int fds_before = cw_open_fd_count();
    char dir[] = "/tmp/capwire-ctest-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    test_unix_path(dir);
    test_unix_abstract();
    test_tcp(0);
    test_tcp(1);
    test_files_and_pipes(dir);
    rmdir(dir);
    CHECK_EQ(fds_before, cw_open_fd_count());
    puts("test_socket: ok");
    return 0;
}
