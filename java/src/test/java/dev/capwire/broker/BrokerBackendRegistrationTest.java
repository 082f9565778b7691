package dev.capwire.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.Service;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.proto.BrokerMessage;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Registered;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@link BrokerBackend#register} against a broker that accepts the registration and closes it at once (a broker
 * stopping, say), played by a server of the registration service that does just that: the close can be handled
 * on the backend's loop before {@code register} has started its load reports.
 */
class BrokerBackendRegistrationTest {
    private static final long WAIT_SECONDS = 30;
    /** The close overtakes the caller in most attempts, not in all: enough attempts that it does in some. */
    private static final int ATTEMPTS = 20;

    @RegisterExtension
    static final SocketDir SOCKETS = new SocketDir("cwr");

    /** Answers a Register with an accepting Registered, and closes the registration right behind it. */
    private static final FrameListener ACCEPTS_AND_CLOSES = (connection, frame) -> {
        BrokerMessage message = BrokerFrames.parse(frame);
        if (message != null && message.hasRegister()) {
            BrokerFrames.send(connection, BrokerMessage.newBuilder().setRegistered(Registered.newBuilder()
                    .setAccepted(true)).build(), 0);
            connection.closeWithGoAway(GoAwayReason.NORMAL_CLOSE, "the broker is stopping");
        }
    };

    /**
     * Each registration is accepted and then ends as its connection does: {@code register} returns, its close
     * future completes, nothing is reported as an error, and no load-report thread is left. It used to throw
     * RejectedExecutionException when the close came first (the load reports' executor was shut down by then).
     */
    @Test
    void aBrokerClosingRightAfterAcceptingEndsTheRegistrationCleanly() throws Exception {
        List<Throwable> errors = new CopyOnWriteArrayList<>();
        Endpoint brokerAddress = SOCKETS.endpoint("broker");
        long loadThreadsBefore = loadReportThreads();
        try (Transport brokerSide = Transport.create(TransportOptions.defaults());
                Transport backendSide = Transport.create(TransportOptions.builder().errorHandler(errors::add).build());
                HandshakeServer broker = HandshakeServer.builder(brokerSide).noSecret().service(Service.builder(
                        Broker.REGISTRATION_SERVICE, Broker.REGISTRATION_VERSION, ACCEPTS_AND_CLOSES).build()).build();
                HandshakeServer server = HandshakeServer.builder(backendSide).noSecret()
                        .service(Service.builder(BackendMain.SERVICE, "1.0.0", (c, f) -> { }).build()).build()) {
            broker.listen(brokerAddress);
            for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
                try (BrokerBackend registration = BrokerBackend.register(backendSide, brokerAddress, server,
                        SOCKETS.endpoint("backend"))) {
                    registration.closeFuture().get(WAIT_SECONDS, TimeUnit.SECONDS); // the broker is gone: it says so
                }
            }
            assertEquals(List.of(), errors, "nothing reported as an error");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (loadReportThreads() > loadThreadsBefore && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(loadThreadsBefore, loadReportThreads(), "capwire-broker-load threads left running");
    }

    private static long loadReportThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals("capwire-broker-load"))
                .count();
    }
}
