/*
 * The platform shim the native sources share: what differs between Linux, the BSDs (macOS included) and
 * Windows in how a socket is made, how an error is read, and how a sockaddr is spelled. Each source file
 * holds one concern for every platform; this header keeps the differences out of their way.
 */
#ifndef CW_PLATFORM_H
#define CW_PLATFORM_H

#include "capwire.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <afunix.h>
#include <errno.h>

/* The errno value for a Winsock or Win32 error code (WSAGetLastError, GetLastError). */
int cw_win_errno(unsigned long error);
/* -errno for the calling thread's last Winsock error. */
#define CW_NET_ERROR() (-cw_win_errno((unsigned long)WSAGetLastError()))
/* Starts Winsock once per process; returns 0 or -errno. */
int cw_net_init(void);
#define CW_SOCKET(fd) ((SOCKET)(fd))
typedef int cw_socklen;
#ifndef SIO_AF_UNIX_GETPEERPID
#define SIO_AF_UNIX_GETPEERPID _WSAIOR(IOC_VENDOR, 256) /* Windows 10 1803+, afunix.h in newer SDKs */
#endif
/* cw_send_fds with the receiving process named (fdpass.c); the C tests use it over TCP, which has no peer pid. */
ssize_t cw_send_fds_to_pid(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count, unsigned long pid);
/* Whether a handle is a socket (socket_win.c): sockets and other handles are copied differently. */
int cw_is_socket(cw_fd handle);
/* Drops fdpass.c's record state for a socket about to close (cw_close), closing handles it still holds. */
void cw_fdpass_forget(cw_fd fd);
#else
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#define CW_NET_ERROR() (-errno)
#define CW_SOCKET(fd) (fd)
typedef socklen_t cw_socklen;
/* Sets O_NONBLOCK and FD_CLOEXEC where the kernel cannot do it atomically at creation (macOS). */
int cw_nonblock_cloexec(int fd);
/* Sets FD_CLOEXEC alone (fds received with SCM_RIGHTS where MSG_CMSG_CLOEXEC is missing). */
int cw_cloexec(int fd);
#endif

/* sendmsg/send flags that keep a closed peer from raising SIGPIPE, where the flag exists (else SO_NOSIGPIPE). */
#ifdef MSG_NOSIGNAL
#define CW_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define CW_MSG_NOSIGNAL 0
#endif

/* Shared sockaddr helpers (address.c): fill a sockaddr from Capwire's arguments, or normalize one back. */
int cw_unix_address(struct sockaddr_un *sa, cw_socklen *sa_len, const char *path, size_t path_len);
int cw_inet_address(struct sockaddr_storage *ss, cw_socklen *ss_len, const uint8_t *addr, int addr_len, int port,
                    int scope_id);
int cw_normalize_address(const struct sockaddr_storage *ss, cw_socklen ss_len, uint8_t *out, size_t out_len);

#endif
