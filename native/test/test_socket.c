/*
 * Socket primitives over real Unix-domain and loopback TCP sockets, plus files and pipes. On Windows (run
 * under Wine, which has no AF_UNIX) the TCP cases run; the Unix-socket, file and pipe cases are Unix-only.
 */
#include "cw_test.h"

#include <limits.h>
#include <stdint.h>
#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>

static char temp_dir[] = "/tmp/capwire-test-XXXXXX";

/* Writes dir/name into out and returns its length. */
static size_t temp_path(char *out, size_t out_len, const char *name) {
    int len = snprintf(out, out_len, "%s/%s", temp_dir, name);
    CHECK(len > 0 && (size_t)len < out_len);
    return (size_t)len;
}
#endif

/* The normalized address record of capwire.h, decoded. */
typedef struct address {
    int32_t kind, port, scope_id, length;
    uint8_t bytes[CW_ADDR_MAX_BYTES - CW_ADDR_HEADER_BYTES];
} address;

static address decode_address(const uint8_t *record, int record_len) {
    address a;
    memcpy(&a.kind, record, 4);
    memcpy(&a.port, record + 4, 4);
    memcpy(&a.scope_id, record + 8, 4);
    memcpy(&a.length, record + 12, 4);
    CHECK(a.length >= 0 && (size_t)a.length <= sizeof(a.bytes));
    CHECK_EQ(record_len, CW_ADDR_HEADER_BYTES + a.length);
    memcpy(a.bytes, record + CW_ADDR_HEADER_BYTES, (size_t)a.length);
    return a;
}

static address local_address(cw_fd fd) {
    uint8_t record[CW_ADDR_MAX_BYTES];
    return decode_address(record, (int)CHECK_OK(cw_local_address(fd, record, sizeof(record))));
}

static address remote_address(cw_fd fd) {
    uint8_t record[CW_ADDR_MAX_BYTES];
    return decode_address(record, (int)CHECK_OK(cw_remote_address(fd, record, sizeof(record))));
}

#ifndef _WIN32
static void check_unix_address(address a, const char *path, size_t path_len) {
    CHECK_EQ(a.kind, CW_ADDR_UNIX);
    CHECK_EQ(a.port, 0);
    CHECK_EQ(a.scope_id, 0);
    CHECK_EQ(a.length, path_len);
    CHECK_BYTES(a.bytes, path, path_len);
}
#endif

#ifdef _WIN32
/* Windows cannot read a socket's non-blocking mode back; cw_fd_flags reports 1 for "not inherited". */
static void check_socket_flags(cw_fd fd) { CHECK_EQ(cw_fd_flags(fd), 1); }
#else
static int is_non_blocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    CHECK(flags >= 0);
    return (flags & O_NONBLOCK) != 0;
}

/* Every socket this library hands out must be non-blocking and close-on-exec. */
static void check_socket_flags(int fd) {
    CHECK(is_non_blocking(fd));
    CHECK_EQ(cw_fd_flags(fd), FD_CLOEXEC);
}
#endif

static cw_fd accept_waiting(cw_fd listener) {
    CHECK(CHECK_OK(cw_wait_ready(listener, CW_INTEREST_READ, -1)) & CW_READY_READ);
    cw_fd accepted = (cw_fd)CHECK_OK(cw_accept(listener));
    check_socket_flags(accepted);
    return accepted;
}

#ifndef _WIN32
/* A listening Unix socket at path (or abstract name) and a client connected to it; returns the listener. */
static int unix_listener(const char *name, size_t name_len) {
    int listener = (int)CHECK_OK(cw_socket_unix());
    check_socket_flags(listener);
    CHECK_EQ(cw_bind_unix(listener, name, name_len), 0);
    CHECK_EQ(cw_listen(listener, 8), 0);
    return listener;
}

