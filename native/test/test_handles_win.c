/*
 * Handle passing on Windows (fdpass.c): sockets travel as WSADuplicateSocketW protocol infos, other handles
 * (pipes, files) as DuplicateHandle copies made inside the receiver, in records that cw_send_fds writes and
 * cw_recv_fds reads. Wine has no AF_UNIX, so the records cross a TCP loopback link and name the receiving
 * process themselves (cw_send_fds_to_pid): this process for the cases within one process, and a child
 * process (this executable started again with "child <port>") for the process pair, which uses what it
 * received and exits; the parent proves each handle crossed by what comes out of its own end, and that
 * no copy leaked by reading the end of a pipe. On other systems this test has nothing to do (test_fdpass
 * covers SCM_RIGHTS).
 */
#include "cw_test.h"

#ifdef _WIN32
ssize_t cw_send_fds_to_pid(cw_fd fd, const void *buf, size_t len, const cw_fd *fds, int fd_count, unsigned long pid);

/* cw_recv_fds, waiting (at most 5 s each time) while it says -EAGAIN. */
static ssize_t recv_waiting(cw_fd link, void *buf, size_t len, cw_fd *fds, int max_fds, int *count) {
    for (;;) {
        ssize_t n = cw_recv_fds(link, buf, len, fds, max_fds, count);
        if (n != -EAGAIN) return n;
        CHECK(CHECK_OK(cw_wait_ready(link, CW_INTEREST_READ, 5000)) & (CW_READY_READ | CW_READY_HANGUP));
    }
}

/* The peer of a closed connection reads its end (Wine reports the hang-up alone, without "readable"). */
static void expect_end_of_stream(cw_fd fd) {
    CHECK(CHECK_OK(cw_wait_ready(fd, CW_INTEREST_READ, 5000)) & (CW_READY_READ | CW_READY_HANGUP));
    char byte;
    CHECK_EQ(cw_read(fd, &byte, 1), 0);
}

static ssize_t send_here(cw_fd link, const void *buf, size_t len, const cw_fd *fds, int fd_count) {
    return cw_send_fds_to_pid(link, buf, len, fds, fd_count, GetCurrentProcessId());
}

static void pass_one_socket(void) {
    cw_fd link[2], payload[2];
    cw_test_stream_pair(link);
    cw_test_stream_pair(payload);
    CHECK_EQ(send_here(link[0], "m", 1, &payload[0], 1), 1);

    char byte = 0;
    cw_fd received[4] = {-1, -1, -1, -1};
    int count = -1;
    CHECK_EQ(recv_waiting(link[1], &byte, 1, received, 4, &count), 1);
    CHECK_EQ(byte, 'm');
    CHECK_EQ(count, 1);
    CHECK(received[0] != (cw_fd)-1 && received[0] != payload[0]);
    CHECK_EQ(received[1], -1); /* nothing written past the count */
    DWORD flags = 1;
    CHECK(GetHandleInformation((HANDLE)received[0], &flags));
    CHECK_EQ(flags & HANDLE_FLAG_INHERIT, 0);
    CHECK_OK(cw_close(payload[0])); /* the adopted socket alone keeps that end of the connection */
    cw_test_check_transfer(received[0], payload[1], "through the passed socket");
    cw_test_check_transfer(payload[1], received[0], "and back into it");

    CHECK_OK(cw_close(received[0]));
    /* With both handles closed the connection ends: its peer reads the end of the stream. */
    expect_end_of_stream(payload[1]);
    CHECK_OK(cw_close(payload[1]));
    cw_test_close_pair(link);
}

