package dev.capwire.transport;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.wire.FrameType;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A child-JVM echo server for the transport tests. It listens on the endpoint given as the first argument,
 * answers every REQUEST with its own payload and fds (except {@link #METHOD_HOLD}, which it never answers, and
 * {@link #METHOD_THROW} and {@link #METHOD_ERROR}, whose handler throws),
 * sends every NOTIFY back as a NOTIFY, prints {@code READY <endpoint>}, and exits when its stdin closes, so
 * a dying test never leaves it behind.
 */
public final class EchoServerMain {
    /** Requests to this method are never answered: the test's way to keep requests pending. */
    public static final int METHOD_HOLD = 7;
    /** Requests to this method make the handler throw an IllegalStateException (a bug in a handler). */
    public static final int METHOD_THROW = 8;
    /** Requests to this method make the handler throw an Error (as an OutOfMemoryError would). */
    public static final int METHOD_ERROR = 9;
    /** Requests to this method are answered {@link #DELAY_MS} late, from another thread: replies after a deadline. */
    public static final int METHOD_DELAY = 10;
    public static final long DELAY_MS = 400;
    private static final ScheduledExecutorService LATER =
            Executors.newSingleThreadScheduledExecutor(task -> {
                Thread thread = new Thread(task, "echo-later");
                thread.setDaemon(true);
                return thread;
            });

    private EchoServerMain() {
    }

    public static void main(String[] args) throws Exception {
        Endpoint endpoint = Endpoint.parse(args[0]);
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            Server server = transport.listen(endpoint, EchoServerMain::echo);
            System.out.println("READY " + server.endpoint());
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            while (in.readLine() != null) {
                // Lines are ignored; end of input means the parent is done or gone.
            }
        }
    }

    /** The echo behaviour as a listener body, for other tests' servers (the handshake's services, say). */
    public static void echo(Connection connection, InboundFrame frame) {
        if (frame.type() == FrameType.NOTIFY) {
            connection.sendNotify(frame.capId(), frame.methodId(), frame.buffer(), frame.payloadOffset(),
                    frame.payloadLength(), 30_000);
            return;
        }
        if (frame.type() != FrameType.REQUEST || frame.methodId() == METHOD_HOLD) {
            return;
        }
        if (frame.methodId() == METHOD_THROW) {
            throw new IllegalStateException("deliberate failure in request " + frame.correlationId());
        }
        if (frame.methodId() == METHOD_ERROR) {
            throw new AssertionError("deliberate Error in request " + frame.correlationId());
        }
        if (frame.methodId() == METHOD_DELAY) {
            byte[] payload = frame.payloadBytes();
            long id = frame.correlationId();
            LATER.schedule(() -> connection.respond(id, new UnsafeBuffer(payload), 0,
                    payload.length), DELAY_MS, TimeUnit.MILLISECONDS);
            return;
        }
        FileDescriptor[] fds = frame.takeFds();
        try {
            connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength(),
                    fds);
        } finally {
            for (FileDescriptor fd : fds) {
                fd.close();
            }
        }
    }
}
