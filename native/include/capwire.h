/*
 * Capwire native layer: thin wrappers over the operating system's socket, polling, credential and
 * fd-passing calls. Every function returns a non-negative result on success and -errno on failure; no
 * function allocates on the data path or keeps any policy. Policy lives in Java.
 *
 * The JNI glue (capwire_jni.c) is the only file that knows about Java; everything declared here can be
 * tested from plain C (native/test).
 */
#ifndef CAPWIRE_H
#define CAPWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Internal to the shared library: only JNI_OnLoad is exported; C tests link the objects directly. */
#define CW_API

/*
 * A socket or file handle. On Unix it is the fd; on Windows a SOCKET or HANDLE, which is pointer-sized, so
 * it is a 64-bit integer there (JNI passes handles as longs on every platform). Calls that create one
 * return it, or -errno: real handles are never negative on either system.
 */
#ifdef _WIN32
typedef intptr_t cw_fd;
#else
typedef int cw_fd;
#endif

/* The poller back end compiled into this library (cw_poller_backend). */
#define CW_BACKEND_EPOLL 1
#define CW_BACKEND_KQUEUE 2
#define CW_BACKEND_IOCP 3

/* One gather entry for cw_writev: the same layout as POSIX struct iovec (base, then length). */
typedef struct cw_iovec {
    void *base;
    size_t len;
} cw_iovec;

/* Interest set for cw_poller_add / cw_poller_modify. */
#define CW_INTEREST_READ 1
#define CW_INTEREST_WRITE 2

/* Readiness bits reported in cw_event.ready. */
#define CW_READY_READ 1
#define CW_READY_WRITE 2
#define CW_READY_HANGUP 4
#define CW_READY_ERROR 8

/*
 * One readiness event, written by cw_poller_wait into a caller-owned array. The layout is fixed (16 bytes,
 * token first) because Java reads it directly from a direct buffer.
 */
typedef struct cw_event {
    uint64_t token;
    uint32_t ready;
    uint32_t reserved;
} cw_event;

_Static_assert(sizeof(cw_event) == 16, "cw_event is read from Java at a fixed 16-byte stride");

/* Socket options understood by cw_set_option / cw_get_option. */
#define CW_OPT_SNDBUF 1
#define CW_OPT_RCVBUF 2
#define CW_OPT_TCP_NODELAY 3
#define CW_OPT_REUSEADDR 4

/* Address kinds in the normalized address record written by cw_local_address / cw_remote_address. */
#define CW_ADDR_UNIX 1
#define CW_ADDR_INET4 2
#define CW_ADDR_INET6 3

/*
 * Normalized socket address, so that Java never parses a platform's sockaddr layout:
 * int32 kind, int32 port (TCP), int32 scope id (IPv6), int32 length of the bytes that follow,
 * then the address bytes (4 or 16 for IP; the path for Unix, with a leading NUL for a Linux abstract name).
 */
#define CW_ADDR_HEADER_BYTES 16
#define CW_ADDR_MAX_BYTES (CW_ADDR_HEADER_BYTES + 108)

/* Unknown credential fields are reported as -1, never as 0 (which is root). */
#define CW_CRED_UNKNOWN (-1)

/* Poller: a readiness poller plus its own wake-up handle. */
typedef struct cw_poller cw_poller;

CW_API int cw_poller_create(cw_poller **out);
CW_API int cw_poller_add(cw_poller *poller, cw_fd fd, int interest, uint64_t token);
CW_API int cw_poller_modify(cw_poller *poller, cw_fd fd, int interest, uint64_t token);
CW_API int cw_poller_remove(cw_poller *poller, cw_fd fd);
/* Waits up to timeout_ms (-1: forever); returns the number of events written, 0 on timeout or wake-up. */
CW_API int cw_poller_wait(cw_poller *poller, cw_event *events, int max_events, int timeout_ms);
/* Safe from any thread; a wake-up with no waiter makes the next wait return at once. */
CW_API int cw_poller_wake(cw_poller *poller);
CW_API int cw_poller_close(cw_poller *poller);
/* Which back end this build uses: CW_BACKEND_EPOLL, CW_BACKEND_KQUEUE or CW_BACKEND_IOCP. */
CW_API int cw_poller_backend(void);

