package dev.capwire.bench;

import dev.capwire.bindings.Errno;
import dev.capwire.bindings.Native;
import dev.capwire.bindings.NativeIoException;
import dev.capwire.bindings.NativeSocket;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.agrona.BufferUtil;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * One 64-byte write on one end of a connected Unix stream socket pair and the read of the same bytes on the
 * other, on one thread: Capwire's natives on raw fds against the JDK's {@link SocketChannel}. Nothing ever
 * waits for a wake-up (the bytes are already there when the read runs), so this is the cost of two
 * syscalls plus whatever each side adds around them.
 *
 * <p>Each op checks that the whole message moved, so a broken socket fails the run instead of timing
 * errors; each trial first checks that the bytes read back are the bytes written.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(jvmArgsAppend = {JvmFlags.ADD_OPENS, JvmFlags.OPENS_INTERNAL_MISC, JvmFlags.ENABLE_NATIVE_ACCESS})
public class UnixSocketPingBenchmark {
    static final int MESSAGE_BYTES = 64;

    @Benchmark
    public int capwireNative(CapwireSockets sockets) {
        return sockets.ping();
    }

    @Benchmark
    public int jdkSocketChannel(JdkSockets sockets) throws IOException {
        return sockets.ping();
    }

    /** A connected pair of sockets that sends one message from one end and reads it on the other. */
    interface SocketPair {
        void open() throws IOException;

        /** Returns the bytes read, after checking the whole message moved. */
        int ping() throws IOException;

        void close() throws IOException;
    }

    /** Capwire's socket pair, driven the way the transport's event loop drives it: raw fds, -errno results. */
    @State(Scope.Thread)
    public static class CapwireSockets implements SocketPair {
        private final ByteBuffer out = message();
        private final ByteBuffer in = ByteBuffer.allocateDirect(MESSAGE_BYTES);
        private final long outAddress = BufferUtil.address(out);
        private final long inAddress = BufferUtil.address(in);
        NativeSocket writer;
        private NativeSocket reader;
        private long writeFd;
        private long readFd;

        @Override
        @Setup
        public void open() throws NativeIoException {
            NativeSocket[] pair = NativeSocket.pair();
            writer = pair[0];
            reader = pair[1];
            // One use held for the whole trial keeps both numbers ours while the loop uses them raw.
            writeFd = writer.fd().acquire();
            readFd = reader.fd().acquire();
            ping();
            requireSameBytes(out, in);
        }

        /** The sockets are non-blocking: a would-block answer is retried at once, never waited on. */
        @Override
        public int ping() {
            int written;
            while ((written = Native.write(writeFd, outAddress, MESSAGE_BYTES)) == -Errno.EAGAIN) {
                Thread.onSpinWait();
            }
            requireWhole("write", written);
            int read;
            while ((read = Native.read(readFd, inAddress, MESSAGE_BYTES)) == -Errno.EAGAIN) {
                Thread.onSpinWait();
            }
            return requireWhole("read", read);
        }

        @Override
        @TearDown
        public void close() {
            writer.fd().release();
            reader.fd().release();
            writer.close();
            reader.close();
        }
    }

    /** The JDK's own Unix-domain channels (Java 16+), blocking, with direct buffers so it copies nothing extra. */
    @State(Scope.Thread)
    public static class JdkSockets implements SocketPair {
        private final ByteBuffer out = message();
        private final ByteBuffer in = ByteBuffer.allocateDirect(MESSAGE_BYTES);
        private Path directory;
        private ServerSocketChannel server;
        private SocketChannel writer;
        private SocketChannel reader;

        @Override
        @Setup
        public void open() throws IOException {
            directory = Files.createTempDirectory("capwire-bench");
            UnixDomainSocketAddress address = UnixDomainSocketAddress.of(directory.resolve("ping.sock"));
            server = ServerSocketChannel.open(StandardProtocolFamily.UNIX).bind(address);
            writer = SocketChannel.open(address);
            reader = server.accept();
            ping();
            requireSameBytes(out, in);
        }

        @Override
        public int ping() throws IOException {
            out.clear();
            requireWhole("write", writer.write(out));
            in.clear();
            return requireWhole("read", reader.read(in));
        }

        @Override
        @TearDown
        public void close() throws IOException {
            reader.close();
            writer.close();
            server.close();
            Files.deleteIfExists(directory.resolve("ping.sock"));
            Files.delete(directory);
        }
    }

    /** 64 distinct non-zero bytes, so a read that moved nothing (a zeroed buffer) cannot look right. */
    private static ByteBuffer message() {
        ByteBuffer message = ByteBuffer.allocateDirect(MESSAGE_BYTES);
        for (int i = 0; i < MESSAGE_BYTES; i++) {
            message.put(i, (byte) (i + 1));
        }
        return message;
    }

    private static int requireWhole(String call, int result) {
        if (result != MESSAGE_BYTES) {
            throw new IllegalStateException(call + " moved " + result + " of " + MESSAGE_BYTES + " bytes"
                    + (result < 0 ? " (" + Errno.name(-result) + ")" : ""));
        }
        return result;
    }

    private static void requireSameBytes(ByteBuffer sent, ByteBuffer received) {
        if (sent.duplicate().clear().mismatch(received.duplicate().clear()) != -1) {
            throw new IllegalStateException("the bytes read back differ from the bytes written");
        }
    }
}