static void several_in_order_and_partial_reads(void) {
    enum { PAIRS = 3 };
    cw_fd link[2], pairs[PAIRS][2], sent[PAIRS];
    cw_test_stream_pair(link);
    for (int i = 0; i < PAIRS; i++) {
        cw_test_stream_pair(pairs[i]);
        sent[i] = pairs[i][0];
    }
    CHECK_EQ(send_here(link[0], "several", 7, sent, PAIRS), 7);
    CHECK_EQ(send_here(link[0], "plain", 5, NULL, 0), 5);

    /* A short read: the handles come with the record's first bytes, the rest of it with none. */
    char buf[16];
    cw_fd received[8];
    int count = -1;
    CHECK_EQ(recv_waiting(link[1], buf, 3, received, 8, &count), 3);
    CHECK_BYTES(buf, "sev", 3);
    CHECK_EQ(count, PAIRS);
    int more = -1;
    cw_fd none[8];
    CHECK_EQ(recv_waiting(link[1], buf, sizeof(buf), none, 8, &more), 4); /* stops at the record's end */
    CHECK_BYTES(buf, "eral", 4);
    CHECK_EQ(more, 0);
    CHECK_EQ(recv_waiting(link[1], buf, sizeof(buf), none, 8, &more), 5);
    CHECK_BYTES(buf, "plain", 5);
    CHECK_EQ(more, 0);
    CHECK_ERRNO(cw_recv_fds(link[1], buf, sizeof(buf), none, 8, &more), EAGAIN);

    for (int i = 0; i < PAIRS; i++) {
        char text[16];
        snprintf(text, sizeof(text), "pair %d", i); /* distinct text proves each kept its place */
        cw_test_check_transfer(received[i], pairs[i][1], text);
        CHECK_OK(cw_close(received[i]));
        cw_test_close_pair(pairs[i]);
    }
    cw_test_close_pair(link);
}

static void too_many_handles_are_closed(void) {
    cw_fd link[2], payload[2];
    cw_test_stream_pair(link);
    cw_test_stream_pair(payload);
    cw_fd copies[3] = {payload[0], payload[0], payload[0]};
    CHECK_EQ(send_here(link[0], "t", 1, copies, 3), 1);
    char byte = 0;
    cw_fd received[1] = {-1};
    int count = -1;
    CHECK_ERRNO(recv_waiting(link[1], &byte, 1, received, 1, &count), EMSGSIZE);
    CHECK_EQ(count, 0);
    CHECK_EQ(received[0], -1);
    /* Every adopted copy was closed: with the original closed too, the peer sees the end of the stream. */
    CHECK_OK(cw_close(payload[0]));
    expect_end_of_stream(payload[1]);
    /* The record's payload is still read, without handles, and the stream goes on. */
    CHECK_EQ(recv_waiting(link[1], &byte, 1, received, 1, &count), 1);
    CHECK_EQ(byte, 't');
    CHECK_EQ(count, 0);
    CHECK_OK(cw_close(payload[1]));
    cw_test_close_pair(link);
}

static void malformed_and_truncated_records_fail(void) {
    cw_fd link[2];
    char buf[8];
    cw_fd received[4];
    int count = -1;

    /* Bytes that are not a record (a plain write on a record stream). */
    cw_test_stream_pair(link);
    CHECK_EQ(cw_write(link[0], "notarecord", 10), 10);
    CHECK_ERRNO(recv_waiting(link[1], buf, sizeof(buf), received, 4, &count), EIO);
    CHECK_EQ(count, 0);
    cw_test_close_pair(link);

    /* A record announcing one handle whose protocol info is cut short by the end of the stream. */
    cw_test_stream_pair(link);
    unsigned char cut[8 + 100] = {0x43, 0x48, 1, 0, 1, 0, 0, 0};
    CHECK_EQ(cw_write(link[0], cut, sizeof(cut)), sizeof(cut));
    CHECK_OK(cw_close(link[0]));
    CHECK_ERRNO(recv_waiting(link[1], buf, sizeof(buf), received, 4, &count), EIO);
    CHECK_EQ(count, 0);
    CHECK_OK(cw_close(link[1]));

    /* A whole record but its payload missing: the adopted handle is closed, nothing is handed over. */
    cw_fd payload[2];
    cw_test_stream_pair(link);
    cw_test_stream_pair(payload);
    CHECK_EQ(send_here(link[0], "x", 1, &payload[0], 1), 1);
    char byte;
    CHECK_EQ(recv_waiting(link[1], &byte, 1, received, 4, &count), 1); /* this one is whole */
    CHECK_EQ(count, 1);
    CHECK_OK(cw_close(received[0]));
    CHECK_OK(cw_close(payload[0]));
    CHECK_OK(cw_close(payload[1]));
    /* A record header declaring 5 payload bytes of which 2 arrive. */
    unsigned char short_payload[8 + 2] = {0x43, 0x48, 0, 0, 5, 0, 0, 0, 'a', 'b'};
    CHECK_EQ(cw_write(link[0], short_payload, sizeof(short_payload)), sizeof(short_payload));
    CHECK_OK(cw_close(link[0]));
    CHECK_EQ(recv_waiting(link[1], buf, sizeof(buf), received, 4, &count), 2);
    CHECK_ERRNO(recv_waiting(link[1], buf, sizeof(buf), received, 4, &count), EIO);
    CHECK_OK(cw_close(link[1]));
}

