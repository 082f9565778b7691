package dev.capwire.bench.peers;

import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.Service;
import dev.capwire.handshake.SharedSecret;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Server;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketChannel;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The server half of every benchmark, run in its own JVM: {@code PeerServer <kind> <socket path> [idle
 * strategy]}. The echo kinds ({@code capwire}, {@code jdk}, {@code netty}, and {@code jdk-raw}, which echoes
 * whole reads) echo every frame back as it is ({@code capwire} also answers every REQUEST with its payload); the
 * sink kinds ({@code capwire-sink}, {@code jdk-sink}, and {@code capwire-sink-timed}, which also records each
 * frame's one-way latency) decode a one-way stream and echo only its sync frames ({@code capwire-count-sink}
 * counts each connection's frames instead and answers requests: the multi-producer profile); the connection kinds ({@code handshake}, {@code handshake-secret}, {@code jdk-accept}, {@code jdk-accept-echo})
 * serve connect-and-close
 * clients; {@code broker} is a broker, and {@code broker-backend} (whose third argument is the broker's socket
 * path, not an idle strategy) a backend registered with it that answers every REQUEST with its payload. Prints {@code READY} once listening and exits when its stdin closes; meanwhile it
 * answers the profiling tool's {@link ProfilerCommand} lines.
 */
public final class PeerServer {
    /**
     * The secret both JVMs of the handshake benchmark know (they share the classpath). A benchmark constant, so
     * no secret is handled here; only the cost of proving one is measured.
     */
    public static final SharedSecret BENCHMARK_SECRET = SharedSecret.of(new byte[] {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
        30, 31, 32});
    /** The service the handshake clients ask for. */
    public static final String HANDSHAKE_SERVICE = "echo";

    private PeerServer() {
    }

    public static void main(String[] args) throws Exception {
        String kind = args[0];
        Path path = Path.of(args[1]);
        AutoCloseable server;
        switch (kind) {
            case "capwire":
                server = capwire(path, args.length > 2 ? args[2] : "backoff");
                break;
            case "jdk":
                server = jdk(path);
                break;
            case "netty":
                server = netty(path);
                break;
            case "handshake":
                server = handshake(path, null);
                break;
            case "handshake-secret":
                server = handshake(path, BENCHMARK_SECRET);
                break;
            case "capwire-sink":
                server = capwireSink(path, args.length > 2 ? args[2] : "backoff");
                break;
            case "capwire-sink-timed":
                server = StreamLatencySink.listen(path, args.length > 2 ? args[2] : "backoff");
                break;
            case "capwire-count-sink":
                server = CountingSink.listen(path, args.length > 2 ? args[2] : "backoff");
                break;
            case "jdk-sink":
                server = jdkPerConnection(path, PeerServer::jdkSink);
                break;
            case "jdk-raw":
                server = jdkPerConnection(path, PeerServer::jdkRawEcho);
                break;
            case "jdk-accept":
                server = jdkAccept(path, false);
                break;
            case "jdk-accept-echo":
                server = jdkAccept(path, true);
                break;
            case "broker":
                server = broker(path);
                break;
            case "broker-backend":
                server = brokerBackend(path, Path.of(args[2]));
                break;
            default:
                throw new IllegalArgumentException("unknown peer kind " + kind);
        }
        System.out.println("READY");
        System.out.flush();
        // Runs until the benchmark closes our stdin (or dies); the profiling tool's commands come the same way.
        BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = commands.readLine()) != null; ) {
            if (ProfilerCommand.handles(line)) {
                System.out.println(ProfilerCommand.run(line));
                System.out.flush();
            }
        }
        server.close();
        Files.deleteIfExists(path);
    }

    private static AutoCloseable capwire(Path path, String idleStrategy) throws Exception {
        Transport transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).build());
        Server server = transport.listen(Endpoint.unix(path), (connection, frame) -> {
            if (frame.type() == FrameType.NOTIFY) {
                connection.sendNotify(frame.capId(), frame.methodId(), frame.buffer(), frame.payloadOffset(),
                        frame.payloadLength(), 10_000);
            } else if (frame.type() == FrameType.REQUEST) {
                connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength());
            }
        });
        return () -> {
            server.close();
            transport.close();
        };
    }

    /**
     * A Capwire handshake server with the default checks and settings but one: a benchmark is a flood of Hellos
     * from one pid, which the default rate limit (256 a second per pid) would refuse, so the limit is lifted
     * (the check itself still runs on every Hello).
     */
    private static AutoCloseable handshake(Path path, SharedSecret secret) throws Exception {
        Transport transport = Transport.create(TransportOptions.defaults());
        HandshakeServer.Builder builder = HandshakeServer.builder(transport).helloRateLimit(Integer.MAX_VALUE)
                .service(Service.builder(HANDSHAKE_SERVICE, "1.0.0", (connection, frame) -> { }).build());
        HandshakeServer server = (secret == null ? builder.noSecret() : builder.secret(secret)).build();
        server.listen(Endpoint.unix(path));
        return () -> {
            server.close();
            transport.close();
        };
    }

    /**
     * A broker (issue 13) on {@code path}, with the Hello rate limit lifted as for {@code handshake}: the
     * benchmark floods it with Hellos from one pid.
     */
    private static AutoCloseable broker(Path path) throws Exception {
        if (System.getProperty(dev.capwire.Configuration.HELLO_RATE_LIMIT_PROP_NAME) == null) {
            System.setProperty(dev.capwire.Configuration.HELLO_RATE_LIMIT_PROP_NAME,
                    Integer.toString(Integer.MAX_VALUE));
        }
        Transport transport = Transport.create(TransportOptions.defaults());
        dev.capwire.broker.Broker broker = dev.capwire.broker.Broker.builder(transport).build();
        broker.listen(Endpoint.unix(path));
        return () -> {
            broker.close();
            transport.close();
        };
    }

    /**
     * A backend for the broker benchmarks: a handshake server for {@link #HANDSHAKE_SERVICE} on {@code path}
     * (its own socket, where the direct baseline connects) that answers every REQUEST with its payload, and
     * registered with the broker at {@code brokerPath} before READY is printed.
     */
    private static AutoCloseable brokerBackend(Path path, Path brokerPath) throws Exception {
        Transport transport = Transport.create(TransportOptions.defaults());
        HandshakeServer server = HandshakeServer.builder(transport).helloRateLimit(Integer.MAX_VALUE).noSecret()
                .service(Service.builder(HANDSHAKE_SERVICE, "1.0.0", (connection, frame) -> {
                    if (frame.type() == FrameType.REQUEST) {
                        connection.respond(frame.correlationId(), frame.buffer(), frame.payloadOffset(),
                                frame.payloadLength());
                    }
                }).build()).build();
        server.listen(Endpoint.unix(path));
        dev.capwire.broker.BrokerBackend registration = dev.capwire.broker.BrokerBackend.register(transport,
                Endpoint.unix(brokerPath), server, Endpoint.unix(path));
        return () -> {
            registration.close();
            server.close();
            transport.close();
        };
    }

    /**
     * The baselines for connection set-up: accept, then close at once; with {@code echoOneByte}, first read one
     * byte and send it back, so the client's connect includes one round trip, as a handshake does. No thread
     * or buffer per connection.
     */
    private static AutoCloseable jdkAccept(Path path, boolean echoOneByte) throws IOException {
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(path));
        ByteBuffer oneByte = ByteBuffer.allocateDirect(1);
        Thread acceptor = new Thread(() -> {
            try {
                for (;;) {
                    try (SocketChannel channel = listener.accept()) {
                        if (echoOneByte && channel.read(oneByte.clear()) == 1) {
                            channel.write(oneByte.flip());
                        }
                    } catch (IOException peerGone) {
                        if (!listener.isOpen()) {
                            throw peerGone;
                        }
                    }
                }
            } catch (IOException closed) {
                // Listener closed: stop accepting.
            }
        }, "jdk-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        return listener;
    }

    /** A Capwire server on {@code path} whose every connection has {@code listener}; closing stops both. */
    static AutoCloseable capwireListener(Path path, String idleStrategy, dev.capwire.transport.FrameListener listener)
            throws Exception {
        Transport transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).build());
        Server server = transport.listen(Endpoint.unix(path), listener);
        return () -> {
            server.close();
            transport.close();
        };
    }

    /** Frames the sinks decoded, kept where the JIT cannot drop the decoding that counts them. */
    static volatile long framesDecoded;

    /** The stream's sink: every NOTIFY is counted by the listener; a sync frame is echoed. */
    private static AutoCloseable capwireSink(Path path, String idleStrategy) throws Exception {
        Transport transport = Transport.create(TransportOptions.builder().idleStrategy(idleStrategy).build());
        long[] count = new long[1];
        Server server = transport.listen(Endpoint.unix(path), (connection, frame) -> {
            count[0]++;
            if (frame.methodId() == Frames.SYNC_METHOD_ID) {
                framesDecoded = count[0];
                connection.sendNotify(frame.capId(), frame.methodId(), frame.buffer(), frame.payloadOffset(),
                        frame.payloadLength(), 10_000);
            }
        });
        return () -> {
            server.close();
            transport.close();
        };
    }

    /** Bytes one read may take in the JDK peers: four times the writer's batch, as a loop's receive buffer. */
    private static final int JDK_READ_BYTES = 256 * 1024;

    /**
     * The JDK stream sink: reads as much as there is, walks every complete frame's header (what decoding
     * costs at the least), echoes sync frames, and keeps an unfinished frame for the next read. A frame larger
     * than the buffer (a bulk message) is read past and counted once its last byte has arrived.
     */
    private static void jdkSink(SocketChannel channel) throws IOException {
        ByteBuffer in = ByteBuffer.allocateDirect(JDK_READ_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        long count = 0;
        long skip = 0; // bytes still to come of a frame larger than the buffer
        while (channel.read(in) >= 0) {
            int end = in.position();
            int at = (int) Math.min(skip, end);
            skip -= at;
            if (at > 0 && skip == 0) {
                count++;
            }
            while (skip == 0 && end - at >= FrameHeader.HEADER_LENGTH) {
                int length = in.getInt(at);
                if (end - at < length) {
                    if (length > in.capacity()) {
                        skip = length - (end - at);
                        at = end;
                    }
                    break;
                }
                count++;
                if ((in.getShort(at + FrameHeader.METHOD_ID_OFFSET) & 0xFFFF) == Frames.SYNC_METHOD_ID) {
                    framesDecoded = count;
                    ByteBuffer echo = in.duplicate().limit(at + length).position(at);
                    while (echo.hasRemaining()) {
                        channel.write(echo);
                    }
                }
                at += length;
            }
            in.limit(end).position(at);
            in.compact();
        }
    }

    /**
     * The raw framed JDK echo, pipelined: reads as much as there is, finds the complete frames at its start
     * (walking each header), writes them all back with one blocking write, and keeps the unfinished rest.
     */
    private static void jdkRawEcho(SocketChannel channel) throws IOException {
        ByteBuffer in = ByteBuffer.allocateDirect(JDK_READ_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        while (channel.read(in) >= 0) {
            int end = in.position();
            int at = 0;
            while (end - at >= FrameHeader.HEADER_LENGTH && end - at >= in.getInt(at)) {
                at += in.getInt(at);
            }
            in.limit(at).position(0);
            while (in.hasRemaining()) {
                channel.write(in);
            }
            in.limit(end);
            in.compact();
        }
    }

    /** Serves one connection on its own thread, until the client goes away. */
    interface ConnectionHandler {
        void serve(SocketChannel channel) throws IOException;
    }

    private static AutoCloseable jdk(Path path) throws IOException {
        return jdkPerConnection(path, PeerServer::jdkEcho);
    }

    private static AutoCloseable jdkPerConnection(Path path, ConnectionHandler handler) throws IOException {
        ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(path));
        Thread acceptor = new Thread(() -> {
            try {
                for (;;) {
                    SocketChannel channel = listener.accept();
                    Thread echo = new Thread(() -> {
                        try (channel) {
                            handler.serve(channel);
                        } catch (IOException gone) {
                            // The client went away.
                        }
                    }, "jdk-peer");
                    echo.setDaemon(true);
                    echo.start();
                }
            } catch (IOException closed) {
                // Listener closed: stop accepting.
            }
        }, "jdk-accept");
        acceptor.setDaemon(true);
        acceptor.start();
        return listener;
    }

    /** Blocking echo of whole frames: read the header, then the rest, then write it all back. */
    private static void jdkEcho(SocketChannel channel) throws IOException {
        ByteBuffer frame = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (;;) {
            frame.clear().limit(FrameHeader.HEADER_LENGTH);
            if (!readFully(channel, frame)) {
                return;
            }
            frame.limit(frame.getInt(0));
            if (!readFully(channel, frame)) {
                return;
            }
            frame.flip();
            while (frame.hasRemaining()) {
                channel.write(frame);
            }
        }
    }

    static boolean readFully(SocketChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                return false;
            }
        }
        return true;
    }

    private static AutoCloseable netty(Path path) throws InterruptedException {
        EpollEventLoopGroup group = new EpollEventLoopGroup(1);
        ServerBootstrap bootstrap = new ServerBootstrap().group(group).channel(EpollServerDomainSocketChannel.class)
                .childHandler(new ChannelInitializer<DomainSocketChannel>() {
                    @Override
                    protected void initChannel(DomainSocketChannel channel) {
                        channel.pipeline().addLast(nettyFrameDecoder(), new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object frame) {
                                ctx.write(frame);
                            }

                            @Override
                            public void channelReadComplete(ChannelHandlerContext ctx) {
                                ctx.flush();
                            }
                        });
                    }
                });
        io.netty.channel.Channel channel = bootstrap.bind(new DomainSocketAddress(path.toFile())).sync().channel();
        return () -> {
            channel.close().sync();
            group.shutdownGracefully().sync();
        };
    }

    /** Netty's idiom for length-prefixed frames, set up for Capwire's header (length counts the header). */
    static LengthFieldBasedFrameDecoder nettyFrameDecoder() {
        return new LengthFieldBasedFrameDecoder(ByteOrder.LITTLE_ENDIAN, 1 << 20, FrameHeader.LENGTH_OFFSET, 4,
                -4, 0, true);
    }
}
