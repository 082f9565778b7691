package dev.capwire.rpc;

import static dev.capwire.rpc.RpcTestClient.sleepQuietly;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.NativeSocket;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.rpc.proto.BootstrapReply;
import dev.capwire.rpc.proto.BootstrapRequest;
import dev.capwire.rpc.testing.SlowRequest;
import dev.capwire.rpc.testing.TailRequest;
import dev.capwire.testing.ChildJvm;
import dev.capwire.testing.RawFrames;
import dev.capwire.testing.SocketDir;
import dev.capwire.transport.CloseReason;
import dev.capwire.transport.Connection;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Response;
import dev.capwire.transport.StatusException;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import dev.capwire.wire.FrameHeader;
import dev.capwire.wire.FrameType;
import dev.capwire.wire.proto.GoAway;
import dev.capwire.wire.proto.GoAwayReason;
import dev.capwire.wire.proto.Hello;
import dev.capwire.wire.proto.HelloReply;
import java.nio.ByteBuffer;
import dev.capwire.wire.StatusCode;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A peer that breaks docs/rpc-protocol.md, talking raw frames to an RPC server in a child JVM: each case gets
 * the status or the GOAWAY the doc names, a well-behaved connection to the same server carries on, and the
 * server holds no more fds at the end than before.
 */
class RpcBadInputTest {
    @RegisterExtension
    static final SocketDir DIR = new SocketDir("cwrpcbad");

    private static Transport transport;
    private static ExecutorService handlers;
    private static Rpc rpc;
    private static ChildJvm server;
    private static Endpoint endpoint;
    private static long serverFdsBefore;
    private NegotiatedConnection raw;
    private NegotiatedConnection good;
    private RemoteFiles files;

    @BeforeAll
    static void startServer() throws Exception {
        transport = Transport.create(TransportOptions.defaults());
        handlers = Executors.newCachedThreadPool();
        rpc = Rpc.create(RpcOptions.builder().executor(handlers).build());
        server = ChildJvm.start(RpcServerMain.class, "unix:" + DIR.path("bad"));
        endpoint = Endpoint.parse(server.expect("READY", 30));
        server.send("fds");
        serverFdsBefore = Long.parseLong(server.expect("FDS", 10));
    }