static void unix_path_round_trip(void) {
    char path[PATH_MAX];
    size_t path_len = temp_path(path, sizeof(path), "round-trip.sock");
    int listener = unix_listener(path, path_len);
    CHECK_ERRNO(cw_accept(listener), EAGAIN);

    int client = (int)CHECK_OK(cw_socket_unix());
    CHECK_EQ(cw_connect_unix(client, path, path_len), 0);
    int server = accept_waiting(listener);

    cw_test_check_transfer(client, server, "hello server");
    cw_test_check_transfer(server, client, "hello client");
    char byte;
    CHECK_ERRNO(cw_read(server, &byte, 1), EAGAIN);

    check_unix_address(local_address(listener), path, path_len);
    check_unix_address(local_address(server), path, path_len);
    check_unix_address(remote_address(client), path, path_len);
    check_unix_address(local_address(client), "", 0); /* an unbound client has no name */
    CHECK_ERRNO(cw_remote_address(listener, (uint8_t[CW_ADDR_MAX_BYTES]){0}, CW_ADDR_MAX_BYTES), ENOTCONN);

    CHECK_EQ(cw_close(client), 0);
    CHECK_EQ(cw_close(server), 0);
    CHECK_EQ(cw_close(listener), 0);
    CHECK_EQ(unlink(path), 0);
}

static void abstract_name_round_trip(void) {
    char name[108];
    size_t name_len = cw_test_abstract_name(name, sizeof(name), "abstract");
    int listener = unix_listener(name, name_len);
    int client = (int)CHECK_OK(cw_socket_unix());
    CHECK_EQ(cw_connect_unix(client, name, name_len), 0);
    int server = accept_waiting(listener);
    cw_test_check_transfer(client, server, "over an abstract name");

    /* The record keeps the leading NUL and no terminator, so Java can tell the name from a path. */
    check_unix_address(local_address(listener), name, name_len);
    check_unix_address(remote_address(client), name, name_len);

    CHECK_OK(cw_close(client));
    CHECK_OK(cw_close(server));
    CHECK_OK(cw_close(listener));
    /* Gone with its socket: nothing left to connect to. */
    client = (int)CHECK_OK(cw_socket_unix());
    CHECK_ERRNO(cw_connect_unix(client, name, name_len), ECONNREFUSED);
    CHECK_OK(cw_close(client));
}

static void name_length_limits(void) {
    int fd = (int)CHECK_OK(cw_socket_unix());
    /* sun_path holds 108 bytes; a path needs one of them for its terminator. */
    char path[200];
    size_t prefix = temp_path(path, sizeof(path), "");
    memset(path + prefix, 'p', sizeof(path) - prefix);
    CHECK_ERRNO(cw_bind_unix(fd, path, 108), ENAMETOOLONG);
    CHECK_ERRNO(cw_connect_unix(fd, path, 108), ENAMETOOLONG);
    CHECK_ERRNO(cw_bind_unix(fd, path, sizeof(path)), ENAMETOOLONG);
    CHECK_EQ(cw_bind_unix(fd, path, 107), 0);
    path[107] = '\0';
    check_unix_address(local_address(fd), path, 107);
    CHECK_EQ(unlink(path), 0);
    CHECK_OK(cw_close(fd));

    /* An abstract name has no terminator, so all 108 bytes are usable. */
    char name[109];
    cw_test_abstract_name(name, sizeof(name), "");
    memset(name + strlen(name + 1) + 1, 'a', sizeof(name) - strlen(name + 1) - 1);
    fd = (int)CHECK_OK(cw_socket_unix());
    CHECK_ERRNO(cw_bind_unix(fd, name, 109), ENAMETOOLONG);
    CHECK_EQ(cw_bind_unix(fd, name, 108), 0);
    check_unix_address(local_address(fd), name, 108);
    CHECK_OK(cw_close(fd));
}

