package dev.capwire.transport;

import dev.capwire.wire.FrameHeader;

/**
 * How large a frame this side of one connection may send. Two bounds meet here: a frame an application thread
 * sends must fit one record of the outbound ring, which exists only once such a thread first sends, and after
 * the handshake no frame may exceed the limit both sides negotiated. Every sender checks them, from any thread,
 * so they live apart from the ring and from the loop's staging, both of which they bound.
 */
final class OutboundLimits {
    /** Agrona's ManyToOneRingBuffer takes records of at most an eighth of its capacity. */
    private static final int RING_CAPACITY_PER_RECORD = 8;

    private final int maxRecordLength; // the ring's largest record, known before the ring exists
    private volatile int maxFramePayload; // lowered once by the layer above (the handshake), before sends

    OutboundLimits(TransportOptions options) {
        this.maxRecordLength = options.ringBytes() / RING_CAPACITY_PER_RECORD;
        // A frame must fit one ring record, so the ring also bounds the frames this side sends.
        this.maxFramePayload = Math.min(options.maxFrameBytes(), maxRecordLength) - FrameHeader.HEADER_LENGTH;
    }

    int maxFramePayload() {
        return maxFramePayload;
    }

    /** The largest ring record: a frame's header, payload and fd numbers must fit it. */
    int maxRecordLength() {
        return maxRecordLength;
    }

    /** Frames sent from now on are at most {@code maxFrameBytes}, header included (the peer's limit). */
    void limitFrameBytes(int maxFrameBytes) {
        if (maxFrameBytes <= FrameHeader.HEADER_LENGTH) {
            throw new IllegalArgumentException("maxFrameBytes must exceed the header: " + maxFrameBytes);
        }
        maxFramePayload = Math.min(maxFramePayload, maxFrameBytes - FrameHeader.HEADER_LENGTH);
    }

    void checkSingleFrame(int length, int fdCount) {
        if (length > maxFramePayload) {
            throw new IllegalArgumentException("payload of " + length + " bytes exceeds one frame ("
                    + maxFramePayload + "); use the sending methods that fragment");
        }
        if (fdCount > FrameHeader.MAX_FDS) {
            throw new IllegalArgumentException("at most " + FrameHeader.MAX_FDS + " fds per message");
        }
    }
}
