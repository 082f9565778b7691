package dev.capwire.wire;

import org.agrona.DirectBuffer;

/** What a {@link FrameDecoder} reports: whole frames (or reassembled messages), and the first violation. */
public interface FrameHandler {
    /**
     * One complete frame, or one whole message reassembled from fragments (then the header shows the first
     * fragment's fields, no MORE_FRAGMENTS flag, and the total length). The buffer region and {@code fds}
     * are valid only during the call; fds not taken from {@code fds} are the caller's to close afterwards.
     */
    void onFrame(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength, ClaimedFds fds);

    /** The byte stream broke the protocol; the decoder has stopped. */
    void onError(dev.capwire.wire.proto.GoAwayReason reason, String message);
}
