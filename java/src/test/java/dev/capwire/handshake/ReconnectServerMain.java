package dev.capwire.handshake;

import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameType;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A child-JVM Hello server for the reconnect tests: service {@value #SERVICE} on the Unix endpoint given as
 * the first argument (an optional second argument is the Hello rate limit per second). It echoes requests,
 * never answers {@link #METHOD_HOLD}, and answers {@link #METHOD_COUNT} with how many requests it received
 * before that one (decimal text), so a test can prove nothing was replayed to it. The stdin line
 * {@code hellos} prints {@code HELLOS <accepted> <refused>}. It prints {@code READY <endpoint>} and exits when
 * stdin closes.
 */
public final class ReconnectServerMain {
    public static final String SERVICE = "echo";
    public static final int METHOD_ECHO = 1;
    public static final int METHOD_HOLD = 7;
    public static final int METHOD_COUNT = 8;

    private static final AtomicInteger REQUESTS = new AtomicInteger();
    private static final AtomicInteger ACCEPTED = new AtomicInteger();
    private static final AtomicInteger REFUSED = new AtomicInteger();

    private ReconnectServerMain() {
    }

    public static void main(String[] args) throws Exception {
        Endpoint endpoint = Endpoint.parse(args[0]);
        // A SIGKILLed predecessor leaves its socket file behind, and bind would fail EADDRINUSE on it.
        Files.deleteIfExists(Path.of(args[0].substring("unix:".length())));
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            HandshakeServer.Builder server = HandshakeServer.builder(transport).noSecret()
                    .service(Service.builder(SERVICE, "1.0.0", ReconnectServerMain::serve).build())
                    .listener(outcome -> (outcome.accepted() ? ACCEPTED : REFUSED).incrementAndGet());
            if (args.length > 1) {
                server.helloRateLimit(Integer.parseInt(args[1]));
            }
            server.build().listen(endpoint);
            System.out.println("READY " + endpoint);
            System.out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.equals("hellos")) {
                    System.out.println("HELLOS " + ACCEPTED.get() + " " + REFUSED.get());
                    System.out.flush();
                }
            }
        }
    }

    private static void serve(Connection connection, InboundFrame frame) {
        if (frame.type() != FrameType.REQUEST) {
            return;
        }
        int before = REQUESTS.getAndIncrement();
        switch (frame.methodId()) {
            case METHOD_HOLD:
                return;
            case METHOD_COUNT:
                byte[] count = Integer.toString(before).getBytes(StandardCharsets.US_ASCII);
                connection.respond(frame.correlationId(), new UnsafeBuffer(count), 0, count.length);
                return;
            default:
                connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
        }
    }
}
