package dev.capwire.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicReference;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

/**
 * A socket adopted from inside another connection's listener (as a broker's backend adopts a handed-off client
 * inside the read that brought the Handoff) while its peer's first call already waits in it. The loop's receive
 * buffer is lent to that read, so the adopted connection cannot read at once; it must read as soon as the
 * buffer is free, in the same duty cycle, rather than when the poller reports the socket on the next one.
 * Invoker mode counts the duty cycles: after the one that adopted the socket, the call's reply is there.
 */
class AdoptionReadsAtOnceTest {
    private static final Endpoint ENDPOINT = Endpoint.parse("unix:/tmp/capwire-adoption-test");

    @Test
    void anEarlyCallInAnAdoptedSocketIsAnsweredInTheDutyCycleThatAdoptedIt() throws Exception {
        NativeSocket[] carrier = NativeSocket.pair();
        NativeSocket[] client = NativeSocket.pair();
        AtomicReference<Connection> adopted = new AtomicReference<>();
        try (Transport invoker = Transport.create(TransportOptions.builder().eventLoops(0).build())) {
            FrameListener echo = (connection, frame) -> {
                if (frame.type() == FrameType.REQUEST) {
                    connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(),
                            frame.payloadLength());
                }
            };
            invoker.adopt(ENDPOINT, carrier[0], (connection, frame) -> {
                try {
                    adopted.set(invoker.adopt(ENDPOINT, client[0], new byte[0], echo));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            byte[] call = {1, 2, 3, 4, 5, 6, 7, 8};
            dev.capwire.testing.RawFrames.writeFully(client[1], frame(FrameType.REQUEST, 7, call));
            dev.capwire.testing.RawFrames.writeFully(carrier[1], frame(FrameType.NOTIFY, 0, new byte[0]));

            invoker.poll(); // one duty cycle: reads the NOTIFY, whose listener adopts the client's socket

            assertNotNull(adopted.get(), "the carrier's frame was read in that duty cycle");
            ByteBuffer reply = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + call.length);
            assertEquals(reply.capacity(), client[1].read(reply), "the reply was written in that duty cycle");
            reply.flip();
            FrameHeader header = new FrameHeader().wrap(new UnsafeBuffer(reply), 0);
            assertEquals(FrameType.RESPONSE, header.type());
            assertEquals(7, header.correlationId());
            byte[] echoed = new byte[call.length];
            reply.position(FrameHeader.HEADER_LENGTH).get(echoed);
            assertArrayEquals(call, echoed);
        } finally {
            carrier[1].close();
            client[1].close();
        }
    }

    private static ByteBuffer frame(byte type, long correlationId, byte[] payload) {
        int length = FrameHeader.HEADER_LENGTH + payload.length;
        ByteBuffer bytes = ByteBuffer.allocateDirect(length);
        FrameHeader.write(new UnsafeBuffer(bytes), 0, length, type, 0, correlationId, 0, 0, 0);
        bytes.position(FrameHeader.HEADER_LENGTH);
        return bytes.put(payload).flip();
    }
}
