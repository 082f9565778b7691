/*
 * Readiness poller on Windows: an I/O completion port plus the AFD driver's poll request
 * (IOCTL_AFD_POLL), the kernel call underneath WSAPoll and select. A poll request names one socket and
 * the AFD events to wait for, and completes once, on the port, when any of them holds. That is one-shot
 * readiness; the poller makes it level-triggered like epoll by submitting a new request for every socket
 * whose request completed (or whose interest changed) before each wait: a socket still readable completes
 * at once and is reported again.
 *
 * Requests go through one handle on \Device\Afd opened by this poller and tied to the port, so sockets
 * themselves are never associated with the port (a socket can belong to one port only, for good). The
 * request's context pointer is the socket's state, which therefore lives until its last request has
 * completed, even after cw_poller_remove: removal cancels the request and frees the state when the
 * cancellation completes. The wake-up is a completion posted with no context.
 *
 * Like the Java loop above it, one thread at a time calls add/modify/remove/wait; cw_poller_wake may be
 * called from any thread.
 */
#ifdef _WIN32
#include "platform.h"

#include <stdlib.h>
#include <winternl.h>

#ifndef STATUS_PENDING
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#endif
#ifndef STATUS_CANCELLED
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#endif
#ifndef STATUS_NOT_FOUND
#define STATUS_NOT_FOUND ((NTSTATUS)0xC0000225L)
#endif
#ifndef SIO_BASE_HANDLE
#define SIO_BASE_HANDLE _WSAIOR(IOC_WS2, 34)
#endif

/* The AFD driver's poll request, as ws2_32 itself sends it. */
#define CW_IOCTL_AFD_POLL 0x00012024
#define AFD_POLL_RECEIVE 0x0001
#define AFD_POLL_SEND 0x0004
#define AFD_POLL_DISCONNECT 0x0008
#define AFD_POLL_ABORT 0x0010
#define AFD_POLL_LOCAL_CLOSE 0x0020
#define AFD_POLL_ACCEPT 0x0080
#define AFD_POLL_CONNECT_FAIL 0x0100

typedef struct afd_poll_handle {
    HANDLE handle;
    ULONG events;
    NTSTATUS status;
} afd_poll_handle;

typedef struct afd_poll_info {
    LARGE_INTEGER timeout;
    ULONG handle_count;
    ULONG exclusive;
    afd_poll_handle handles[1];
} afd_poll_info;

typedef NTSTATUS(NTAPI *nt_create_file_fn)(PHANDLE, ACCESS_MASK, POBJECT_ATTRIBUTES, PIO_STATUS_BLOCK,
                                            PLARGE_INTEGER, ULONG, ULONG, ULONG, ULONG, PVOID, ULONG);
typedef NTSTATUS(NTAPI *nt_device_io_control_file_fn)(HANDLE, HANDLE, PVOID, PVOID, PIO_STATUS_BLOCK, ULONG, PVOID,
                                                       ULONG, PVOID, ULONG);
typedef NTSTATUS(NTAPI *nt_cancel_io_file_ex_fn)(HANDLE, PIO_STATUS_BLOCK, PIO_STATUS_BLOCK);
typedef ULONG(NTAPI *rtl_nt_status_to_dos_error_fn)(NTSTATUS);

static struct {
    nt_create_file_fn create_file;
    nt_device_io_control_file_fn device_io_control_file;
    nt_cancel_io_file_ex_fn cancel_io_file_ex;
    rtl_nt_status_to_dos_error_fn status_to_dos_error;
} nt;

static INIT_ONCE nt_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK load_nt(PINIT_ONCE once, PVOID parameter, PVOID *context) {
    (void)once, (void)parameter, (void)context;
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    if (ntdll == NULL) return FALSE;
    /* The double cast keeps -Wcast-function-type quiet: FARPROC and these types only share a calling convention. */
    nt.create_file = (nt_create_file_fn)(void (*)(void))GetProcAddress(ntdll, "NtCreateFile");
    nt.device_io_control_file =
        (nt_device_io_control_file_fn)(void (*)(void))GetProcAddress(ntdll, "NtDeviceIoControlFile");
    nt.cancel_io_file_ex = (nt_cancel_io_file_ex_fn)(void (*)(void))GetProcAddress(ntdll, "NtCancelIoFileEx");
    nt.status_to_dos_error =
        (rtl_nt_status_to_dos_error_fn)(void (*)(void))GetProcAddress(ntdll, "RtlNtStatusToDosError");
    return nt.create_file && nt.device_io_control_file && nt.cancel_io_file_ex && nt.status_to_dos_error;
}

