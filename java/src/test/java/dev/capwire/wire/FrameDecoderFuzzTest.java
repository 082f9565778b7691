package dev.capwire.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.capwire.fuzz.Choices;
import dev.capwire.wire.proto.GoAwayReason;
import java.io.ByteArrayOutputStream;
import java.util.BitSet;
import java.util.Random;
import org.agrona.DirectBuffer;
import org.agrona.collections.LongArrayQueue;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestReporter;

/**
 * Fuzzes {@link FrameDecoder} with what a peer controls: the bytes (valid frames, damaged frames, garbage),
 * where the reads split them, how many fds arrive with them and when. Whatever comes, the decoder must
 *
 * <ul>
 *   <li>throw nothing: a violation is reported once through {@link FrameHandler#onError}, and stops it;
 *   <li>deliver only frames whose header is valid and whose length matches the header and the payload, with
 *       the payload inside the buffer it is handed in, and as many fds as the header declares;
 *   <li>deliver nothing after onError or {@link FrameDecoder#stop()};
 *   <li>never hand out an fd twice, never lose one: delivered + released + still queued = arrived;
 *   <li>never reassemble a message larger than maxMessageBytes;
 *   <li>never stall: while it runs there is always room to receive more.
 * </ul>
 *
 * <p>{@link #anyByteStream} is the Jazzer target: under JUnit it replays the seeds in
 * {@code src/test/resources/dev/capwire/wire/FrameDecoderFuzzTestInputs/anyByteStream}, with
 * {@code JAZZER_FUZZ=1} it fuzzes (docs/fuzzing.md). {@link #randomizedStreams} runs the same harness over
 * inputs from a seeded Random on every build, so CI exercises far more than the seeds.
 */
class FrameDecoderFuzzTest {
    /** Inputs the randomized run feeds; each is a few dozen reads, frames and fd arrivals. */
    static final int RANDOMIZED_INPUTS = 200_000;

    @FuzzTest(maxDuration = "5m")
    void anyByteStream(byte[] input) {
        new Harness(Choices.of(input)).run();
    }

    @Test
    void randomizedStreams(TestReporter reporter) {
        long seed = Long.getLong("capwire.fuzz.seed", 0x5EED_F4A3L);
        Random random = new Random(seed);
        long frames = 0;
        long errors = 0;
        long reassembled = 0;
        for (int i = 0; i < RANDOMIZED_INPUTS; i++) {
            Harness harness = new Harness(Choices.of(random, 8 + random.nextInt(48)));
            try {
                harness.run();
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("input " + i + " of seed " + seed + " (-Dcapwire.fuzz.seed=" + seed + ")", e);
            }
            frames += harness.frames;
            reassembled += harness.reassembled;
            errors += harness.error != null ? 1 : 0;
        }
        // The generator must reach the interesting parts, or the run proves little.
        String stats = RANDOMIZED_INPUTS + " inputs: " + frames + " frames, " + reassembled + " reassembled, " + errors
                + " errors";
        reporter.publishEntry("randomizedStreams", stats); // in the surefire report, not on the console
        assertTrue(frames > 2L * RANDOMIZED_INPUTS, stats);
        assertTrue(reassembled > RANDOMIZED_INPUTS / 10, stats);
        assertTrue(errors > RANDOMIZED_INPUTS / 10 && errors < RANDOMIZED_INPUTS * 7L / 10, stats);
    }

    /** One decoder, one peer's stream, and the checks. */
    static final class Harness implements FrameHandler {
        private final Choices choices;
        private final int maxFrame;
        private final int maxMessage;
        private final boolean fdsAllowed;
        /** A peer that damages frames and sends garbage; the others send only valid frames (and so get deep). */
        private final boolean hostile;
        /** A valid peer's frame type on each correlation id. */
        private final byte[] typeOf = new byte[4];
        private final UnsafeBuffer receive;
        private final LongArrayQueue arrived = new LongArrayQueue();
        private final FrameDecoder decoder;
        /** Bytes the peer has sent that the decoder has not received yet. */
        private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
        private byte[] pendingBytes = new byte[0];
        private int pendingAt;
        /** Fd numbers handed out (delivered or released), each at most once. */
        private final BitSet seenFds = new BitSet();
        private int nextFd = 1000;
        private int fdsArrived;
        private int fdsDelivered;
        private boolean stoppedByUs;
        GoAwayReason error;
        int frames;
        int reassembled;

