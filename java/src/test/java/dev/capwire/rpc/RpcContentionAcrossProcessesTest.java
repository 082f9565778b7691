package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.waitFor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.capwire.Configuration;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.StatusCode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * RPC against a child JVM ({@link RpcServerMain}) when more than one thing happens at once: many threads opening
 * streams on one connection, a stream's cap revoked while it runs, and more blocking calls than the server has
 * handler threads.
 */
class RpcContentionAcrossProcessesTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwstr");

    /**
     * Each thread's stream call takes its stream id before it sends, so two threads' calls may reach the server in
     * the other order: the server must take any id not open, not only one above the last.
     */
    @Test
    void streamsOpenedByManyThreadsAtOnceOnOneConnectionAllComplete() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            streamsFromManyThreads(peers.client, peers.peer);
        }
    }

    private static void streamsFromManyThreads(RpcTestClient client, RpcConnection peer) throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        int threads = 8;
        int streamsEach = 200;
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        CountDownLatch go = new CountDownLatch(1);
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            done.add(client.handlers.submit(() -> {
                go.await();
                for (int i = 0; i < streamsEach; i++) {
                    List<Integer> numbers = new ArrayList<>();
                    try {
                        files.tail(TailRequest.newBuilder().setLines(3).build(), line -> numbers.add(line.getNumber()));
                        if (!numbers.equals(List.of(1, 2, 3))) {
                            failures.add("items " + numbers);
                        }
                    } catch (StatusException e) {
                        failures.add(e.code() + " " + e.reason() + ": " + e.detail());
                    }
                }
                return null;
            }));
        }
        go.countDown();
        for (Future<?> thread : done) {
            thread.get(120, TimeUnit.SECONDS);
        }
        assertEquals(List.of(), List.copyOf(failures).subList(0, Math.min(3, failures.size())),
                failures.size() + " of " + threads * streamsEach + " streams failed");
        assertEquals(0, peer.openStreams());
        assertArrayEquals(new byte[] {5}, files.echo(new byte[] {5}), "the connection goes on");
    }

    @Test
    void unservingEndsAStreamInProgressWithUnavailableOnBothSides() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            unserveDuringAStream(peers.client, peers.server, peers.peer);
        }
    }

    private static void unserveDuringAStream(RpcTestClient client, ChildJvm server, RpcConnection peer)
            throws Exception {
        RemoteFiles files = peer.bootstrap(RemoteFiles.class);
        CountDownLatch flowing = new CountDownLatch(1);
        Future<StatusException> consumer = client.handlers.submit(() -> assertThrows(StatusException.class,
                () -> files.tail(TailRequest.newBuilder().setLines(0).build(), line -> flowing.countDown())));
        assertTrue(flowing.await(10, TimeUnit.SECONDS), "the endless stream started");
        server.send("unserve");
        StatusException why = consumer.get(10, TimeUnit.SECONDS);
        assertEquals(StatusCode.UNAVAILABLE, why.code());
        assertEquals("revoked: unserve", why.reason());
        String stopped = server.expect("STREAM-STOPPED", 10);
        assertTrue(stopped.endsWith("UNAVAILABLE revoked: unserve"), "the producer saw why: " + stopped);
        assertEquals(0, peer.openStreams());
        waitFor(() -> peer.importCount() == 0, "the revoked import to be released");
    }

    /**
     * The server's handler pool (the default; named here so that it holds on Java 21+ whatever the default) has
     * two threads, both held by blocking calls: a third call is refused at once, its fd argument closed on the
     * server, and once a thread is free again calls are served.
     */
    @Test
    void aCallThatFindsEveryHandlerThreadBusyIsRefusedAndItsFdClosed() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR, "-D" + Configuration.RPC_HANDLER_THREADS_PROP_NAME + "=2",
                "-D" + Configuration.RPC_VIRTUAL_THREADS_PROP_NAME + "=false")) {
            RemoteFiles files = peers.peer.bootstrap(RemoteFiles.class);
            List<CompletableFuture<StatReply>> held = new ArrayList<>();
            for (String tag : List.of("t1", "t2")) {
                held.add(files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000).setTag(tag).build()));
                peers.server.expect("HOLDING " + tag, 10);
            }
            long fdsBefore = serverFds(peers);
            FileDescriptor[] pipe = FileDescriptor.pipe();
            try {
                StatusException busy = assertThrows(StatusException.class, () -> files.readFd(pipe[0]));
                assertEquals(StatusCode.RESOURCE_EXHAUSTED, busy.code());
                assertEquals("handler.executor", busy.reason());
            } finally {
                pipe[0].close();
                pipe[1].close();
            }
            assertEquals(fdsBefore, serverFds(peers), "the refused call's fd was closed on the server");
            held.get(0).cancel(true);
            assertEquals("CANCELLED call.cancelled", peers.server.expect("CANCELLED t1", 10));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (true) { // the cancelled handler's thread is free a moment after it reported
                try {
                    assertArrayEquals(new byte[] {9}, files.echo(new byte[] {9}));
                    break;
                } catch (StatusException stillBusy) {
                    assertEquals("handler.executor", stillBusy.reason());
                    assertTrue(System.nanoTime() < deadline, "no handler thread came free");
                    Thread.sleep(5);
                }
            }
            held.get(1).cancel(true);
        }
    }

    /**
     * With an executor of the user's that queues (one thread, held by a blocking call), a call waits for its
     * handler; the cap is replaced meanwhile, which answers the call UNAVAILABLE. When the thread comes to the call
     * its handler does not run (it would block reading a pipe whose writer the client keeps open), and its fd
     * argument is closed; the new instance serves.
     */
    @Test
    void aCallRevokedWhileQueuedForItsHandlerNeverRunsAndItsFdIsClosed() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR, "-Drpc.test.oneQueueingHandlerThread=true")) {
            RemoteFiles files = peers.peer.bootstrap(RemoteFiles.class);
            CompletableFuture<StatReply> holder = files.slowAsync(SlowRequest.newBuilder().setHoldMs(30_000)
                    .setTag("q1").build());
            peers.server.expect("HOLDING q1", 10);
            int fdsBefore = (int) serverFds(peers);
            FileDescriptor[] pipe = FileDescriptor.pipe();
            try {
                Future<StatusException> queued = peers.client.handlers.submit(() -> assertThrows(
                        StatusException.class, () -> files.readFd(pipe[0])));
                peers.awaitCount("fds", "FDS", fdsBefore + 1); // the call and its fd arrived, and wait in the queue
                peers.ask("replace", "REPLACED");
                StatusException why = queued.get(10, TimeUnit.SECONDS);
                assertEquals(StatusCode.UNAVAILABLE, why.code());
                assertEquals("revoked: replace", why.reason());
                ExecutionException held = assertThrows(ExecutionException.class,
                        () -> holder.get(10, TimeUnit.SECONDS));
                assertEquals("revoked: replace", ((StatusException) held.getCause()).reason());
                // The holder's handler, cancelled by the revocation, returns; then the thread comes to the call.
                peers.awaitCount("fds", "FDS", fdsBefore); // the queued call's fd, closed unread
            } finally {
                pipe[0].close();
                pipe[1].close();
            }
            RemoteFiles replaced = peers.peer.bootstrap(RemoteFiles.class);
            assertArrayEquals(new byte[] {7}, replaced.echo(new byte[] {7}), "the one handler thread is free");
        }
    }

    /**
     * A client process killed (SIGKILL) in the middle of a call and of a stream, while the server holds a cap of
     * its: the server's handler sees its call cancelled UNAVAILABLE, the stream's producer stops, every export and
     * import of that connection is freed, and another client's connection carries on.
     */
    @Test
    void aClientKilledMidCallAndMidStreamLeavesTheServerCleanAndServingOthers() throws Exception {
        try (ServerAndClient peers = new ServerAndClient(DIR)) {
            RemoteFiles bystander = peers.peer.bootstrap(RemoteFiles.class);
            String endpoint = peers.connection.connection().endpoint().toString();
            try (ChildJvm caller = ChildJvm.start(RpcCallerMain.class, List.of(), endpoint)) {
                caller.expect("CALLING", 30);
                peers.server.expect("STREAM-START files.tail", 10); // the caller waits for items before the call
                peers.server.expect("HOLDING killed", 10);
                peers.awaitCount("imports", "IMPORTS", 1); // the caller's Bouncer
                peers.awaitCount("exports", "EXPORTS", 3); // files for each client, and the caller's bouncer
                caller.kill();
                // Two handler threads report these, in either order.
                Map<String, String> ended = expectEach(peers.server, List.of("CANCELLED killed", "STREAM-END"));
                assertTrue(ended.get("CANCELLED killed").startsWith("UNAVAILABLE"), "the handler saw why: " + ended);
                assertTrue(ended.get("STREAM-END").endsWith("UNAVAILABLE"), "the stream's producer stopped: " + ended);
                peers.awaitCount("imports", "IMPORTS", 0);
                peers.awaitCount("exports", "EXPORTS", 1); // the bystander's files, only
                assertArrayEquals(new byte[] {8}, bystander.echo(new byte[] {8}), "the other client is served");
            }
        }
    }

    /** Reads the child's lines until one has started with each prefix, in any order; the rest of each, by prefix. */
    private static Map<String, String> expectEach(ChildJvm child, List<String> prefixes) throws Exception {
        Map<String, String> found = new HashMap<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (found.size() < prefixes.size()) {
            assertTrue(System.nanoTime() < deadline, "waited for " + prefixes + "; read " + child.transcript());
            String line;
            try {
                line = child.readLine(Math.max(1, TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime())));
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("waited for " + prefixes + "; read " + child.transcript(), e);
            }
            for (String prefix : prefixes) {
                if (line.startsWith(prefix)) {
                    found.putIfAbsent(prefix, line.substring(prefix.length()).trim());
                }
            }
        }
        return found;
    }

    private static long serverFds(ServerAndClient peers) throws Exception {
        return Long.parseLong(peers.ask("fds", "FDS"));
    }
}
