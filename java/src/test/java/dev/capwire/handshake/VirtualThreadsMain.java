package dev.capwire.handshake;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.EchoServerMain;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.StatusCode;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Run by {@link VirtualThreadsTest} on a Java 21+ JVM with two carrier threads: application work on virtual
 * threads must never hold a carrier while it waits. Compiled for 17, so virtual threads are reached by
 * reflection. Three kinds of wait: many blocking call() round trips (a reply), handshakes with a server that
 * never answers (the handshake's wait), sendNotify into a peer that never reads (ring space). During each, a
 * ticker virtual thread sleeps 5 ms at a time and records its longest gap: a carrier held by a thread
 * waiting in a native call shows as a gap as long as that wait. JFR records every jdk.VirtualThreadPinned
 * event. Prints {@code RESULT key value} lines, then {@code DONE}.
 */
public final class VirtualThreadsMain {
    private static final AtomicLong maxGapNanos = new AtomicLong();
    private static volatile boolean ticking = true;

    private VirtualThreadsMain() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        ExecutorService virtual = (ExecutorService) Executors.class.getMethod("newVirtualThreadPerTaskExecutor")
                .invoke(null);
        Recording recording = new Recording();
        recording.enable("jdk.VirtualThreadPinned").withoutThreshold().withStackTrace();
        try (Transport transport = Transport.create(TransportOptions.builder().eventLoops(2).build());
                HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                        .service(Service.builder("echo", "1.4.0", FrameListener.offLoop(EchoServerMain::echo)).build())
                        .build()) {
            Endpoint echo = server.listen(Endpoint.unix(dir.resolve("echo"))).endpoint();
            // Every path once on platform threads first: a virtual thread that loads or initializes a class
            // is pinned meanwhile (a JDK rule), and that is no wait of Capwire's.
            ExecutorService platform = Executors.newCachedThreadPool();
            roundTrips(transport, echo, platform, 4, "warm");
            silentHandshakes(transport, dir, platform, "warm");
            fullRing(dir, platform, "warm");
            platform.shutdown();
            recording.start();
            virtual.submit(VirtualThreadsMain::tick);
            roundTrips(transport, echo, virtual, 1000, "");
            silentHandshakes(transport, dir, virtual, "");
            fullRing(dir, virtual, "");
        }
        ticking = false;
        virtual.shutdown();
        virtual.awaitTermination(10, TimeUnit.SECONDS);
        recording.stop();
        Path jfr = dir.resolve("pinned.jfr");
        recording.dump(jfr);
        int pinned = 0;
        int inCapwire = 0;
        for (RecordedEvent event : RecordingFile.readAllEvents(jfr)) {
            if (!event.getEventType().getName().equals("jdk.VirtualThreadPinned")) {
                continue;
            }
            pinned++;
            StringBuilder stack = new StringBuilder();
            boolean capwire = false;
            if (event.getStackTrace() != null) {
                for (RecordedFrame frame : event.getStackTrace().getFrames()) {
                    String method = frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
                    capwire |= method.startsWith("dev.capwire.") && !method.startsWith(VirtualThreadsMain.class.getName());
                    stack.append("\n    at ").append(method).append(':').append(frame.getLineNumber());
                }
            }
            inCapwire += capwire ? 1 : 0;
            System.err.println("pinned for " + event.getDuration().toMillis() + " ms:" + stack);
        }
        System.out.println("RESULT pinned " + pinned);
        System.out.println("RESULT pinnedInCapwire " + inCapwire);
        System.out.println("DONE");
        Files.deleteIfExists(jfr);
    }

    private static void tick() {
        long last = System.nanoTime();
        while (ticking) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            maxGapNanos.accumulateAndGet(now - last, Math::max);
            last = now;
        }
    }

    private static long takeGapMillis() {
        return TimeUnit.NANOSECONDS.toMillis(maxGapNanos.getAndSet(0));
    }

    /** 20 handshakes, then 1000 virtual threads making 20 blocking call()s each over them. */
    private static void roundTrips(Transport transport, Endpoint echo, ExecutorService virtual, int threads,
            String prefix) throws Exception {
        List<Future<NegotiatedConnection>> connecting = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            connecting.add(virtual.submit(() -> HandshakeClient.connect(transport, echo,
                    ClientOptions.builder("echo").build(), (c, f) -> { })));
        }
        List<Connection> connections = new ArrayList<>();
        for (Future<NegotiatedConnection> c : connecting) {
            connections.add(c.get(30, TimeUnit.SECONDS).connection());
        }
        takeGapMillis();
        AtomicInteger ok = new AtomicInteger();
        List<Future<?>> callers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Connection connection = connections.get(t % connections.size());
            int seed = t;
            callers.add(virtual.submit(() -> {
                UnsafeBuffer payload = new UnsafeBuffer(new byte[64]);
                for (int i = 0; i < 20; i++) {
                    payload.putInt(0, seed * 100 + i);
                    Response reply = connection.call(1, 1, payload, 0, 64, 30_000);
                    if (new UnsafeBuffer(reply.payload()).getInt(0) == seed * 100 + i) {
                        ok.incrementAndGet();
                    }
                }
                return null;
            }));
        }
        for (Future<?> caller : callers) {
            caller.get(120, TimeUnit.SECONDS);
        }
        System.out.println("RESULT " + prefix + "calls " + ok.get());
        System.out.println("RESULT " + prefix + "callsGapMs " + takeGapMillis());
        for (Connection connection : connections) {
            connection.close();
        }
    }

    /** 8 virtual threads each wait out a 600 ms handshake with a server that accepts and never answers. */
    private static void silentHandshakes(Transport transport, Path dir, ExecutorService virtual, String prefix)
            throws Exception {
        try (Silent silent = new Silent(dir.resolve(prefix + "silent-hs"))) {
            takeGapMillis();
            List<Future<StatusCode>> waits = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                waits.add(virtual.submit(() -> {
                    try {
                        HandshakeClient.connect(transport, silent.endpoint, ClientOptions.builder("echo")
                                .handshakeTimeoutMs(600).build(), (c, f) -> { }).close();
                        return StatusCode.OK;
                    } catch (StatusException e) {
                        return e.code();
                    }
                }));
            }
            int expired = 0;
            for (Future<StatusCode> wait : waits) {
                expired += wait.get(30, TimeUnit.SECONDS) == StatusCode.DEADLINE_EXCEEDED ? 1 : 0;
            }
            System.out.println("RESULT " + prefix + "handshakesExpired " + expired);
            System.out.println("RESULT " + prefix + "handshakeGapMs " + takeGapMillis());
        }
    }

    /** 8 virtual threads send into a connection whose peer never reads, until the ring stays full for 600 ms. */
    private static void fullRing(Path dir, ExecutorService virtual, String prefix) throws Exception {
        try (Silent silent = new Silent(dir.resolve(prefix + "silent-ring"));
                Transport small = Transport.create(TransportOptions.builder().ringBytes(16 * 1024)
                        .socketSendBufferBytes(4096).build())) {
            Connection connection = small.connect(silent.endpoint, (c, f) -> { });
            takeGapMillis();
            List<Future<StatusCode>> senders = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                senders.add(virtual.submit(() -> {
                    UnsafeBuffer payload = new UnsafeBuffer(new byte[1024]);
                    for (int n = 0; n < 100_000; n++) {
                        try {
                            connection.sendNotify(1, 1, payload, 0, payload.capacity(), 600);
                        } catch (StatusException e) {
                            return e.code();
                        }
                    }
                    return StatusCode.OK;
                }));
            }
            int full = 0;
            for (Future<StatusCode> sender : senders) {
                full += sender.get(60, TimeUnit.SECONDS) == StatusCode.RESOURCE_EXHAUSTED ? 1 : 0;
            }
            System.out.println("RESULT " + prefix + "ringFull " + full);
            System.out.println("RESULT " + prefix + "ringGapMs " + takeGapMillis());
            connection.abort();
        }
    }

    /** A Unix socket server that accepts and then neither reads nor writes. */
    private static final class Silent implements AutoCloseable {
        final Endpoint endpoint;
        private final Path path;
        private final ServerSocketChannel channel;
        private final List<SocketChannel> accepted = new CopyOnWriteArrayList<>();
        private final Thread acceptor;

        Silent(Path path) throws Exception {
            this.path = path;
            channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            channel.bind(UnixDomainSocketAddress.of(path));
            endpoint = Endpoint.unix(path);
            acceptor = new Thread(() -> {
                try {
                    for (;;) {
                        accepted.add(channel.accept());
                    }
                } catch (Exception e) {
                    // closed: done
                }
            }, "silent-acceptor");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        @Override
        public void close() throws Exception {
            channel.close();
            for (SocketChannel socket : accepted) {
                socket.close();
            }
            Files.deleteIfExists(path);
        }
    }
}
