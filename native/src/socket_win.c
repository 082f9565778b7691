/*
 * Socket primitives on Windows (Winsock): the same calls and results as socket.c. Sockets are
 * non-blocking and not inherited by child processes (WSA_FLAG_NO_HANDLE_INHERIT); errors come back as the
 * errno values of errno.h, mapped from Winsock's codes, so Java sees one set of names everywhere.
 * AF_UNIX needs Windows 10 1803 or later; socketpair and pipes, which the transport does not need on
 * Windows, fail with -EOPNOTSUPP.
 */
#ifdef _WIN32
#include "platform.h"

#include <limits.h>
#include <string.h>

static INIT_ONCE net_once = INIT_ONCE_STATIC_INIT;
static int net_error;

static BOOL CALLBACK start_winsock(PINIT_ONCE once, PVOID parameter, PVOID *context) {
    (void)once, (void)parameter, (void)context;
    WSADATA data;
    int rc = WSAStartup(MAKEWORD(2, 2), &data);
    net_error = rc == 0 ? 0 : -cw_win_errno((unsigned long)rc);
    return TRUE;
}

int cw_net_init(void) {
    InitOnceExecuteOnce(&net_once, start_winsock, NULL, NULL);
    return net_error;
}

int cw_win_errno(unsigned long error) {
    switch (error) {
    case WSAEINTR: return EINTR;
    case WSAEBADF: case ERROR_INVALID_HANDLE: return EBADF;
    case WSAEACCES: case ERROR_ACCESS_DENIED: return EACCES;
    case WSAEFAULT: return EFAULT;
    case WSAEINVAL: case ERROR_INVALID_PARAMETER: return EINVAL;
    case WSAEMFILE: case ERROR_TOO_MANY_OPEN_FILES: return EMFILE;
    case WSAEWOULDBLOCK: return EAGAIN;
    case WSAEINPROGRESS: return EINPROGRESS;
    case WSAEALREADY: return EALREADY;
    case WSAENOTSOCK: return ENOTSOCK;
    case WSAEDESTADDRREQ: return EDESTADDRREQ;
    case WSAEMSGSIZE: return EMSGSIZE;
    case WSAEPROTOTYPE: return EPROTOTYPE;
    case WSAENOPROTOOPT: return ENOPROTOOPT;
    case WSAEPROTONOSUPPORT: return EPROTONOSUPPORT;
    case WSAEOPNOTSUPP: return EOPNOTSUPP;
    case WSAEAFNOSUPPORT: case WSAEPFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENETDOWN: return ENETDOWN;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAECONNRESET: return ECONNRESET;
    case WSAENOBUFS: case ERROR_NOT_ENOUGH_MEMORY: case ERROR_OUTOFMEMORY: return ENOBUFS;
    case WSAEISCONN: return EISCONN;
    case WSAENOTCONN: return ENOTCONN;
    case WSAESHUTDOWN: case ERROR_BROKEN_PIPE: case ERROR_NO_DATA: return EPIPE;
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAENAMETOOLONG: case ERROR_FILENAME_EXCED_RANGE: return ENAMETOOLONG;
    case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case ERROR_FILE_NOT_FOUND: case ERROR_PATH_NOT_FOUND: return ENOENT;
    case ERROR_FILE_EXISTS: case ERROR_ALREADY_EXISTS: return EEXIST;
    case ERROR_NOT_SUPPORTED: case ERROR_CALL_NOT_IMPLEMENTED: return ENOSYS;
    default: return EIO;
    }
}

/*
 * Non-blocking, and not inherited: WSA_FLAG_NO_HANDLE_INHERIT asks for that at creation, and the handle flag
 * is cleared again because not every Winsock (Wine's, for one) honours the flag; accepted sockets get the same.
 */
static int finish_socket(SOCKET s) {
    u_long on = 1;
    if (ioctlsocket(s, FIONBIO, &on) != 0) return CW_NET_ERROR();
    if (!SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0)) return -cw_win_errno(GetLastError());
    return 0;
}

static cw_fd new_socket(int family, int protocol) {
    int rc = cw_net_init();
    if (rc < 0) return rc;
    SOCKET s = WSASocketW(family, SOCK_STREAM, protocol, NULL, 0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) return CW_NET_ERROR();
    rc = finish_socket(s);
    if (rc < 0) closesocket(s);
    return rc < 0 ? rc : (cw_fd)s;
}

cw_fd cw_socket_unix(void) { return new_socket(AF_UNIX, 0); }

cw_fd cw_socket_tcp(int ipv6) { return new_socket(ipv6 ? AF_INET6 : AF_INET, IPPROTO_TCP); }

int cw_socketpair(cw_fd fds_out[2]) {
    (void)fds_out;
    return -EOPNOTSUPP;
}