static int nt_errno(NTSTATUS status) { return -cw_win_errno(nt.status_to_dos_error(status)); }

#define BUCKETS 1024

typedef struct sock_state {
    IO_STATUS_BLOCK iosb; /* written by the kernel until the request completes */
    afd_poll_info info;
    SOCKET socket;
    HANDLE base;
    uint64_t token;
    int interest;
    ULONG polled; /* the events of the request in flight */
    int pending, queued, deleted;
    struct sock_state *next_in_bucket, *next_queued;
} sock_state;

struct cw_poller {
    HANDLE port;
    HANDLE afd;
    sock_state *buckets[BUCKETS];
    sock_state *queue; /* states to (re)submit or cancel before the next wait */
    long pending;      /* requests in flight, removed sockets' included */
};

int cw_poller_backend(void) { return CW_BACKEND_IOCP; }

static size_t bucket_of(SOCKET socket) { return ((size_t)socket >> 2) % BUCKETS; }

static sock_state *find(cw_poller *poller, SOCKET socket) {
    for (sock_state *s = poller->buckets[bucket_of(socket)]; s != NULL; s = s->next_in_bucket) {
        if (s->socket == socket) return s;
    }
    return NULL;
}

static void unlink_state(cw_poller *poller, sock_state *state) {
    sock_state **at = &poller->buckets[bucket_of(state->socket)];
    while (*at != state) at = &(*at)->next_in_bucket;
    *at = state->next_in_bucket;
}

static void enqueue(cw_poller *poller, sock_state *state) {
    if (state->queued) return;
    state->queued = 1;
    state->next_queued = poller->queue;
    poller->queue = state;
}

/* A removed state is freed once no request of it is in flight and the queue no longer holds it. */
static void free_if_done(sock_state *state) {
    if (state->deleted && !state->pending && !state->queued) free(state);
}

static ULONG afd_events(int interest) {
    /* Hang-up and failure are watched whatever the interest, as epoll always reports EPOLLHUP/EPOLLERR. */
    ULONG events = AFD_POLL_DISCONNECT | AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE | AFD_POLL_CONNECT_FAIL;
    if (interest & CW_INTEREST_READ) events |= AFD_POLL_RECEIVE | AFD_POLL_ACCEPT;
    if (interest & CW_INTEREST_WRITE) events |= AFD_POLL_SEND;
    return events;
}

static int submit(cw_poller *poller, sock_state *state) {
    state->info.timeout.QuadPart = INT64_MAX;
    state->info.handle_count = 1;
    state->info.exclusive = FALSE;
    state->info.handles[0].handle = state->base;
    state->info.handles[0].events = afd_events(state->interest);
    state->info.handles[0].status = 0;
    state->iosb.Status = STATUS_PENDING;
    NTSTATUS status = nt.device_io_control_file(poller->afd, NULL, NULL, state, &state->iosb, CW_IOCTL_AFD_POLL,
                                                &state->info, sizeof(state->info), &state->info,
                                                sizeof(state->info));
    if (status != STATUS_PENDING && !NT_SUCCESS(status)) return nt_errno(status);
    state->polled = state->info.handles[0].events;
    state->pending = 1;
    poller->pending++;
    return 0;
}

static void cancel(cw_poller *poller, sock_state *state) {
    IO_STATUS_BLOCK ignored;
    /* STATUS_NOT_FOUND: it completed meanwhile, and that completion is on its way to the port. */
    (void)nt.cancel_io_file_ex(poller->afd, &state->iosb, &ignored);
}