static void connect_failures(void) {
    char path[PATH_MAX];
    size_t path_len = temp_path(path, sizeof(path), "missing.sock");
    int fd = (int)CHECK_OK(cw_socket_unix());
    CHECK_ERRNO(cw_connect_unix(fd, path, path_len), ENOENT);

    /* A socket file whose listener is gone refuses, which Java tells apart from a missing path. */
    int stale = unix_listener(path, path_len);
    CHECK_OK(cw_close(stale));
    CHECK_ERRNO(cw_connect_unix(fd, path, path_len), ECONNREFUSED);
    CHECK_EQ(unlink(path), 0);
    CHECK_OK(cw_close(fd));
}

static void bind_in_use(void) {
    char path[PATH_MAX];
    size_t path_len = temp_path(path, sizeof(path), "in-use.sock");
    int first = unix_listener(path, path_len);
    int second = (int)CHECK_OK(cw_socket_unix());
    CHECK_ERRNO(cw_bind_unix(second, path, path_len), EADDRINUSE);
    CHECK_OK(cw_close(first));
    /* The file outlives the listener: still in use until someone unlinks it. */
    CHECK_ERRNO(cw_bind_unix(second, path, path_len), EADDRINUSE);
    CHECK_EQ(unlink(path), 0);
    CHECK_OK(cw_close(second));

    char name[108];
    size_t name_len = cw_test_abstract_name(name, sizeof(name), "in-use");
    first = unix_listener(name, name_len);
    second = (int)CHECK_OK(cw_socket_unix());
    CHECK_ERRNO(cw_bind_unix(second, name, name_len), EADDRINUSE);
    CHECK_OK(cw_close(first));
    CHECK_OK(cw_close(second));
}

static void write_to_closed_peer_is_epipe(void) {
    cw_test_require_default_sigpipe();
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    check_socket_flags(ends[0]);
    check_socket_flags(ends[1]);
    CHECK_OK(cw_close(ends[1]));
    CHECK_ERRNO(cw_write(ends[0], "x", 1), EPIPE);
    cw_iovec iov[2] = {{.base = "a", .len = 1}, {.base = "b", .len = 1}};
    CHECK_ERRNO(cw_writev(ends[0], iov, 2), EPIPE);
    /* Still alive: without MSG_NOSIGNAL the default SIGPIPE action would have ended the process. */
    CHECK_OK(cw_close(ends[0]));
}

static void read_at_eof_is_zero(void) {
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    char buf[8];
    CHECK_ERRNO(cw_read(ends[0], buf, sizeof(buf)), EAGAIN);
    CHECK_EQ(cw_write(ends[1], "last", 4), 4);
    CHECK_OK(cw_close(ends[1]));
    CHECK_EQ(cw_read(ends[0], buf, sizeof(buf)), 4); /* data still queued comes before the end */
    CHECK_BYTES(buf, "last", 4);
    CHECK_EQ(cw_read(ends[0], buf, sizeof(buf)), 0);
    CHECK_EQ(cw_read(ends[0], buf, sizeof(buf)), 0);
    CHECK_OK(cw_close(ends[0]));
}

static void writev_gathers_in_order(void) {
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    cw_iovec iov[4] = {
        {.base = "head|", .len = 5},
        {.base = NULL, .len = 0},
        {.base = "body|", .len = 5},
        {.base = "tail", .len = 4},
    };
    CHECK_EQ(cw_writev(ends[0], iov, 4), 14);
    char received[14];
    cw_test_read_exactly(ends[1], received, sizeof(received));
    CHECK_BYTES(received, "head|body|tail", 14);
    CHECK_ERRNO(cw_writev(ends[0], iov, 0), EINVAL);
    CHECK_ERRNO(cw_writev(ends[0], iov, IOV_MAX + 1), EINVAL);
    cw_test_close_pair(ends);

    /* Pipes are not sockets: the call falls back to writev(2). */
    int pipe_fds[2];
    CHECK_OK(cw_pipe(pipe_fds));
    CHECK_EQ(cw_writev(pipe_fds[1], iov, 4), 14);
    CHECK_EQ(cw_read(pipe_fds[0], received, sizeof(received)), 14);
    CHECK_BYTES(received, "head|body|tail", 14);
    cw_test_close_pair(pipe_fds);
}

