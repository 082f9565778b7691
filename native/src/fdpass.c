/*
 * File-descriptor passing over Unix-domain sockets (SCM_RIGHTS). Received fds are close-on-exec
 * (MSG_CMSG_CLOEXEC). A truncated control message means some fds were dropped by the kernel; the message
 * can no longer be matched to its fds, so every fd that did arrive is closed and the call fails.
 */
#define _GNU_SOURCE
#include "capwire.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel's own cap on fds in one SCM_RIGHTS message (SCM_MAX_FD). */
#define CW_MAX_FDS_PER_MESSAGE 253

ssize_t cw_send_fds(int fd, const void *buf, size_t len, const int *fds, int fd_count) {
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
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
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

static size_t count_received(struct msghdr *msg) {
    size_t total = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL; cmsg = CMSG_NXTHDR(msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            total += (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        }
    }
    return total;
}

ssize_t cw_recv_fds(int fd, void *buf, size_t len, int *fds_out, int max_fds, int *fd_count_out) {
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
        n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
        if (n >= 0) break;
        if (errno != EINTR) return -errno;
    }
    /*
     * CMSG_SPACE rounds the room up to 8 bytes, so the kernel can deliver more than max_fds without setting
     * MSG_CTRUNC (room for 1 holds 2): the same failure, and its fds must not be dropped silently either.
     */
    if ((msg.msg_flags & MSG_CTRUNC) || count_received(&msg) > (size_t)max_fds) {
        close_received(&msg);
        return -EMSGSIZE;
    }
    int count = 0;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
        size_t arrived = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < arrived; i++) {
            int received;
            memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            fds_out[count++] = received;
        }
    }
    *fd_count_out = count;
    return n;
}
