/* Kernel-verified peer credentials of a connected Unix-domain socket (Linux: SO_PEERCRED). */
#define _GNU_SOURCE
#include "capwire.h"

#include <errno.h>
#include <sys/socket.h>

int cw_peer_credentials(int fd, int64_t out[3]) {
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