#endif

static const uint8_t loopback4[4] = {127, 0, 0, 1};
static const uint8_t loopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

static void check_inet_address(address a, int ipv6, int port) {
    CHECK_EQ(a.kind, ipv6 ? CW_ADDR_INET6 : CW_ADDR_INET4);
    CHECK_EQ(a.scope_id, 0);
    CHECK_EQ(a.length, ipv6 ? 16 : 4);
    CHECK_BYTES(a.bytes, ipv6 ? loopback6 : loopback4, (size_t)a.length);
    if (port != 0) CHECK_EQ(a.port, port);
    CHECK(a.port > 0 && a.port <= 65535);
}

/* A TCP listener on the loopback address with an ephemeral port; the port is written to port_out. */
static cw_fd tcp_listener(int ipv6, int *port_out) {
    cw_fd listener = (cw_fd)CHECK_OK(cw_socket_tcp(ipv6));
    check_socket_flags(listener);
    CHECK_EQ(cw_bind_inet(listener, ipv6 ? loopback6 : loopback4, ipv6 ? 16 : 4, 0, 0), 0);
    CHECK_EQ(cw_listen(listener, 8), 0);
    address bound = local_address(listener);
    check_inet_address(bound, ipv6, 0);
    *port_out = bound.port;
    return listener;
}

static void tcp_round_trip(int ipv6) {
    int port;
    cw_fd listener = tcp_listener(ipv6, &port);
    cw_fd client = (cw_fd)CHECK_OK(cw_socket_tcp(ipv6));
    /* A non-blocking TCP connect never completes inside the call, even on loopback. */
    CHECK_ERRNO(cw_connect_inet(client, ipv6 ? loopback6 : loopback4, ipv6 ? 16 : 4, port, 0), EINPROGRESS);
    CHECK(CHECK_OK(cw_wait_ready(client, CW_INTEREST_WRITE, -1)) & CW_READY_WRITE);
    CHECK_EQ(cw_finish_connect(client), 0);
    cw_fd server = accept_waiting(listener);

    cw_test_check_transfer(client, server, "request");
    cw_test_check_transfer(server, client, "response");

    check_inet_address(remote_address(client), ipv6, port);
    check_inet_address(local_address(server), ipv6, port);
    address client_side = local_address(client);
    check_inet_address(client_side, ipv6, 0);
    check_inet_address(remote_address(server), ipv6, client_side.port);

    /* The port is taken while the listener holds it. */
    cw_fd rival = (cw_fd)CHECK_OK(cw_socket_tcp(ipv6));
    CHECK_ERRNO(cw_bind_inet(rival, ipv6 ? loopback6 : loopback4, ipv6 ? 16 : 4, port, 0), EADDRINUSE);

    CHECK_OK(cw_close(rival));
    CHECK_OK(cw_close(client));
    CHECK_OK(cw_close(server));
    CHECK_OK(cw_close(listener));
}

static void tcp_ipv4_loopback(void) { tcp_round_trip(0); }

static void tcp_ipv6_loopback(void) {
    cw_fd probe = cw_socket_tcp(1);
    int bound = probe < 0 ? probe : cw_bind_inet(probe, loopback6, 16, 0, 0);
    if (probe >= 0) CHECK_OK(cw_close(probe));
    if (bound == -EAFNOSUPPORT || bound == -EADDRNOTAVAIL) {
        fprintf(stderr, "   NOT TESTED: this host has no IPv6 loopback (%s)\n", strerror(-bound));
        return;
    }
    CHECK_EQ(bound, 0);
    tcp_round_trip(1);
}