        Harness(Choices choices) {
            this.choices = choices;
            hostile = choices.nextInt(3) == 0;
            for (int i = 0; i < typeOf.length; i++) {
                typeOf[i] = (byte) (FrameType.HELLO + choices.nextInt(FrameType.CANCEL));
            }
            int config = choices.nextInt(4);
            // Mostly small limits, so lengths, fragments and the limits themselves meet often.
            maxFrame = config == 0 ? FrameHeader.HEADER_LENGTH + choices.nextInt(40) : 64 + choices.nextInt(1024);
            maxMessage = hostile ? choices.nextInt(3 * maxFrame) : 4 * maxFrame + choices.nextInt(8 * maxFrame);
            fdsAllowed = choices.nextInt(4) != 0;
            receive = new UnsafeBuffer(new byte[maxFrame + choices.nextInt(2 * maxFrame)]);
            decoder = new FrameDecoder(receive, maxFrame, maxMessage, fdsAllowed, arrived, this);
            if (hostile && choices.nextInt(4) == 0) {
                decoder.refuseFragments(GoAwayReason.HANDSHAKE_FAILED, "before the handshake");
            }
        }

        void run() {
            while (choices.more()) {
                switch (choices.nextInt(12)) {
                    case 0, 1, 2, 3 -> validFrame(false);
                    case 4 -> validFrame(hostile);
                    case 5 -> {
                        if (hostile) {
                            send(choices.bytes(choices.nextInt(64)));
                        }
                    }
                    case 6 -> fdsArrive(hostile ? choices.nextInt(choices.nextInt(8) == 0 ? 300 : 4) : 0);
                    case 7 -> {
                        if (choices.nextInt(16) == 0) {
                            decoder.allowFragments();
                        }
                        receive(choices.nextInt(2 * maxFrame + 1));
                    }
                    case 8 -> {
                        if (choices.nextInt(hostile ? 32 : 256) == 0) {
                            stoppedByUs = true;
                            decoder.stop();
                        }
                    }
                    default -> receive(1 + choices.nextInt(64));
                }
            }
            receive(Integer.MAX_VALUE);
            close();
        }

        /** A frame a peer could send: valid header fields, maybe a fragment, maybe damaged (in one byte). */
        private void validFrame(boolean damaged) {
            // A valid peer keeps one type per correlation id, never uses id 0 (a fragment needs an id) and sends
            // fds only on id 3, which it never fragments; a hostile one mixes types and ids (0 included), so
            // fragments interleave and carry fds.
            long correlationId = hostile ? choices.nextInt(4) : 1 + choices.nextInt(3);
            byte type = !hostile ? typeOf[(int) correlationId] : choices.nextInt(4) == 0
                    ? (byte) (FrameType.HELLO + choices.nextInt(FrameType.CANCEL))
                    : choices.nextBoolean() ? FrameType.REQUEST : FrameType.NOTIFY;
            int flags = (hostile || correlationId != 3) && choices.nextInt(3) == 0 ? FrameHeader.FLAG_MORE_FRAGMENTS : 0;
            int fdCount = fdsAllowed && (hostile || correlationId == 3) && choices.nextInt(3) == 0
                    ? 1 + choices.nextInt(3) : 0;
            if (fdCount > 0 && (!hostile || choices.nextBoolean())) {
                fdsArrive(fdCount); // the kernel hands fds over with the first byte of their frame
            }
            int room = Math.max(0, maxFrame - FrameHeader.HEADER_LENGTH);
            int payloadLength = hostile && choices.nextInt(8) == 0 ? choices.nextInt(room + 16)
                    : choices.nextInt(Math.min(room, 48) + 1);
            byte[] frame = new byte[FrameHeader.HEADER_LENGTH + payloadLength];
            UnsafeBuffer view = new UnsafeBuffer(frame);
            FrameHeader.write(view, 0, frame.length, type, flags, correlationId, choices.nextInt(3),
                    choices.nextInt(3), fdCount);
            for (int i = FrameHeader.HEADER_LENGTH; i < frame.length; i++) {
                frame[i] = (byte) (correlationId * 31 + i);
            }
            if (damaged && frame.length > 0) {
                int at = choices.nextInt(choices.nextBoolean() ? FrameHeader.HEADER_LENGTH : frame.length);
                frame[at] ^= (byte) (1 + choices.nextInt(255));
            }
            send(frame);
        }

        private void send(byte[] bytes) {
            pending.write(bytes, 0, bytes.length);
        }

        private void fdsArrive(int count) {
            for (int i = 0; i < count; i++) {
                arrived.addLong(nextFd++);
            }
            fdsArrived += count;
        }

