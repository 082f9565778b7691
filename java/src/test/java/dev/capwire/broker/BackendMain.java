package dev.capwire.broker;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.testing.Leaks;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.BrokerMessage;
import dev.capwire.wire.proto.Handoff;
import dev.capwire.wire.proto.HandoffAck;
import dev.capwire.wire.proto.Register;
import dev.capwire.wire.proto.ServiceOffer;
import com.google.protobuf.ByteString;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.LinkedBlockingQueue;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A child-JVM backend: {@code BackendMain <mode> <broker endpoint> <backend endpoint> [ackMs]}. It serves
 * {@value #SERVICE} on the backend endpoint (the fallback path); a request is answered with
 * {@code <this pid> <peer pid> <peer uid>}, the credentials the kernel gives for the socket it arrived on.
 * Modes: {@code ack} registers with {@link BrokerBackend}; {@code crash} too, and exits with code 3 a moment
 * later; the others speak the registration protocol by hand:
 * {@code silent} never acknowledges a hand-off; {@code stalls} prints {@code STALLED} at the first hand-off and never
 * reads its registration connection again (its loop is held); {@code dies} registers the backend endpoint without listening on
 * it (another process serves it) and halts when a hand-off comes, before acknowledging it; {@code late} acknowledges after twice {@code ackMs};
 * {@code tokens} acknowledges an unknown token, then the right token for another service, then the right one
 * (and adopts the socket), then the right one again, printing each answer (the broker answers refusals only) as
 * {@code CONFIRMED <accepted> <reason>}; {@code fds} sends an fd with a message once registered. The hand-spoken registration prints
 * {@code CLOSED <reason>} when it ends. Prints {@code READY} once registered ({@code REGISTER_FAILED <why>} if not); stdin {@code fds}
 * prints {@code FDS <open fds>}, {@code live} prints {@code LIVE <Leaks.Live>}. Exits when stdin closes.
 */
public final class BackendMain {
    public static final String SERVICE = "echo";

    private BackendMain() {
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        Endpoint broker = Endpoint.parse(args[1]);
        Endpoint own = Endpoint.parse(args[2]);
        long ackMs = args.length > 3 ? Long.parseLong(args[3]) : 0;
        boolean listens = !mode.equals("dies"); // its fallback address is another process's
        if (listens) {
            Files.deleteIfExists(Path.of(args[2].substring("unix:".length())));
        }
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            HandshakeServer server = HandshakeServer.builder(transport).noSecret()
                    .service(Service.builder(SERVICE, "1.0.0", BackendMain::serve).build()).build();
            if (listens) {
                server.listen(own);
            }
            AutoCloseable registration;
            try {
                registration = mode.equals("ack") || mode.equals("crash")
                        ? BrokerBackend.register(transport, broker, server, own)
                        : byHand(transport, broker, own, server, mode, ackMs);
            } catch (RuntimeException e) {
                BrokerMain.say("REGISTER_FAILED " + e);
                waitForStdin(null);
                return;
            }
            BrokerMain.say("READY");
            if (mode.equals("crash")) {
                Thread.sleep(300);
                Runtime.getRuntime().halt(3); // a crash: no clean-up, a failure exit code
            }
            waitForStdin(registration);
        }
    }

    private static void waitForStdin(AutoCloseable registration) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.equals("fds")) {
                BrokerMain.say("FDS " + BrokerMain.openFds());
            } else if (line.equals("live")) {
                BrokerMain.say("LIVE " + Leaks.live().encode());
            }
        }
        if (registration != null) {
            registration.close();
        }
    }

    private static void serve(Connection connection, InboundFrame frame) {
        if (frame.type() != FrameType.REQUEST) {
            return;
        }
        PeerCredentials peer = connection.peerCredentials();
        byte[] answer = (ProcessHandle.current().pid() + " " + peer.pid().orElse(-1) + " " + peer.uid().orElse(-1))
                .getBytes(StandardCharsets.US_ASCII);
        connection.respond(frame.correlationId(), new UnsafeBuffer(answer), 0, answer.length);
    }

    /** The registration protocol spoken by hand, to misbehave in the ways {@code mode} says. */
    private static AutoCloseable byHand(Transport transport, Endpoint broker, Endpoint own, HandshakeServer server,
            String mode, long ackMs) throws Exception {
        LinkedBlockingQueue<BrokerMessage> registered = new LinkedBlockingQueue<>();
        FrameListener listener = new FrameListener() {
            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                FileDescriptor[] fds = frame.takeFds();
                BrokerMessage message = BrokerFrames.parse(frame);
                switch (message.getMessageCase()) {
                    case REGISTERED -> registered.add(message);
                    case HANDOFF -> onHandoff(connection, message.getHandoff(), fds[0], server, mode, ackMs);
                    case HANDOFF_CONFIRMED -> BrokerMain.say("CONFIRMED " + message.getHandoffConfirmed().getAccepted()
                            + " " + message.getHandoffConfirmed().getReason());
                    default -> BrokerMain.say("UNEXPECTED " + message.getMessageCase());
                }
            }

            @Override
            public void onClose(Connection connection, dev.capwire.transport.CloseReason reason) {
                BrokerMain.say("CLOSED " + reason);
            }
        };
        NegotiatedConnection connection = HandshakeClient.connect(transport, broker,
                ClientOptions.builder(Broker.REGISTRATION_SERVICE).noSecret().build(), listener);
        send(connection.connection(), BrokerMessage.newBuilder().setRegister(Register.newBuilder()
                .setBackendAddress(own.toString())
                .addServices(ServiceOffer.newBuilder().setName(SERVICE).setVersion("1.0.0").setCapabilities(1)))
                .build());
        BrokerMessage answer = registered.take();
        if (!answer.getRegistered().getAccepted()) {
            throw new IllegalStateException(answer.getRegistered().getReason());
        }
        if (mode.equals("fds")) {
            // An fd where none belongs: the broker must close it and end the registration.
            FileDescriptor[] pipe = FileDescriptor.pipe();
            byte[] ack = ack(HandoffAck.newBuilder().setToken(ByteString.copyFrom(new byte[16])).build())
                    .toByteArray();
            connection.connection().sendNotify(0, 0, new UnsafeBuffer(ack), 0, ack.length, 1000, pipe[0]);
            pipe[0].close();
            pipe[1].close();
        }
        return connection;
    }

    private static void onHandoff(Connection connection, Handoff handoff, FileDescriptor socket,
            HandshakeServer server, String mode, long ackMs) {
        BrokerMain.say("HANDOFF " + handoff.getServiceName() + " " + handoff.getClient().getPid());
        HandoffAck right = HandoffAck.newBuilder().setToken(handoff.getToken()).setServiceName(SERVICE).build();
        switch (mode) {
            case "silent" -> socket.close(); // keeps nothing, says nothing
            case "stalls" -> {
                socket.close();
                BrokerMain.say("STALLED");
                // Its loop is held for good: the registration connection is never read again, so what the broker
                // sends on it piles up in the socket and then in the broker's outbound ring.
                while (true) {
                    java.util.concurrent.locks.LockSupport.park();
                }
            }
            case "dies" -> {
                BrokerMain.say("DYING");
                Runtime.getRuntime().halt(9); // killed before its acknowledgement: no clean-up at all
            }
            case "late" -> new Thread(() -> {
                try {
                    Thread.sleep(2 * ackMs);
                } catch (InterruptedException e) {
                    return;
                }
                send(connection, ack(right));
                socket.close();
            }).start();
            case "tokens" -> {
                byte[] unknown = new byte[16];
                send(connection, ack(right.toBuilder().setToken(ByteString.copyFrom(unknown)).build()));
                send(connection, ack(right.toBuilder().setServiceName("other").build()));
                send(connection, ack(right));
                // Taken over at once, as BrokerBackend does: an accepted acknowledgement gets no answer.
                try {
                    server.adoptHandedOff(Endpoint.parse(connection.endpoint().toString()), NativeSocket.adopt(socket),
                            handoff.getUnread().toByteArray(), SERVICE, handoff.getNegotiated(), handoff.getHello());
                } catch (Exception e) {
                    BrokerMain.say("ADOPT_FAILED " + e);
                }
                send(connection, ack(right));
            }
            default -> throw new IllegalArgumentException(mode);
        }
    }

    private static BrokerMessage ack(HandoffAck ack) {
        return BrokerMessage.newBuilder().setHandoffAck(ack).build();
    }

    private static void send(Connection connection, BrokerMessage message) {
        byte[] bytes = message.toByteArray();
        connection.sendNotify(0, 0, new UnsafeBuffer(bytes), 0, bytes.length, 1000);
    }
}