static void refused_connect_completes_with_error(void) {
    /* A bound but not listening port answers a SYN with a reset, without any race with other users. */
    cw_fd silent = (cw_fd)CHECK_OK(cw_socket_tcp(0));
    CHECK_EQ(cw_bind_inet(silent, loopback4, 4, 0, 0), 0);
    int port = local_address(silent).port;
    cw_fd client = (cw_fd)CHECK_OK(cw_socket_tcp(0));
    CHECK_ERRNO(cw_connect_inet(client, loopback4, 4, port, 0), EINPROGRESS);
    CHECK_OK(cw_wait_ready(client, CW_INTEREST_WRITE, -1));
    CHECK_ERRNO(cw_finish_connect(client), ECONNREFUSED);
    CHECK_OK(cw_close(client));
    CHECK_OK(cw_close(silent));
}

static void inet_arguments_checked(void) {
    cw_fd fd = (cw_fd)CHECK_OK(cw_socket_tcp(0));
    CHECK_ERRNO(cw_bind_inet(fd, loopback4, 4, 65536, 0), EINVAL);
    CHECK_ERRNO(cw_bind_inet(fd, loopback4, 4, -1, 0), EINVAL);
    CHECK_ERRNO(cw_bind_inet(fd, loopback4, 5, 0, 0), EINVAL);
    CHECK_ERRNO(cw_connect_inet(fd, loopback4, 0, 80, 0), EINVAL);
    CHECK_OK(cw_close(fd));
}

static void options_set_and_get(void) {
    int port;
    cw_fd listener = tcp_listener(0, &port);
    cw_fd fd = (cw_fd)CHECK_OK(cw_socket_tcp(0));
    /* Linux doubles buffer sizes for bookkeeping; what was asked for must at least be there. */
    CHECK_EQ(cw_set_option(fd, CW_OPT_SNDBUF, 64 * 1024), 0);
    CHECK(CHECK_OK(cw_get_option(fd, CW_OPT_SNDBUF)) >= 64 * 1024);
    CHECK_EQ(cw_set_option(fd, CW_OPT_RCVBUF, 48 * 1024), 0);
    CHECK(CHECK_OK(cw_get_option(fd, CW_OPT_RCVBUF)) >= 48 * 1024);
    CHECK_EQ(cw_get_option(fd, CW_OPT_TCP_NODELAY), 0);
    CHECK_EQ(cw_set_option(fd, CW_OPT_TCP_NODELAY, 1), 0);
    CHECK(cw_get_option(fd, CW_OPT_TCP_NODELAY) != 0);
    CHECK_EQ(cw_set_option(fd, CW_OPT_TCP_NODELAY, 0), 0);
    CHECK_EQ(cw_get_option(fd, CW_OPT_TCP_NODELAY), 0);
    CHECK_EQ(cw_set_option(fd, CW_OPT_REUSEADDR, 1), 0);
    CHECK(cw_get_option(fd, CW_OPT_REUSEADDR) != 0);
    CHECK_ERRNO(cw_set_option(fd, 99, 1), ENOPROTOOPT);
    CHECK_ERRNO(cw_get_option(fd, 99), ENOPROTOOPT);

#ifndef _WIN32
    int unix_fd = (int)CHECK_OK(cw_socket_unix());
    CHECK_EQ(cw_set_option(unix_fd, CW_OPT_SNDBUF, 32 * 1024), 0);
    CHECK(CHECK_OK(cw_get_option(unix_fd, CW_OPT_SNDBUF)) >= 32 * 1024);
    CHECK_ERRNO(cw_get_option(unix_fd, CW_OPT_TCP_NODELAY), EOPNOTSUPP); /* not a TCP socket */
    CHECK_OK(cw_close(unix_fd));
    CHECK_ERRNO(cw_get_option(unix_fd, CW_OPT_SNDBUF), EBADF);
#endif

    CHECK_OK(cw_close(fd));
    CHECK_OK(cw_close(listener));
}

