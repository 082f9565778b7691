/*
 * File-descriptor passing over Unix-domain sockets (SCM_RIGHTS). Received fds are close-on-exec
 * (MSG_CMSG_CLOEXEC, or FD_CLOEXEC set at once where that flag is missing: macOS). A truncated control
 * message means some fds were dropped by the kernel; the message can no longer be matched to its fds, so
 * every fd that did arrive is closed and the call fails. macOS installs every passed fd before it truncates
 * the control data, so the ones that did fit are closed there too.
 *
 * Windows has no SCM_RIGHTS. A handle crosses processes as an entry made for the receiving process (the peer
 * pid from SIO_AF_UNIX_GETPEERPID), sent in-band: a socket as the WSAPROTOCOL_INFOW that WSADuplicateSocketW
 * fills in, any other handle (file, pipe, event) as the value DuplicateHandle gave its copy inside the
 * receiver. So that the receiver can tell those bytes from frame bytes, a stream that passes handles on
 * Windows carries records only, written by cw_send_fds and read by cw_recv_fds (docs/platforms.md, "Handle
 * passing on Windows"): u16 magic 0x4843, u16 handle count, u32 payload length (little-endian), count
 * entries of 632 bytes (u32 kind, then a WSAPROTOCOL_INFOW, or a u64 handle value and zeros), payload.
 * Short writes and partial reads keep a small per-socket state here, dropped by cw_close.
 */
#define _GNU_SOURCE
#include "platform.h"

#include <string.h>

#ifdef _WIN32
#include <limits.h>
#include <stdlib.h>

#define CW_MAX_FDS_PER_MESSAGE 253
#define CW_RECORD_MAGIC 0x4843u
#define CW_RECORD_HEADER 8
#define CW_INFO_BYTES ((uint32_t)sizeof(WSAPROTOCOL_INFOW))
/* One handle's entry: u32 kind, then the kind's body in the room of a protocol info. */
#define CW_ENTRY_BYTES (4 + CW_INFO_BYTES)
#define CW_KIND_SOCKET 1u /* body: WSAPROTOCOL_INFOW for the receiver, made by WSADuplicateSocketW */
#define CW_KIND_HANDLE 2u /* body: u64 value of the copy DuplicateHandle made inside the receiver, then zeros */
/* How long cw_send_fds waits for room to finish a record's header, its handles and first byte. */
#define CW_PREFIX_WAIT_MS 5000

_Static_assert(sizeof(WSAPROTOCOL_INFOW) == 628, "WSAPROTOCOL_INFOW is 628 bytes on the wire");

typedef struct stream_state {
    struct stream_state *next;
    SOCKET socket;
    uint32_t send_left;     /* payload bytes of the record being sent that are still to go */
    uint32_t recv_left;     /* payload bytes of the record being read that are still to deliver */
    uint32_t prefix_have;   /* bytes of the header + handle entries read so far (0 between records) */
    unsigned char header[CW_RECORD_HEADER];
    unsigned char *entries; /* the record's handle entries while they arrive */
    cw_fd *held;            /* adopted handles waiting for the record's first payload byte */
    int held_count;
    int pending;            /* the record's handles (maybe none) are not handed over yet */
} stream_state;

static SRWLOCK states_lock = SRWLOCK_INIT;
static stream_state *states;

/* The state of one socket, made on first use when create is set; NULL if missing or out of memory. */
static stream_state *find_state(SOCKET s, int create) {
    AcquireSRWLockExclusive(&states_lock);
    stream_state *state = states;
    while (state != NULL && state->socket != s) state = state->next;
    if (state == NULL && create) {
        state = calloc(1, sizeof(*state));
        if (state != NULL) {
            state->socket = s;
            state->next = states;
            states = state;
        }
    }
    ReleaseSRWLockExclusive(&states_lock);
    return state;
}