int cw_pipe(cw_fd fds_out[2]) {
    (void)fds_out;
    return -EOPNOTSUPP;
}

static int net_result(int rc) { return rc == SOCKET_ERROR ? CW_NET_ERROR() : rc; }

int cw_bind_unix(cw_fd fd, const char *path, size_t path_len) {
    struct sockaddr_un sa;
    cw_socklen sa_len;
    int rc = cw_unix_address(&sa, &sa_len, path, path_len);
    if (rc < 0) return rc;
    return net_result(bind(CW_SOCKET(fd), (struct sockaddr *)&sa, sa_len));
}

/* A non-blocking connect in progress is WSAEWOULDBLOCK on Windows, EINPROGRESS everywhere else. */
static int connect_result(int rc) {
    if (rc != SOCKET_ERROR) return rc;
    int err = CW_NET_ERROR();
    return err == -EAGAIN ? -EINPROGRESS : err;
}

int cw_connect_unix(cw_fd fd, const char *path, size_t path_len) {
    struct sockaddr_un sa;
    cw_socklen sa_len;
    int rc = cw_unix_address(&sa, &sa_len, path, path_len);
    if (rc < 0) return rc;
    return connect_result(connect(CW_SOCKET(fd), (struct sockaddr *)&sa, sa_len));
}

int cw_bind_inet(cw_fd fd, const uint8_t *addr, int addr_len, int port, int scope_id) {
    struct sockaddr_storage ss;
    cw_socklen ss_len;
    int rc = cw_inet_address(&ss, &ss_len, addr, addr_len, port, scope_id);
    if (rc < 0) return rc;
    return net_result(bind(CW_SOCKET(fd), (struct sockaddr *)&ss, ss_len));
}

int cw_connect_inet(cw_fd fd, const uint8_t *addr, int addr_len, int port, int scope_id) {
    struct sockaddr_storage ss;
    cw_socklen ss_len;
    int rc = cw_inet_address(&ss, &ss_len, addr, addr_len, port, scope_id);
    if (rc < 0) return rc;
    return connect_result(connect(CW_SOCKET(fd), (struct sockaddr *)&ss, ss_len));
}

int cw_listen(cw_fd fd, int backlog) { return net_result(listen(CW_SOCKET(fd), backlog)); }

cw_fd cw_accept(cw_fd fd) {
    for (;;) {
        SOCKET s = accept(CW_SOCKET(fd), NULL, NULL);
        if (s != INVALID_SOCKET) {
            int rc = finish_socket(s);
            if (rc < 0) closesocket(s);
            return rc < 0 ? rc : (cw_fd)s;
        }
        int err = CW_NET_ERROR();
        if (err != -EINTR && err != -ECONNABORTED && err != -ECONNRESET) return err;
    }
}