int cw_poller_create(cw_poller **out) {
    if (!InitOnceExecuteOnce(&nt_once, load_nt, NULL, NULL)) return -ENOSYS;
    int rc = cw_net_init();
    if (rc < 0) return rc;
    cw_poller *poller = calloc(1, sizeof(*poller));
    if (poller == NULL) return -ENOMEM;
    poller->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    if (poller->port == NULL) {
        rc = -cw_win_errno(GetLastError());
        free(poller);
        return rc;
    }
    /* Any name under \Device\Afd opens the driver; it only serves as the target of the poll requests. */
    static const WCHAR name[] = L"\\Device\\Afd\\Capwire";
    UNICODE_STRING path = {sizeof(name) - sizeof(WCHAR), sizeof(name), (PWSTR)name};
    OBJECT_ATTRIBUTES attributes;
    InitializeObjectAttributes(&attributes, &path, 0, NULL, NULL);
    IO_STATUS_BLOCK iosb;
    NTSTATUS status = nt.create_file(&poller->afd, SYNCHRONIZE, &attributes, &iosb, NULL, 0,
                                     FILE_SHARE_READ | FILE_SHARE_WRITE, FILE_OPEN, 0, NULL, 0);
    if (!NT_SUCCESS(status)) {
        rc = nt_errno(status);
    } else if (CreateIoCompletionPort(poller->afd, poller->port, 0, 0) == NULL ||
               !SetFileCompletionNotificationModes(poller->afd, FILE_SKIP_SET_EVENT_ON_HANDLE)) {
        rc = -cw_win_errno(GetLastError());
        CloseHandle(poller->afd);
    }
    if (rc < 0) {
        CloseHandle(poller->port);
        free(poller);
        return rc;
    }
    *out = poller;
    return 0;
}

int cw_poller_add(cw_poller *poller, cw_fd fd, int interest, uint64_t token) {
    SOCKET socket = CW_SOCKET(fd);
    if (socket == INVALID_SOCKET) return -EBADF;
    if (find(poller, socket) != NULL) return -EEXIST;
    /* The base provider's socket: a layered provider's handle would not reach AFD. */
    SOCKET base = INVALID_SOCKET;
    DWORD returned;
    if (WSAIoctl(socket, SIO_BASE_HANDLE, NULL, 0, &base, sizeof(base), &returned, NULL, NULL) != 0) {
        int err = CW_NET_ERROR();
        if (err == -ENOTSOCK) return -EBADF;
        base = socket;
    }
    sock_state *state = calloc(1, sizeof(*state));
    if (state == NULL) return -ENOMEM;
    state->socket = socket;
    state->base = (HANDLE)base;
    state->token = token;
    state->interest = interest;
    size_t bucket = bucket_of(socket);
    state->next_in_bucket = poller->buckets[bucket];
    poller->buckets[bucket] = state;
    enqueue(poller, state);
    return 0;
}

int cw_poller_modify(cw_poller *poller, cw_fd fd, int interest, uint64_t token) {
    sock_state *state = find(poller, CW_SOCKET(fd));
    if (state == NULL) return -ENOENT;
    state->token = token;
    if (state->interest != interest || !state->pending) {
        state->interest = interest;
        enqueue(poller, state);
    }
    return 0;
}

int cw_poller_remove(cw_poller *poller, cw_fd fd) {
    sock_state *state = find(poller, CW_SOCKET(fd));
    if (state == NULL) return -ENOENT;
    unlink_state(poller, state);
    state->deleted = 1;
    if (state->pending) cancel(poller, state);
    free_if_done(state);
    return 0;
}

/* Submits or cancels what the queue holds; a socket whose request cannot be made is reported as failed. */
static int flush(cw_poller *poller, cw_event *events, int max_events) {
    int written = 0;
    sock_state *state = poller->queue;
    poller->queue = NULL;
    while (state != NULL) {
        sock_state *next = state->next_queued;
        state->queued = 0;
        if (state->deleted) {
            free_if_done(state);
        } else if (state->pending) {
            /* A request for other events: cancel it; its completion queues the state again. */
            if (state->polled != afd_events(state->interest)) cancel(poller, state);
        } else if (submit(poller, state) < 0) {
            if (written < max_events) {
                events[written].token = state->token;
                events[written].ready = CW_READY_ERROR;
                events[written].reserved = 0;
                written++;
            } else {
                enqueue(poller, state); /* report it at the next wait */
            }
        }
        state = next;
    }
    return written;
}

