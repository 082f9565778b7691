package dev.capwire;

import dev.capwire.handshake.ClientOptions;
import dev.capwire.handshake.HandshakeClient;
import dev.capwire.handshake.HandshakeServer;
import dev.capwire.handshake.NegotiatedConnection;
import dev.capwire.handshake.Service;
import dev.capwire.transport.EchoServerMain;
import dev.capwire.transport.Endpoint;
import dev.capwire.transport.Response;
import dev.capwire.transport.Transport;
import dev.capwire.transport.TransportOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * A child JVM that uses Capwire the way the README shows (a transport, a handshake server and client on a
 * Unix socket, one echoed call, so Agrona, JNI and protobuf are all exercised), started with whatever JVM
 * flags a test chooses. Prints one line: {@code ECHOED <text>}, or {@code FAILED <class>: <message>}.
 */
public final class StartupMain {
    private StartupMain() {
    }

    public static void main(String[] args) {
        String line;
        try {
            line = "ECHOED " + echoOnce(Endpoint.unix(Path.of(args[0])));
        } catch (Throwable failure) {
            line = "FAILED " + failure.getClass().getName() + ": " + String.valueOf(failure.getMessage())
                    .replace('\n', ' ');
        }
        System.out.println(line);
        System.out.flush();
    }

    private static String echoOnce(Endpoint endpoint) throws Exception {
        try (Transport transport = Transport.create(TransportOptions.defaults())) {
            HandshakeServer.builder(transport)
                    .service(Service.builder("echo", "1.0.0", EchoServerMain::echo).build())
                    .build()
                    .listen(endpoint);
            try (NegotiatedConnection echo = HandshakeClient.connect(transport, endpoint,
                    ClientOptions.builder("echo").build(), (connection, frame) -> { })) {
                UnsafeBuffer hello = new UnsafeBuffer("hello".getBytes(StandardCharsets.UTF_8));
                Response reply = echo.connection().call(2, 0, hello, 0, hello.capacity(), 10_000);
                return new String(reply.payload(), StandardCharsets.UTF_8);
            }
        }
    }
}
