/*
 * Socket primitives. Every socket is created non-blocking and close-on-exec atomically (SOCK_NONBLOCK |
 * SOCK_CLOEXEC, accept4), so no fd can leak into a child process forked between two calls.
 * Writes go through send/sendmsg with MSG_NOSIGNAL: a peer that went away yields -EPIPE, never SIGPIPE.
 */
#define _GNU_SOURCE
#include "capwire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static int result(int rc) { return rc < 0 ? -errno : rc; }

int cw_socket_unix(void) { return result(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)); }

int cw_socket_tcp(int ipv6) {
    return result(socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

int cw_socketpair(int fds_out[2]) {
    return result(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds_out));
}

int cw_pipe(int fds_out[2]) { return result(pipe2(fds_out, O_CLOEXEC)); }

static int unix_address(struct sockaddr_un *sa, socklen_t *sa_len, const char *path, size_t path_len) {
    /* A filesystem path needs room for its terminating NUL; an abstract name does not have one. */
    int abstract = path_len > 0 && path[0] == '\0';
    if (path_len == 0 || path_len + (abstract ? 0 : 1) > sizeof(sa->sun_path)) return -ENAMETOOLONG;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, path_len);
    *sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + (abstract ? 0 : 1));
    return 0;
}

int cw_bind_unix(int fd, const char *path, size_t path_len) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int rc = unix_address(&sa, &sa_len, path, path_len);
    if (rc < 0) return rc;
    return result(bind(fd, (struct sockaddr *)&sa, sa_len));
}

int cw_connect_unix(int fd, const char *path, size_t path_len) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int rc = unix_address(&sa, &sa_len, path, path_len);
    if (rc < 0) return rc;
    return result(connect(fd, (struct sockaddr *)&sa, sa_len));
}

static int inet_address(struct sockaddr_storage *ss, socklen_t *ss_len, const uint8_t *addr, int addr_len,
                        int port, int scope_id) {
    if (port < 0 || port > 65535) return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (addr_len == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        memcpy(&in->sin_addr, addr, 4);
        *ss_len = sizeof(*in);
        return 0;
    }
    if (addr_len == 16) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_scope_id = (uint32_t)scope_id;
        memcpy(&in6->sin6_addr, addr, 16);
        *ss_len = sizeof(*in6);
        return 0;
    }
    return -EINVAL;
}

int cw_bind_inet(int fd, const uint8_t *addr, int addr_len, int port, int scope_id) {
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int rc = inet_address(&ss, &ss_len, addr, addr_len, port, scope_id);
    if (rc < 0) return rc;
    return result(bind(fd, (struct sockaddr *)&ss, ss_len));
}

int cw_connect_inet(int fd, const uint8_t *addr, int addr_len, int port, int scope_id) {
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int rc = inet_address(&ss, &ss_len, addr, addr_len, port, scope_id);
    if (rc < 0) return rc;
    return result(connect(fd, (struct sockaddr *)&ss, ss_len));
}

int cw_listen(int fd, int backlog) { return result(listen(fd, backlog)); }

int cw_accept(int fd) {
    for (;;) {
        int rc = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (rc >= 0) return rc;
        /* A connection that died in the backlog is not the listener's failure: take the next one. */
        if (errno != EINTR && errno != ECONNABORTED) return -errno;
    }
}

int cw_finish_connect(int fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    return -err;
}

ssize_t cw_read(int fd, void *buf, size_t len) {
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

ssize_t cw_write(int fd, const void *buf, size_t len) {
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == ENOTSOCK) n = write(fd, buf, len); /* pipes and files */
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

ssize_t cw_writev(int fd, const void *iov, int iov_count) {
    if (iov_count <= 0 || iov_count > IOV_MAX) return -EINVAL;
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iov_count};
    for (;;) {
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == ENOTSOCK) n = writev(fd, (const struct iovec *)iov, iov_count);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

int cw_wait_ready(int fd, int interest, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = 0};
    if (interest & CW_INTEREST_READ) pfd.events |= POLLIN | POLLRDHUP;
    if (interest & CW_INTEREST_WRITE) pfd.events |= POLLOUT;
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    if (n == 0) return 0;
    if (pfd.revents & POLLNVAL) return -EBADF;
    int ready = 0;
    if (pfd.revents & POLLIN) ready |= CW_READY_READ;
    if (pfd.revents & POLLOUT) ready |= CW_READY_WRITE;
    if (pfd.revents & (POLLHUP | POLLRDHUP)) ready |= CW_READY_HANGUP;
    if (pfd.revents & POLLERR) ready |= CW_READY_ERROR;
    return ready;
}

