package dev.capwire.examples;

import dev.capwire.bindings.FileDescriptor;
import dev.capwire.bindings.PeerCredentials;
import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.rpc.CallContext;
import dev.capwire.rpc.Capability;
import dev.capwire.rpc.IfExists;
import dev.capwire.rpc.Method;
import dev.capwire.rpc.Rpc;
import dev.capwire.rpc.StreamSink;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** A typed cap served and called: a call, a cap as a result, a server stream, and an fd through a method. */
public final class RpcExample {
    /** What the server offers; the ids in {@code @Method} are the wire contract, the names are not. */
    @Capability(name = "greeter", version = "1.0.0")
    public interface Greeter {
        @Method(1)
        String greet(String name);

        @Method(2)
        Counter counter();

        @Method(3)
        void countdown(String from, StreamSink<String> out);

        @Method(4)
        FileDescriptor motd();
    }

    /** A cap the greeter hands out; closing the client's proxy releases it on the server. */
    @Capability(name = "counter", version = "1.0.0")
    public interface Counter extends AutoCloseable {
        @Method(1)
        String next();

        @Override
        void close();
    }

    /** The server's implementation: plain Java, called by Capwire on its handler threads. */
    public static final class LocalGreeter implements Greeter {
        @Override
        public String greet(String name) {
            // Who called, as the kernel saw it when the connection was made: no claim of the client's.
            PeerCredentials caller = CallContext.current().peer();
            return "hello, " + name + ": the server saw pid " + caller.pid().getAsLong() + ", uid "
                    + caller.uid().getAsLong();
        }

        @Override
        public Counter counter() {
            int[] count = {0};
            return new Counter() {
                @Override
                public String next() {
                    return String.valueOf(++count[0]);
                }

                @Override
                public void close() {
                }
            };
        }

        @Override
        public void countdown(String from, StreamSink<String> out) {
            for (int i = Integer.parseInt(from); i > 0; i--) {
                out.next(String.valueOf(i)); // waits while the caller has granted no credit
            }
        }

        @Override
        public FileDescriptor motd() {
            try {
                FileDescriptor[] pipe = FileDescriptor.pipe();
                byte[] text = "read from a pipe the server opened".getBytes(StandardCharsets.UTF_8);
                try (FileDescriptor writeEnd = pipe[1]) {
                    writeEnd.write(ByteBuffer.allocateDirect(text.length).put(text).flip());
                }
                return pipe[0]; // Capwire sends it, then closes the server's copy
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private RpcExample() {
    }

    public static void main(String[] args) throws Exception {
        Path socket = Path.of(System.getProperty("java.io.tmpdir"),
                "capwire-rpc-" + ProcessHandle.current().pid() + ".sock");
        Endpoint endpoint = Endpoint.parse("unix:" + socket);
        Rpc rpc = Rpc.create(); // serves caps and holds each connection's cap tables
        rpc.serve(Greeter.class, new LocalGreeter(), IfExists.THROW);
        try (Transport transport = Transport.create(TransportOptions.defaults());
                HandshakeServer server = HandshakeServer.builder(transport)
                        .service(Service.builder("example", "1.0.0", rpc.listener()).build()).build()) {
            server.listen(endpoint);
            // The client: in another process usually; here in the same one, with its own connection.
            try (NegotiatedConnection connection = HandshakeClient.connect(transport, endpoint,
                    ClientOptions.builder("example").build(), rpc.listener())) {
                Greeter greeter = rpc.connection(connection.connection()).bootstrap(Greeter.class);
                System.out.println(greeter.greet("world"));
                try (Counter counter = greeter.counter()) {
                    System.out.println("counter: " + counter.next() + ", " + counter.next());
                }
                greeter.countdown("3", item -> System.out.println("countdown: " + item));
                try (FileDescriptor motd = greeter.motd()) {
                    ByteBuffer text = ByteBuffer.allocateDirect(256);
                    motd.read(text);
                    System.out.println("motd: " + StandardCharsets.UTF_8.decode(text.flip()));
                }
            }
        } finally {
            Files.deleteIfExists(socket);
        }
    }
}