static void put_u16(unsigned char *p, uint32_t v) { p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v) { put_u16(p, v & 0xffff), put_u16(p + 2, v >> 16); }
static void put_u64(unsigned char *p, uint64_t v) { put_u32(p, (uint32_t)v), put_u32(p + 4, (uint32_t)(v >> 32)); }
static uint32_t get_u16(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get_u32(const unsigned char *p) { return get_u16(p) | get_u16(p + 2) << 16; }
static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

/* A socket or another handle: closesocket refuses (WSAENOTSOCK) what is not a socket, as in cw_close. */
static void close_any(cw_fd handle) {
    if (closesocket(CW_SOCKET(handle)) != 0) CloseHandle((HANDLE)handle);
}

/* The handle a CW_KIND_HANDLE entry names in this process, or NULL if that value is no open handle here. */
static HANDLE entry_handle(const unsigned char *entry) {
    HANDLE handle = (HANDLE)(uintptr_t)get_u64(entry + 4);
    DWORD flags;
    return handle != NULL && GetHandleInformation(handle, &flags) ? handle : NULL;
}

static void close_held(stream_state *state) {
    for (int i = 0; i < state->held_count; i++) close_any(state->held[i]);
    free(state->held);
    state->held = NULL;
    state->held_count = 0;
}

/*
 * Resets the read side after a record was refused: what arrived is closed, the next bytes start a record.
 * The copies a sender already made in this process for entries that arrived whole are closed too; socket
 * infos that never reach WSASocketW cannot be (docs/platforms.md).
 */
static void drop_record(stream_state *state) {
    close_held(state);
    if (state->entries != NULL && state->prefix_have > CW_RECORD_HEADER) {
        uint32_t whole = (state->prefix_have - CW_RECORD_HEADER) / CW_ENTRY_BYTES;
        for (uint32_t i = 0; i < whole; i++) {
            const unsigned char *entry = state->entries + (size_t)i * CW_ENTRY_BYTES;
            HANDLE handle = get_u32(entry) == CW_KIND_HANDLE ? entry_handle(entry) : NULL;
            if (handle != NULL) CloseHandle(handle);
        }
    }
    free(state->entries);
    state->entries = NULL;
    state->prefix_have = 0;
    state->recv_left = 0;
    state->pending = 0;
}

void cw_fdpass_forget(cw_fd fd) {
    AcquireSRWLockExclusive(&states_lock);
    stream_state **link = &states;
    while (*link != NULL && (*link)->socket != CW_SOCKET(fd)) link = &(*link)->next;
    stream_state *state = *link;
    if (state != NULL) *link = state->next;
    ReleaseSRWLockExclusive(&states_lock);
    if (state == NULL) return;
    drop_record(state);
    free(state);
}

/*
 * Sends all of buf (the record's prefix and first byte), waiting for room at most CW_PREFIX_WAIT_MS; *done
 * counts the bytes that went out, also when it fails.
 */
static int send_all(SOCKET s, const char *buf, size_t len, size_t *done) {
    *done = 0;
    while (len > 0) {
        int n = send(s, buf, (int)len, 0);
        if (n == SOCKET_ERROR) {
            int err = CW_NET_ERROR();
            if (err != -EAGAIN) return err;
            int ready = cw_wait_ready((cw_fd)s, CW_INTEREST_WRITE, CW_PREFIX_WAIT_MS);
            if (ready < 0) return ready;
            if (ready == 0) return -ETIMEDOUT;
            continue;
        }
        buf += n, len -= (size_t)n, *done += (size_t)n;
    }
    return 0;
}

/*
 * Closes, inside the receiving process, the DuplicateHandle copies of entries from to to - 1: the receiver
 * will never see those entries whole. WSADuplicateSocketW copies cannot be taken back.
 */
static void take_back(HANDLE receiver, const unsigned char *entries, int from, int to) {
    for (int i = from; i < to; i++) {
        const unsigned char *entry = entries + (size_t)i * CW_ENTRY_BYTES;
        if (receiver == NULL || get_u32(entry) != CW_KIND_HANDLE) continue;
        DuplicateHandle(receiver, (HANDLE)(uintptr_t)get_u64(entry + 4), NULL, NULL, 0, FALSE,
                        DUPLICATE_CLOSE_SOURCE);
    }
}

/*
 * Fills one entry for handle, made for the process pid: a socket's protocol info, or else a DuplicateHandle
 * copy inside the receiver, opened with PROCESS_DUP_HANDLE on first need (*receiver).
 */
static int make_entry(unsigned char *entry, cw_fd handle, unsigned long pid, HANDLE *receiver) {
    if (cw_is_socket(handle)) {
        WSAPROTOCOL_INFOW info;
        if (WSADuplicateSocketW(CW_SOCKET(handle), (DWORD)pid, &info) != 0) return CW_NET_ERROR();
        put_u32(entry, CW_KIND_SOCKET);
        memcpy(entry + 4, &info, CW_INFO_BYTES);
        return 0;
    }
    if (*receiver == NULL) {
        *receiver = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD)pid);
        if (*receiver == NULL) return -cw_win_errno(GetLastError());
    }
    HANDLE copy = NULL;
    if (!DuplicateHandle(GetCurrentProcess(), (HANDLE)handle, *receiver, &copy, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
        return -cw_win_errno(GetLastError());
    }
    put_u32(entry, CW_KIND_HANDLE);
    put_u64(entry + 4, (uint64_t)(uintptr_t)copy); /* the rest of the body stays zero */
    return 0;
}