static void arguments_and_tcp(void) {
    cw_fd link[2];
    cw_test_stream_pair(link);
    char byte;
    cw_fd received[1];
    int count;
    CHECK_ERRNO(send_here(link[0], "x", 0, &link[0], 1), EINVAL);  /* handles need a byte to travel with */
    CHECK_ERRNO(send_here(link[0], "x", 1, &link[0], 254), EINVAL);
    CHECK_ERRNO(cw_recv_fds(link[1], &byte, 1, received, 254, &count), EINVAL);
    /* TCP has no peer pid to duplicate for: cw_send_fds passes handles over AF_UNIX only. */
    CHECK_ERRNO(cw_send_fds(link[0], "x", 1, &link[0], 1), EOPNOTSUPP);
    /* Without handles it still writes a record, which the peer reads as one byte. */
    CHECK_EQ(cw_send_fds(link[0], "y", 1, NULL, 0), 1);
    CHECK_EQ(recv_waiting(link[1], &byte, 1, received, 1, &count), 1);
    CHECK_EQ(byte, 'y');
    CHECK_EQ(count, 0);
    cw_test_close_pair(link);
}

/* A pipe made here, neither end inheritable (the child gets its ends through records only). */
static void make_pipe(HANDLE *read_end, HANDLE *write_end) {
    CHECK(CreatePipe(read_end, write_end, NULL, 0));
}

/* Reads exactly len bytes from a pipe or file handle. */
static void read_handle_exactly(HANDLE handle, char *buf, DWORD len) {
    DWORD done = 0;
    while (done < len) {
        DWORD n = 0;
        CHECK(ReadFile(handle, buf + done, len - done, &n, NULL));
        CHECK(n > 0);
        done += n;
    }
}

/* Every write end of the pipe is closed: a read ends with ERROR_BROKEN_PIPE (it would block on a leaked copy). */
static void expect_pipe_end(HANDLE read_end) {
    char byte;
    DWORD n = 0;
    CHECK(!ReadFile(read_end, &byte, 1, &n, NULL));
    CHECK_EQ(GetLastError(), ERROR_BROKEN_PIPE);
}

static void write_handle(HANDLE handle, const char *text) {
    DWORD n = 0;
    CHECK(WriteFile(handle, text, (DWORD)strlen(text), &n, NULL));
    CHECK_EQ(n, strlen(text));
}

/* A non-socket handle crosses within one process too; more than the receiver takes are all closed. */
static void pipe_handle_within_process(void) {
    cw_fd link[2];
    cw_test_stream_pair(link);
    HANDLE read_end, write_end;
    make_pipe(&read_end, &write_end);
    CHECK_EQ(send_here(link[0], "p", 1, (const cw_fd *)&write_end, 1), 1);
    char byte = 0;
    cw_fd received[2] = {-1, -1};
    int count = -1;
    CHECK_EQ(recv_waiting(link[1], &byte, 1, received, 2, &count), 1);
    CHECK_EQ(count, 1);
    CHECK(received[0] != (cw_fd)write_end);
    CHECK_EQ(cw_fd_flags(received[0]), 1); /* not inheritable */
    CHECK_OK(cw_close((cw_fd)write_end));
    write_handle((HANDLE)received[0], "through the copy");
    char text[16];
    read_handle_exactly(read_end, text, 16);
    CHECK_BYTES(text, "through the copy", 16);
    CHECK_OK(cw_close(received[0]));
    expect_pipe_end(read_end);
    CloseHandle(read_end);

    /* Two copies where the receiver takes one: both are closed, the pipe ends once ours is closed too. */
    make_pipe(&read_end, &write_end);
    cw_fd copies[2] = {(cw_fd)write_end, (cw_fd)write_end};
    CHECK_EQ(send_here(link[0], "q", 1, copies, 2), 1);
    CHECK_ERRNO(recv_waiting(link[1], &byte, 1, received, 1, &count), EMSGSIZE);
    CHECK_EQ(count, 0);
    CHECK_EQ(recv_waiting(link[1], &byte, 1, received, 1, &count), 1);
    CHECK_EQ(byte, 'q');
    CHECK_OK(cw_close((cw_fd)write_end));
    expect_pipe_end(read_end);
    CloseHandle(read_end);

    /* cw_dup copies a non-socket handle too (the Java transport duplicates what it sends). */
    make_pipe(&read_end, &write_end);
    cw_fd copy = (cw_fd)CHECK_OK(cw_dup((cw_fd)write_end));
    CHECK(copy != (cw_fd)write_end);
    CHECK_EQ(cw_fd_flags(copy), 1);
    CHECK_OK(cw_close((cw_fd)write_end));
    write_handle((HANDLE)copy, "dup");
    read_handle_exactly(read_end, text, 3);
    CHECK_BYTES(text, "dup", 3);
    CHECK_OK(cw_close(copy));
    expect_pipe_end(read_end);
    CloseHandle(read_end);
    cw_test_close_pair(link);
}

