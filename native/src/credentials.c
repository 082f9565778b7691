/*
 * Kernel-verified peer credentials of a connected Unix-domain socket, per platform:
 *   Linux    SO_PEERCRED (pid, uid, gid), plus SO_PEERPIDFD on 6.5+ for a pidfd of the peer;
 *   macOS    LOCAL_PEERCRED (uid, first group) and LOCAL_PEERPID (pid), both at level SOL_LOCAL: at
 *            SOL_SOCKET the same number means another option, and the pid is silently lost;
 *   BSDs     getpeereid (uid, gid; the pid stays unknown);
 *   Windows  SIO_AF_UNIX_GETPEERPID (pid only).
 * What a platform cannot tell stays CW_CRED_UNKNOWN, never 0 (which is root).
 */
#define _GNU_SOURCE
#include "platform.h"

#ifdef __APPLE__
#include <sys/ucred.h>
#include <sys/un.h>
#elif !defined(_WIN32) && !defined(__linux__)
#include <unistd.h>
#endif
#ifdef __linux__
#include <fcntl.h>
#include <unistd.h>
#endif

#if defined(__linux__)
int cw_peer_credentials(cw_fd fd, int64_t out[3]) {
    out[0] = out[1] = out[2] = CW_CRED_UNKNOWN;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
    /* The kernel reports pid 0 when the peer's pid is not visible (another pid namespace): unknown. */
    if (cred.pid > 0) out[0] = cred.pid;
    out[1] = cred.uid;
    out[2] = cred.gid;
    return 0;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5, include/uapi/asm-generic/socket.h; older headers lack it */
#endif

cw_fd cw_peer_pidfd(cw_fd fd) {
    int pidfd = -1;
    socklen_t len = sizeof(pidfd);
    /* Kernels before 6.5 answer ENOPROTOOPT, which is the caller's cue to fall back to the pid. */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) return -errno;
    if (len != sizeof(pidfd) || pidfd < 0) return -ENOPROTOOPT;
    int rc = cw_cloexec(pidfd);
    if (rc < 0) {
        close(pidfd);
        return rc;
    }
    return pidfd;
}

#elif defined(__APPLE__)
int cw_peer_credentials(cw_fd fd, int64_t out[3]) {
    out[0] = out[1] = out[2] = CW_CRED_UNKNOWN;
    struct xucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &cred, &len) < 0) return -errno;
    if (cred.cr_version != XUCRED_VERSION) return -EPROTO;
    out[1] = cred.cr_uid;
    if (cred.cr_ngroups > 0) out[2] = cred.cr_groups[0];
    pid_t pid = 0;
    len = sizeof(pid);
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0 && pid > 0) out[0] = pid;
    return 0;
}

cw_fd cw_peer_pidfd(cw_fd fd) {
    (void)fd;
    return -ENOPROTOOPT;
}

#elif defined(_WIN32)

int cw_peer_credentials(cw_fd fd, int64_t out[3]) {
    out[0] = out[1] = out[2] = CW_CRED_UNKNOWN;
    ULONG pid = 0;
    DWORD returned = 0;
    if (WSAIoctl(CW_SOCKET(fd), SIO_AF_UNIX_GETPEERPID, NULL, 0, &pid, sizeof(pid), &returned, NULL, NULL) != 0) {
        return CW_NET_ERROR();
    }
    if (returned == sizeof(pid) && pid > 0) out[0] = pid;
    return 0;
}

cw_fd cw_peer_pidfd(cw_fd fd) {
    (void)fd;
    return -ENOPROTOOPT;
}

#else /* FreeBSD, OpenBSD, NetBSD */
int cw_peer_credentials(cw_fd fd, int64_t out[3]) {
    out[0] = out[1] = out[2] = CW_CRED_UNKNOWN;
    uid_t uid;
    gid_t gid;
    if (getpeereid(fd, &uid, &gid) < 0) return -errno;
    out[1] = uid;
    out[2] = gid;
    return 0;
}

cw_fd cw_peer_pidfd(cw_fd fd) {
    (void)fd;
    return -ENOPROTOOPT;
}
#endif