ssize_t cw_send_fds_to_pid(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count, unsigned long pid) {
    if (fd_count < 0 || fd_count > CW_MAX_FDS_PER_MESSAGE || len == 0) return -EINVAL;
    SOCKET s = CW_SOCKET(fd);
    stream_state *state = find_state(s, 1);
    if (state == NULL) return -ENOMEM;
    if (state->send_left > 0) {
        /* The rest of a record a short write cut: plain bytes, and no handles until it is out. */
        if (fd_count > 0) return -EINVAL;
        size_t part = len < state->send_left ? len : state->send_left;
        int n = send(s, buf, (int)(part > INT_MAX ? INT_MAX : part), 0);
        if (n == SOCKET_ERROR) return CW_NET_ERROR();
        state->send_left -= (uint32_t)n;
        return n;
    }
    uint32_t payload = len > 0x10000000 ? 0x10000000 : (uint32_t)len; /* a record holds at most 256 MiB */
    size_t prefix = CW_RECORD_HEADER + (size_t)fd_count * CW_ENTRY_BYTES;
    unsigned char *record = calloc(1, prefix + 1);
    if (record == NULL) return -ENOMEM;
    put_u16(record, CW_RECORD_MAGIC);
    put_u16(record + 2, (uint32_t)fd_count);
    put_u32(record + 4, payload);
    HANDLE receiver = NULL;
    for (int i = 0; i < fd_count; i++) {
        int err = make_entry(record + CW_RECORD_HEADER + (size_t)i * CW_ENTRY_BYTES, fds[i], pid, &receiver);
        if (err < 0) {
            take_back(receiver, record + CW_RECORD_HEADER, 0, i);
            if (receiver != NULL) CloseHandle(receiver);
            free(record);
            return err;
        }
    }
    /* The header, the handles and the first payload byte go out whole (waiting if need be), as SCM_RIGHTS
     * delivers fds with the first byte; then as much more of the payload as the socket takes now. */
    record[prefix] = *(const unsigned char *)buf;
    size_t done = 0;
    int rc = send_all(s, (const char *)record, prefix + 1, &done);
    /* The entries that went out whole are the receiver's (it adopts them, or closes them when it drops the
     * record); the copies of the others are taken back, so each copy has exactly one closer. */
    if (rc < 0 && done < prefix) {
        int whole = done > CW_RECORD_HEADER ? (int)((done - CW_RECORD_HEADER) / CW_ENTRY_BYTES) : 0;
        take_back(receiver, record + CW_RECORD_HEADER, whole, fd_count);
    }
    if (receiver != NULL) CloseHandle(receiver);
    free(record);
    if (rc < 0) return rc; /* the stream may hold part of a record now: the connection is broken */
    state->send_left = payload - 1;
    size_t sent = 1;
    if (state->send_left > 0) {
        int n = send(s, (const char *)buf + 1, (int)(state->send_left > INT_MAX ? INT_MAX : state->send_left), 0);
        if (n > 0) {
            state->send_left -= (uint32_t)n;
            sent += (size_t)n;
        }
    }
    return (ssize_t)sent;
}

ssize_t cw_send_fds(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count) {
    unsigned long pid = 0;
    if (fd_count > 0) {
        DWORD returned = 0;
        ULONG peer = 0;
        if (WSAIoctl(CW_SOCKET(fd), SIO_AF_UNIX_GETPEERPID, NULL, 0, &peer, sizeof(peer), &returned, NULL, NULL) != 0) {
            int err = CW_NET_ERROR();
            return err == -EINVAL || err == -EOPNOTSUPP ? -EOPNOTSUPP : err; /* not AF_UNIX: no peer pid */
        }
        pid = peer;
    }
    return cw_send_fds_to_pid(fd, buf, len, fds, fd_count, pid);
}

/* Reads up to len bytes of the record's prefix into the state; returns 1 when it is complete, 0, or -errno. */
static int read_prefix(stream_state *state) {
    for (;;) {
        uint32_t need = CW_RECORD_HEADER;
        if (state->prefix_have >= CW_RECORD_HEADER) {
            if (get_u16(state->header) != CW_RECORD_MAGIC || get_u32(state->header + 4) == 0
                || get_u16(state->header + 2) > CW_MAX_FDS_PER_MESSAGE) {
                return -EIO; /* not a record: the stream is out of step and the connection must end */
            }
            need += get_u16(state->header + 2) * CW_ENTRY_BYTES;
        }
        if (state->prefix_have == need) return 1;
        char *into;
        uint32_t offset = state->prefix_have;
        if (offset < CW_RECORD_HEADER) {
            into = (char *)state->header + offset;
            need = CW_RECORD_HEADER;
        } else {
            uint32_t count = get_u16(state->header + 2);
            if (state->entries == NULL) {
                state->entries = malloc((size_t)count * CW_ENTRY_BYTES);
                if (state->entries == NULL) return -ENOMEM;
            }
            into = (char *)state->entries + (offset - CW_RECORD_HEADER);
        }
        int n = recv(state->socket, into, (int)(need - offset), 0);
        if (n == SOCKET_ERROR) {
            int err = CW_NET_ERROR();
            return err == -EAGAIN ? 0 : err;
        }
        if (n == 0) return offset == 0 ? -EPIPE : -EIO; /* end of stream between records, or inside one */
        state->prefix_have += (uint32_t)n;
    }
}