/* A record whose second handle cannot be duplicated is not sent, and the copy made for the first is taken back. */
static void failed_send_takes_copies_back(void) {
    cw_fd link[2];
    cw_test_stream_pair(link);
    HANDLE read_end, write_end;
    make_pipe(&read_end, &write_end);
    cw_fd handles[2] = {(cw_fd)write_end, (cw_fd)0x7ffffff0}; /* no such handle */
    CHECK_ERRNO(send_here(link[0], "x", 1, handles, 2), EBADF);
    CHECK_ERRNO(cw_recv_fds(link[1], (char[1]){0}, 1, handles, 2, (int[1]){0}), EAGAIN); /* nothing was sent */
    CHECK_OK(cw_close((cw_fd)write_end));
    expect_pipe_end(read_end); /* no copy of the write end is left anywhere */
    CloseHandle(read_end);
    cw_test_close_pair(link);
}

/*
 * The process pair. The child connects to the parent's port, reads records until the link ends and uses
 * what each brought: "p" a pipe's write end, "m" a pipe's write end, a file and a socket, in that order.
 */
static int child_main(int port) {
    cw_fd link = cw_test_connect_loopback(port);
    cw_test_connected(link);
    for (;;) {
        char what = 0;
        cw_fd received[4] = {-1, -1, -1, -1};
        int count = -1;
        ssize_t n = recv_waiting(link, &what, 1, received, 4, &count);
        if (n == 0) break; /* the parent ended the link */
        CHECK_EQ(n, 1);
        for (int i = 0; i < count; i++) CHECK_EQ(cw_fd_flags(received[i]), 1); /* none inheritable */
        if (what == 'p') {
            CHECK_EQ(count, 1);
            write_handle((HANDLE)received[0], "pipe from the child");
        } else {
            CHECK_EQ(what, 'm');
            CHECK_EQ(count, 3);
            write_handle((HANDLE)received[0], "m-pipe");
            write_handle((HANDLE)received[1], "m-file");
            CHECK_EQ(cw_write(received[2], "m-sock", 6), 6);
        }
        for (int i = 0; i < count; i++) CHECK_OK(cw_close(received[i]));
    }
    CHECK_OK(cw_close(link));
    return 0;
}

