package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A message sent in several fragments whose payload falls short of the length it names is refused before its first
 * fragment leaves. Found out only at the fragment that runs past the end, the fragments before it had reached the
 * peer, which held them as an unfinished message until the connection closed; a few such mistakes filled the peer's
 * room for unfinished messages (4 x its maxMessageBytes) and it closed the connection. Before the fix the last call
 * here failed UNAVAILABLE (3 of 3 runs); after it, none.
 */
class ShortPayloadFragmentsTest {
    private static final int FRAME_BYTES = 16 * 1024;
    private static final int SERVER_MAX_MESSAGE = 64 * 1024;

    private TransportPair pair;
    private Connection connection;

    @BeforeEach
    void start() throws Exception {
        pair = new TransportPair(TransportOptions.builder().maxMessageBytes(SERVER_MAX_MESSAGE)
                .maxFrameBytes(FRAME_BYTES).build(), TransportOptions.builder().maxFrameBytes(FRAME_BYTES).build());
        connection = pair.connect((c, frame) -> c.respond(frame.correlationId(), frame.buffer(),
                frame.payloadOffset(), frame.payloadLength()));
    }

    @AfterEach
    void stop() throws Exception {
        pair.close();
    }

    @Test
    void aShortPayloadIsRefusedBeforeAnyOfItsFragmentsLeave() throws Exception {
        int length = SERVER_MAX_MESSAGE - 1024; // within the peer's limit: three whole fragments, then the short one
        UnsafeBuffer shortPayload = new UnsafeBuffer(new byte[length - 4096]);
        for (int i = 0; i < 8; i++) { // 8 x 3 fragments of 16 KiB would be past the peer's 256 KiB of unfinished ones
            assertThrows(IndexOutOfBoundsException.class,
                    () -> connection.request(2, 1, shortPayload, 0, length, 10_000, new ReplyHandler() {
                        @Override
                        public void onReply(long correlationId, InboundFrame reply) {
                        }

                        @Override
                        public void onFailure(long correlationId, StatusException failure) {
                        }
                    }));
        }
        byte[] whole = new byte[length];
        whole[length - 1] = 7;
        assertArrayEquals(whole, connection.call(2, 1, new UnsafeBuffer(whole), 0, length, 10_000).payload(),
                "the connection goes on, and a whole message of the same length passes");
    }
}