/*
 * Takes the record's handles: a socket entry becomes a socket (WSASocketW), a handle entry is a copy the
 * sender already made in this process. Every one is held (and so closable) even past max_fds; an entry of
 * an unknown kind, or naming no open handle, fails the record's handles.
 */
static int adopt_handles(stream_state *state) {
    int count = (int)get_u16(state->header + 2);
    if (count > 0) {
        state->held = malloc((size_t)count * sizeof(cw_fd));
        if (state->held == NULL) return -ENOMEM; /* the entries stay, for drop_record to close */
    }
    int rc = 0;
    for (int i = 0; i < count; i++) {
        const unsigned char *entry = state->entries + (size_t)i * CW_ENTRY_BYTES;
        uint32_t kind = get_u32(entry);
        if (kind == CW_KIND_HANDLE) {
            HANDLE handle = entry_handle(entry);
            if (handle == NULL) {
                if (rc == 0) rc = -EBADF;
                continue;
            }
            if (!SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) && rc == 0) rc = -EIO;
            state->held[state->held_count++] = (cw_fd)handle;
            continue;
        }
        if (kind != CW_KIND_SOCKET) {
            if (rc == 0) rc = -EIO;
            continue;
        }
        WSAPROTOCOL_INFOW info;
        memcpy(&info, entry + 4, CW_INFO_BYTES);
        SOCKET s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO, &info, 0,
                              WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
        if (s == INVALID_SOCKET) {
            if (rc == 0) rc = CW_NET_ERROR();
            continue;
        }
        u_long on = 1;
        if ((ioctlsocket(s, FIONBIO, &on) != 0 || !SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0))
            && rc == 0) {
            rc = -EIO;
        }
        state->held[state->held_count++] = (cw_fd)s;
    }
    free(state->entries);
    state->entries = NULL;
    return rc;
}

ssize_t cw_recv_fds(cw_fd fd, void *buf, size_t len, cw_fd *fds_out, int max_fds, int *fd_count_out) {
    *fd_count_out = 0;
    if (max_fds < 0 || max_fds > CW_MAX_FDS_PER_MESSAGE || len == 0) return -EINVAL;
    stream_state *state = find_state(CW_SOCKET(fd), 1);
    if (state == NULL) return -ENOMEM;
    if (state->recv_left == 0 && !state->pending) {
        int rc = read_prefix(state);
        if (rc == -EPIPE) return 0; /* end of stream at a record boundary */
        if (rc == 0) return -EAGAIN;
        if (rc < 0) {
            drop_record(state);
            return rc;
        }
        rc = adopt_handles(state);
        if (rc == -ENOMEM && state->entries != NULL) {
            drop_record(state); /* nothing could be held: the copies made here are closed, the link is lost */
            return rc;
        }
        state->prefix_have = 0;
        state->recv_left = get_u32(state->header + 4);
        if (rc == 0 && state->held_count > max_fds) rc = -EMSGSIZE;
        if (rc < 0) {
            /* As with a truncated SCM_RIGHTS message: whatever arrived is closed, the payload stays readable. */
            close_held(state);
            return rc;
        }
        state->pending = 1;
    }
    size_t part = len < state->recv_left ? len : state->recv_left;
    int n = recv(state->socket, buf, (int)(part > INT_MAX ? INT_MAX : part), 0);
    if (n == SOCKET_ERROR) return CW_NET_ERROR();
    if (n == 0) {
        drop_record(state); /* the peer ended the stream inside a record's payload */
        return -EIO;
    }
    state->recv_left -= (uint32_t)n;
    if (state->pending) {
        /* The record's first payload bytes: its handles go with them. */
        if (state->held_count > 0) memcpy(fds_out, state->held, (size_t)state->held_count * sizeof(cw_fd));
        *fd_count_out = state->held_count;
        free(state->held);
        state->held = NULL;
        state->held_count = 0;
        state->pending = 0;
    }
    return n;
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
