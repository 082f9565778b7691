package dev.capwire.transport;

import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAwayReason;
import java.util.Objects;

/**
 * What a connection admits before the layer above has let it open: a layer that must finish something first
 * (the handshake, a broker's hand-off) shuts the gate as the connection opens and opens it when done. While the
 * gate is shut only GOAWAY and the unfragmented frame types the gate names reach the listener; any other frame,
 * a fragment (reassembly would let a peer nobody has checked yet make us hold up to four messages), or the
 * gate still shut after its timeout ends the connection with a GOAWAY of the gate's reason. File descriptors that
 * arrive while the gate is shut are closed at once and end the connection the same way.
 *
 * <p>The transport itself knows nothing of what the gate is for: the handshake, the RPC layer and the broker
 * plug in through this same mechanism.
 */
public final class InboundGate {
    private final String awaiting;
    private final GoAwayReason reason;
    private final long timeoutMs;
    private final boolean[] admitted = new boolean[256];

    /**
     * @param awaiting  what must complete before the gate opens, as a noun for messages ("handshake")
     * @param reason    the GOAWAY reason of a connection the gate ends
     * @param timeoutMs how long the gate may stay shut
     * @param types     the frame types admitted while shut (GOAWAY always is)
     */
    public InboundGate(String awaiting, GoAwayReason reason, long timeoutMs, byte... types) {
        if (timeoutMs <= 0) {
            throw new IllegalArgumentException("a gate needs a positive timeout: " + timeoutMs);
        }
        this.awaiting = Objects.requireNonNull(awaiting, "awaiting");
        this.reason = Objects.requireNonNull(reason, "reason");
        this.timeoutMs = timeoutMs;
        admitted[FrameType.GOAWAY & 0xFF] = true;
        for (byte type : types) {
            admitted[type & 0xFF] = true;
        }
    }

    boolean admits(byte type) {
        return admitted[type & 0xFF];
    }

    String awaiting() {
        return awaiting;
    }

    GoAwayReason reason() {
        return reason;
    }

    long timeoutMs() {
        return timeoutMs;
    }
}
