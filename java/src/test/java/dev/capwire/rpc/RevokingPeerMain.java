package dev.capwire.rpc;

import dev.capwire.rpc.proto.BootstrapRequest;
import dev.capwire.transport.Connection;
import dev.capwire.transport.FrameListener;
import dev.capwire.transport.InboundFrame;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The peer of {@link RevokeAcrossProcessesTest}'s importer case: it speaks docs/rpc-protocol.md in raw frames, so
 * it can do what Capwire's own server never does, revoke a cap and leave the calls on it unanswered. Then the
 * importer's own handling of REVOKE is the only thing that can end them.
 *
 * <p>Bootstrap gives "files" as export 2, whose calls are held and never answered, and any other name as export 3,
 * whose calls are answered with their own content. Prints {@code READY <endpoint>}; commands on stdin, each
 * answered with one line: {@code revoke <reason>} sends REVOKE of export 2 ({@code REVOKED}); {@code report}
 * ({@code REPORT held=<calls held> cancels=<CANCELs received> releases=<export>x<count>;...}). Exits when stdin
 * closes.
 */
public final class RevokingPeerMain {
    private static final int HELD_EXPORT = 2;
    private static final int ECHO_EXPORT = 3;

    private RevokingPeerMain() {
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = System.out;
        AtomicReference<Connection> client = new AtomicReference<>();
        AtomicInteger held = new AtomicInteger();
        AtomicInteger cancels = new AtomicInteger();
        StringBuffer releases = new StringBuffer();
        FrameListener listener = new FrameListener() {
            @Override
            public void onOpen(Connection connection) {
                client.set(connection);
            }

            @Override
            public void onFrame(Connection connection, InboundFrame frame) {
                client.set(connection); // a service may be handed its connection without an onOpen
                DirectBuffer buffer = frame.buffer();
                int offset = frame.payloadOffset();
                switch (frame.type()) {
                    case FrameType.REQUEST:
                        onCall(connection, frame, held);
                        break;
                    case FrameType.CANCEL:
                        cancels.incrementAndGet();
                        break;
                    case FrameType.NOTIFY:
                        if (frame.capId() == RpcConnection.BOOTSTRAP_CAP && frame.methodId() == RpcConnection.RELEASE) {
                            releases.append(buffer.getInt(offset, FrameHeader.ORDER)).append('x')
                                    .append(buffer.getInt(offset + 4, FrameHeader.ORDER)).append(';');
                        }
                        break;
                    default:
                        break;
                }
            }
        };
        ChildServer.run(args[0], listener, out, line -> {
            if (line.startsWith("revoke ")) {
                byte[] reason = line.substring("revoke ".length()).getBytes(StandardCharsets.US_ASCII);
                UnsafeBuffer payload = new UnsafeBuffer(new byte[4 + reason.length]);
                payload.putInt(0, HELD_EXPORT, FrameHeader.ORDER);
                payload.putBytes(4, reason);
                client.get().sendNotify(RpcConnection.BOOTSTRAP_CAP, RpcConnection.REVOKE, payload, 0,
                        payload.capacity(), 1000);
                return "REVOKED";
            }
            if (line.equals("report")) {
                return "REPORT held=" + held.get() + " cancels=" + cancels.get() + " releases=" + releases;
            }
            return "UNKNOWN " + line;
        });
    }

    /** Loop: a bootstrap is answered with its export, a call on export 2 held, one on export 3 echoed. */
    private static void onCall(Connection connection, InboundFrame frame, AtomicInteger held) {
        DirectBuffer buffer = frame.buffer();
        int offset = frame.payloadOffset();
        int capCount = buffer.getShort(offset + 18, FrameHeader.ORDER) & 0xFFFF;
        int contentOffset = offset + Outgoing.CALL_HEADER_BYTES + 4 * capCount;
        byte[] content = new byte[offset + frame.payloadLength() - contentOffset];
        buffer.getBytes(contentOffset, content);
        switch (frame.capId()) {
            case RpcConnection.BOOTSTRAP_CAP: {
                String name;
                try {
                    name = BootstrapRequest.parseFrom(content).getName();
                } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                    throw new IllegalStateException(e);
                }
                UnsafeBuffer answer = new UnsafeBuffer(new byte[Outgoing.ANSWER_HEADER_BYTES + 4]);
                answer.putShort(0, (short) 1, FrameHeader.ORDER); // one descriptor: sender-hosted, the export
                answer.putInt(Outgoing.ANSWER_HEADER_BYTES, name.equals("files") ? HELD_EXPORT : ECHO_EXPORT,
                        FrameHeader.ORDER);
                connection.respond(frame.correlationId(), answer, 0, answer.capacity());
                break;
            }
            case HELD_EXPORT:
                held.incrementAndGet(); // never answered
                break;
            case ECHO_EXPORT: {
                UnsafeBuffer answer = new UnsafeBuffer(new byte[Outgoing.ANSWER_HEADER_BYTES + content.length]);
                answer.putBytes(Outgoing.ANSWER_HEADER_BYTES, content);
                connection.respond(frame.correlationId(), answer, 0, answer.capacity());
                break;
            }
            default:
                connection.respondError(frame.correlationId(), StatusCode.NOT_FOUND, "cap.unknown", "no such export");
        }
    }
}
