/*
 * Socket primitives on Unix (Linux, macOS, the BSDs). Every socket is non-blocking and close-on-exec: where
 * the kernel can set both atomically at creation (SOCK_NONBLOCK | SOCK_CLOEXEC, accept4, pipe2) that is how,
 * so no fd can leak into a child forked between two calls; macOS cannot, and sets them right after.
 * A peer that went away yields -EPIPE, never SIGPIPE: MSG_NOSIGNAL per send, or SO_NOSIGPIPE per socket
 * where that flag is missing (macOS).
 */
#ifndef _WIN32
#define _GNU_SOURCE
#include "platform.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

_Static_assert(sizeof(cw_iovec) == sizeof(struct iovec), "cw_iovec is passed to sendmsg as a struct iovec");
_Static_assert(offsetof(cw_iovec, len) == offsetof(struct iovec, iov_len), "cw_iovec layout");

static int result(int rc) { return rc < 0 ? -errno : rc; }

int cw_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return -errno;
    return 0;
}

int cw_nonblock_cloexec(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    return cw_cloexec(fd);
}

/* Finishes a socket the kernel made without the flags: closes it on failure, returns it or -errno. */
static int finish_socket(int fd) {
    if (fd < 0) return -errno;
#ifndef SOCK_NONBLOCK
    int rc = cw_nonblock_cloexec(fd);
    if (rc < 0) {
        close(fd);
        return rc;
    }
#endif
#ifdef SO_NOSIGPIPE
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
#endif
    return fd;
}

#ifdef SOCK_NONBLOCK
#define CW_SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)
#else
#define CW_SOCK_FLAGS 0
#endif

cw_fd cw_socket_unix(void) { return finish_socket(socket(AF_UNIX, SOCK_STREAM | CW_SOCK_FLAGS, 0)); }

cw_fd cw_socket_tcp(int ipv6) { return finish_socket(socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | CW_SOCK_FLAGS, 0)); }

int cw_socketpair(cw_fd fds_out[2]) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | CW_SOCK_FLAGS, 0, fds) < 0) return -errno;
    for (int i = 0; i < 2; i++) {
        int rc = finish_socket(fds[i]);
        if (rc < 0) {
            if (i == 0) close(fds[1]);
            else close(fds[0]);
            return rc;
        }
    }
    fds_out[0] = fds[0];
    fds_out[1] = fds[1];
    return 0;
}

int cw_pipe(cw_fd fds_out[2]) {
#ifdef __linux__
    return result(pipe2(fds_out, O_CLOEXEC));
#else
    if (pipe(fds_out) < 0) return -errno;
    int rc = cw_cloexec(fds_out[0]);
    if (rc == 0) rc = cw_cloexec(fds_out[1]);
    if (rc < 0) {
        close(fds_out[0]);
        close(fds_out[1]);
    }
    return rc;
#endif
}

int cw_bind_unix(cw_fd fd, const char *path, size_t path_len) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int rc = cw_unix_address(&sa, &sa_len, path, path_len);
    if (rc < 0) return rc;
    return result(bind(fd, (struct sockaddr *)&sa, sa_len));
}

int cw_connect_unix(cw_fd fd, const char *path, size_t path_len) {
    struct sockaddr_un sa;
    socklen_t sa_len;
    int rc = cw_unix_address(&sa, &sa_len, path, path_len);
    if (rc < 0) return rc;
    return result(connect(fd, (struct sockaddr *)&sa, sa_len));
}

int cw_bind_inet(cw_fd fd, const uint8_t *addr, int addr_len, int port, int scope_id) {
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int rc = cw_inet_address(&ss, &ss_len, addr, addr_len, port, scope_id);
    if (rc < 0) return rc;
    return result(bind(fd, (struct sockaddr *)&ss, ss_len));
}

int cw_connect_inet(cw_fd fd, const uint8_t *addr, int addr_len, int port, int scope_id) {
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int rc = cw_inet_address(&ss, &ss_len, addr, addr_len, port, scope_id);
    if (rc < 0) return rc;
    return result(connect(fd, (struct sockaddr *)&ss, ss_len));
}

