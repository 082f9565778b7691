package dev.capwire.handshake;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.InboundFrame;
import dev.capwire.transport.StatusException;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.StatusCode;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.HelloReply;
import dev.capwire.wire.proto.Negotiated;
import java.util.concurrent.CompletableFuture;

/**
 * The backend's takeover of a handed-off connection, seen from the client (docs/wire-protocol.md, "Broker"):
 * the backend's first frame, a HELLO_REPLY whose Negotiated repeats the broker's hand-off token. A client that
 * waits for it in {@link HandshakeClient#connect} gets it there; one that sends calls as soon as the broker's
 * Negotiated came ({@link ClientOptions.Builder#callsBeforeTakeover}) checks it here, as the connection's first
 * frame, on the loop.
 */
final class Takeover {
    private final CompletableFuture<Negotiated> done = new CompletableFuture<>();
    /**
     * The broker's Negotiated, whose token the backend must repeat; null once settled or when none is awaited.
     * Read for every frame the connection's listener gets, so a plain field: set before the connection reaches its
     * loop (the loop's task queue publishes it), then touched only there.
     */
    private Negotiated awaited;
    private final int minProtocol;
    private final int maxProtocol;
    private final int maxFrameBytes;

    private Takeover(Negotiated awaited, int minProtocol, int maxProtocol, int maxFrameBytes) {
        this.awaited = awaited;
        this.minProtocol = minProtocol;
        this.maxProtocol = maxProtocol;
        this.maxFrameBytes = maxFrameBytes;
    }

    /** Nothing to wait for: a direct connection, or a hand-off whose takeover the handshake already read. */
    static Takeover settled(Negotiated negotiated) {
        Takeover takeover = new Takeover(null, 0, 0, 0);
        takeover.done.complete(negotiated);
        return takeover;
    }

    /** The broker's {@code brokered} reply came; the backend's takeover frame is still on its way. */
    static Takeover awaiting(Negotiated brokered, int minProtocol, int maxProtocol, int maxFrameBytes) {
        return new Takeover(brokered, minProtocol, maxProtocol, maxFrameBytes);
    }

    /** Completes with the backend's Negotiated, or fails UNAVAILABLE when the connection ended first. */
    CompletableFuture<Negotiated> future() {
        return done;
    }

    boolean awaited() {
        return awaited != null;
    }

    /**
     * The connection's first frame while the takeover is awaited: the takeover itself, or a protocol error that
     * closes the connection (its calls then fail UNAVAILABLE, as on any connection that breaks).
     */
    void onFirstFrame(Connection connection, InboundFrame frame) {
        Negotiated brokered = awaited;
        awaited = null;
        HelloReply reply = parse(frame);
        String wrong = check(brokered, frame, reply);
        if (wrong != null) {
            done.completeExceptionally(new StatusException(StatusCode.UNAVAILABLE, "the hand-off to "
                    + brokered.getBackendAddress() + " failed: " + wrong));
            connection.closeWithGoAway(GoAwayReason.HANDSHAKE_FAILED, wrong);
            return;
        }
        done.complete(reply.getNegotiated());
    }

    /**
     * The connection closed before the takeover frame: the broker abandoned the hand-off (a GOAWAY
     * HANDOFF_ABANDONED, or a shutdown when the backend may have taken it), or a party died. The backend's own
     * address is the way in; calls sent meanwhile failed with the connection.
     */
    void onClose(CloseReason reason) {
        Negotiated brokered = awaited;
        if (brokered != null) {
            awaited = null;
            done.completeExceptionally(new StatusException(StatusCode.UNAVAILABLE, "the broker's hand-off ended"
                    + " before the backend took over (" + reason + "); the backend's own address is "
                    + brokered.getBackendAddress()));
        }
    }

    /** The frame's HelloReply, or null when it is not a HELLO_REPLY holding one. */
    private static HelloReply parse(InboundFrame frame) {
        if (frame.type() != FrameType.HELLO_REPLY) {
            return null;
        }
        try {
            return HelloReply.parseFrom(frame.payloadBytes());
        } catch (InvalidProtocolBufferException e) {
            return null;
        }
    }

    /**
     * Null when {@code frame}, parsed as {@code reply}, is the takeover the broker's {@code brokered} reply
     * announced, else what is wrong.
     */
    private String check(Negotiated brokered, InboundFrame frame, HelloReply reply) {
        if (frame.type() != FrameType.HELLO_REPLY) {
            return "the backend's first frame is " + FrameType.name(frame.type()) + ", not its takeover HELLO_REPLY";
        }
        if (reply == null) {
            return "the backend's takeover frame is not a HelloReply message";
        }
        if (!reply.hasNegotiated() || !reply.getNegotiated().getHandoffToken().equals(brokered.getHandoffToken())) {
            return "the backend's first frame is not a Negotiated reply with the hand-off token";
        }
        return HandshakeFields.unusableNegotiated(reply.getNegotiated(), minProtocol, maxProtocol, maxFrameBytes);
    }
}