static void process_pair(void) {
    int port;
    cw_fd listener = cw_test_loopback_listener(&port);

    wchar_t exe[MAX_PATH], command[MAX_PATH + 64];
    DWORD exe_len = GetModuleFileNameW(NULL, exe, MAX_PATH);
    CHECK(exe_len > 0 && exe_len < MAX_PATH);
    swprintf(command, MAX_PATH + 64, L"\"%ls\" child %d", exe, port);
    STARTUPINFOW startup = {.cb = sizeof(startup)};
    PROCESS_INFORMATION child;
    CHECK(CreateProcessW(exe, command, NULL, NULL, FALSE, 0, NULL, NULL, &startup, &child));
    CloseHandle(child.hThread);
    CHECK(CHECK_OK(cw_wait_ready(listener, CW_INTEREST_READ, 10000)) & CW_READY_READ);
    cw_fd link = (cw_fd)CHECK_OK(cw_accept(listener));
    CHECK_OK(cw_close(listener));
    unsigned long pid = child.dwProcessId;

    /* A pipe's write end alone: ours is closed once sent, so the child's copy is the only one left. */
    HANDLE read_end, write_end;
    make_pipe(&read_end, &write_end);
    CHECK_EQ(cw_send_fds_to_pid(link, "p", 1, (const cw_fd *)&write_end, 1, pid), 1);
    CHECK_OK(cw_close((cw_fd)write_end));
    char text[32];
    read_handle_exactly(read_end, text, 19);
    CHECK_BYTES(text, "pipe from the child", 19);
    expect_pipe_end(read_end); /* the child closed its copy, and no other was left behind */
    CloseHandle(read_end);

    /* Three kinds in one record, in order: a pipe's write end, a file open for writing, a socket. */
    make_pipe(&read_end, &write_end);
    char path[MAX_PATH];
    CHECK(GetTempPathA(MAX_PATH, path) > 0);
    size_t path_len = strlen(path);
    snprintf(path + path_len, MAX_PATH - path_len, "capwire-handles-%lu.txt", (unsigned long)GetCurrentProcessId());
    cw_fd file = (cw_fd)CHECK_OK(cw_open(path, strlen(path), 1));
    cw_fd socket_pair[2];
    cw_test_stream_pair(socket_pair);
    cw_fd sent[3] = {(cw_fd)write_end, file, socket_pair[0]};
    CHECK_EQ(cw_send_fds_to_pid(link, "m", 1, sent, 3, pid), 1);
    for (int i = 0; i < 3; i++) CHECK_OK(cw_close(sent[i]));
    read_handle_exactly(read_end, text, 6);
    CHECK_BYTES(text, "m-pipe", 6);
    expect_pipe_end(read_end);
    CloseHandle(read_end);
    cw_test_read_exactly(socket_pair[1], text, 6);
    CHECK_BYTES(text, "m-sock", 6);
    expect_end_of_stream(socket_pair[1]); /* the child's socket was the last handle of that end */
    CHECK_OK(cw_close(socket_pair[1]));

    /* A record that cannot go out whole (the link is shut for sending) takes its copy back from the child. */
    make_pipe(&read_end, &write_end);
    CHECK_OK(cw_shutdown(link, 0, 1));
    ssize_t refused = cw_send_fds_to_pid(link, "p", 1, (const cw_fd *)&write_end, 1, pid);
    CHECK(refused < 0);
    CHECK_OK(cw_close((cw_fd)write_end));
    expect_pipe_end(read_end);
    CloseHandle(read_end);

    /* The child read the end of the link and exits with its checks passed. */
    CHECK_EQ(WaitForSingleObject(child.hProcess, 10000), WAIT_OBJECT_0);
    DWORD status = 1;
    CHECK(GetExitCodeProcess(child.hProcess, &status));
    CHECK_EQ(status, 0);
    CloseHandle(child.hProcess);
    CHECK_OK(cw_close(link));

    /* The file holds what the child wrote through the handle it got (its copy is closed: it exited). */
    cw_fd readable = (cw_fd)CHECK_OK(cw_open(path, strlen(path), 0));
    read_handle_exactly((HANDLE)readable, text, 6);
    CHECK_BYTES(text, "m-file", 6);
    CHECK_OK(cw_close(readable));
    CHECK(DeleteFileA(path));
}

int main(int argc, char **argv) {
    cw_test_arm_watchdog();
    if (argc == 3 && strcmp(argv[1], "child") == 0) return child_main(atoi(argv[2]));
    RUN(pass_one_socket);
    RUN(several_in_order_and_partial_reads);
    RUN(too_many_handles_are_closed);
    RUN(malformed_and_truncated_records_fail);
    RUN(arguments_and_tcp);
    RUN(pipe_handle_within_process);
    RUN(failed_send_takes_copies_back);
    RUN(process_pair);
    return 0;
}
#else
int main(void) {
    fprintf(stderr, "handle passing by protocol info is Windows only; test_fdpass covers SCM_RIGHTS here\n");
    return 0;
}
#endif
