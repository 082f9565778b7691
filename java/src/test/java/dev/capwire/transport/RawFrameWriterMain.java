package dev.capwire.transport;

import dev.capwire.bindings.NativeSocket;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import java.nio.ByteBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Connects to a Capwire server with a bare socket and writes {@code count} NOTIFY frames (the payloads of
 * {@link Payloads}) one byte per write syscall, so the server sees every frame split at every possible
 * point. Prints {@code DONE} and waits for stdin to close.
 */
public final class RawFrameWriterMain {
    private RawFrameWriterMain() {
    }

    public static void main(String[] args) throws Exception {
        Endpoint endpoint = Endpoint.parse(args[0]);
        int count = Integer.parseInt(args[1]);
        int maxSize = Integer.parseInt(args[2]);
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + maxSize);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        try (NativeSocket socket = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
            for (long seq = 0; seq < count; seq++) {
                int size = Payloads.fill(view, FrameHeader.HEADER_LENGTH, seq, maxSize);
                FrameHeader.write(view, 0, FrameHeader.HEADER_LENGTH + size, FrameType.NOTIFY, 0, 0, 2, 1, 0);
                for (int i = 0; i < FrameHeader.HEADER_LENGTH + size; i++) {
                    ByteBuffer one = frame.duplicate().position(i).limit(i + 1);
                    while (socket.write(one) == 0) {
                        socket.fd().awaitWritable(1000);
                    }
                }
            }
            System.out.println("DONE");
            System.out.flush();
            while (System.in.read() >= 0) {
                // Keep the connection open until the parent is done reading.
            }
        }
    }
}