#ifndef _WIN32
static void address_record_bounds(void) {
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    uint8_t record[CW_ADDR_MAX_BYTES];
    /* A socketpair's ends are unnamed: a header and no bytes. */
    CHECK_EQ(cw_local_address(ends[0], record, sizeof(record)), CW_ADDR_HEADER_BYTES);
    check_unix_address(decode_address(record, CW_ADDR_HEADER_BYTES), "", 0);
    CHECK_EQ(cw_remote_address(ends[0], record, sizeof(record)), CW_ADDR_HEADER_BYTES);
    /* The buffer must hold the largest record, whatever this socket's address turns out to be. */
    uint8_t *small = malloc(CW_ADDR_MAX_BYTES - 1);
    CHECK(small != NULL);
    CHECK_ERRNO(cw_local_address(ends[0], small, CW_ADDR_MAX_BYTES - 1), EINVAL);
    free(small);
    cw_test_close_pair(ends);
    CHECK_ERRNO(cw_local_address(ends[0], record, sizeof(record)), EBADF);

    int not_socket = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(not_socket >= 0);
    CHECK_ERRNO(cw_local_address(not_socket, record, sizeof(record)), ENOTSOCK);
    CHECK_OK(cw_close(not_socket));
}

static void wait_ready_reports_readiness(void) {
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    CHECK_EQ(cw_wait_ready(ends[0], CW_INTEREST_READ, 0), 0);
    CHECK_EQ(cw_wait_ready(ends[0], CW_INTEREST_READ, 10), 0);
    CHECK_EQ(cw_wait_ready(ends[0], CW_INTEREST_WRITE, -1), CW_READY_WRITE);
    CHECK_EQ(cw_write(ends[1], "x", 1), 1);
    CHECK_EQ(cw_wait_ready(ends[0], CW_INTEREST_READ, -1), CW_READY_READ);
    CHECK_EQ(cw_wait_ready(ends[0], CW_INTEREST_READ | CW_INTEREST_WRITE, -1), CW_READY_READ | CW_READY_WRITE);
    CHECK_OK(cw_close(ends[1]));
    int ready = (int)CHECK_OK(cw_wait_ready(ends[0], CW_INTEREST_READ, -1));
    CHECK(ready & CW_READY_HANGUP);
    CHECK(ready & CW_READY_READ);
    CHECK_OK(cw_close(ends[0]));
    /* A number nothing is open under (just closed; this test has no other threads). */
    CHECK_ERRNO(cw_wait_ready(ends[0], CW_INTEREST_READ, 0), EBADF);
}

static void open_files_close_on_exec(void) {
    char path[PATH_MAX];
    size_t path_len = temp_path(path, sizeof(path), "file.bin");
    mode_t mask = umask(0);
    umask(mask);

    int out = (int)CHECK_OK(cw_open(path, path_len, 1));
    CHECK_EQ(cw_fd_flags(out), FD_CLOEXEC);
    CHECK_EQ(cw_write(out, "file bytes", 10), 10); /* not a socket: falls back to write(2) */
    CHECK_OK(cw_close(out));
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600 & ~mask);
    CHECK_EQ(st.st_size, 10);

    int in = (int)CHECK_OK(cw_open(path, path_len, 0));
    CHECK_EQ(cw_fd_flags(in), FD_CLOEXEC);
    char buf[16];
    CHECK_EQ(cw_read(in, buf, sizeof(buf)), 10);
    CHECK_BYTES(buf, "file bytes", 10);
    CHECK_ERRNO(cw_write(in, "x", 1), EBADF); /* opened read-only */
    CHECK_OK(cw_close(in));

    /* Opening for write truncates. */
    out = (int)CHECK_OK(cw_open(path, path_len, 1));
    CHECK_OK(cw_close(out));
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_size, 0);
    CHECK_EQ(unlink(path), 0);

    CHECK_ERRNO(cw_open(path, path_len, 0), ENOENT);
    CHECK_ERRNO(cw_open(path, 0, 0), EINVAL);
    CHECK_ERRNO(cw_open("/dev/null\0/etc/passwd", 20, 0), EINVAL); /* no silent cut at a NUL */
    CHECK_ERRNO(cw_fd_flags(in), EBADF);
    CHECK_ERRNO(cw_close(in), EBADF);

    /* The flag is really read back from the kernel, not assumed. */
    int inherited = open("/dev/null", O_RDONLY);
    CHECK(inherited >= 0);
    CHECK_EQ(cw_fd_flags(inherited), 0);
    CHECK_OK(cw_close(inherited));
}

