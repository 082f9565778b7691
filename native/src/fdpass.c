/*
 * File-descriptor passing over Unix-domain sockets (SCM_RIGHTS). Received fds are close-on-exec
 * (MSG_CMSG_CLOEXEC, or FD_CLOEXEC set at once where that flag is missing: macOS). A truncated control
 * message means some fds were dropped by the kernel; the message can no longer be matched to its fds, so
 * every fd that did arrive is closed and the call fails. macOS installs every passed fd before it truncates
 * the control data, so the ones that did fit are closed there too.
 *
 * Windows has no SCM_RIGHTS: a socket crosses processes as WSADuplicateSocket's protocol info, which needs
 * the receiver's pid and travels in-band; that protocol is not built yet, so handles there fail with
 * -EOPNOTSUPP and bytes alone go through.
 */
#define _GNU_SOURCE
#include "platform.h"

#include <string.h>

#ifdef _WIN32
ssize_t cw_send_fds(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count) {
    (void)fds;
    if (fd_count < 0 || len == 0) return -EINVAL;
    if (fd_count > 0) return -EOPNOTSUPP;
    return cw_write(fd, buf, len);
}

ssize_t cw_recv_fds(cw_fd fd, void *buf, size_t len, cw_fd *fds_out, int max_fds, int *fd_count_out) {
    (void)fds_out;
    *fd_count_out = 0;
    if (max_fds < 0 || len == 0) return -EINVAL;
    return cw_read(fd, buf, len);
}
#else
#include <unistd.h>

#ifdef MSG_CMSG_CLOEXEC
#define CW_RECV_FLAGS MSG_CMSG_CLOEXEC
#else
#define CW_RECV_FLAGS 0
#endif

/* The kernel's own cap on fds in one SCM_RIGHTS message (SCM_MAX_FD). */
#define CW_MAX_FDS_PER_MESSAGE 253

ssize_t cw_send_fds(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count) {
    if (fd_count < 0 || fd_count > CW_MAX_FDS_PER_MESSAGE || len == 0) return -EINVAL;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * CW_MAX_FDS_PER_MESSAGE)];
    } control;
    if (fd_count > 0) {
        size_t fd_bytes = sizeof(int) * (size_t)fd_count;
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(fd_bytes);
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(fd_bytes);
        memcpy(CMSG_DATA(cmsg), fds, fd_bytes);
    }
    for (;;) {
        ssize_t n = sendmsg(fd, &msg, CW_MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno != EINTR) return -errno;
    }
}

static void close_received(struct msghdr *msg) {
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL; cmsg = CMSG_NXTHDR(msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int received;
            memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            close(received);
        }
    }
}

ssize_t cw_recv_fds(cw_fd fd, void *buf, size_t len, cw_fd *fds_out, int max_fds, int *fd_count_out) {
    *fd_count_out = 0;
    if (max_fds < 0 || max_fds > CW_MAX_FDS_PER_MESSAGE || len == 0) return -EINVAL;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int) * CW_MAX_FDS_PER_MESSAGE)];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (max_fds > 0) {
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)max_fds);
    }
    ssize_t n;
    for (;;) {
        n = recvmsg(fd, &msg, CW_RECV_FLAGS);
        if (n >= 0) break;
        if (errno != EINTR) return -errno;
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        close_received(&msg);
        return -EMSGSIZE;
    }
    int count = 0, too_many = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        size_t arrived = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < arrived; i++) {
            int received;
            memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (count < max_fds) {
#ifndef MSG_CMSG_CLOEXEC
                if (cw_cloexec(received) < 0) too_many = 1; /* closed below with the rest */
#endif
                fds_out[count++] = received;
            } else {
                too_many = 1;
            }
        }
    }
    /*
     * CMSG_SPACE pads the control buffer to alignment, so with an odd max_fds the kernel can deliver one fd
     * more than asked without setting MSG_CTRUNC. The caller still cannot take it: same as truncation.
     */
    if (too_many) {
        close_received(&msg);
        return -EMSGSIZE;
    }
    *fd_count_out = count;
    return n;
}
#endif