int cw_listen(cw_fd fd, int backlog) { return result(listen(fd, backlog)); }

cw_fd cw_accept(cw_fd fd) {
    for (;;) {
#ifdef SOCK_NONBLOCK
        int rc = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        int rc = accept(fd, NULL, NULL);
        if (rc >= 0) return finish_socket(rc);
#endif
        if (rc >= 0) return rc;
        /* A connection that died in the backlog is not the listener's failure: take the next one. */
        if (errno != EINTR && errno != ECONNABORTED) return -errno;
    }
}

int cw_finish_connect(cw_fd fd) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return -errno;
    return -err;
}

ssize_t cw_read(cw_fd fd, void *buf, size_t len) {
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

ssize_t cw_write(cw_fd fd, const void *buf, size_t len) {
    for (;;) {
        ssize_t n = send(fd, buf, len, CW_MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == ENOTSOCK) n = write(fd, buf, len); /* pipes and files */
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

ssize_t cw_writev(cw_fd fd, const cw_iovec *iov, int iov_count) {
    if (iov_count <= 0 || iov_count > IOV_MAX) return -EINVAL;
    struct msghdr msg = {.msg_iov = (struct iovec *)(void *)iov, .msg_iovlen = iov_count};
    for (;;) {
        ssize_t n = sendmsg(fd, &msg, CW_MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == ENOTSOCK) n = writev(fd, (const struct iovec *)(const void *)iov, iov_count);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

#ifndef POLLRDHUP
#define POLLRDHUP 0
#endif

int cw_wait_ready(cw_fd fd, int interest, int timeout_ms) {
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

int cw_shutdown(cw_fd fd, int read, int write) {
    int how = read && write ? SHUT_RDWR : read ? SHUT_RD : SHUT_WR;
    if (!read && !write) return -EINVAL;
    return result(shutdown(fd, how));
}

int cw_close(cw_fd fd) {
    /* Never retry close on EINTR: on Linux the fd is gone either way, and a retry could close a reused one. */
    int rc = close(fd);
    return rc < 0 && errno != EINTR ? -errno : 0;
}

static int option_level_name(int option, int *level, int *name) {
    switch (option) {
    case CW_OPT_SNDBUF: *level = SOL_SOCKET; *name = SO_SNDBUF; return 0;
    case CW_OPT_RCVBUF: *level = SOL_SOCKET; *name = SO_RCVBUF; return 0;
    case CW_OPT_REUSEADDR: *level = SOL_SOCKET; *name = SO_REUSEADDR; return 0;
    case CW_OPT_TCP_NODELAY: *level = IPPROTO_TCP; *name = TCP_NODELAY; return 0;
    default: return -ENOPROTOOPT;
    }
}

int cw_set_option(cw_fd fd, int option, int value) {
    int level, name;
    int rc = option_level_name(option, &level, &name);
    if (rc < 0) return rc;
    return result(setsockopt(fd, level, name, &value, sizeof(value)));
}

int cw_get_option(cw_fd fd, int option) {
    int level, name, value = 0;
    socklen_t len = sizeof(value);
    int rc = option_level_name(option, &level, &name);
    if (rc < 0) return rc;
    if (getsockopt(fd, level, name, &value, &len) < 0) return -errno;
    return value;
}

int cw_local_address(cw_fd fd, uint8_t *out, size_t out_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    return cw_normalize_address(&ss, len, out, out_len);
}

int cw_remote_address(cw_fd fd, uint8_t *out, size_t out_len) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    return cw_normalize_address(&ss, len, out, out_len);
}

cw_fd cw_open(const char *path, size_t path_len, int write) {
    char terminated[4096];
    if (path_len == 0 || path_len >= sizeof(terminated) || memchr(path, '\0', path_len) != NULL) return -EINVAL;
    memcpy(terminated, path, path_len);
    terminated[path_len] = '\0';
    int flags = O_CLOEXEC | (write ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY);
    return result(open(terminated, flags, 0600));
}

cw_fd cw_dup(cw_fd fd) { return result(fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

int cw_fd_flags(cw_fd fd) { return result(fcntl(fd, F_GETFD)); }
#endif