int cw_finish_connect(cw_fd fd) {
    int err = 0;
    int len = sizeof(err);
    if (getsockopt(CW_SOCKET(fd), SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0) return CW_NET_ERROR();
    return err == 0 ? 0 : -cw_win_errno((unsigned long)err);
}

ssize_t cw_read(cw_fd fd, void *buf, size_t len) {
    int n = recv(CW_SOCKET(fd), buf, len > INT_MAX ? INT_MAX : (int)len, 0);
    if (n != SOCKET_ERROR) return n;
    int err = CW_NET_ERROR();
    /* A peer that aborted is an error like anywhere; a peer that shut down cleanly reads 0 above. */
    return err;
}

ssize_t cw_write(cw_fd fd, const void *buf, size_t len) {
    int n = send(CW_SOCKET(fd), buf, len > INT_MAX ? INT_MAX : (int)len, 0);
    return n == SOCKET_ERROR ? CW_NET_ERROR() : n;
}

#define CW_MAX_IOV 1024

ssize_t cw_writev(cw_fd fd, const cw_iovec *iov, int iov_count) {
    if (iov_count <= 0 || iov_count > CW_MAX_IOV) return -EINVAL;
    WSABUF buffers[64];
    int count = iov_count > 64 ? 64 : iov_count; /* a short write, as writev may make one */
    for (int i = 0; i < count; i++) {
        buffers[i].buf = iov[i].base;
        buffers[i].len = iov[i].len > ULONG_MAX ? ULONG_MAX : (ULONG)iov[i].len;
    }
    DWORD sent = 0;
    if (WSASend(CW_SOCKET(fd), buffers, (DWORD)count, &sent, 0, NULL, NULL) != 0) return CW_NET_ERROR();
    return (ssize_t)sent;
}

int cw_wait_ready(cw_fd fd, int interest, int timeout_ms) {
    WSAPOLLFD pfd = {.fd = CW_SOCKET(fd), .events = 0};
    if (interest & CW_INTEREST_READ) pfd.events |= POLLRDNORM;
    if (interest & CW_INTEREST_WRITE) pfd.events |= POLLWRNORM;
    int n = WSAPoll(&pfd, 1, timeout_ms);
    if (n == SOCKET_ERROR) return CW_NET_ERROR();
    if (n == 0) return 0;
    if (pfd.revents & POLLNVAL) return -EBADF;
    int ready = 0;
    if (pfd.revents & POLLRDNORM) ready |= CW_READY_READ;
    if (pfd.revents & POLLWRNORM) ready |= CW_READY_WRITE;
    if (pfd.revents & POLLHUP) ready |= CW_READY_HANGUP;
    if (pfd.revents & POLLERR) ready |= CW_READY_ERROR;
    return ready;
}

int cw_shutdown(cw_fd fd, int read, int write) {
    if (!read && !write) return -EINVAL;
    int how = read && write ? SD_BOTH : read ? SD_RECEIVE : SD_SEND;
    return net_result(shutdown(CW_SOCKET(fd), how));
}

int cw_close(cw_fd fd) {
    cw_fdpass_forget(fd);
    if (closesocket(CW_SOCKET(fd)) == 0) return 0;
    int err = CW_NET_ERROR();
    if (err != -ENOTSOCK) return err;
    return CloseHandle((HANDLE)fd) ? 0 : -cw_win_errno(GetLastError()); /* a file from cw_open */
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
    return net_result(setsockopt(CW_SOCKET(fd), level, name, (const char *)&value, sizeof(value)));
}

int cw_get_option(cw_fd fd, int option) {
    int level, name, value = 0;
    int len = sizeof(value);
    int rc = option_level_name(option, &level, &name);
    if (rc < 0) return rc;
    if (getsockopt(CW_SOCKET(fd), level, name, (char *)&value, &len) != 0) return CW_NET_ERROR();
    /* Winsock writes a BOOL option as one byte. */
    if (len == 1) value = value & 0xff;
    return value;
}

int cw_local_address(cw_fd fd, uint8_t *out, size_t out_len) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (getsockname(CW_SOCKET(fd), (struct sockaddr *)&ss, &len) != 0) return CW_NET_ERROR();
    return cw_normalize_address(&ss, len, out, out_len);
}

int cw_remote_address(cw_fd fd, uint8_t *out, size_t out_len) {
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (getpeername(CW_SOCKET(fd), (struct sockaddr *)&ss, &len) != 0) return CW_NET_ERROR();
    return cw_normalize_address(&ss, len, out, out_len);
}

cw_fd cw_open(const char *path, size_t path_len, int write) {
    WCHAR wide[4096];
    if (path_len == 0 || path_len >= 4096 || memchr(path, '\0', path_len) != NULL) return -EINVAL;
    int chars = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, path, (int)path_len, wide, 4095);
    if (chars <= 0) return -EINVAL;
    wide[chars] = 0;
    HANDLE file = CreateFileW(wide, write ? GENERIC_WRITE : GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                              write ? CREATE_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE) return -cw_win_errno(GetLastError());
    return (cw_fd)file;
}

/*
 * Whether handle is a socket. Asked before choosing how to copy a handle: what WSADuplicateSocketW says of
 * a pipe differs (Wine: WSAEOPNOTSUPP, Windows: WSAENOTSOCK), SO_TYPE does not.
 */
int cw_is_socket(cw_fd handle) {
    int type = 0;
    int len = sizeof(type);
    return getsockopt(CW_SOCKET(handle), SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0;
}

/* A socket is copied through its protocol info (a DuplicateHandle copy of a socket is not usable by Winsock),
 * any other handle with DuplicateHandle; either copy is not inherited. */
cw_fd cw_dup(cw_fd fd) {
    if (!cw_is_socket(fd)) {
        HANDLE copy = NULL;
        if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)fd, GetCurrentProcess(), &copy, 0, FALSE,
                             DUPLICATE_SAME_ACCESS)) {
            return -cw_win_errno(GetLastError());
        }
        return (cw_fd)copy;
    }
    WSAPROTOCOL_INFOW info;
    if (WSADuplicateSocketW(CW_SOCKET(fd), GetCurrentProcessId(), &info) != 0) return CW_NET_ERROR();
    SOCKET s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    if (s == INVALID_SOCKET) return CW_NET_ERROR();
    int rc = finish_socket(s);
    if (rc < 0) closesocket(s);
    return rc < 0 ? rc : (cw_fd)s;
}

/* FD_CLOEXEC (1) when the handle is not inherited by child processes, as POSIX F_GETFD reports it. */
int cw_fd_flags(cw_fd fd) {
    DWORD flags;
    if (!GetHandleInformation((HANDLE)fd, &flags)) return -cw_win_errno(GetLastError());
    return (flags & HANDLE_FLAG_INHERIT) ? 0 : 1;
}
#endif
