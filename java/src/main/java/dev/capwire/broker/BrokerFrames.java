package dev.capwire.broker;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.BrokerMessage;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.HelloReply;
import java.nio.ByteBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * How the broker's messages travel (docs/wire-protocol.md, "Broker"): each {@link BrokerMessage} is the payload
 * of one NOTIFY frame with cap and method id 0 on the registration connection; and the two frames the broker
 * writes on a client socket it no longer runs a connection for (the Negotiated reply, or the GOAWAY that
 * abandons a hand-off the backend declined) go straight to the socket, as does the shutdown that abandons one
 * the backend may have taken.
 */
final class BrokerFrames {
    /** The largest frame a thread writes from its reused buffer; a Negotiated or a GOAWAY is a few hundred bytes. */
    private static final int SCRATCH_BYTES = 4096;
    /**
     * Each writing thread's buffer (the broker's loops write Negotiated replies, its timer thread the GOAWAYs of
     * expired hand-offs): a direct buffer allocated per frame cost more than the rest of the write.
     */
    private static final ThreadLocal<ByteBuffer> SCRATCH =
            ThreadLocal.withInitial(() -> ByteBuffer.allocateDirect(SCRATCH_BYTES));

    private BrokerFrames() {
    }

    /** Sends {@code message} with {@code fds} (duplicated: the caller keeps its own); false when it could not. */
    static boolean send(Connection connection, BrokerMessage message, long timeoutMs, FileDescriptor... fds) {
        byte[] bytes = message.toByteArray();
        try {
            connection.sendNotify(0, 0, new UnsafeBuffer(bytes), 0, bytes.length, timeoutMs, fds);
            return true;
        } catch (RuntimeException e) {
            return false; // closed, or no room: the caller falls back
        }
    }

    /** The message in a NOTIFY frame on a registration connection, or null when it is not one. */
    static BrokerMessage parse(InboundFrame frame) {
        if (frame.type() != FrameType.NOTIFY || frame.capId() != 0 || frame.methodId() != 0) {
            return null;
        }
        try {
            return BrokerMessage.parseFrom(frame.payloadBytes());
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return null;
        }
    }

    /** Writes a HELLO_REPLY on a detached client socket; false unless all of it went out at once. */
    static boolean writeReply(NativeSocket socket, HelloReply reply) {
        return write(socket, FrameType.HELLO_REPLY, reply.toByteArray());
    }

    /** Writes a GOAWAY on a detached client socket, best effort (the socket is closed right after). */
    static void writeGoAway(NativeSocket socket, GoAwayReason reason, String message) {
        write(socket, FrameType.GOAWAY, GoAway.newBuilder().setReason(reason).setMessage(message).build()
                .toByteArray());
    }

    /**
     * Ends the stream of a client socket the backend may already be writing on: its peer reads the end once it
     * has read what was sent, and later writes on the socket, from any process holding it, fail. Best effort.
     */
    static void shutdown(NativeSocket socket) {
        try {
            socket.shutdownOutput();
        } catch (NativeIoException e) {
            // The client is gone already.
        }
    }

    /**
     * One write that never waits: a client socket the broker writes to has carried only a Hello each way, so
     * its send buffer is empty and a frame of a few hundred bytes goes in whole, or the peer is gone.
     */
    private static boolean write(NativeSocket socket, byte type, byte[] payload) {
        int length = FrameHeader.HEADER_LENGTH + payload.length;
        ByteBuffer frame = length <= SCRATCH_BYTES ? SCRATCH.get().clear() : ByteBuffer.allocateDirect(length);
        FrameHeader.write(new UnsafeBuffer(frame), 0, length, type, 0, 0, 0, 0, 0);
        frame.position(FrameHeader.HEADER_LENGTH);
        frame.put(payload).flip();
        try {
            return socket.write(frame) == length;
        } catch (NativeIoException e) {
            return false;
        }
    }
}
