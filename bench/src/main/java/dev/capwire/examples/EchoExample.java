package dev.capwire.examples;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Response;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.agrona.concurrent.UnsafeBuffer;

/** An echo server and its client in one process: prints the reply and the server's kernel-verified pid. */
public final class EchoExample {
    public static void main(String[] args) throws Exception {
        // A socket path no other process uses, removed however this ends.
        Path socket = Path.of(System.getProperty("java.io.tmpdir"),
                "capwire-echo-" + ProcessHandle.current().pid() + ".sock");
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            Endpoint endpoint = Endpoint.parse("unix:" + socket);
            // Server: one service, "echo" at version 1.0.0, answering every request with its own payload.
            // By default only processes of the same user get through the handshake.
            HandshakeServer.builder(transport)
                    .service(Service.builder("echo", "1.0.0", (connection, frame) -> connection.respond(
                            frame.correlationId(), frame.buffer(), frame.payloadOffset(), frame.payloadLength()))
                            .build())
                    .build()
                    .listen(endpoint);
            // Client: connect() returns once the server has accepted the Hello, or throws why it did not.
            try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint,
                    ClientOptions.builder("echo").build(), (connection, frame) -> { })) {
                UnsafeBuffer hello = new UnsafeBuffer("hello".getBytes(StandardCharsets.UTF_8));
                // Capability 2, method 0: numbers the application assigns; the echo service ignores them.
                Response reply = echo.connection().call(2, 0, hello, 0, hello.capacity(), 1000);
                System.out.println(new String(reply.payload(), StandardCharsets.UTF_8) + " from pid "
                        + echo.connection().peerCredentials().pid().getAsLong());
            }
        } finally {
            Files.deleteIfExists(socket);
        }
    }
}
