/*
 * Handle passing on Windows (fdpass.c): sockets travel as WSADuplicateSocketW protocol infos inside records
 * that cw_send_fds writes and cw_recv_fds reads. Wine has no AF_UNIX, so the records cross a TCP loopback
 * pair and name this process as the receiver (cw_send_fds_to_pid); a passed socket is proved by moving
 * bytes through it both ways. On other systems this test has nothing to do (test_fdpass covers SCM_RIGHTS).
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

int main(void) {
    cw_test_arm_watchdog();
    RUN(pass_one_socket);
    RUN(several_in_order_and_partial_reads);
    RUN(too_many_handles_are_closed);
    RUN(malformed_and_truncated_records_fail);
    RUN(arguments_and_tcp);
    return 0;
}
#else
int main(void) {
    fprintf(stderr, "handle passing by protocol info is Windows only; test_fdpass covers SCM_RIGHTS here\n");
    return 0;
}
#endif
