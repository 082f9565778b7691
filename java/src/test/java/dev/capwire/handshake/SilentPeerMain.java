package dev.capwire.handshake;

import com.google.protobuf.ByteString;
import dev.capwire.transport.Endpoint;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A peer that opens connections and says nothing on them, for the per-peer handshake limit tests. It uses the
 * JDK's own sockets, which can bind a local address before connecting, so one process can be several TCP peers
 * (127.0.0.2, 127.0.0.3, ...: all of 127/8 is loopback on Linux). Commands, one per stdin line:
 * <ul>
 * <li>{@code SILENT <count> <endpoint> [<local ip>]}: opens {@code count} connections (from {@code local ip} on
 *     TCP) and sends nothing on them; prints {@code OPENED <count>}.
 * <li>{@code SERVER-CLOSED <expected>}: waits up to 10 s until at least {@code expected} of the silent
 *     connections are closed by the server, then 200 ms more; prints {@code SERVER-CLOSED <count>}.
 * <li>{@code DROP <count>}: closes that many of the silent connections the server still holds open (and
 *     forgets those it closed); prints {@code DROPPED <count>}.
 * <li>{@code HELLO <endpoint> [<local ip>]}: one more connection that sends a Hello for service {@code echo}
 *     and prints what came back first: {@code NEGOTIATED}, {@code REFUSED <code>}, {@code CHALLENGE}, or
 *     {@code CLOSED} when the server closed without a reply; then closes it.
 * <li>{@code EXIT}: closes everything and prints {@code BYE}. The process also exits when stdin closes.
 * </ul>
 */
public final class SilentPeerMain {
    private SilentPeerMain() {
    }

    public static void main(String[] args) throws Exception {
        List<SocketChannel> silent = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        System.out.println("READY " + ProcessHandle.current().pid());
        try {
            String line;
            while ((line = in.readLine()) != null) {
                String[] words = line.split(" ");
                switch (words[0]) {
                    case "SILENT":
                        int count = Integer.parseInt(words[1]);
                        for (int i = 0; i < count; i++) {
                            silent.add(open(Endpoint.parse(words[2]), words.length > 3 ? words[3] : null));
                        }
                        System.out.println("OPENED " + count);
                        break;
                    case "SERVER-CLOSED":
                        System.out.println("SERVER-CLOSED " + serverClosed(silent, Integer.parseInt(words[1])));
                        break;
                    case "DROP":
                        int dropped = 0;
                        for (SocketChannel channel : new ArrayList<>(silent)) {
                            boolean closedByServer = isClosedByServer(channel);
                            if (closedByServer || dropped < Integer.parseInt(words[1])) {
                                channel.close();
                                silent.remove(channel);
                                dropped += closedByServer ? 0 : 1;
                            }
                        }
                        System.out.println("DROPPED " + dropped);
                        break;
                    case "HELLO":
                        System.out.println(hello(Endpoint.parse(words[1]), words.length > 2 ? words[2] : null));
                        break;
                    case "EXIT":
                        System.out.println("BYE");
                        return;
                    default:
                        System.out.println("UNKNOWN-COMMAND " + words[0]);
                }
            }
        } finally {
            for (SocketChannel channel : silent) {
                channel.close();
            }
        }
    }

    private static SocketChannel open(Endpoint endpoint, String localIp) throws IOException {
        SocketChannel channel;
        if (endpoint.isUnix()) {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(endpoint.toString().substring("unix:".length())));
        } else {
            channel = SocketChannel.open(StandardProtocolFamily.INET);
            if (localIp != null) {
                channel.bind(new InetSocketAddress(localIp, 0));
            }
            channel.connect(endpoint.socketAddress());
        }
        channel.configureBlocking(false);
        return channel;
    }

    private static int serverClosed(List<SocketChannel> silent, int expected) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (count(silent) < expected && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        Thread.sleep(200); // room for any close beyond the expected ones to show
        return count(silent);
    }

    private static int count(List<SocketChannel> silent) throws IOException {
        int closed = 0;
        for (SocketChannel channel : silent) {
            if (isClosedByServer(channel)) {
                closed++;
            }
        }
        return closed;
    }

    /** A silent connection reads nothing; an end of stream or a reset means the server closed it. */
    private static boolean isClosedByServer(SocketChannel channel) {
        try {
            return channel.read(ByteBuffer.allocate(64)) < 0;
        } catch (IOException reset) {
            return true;
        }
    }

    private static String hello(Endpoint endpoint, String localIp) throws Exception {
        try (SocketChannel channel = open(endpoint, localIp)) {
            byte[] payload = Hello.newBuilder().setMinProtocolVersion(1).setMaxProtocolVersion(1).setServiceName("echo")
                    .setClientNonce(ByteString.copyFrom(new byte[32])).build().toByteArray();
            UnsafeBuffer frame = new UnsafeBuffer(new byte[FrameHeader.HEADER_LENGTH + payload.length]);
            FrameHeader.write(frame, 0, frame.capacity(), FrameType.HELLO, 0, 0, 0, 0, 0);
            frame.putBytes(FrameHeader.HEADER_LENGTH, payload);
            ByteBuffer out = ByteBuffer.wrap(frame.byteArray());
            try {
                while (out.hasRemaining()) {
                    channel.write(out);
                }
            } catch (IOException closedAlready) {
                return "CLOSED";
            }
            ByteBuffer header = ByteBuffer.allocate(FrameHeader.HEADER_LENGTH).order(ByteOrder.LITTLE_ENDIAN);
            if (!readFully(channel, header)) {
                return "CLOSED";
            }
            if (header.get(FrameHeader.TYPE_OFFSET) != FrameType.HELLO_REPLY) {
                return "FRAME " + FrameType.name(header.get(FrameHeader.TYPE_OFFSET));
            }
            ByteBuffer body = ByteBuffer.allocate(header.getInt(FrameHeader.LENGTH_OFFSET) - FrameHeader.HEADER_LENGTH);
            if (!readFully(channel, body)) {
                return "CLOSED";
            }
            HelloReply reply = HelloReply.parseFrom(body.array());
            if (reply.hasNegotiated()) {
                return "NEGOTIATED";
            }
            if (reply.hasRefused()) {
                return "REFUSED " + reply.getRefused().getCode();
            }
            return "CHALLENGE";
        }
    }

    /** Fills {@code buffer} within 10 s; false when the server closed (or reset) the connection first. */
    private static boolean readFully(SocketChannel channel, ByteBuffer buffer) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (buffer.hasRemaining()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no reply within 10 s");
            }
            int n;
            try {
                n = channel.read(buffer);
            } catch (IOException reset) {
                return false;
            }
            if (n < 0) {
                return false;
            }
            if (n == 0) {
                Thread.sleep(1);
            }
        }
        return true;
    }
}