    @AfterAll
    static void stopServer() throws Exception {
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            long now;
            do {
                server.send("fds");
                now = Long.parseLong(server.expect("FDS", 10));
            } while (now > serverFdsBefore && System.nanoTime() < deadline && sleep());
            assertEquals(serverFdsBefore, now, "the server's fds after every bad input");
        } finally {
            server.close();
            transport.close();
            handlers.shutdownNow();
        }
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(20);
        return true;
    }

    @BeforeEach
    void connect() throws Exception {
        raw = HandshakeClient.connect(transport, endpoint, ClientOptions.builder("app").build(), (c, f) -> { });
        good = HandshakeClient.connect(transport, endpoint, ClientOptions.builder("app").build(), rpc.listener());
        files = rpc.connection(good.connection()).bootstrap(RemoteFiles.class);
    }

    @AfterEach
    void stillServing() {
        try {
            assertArrayEquals(new byte[] {42}, files.echo(new byte[] {42}), "the other connection is unaffected");
        } finally {
            raw.close();
            good.close();
        }
    }

    /** A call header: no deadline, no stream, target kind {@code kind}, then {@code descriptors} and content. */
    private static UnsafeBuffer call(int kind, int[] descriptors, byte[] content) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[20 + 4 * descriptors.length + content.length]);
        payload.putByte(16, (byte) kind);
        payload.putShort(18, (short) descriptors.length, FrameHeader.ORDER);
        for (int i = 0; i < descriptors.length; i++) {
            payload.putInt(20 + 4 * i, descriptors[i], FrameHeader.ORDER);
        }
        payload.putBytes(20 + 4 * descriptors.length, content);
        return payload;
    }

    private StatusException refused(int capId, int methodId, UnsafeBuffer payload, FileDescriptor... fds)
            throws Exception {
        CompletableFuture<Response> reply = raw.connection().request(capId, methodId, payload, 0, payload.capacity(),
                10_000, fds);
        ExecutionException failed = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> reply.get(10, TimeUnit.SECONDS));
        return (StatusException) failed.getCause();
    }

    /** The export id the raw connection gets for "files" by bootstrapping it by hand. */
    private int bootstrapRaw() throws Exception {
        byte[] request = BootstrapRequest.newBuilder().setName("files").build().toByteArray();
        UnsafeBuffer payload = call(0, new int[0], request);
        Response reply = raw.connection().request(0, 1, payload, 0, payload.capacity(), 10_000).get(10,
                TimeUnit.SECONDS);
        UnsafeBuffer answer = new UnsafeBuffer(reply.payload());
        assertEquals(1, answer.getShort(0, FrameHeader.ORDER));
        return answer.getInt(4, FrameHeader.ORDER);
    }

    @Test
    void anUnknownCapIsNotFound() throws Exception {
        StatusException e = refused(77, 1, call(0, new int[0], new byte[0]));
        assertEquals(StatusCode.NOT_FOUND, e.code());
        assertEquals("cap.unknown", e.reason());
    }

    @Test
    void anUnknownMethodIsUnimplemented() throws Exception {
        int files = bootstrapRaw();
        StatusException e = refused(files, 999, call(0, new int[0], new byte[0]));
        assertEquals(StatusCode.UNIMPLEMENTED, e.code());
        assertEquals("method.unknown", e.reason());
    }

    @Test
    void argumentsThatDoNotDecodeAreInvalid() throws Exception {
        int files = bootstrapRaw();
        StatusException protobuf = refused(files, 1, call(0, new int[0], new byte[] {(byte) 0xFF, 0x01}));
        assertEquals(StatusCode.INVALID_ARGUMENT, protobuf.code());
        assertEquals("args.malformed", protobuf.reason());
        assertEquals("args.malformed", refused(files, 6, new UnsafeBuffer(new byte[7])).reason(),
                "a call header cut short");
        UnsafeBuffer descriptorsCut = call(0, new int[0], new byte[0]);
        descriptorsCut.putShort(18, (short) 3, FrameHeader.ORDER);
        assertEquals("args.malformed", refused(files, 6, descriptorsCut).reason(), "3 descriptors announced, none there");
        assertEquals("args.malformed", refused(files, 14, call(0, new int[0], new byte[0])).reason(),
                "a cap argument without its descriptor");
        assertEquals("args.malformed", refused(files, 14, call(0, new int[] {0x8000_0000 | 999}, new byte[0]))
                .reason(), "a receiver-hosted descriptor the server never exported");
        assertEquals("args.malformed", refused(files, 6, call(0, new int[] {5}, new byte[0])).reason(),
                "a descriptor the method has no place for (its reference is given back)");
    }

    @Test
    void aPromisedAnswerTargetIsRefusedUntilPipeliningExists() throws Exception {
        int files = bootstrapRaw();
        StatusException e = refused(files, 6, call(1, new int[0], new byte[0]));
        assertEquals(StatusCode.INVALID_ARGUMENT, e.code());
        assertEquals("call.target", e.reason());
    }

    @Test
    void anFdArgumentIsClosedOnEveryFailurePath() throws Exception {
        int files = bootstrapRaw();
        FileDescriptor[] pipe = FileDescriptor.pipe();
        try {
            // Two fds where the method takes one, to a cap that does not exist, and to a method that takes none.
            assertEquals("args.malformed", refused(files, 13, call(0, new int[0], new byte[0]), pipe[0], pipe[1])
                    .reason());
            assertEquals("cap.unknown", refused(55, 13, call(0, new int[0], new byte[0]), pipe[0]).reason());
            assertEquals("args.malformed", refused(files, 6, call(0, new int[0], new byte[0]), pipe[0]).reason());
            // To a method that does not exist, with a target kind not defined, and to the bootstrap.
            assertEquals("method.unknown", refused(files, 999, call(0, new int[0], new byte[0]), pipe[0]).reason());
            assertEquals("call.target", refused(files, 13, call(1, new int[0], new byte[0]), pipe[0]).reason());
            assertEquals("args.malformed", refused(0, 1, call(0, new int[0], BootstrapRequest.newBuilder()
                    .setName("files").build().toByteArray()), pipe[0]).reason());
        } finally {
            pipe[0].close();
            pipe[1].close();
        }
        // The server's fd count is checked once every case has run (AfterAll).
    }

    /**
     * Two calls in flight with one correlation id: the answers table is keyed by it, so the second ends the
     * connection with a PROTOCOL_ERROR (the transport's own request ids can never repeat, so this peer writes
     * its frames by hand on a socket of its own after a hand-made Hello), and the first call, still running,
     * is cancelled with the connection.
     */
    @Test
    void aCallReusingTheIdOfACallStillRunningEndsTheConnectionWithAProtocolError() throws Exception {
        reuseTheIdOfACallStillRunning("reused-id", (files, slow) -> rawFrame(FrameType.REQUEST, 7, files, 7, slow));
    }

    /**
     * The same when the second call would be refused (no such export) or is a bootstrap: those are answered
     * without entering the table of running calls, and an answer with id 7 would reach the peer as the first
     * call's.
     */
    @Test
    void aRefusedCallOrABootstrapReusingTheIdOfACallStillRunningEndsTheConnectionToo() throws Exception {
        reuseTheIdOfACallStillRunning("reused-by-refused", (files, slow) -> rawFrame(FrameType.REQUEST, 7, 999, 7,
                slow));
        reuseTheIdOfACallStillRunning("reused-by-bootstrap", (files, slow) -> rawFrame(FrameType.REQUEST, 7, 0, 1,
                call(0, new int[0], BootstrapRequest.newBuilder().setName("files").build().toByteArray())
                        .byteArray()));
    }

    /**
     * A hand-made peer (after a hand-made Hello) starts a slow call with id 7, then sends {@code second} with id 7
     * while the first still runs.
     */
    private void reuseTheIdOfACallStillRunning(String tag, java.util.function.BiFunction<Integer, byte[], ByteBuffer>
            second) throws Exception {
        try (NativeSocket socket = NativeSocket.connect(endpoint.socketAddress(), 5000)) {
            RawFrames.writeFully(socket, rawFrame(FrameType.HELLO, 0, 0, 0, Hello.newBuilder()
                    .setMinProtocolVersion(1).setMaxProtocolVersion(1).setServiceName("app")
                    .setClientNonce(ByteString.copyFrom(new byte[32])).build().toByteArray()));
            assertTrue(HelloReply.parseFrom(RawFrames.readFrame(socket, FrameType.HELLO_REPLY)).hasNegotiated());
            UnsafeBuffer bootstrap = call(0, new int[0], BootstrapRequest.newBuilder().setName("files").build()
                    .toByteArray());
            RawFrames.writeFully(socket, rawFrame(FrameType.REQUEST, 1, 0, 1, bootstrap.byteArray()));
            int files = new UnsafeBuffer(RawFrames.readFrame(socket, FrameType.RESPONSE)).getInt(4, FrameHeader.ORDER);

            byte[] slow = call(0, new int[0], SlowRequest.newBuilder().setHoldMs(30_000).setTag(tag).build()
                    .toByteArray()).byteArray();
            RawFrames.writeFully(socket, rawFrame(FrameType.REQUEST, 7, files, 7, slow));
            server.expect("HOLDING " + tag, 10); // running, on a handler thread: id 7 is in use
            RawFrames.writeFully(socket, second.apply(files, slow));
            GoAway goAway = RawFrames.readGoAway(socket);
            assertEquals(GoAwayReason.PROTOCOL_ERROR, goAway.getReason());
            assertTrue(goAway.getMessage().contains("correlation id 7, the id of a call still running"),
                    goAway.getMessage());
            assertTrue(server.expect("CANCELLED " + tag, 10).startsWith("UNAVAILABLE"),
                    "the first call is cancelled with the connection");
        }
    }

    private static ByteBuffer rawFrame(byte type, long correlationId, int capId, int methodId, byte[] payload) {
        ByteBuffer frame = ByteBuffer.allocateDirect(FrameHeader.HEADER_LENGTH + payload.length);
        UnsafeBuffer view = new UnsafeBuffer(frame);
        FrameHeader.write(view, 0, frame.capacity(), type, 0, correlationId, capId, methodId, 0);
        view.putBytes(FrameHeader.HEADER_LENGTH, payload);
        return frame;
    }

    @Test
    void releasingACapNeverExportedEndsTheConnectionWithAProtocolError() throws Exception {
        UnsafeBuffer release = new UnsafeBuffer(new byte[8]);
        release.putInt(0, 12345, FrameHeader.ORDER);
        release.putInt(4, 1, FrameHeader.ORDER);
        raw.connection().sendNotify(0, 1, release, 0, 8, 1000);
        CloseReason reason = raw.connection().closeFuture().get(10, TimeUnit.SECONDS);
        assertTrue(reason.detail().contains("PROTOCOL_ERROR") && reason.detail().contains("RELEASE"),
                reason.toString());
        assertEquals(", which this side does not hold that many of", server.expect(
                "RPC-ERROR - protocol error: RELEASE of 1 references to export 12345", 10),
                "the server's observer saw the protocol error");
    }

    @Test
    void creditForAStreamNeverOpenedEndsTheConnectionWithAProtocolError() throws Exception {
        UnsafeBuffer credit = new UnsafeBuffer(new byte[8]);
        credit.putInt(0, 7, FrameHeader.ORDER);
        credit.putInt(4, 1, FrameHeader.ORDER);
        raw.connection().sendNotify(0, 4, credit, 0, 8, 1000);
        CloseReason reason = raw.connection().closeFuture().get(10, TimeUnit.SECONDS);
        assertTrue(reason.detail().contains("STREAM_CREDIT"), reason.toString());
    }

    @Test
    void creditBeyondTheLimitEndsTheStreamWithItsReason() throws Exception {
        int files = bootstrapRaw();
        UnsafeBuffer open = call(0, new int[0], new byte[0]); // TailRequest{} streams until cancelled
        open.putInt(8, 1, FrameHeader.ORDER); // stream 1
        open.putInt(12, 0, FrameHeader.ORDER); // no credit yet: the producer waits
        CompletableFuture<Response> stream = raw.connection().request(files, 5, open, 0, open.capacity(), 10_000);
        UnsafeBuffer credit = new UnsafeBuffer(new byte[8]);
        credit.putInt(0, 1, FrameHeader.ORDER);
        credit.putInt(4, Integer.MAX_VALUE, FrameHeader.ORDER);
        raw.connection().sendNotify(0, 4, credit, 0, 8, 1000);
        // As much again: the producer cannot have used 2^31 - 1 items since, so this passes the limit whatever
        // it has sent meanwhile (its items come to this raw peer, which ignores them).
        raw.connection().sendNotify(0, 4, credit, 0, 8, 1000);
        StatusException e = (StatusException) org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> stream.get(10, TimeUnit.SECONDS)).getCause();
        assertEquals(StatusCode.INVALID_ARGUMENT, e.code());
        assertEquals("stream.credit", e.reason());
    }

    @Test
    void anInitialCreditBeyondTheLimitIsRefusedWithItsReason() throws Exception {
        int files = bootstrapRaw();
        UnsafeBuffer open = call(0, new int[0], new byte[0]);
        open.putInt(8, 1, FrameHeader.ORDER); // stream 1
        open.putInt(12, Integer.MIN_VALUE, FrameHeader.ORDER); // 2^31 items: one past what credit may reach
        StatusException e = refused(files, 5, open);
        assertEquals(StatusCode.INVALID_ARGUMENT, e.code());
        assertEquals("stream.credit", e.reason());
        assertArrayEquals(new byte[] {3}, this.files.echo(new byte[] {3}), "the server serves on");
    }

    @Test
    void aCallOnARevokedCapIsUnavailableWithTheReason() throws Exception {
        int files = bootstrapRaw();
        server.send("replace");
        server.expect("REPLACED", 10);
        StatusException e = refused(files, 6, call(0, new int[0], new byte[0]));
        assertEquals(StatusCode.UNAVAILABLE, e.code());
        assertEquals("revoked: replace", e.reason());
        FileDescriptor[] pipe = FileDescriptor.pipe();
        try { // with an fd, which the server closes (checked once every case has run)
            assertEquals("revoked: replace", refused(files, 13, call(0, new int[0], new byte[0]), pipe[0]).reason());
        } finally {
            pipe[0].close();
            pipe[1].close();
        }
        this.files = rpc.connection(good.connection()).bootstrap(RemoteFiles.class); // the new instance
    }

    /**
     * A bad server that answers the bootstrap by hand, then sends one item more than the stream call's credit:
     * the caller ends the connection with a protocol error, and the call fails.
     */
    @Test
    void aStreamItemBeyondTheCreditGrantedEndsTheCallersConnection() throws Exception {
        Endpoint rawServer = DIR.endpoint("raw-producer");
        try (var listening = transport.listen(rawServer, new dev.capwire.transport.FrameListener() {
            @Override
            public void onFrame(Connection connection, dev.capwire.transport.InboundFrame frame) {
                if (frame.type() != FrameType.REQUEST) {
                    return;
                }
                if (frame.capId() == 0) { // bootstrap: export 2, sender-hosted, is "files"
                    byte[] reply = BootstrapReply.newBuilder().setName("files").setServedVersion("1.2.0").build()
                            .toByteArray();
                    UnsafeBuffer answer = new UnsafeBuffer(new byte[8 + reply.length]);
                    answer.putShort(0, (short) 1, FrameHeader.ORDER);
                    answer.putInt(4, 2, FrameHeader.ORDER);
                    answer.putBytes(8, reply);
                    connection.respond(frame.correlationId(), answer, 0, answer.capacity());
                    return;
                }
                int streamId = frame.buffer().getInt(frame.payloadOffset() + 8, FrameHeader.ORDER);
                int credit = frame.buffer().getInt(frame.payloadOffset() + 12, FrameHeader.ORDER);
                UnsafeBuffer item = new UnsafeBuffer(new byte[4]); // an empty Line
                item.putInt(0, streamId, FrameHeader.ORDER);
                for (int i = 0; i <= credit; i++) {
                    connection.sendNotify(0, 3, item, 0, 4, 1000);
                }
            }
        })) {
            Connection client = transport.connect(rawServer, rpc.listener());
            RemoteFiles files = rpc.connection(client).bootstrap(RemoteFiles.class);
            StatusException failed = assertThrows(StatusException.class, () -> files.tail(
                    TailRequest.newBuilder().setLines(0).build(), line -> sleepQuietly(1)));
            assertEquals(StatusCode.UNAVAILABLE, failed.code());
            CloseReason reason = client.closeFuture().get(10, TimeUnit.SECONDS);
            assertTrue(reason.toString().contains("PROTOCOL_ERROR") && reason.toString().contains(
                    "beyond the credit it was granted"), reason.toString());
        }
    }

    /**
     * A bad server answers echo (bytes, no fds) with a RESPONSE carrying an fd: the call fails here, locally,
     * INVALID_ARGUMENT args.malformed, and the fd that arrived is closed (the pipe's read end sees its last
     * writer go).
     */
    @Test
    void anAnswerCarryingAnFdItsResultDoesNotTakeFailsTheCallAndClosesTheFd() throws Exception {
        FileDescriptor[] pipe = FileDescriptor.pipe();
        Endpoint rawServer = DIR.endpoint("raw-answerer");
        try (var listening = transport.listen(rawServer, new dev.capwire.transport.FrameListener() {
            @Override
            public void onFrame(Connection connection, dev.capwire.transport.InboundFrame frame) {
                if (frame.type() != FrameType.REQUEST) {
                    return;
                }
                UnsafeBuffer answer;
                if (frame.capId() == 0) { // bootstrap: export 2, sender-hosted, is "files"
                    byte[] reply = BootstrapReply.newBuilder().setName("files").setServedVersion("1.2.0").build()
                            .toByteArray();
                    answer = new UnsafeBuffer(new byte[8 + reply.length]);
                    answer.putShort(0, (short) 1, FrameHeader.ORDER);
                    answer.putInt(4, 2, FrameHeader.ORDER);
                    answer.putBytes(8, reply);
                    connection.respond(frame.correlationId(), answer, 0, answer.capacity());
                    return;
                }
                answer = new UnsafeBuffer(new byte[4 + 1]); // no caps, one byte of content, and an fd
                answer.putByte(4, (byte) 9);
                connection.respond(frame.correlationId(), answer, 0, answer.capacity(), pipe[1]);
                pipe[1].close(); // the duplicate the answer carried is now the only writer left
            }
        })) {
            Connection client = transport.connect(rawServer, rpc.listener());
            RemoteFiles files = rpc.connection(client).bootstrap(RemoteFiles.class);
            StatusException failed = assertThrows(StatusException.class, () -> files.echo(new byte[] {9}));
            assertEquals(StatusCode.INVALID_ARGUMENT, failed.code());
            assertEquals("args.malformed", failed.reason());
            assertTrue(pipe[0].awaitReadable(10_000), "the answer's fd was closed here: the pipe saw EOF");
            assertEquals(-1, pipe[0].read(java.nio.ByteBuffer.allocateDirect(8)), "EOF, no data");
            client.close();
        } finally {
            pipe[0].close();
            pipe[1].close();
        }
    }

    @Test
    void aStreamItemForAStreamNeverOpenedEndsTheCallersConnection() throws Exception {
        // Here the bad peer is a server: a raw listener that answers the Hello-less RPC client with an item.
        Endpoint rawServer = DIR.endpoint("raw-server");
        CompletableFuture<Connection> accepted = new CompletableFuture<>();
        try (var listening = transport.listen(rawServer, new dev.capwire.transport.FrameListener() {
            @Override
            public void onOpen(Connection connection) {
                accepted.complete(connection);
            }

            @Override
            public void onFrame(Connection connection, dev.capwire.transport.InboundFrame frame) {
            }
        })) {
            Connection client = transport.connect(rawServer, rpc.listener());
            UnsafeBuffer item = new UnsafeBuffer(new byte[6]);
            item.putInt(0, 40, FrameHeader.ORDER);
            accepted.get(10, TimeUnit.SECONDS).sendNotify(0, 3, item, 0, 6, 1000);
            CloseReason reason = client.closeFuture().get(10, TimeUnit.SECONDS);
            assertTrue(reason.toString().contains("STREAM_ITEM") || reason.toString().contains("PROTOCOL"),
                    reason.toString());
        }
    }
}
