package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(LeakCheck.class)
class PollerTest {
    /** Tokens are opaque 64-bit values: use ones that would be mangled by any 32-bit or sign slip. */
    private static final long READABLE = 0x1111_0000_0000_0001L;
    private static final long WRITABLE = -2L;
    private static final long HUNG_UP = Long.MIN_VALUE + 3;
    private static final long RENAMED = 0x7fff_ffff_0000_0004L;

    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    @Test
    void readableWritableAndHangUpArriveEachForItsOwnToken() throws Exception {
        try (SocketPair pair = new SocketPair(); Pipes pipe = new Pipes(1);
                ConnectedChild doomed = ConnectedChild.over(SocketDirFactory.socketIn(dir, "hup.sock"));
                Poller poller = new Poller(8)) {
            poller.add(number(pair.second.fd()), Native.INTEREST_READ, READABLE);
            poller.add(number(pipe.writeEnd(0)), Native.INTEREST_WRITE, WRITABLE);
            poller.add(number(doomed.accepted.fd()), Native.INTEREST_READ, HUNG_UP);
            assertEquals(Map.of(WRITABLE, Native.READY_WRITE), events(poller, 0), "only the pipe has room yet");

            Io.writeFully(pair.first.fd(), "x");
            doomed.child.kill(); // returns once the child is gone, and with it its end of the socket
            Map<Long, Integer> events = events(poller, (int) Io.TIMEOUT_MS);

            assertEquals(Native.READY_READ, events.get(READABLE));
            assertEquals(Native.READY_WRITE, events.get(WRITABLE));
            assertTrue((events.get(HUNG_UP) & Native.READY_HANGUP) != 0, "hang-up bits: " + events.get(HUNG_UP));
        }
    }

    @Test
    void modifyChangesInterestAndTokenAndRemoveStopsEvents() throws Exception {
        try (SocketPair pair = new SocketPair(); Pipes pipe = new Pipes(1); Poller poller = new Poller(8)) {
            long readerFd = number(pair.second.fd());
            long pipeFd = number(pipe.writeEnd(0));
            Io.writeFully(pair.first.fd(), "x");
            poller.add(readerFd, Native.INTEREST_READ, READABLE);
            poller.add(pipeFd, Native.INTEREST_WRITE, WRITABLE);
            assertEquals(Map.of(READABLE, Native.READY_READ, WRITABLE, Native.READY_WRITE), events(poller, 0));

            poller.modify(pipeFd, Native.INTEREST_READ, WRITABLE); // a pipe's write end is never readable
            assertEquals(Map.of(READABLE, Native.READY_READ), events(poller, 0));

            poller.modify(readerFd, Native.INTEREST_READ, RENAMED);
            assertEquals(Map.of(RENAMED, Native.READY_READ), events(poller, 0));

            poller.remove(readerFd);
            assertEquals(Map.of(), events(poller, 0), "removed, though its byte is still unread");

            poller.modify(pipeFd, Native.INTEREST_WRITE, WRITABLE);
            assertEquals(Map.of(WRITABLE, Native.READY_WRITE), events(poller, 0));

            NativeIoException twice = assertThrows(NativeIoException.class, () -> poller.remove(readerFd));
            assertEquals("ENOENT", twice.errnoName());
            assertEquals("epoll_ctl(remove)(fd " + readerFd + ") failed: ENOENT", twice.getMessage());
            assertEquals("EEXIST", assertThrows(NativeIoException.class,
                    () -> poller.add(pipeFd, Native.INTEREST_READ, 1)).errnoName());
            assertThrows(IndexOutOfBoundsException.class, () -> poller.token(1));
        }
    }

    @Test
    void aBlockedWaitReturnsWhenWokenFromAnotherThread() throws Exception {
        try (Poller poller = new Poller(4)) {
            CountDownLatch waiting = new CountDownLatch(1);
            ExecutorService waiter = Executors.newSingleThreadExecutor();
            try {
                Future<Integer> wait = waiter.submit(() -> {
                    waiting.countDown();
                    return poller.await(-1);
                });
                waiting.await();
                Thread.sleep(50); // let the waiter get into epoll_wait (were it not, the wake still must count)
                poller.wake();
                assertEquals(0, wait.get(Io.TIMEOUT_MS, TimeUnit.MILLISECONDS), "woken, no events");
            } finally {
                stop(waiter, poller);
            }
        }
    }

    @Test
    void aWakeBeforeTheWaitMakesTheNextWaitReturnOnce() throws Exception {
        try (Poller poller = new Poller(4)) {
            poller.wake();
            poller.wake(); // wakes coalesce into one
            ExecutorService waiter = Executors.newSingleThreadExecutor();
            try {
                assertEquals(0, waiter.submit(() -> poller.await(-1)).get(Io.TIMEOUT_MS, TimeUnit.MILLISECONDS));
            } finally {
                stop(waiter, poller);
            }
            assertEquals(0, poller.await(0), "the wake was used up");
        }
    }

    @Test
    void wakeAndCloseAfterCloseAreHarmless() throws Exception {
        Poller poller = new Poller(4);
        poller.close();
        assertDoesNotThrow(poller::wake);
        assertDoesNotThrow(poller::close);
    }

    /**
     * Closing frees the native poller, so a stale call must fail in Java: passed to C, it would read freed
     * memory, whose fd fields may by then be garbage or a newer poller's.
     */
    @Test
    void everyOwnerMethodOnAClosedPollerFailsAndCannotReachANewerOne() throws Exception {
        try (Pipes pipe = new Pipes(1)) {
            long fd = number(pipe.writeEnd(0));
            Poller closed = new Poller(4);
            closed.close();
            try (Poller newer = new Poller(4)) {
                assertThrows(IllegalStateException.class, () -> closed.add(fd, Native.INTEREST_WRITE, 1));
                assertThrows(IllegalStateException.class, () -> closed.modify(fd, Native.INTEREST_WRITE, 1));
                assertThrows(IllegalStateException.class, () -> closed.remove(fd));
                assertThrows(IllegalStateException.class, () -> closed.await(0));
                assertEquals(Map.of(), events(newer, 0), "nothing was registered through the closed poller");
            }
        }
    }

    /** Makes sure a waiter thread stuck by a failed test does not outlive it, without closing under it. */
    private static void stop(ExecutorService waiter, Poller poller) throws Exception {
        poller.wake();
        waiter.shutdown();
        assertTrue(waiter.awaitTermination(Io.TIMEOUT_MS, TimeUnit.MILLISECONDS), "the waiter never returned");
    }

    /** The raw number of an fd that stays open for the test (the poller does not own what it watches). */
    private static long number(FileDescriptor fd) throws NativeIoException {
        long number = fd.acquire();
        fd.release();
        return number;
    }

    private static Map<Long, Integer> events(Poller poller, int timeoutMs) throws NativeIoException {
        int count = poller.await(timeoutMs);
        Map<Long, Integer> events = new HashMap<>();
        for (int i = 0; i < count; i++) {
            Integer previous = events.put(poller.token(i), poller.ready(i));
            assertEquals(null, previous, "one event per token and wait");
        }
        return events;
    }
}