/* Sockets: always non-blocking and close-on-exec. */
CW_API cw_fd cw_socket_unix(void);
CW_API cw_fd cw_socket_tcp(int ipv6);
CW_API int cw_socketpair(cw_fd fds_out[2]);
CW_API int cw_pipe(cw_fd fds_out[2]);
/* path_len counts the bytes of path; a path starting with NUL is a Linux abstract name. */
CW_API int cw_bind_unix(cw_fd fd, const char *path, size_t path_len);
CW_API int cw_connect_unix(cw_fd fd, const char *path, size_t path_len);
/* addr is 4 (IPv4) or 16 (IPv6) bytes in network order. */
CW_API int cw_bind_inet(cw_fd fd, const uint8_t *addr, int addr_len, int port, int scope_id);
CW_API int cw_connect_inet(cw_fd fd, const uint8_t *addr, int addr_len, int port, int scope_id);
CW_API int cw_listen(cw_fd fd, int backlog);
CW_API cw_fd cw_accept(cw_fd fd);
/* After a connect that returned -EINPROGRESS became writable: 0 when connected, else -errno. */
CW_API int cw_finish_connect(cw_fd fd);
CW_API ssize_t cw_read(cw_fd fd, void *buf, size_t len);
CW_API ssize_t cw_write(cw_fd fd, const void *buf, size_t len);
CW_API ssize_t cw_writev(cw_fd fd, const cw_iovec *iov, int iov_count);
/* Blocks up to timeout_ms (-1: forever) until fd is ready for interest; returns CW_READY_* bits, 0 on timeout. */
CW_API int cw_wait_ready(cw_fd fd, int interest, int timeout_ms);
CW_API int cw_shutdown(cw_fd fd, int read, int write);
CW_API int cw_close(cw_fd fd);
CW_API int cw_set_option(cw_fd fd, int option, int value);
CW_API int cw_get_option(cw_fd fd, int option);
CW_API int cw_local_address(cw_fd fd, uint8_t *out, size_t out_len);
CW_API int cw_remote_address(cw_fd fd, uint8_t *out, size_t out_len);
/* Opens a file close-on-exec: read-only, or write-only created/truncated with mode 0600. */
CW_API cw_fd cw_open(const char *path, size_t path_len, int write);
/* A close-on-exec duplicate of fd (F_DUPFD_CLOEXEC; on Windows a non-inheritable copy of a socket or handle). */
CW_API cw_fd cw_dup(cw_fd fd);
/* F_GETFD flags of fd (FD_CLOEXEC is 1). */
CW_API int cw_fd_flags(cw_fd fd);

/*
 * Peer credentials of a connected Unix socket: out[0] pid, out[1] uid, out[2] gid; -1 where unknown
 * (Linux SO_PEERCRED gives all three; macOS LOCAL_PEERCRED + LOCAL_PEERPID all three; other BSDs getpeereid
 * uid and gid; Windows SIO_AF_UNIX_GETPEERPID the pid only).
 */
CW_API int cw_peer_credentials(cw_fd fd, int64_t out[3]);
/*
 * A close-on-exec pidfd for the peer process of a connected Unix socket (Linux 6.5+ SO_PEERPIDFD): unlike a
 * pid it cannot come to name another process. -ENOPROTOOPT where the kernel or platform has none.
 */
CW_API cw_fd cw_peer_pidfd(cw_fd fd);

/*
 * Sends len bytes with fd_count file descriptors attached in one sendmsg. Returns bytes sent; the fds
 * travel with the first byte, so a short write still delivered all of them.
 */
CW_API ssize_t cw_send_fds(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count);
/*
 * Receives up to len bytes and at most max_fds descriptors (close-on-exec). *fd_count_out is set to the
 * number of fds stored in fds_out. If the control message was truncated, or carried more than max_fds, every
 * fd that did arrive is closed and -EMSGSIZE is returned.
 *
 * Windows: handles pass to the peer process of an AF_UNIX socket (SIO_AF_UNIX_GETPEERPID; -EOPNOTSUPP on
 * TCP), sockets through WSADuplicateSocketW, other handles (files, pipes) through DuplicateHandle into the
 * peer, in in-band records, so every byte of such a stream must go through these two calls; a malformed or
 * cut record is -EIO (docs/platforms.md, "Handle passing on Windows").
 */
CW_API ssize_t cw_recv_fds(cw_fd fd, void *buf, size_t len, cw_fd *fds_out, int max_fds, int *fd_count_out);

/*
 * The errno table, by index: writes the symbol ("EAGAIN") NUL-terminated into name_out and returns its
 * value, or -EINVAL past the end. Java builds its errno names from this once, so the list lives only here
 * and Java never hard-codes a platform's numbers.
 */
CW_API int cw_errno_symbol(int index, char *name_out, size_t name_len);

/*
 * Given the file name of this library, writes the JNI class name of the Native class (with the package
 * prefix a shading tool added, encoded in the file name as "lib<prefix>capwire...", '_' for '.').
 * Returns the length written, or -ENAMETOOLONG.
 */
CW_API int cw_native_class_name(const char *library_file, char *out, size_t out_len);

#endif