int cw_shutdown(int fd, int read, int write) {
    int how = read && write ? SHUT_RDWR : read ? SHUT_RD : SHUT_WR;
    if (!read && !write) return -EINVAL;
    return result(shutdown(fd, how));
}

int cw_close(int fd) {
    /* Never retry close on EINTR: on Linux the fd is gone either way, and a retry could close a reused one. */
    int rc = close(fd);
    return rc < 0 && errno != EINTR ? -errno : 0;
}

static int option_level_name(int fd, int option, int *level, int *name) {
    switch (option) {
    case CW_OPT_SNDBUF: *level = SOL_SOCKET; *name = SO_SNDBUF; return 0;
    case CW_OPT_RCVBUF: *level = SOL_SOCKET; *name = SO_RCVBUF; return 0;
    case CW_OPT_REUSEADDR: *level = SOL_SOCKET; *name = SO_REUSEADDR; return 0;
    case CW_OPT_TCP_NODELAY: *level = IPPROTO_TCP; *name = TCP_NODELAY; return 0;
    default: (void)fd; return -ENOPROTOOPT;
    }
}

int cw_set_option(int fd, int option, int value) {
    int level, name;
    int rc = option_level_name(fd, option, &level, &name);
    if (rc < 0) return rc;
    return result(setsockopt(fd, level, name, &value, sizeof(value)));
}

int cw_get_option(int fd, int option) {
    int level, name, value = 0;
    socklen_t len = sizeof(value);
    int rc = option_level_name(fd, option, &level, &name);
    if (rc < 0) return rc;
    if (getsockopt(fd, level, name, &value, &len) < 0) return -errno;
    return value;
}

static void put_int(uint8_t *out, int value) { memcpy(out, &value, sizeof(value)); }

static int normalize(const struct sockaddr_storage *ss, socklen_t ss_len, uint8_t *out, size_t out_len) {
    if (out_len < CW_ADDR_MAX_BYTES) return -EINVAL;
    int kind, port = 0, scope = 0, len;
    const void *bytes;
    if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        len = (int)ss_len - (int)offsetof(struct sockaddr_un, sun_path);
        if (len < 0) len = 0;
        /* Filesystem paths come back with their terminating NUL; abstract names start with one. */
        if (len > 0 && un->sun_path[0] != '\0') len = (int)strnlen(un->sun_path, (size_t)len);
        kind = CW_ADDR_UNIX;
        bytes = un->sun_path;
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        kind = CW_ADDR_INET4;
        port = ntohs(in->sin_port);
        len = 4;
        bytes = &in->sin_addr;
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        kind = CW_ADDR_INET6;
        port = ntohs(in6->sin6_port);
        scope = (int)in6->sin6_scope_id;
        len = 16;
        bytes = &in6->sin6_addr;
    } else {
        return -EAFNOSUPPORT;
    }
    put_int(out, kind);
    put_int(out + 4, port);
    put_int(out + 8, scope);
    put_int(out + 12, len);
    memcpy(out + CW_ADDR_HEADER_BYTES, bytes, (size_t)len);
    return CW_ADDR_HEADER_BYTES + len;
}

int cw_local_address(int fd, uint8_t *out, size_t out_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    return normalize(&ss, len, out, out_len);
}

int cw_remote_address(int fd, uint8_t *out, size_t out_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    return normalize(&ss, len, out, out_len);
}

int cw_open(const char *path, size_t path_len, int write) {
    char terminated[4096];
    if (path_len == 0 || path_len >= sizeof(terminated) || memchr(path, '\0', path_len) != NULL) return -EINVAL;
    memcpy(terminated, path, path_len);
    terminated[path_len] = '\0';
    int flags = O_CLOEXEC | (write ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY);
    return result(open(terminated, flags, 0600));
}

int cw_dup(int fd) { return result(fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

int cw_fd_flags(int fd) { return result(fcntl(fd, F_GETFD)); }
