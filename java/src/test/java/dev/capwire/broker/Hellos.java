package dev.capwire.broker;

import com.google.protobuf.ByteString;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.Hello;
import java.nio.ByteBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/** A client's Hello spoken by hand, for tests that write it on a raw socket and then do what no client would. */
final class Hellos {
    private Hellos() {
    }

    /** The Hello a client of {@code service} that can take a handed-over socket says (no secret). */
    static byte[] hello(String service) {
        return Hello.newBuilder().setMinProtocolVersion(1).setMaxProtocolVersion(1).setServiceName(service)
                .setCapabilities(1).setClientNonce(ByteString.copyFrom(new byte[32]))
                .setMaxFrameBytes(TransportOptions.defaults().maxFrameBytes()).build().toByteArray();
    }

    /** {@link #hello} in its HELLO frame, ready to write. */
    static ByteBuffer helloFrame(String service) {
        byte[] hello = hello(service);
        int length = FrameHeader.HEADER_LENGTH + hello.length;
        ByteBuffer frame = ByteBuffer.allocateDirect(length);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        FrameHeader.write(view, 0, length, FrameType.HELLO, 0, 0, 0, 0, 0);
        view.putBytes(FrameHeader.HEADER_LENGTH, hello);
        return frame;
    }
}