/* The ready bits of a completed request (0 for none), after which the socket is queued for its next one. */
static uint32_t complete(cw_poller *poller, sock_state *state) {
    state->pending = 0;
    poller->pending--;
    if (state->deleted) {
        free_if_done(state);
        return 0;
    }
    NTSTATUS status = state->iosb.Status;
    if (status == STATUS_CANCELLED) {
        enqueue(poller, state);
        return 0;
    }
    if (!NT_SUCCESS(status)) {
        enqueue(poller, state);
        return CW_READY_ERROR;
    }
    ULONG events = state->info.handle_count >= 1 ? state->info.handles[0].events : 0;
    if (events & AFD_POLL_LOCAL_CLOSE) {
        /* The socket was closed while registered; like epoll, forget it. */
        unlink_state(poller, state);
        state->deleted = 1;
        free_if_done(state);
        return 0;
    }
    enqueue(poller, state);
    uint32_t ready = 0;
    if ((events & (AFD_POLL_RECEIVE | AFD_POLL_ACCEPT)) && (state->interest & CW_INTEREST_READ)) ready |= CW_READY_READ;
    if ((events & AFD_POLL_SEND) && (state->interest & CW_INTEREST_WRITE)) ready |= CW_READY_WRITE;
    if (events & AFD_POLL_DISCONNECT) {
        ready |= CW_READY_HANGUP;
        if (state->interest & CW_INTEREST_READ) ready |= CW_READY_READ; /* the EOF is read through read */
    }
    if (events & AFD_POLL_ABORT) ready |= CW_READY_HANGUP | CW_READY_ERROR;
    if (events & AFD_POLL_CONNECT_FAIL) ready |= CW_READY_ERROR | CW_READY_HANGUP;
    return ready;
}

int cw_poller_wait(cw_poller *poller, cw_event *events, int max_events, int timeout_ms) {
    if (max_events <= 0 || max_events > 4096) return -EINVAL;
    int capacity = max_events > 256 ? 256 : max_events;
    OVERLAPPED_ENTRY entries[256];
    ULONGLONG deadline = timeout_ms < 0 ? 0 : GetTickCount64() + (ULONGLONG)timeout_ms;
    for (;;) {
        int written = flush(poller, events, capacity);
        if (written > 0) return written;
        DWORD wait = INFINITE;
        if (timeout_ms >= 0) {
            ULONGLONG now = GetTickCount64();
            wait = now >= deadline ? 0 : (DWORD)(deadline - now);
        }
        ULONG removed = 0;
        if (!GetQueuedCompletionStatusEx(poller->port, entries, (ULONG)capacity, &removed, wait, FALSE)) {
            DWORD err = GetLastError();
            return err == WAIT_TIMEOUT ? 0 : -cw_win_errno(err);
        }
        int woken = 0;
        for (ULONG i = 0; i < removed; i++) {
            if (entries[i].lpOverlapped == NULL) {
                woken = 1;
                continue;
            }
            sock_state *state = (sock_state *)(void *)entries[i].lpOverlapped;
            uint32_t ready = complete(poller, state);
            if (ready == 0) continue;
            events[written].token = state->token;
            events[written].ready = ready;
            events[written].reserved = 0;
            written++;
        }
        /* Only cancellations and quiet completions came: keep waiting for the rest of the timeout. */
        if (written > 0 || woken || (timeout_ms >= 0 && GetTickCount64() >= deadline)) return written;
    }
}

int cw_poller_wake(cw_poller *poller) {
    return PostQueuedCompletionStatus(poller->port, 0, 0, NULL) ? 0 : -cw_win_errno(GetLastError());
}

int cw_poller_close(cw_poller *poller) {
    if (poller == NULL) return -EBADF;
    for (sock_state *state = poller->queue; state != NULL;) {
        sock_state *next = state->next_queued;
        state->queued = 0;
        free_if_done(state);
        state = next;
    }
    poller->queue = NULL;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (sock_state *state = poller->buckets[b]; state != NULL;) {
            sock_state *next = state->next_in_bucket;
            state->deleted = 1;
            if (state->pending) cancel(poller, state);
            free_if_done(state);
            state = next;
        }
    }
    /* The kernel writes each request's status block until it completes: wait for every one before freeing. */
    OVERLAPPED_ENTRY entries[64];
    while (poller->pending > 0) {
        ULONG removed = 0;
        if (!GetQueuedCompletionStatusEx(poller->port, entries, 64, &removed, 1000, FALSE)) break;
        for (ULONG i = 0; i < removed; i++) {
            if (entries[i].lpOverlapped != NULL) complete(poller, (sock_state *)(void *)entries[i].lpOverlapped);
        }
    }
    /* Requests that never completed (none should) keep their few bytes: freeing them could corrupt memory. */
    CloseHandle(poller->afd);
    int rc = CloseHandle(poller->port) ? 0 : -cw_win_errno(GetLastError());
    free(poller);
    return rc;
}
#endif