        /** The decoder reads up to {@code max} of the pending bytes, as one read. */
        private void receive(int max) {
            if (pending.size() > 0) {
                byte[] more = pending.toByteArray();
                pending.reset();
                byte[] joined = new byte[pendingBytes.length - pendingAt + more.length];
                System.arraycopy(pendingBytes, pendingAt, joined, 0, pendingBytes.length - pendingAt);
                System.arraycopy(more, 0, joined, pendingBytes.length - pendingAt, more.length);
                pendingBytes = joined;
                pendingAt = 0;
            }
            boolean all = max == Integer.MAX_VALUE;
            do {
                int writable = decoder.writableBytes();
                boolean stopped = decoder.isStopped();
                if (!stopped) {
                    assertTrue(writable > 0, "the decoder stalled: no room to receive while it still decodes");
                }
                int count = Math.min(Math.min(max, writable), pendingBytes.length - pendingAt);
                if (count <= 0) {
                    return;
                }
                int offset = decoder.writeOffset();
                assertTrue(offset >= 0 && offset + count <= receive.capacity(), "write window outside the buffer");
                receive.putBytes(offset, pendingBytes, pendingAt, count);
                pendingAt += count;
                int framesBefore = frames;
                decoder.onBytesReceived(count);
                if (stopped) {
                    assertEquals(framesBefore, frames, "a stopped decoder delivered a frame");
                }
            } while (all);
        }

        @Override
        public void onFrame(FrameHeader header, DirectBuffer buffer, int payloadOffset, int payloadLength,
                ClaimedFds fds) {
            assertNull(error, "a frame delivered after onError");
            assertFalse(stoppedByUs, "a frame delivered after stop()");
            frames++;
            assertTrue(payloadLength >= 0 && payloadOffset >= 0
                    && (long) payloadOffset + payloadLength <= buffer.capacity(), "payload [" + payloadOffset + ", +"
                    + payloadLength + ") outside a buffer of " + buffer.capacity());
            assertEquals(FrameHeader.HEADER_LENGTH + (long) payloadLength, header.frameLength(),
                    "the header's length is not the payload's");
            assertEquals(header.fdCount(), fds.count(), "fds handed over are not the fds the header declares");
            assertTrue(FrameType.isKnown(header.type()), "unknown type delivered");
            assertFalse(header.moreFragments(), "a fragment delivered as if whole");
            if (buffer == receive) {
                assertNull(header.check(maxFrame, fdsAllowed), "a frame with an invalid header delivered");
                assertTrue(payloadOffset >= FrameHeader.HEADER_LENGTH, "no room for the header before the payload");
            } else {
                reassembled++;
                assertTrue(payloadLength <= maxMessage, "reassembled " + payloadLength + " bytes, more than maxMessageBytes "
                        + maxMessage);
            }
            long[] taken = fds.takeAll();
            assertEquals(0, fds.count());
            for (long fd : taken) {
                handOut(fd);
            }
            fdsDelivered += taken.length;
            if (choices.nextInt(64) == 0) {
                stoppedByUs = true; // a listener that closes the connection in the middle of a read
                decoder.stop();
            }
        }

        @Override
        public void onError(GoAwayReason reason, String message) {
            assertNull(error, "onError reported twice (first " + error + ", now " + reason + ": " + message + ")");
            assertFalse(stoppedByUs, "onError after stop()");
            assertNotNull(reason);
            assertNotNull(message);
            error = reason;
        }

        private void handOut(long number) {
            int fd = Math.toIntExact(number);
            assertTrue(fd >= 1000 && fd < nextFd, "fd " + fd + " never arrived");
            assertFalse(seenFds.get(fd), "fd " + fd + " handed out twice");
            seenFds.set(fd);
        }

        /** The connection ends: every fd is delivered, released by the decoder, or still in the arrival queue. */
        private void close() {
            if (error != null) {
                assertTrue(decoder.isStopped(), "onError without stopping");
            }
            int[] released = {0};
            decoder.releaseFds(fd -> {
                handOut(fd);
                released[0]++;
            });
            int[] again = {0};
            decoder.releaseFds(fd -> again[0]++);
            assertEquals(0, again[0], "fds released twice");
            assertEquals(fdsArrived, fdsDelivered + released[0] + arrived.size(), "fds lost: " + fdsArrived
                    + " arrived, " + fdsDelivered + " delivered, " + released[0] + " released, " + arrived.size()
                    + " still queued");
            if (!decoder.isStopped()) {
                assertSame(null, error);
            }
        }
    }

    /** A Choices-free sanity check of the harness itself: it must notice a decoder that lies. */
    @Test
    void theHarnessCatchesADeliveredFragment() {
        Harness harness = new Harness(Choices.of(new Random(1), 0));
        UnsafeBuffer frame = new UnsafeBuffer(new byte[FrameHeader.HEADER_LENGTH]);
        FrameHeader.write(frame, 0, FrameHeader.HEADER_LENGTH, FrameType.NOTIFY, FrameHeader.FLAG_MORE_FRAGMENTS, 1,
                0, 0, 0);
        try {
            harness.onFrame(new FrameHeader().wrap(frame, 0), frame, FrameHeader.HEADER_LENGTH, 0, new ClaimedFds());
        } catch (AssertionError expected) {
            return;
        }
        fail("the harness accepted a fragment delivered as a whole frame");
    }
}