static void pipe_carries_bytes(void) {
    int fds[2];
    CHECK_EQ(cw_pipe(fds), 0);
    CHECK_EQ(cw_fd_flags(fds[0]), FD_CLOEXEC);
    CHECK_EQ(cw_fd_flags(fds[1]), FD_CLOEXEC);
    CHECK_EQ(cw_write(fds[1], "through the pipe", 16), 16);
    char buf[32];
    CHECK_EQ(cw_read(fds[0], buf, sizeof(buf)), 16);
    CHECK_BYTES(buf, "through the pipe", 16);
    CHECK_OK(cw_close(fds[1]));
    CHECK_EQ(cw_read(fds[0], buf, sizeof(buf)), 0);
    CHECK_OK(cw_close(fds[0]));
}

static void shutdown_each_direction(void) {
    int ends[2];
    CHECK_OK(cw_socketpair(ends));
    CHECK_ERRNO(cw_shutdown(ends[0], 0, 0), EINVAL);

    /* Half-close: the peer sees the end of our data but can still answer. */
    CHECK_EQ(cw_shutdown(ends[0], 0, 1), 0);
    char buf[8];
    CHECK_EQ(cw_read(ends[1], buf, sizeof(buf)), 0);
    CHECK_ERRNO(cw_write(ends[0], "x", 1), EPIPE);
    cw_test_check_transfer(ends[1], ends[0], "reply");

    CHECK_EQ(cw_shutdown(ends[0], 1, 1), 0);
    CHECK(CHECK_OK(cw_wait_ready(ends[1], CW_INTEREST_READ, -1)) & CW_READY_HANGUP);
    cw_test_close_pair(ends);

    int unconnected = (int)CHECK_OK(cw_socket_tcp(0));
    CHECK_ERRNO(cw_shutdown(unconnected, 1, 1), ENOTCONN);
    CHECK_OK(cw_close(unconnected));
}
#endif

int main(void) {
    cw_test_arm_watchdog();
#ifdef _WIN32
    RUN(tcp_ipv4_loopback);
    RUN(tcp_ipv6_loopback);
    RUN(refused_connect_completes_with_error);
    RUN(inet_arguments_checked);
    RUN(options_set_and_get);
    return 0;
#else
    CHECK(mkdtemp(temp_dir) != NULL);
    RUN(unix_path_round_trip);
    RUN(abstract_name_round_trip);
    RUN(name_length_limits);
    RUN(connect_failures);
    RUN(bind_in_use);
    RUN(write_to_closed_peer_is_epipe);
    RUN(read_at_eof_is_zero);
    RUN(writev_gathers_in_order);
    RUN(tcp_ipv4_loopback);
    RUN(tcp_ipv6_loopback);
    RUN(refused_connect_completes_with_error);
    RUN(inet_arguments_checked);
    RUN(options_set_and_get);
    RUN(address_record_bounds);
    RUN(wait_ready_reports_readiness);
    RUN(open_files_close_on_exec);
    RUN(pipe_carries_bytes);
    RUN(shutdown_each_direction);
    CHECK_EQ(rmdir(temp_dir), 0); /* every case removed what it created */
    return 0;
#endif
}
